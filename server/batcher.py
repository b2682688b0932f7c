"""Continuous micro-batching: one asyncio task owns the queue; each request waits on its own Future.

Two threads do the work: the event loop runs everything in Python (admission, tokenisation,
decoding, entity resolution, responses), the inference thread runs onnxruntime, which releases the
GIL. So the model computes batch N+1 while the loop post-processes batch N, no two Python threads
take turns on the GIL (each turn can cost a 5 ms switch interval), and a request costs two thread
hand-offs (to the model and back). On a quiet server (server/planner.py, `ArrivalRate`: fewer
than 0.1 arrivals expected during the pass) the loop runs the forward pass itself: the hand-offs
wake sleeping cores, which is most of what they cost, and nothing else wants the loop meanwhile;
a request arriving at such a server when it is idle runs in its own handler's coroutine, with no
pass through the queue and the scheduler task.

- Admission counts every request from the moment it is admitted until it is answered (queued, in
  the forward pass or being post-processed): ``max_queue`` bounds all of them. A request whose
  budget (``budget_s``: the SLO, or its deadline when sooner) cannot cover the work already
  ahead of it is shed at once with RESOURCE_EXHAUSTED, so overload turns into fast refusals, not
  timeouts, and the answered requests keep the SLO. The work ahead is a prediction (server/planner.py); while more
  answers than a p95 allows come back late, the share of the budget it may fill shrinks. A
  request that is not a stream's partial transcript sheds queued partials to make room before it
  is shed itself: a partial is best effort, the next message of its utterance covers it.
- When the model is idle a request runs at once, as a batch of one: there is no batching timer.
- While a batch runs, arrivals accumulate; the next batch is built the moment the inference slot
  frees up, from the oldest live entry plus the entries closest to it in length (limits padding),
  as large as the oldest entry's remaining budget allows (server/planner.py predicts batch
  times), within ``max_batch_size`` and ``max_batch_tokens`` (a request is tokenised on
  admission, so its length is known).
- Entries whose caller went away or whose own deadline passed are dropped then.
- A batch is post-processed one request at a time, oldest first, each answered as soon as its
  own part is done: the oldest request, the one nearest its budget, no longer waits for its
  neighbours' entity resolution and responses (~1 ms each).
- Every batch settles every Future it holds, whatever raises. A batch's Engine is the one current
  when it started: a hot swap never changes a batch midway.
- A forward pass that holds the model past ``stall_timeout`` (a hung onnxruntime call) stalls
  everything behind it: `stalled_s` says so (the server's health follows it, server/app.py),
  `fail_waiting` answers the requests it holds up, and new ones are refused UNAVAILABLE until
  the pass returns.

`DirectRunner` is the benchmark baseline: one onnxruntime call per request, no queue.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

from tokenizers import Encoding

from .analysis import Analysis, RequestOptions
from .config import Settings
from .engine import Engine, Part
from .errors import DeadlineUnmeetable, Draining, InferenceFailed, Overloaded, Stalled
from .metrics import Metrics
from .planner import AdmitShare, ArrivalRate, BatchTimeModel
from .threads import named_pool

log = logging.getLogger(__name__)

@dataclass(slots=True)
class Result:
    analysis: Analysis
    queue_wait_s: float = 0.0  # admission to the start of its batch
    tokenize_s: float = 0.0  # its batch's tokenisation
    forward_s: float = 0.0  # its batch's forward pass
    postprocess_s: float = 0.0  # its batch's decoding, then resolution and response up to its own
    batch_size: int = 0
    cache_hit: bool = False
    batch_tokens: int = 0  # padded tokens of its batch


@dataclass(slots=True, eq=False)
class Entry:
    text: str
    options: RequestOptions
    future: asyncio.Future
    deadline: float | None  # time.monotonic() after which the caller no longer listens (its own deadline)
    budget_end: float | None  # time.monotonic() by which it should be answered: the SLO, or its deadline if sooner (budget_s)
    encoding: Encoding
    engine: Engine  # whose tokenizer made `encoding` (a hot swap may come between)
    tokenize_s: float
    seq: int
    enqueued: float  # time.monotonic()
    counted: bool = True  # still in Batcher.in_system (a partial shed for a final leaves it at once)

    @property
    def n_tokens(self) -> int:
        return len(self.encoding.ids)


class Runner(Protocol):
    """What the service needs from the batcher (or the naive baseline)."""

    current: Engine

    def start(self) -> None: ...
    def swap(self, engine: Engine) -> None: ...
    async def submit(self, text: str, options: RequestOptions, remaining_s: float | None,
                     waited_s: float = 0.0) -> Result: ...
    async def submit_all(self, texts: Sequence[str], options: RequestOptions, remaining_s: float | None,
                         waited_s: float = 0.0) -> list[Result]: ...
    def waiting(self, owner: object) -> bool: ...
    def idle_s(self) -> float: ...
    def stalled_s(self) -> float: ...
    def fail_waiting(self, error: Exception) -> int: ...
    def refresh_gauges(self) -> None: ...
    async def close(self) -> None: ...


def stalled(held_s: float) -> Stalled:
    """What a request held up or refused by a stalled model is answered."""
    return Stalled(f"server stalled: the model has not answered for {held_s:.0f} s; retry on another instance")


def refuse_if_stalled(held_s: float, settings: Settings, metrics: Metrics) -> None:
    """Admission's first rule: nothing is taken in while the model is stalled (`Runner.stalled_s`)."""
    if settings.stall_timeout and held_s >= settings.stall_timeout:
        metrics.shed.labels("stalled").inc()
        raise stalled(held_s)


def budget_s(remaining_s: float | None, settings: Settings, waited_s: float = 0.0) -> float | None:
    """A request's time budget: the server's SLO, less what the request waited before the server
    saw it (server/transit.py), or the caller's deadline when that is sooner (gRPC's remaining
    time has counted the wait already). By default the SLO is the server's promise to every
    caller and a deadline can only tighten it: many callers set a generous deadline as a safety
    net, and letting it loosen the SLO would let the queue grow to it. With --deadline-budget the
    caller's deadline is the budget: a caller that says it can wait 200 ms gets a late answer
    rather than a refusal when the server is past capacity."""
    slo = settings.slo_p95_ms / 1e3 - waited_s if settings.slo_p95_ms > 0 else None
    if remaining_s is None:
        return slo
    return remaining_s if slo is None or settings.deadline_budget else min(remaining_s, slo)


INLINE_AFTER_IDLE_S = 0.002  # a request runs in its own handler only after this long with nothing in progress


class Batcher:
    def __init__(self, engine: Engine, settings: Settings, metrics: Metrics):
        self.current = engine
        self.settings = settings
        self.metrics = metrics
        self.timing = BatchTimeModel(engine.model.row_wise, engine.model.row_threads)
        self.admit_share = AdmitShare()
        self.arrivals = ArrivalRate()
        self._transport_s = settings.slo_transport_ms / 1e3
        self.in_system = 0  # admitted and not yet answered, whatever stage they are in
        self._idle_since = float("-inf")  # time.monotonic() when in_system last fell to 0
        self._pending: list[Entry] = []
        self._pending_tokens = 0
        self._seq = itertools.count()
        self._wakeup = asyncio.Event()
        self._forward_slot = asyncio.Semaphore(1)
        self._forward_started: float | None = None  # time.monotonic() of the running forward pass
        self._forward_expected_s = 0.0
        self._forwarding: list[Entry] = []  # the running forward pass's requests
        self._held_since: float | None = None  # time.monotonic() when `hold` took the model
        self._batches: set[asyncio.Task] = set()
        self._held = 0
        self._infer_pool = named_pool(1, "intentd-infer")
        # called with time.monotonic() before the event loop runs a forward pass itself, and with 0
        # once the pass returns: the loop does nothing else meanwhile (a --workers worker tells its
        # supervisor, which would otherwise take the silent loop for a wedged one: server/workers.py)
        self.on_loop_pass: Callable[[float], None] = lambda started: None
        self._task: asyncio.Task | None = None
        self._closed = False
        metrics.batch_bound.set(settings.max_batch_size)
        metrics.admit_share.set(self.admit_share.value)

    # -- callers -----------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._schedule(), name="intentd-batcher")
        self._task.add_done_callback(self._scheduler_done)

    def swap(self, engine: Engine) -> None:
        """Batches that start from now on run on `engine`; running ones finish on the old one. A
        graph computed another way gets a timing model of its own, which starts from the old one's
        estimates (server/planner.py, `rebased`): one that starts from nothing admits everything
        until the new graph's first batch, then takes that one batch, however slow, as its estimate
        and sheds until later batches dilute it."""
        self.current = engine
        if (engine.model.row_wise, engine.model.row_threads) != (self.timing.row_wise, self.timing.row_threads):
            self.timing = self.timing.rebased(engine.model.row_wise, engine.model.row_threads)

    async def hold(self) -> Callable[[], None]:
        """Take the model as a batch would, so arrivals queue until the returned function is called
        (tests and benchmarks build a queue with it; admission sees a busy server)."""
        await self._forward_slot.acquire()
        self._held += 1
        self._held_since = time.monotonic()
        loop = asyncio.get_running_loop()

        def release() -> None:
            def now() -> None:
                self._held -= 1
                self._held_since = None
                self._forward_slot.release()
                self._wakeup.set()
            loop.call_soon_threadsafe(now)
        return release

    @property
    def queued(self) -> int:
        """Requests admitted and not yet in a batch."""
        return len(self._pending)

    def waiting(self, owner: object) -> bool:
        """Whether a request submitted with `RequestOptions.owner` `owner` is still queued (a
        stream's superseded partial: cancelling it now means it is never computed)."""
        return any(entry.options.owner is owner for entry in self._pending)

    @property
    def idle(self) -> bool:
        """Nothing admitted and unanswered, no batch running, the model not held."""
        return self.in_system == 0 and not self._batches and not self._held

    def idle_s(self) -> float:
        """How long the server has been idle (0 while it is not): a call read now, after a while
        with nothing to do, cannot have waited long for the event loop (server/transit.py)."""
        return time.monotonic() - self._idle_since if self.idle else 0.0

    def refresh_gauges(self) -> None:
        """`intentd_admit_share` while idle: the share the next arrival gets (the one the last
        answer left stayed on show for as long as the server was quiet)."""
        if self.idle:
            self.metrics.admit_share.set(self.admit_share.rested(time.monotonic() - self._idle_since))

    def stalled_s(self) -> float:
        """How long the model has been held by one forward pass (or `hold`); 0 while it is free.
        A pass takes milliseconds; seconds mean it hangs, and everything queued waits behind it."""
        since = [t for t in (self._forward_started, self._held_since) if t is not None]
        return time.monotonic() - min(since) if since else 0.0

    def fail_waiting(self, error: Exception) -> int:
        """Answer `error` to every request the model holds up (queued, or in the running pass,
        whose answer, should the pass ever return, is then dropped). Returns how many."""
        held_up = [e for e in (*self._pending, *self._forwarding) if not e.future.done()]
        for entry in held_up:
            entry.future.set_exception(error)
        self._fail_pending(error)
        return len(held_up)

    def expected_wait_s(self, now: float, without: Sequence[Entry] = (), adding: int = 1) -> float:
        """Predicted time from now until a request of `adding` texts admitted now is answered
        (were the queued entries `without` gone)."""
        running_left = 0.0
        if self._forward_started is not None:
            running_left = max(0.0, self._forward_started + self._forward_expected_s - now)
        queued = len(self._pending) - len(without) + adding
        tokens = self._pending_tokens - sum(e.n_tokens for e in without)
        ahead = self.timing.backlog_s(queued, tokens + 16 * adding, self.settings.max_batch_size)
        own_post = min(queued, self.settings.max_batch_size) * self.timing.post_per_request_s
        return running_left + ahead + own_post

    async def submit(self, text: str, options: RequestOptions, remaining_s: float | None,
                     waited_s: float = 0.0) -> Result:
        """`waited_s`: how long the request waited before its handler ran, by the caller's stamp."""
        return (await self.submit_all([text], options, remaining_s, waited_s))[0]

    async def submit_all(self, texts: Sequence[str], options: RequestOptions, remaining_s: float | None,
                         waited_s: float = 0.0) -> list[Result]:
        """One request's texts (an n-best's transcripts when more than one), admitted or shed as
        one, against one budget, and counted once for lateness. Admitted text by text, an n-best
        of 11 found its own first transcripts ahead of the rest and was refused on an idle
        server, and its every late transcript cut admission for all other callers."""
        loop = asyncio.get_running_loop()
        now = time.monotonic()  # not loop.time(): uvloop's is in whole milliseconds, read once a loop pass
        n = len(texts)
        for _ in texts:
            self.arrivals.arrive(now)  # shed or not, it is traffic
        if self._closed:
            raise Draining("server is shutting down")
        refuse_if_stalled(self.stalled_s(), self.settings, self.metrics)
        budget = budget_s(remaining_s, self.settings, waited_s)
        if self.idle and self.admit_share.value < 1.0:  # the first arrival after a pause: the pause was no load
            self.admit_share.rest(now - self._idle_since)
            self.metrics.admit_share.set(self.admit_share.value)
        share = self.admit_share.value
        limit = share * budget if budget is not None and budget > 0 and not self.idle else None
        full = self.in_system + n > self.settings.max_queue
        expected = self.expected_wait_s(now, adding=n) if limit is not None else 0.0
        if ((full or (limit is not None and expected > limit)) and not options.partial
                and (remaining_s is None or remaining_s > 0) and self._shed_partials_for(now, limit, n)):
            full, expected = False, 0.0
        if full:
            self.metrics.shed.labels("queue_full").inc()
            raise Overloaded(f"server busy ({self.settings.max_queue} requests in progress); retry with backoff")
        if remaining_s is not None and remaining_s <= 0:
            self.metrics.expired.labels("admission").inc()
            raise DeadlineUnmeetable("deadline already passed on arrival")
        if budget is not None and not self.idle:
            if budget <= 0:  # its wait to be read used the budget up (an idle server still answers)
                self.metrics.shed.labels("waited").inc()
                raise Overloaded(f"server busy: this request waited {waited_s * 1e3:.1f} ms before the server "
                                 "could read it, past its budget; retry with backoff")
            if expected > limit:
                self._refuse(expected, budget, remaining_s, share, n)
        engine = self.current
        t0 = time.perf_counter()
        encodings = engine.tokenize(list(texts))  # ~0.1 ms a text, GIL released; lengths size batches
        tokenize_s = (time.perf_counter() - t0) / n
        entries = [Entry(text, options, loop.create_future(),
                         None if remaining_s is None else now + remaining_s,
                         None if budget is None else now + budget,
                         encoding, engine, tokenize_s, next(self._seq), now)
                   for text, encoding in zip(texts, encodings)]
        lengths = [e.n_tokens for e in entries]
        # a server idle for a while that expects no arrivals during the pass: a lone request is its
        # own batch, run here, without the scheduler's hops (each a pass of the event loop on a
        # cold core). Not right after an answer: requests of a burst that gRPC holds unread
        # would each find the server idle and run one by one on the loop, unseen by admission
        inline = (n == 1 and self.idle and now - self._idle_since > INLINE_AFTER_IDLE_S
                  and self.arrivals.quiet_for(self.timing.forward_s(lengths), now))
        self.in_system += n
        self.metrics.in_progress.set(self.in_system)
        if not inline:
            self._pending.extend(entries)
            self._pending_tokens += sum(lengths)
            self.metrics.queue_depth.set(len(self._pending))
            self._wakeup.set()
        try:
            if inline:
                await self._forward_slot.acquire()  # free (idle): returns at once
                await self._run_batch(entries)  # settles the entry's future
            # a cancelled caller cancels the Future it awaits, and the rest below: the batch builder
            # skips them. (Awaited in turn: a Future already settled, as an inline one is, costs no
            # pass of the event loop, where gather's would.)
            results = [await entry.future for entry in entries]
        except DeadlineUnmeetable:  # its deadline passed while it queued: admission let in too much
            self._observe_lateness(budget, True, lengths)
            raise
        finally:
            for entry in entries:
                if not entry.future.done():  # a sibling failed: the rest are not needed
                    entry.future.cancel()
                elif not entry.future.cancelled():
                    entry.future.exception()  # seen (siblings failed together: asyncio would log each)
                if entry.counted:  # counted once
                    entry.counted = False
                    self._leave()
            self._drop_cancelled(entries)
        # late by the caller's clock, which also counts the transport
        self._observe_lateness(budget, budget is not None and time.monotonic() - now > budget - self._transport_s,
                               lengths)
        return results

    def _drop_cancelled(self, entries: Sequence[Entry]) -> None:
        """Cancelled requests (a stream's withdrawn partial, a caller gone) leave the queue now, not
        when the next batch is built: one stream's flood of partials showed a queue depth of 9 (56
        for four streams) and made admission shed partials, on an idle server, for work that would
        never run."""
        gone = {id(e) for e in entries if e.future.cancelled()}
        if not gone or not self._pending:
            return
        kept = [e for e in self._pending if id(e) not in gone]
        if len(kept) < len(self._pending):
            self._count_gone([e for e in self._pending if id(e) in gone], time.monotonic())
            self._pending = kept
            self._pending_tokens = sum(e.n_tokens for e in kept)
            self.metrics.queue_depth.set(len(kept))

    def _count_gone(self, entries: Sequence[Entry], now: float) -> None:
        """Queued texts whose caller no longer listens: past their deadline (gRPC cancels the call
        then) they expired, which a dashboard tells apart from callers that went away."""
        expired = sum(1 for e in entries if e.deadline is not None and e.deadline <= now)
        if expired:
            self.metrics.expired.labels("queue").inc(expired)
        if len(entries) > expired:
            self.metrics.cancelled.inc(len(entries) - expired)

    def _refuse(self, expected: float, budget: float, remaining_s: float | None, share: float, n: int) -> None:
        """Shed a request whose predicted wait is past its budget, saying why: what retrying cannot
        change (a deadline, or as many texts, that one answer alone does not fit) is said so."""
        alone = self._alone_s([16] * n)
        if remaining_s is not None and budget == remaining_s and alone > remaining_s:
            # the caller's own deadline is shorter than one answer takes here even with
            # nothing ahead: "retry" would fail the same way
            self.metrics.expired.labels("admission").inc()
            what = "one answer takes" if n == 1 else f"this request's {n} transcripts take"
            raise DeadlineUnmeetable(f"deadline of {remaining_s * 1e3:.1f} ms is shorter than the "
                                     f"~{alone * 1e3:.1f} ms {what} on this server")
        self.metrics.shed.labels("budget").inc()
        if n > 1 and alone > budget:
            raise Overloaded(f"server busy: this request's {n} transcripts take ~{alone * 1e3:.1f} ms even alone, "
                             f"more than its {budget * 1e3:.1f} ms budget with other work in progress; send fewer "
                             "alternatives (an idle server answers it)")
        late = "" if share == 1.0 else f" (recent answers ran late: admitting up to {share:.0%} of it)"
        raise Overloaded(f"server busy: about {expected * 1e3:.1f} ms of work ahead, too much for "
                         f"this request's {budget * 1e3:.1f} ms budget{late}; retry with backoff")

    def _leave(self) -> None:
        self.in_system -= 1
        self.metrics.in_progress.set(self.in_system)
        if self.in_system == 0:
            self._idle_since = time.monotonic()

    def _shed_partials_for(self, now: float, limit_s: float | None, adding: int = 1) -> bool:
        """Room for a request that is not a stream's partial, made by shedding queued partials,
        oldest first, as many as it takes: a partial is best effort (the next message of its
        utterance covers it, and its stream answers it `superseded`), while a shed final or
        unary request is an utterance lost. False, and nothing shed, when even all of them
        would not make room (within `max_queue`, and the work ahead within `limit_s`)."""
        partials = [e for e in self._pending if e.options.partial]
        chosen: list[Entry] = []
        while (self.in_system - sum(e.counted for e in chosen) + adding > self.settings.max_queue
               or (limit_s is not None and self.expected_wait_s(now, chosen, adding) > limit_s)):
            if len(chosen) == len(partials):
                return False
            chosen.append(partials[len(chosen)])
        for entry in chosen:
            self._pending.remove(entry)
            self._pending_tokens -= entry.n_tokens
            if entry.counted:
                entry.counted = False
                self._leave()
            if not entry.future.done():  # (a withdrawn partial's is cancelled: it only left the count)
                self.metrics.shed.labels("for_final").inc()
                entry.future.set_exception(Overloaded("server busy: a queued partial transcript gave its place "
                                                      "to a final one"))
        if chosen:
            self.metrics.queue_depth.set(len(self._pending))
        return bool(chosen)

    def _alone_s(self, lengths: Sequence[int] = (16,)) -> float:
        """Predicted time to answer one request of texts of `lengths` tokens (before they are
        tokenised: of usual length) with nothing ahead of it."""
        return (self.timing.backlog_s(len(lengths), sum(lengths), self.settings.max_batch_size)
                + len(lengths) * self.timing.post_per_request_s)

    def _observe_lateness(self, budget: float | None, late: bool, lengths: Sequence[int]) -> None:
        """A budget a caller cut shorter than one answer alone takes (a very short deadline, or a
        stamp claiming a long wait), or a request of more texts than its budget fits, would be
        late on an idle server: it says nothing of the load, and counting it would let one caller
        cut admission for every other."""
        if budget is None:
            return
        fits_alone = budget - self._transport_s >= self._alone_s(lengths)
        cut_by_caller = self.settings.slo_p95_ms <= 0 or budget < self.settings.slo_p95_ms / 1e3
        too_many_texts = len(lengths) > 1
        if fits_alone or not (cut_by_caller or too_many_texts):
            self.admit_share.observe(late)
            self.metrics.admit_share.set(self.admit_share.value)  # a plain set: --workers shares metrics through files

    async def close(self) -> None:
        """After the gRPC server stopped: finish what is queued, then stop the task and thread."""
        self._closed = True
        self._wakeup.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        if self._batches:
            await asyncio.gather(*self._batches, return_exceptions=True)
        self._fail_pending(Draining("server stopped"))
        self._infer_pool.shutdown(wait=True)

    # -- the scheduler task ------------------------------------------------------------------

    async def _schedule(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                await self._forward_slot.acquire()  # the model is free; arrivals keep accumulating
                batch = self._take_batch()
                if not batch:
                    self._forward_slot.release()
                    break
                task = asyncio.get_running_loop().create_task(self._run_batch(batch))
                self._batches.add(task)
                task.add_done_callback(self._batch_done)
            if self._closed and not self._pending and self.in_system == 0:
                return

    def _take_batch(self) -> list[Entry]:
        now = time.monotonic()
        live: list[Entry] = []
        for entry in self._pending:
            if entry.future.done():  # the caller cancelled or went away
                self._count_gone([entry], now)
            elif entry.deadline is not None and entry.deadline <= now:
                entry.future.set_exception(DeadlineUnmeetable("deadline passed while queued"))
                self.metrics.expired.labels("queue").inc()
            else:
                live.append(entry)
        chosen = self._choose(live, now)
        taken = {id(e) for e in chosen}
        self._pending = [e for e in live if id(e) not in taken]
        self._pending_tokens = sum(e.n_tokens for e in self._pending)
        self.metrics.queue_depth.set(len(self._pending))
        return chosen

    def _choose(self, live: list[Entry], now: float) -> list[Entry]:
        """The oldest entry (no starvation of long texts) plus those closest to it in length, as
        many as fit the size and token bounds and the oldest entry's remaining budget."""
        if not live:
            return []
        max_size, budget_tokens = self.settings.max_batch_size, self.settings.max_batch_tokens
        anchor = live[0]
        remaining = None if anchor.budget_end is None else anchor.budget_end - now
        chosen, lengths, width = [anchor], [anchor.n_tokens], anchor.n_tokens
        for entry in sorted(live[1:], key=lambda e: (abs(e.n_tokens - anchor.n_tokens), e.seq)):
            if len(chosen) == max_size:
                break
            new_width = max(width, entry.n_tokens)
            if new_width * (len(chosen) + 1) > budget_tokens:
                continue
            if remaining is not None and self.timing.batch_s([*lengths, entry.n_tokens]) > remaining:
                continue
            chosen.append(entry)
            lengths.append(entry.n_tokens)
            width = new_width
        self.metrics.batch_bound.set(len(chosen) if len(chosen) < len(live) else max_size)
        return chosen

    async def _run_batch(self, batch: list[Entry]) -> None:
        """Forward on the inference thread (on the loop when the server is quiet); post-process
        here, on the loop, once the next batch has been handed to the model, answering each
        request as soon as its own post-processing is done (the oldest, first in the batch, does
        not wait for its neighbours'). Every entry's Future is settled on every path."""
        engine, timing = self.current, self.timing  # a batch that outlives a swap times the old graph
        loop = asyncio.get_running_loop()
        start = time.monotonic()
        texts, options = [e.text for e in batch], [e.options for e in batch]
        self._forward_started, self._forwarding = start, batch
        self._forward_expected_s = timing.forward_s([e.n_tokens for e in batch])
        for entry in batch:
            self.metrics.queue_wait.observe(start - entry.enqueued)
        forward_s = 0.0
        padded = 0
        encodings = [e.encoding if e.engine is engine else None for e in batch]
        try:
            try:
                # nothing queued, no other batch (this one is in _batches), few arrivals expected
                if not self._pending and len(self._batches) <= 1 and self.arrivals.quiet_for(
                        self._forward_expected_s, start):  # a quiet server: no thread hand-off
                    self.metrics.forward_on_loop.inc()
                    self.on_loop_pass(start)
                    try:
                        parts, forward_s = _forward(engine, texts, encodings, options)
                    finally:
                        self.on_loop_pass(0.0)
                else:
                    parts, forward_s = await loop.run_in_executor(self._infer_pool, _forward, engine, texts,
                                                                  encodings, options)
            finally:
                self._forward_started, self._forwarding = None, []
                self._forward_slot.release()
                self._wakeup.set()
            failed = [(rows, f) for rows, f in parts if isinstance(f, Exception)]
            padded = sum(int(f.batch.input_ids.size) for _, f in parts if not isinstance(f, Exception))
            if not failed:  # a pass run again in parts would teach the planner a false time
                timing.observe_forward([t.n_tokens for t in parts[0][1].batch.texts], forward_s)
            else:
                log.error("inference failed for %d of %d requests batched together (the others were answered)",
                          sum(len(rows) for rows, _ in failed), len(batch), exc_info=failed[0][1])
            self.metrics.forward.observe(forward_s)
            if self._pending:
                await asyncio.sleep(0)  # let the scheduler hand the next batch to the model first
            t0 = time.perf_counter()
            own_s = 0.0  # post-processing work, without the loop's other callbacks run in between
            answered = 0
            for rows, forwarded in parts:
                if isinstance(forwarded, Exception):
                    for i in rows:
                        self._settle(batch[i], InferenceFailed("inference failed"))
                    continue
                answers = engine.finish_each([texts[i] for i in rows], forwarded, [options[i] for i in rows])
                for i in rows:
                    entry = batch[i]
                    t1 = time.perf_counter()
                    result = next(answers)  # the first decodes the part (vectorised); may raise
                    done = time.perf_counter()
                    own_s += done - t1
                    if not isinstance(result, Exception):
                        result = Result(result, start - entry.enqueued, entry.tokenize_s, forward_s, done - t0,
                                        len(batch), batch_tokens=padded)
                    self._settle(entry, result)
                    answered += 1
                    if answered < len(batch):
                        await asyncio.sleep(0)  # its caller's answer leaves now, not after the whole batch
            timing.observe_post(len(batch), own_s)
            self.metrics.postprocess.observe(own_s)
        except asyncio.CancelledError:  # the loop is going away (forced stop): nobody is left waiting
            for entry in batch:
                if not entry.future.done():
                    entry.future.set_exception(Draining("server stopped"))
            raise
        except Exception:  # noqa: BLE001 - a stage failed as a whole: every request of it fails
            log.exception("batch of %d failed", len(batch))
            for entry in batch:
                self._settle(entry, InferenceFailed("inference failed"))
        self.metrics.batch_size.observe(len(batch))
        self.metrics.batch_tokens.observe(padded)

    @staticmethod
    def _settle(entry: Entry, outcome: Result | Exception) -> None:
        if entry.future.done():  # its caller went away
            return
        if isinstance(outcome, Result):
            entry.future.set_result(outcome)
            return
        if not isinstance(outcome, InferenceFailed):
            log.error("post-processing failed for one request", exc_info=outcome)
            outcome = InferenceFailed(f"post-processing failed ({type(outcome).__name__})")
        entry.future.set_exception(outcome)

    def _batch_done(self, task: asyncio.Task) -> None:
        self._batches.discard(task)
        if not task.cancelled() and task.exception() is not None:  # _run_batch catches; a bug if reached
            log.error("batch task failed", exc_info=task.exception())
        self._wakeup.set()

    def _scheduler_done(self, task: asyncio.Task) -> None:
        if task.cancelled() or task.exception() is None:
            return
        log.critical("batch scheduler died; failing queued requests", exc_info=task.exception())
        self._closed = True
        self._fail_pending(InferenceFailed("batch scheduler failed"))

    def _fail_pending(self, error: Exception) -> None:
        for entry in self._pending:
            if not entry.future.done():
                entry.future.set_exception(error)
        self._pending = []
        self._pending_tokens = 0
        self.metrics.queue_depth.set(0)


def _forward(engine: Engine, texts: list[str], encodings: list[Encoding | None],
             options: list[RequestOptions]) -> tuple[list[Part], float]:
    """The inference thread's part: one forward pass (requests admitted under a model swapped out
    since are tokenised again, by this engine's tokenizer), run again in parts if it fails, so a
    row the graph refuses fails only its own request (`Engine.forward_parts`)."""
    t0 = time.perf_counter()
    redo = [i for i, e in enumerate(encodings) if e is None]
    if redo:
        for i, encoding in zip(redo, engine.tokenize([texts[i] for i in redo])):
            encodings[i] = encoding
    parts = engine.forward_parts(encodings, [o.partial for o in options])
    return parts, time.perf_counter() - t0


class DirectRunner:
    """Naive baseline (``--naive``): each request is one onnxruntime call in a worker thread."""

    def __init__(self, engine: Engine, settings: Settings, metrics: Metrics):
        self.current = engine
        self.settings = settings
        self.metrics = metrics
        self.in_system = 0
        self._idle_since = float("-inf")  # time.monotonic() when in_system last fell to 0
        self._progress_at = 0.0  # time.monotonic() of the last answer, or of the first request after idle
        self._pool = named_pool(1, "intentd-naive")
        self._closed = False

    def start(self) -> None:
        pass

    def swap(self, engine: Engine) -> None:
        self.current = engine

    def waiting(self, owner: object) -> bool:
        return False  # every request starts at once

    def idle_s(self) -> float:
        return time.monotonic() - self._idle_since if self.in_system == 0 else 0.0

    def stalled_s(self) -> float:
        """How long requests have waited with no call finishing (its one thread runs them in turn)."""
        return time.monotonic() - self._progress_at if self.in_system else 0.0

    def fail_waiting(self, error: Exception) -> int:
        return 0  # each request awaits its own executor call: refusing new ones is all it can do

    def refresh_gauges(self) -> None:
        pass  # no admission share

    async def submit(self, text: str, options: RequestOptions, remaining_s: float | None,
                     waited_s: float = 0.0) -> Result:
        if self._closed:
            raise Draining("server is shutting down")
        refuse_if_stalled(self.stalled_s(), self.settings, self.metrics)
        if self.in_system >= self.settings.max_queue:
            self.metrics.shed.labels("queue_full").inc()
            raise Overloaded(f"server busy ({self.settings.max_queue} requests in progress); retry with backoff")
        if self.in_system == 0:
            self._progress_at = time.monotonic()
        self.in_system += 1
        try:
            start = time.perf_counter()
            result = (await asyncio.get_running_loop().run_in_executor(
                self._pool, _run_one, self.current, text, options))
            elapsed = time.perf_counter() - start
            self._progress_at = time.monotonic()
        finally:
            self.in_system -= 1
            if self.in_system == 0:
                self._idle_since = time.monotonic()
        self.metrics.forward.observe(elapsed)
        self.metrics.batch_size.observe(1)
        if isinstance(result, Exception):
            log.error("request failed", exc_info=result)
            raise InferenceFailed(f"inference failed ({type(result).__name__})")
        return Result(result, 0.0, 0.0, elapsed, 0.0, 1)

    async def submit_all(self, texts: Sequence[str], options: RequestOptions, remaining_s: float | None,
                         waited_s: float = 0.0) -> list[Result]:
        """Each text on its own (the baseline has no queue to admit a group into), all or nothing."""
        tasks = [asyncio.ensure_future(self.submit(t, options, remaining_s, waited_s)) for t in texts]
        try:
            return list(await asyncio.gather(*tasks))
        finally:
            for task in tasks:  # one failed, or the caller left: the rest are not needed
                task.cancel()

    async def close(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=True)


def _run_one(engine: Engine, text: str, options: RequestOptions) -> Analysis | Exception:
    try:
        return engine.finish([text], engine.forward(engine.tokenize([text]), [options.partial]), [options])[0]
    except Exception as exc:  # noqa: BLE001 - reported by the caller
        return exc


def make_runner(engine: Engine, settings: Settings, metrics: Metrics) -> Runner:
    return DirectRunner(engine, settings, metrics) if settings.naive else Batcher(engine, settings, metrics)


def batch_sizes_to_warm(settings: Settings) -> Sequence[int]:
    """The batch shapes a server will see first, run once at start-up."""
    return sorted({n for n in (1, 2, 4, 8, settings.max_batch_size) if n <= settings.max_batch_size})
