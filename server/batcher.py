"""Continuous micro-batching: one asyncio task owns the queue; each request waits on its own Future.

- Admission counts every request from the moment it is admitted until it is answered (queued,
  tokenising, in the forward pass or being post-processed): ``max_queue`` bounds all of them.
  A request whose budget (the SLO, or its deadline when sooner) cannot cover the work already
  ahead of it is shed at once with RESOURCE_EXHAUSTED, so overload turns into fast refusals, not
  timeouts, and the answered requests keep the SLO.
- A request is tokenised on admission (in a thread; `encode_batch` releases the GIL), so its token
  count is known when batches are sized. When the batcher is idle there is nothing to overlap,
  and the inference thread tokenises it instead: two thread hand-offs fewer.
- When the model is idle a request runs at once, as a batch of one: there is no batching timer.
- While a batch runs, arrivals accumulate; the next batch is built the moment the inference slot
  frees up, from the oldest live entry plus the entries closest to it in length (limits padding),
  as large as the oldest entry's remaining budget allows (server/planner.py predicts batch
  times), within ``max_batch_size`` and ``max_batch_tokens``.
- Entries whose caller went away or whose own deadline passed are dropped then.
- onnxruntime runs in the inference thread; decoding, resolution and responses run in the
  post-processing thread, so batch N is post-processed while batch N+1 is in onnxruntime. At most
  two batches are past the forward pass at once (one being post-processed, one waiting), so the
  post-processing stage is bounded too. When nothing else is waiting, the inference thread
  post-processes its own batch (one thread hand-off fewer at low load).
- Every stage settles every Future of its batch, whatever it raises: no request waits forever.
  A batch's Engine is the one current when it started: a hot swap never changes a batch midway.

`DirectRunner` is the benchmark baseline: one onnxruntime call per request, no queue.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

from tokenizers import Encoding

from .analysis import Analysis, RequestOptions
from .config import Settings
from .engine import Engine, Forwarded
from .errors import DeadlineUnmeetable, Draining, InferenceFailed, Overloaded
from .metrics import Metrics
from .planner import BatchTimeModel

log = logging.getLogger(__name__)
POST_STAGE_BATCHES = 2  # batches past the forward pass at once: one post-processed, one waiting


@dataclass(slots=True)
class Result:
    analysis: Analysis
    queue_wait_s: float = 0.0  # admission to the start of its batch
    tokenize_s: float = 0.0
    forward_s: float = 0.0  # its batch's forward pass
    postprocess_s: float = 0.0  # its batch's decoding, resolution and responses
    batch_size: int = 0
    cache_hit: bool = False
    batch_tokens: int = 0  # padded tokens of its batch


@dataclass(slots=True, eq=False)
class Entry:
    text: str
    options: RequestOptions
    future: asyncio.Future
    deadline: float | None  # loop.time() after which the caller no longer listens (its own deadline)
    budget_end: float | None  # loop.time() by which it should be answered: the SLO, or its deadline if sooner
    encoding: Encoding | None  # None: tokenised by the inference thread (an idle batcher)
    engine: Engine  # whose tokenizer made `encoding`
    tokenize_s: float
    seq: int
    enqueued: float  # loop.time()

    @property
    def n_tokens(self) -> int:
        if self.encoding is None:  # an estimate, for the token budget: ~4 characters a token
            return len(self.text) // 4 + 2
        return len(self.encoding.ids)


class Runner(Protocol):
    """What the service needs from the batcher (or the naive baseline)."""

    current: Engine

    def start(self) -> None: ...
    def swap(self, engine: Engine) -> None: ...
    async def submit(self, text: str, options: RequestOptions, remaining_s: float | None) -> Result: ...
    async def close(self) -> None: ...


def budget_s(remaining_s: float | None, settings: Settings) -> float | None:
    """A request's time budget: the server's SLO, or the caller's deadline when that is sooner.
    The SLO is the server's promise to every caller; a deadline can only tighten it."""
    slo = settings.slo_p95_ms / 1e3 if settings.slo_p95_ms > 0 else None
    if remaining_s is None:
        return slo
    return remaining_s if slo is None else min(remaining_s, slo)


class Batcher:
    def __init__(self, engine: Engine, settings: Settings, metrics: Metrics):
        self.current = engine
        self.settings = settings
        self.metrics = metrics
        self.timing = BatchTimeModel()
        self.in_system = 0  # admitted and not yet answered, whatever stage they are in
        self._pending: list[Entry] = []
        self._pending_tokens = 0
        self._tokenizing = 0  # admitted, being tokenised: queued work too
        self._tokenizing_tokens = 0
        self._seq = itertools.count()
        self._wakeup = asyncio.Event()
        self._forward_slot = asyncio.Semaphore(1)
        self._post_slots = asyncio.Semaphore(POST_STAGE_BATCHES)
        self._forward_started: float | None = None  # loop.time() of the running forward pass
        self._forward_expected_s = 0.0
        self._batches: set[asyncio.Task] = set()
        self._held = 0
        self._tokenize_pool = ThreadPoolExecutor(1, thread_name_prefix="intentd-tokenize")
        self._infer_pool = ThreadPoolExecutor(1, thread_name_prefix="intentd-infer")
        self._post_pool = ThreadPoolExecutor(1, thread_name_prefix="intentd-post")
        self._post_lock = threading.Lock()  # post-processing runs on one thread at a time
        self._post_busy = 0
        self._task: asyncio.Task | None = None
        self._closed = False
        metrics.batch_bound.set(settings.max_batch_size)

    # -- callers -----------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._schedule(), name="intentd-batcher")
        self._task.add_done_callback(self._scheduler_done)

    def swap(self, engine: Engine) -> None:
        """Batches that start from now on run on `engine`; running ones finish on the old one."""
        self.current = engine

    async def hold(self) -> Callable[[], None]:
        """Take the model as a batch would, so arrivals queue until the returned function is called
        (tests and benchmarks build a queue with it; admission sees a busy server)."""
        await self._forward_slot.acquire()
        self._held += 1
        loop = asyncio.get_running_loop()

        def release() -> None:
            def now() -> None:
                self._held -= 1
                self._forward_slot.release()
                self._wakeup.set()
            loop.call_soon_threadsafe(now)
        return release

    @property
    def queued(self) -> int:
        """Requests admitted and not yet in a batch."""
        return len(self._pending)

    @property
    def _idle(self) -> bool:
        return self.in_system == 0 and not self._batches and not self._held

    def expected_wait_s(self, loop_time: float) -> float:
        """Predicted time from now until a request admitted now is answered."""
        running_left = 0.0
        if self._forward_started is not None:
            running_left = max(0.0, self._forward_started + self._forward_expected_s - loop_time)
        queued = len(self._pending) + self._tokenizing + 1
        tokens = self._pending_tokens + self._tokenizing_tokens + 16
        ahead = self.timing.backlog_s(queued, tokens, self.settings.max_batch_size)
        own_post = min(queued, self.settings.max_batch_size) * self.timing.post_per_request_s
        return running_left + ahead + own_post

    async def submit(self, text: str, options: RequestOptions, remaining_s: float | None) -> Result:
        if self._closed:
            raise Draining("server is shutting down")
        if self.in_system >= self.settings.max_queue:
            self.metrics.shed.labels("queue_full").inc()
            raise Overloaded(f"server busy ({self.settings.max_queue} requests in progress); retry with backoff")
        if remaining_s is not None and remaining_s <= 0:
            self.metrics.expired.labels("admission").inc()
            raise DeadlineUnmeetable("deadline already passed on arrival")
        loop = asyncio.get_running_loop()
        now = loop.time()
        budget = budget_s(remaining_s, self.settings)
        if budget is not None and not self._idle:
            expected = self.expected_wait_s(now)
            if expected > budget:
                self.metrics.shed.labels("budget").inc()
                raise Overloaded(f"server busy: about {expected * 1e3:.1f} ms of work ahead, "
                                 f"over this request's {budget * 1e3:.1f} ms budget; retry with backoff")
        self.in_system += 1
        self.metrics.in_progress.set(self.in_system)
        try:
            return await self._admitted(loop, text, options, now, remaining_s, budget)
        finally:
            self.in_system -= 1
            self.metrics.in_progress.set(self.in_system)

    async def _admitted(self, loop, text, options, now, remaining_s, budget) -> Result:
        engine = self.current
        if self._idle_but_me():
            # Nothing queued or running: this request's forward pass starts at once, so a
            # tokenizer thread would overlap nothing and cost two thread hand-offs. The
            # inference thread tokenises it instead (still off the event loop).
            encoding, tokenize_s = None, 0.0
        else:
            estimate = len(text) // 4 + 2  # tokens, until the tokenizer says
            self._tokenizing += 1
            self._tokenizing_tokens += estimate
            try:
                start = time.perf_counter()
                encoding = (await loop.run_in_executor(self._tokenize_pool, engine.tokenize, [text]))[0]
                tokenize_s = time.perf_counter() - start
            finally:
                self._tokenizing -= 1
                self._tokenizing_tokens -= estimate
        entry = Entry(text, options, loop.create_future(),
                      None if remaining_s is None else now + remaining_s,
                      None if budget is None else now + budget,
                      encoding, engine, tokenize_s, next(self._seq), loop.time())
        self._pending.append(entry)
        self._pending_tokens += entry.n_tokens
        self.metrics.queue_depth.set(len(self._pending))
        self._wakeup.set()
        return await entry.future  # a cancelled caller cancels the Future: the batch builder skips it

    def _idle_but_me(self) -> bool:
        return self.in_system == 1 and not self._pending and not self._batches and not self._held

    async def close(self) -> None:
        """After the gRPC server stopped: finish what is queued, then stop the task and threads."""
        self._closed = True
        self._wakeup.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        if self._batches:
            await asyncio.gather(*self._batches, return_exceptions=True)
        self._fail_pending(Draining("server stopped"))
        self._tokenize_pool.shutdown(wait=False, cancel_futures=True)
        self._infer_pool.shutdown(wait=True)
        self._post_pool.shutdown(wait=True)

    # -- the scheduler task ------------------------------------------------------------------

    async def _schedule(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                await self._post_slots.acquire()  # the post-processing stage has room
                await self._forward_slot.acquire()  # the model is free; arrivals keep accumulating
                batch = self._take_batch()
                if not batch:
                    self._forward_slot.release()
                    self._post_slots.release()
                    break
                task = asyncio.get_running_loop().create_task(self._run_batch(batch))
                self._batches.add(task)
                task.add_done_callback(self._batch_done)
            if self._closed and not self._pending and self.in_system == 0:
                return

    def _take_batch(self) -> list[Entry]:
        now = asyncio.get_running_loop().time()
        live: list[Entry] = []
        for entry in self._pending:
            if entry.future.done():  # the caller cancelled or went away
                self.metrics.cancelled.inc()
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
        chosen, width = [anchor], anchor.n_tokens
        for entry in sorted(live[1:], key=lambda e: (abs(e.n_tokens - anchor.n_tokens), e.seq)):
            if len(chosen) == max_size:
                break
            new_width = max(width, entry.n_tokens)
            n = len(chosen) + 1
            if new_width * n > budget_tokens:
                continue
            if remaining is not None and self.timing.batch_s(n, new_width * n) > remaining:
                continue
            chosen.append(entry)
            width = new_width
        if len(chosen) < len(live):  # the bound bit: report what it was for this batch
            self.metrics.batch_bound.set(len(chosen))
        else:
            self.metrics.batch_bound.set(max_size)
        return chosen

    async def _run_batch(self, batch: list[Entry]) -> None:
        engine = self.current
        loop = asyncio.get_running_loop()
        start = loop.time()
        width = max(e.n_tokens for e in batch)
        self._forward_started = start
        self._forward_expected_s = self.timing.forward_s(width * len(batch))
        for entry in batch:
            self.metrics.queue_wait.observe(start - entry.enqueued)
        encodings = [e.encoding if e.engine is engine else None for e in batch]
        texts, options = [e.text for e in batch], [e.options for e in batch]
        stages: dict[str, float] = {}
        try:
            results = await self._forward_then_finish(engine, texts, encodings, options, stages)
        except Exception:  # noqa: BLE001 - a stage failed as a whole: every request of it fails
            log.exception("batch of %d failed", len(batch))
            results = [InferenceFailed("inference failed")] * len(batch)
        finally:
            self._post_slots.release()
            if "forward" not in stages:  # the forward stage never reported: free its slot here
                self._release_forward_slot()
        forward_s, post_s = stages.get("forward", 0.0), stages.get("post", 0.0)
        if forward_s:
            self.timing.observe_forward(stages.get("padded_tokens", width * len(batch)), forward_s)
            self.metrics.forward.observe(forward_s)
        if post_s:
            self.timing.observe_post(len(batch), post_s)
            self.metrics.postprocess.observe(post_s)
        self.metrics.batch_size.observe(len(batch))
        self.metrics.batch_tokens.observe(stages.get("padded_tokens", width * len(batch)))
        for entry, result in zip(batch, results):
            if entry.future.done():
                continue
            if isinstance(result, Exception):
                if not isinstance(result, InferenceFailed):
                    log.error("post-processing failed for one request", exc_info=result)
                    result = InferenceFailed(f"post-processing failed ({type(result).__name__})")
                entry.future.set_exception(result)
            else:
                tokenize_s = entry.tokenize_s or stages.get("tokenize", 0.0)
                entry.future.set_result(Result(result, start - entry.enqueued, tokenize_s, forward_s, post_s, len(batch),
                                               batch_tokens=stages.get("padded_tokens", 0)))

    def _release_forward_slot(self) -> None:
        if self._forward_started is not None:
            self._forward_started = None
            self._forward_slot.release()
            self._wakeup.set()

    def _forward_then_finish(self, engine: Engine, texts: list[str], encodings: list[Encoding | None],
                             options: list[RequestOptions], stages: dict) -> asyncio.Future:
        """The forward pass on the inference thread, which hands its output straight to the
        post-processing thread (or post-processes itself when nothing else waits): the event
        loop hears only of the free inference slot and of the end. Whatever any step raises,
        `done` is settled exactly once."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def settle(results: list | None, error: BaseException | None) -> None:
            if done.done():
                return
            if error is not None:
                done.set_exception(error)
            else:
                done.set_result(results)

        def settle_from_thread(results: list | None, error: BaseException | None) -> None:
            try:
                loop.call_soon_threadsafe(settle, results, error)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass

        def finish(forwarded: Forwarded) -> None:
            try:
                t0 = time.perf_counter()
                with self._post_lock:
                    results = engine.finish(texts, forwarded, options)
                stages["post"] = time.perf_counter() - t0
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting batch task
                settle_from_thread(None, exc)
            else:
                settle_from_thread(results, None)
            finally:
                with self._post_lock:
                    self._post_busy -= 1

        def post_refused(exc: BaseException) -> None:
            with self._post_lock:
                self._post_busy -= 1
            settle_from_thread(None, exc)

        def forward() -> None:
            try:
                t0 = time.perf_counter()
                if any(e is None for e in encodings):  # an idle batcher's request, or one from before a swap
                    redo = [i for i, e in enumerate(encodings) if e is None]
                    for i, encoding in zip(redo, engine.tokenize([texts[i] for i in redo])):
                        encodings[i] = encoding
                t1 = time.perf_counter()
                forwarded = engine.forward(encodings)
                stages["tokenize"] = t1 - t0
                stages["forward"] = time.perf_counter() - t1
                stages["padded_tokens"] = int(forwarded.batch.input_ids.size)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting batch task
                stages["forward"] = 0.0
                settle_from_thread(None, exc)
                _call_soon(loop, self._release_forward_slot)
                return
            _call_soon(loop, self._release_forward_slot)
            with self._post_lock:
                self._post_busy += 1
                inline = self._post_busy == 1 and not self._pending
            if inline:
                finish(forwarded)
            else:
                _submit(self._post_pool, finish, forwarded, on_error=post_refused)

        _submit(self._infer_pool, forward, on_error=lambda exc: settle(None, exc))
        return done

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


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[[], None]) -> None:
    try:
        loop.call_soon_threadsafe(fn)
    except RuntimeError:  # the loop is closed
        pass


def _submit(pool: ThreadPoolExecutor, fn: Callable, *args, on_error: Callable[[BaseException], None]) -> None:
    """Submit work whose failure must reach someone: a refused submission (pool shut down) and
    anything the function lets escape both go to `on_error`."""
    try:
        future = pool.submit(fn, *args)
    except BaseException as exc:  # noqa: BLE001
        on_error(exc)
        return
    future.add_done_callback(lambda f: f.exception() is not None and on_error(f.exception()))


class DirectRunner:
    """Naive baseline (``--naive``): each request is one onnxruntime call in a worker thread."""

    def __init__(self, engine: Engine, settings: Settings, metrics: Metrics):
        self.current = engine
        self.settings = settings
        self.metrics = metrics
        self.in_system = 0
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="intentd-naive")
        self._closed = False

    def start(self) -> None:
        pass

    def swap(self, engine: Engine) -> None:
        self.current = engine

    async def submit(self, text: str, options: RequestOptions, remaining_s: float | None) -> Result:
        if self._closed:
            raise Draining("server is shutting down")
        if self.in_system >= self.settings.max_queue:
            self.metrics.shed.labels("queue_full").inc()
            raise Overloaded(f"server busy ({self.settings.max_queue} requests in progress); retry with backoff")
        self.in_system += 1
        try:
            start = time.perf_counter()
            result = (await asyncio.get_running_loop().run_in_executor(
                self._pool, _run_one, self.current, text, options))
            elapsed = time.perf_counter() - start
        finally:
            self.in_system -= 1
        self.metrics.forward.observe(elapsed)
        self.metrics.batch_size.observe(1)
        if isinstance(result, Exception):
            log.error("request failed", exc_info=result)
            raise InferenceFailed(f"inference failed ({type(result).__name__})")
        return Result(result, 0.0, 0.0, elapsed, 0.0, 1)

    async def close(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=True)


def _run_one(engine: Engine, text: str, options: RequestOptions) -> Analysis | Exception:
    try:
        return engine.finish([text], engine.forward(engine.tokenize([text])), [options])[0]
    except Exception as exc:  # noqa: BLE001 - reported by the caller
        return exc


def make_runner(engine: Engine, settings: Settings, metrics: Metrics) -> Runner:
    return DirectRunner(engine, settings, metrics) if settings.naive else Batcher(engine, settings, metrics)


def batch_sizes_to_warm(settings: Settings) -> Sequence[int]:
    """The batch shapes a server will see first, run once at start-up."""
    return sorted({n for n in (1, 2, 4, 8, settings.max_batch_size) if n <= settings.max_batch_size})
