"""Signal handling in one place: handlers run on the loop for a block, the ones before put back after.

`catch_early` covers the second or so before the event loop exists (imports, settings): a
signal then is kept and handed to the loop's handler once it is installed, so a SIGTERM that
arrives while `intentd serve` starts (PID 1 in a container) stops it cleanly instead of killing
it with the default action."""

from __future__ import annotations

import logging
import signal
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator, Mapping

if TYPE_CHECKING:  # imported by `intentd serve` before anything else: asyncio alone takes ~20 ms
    import asyncio

# What a `--workers` supervisor sends its workers (server/workers.py). A worker takes a SIGTERM,
# SIGINT or SIGHUP sent to it directly (`pkill intentd`, systemd's stop of every process of the
# service) as a drain, or not at all for SIGHUP: the supervisor forwards each of them too, and a
# second delivery cut the worker's drain, or loaded the model a second time.
WORKER_DRAIN = signal.SIGUSR2  # a stop: drain (never the second stop that cuts)
WORKER_CUT = signal.SIGQUIT  # a second stop to the supervisor: cancel what is in flight
WORKER_RELOAD = signal.SIGUSR1  # a SIGHUP to the supervisor: reload the artifact
# every signal a server or a supervisor acts on
HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, WORKER_DRAIN, WORKER_CUT, WORKER_RELOAD)
log = logging.getLogger(__name__)
_early: list[signal.Signals] = []  # received before the loop's handlers, in order


def catch_early(signals=HANDLED) -> None:
    """Keep these signals until `handle_signals` takes them over (main thread only)."""
    for sig in signals:
        signal.signal(sig, lambda number, _frame: _early.append(signal.Signals(number)))


def ignore_from_now(signals=HANDLED) -> None:
    """For a process whose server has stopped and which is about to exit (main thread only): a
    later signal has nothing left to do, and the interpreter's teardown puts back the default
    action of every signal Python handles, which would kill the process by the signal (exit 143;
    a late SIGQUIT, a supervisor's second stop, dumped a worker's core) instead of ending it with
    its exit code. An ignored signal it leaves as it is."""
    for sig in signals:
        signal.signal(sig, signal.SIG_IGN)


def take_early() -> list[signal.Signals]:
    """The signals `catch_early` kept, in order; forgotten once taken."""
    taken = []
    while _early:  # one at a time: a signal that comes meanwhile is taken too, never cleared unseen
        taken.append(_early.pop(0))
    return taken


@contextmanager
def handle_signals(loop: asyncio.AbstractEventLoop,
                   handlers: Mapping[signal.Signals, Callable[[], None]]) -> Iterator[None]:
    """Run each handler on the loop when its signal comes, for the block.

    Python-level handlers that hand the call to the loop, not `loop.add_signal_handler`: leaving
    the block swaps each signal back to the handler it had before (`catch_early`'s, which keeps
    it) in one step. The loop's `remove_signal_handler` passes through the default action on the
    way, and a signal in those microseconds killed the process by the signal (exit 140 for a late
    SIGUSR2, 143 for a second SIGTERM) instead of letting it end as planned. The loop still wakes
    on a signal: uvloop (what `intentd serve` runs on) sets the wakeup fd while it runs.
    Off the main thread (tests run servers in threads) signals cannot be caught: skipped quietly."""
    before = {}
    try:
        for sig, callback in handlers.items():
            def on_signal(_number, _frame, callback=callback):  # between two bytecodes of the main thread
                loop.call_soon_threadsafe(callback)
            try:
                before[sig] = signal.signal(sig, on_signal)
            except (ValueError, OSError) as exc:
                log.debug("not handling %s here: %s", sig.name, exc)
        for sig in take_early():  # what arrived before the loop: handled now, in order
            if sig in before:
                loop.call_soon(handlers[sig])
        yield
    finally:
        for sig, handler in before.items():  # None: a handler set outside Python, not restorable
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
