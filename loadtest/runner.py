"""The open-loop engine: send each request at its due time, whatever the server does.

The schedule is fixed before the run (:mod:`.schedule`). The sender sleeps until the next
due time, then sends every request that is due; latency is measured from the due time, so
time a request spent waiting for the client (a full in-flight limit, a late wake-up) counts
against the server instead of vanishing (coordinated omission). Event-loop timers fire up
to a millisecond late, which would add a millisecond of client noise to every sample at low
load, so the sender wakes SEND_EARLY_S early and a request sent before its due time is
measured from its send: latency = done - min(due, sent), never less than the real wait.

A request's deadline runs from its due time too, as a caller's would: one that waited for an
in-flight slot (``concurrency_limit``) has only what is left of it, and one whose deadline
passed while it waited fails at once with DEADLINE_EXCEEDED. How late the sender reached a
request (send lag: the generator's own health) is recorded apart from the slot wait; lateness
while the sender was held up waiting for a slot counts as slot wait.

The run is bounded: a hard stop at duration + deadline + 1 s after which nothing more is
sent (those requests count as UNSENT); requests in flight then get their deadline, and any
still running after it are cancelled and count as UNFINISHED.

A run stopped from outside (Ctrl-C, SIGTERM) keeps what it measured: the step under way is cut
where it stood (``stopped_s``), its requests then in flight counted apart, neither answered nor
failed, so the caller can still report the figures.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from .capacity import Search
from .client import TLS, Client
from .config import MAX_SWEEP_STEPS, LoadConfig
from .payloads import Payloads, Timing
from .progress import Progress
from .recorder import UNFINISHED, Recorder
from .schedule import arrival_offsets
from .slo import step_meets_slo

#: Measurement clock. Not loop.time(): uvloop's is cached per loop turn at 1 ms resolution.
clock = time.perf_counter
SEND_EARLY_S = 0.001  # timer granularity of the event loop (libuv: 1 ms)
START_DELAY_S = 0.05  # time to build the first tasks before the first request is due
HARD_STOP_GRACE_S = 1.0


@dataclass
class StepResult:
    """One constant-rate run and what it measured."""

    rate: float
    duration: float
    arrival: str
    scheduled: int
    sent: int = 0
    max_in_flight: int = 0
    recorder: Recorder = field(default_factory=Recorder)
    stopped_s: float | None = None  # a stop from outside cut the step this far in (None: it ran out)
    cut_in_flight: int = 0  # requests in flight when it was cut: no outcome, in no figure

    @property
    def error_rate(self) -> float:
        return self.recorder.error_count / self.scheduled if self.scheduled else 0.0

    @property
    def achieved_rps(self) -> float:
        """Successful responses per second over the run (its duration, or longer if it overran;
        as far as it got if it was cut)."""
        elapsed = self.stopped_s if self.stopped_s is not None else max(self.duration, self.recorder.last_done_s)
        if not elapsed:
            return 0.0
        return self.recorder.ok / elapsed


async def run_step(
    client: Client,
    payloads: Payloads,
    *,
    rate: float,
    duration: float,
    arrival: str,
    seed: int,
    concurrency_limit: int,
    progress: Progress,
    read_timing: Callable[[bytes], Timing | None] | None = None,
    started: Callable[[StepResult], None] | None = None,
) -> StepResult:
    """Offer ``rate`` req/s for ``duration`` s and record every outcome.

    The step's messages are the next ones ``payloads`` holds (drawn before the clock starts),
    so no step resends a text another step or the warm-up sent while unsent ones remain.
    ``read_timing`` pulls the server's breakdown (queue wait, tokenize, forward, postprocess,
    total; cache hit) out of a response message, when the server reports one. ``started`` gets
    the result as soon as it exists, so a caller holds it even if the step is cut.
    """
    loop = asyncio.get_running_loop()
    offsets = arrival_offsets(rate, duration, arrival, seed).tolist()
    messages = payloads.take(len(offsets))
    result = StepResult(rate=rate, duration=duration, arrival=arrival, scheduled=len(offsets),
                        recorder=Recorder(client.deadline_s))  # fmt: skip
    if started is not None:
        started(result)
    recorder = result.recorder
    in_flight: dict[int, tuple[float, float]] = {}  # (due, measured from) of requests sent, by number
    slot_free: asyncio.Future[None] | None = None  # set when a full in-flight limit frees up
    idle: asyncio.Future[None] | None = None  # set when the last request finishes at the end
    over = False  # past the drain: late callbacks are not recorded twice
    start = clock() + START_DELAY_S
    hard_stop = start + duration + client.deadline_s + HARD_STOP_GRACE_S

    def finished(number: int, error: str | None, body: bytes) -> None:
        if over:
            return
        due, measured_from = in_flight.pop(number)
        recorder.record(due - start, clock() - measured_from, error)
        if error is None and read_timing is not None:
            recorder.record_server(read_timing(body))
        if slot_free is not None and not slot_free.done():
            slot_free.set_result(None)
        if idle is not None and not in_flight and not idle.done():
            idle.set_result(None)

    def status() -> tuple[int, str]:
        p95 = recorder.latency_p95_ms()
        return recorder.ok + recorder.error_count, (
            f"sent {result.sent} in-flight {len(in_flight)} errors {recorder.error_count} "
            f"p95 {'-' if p95 is None else f'{p95:.1f}'} ms"
        )

    progress.start(f"{rate:g} req/s", len(offsets), status)
    freed = start  # when the sender last stopped waiting for a slot
    try:
        for offset in offsets:
            due = start + offset
            delay = due - clock() - SEND_EARLY_S
            if delay > 0:
                await asyncio.sleep(delay)
            reached = clock()
            lag = max(reached - max(due, freed), 0.0)  # the sender's own lateness
            slot_wait = max(freed - due, 0.0)  # due while the sender waited for a slot
            expires = due + client.deadline_s
            if len(in_flight) >= concurrency_limit:
                while len(in_flight) >= concurrency_limit and clock() < expires:
                    slot_free = loop.create_future()
                    await asyncio.wait((slot_free,), timeout=expires - clock())
                freed = clock()
                slot_wait += freed - reached
            now = clock()
            if now >= hard_stop:
                break
            recorder.record_send(lag, slot_wait)
            number = result.sent
            in_flight[number] = (due, min(due, now))
            result.sent += 1
            # a deadline that passed while the request waited fails it at once (it leaves in_flight)
            client.send(messages[number], partial(finished, number), expires - now)
            result.max_in_flight = max(result.max_in_flight, len(in_flight))
        recorder.record_unsent(result.scheduled - result.sent)
        # Every call ends by its deadline (the connection enforces it); the timeout only
        # guards against a connection that never reports back.
        if in_flight:
            idle = loop.create_future()
            await asyncio.wait((idle,), timeout=client.deadline_s + HARD_STOP_GRACE_S)
        for due, measured_from in in_flight.values():
            recorder.record(due - start, clock() - measured_from, UNFINISHED)
    except BaseException:  # cancelled, or a KeyboardInterrupt raised right here
        result.stopped_s = max(clock() - start, 0.0)
        result.scheduled = result.sent  # what was due and not yet sent had no chance to be
        result.cut_in_flight = len(in_flight)
        raise
    finally:
        over = True
        progress.stop()
    return result


async def measure(
    config: LoadConfig,
    method_path: str,
    payloads: Payloads,
    progress: Progress,
    steps: list[StepResult],
    read_timing: Callable[[bytes], Timing | None] | None = None,
) -> list[StepResult]:
    """Connect, warm up, and run one step per rate: one (fixed), each listed rate until
    one fails (--sweep), or the rates a capacity search asks for (--find-capacity).
    Warm-up and steps take their messages from ``payloads`` in turn. Each step goes into
    ``steps`` as it starts: after a stop from outside, the caller still has them."""
    tls = None
    if config.tls:
        tls = TLS(config.tls_ca, config.tls_cert, config.tls_key, config.tls_server_name)
    client = Client(config.address, method_path, config.channels, config.deadline_s, tls, config.request_start)
    async with client:
        await client.connect(config.connect_timeout_s)
        await client.warm_up(payloads.take(config.warmup))
        search = None
        if config.mode == "search":
            search = Search(config.rate, config.search_max_rate, MAX_SWEEP_STEPS)
        for rate in search if search is not None else config.rates:
            step = await run_step(
                client,
                payloads,
                rate=rate,
                duration=config.duration,
                arrival=config.arrival,
                seed=config.seed + len(steps),
                concurrency_limit=config.concurrency_limit,
                progress=progress,
                read_timing=read_timing,
                started=steps.append,
            )
            passed = step_meets_slo(step, config.slo_p95_ms, config.max_error_rate, config.slo_p99_ms)
            if search is not None:
                search.record(rate, passed)
            elif config.mode == "sweep" and not passed:
                break
        return steps
