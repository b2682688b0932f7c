"""How long a request waited before its handler ran, read from the caller's send-time stamp.

Under overload, requests queue in front of the busy event loop (in gRPC's core and the socket)
before any of the server's code sees them, so the server's own clock starts late: at 2x capacity
here a request had already waited 6 ms at the median and 25-37 ms at the p95 when admission
judged its 25 ms budget, and the caller's p95 of answered requests ran to 44-56 ms while the
server's own stayed at 22 ms. A caller that stamps its send time (`x-request-start`, the header
proxies such as nginx and Heroku's router set; intentd's load generator and Node client send it)
lets admission count that wait against the budget.

Clocks differ between hosts, so the stamp is never trusted as it is: each connection's smallest
stamp-to-handler time over the last one to two minutes is its offset (clock skew plus the
network's floor), and only the excess counts as waiting. A constant skew cancels, a connection's
first request counts nothing, a stamp that cannot be read is ignored, and a "wait" of over a
second (a caller's clock set back after it ran ahead) restarts the connection's floor instead of
shedding its requests.
"""

from __future__ import annotations

import math
import time

STAMP_KEY = "x-request-start"
WINDOW_S = 60.0  # the offset is the smallest lag of this window or the one before it
MAX_CONNECTIONS = 4096  # beyond this, connections idle for two windows are forgotten
MAX_WAIT_S = 1.0  # a longer "wait" is the caller's clock stepping back, not a queue: start afresh


def parse_stamp(value: str) -> float | None:
    """`t=<unix time>` or a bare number -> seconds since the epoch, or None when unreadable.

    The unit follows the magnitude (seconds, ms, us or ns), as monitoring agents read the same
    header: proxies write it in whichever their configuration says."""
    text = value.strip()
    if text.startswith("t="):
        text = text[2:]
    try:
        stamp = float(text)
    except ValueError:
        return None
    if not math.isfinite(stamp) or stamp <= 0:
        return None
    for scale in (1.0, 1e3, 1e6, 1e9):  # seconds since the epoch are ~1.7e9 for centuries to come
        if stamp < 1e11 * scale:
            return stamp / scale
    return None


class TransitClock:
    """Per connection: the excess of stamp-to-handler time over the connection's recent floor."""

    def __init__(self, window_s: float = WINDOW_S, max_connections: int = MAX_CONNECTIONS):
        self.window_s = window_s
        self.max_connections = max_connections
        # peer -> [start of the current window, smallest lag in it, smallest lag in the one before]
        self._floors: dict[str, list[float]] = {}

    def waited_s(self, context) -> float | None:
        """Seconds the request waited before its handler, or None when it carries no readable stamp."""
        for key, value in context.invocation_metadata() or ():
            if key == STAMP_KEY:
                stamp = parse_stamp(value) if isinstance(value, str) else None
                if stamp is None:
                    return None
                return self.excess(context.peer(), time.time() - stamp, time.monotonic())
        return None

    def excess(self, peer: str, lag: float, now: float) -> float:
        """`lag` (handler time less stamp, any clock offset included) less the connection's floor."""
        state = self._floors.get(peer)
        if state is None or now - state[0] >= 2 * self.window_s:
            if state is None and len(self._floors) >= self.max_connections:
                self._forget(now)
            self._floors[peer] = [now, lag, lag]
            return 0.0
        if now - state[0] >= self.window_s:  # a new window: the finished one's floor stays a while
            state[0], state[2], state[1] = now, state[1], lag
        elif lag < state[1]:
            state[1] = lag
        waited = lag - min(state[1], state[2])
        if waited > MAX_WAIT_S:  # e.g. a clock that jumped ahead and was set back: not the server's queue
            self._floors[peer] = [now, lag, lag]
            return 0.0
        return max(0.0, waited)

    def _forget(self, now: float) -> None:
        self._floors = {peer: state for peer, state in self._floors.items() if now - state[0] < 2 * self.window_s}
        if len(self._floors) >= self.max_connections:  # all recent: start again rather than grow
            self._floors.clear()
