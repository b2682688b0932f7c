"""Signal handling in one place: install loop handlers for a block, restore the defaults after."""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import contextmanager
from typing import Callable, Iterator, Mapping

log = logging.getLogger(__name__)


@contextmanager
def handle_signals(loop: asyncio.AbstractEventLoop,
                   handlers: Mapping[signal.Signals, Callable[[], None]]) -> Iterator[None]:
    """Off the main thread (tests run servers in threads) signals cannot be caught: skipped quietly."""
    installed = []
    try:
        for sig, callback in handlers.items():
            try:
                loop.add_signal_handler(sig, callback)
            except (NotImplementedError, RuntimeError, ValueError) as exc:
                log.debug("not handling %s here: %s", sig.name, exc)
            else:
                installed.append(sig)
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
