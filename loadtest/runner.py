"""The open-loop engine: send each request at its due time, whatever the server does.

The schedule is fixed before the run (:mod:`.schedule`). The sender sleeps until the next
due time, then sends every request that is due; latency is measured from the due time, so
time a request spent waiting for the client (a full in-flight limit, a late wake-up) counts
against the server instead of vanishing (coordinated omission). Event-loop timers fire up
to a millisecond late, which would add a millisecond of client noise to every sample at low
load, so the sender wakes SEND_EARLY_S early and a request sent before its due time is
measured from its send: latency = done - min(due, sent), never less than the real wait.

The run is bounded: at most ``concurrency_limit`` requests in flight, and a hard stop at
duration + deadline + 1 s after which nothing more is sent (those requests count as
UNSENT); requests in flight then get their deadline, and any still running after it are
cancelled and count as UNFINISHED.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from .client import Client
from .config import LoadConfig
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

    @property
    def error_rate(self) -> float:
        return self.recorder.error_count / self.scheduled if self.scheduled else 0.0

    @property
    def achieved_rps(self) -> float:
        """Successful responses per second over the run (its duration, or longer if it overran)."""
        elapsed = max(self.duration, self.recorder.last_done_s)
        return self.recorder.ok / elapsed


async def run_step(
    client: Client,
    payloads: list[bytes],
    *,
    rate: float,
    duration: float,
    arrival: str,
    seed: int,
    concurrency_limit: int,
    progress: Progress,
) -> StepResult:
    """Offer ``rate`` req/s for ``duration`` s and record every outcome."""
    loop = asyncio.get_running_loop()
    offsets = arrival_offsets(rate, duration, arrival, seed).tolist()
    result = StepResult(rate=rate, duration=duration, arrival=arrival, scheduled=len(offsets))
    recorder = result.recorder
    slots = asyncio.Semaphore(concurrency_limit)
    in_flight: set[asyncio.Task] = set()  # tasks, for the drain at the end
    active = 0  # requests sent and not finished (a finished task may still be in the set)
    start = clock() + START_DELAY_S
    hard_stop = start + duration + client.deadline_s + HARD_STOP_GRACE_S

    async def send(payload: bytes, due: float, sent: float) -> None:
        nonlocal active
        error: str | None = UNFINISHED
        try:
            error = await client.call(payload)
        finally:  # a cancelled (hard-stopped) request is recorded as UNFINISHED
            recorder.record(due - start, clock() - min(due, sent), error)
            active -= 1
            slots.release()

    def status() -> tuple[int, str]:
        p95 = f"{recorder.latency.get_value_at_percentile(95) / 1000.0:.1f}" if recorder.ok else "-"
        return recorder.ok + recorder.error_count, (
            f"sent {result.sent} in-flight {active} errors {recorder.error_count} p95 {p95} ms"
        )

    progress.start(f"{rate:g} req/s", len(offsets), status)
    try:
        for offset in offsets:
            due = start + offset
            delay = due - clock() - SEND_EARLY_S
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            now = clock()
            if now >= hard_stop:
                slots.release()
                break
            recorder.record_send_lag(now - due)
            task = loop.create_task(send(payloads[result.sent % len(payloads)], due, now))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            result.sent += 1
            active += 1
            result.max_in_flight = max(result.max_in_flight, active)
        recorder.record_unsent(result.scheduled - result.sent)
        # Whatever was sent gets its whole deadline; only a call that outlives it is cut.
        await _drain(in_flight, hard_stop - clock() + client.deadline_s)
    finally:
        progress.stop()
    return result


async def _drain(in_flight: set[asyncio.Task], timeout_s: float) -> None:
    """Wait up to ``timeout_s`` for in-flight requests, then cancel and await the rest."""
    if not in_flight:
        return
    _, pending = await asyncio.wait(set(in_flight), timeout=max(timeout_s, 0.0))
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


async def measure(
    config: LoadConfig, method_path: str, payloads: list[bytes], progress: Progress
) -> list[StepResult]:
    """Connect, warm up, and run one step per rate; a sweep stops at the first step over its SLO."""
    async with Client(config.address, method_path, config.channels, config.deadline_s) as client:
        await client.connect(config.connect_timeout_s)
        await client.warm_up(payloads, config.warmup)
        steps = []
        for rate in config.rates:
            step = await run_step(
                client,
                payloads,
                rate=rate,
                duration=config.duration,
                arrival=config.arrival,
                seed=config.seed,
                concurrency_limit=config.concurrency_limit,
                progress=progress,
            )
            steps.append(step)
            if config.sweep is not None and not step_meets_slo(step, config.slo_p95_ms):
                break
        return steps
