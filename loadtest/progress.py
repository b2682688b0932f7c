"""A status line on stderr while a run goes on, refreshed on a timer, never per request."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

from intentd import progress

REFRESH_S = 0.5  # on a terminal; in a log, a line every progress.LOG_INTERVAL_S


class Progress:
    """tqdm bar of finished/due requests with live error count and p95; a no-op when disabled."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar = None
        self._interval = REFRESH_S
        self._timer: asyncio.TimerHandle | None = None
        self._status: Callable[[], tuple[int, str]] | None = None

    def start(self, description: str, total: int, status: Callable[[], tuple[int, str]]) -> None:
        """Show a bar; ``status()`` returns (finished count, postfix text) at each refresh."""
        if not self.enabled:
            return
        terminal = progress.is_terminal(sys.stderr)
        self._interval = REFRESH_S if terminal else progress.LOG_INTERVAL_S
        self._bar = progress.bar(total=total, desc=description, unit="req", leave=False, dynamic_ncols=terminal)
        self._status = status
        self._schedule()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._bar is not None:
            self._update()
            self._bar.close()  # draws the last state once (in a log; a terminal's bar is cleared)
            self._bar = None

    def _schedule(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(self._interval, self._tick)

    def _tick(self) -> None:
        self._update()
        self._bar.refresh()
        self._schedule()

    def _update(self) -> None:
        done, postfix = self._status()
        self._bar.n = done
        self._bar.set_postfix_str(postfix, refresh=False)
