"""How long a request waited before its handler ran, read from the caller's send-time stamp or,
without one, from its deadline.

Under overload, requests queue in front of the busy event loop (in gRPC's core and the socket)
before any of the server's code sees them, so the server's own clock starts late: at 2x capacity
here a request had already waited 6 ms at the median and 25-37 ms at the p95 when admission
judged its 25 ms budget, and the caller's p95 of answered requests ran to 44-56 ms while the
server's own stayed at 22 ms. A caller that stamps its send time (`x-request-start`, the header
proxies such as nginx and Heroku's router set; intentd's load generator and Node client send it)
lets admission count that wait against the budget.

Clocks differ between hosts, so the stamp is never trusted as it is: each connection's second
smallest stamp-to-handler time over the last one to two minutes is its offset (clock skew plus the
network's floor), and only the excess counts as waiting. A constant skew cancels, a connection's
first two requests count nothing, a stamp that cannot be read is ignored, and a "wait" of over a
second (a caller's clock set back after it ran ahead) restarts the connection's floor instead of
shedding its requests. The second smallest, not the smallest: one stamp ahead of the caller's
clock (a clock that jumped and was set right, a forged header) reads as no wait and moves
nothing (as the floor, it read every honest call after it as waiting that much, 0.9 s for one
stamp 0.9 s ahead, for up to two minutes, and a busy server shed them). Several stamps ahead
still lower it for that long: a call read by an idle server is no proof of no wait (a proxy that
stamps may have queued it), so nothing here can tell them from a queue. A Unix socket's
callers share the server's clock, and gRPC names every one of them alike (`unix:`), so they have
no floor to share: their stamps count as they are (a stamp ahead of the server's clock as no
wait), and a caller who lies about its wait only shortens its own budget.

A caller that sends no stamp but sets a deadline carries a clock too (`DeadlineClock`): gRPC's
core fixes a call's deadline when it reads the call's headers, on its own thread, so the time
left when the handler runs is already short by the wait in front of the event loop.
"""

from __future__ import annotations

import bisect
import collections
import heapq
import math
import time
from dataclasses import dataclass, field

STAMP_KEY = "x-request-start"
WINDOW_S = 60.0  # the offset is the second smallest lag of this window and the one before it
MAX_CONNECTIONS = 4096  # beyond this, connections idle for two windows are forgotten
MAX_WAIT_S = 1.0  # a longer "wait" is the caller's clock stepping back, not a queue: start afresh
FLOOR_RANK = 2  # the floor is a connection's second smallest lag: one odd stamp is not its offset


def on_unix_socket(context) -> bool:
    """gRPC names every Unix-socket caller alike (`unix:`): no connection of its own to key by."""
    return context.peer().startswith("unix:")


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


@dataclass(slots=True)
class _Lags:
    """One connection's FLOOR_RANK smallest lags, in its current window and in the one before."""

    start: float  # of the current window
    current: list[float] = field(default_factory=list)  # ascending
    before: list[float] = field(default_factory=list)

    def add(self, lag: float) -> None:
        bisect.insort(self.current, lag)
        del self.current[FLOOR_RANK:]

    def floor(self) -> float | None:
        """The FLOOR_RANK-th smallest lag of both windows; None while they hold fewer."""
        lags = sorted(self.current + self.before)
        return lags[FLOOR_RANK - 1] if len(lags) >= FLOOR_RANK else None


class TransitClock:
    """Per connection: the excess of stamp-to-handler time over the connection's recent floor."""

    def __init__(self, window_s: float = WINDOW_S, max_connections: int = MAX_CONNECTIONS):
        self.window_s = window_s
        self.max_connections = max_connections
        self._floors: dict[str, _Lags] = {}  # by peer

    def waited_s(self, context) -> float | None:
        """Seconds the request waited before its handler, or None when it carries no readable stamp."""
        for key, value in context.invocation_metadata() or ():
            if key == STAMP_KEY:
                stamp = parse_stamp(value) if isinstance(value, str) else None
                if stamp is None:
                    return None
                lag = time.time() - stamp
                if on_unix_socket(context):  # the same host's clock: no offset to learn
                    return lag if 0.0 < lag <= MAX_WAIT_S else 0.0
                return self.excess(context.peer(), lag, time.monotonic())
        return None

    def excess(self, peer: str, lag: float, now: float) -> float:
        """`lag` (handler time less stamp, any clock offset included) less the connection's floor."""
        lags = self._floors.get(peer)
        if lags is None or now - lags.start >= 2 * self.window_s:
            if lags is None and len(self._floors) >= self.max_connections:
                self._forget(now)
            lags = self._floors[peer] = _Lags(now)
        elif now - lags.start >= self.window_s:  # a new window: the finished one's lags stay a while
            lags.start, lags.before, lags.current = now, lags.current, []
        lags.add(lag)
        floor = lags.floor()
        if floor is None:  # a connection's first requests: no floor yet
            return 0.0
        waited = lag - floor
        if waited > MAX_WAIT_S:  # e.g. a clock that jumped ahead and was set back: not the server's queue
            self._floors[peer] = _Lags(now, [lag])
            return 0.0
        return max(0.0, waited)

    def _forget(self, now: float) -> None:
        self._floors = {peer: lags for peer, lags in self._floors.items() if now - lags.start < 2 * self.window_s}
        if len(self._floors) >= self.max_connections:  # all recent: start again rather than grow
            self._floors.clear()


USUAL_OF = 64  # a connection's usual time left: the third most of its last this many calls
QUIET_AFTER_S = 0.001  # a call read after the server had been idle this long is "quiet"
PAUSE_S = 0.025  # a quiet call this short of the usual time left: the caller's deadlines vary
TRUST_AFTER = 8  # quiet calls a connection needs before its deadlines are read as a clock
RECENT = 16  # of its last this many quiet calls,
MAX_DISAGREEING = 2  # at most this many may fall short by PAUSE_S or more


@dataclass(slots=True)
class _Deadlines:
    left: collections.deque  # time left of its last USUAL_OF calls
    quiet_short: collections.deque  # of its last RECENT quiet calls: whether each fell PAUSE_S short
    quiet_seen: int = 0


class DeadlineClock:
    """For a caller that sends no stamp but gives every call of a method the same timeout (the
    usual client), the wait is how far a call's time left falls short of what its calls usually
    have left. Keyed by connection and method; the usual time left is the third most of the last
    `USUAL_OF` calls (the most could be a timeout gRPC rounded up a step: its core sends 1-10 s in
    10 ms steps, 10-100 s in 100 ms steps). Under sustained overload every recent call has waited
    a little, so the usual time left, and each wait, read short by the least of those waits:
    admission errs towards answering. (Remembering the time left of calls read by an idle server
    instead read waits in full, and cost the trust below at 2.8x capacity: p95 132 ms against 54.)

    A caller whose deadlines vary (a gateway passing on its own callers' deadlines) carries no
    clock: its shortfalls read as waits would shed its requests. The evidence is the quiet calls,
    read after the server had been idle for `QUIET_AFTER_S` (an idle server admits every call it
    reads, so a backlog of calls ends its idleness): one of those `PAUSE_S` short of the usual is
    not a wait but a deadline that differs. A connection's deadlines count once `TRUST_AFTER`
    quiet calls were seen and at most `MAX_DISAGREEING` of its last `RECENT` fell that short."""

    def __init__(self, max_connections: int = MAX_CONNECTIONS):
        self.max_connections = max_connections
        self._known: dict[str, _Deadlines] = {}

    def waited_s(self, key: str, remaining_s: float, idle_s: float) -> float | None:
        """Seconds the call waited before its handler, or None while its connection's deadlines are
        not (or not yet) a clock. `idle_s`: how long the server had been idle when it was read."""
        known = self._known.get(key)
        if known is None:
            if len(self._known) >= self.max_connections:
                del self._known[next(iter(self._known))]  # the longest known
            known = self._known[key] = _Deadlines(collections.deque(maxlen=USUAL_OF),
                                                  collections.deque(maxlen=RECENT))
        known.left.append(remaining_s)
        usual = heapq.nlargest(3, known.left)[-1]
        waited = max(0.0, usual - remaining_s)
        if _snapped(waited, usual, remaining_s):
            waited = 0.0
        if idle_s >= QUIET_AFTER_S:
            known.quiet_short.append(waited >= PAUSE_S)
            known.quiet_seen += 1
        if known.quiet_seen < TRUST_AFTER or sum(known.quiet_short) > MAX_DISAGREEING:
            return None
        if waited > MAX_WAIT_S:  # no queue in front of the loop holds a call a second: another deadline
            return None  # (a 0.3 s call after 5 s ones read as a 4.7 s wait, and shed as one)
        return waited


def _snapped(waited: float, usual: float, remaining: float) -> bool:
    """Whether a call whose time left is one wire step short of the usual, at a whole second, is
    the same timeout sent the other way: gRPC's core sends a timeout of 1-10 s rounded up to 10 ms
    (100 ms from 10 s), but an exact second as itself, and grpcio's Python client sends 1 s as
    1,010 ms on most calls and 1,000 ms on a few."""
    if usual < 1.0:
        return False
    step = 0.01 if usual < 10.0 else 0.1
    return abs(waited - step) < 0.0015 and abs(remaining - round(remaining)) < 0.0015
