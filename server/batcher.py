"""Continuous micro-batching: one asyncio task owns the queue; each request waits on its own Future.

- A request is tokenised on admission (in a thread, overlapping the running batch), so its token
  count is known when batches are budgeted. When the batcher is idle there is nothing to
  overlap, and the inference thread tokenises it instead: two thread hand-offs fewer.
- When the model is idle a request runs at once, as a batch of one: there is no batching timer.
- While a batch runs, arrivals accumulate; the next batch is built the moment a worker frees up,
  from the oldest live entry plus the entries closest to it in length (limits padding), within
  ``max_batch_size`` and ``max_batch_tokens`` (counted after padding).
- Entries whose caller went away (Future cancelled) or whose deadline passed are dropped then.
- onnxruntime runs in worker thread(s); decoding and ``Pipeline.finish`` run in a post-processing
  thread, so batch N is post-processed while batch N+1 is in onnxruntime (which drops the GIL).
  The worker hands its output to that thread directly; the event loop hears of the free worker
  and of the finished batch, nothing in between.
  A batch's model is the one current when it started: a hot swap never changes a batch midway.

`DirectRunner` is the benchmark baseline: one onnxruntime call per request, no queue.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol, Sequence

from tokenizers import Encoding

from .admission import DeadlineUnmeetable, Draining, Overloaded, ServiceError, WaitEstimator
from .analysis import Analysis, RequestOptions
from .config import Settings
from .metrics import Metrics
from .model import Model
from .pipeline import Pipeline

log = logging.getLogger(__name__)
WARM_UP_TEXT = "move 200 dollars from checking to savings tomorrow"


class InferenceFailed(ServiceError):
    """The model or post-processing raised for this request: a server bug, logged with its traceback."""


@dataclass(slots=True)
class Served:
    """A loaded, warmed model with its post-processing: what one batch runs on."""

    model: Model
    pipeline: Pipeline
    path: Path
    loaded_at: dt.datetime

    @classmethod
    def load(cls, path: str | Path, settings: Settings) -> "Served":
        """Blocking (seconds): call it in a thread. Raises ArtifactError for a bad artifact."""
        model = Model.load(path, model=settings.onnx_file, providers=settings.providers,
                           intra_op_threads=settings.intra_op_threads, spin=settings.spin)
        pipeline = Pipeline(model)
        if settings.warm_up:
            pipeline.warm_up()
            for n in sorted({1, 2, 4, 8, settings.max_batch_size}):  # the shapes batches will have
                if n <= settings.max_batch_size:
                    model.predict([WARM_UP_TEXT] * n)
        return cls(model, pipeline, Path(path), dt.datetime.now(dt.timezone.utc))

    @property
    def version(self) -> str:
        return self.model.version

    def tokenize(self, text: str) -> Encoding:
        return self.model.encoder.tokenizer.encode(text, add_special_tokens=True)

    def forward(self, texts: Sequence[str], encodings: Sequence[Encoding | None]) -> tuple:
        """Collate and one forward pass for the batch (inference thread; onnxruntime drops the GIL).

        An encoding made by another model's tokenizer (a swap happened while it queued) is None
        here and is redone.
        """
        encodings = [e if e is not None else self.tokenize(t) for t, e in zip(texts, encodings)]
        batch = self.model.encoder.collate(encodings)
        return batch, self.model.infer(batch)

    def postprocess(self, texts: Sequence[str], forwarded: tuple,
                    options: Sequence[RequestOptions]) -> list[Analysis | Exception]:
        """Decode, resolve and respond (post-processing thread, overlapping the next forward pass).
        A failure in one request's post-processing fails only that request."""
        batch, raw = forwarded
        top_k = max(2, max(o.top_k for o in options))  # escalation needs the top two
        predictions = self.model.decode(texts, batch, raw, top_k=top_k)
        out: list[Analysis | Exception] = []
        for text, prediction, opts in zip(texts, predictions, options):
            try:
                analysis = self.pipeline.finish(text, prediction, opts)
                if len(prediction.intents) > opts.top_k:
                    analysis.prediction = replace(prediction, intents=prediction.intents[: opts.top_k])
                out.append(analysis)
            except Exception as exc:  # noqa: BLE001 - reported per request, logged by the runner
                out.append(exc)
        return out

    def run(self, texts: Sequence[str], encodings: Sequence[Encoding | None],
            options: Sequence[RequestOptions]) -> list[Analysis | Exception]:
        """Both stages in one call (the naive runner)."""
        return self.postprocess(texts, self.forward(texts, encodings), options)


@dataclass(slots=True)
class Result:
    analysis: Analysis
    queue_wait_s: float = 0.0
    inference_s: float = 0.0
    batch_size: int = 0
    cache_hit: bool = False


@dataclass(slots=True, eq=False)
class Entry:
    text: str
    options: RequestOptions
    future: asyncio.Future
    deadline: float | None  # loop.time() by which the answer is useless
    encoding: Encoding | None  # None: tokenised by the inference thread (an idle batcher)
    served: Served  # whose tokenizer made `encoding`
    tokenize_s: float
    seq: int
    enqueued: float = field(default_factory=time.perf_counter)

    @property
    def n_tokens(self) -> int:
        if self.encoding is None:  # an estimate, for the token budget: ~4 characters a token
            return len(self.text) // 4 + 2
        return len(self.encoding.ids)


class Runner(Protocol):
    """What the service needs from the batcher (or the naive baseline)."""

    current: Served
    estimator: WaitEstimator

    def start(self) -> None: ...
    def swap(self, served: Served) -> None: ...
    async def submit(self, text: str, options: RequestOptions, remaining_s: float | None) -> Result: ...
    async def close(self) -> None: ...


class Batcher:
    def __init__(self, served: Served, settings: Settings, metrics: Metrics):
        self.current = served
        self.settings = settings
        self.metrics = metrics
        self.estimator = WaitEstimator(settings.max_batch_size, settings.inference_workers)
        self._pending: list[Entry] = []
        self._admitting = 0  # being tokenised: counted against the queue bound too
        self._seq = itertools.count()
        self._wakeup = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.inference_workers)
        self._batches: set[asyncio.Task] = set()
        self._tokenize_pool = ThreadPoolExecutor(1, thread_name_prefix="intentd-tokenize")
        self._infer_pool = ThreadPoolExecutor(settings.inference_workers, thread_name_prefix="intentd-infer")
        # decoding, resolution and responses of batch N run here while batch N+1 is in onnxruntime
        self._post_pool = ThreadPoolExecutor(1, thread_name_prefix="intentd-post")
        self._task: asyncio.Task | None = None
        self._closed = False

    # -- callers -----------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._schedule(), name="intentd-batcher")
        self._task.add_done_callback(self._scheduler_done)

    def swap(self, served: Served) -> None:
        """Batches that start from now on run on `served`; running ones finish on the old model."""
        self.current = served

    @property
    def queued(self) -> int:
        return len(self._pending) + self._admitting

    @property
    def _idle(self) -> bool:
        return not (self._pending or self._admitting or self._batches)

    async def submit(self, text: str, options: RequestOptions, remaining_s: float | None) -> Result:
        if self._closed:
            raise Draining("server is shutting down")
        queued = self.queued
        if queued >= self.settings.max_queue:
            self.metrics.shed.inc()
            raise Overloaded(f"queue full ({self.settings.max_queue} requests waiting); retry with backoff")
        try:
            self.estimator.check(remaining_s, queued)
        except DeadlineUnmeetable:
            self.metrics.expired.labels("admission").inc()
            raise
        loop = asyncio.get_running_loop()
        deadline = None if remaining_s is None else loop.time() + remaining_s
        served = self.current
        if self._idle:
            # Nothing queued or running: this request's forward pass starts at once, so a
            # tokenizer thread would overlap nothing and cost two thread hand-offs. The
            # inference thread tokenises it instead (still off the event loop).
            encoding, tokenize_s = None, 0.0
        else:
            self._admitting += 1
            try:
                start = time.perf_counter()
                encoding = await loop.run_in_executor(self._tokenize_pool, served.tokenize, text)
                tokenize_s = time.perf_counter() - start
            finally:
                self._admitting -= 1
        entry = Entry(text, options, loop.create_future(), deadline, encoding, served, tokenize_s, next(self._seq))
        self._pending.append(entry)
        self.metrics.queue_depth.set(len(self._pending))
        self._wakeup.set()
        return await entry.future  # a cancelled caller cancels the Future: the batch builder skips it

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
                await self._slots.acquire()  # waits for a free worker; arrivals keep accumulating
                batch = self._take_batch()
                if not batch:
                    self._slots.release()
                    break
                task = asyncio.get_running_loop().create_task(self._run_batch(batch))
                self._batches.add(task)
                task.add_done_callback(self._batch_done)
            if self._closed and not self._pending and not self._admitting:
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
        max_size, budget = self.settings.max_batch_size, self.settings.max_batch_tokens
        if len(live) <= max_size and max((e.n_tokens for e in live), default=0) * len(live) <= budget:
            chosen, self._pending = live, []
        else:
            anchor = live[0]  # the oldest always goes: no starvation of long texts
            chosen, width = [anchor], anchor.n_tokens
            for entry in sorted(live[1:], key=lambda e: (abs(e.n_tokens - anchor.n_tokens), e.seq)):
                if len(chosen) == max_size:
                    break
                new_width = max(width, entry.n_tokens)
                if new_width * (len(chosen) + 1) <= budget:
                    chosen.append(entry)
                    width = new_width
            taken = {id(e) for e in chosen}
            self._pending = [e for e in live if id(e) not in taken]
        self.metrics.queue_depth.set(len(self._pending))
        return chosen

    async def _run_batch(self, batch: list[Entry]) -> None:
        served = self.current
        start = time.perf_counter()
        for entry in batch:
            self.metrics.queue_wait.observe(start - entry.enqueued)
        encodings = [e.encoding if e.served is served else None for e in batch]
        texts, options = [e.text for e in batch], [e.options for e in batch]
        try:
            results = await self._forward_then_postprocess(served, texts, encodings, options)
        except Exception:
            log.exception("batch of %d failed", len(batch))
            results = [InferenceFailed("inference failed")] * len(batch)
        elapsed = time.perf_counter() - start
        self.estimator.observe(elapsed)
        self.metrics.inference.observe(elapsed)
        self.metrics.batch_size.observe(len(batch))
        self.metrics.batch_tokens.observe(max(e.n_tokens for e in batch) * len(batch))
        for entry, result in zip(batch, results):
            if entry.future.done():
                continue
            if isinstance(result, Exception):
                if not isinstance(result, InferenceFailed):
                    log.error("post-processing failed for one request", exc_info=result)
                    result = InferenceFailed(f"post-processing failed ({type(result).__name__})")
                entry.future.set_exception(result)
            else:
                entry.future.set_result(Result(result, start - entry.enqueued, entry.tokenize_s + elapsed, len(batch)))

    def _forward_then_postprocess(self, served: Served, texts: list[str],
                                  encodings: list[Encoding | None], options: list[RequestOptions]) -> asyncio.Future:
        """The forward pass on the inference thread, which hands its output straight to the
        post-processing thread: the event loop hears only of the end (and of the free worker,
        so the next batch can start while this one is post-processed)."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def settle(results: list | None, error: BaseException | None) -> None:
            if done.done():
                return
            if error is not None:
                done.set_exception(error)
            else:
                done.set_result(results)

        def postprocess(forwarded: tuple) -> None:
            try:
                results = served.postprocess(texts, forwarded, options)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting batch task
                loop.call_soon_threadsafe(settle, None, exc)
            else:
                loop.call_soon_threadsafe(settle, results, None)

        def forward() -> None:
            try:
                forwarded = served.forward(texts, encodings)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting batch task
                loop.call_soon_threadsafe(settle, None, exc)
                return
            finally:
                loop.call_soon_threadsafe(self._slots.release)
            self._post_pool.submit(postprocess, forwarded)

        self._infer_pool.submit(forward)
        return done

    def _batch_done(self, task: asyncio.Task) -> None:
        self._batches.discard(task)  # its worker slot was released when its forward pass ended
        if not task.cancelled() and task.exception() is not None:  # _run_batch catches; a bug if reached
            log.error("batch task failed", exc_info=task.exception())

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
        self.metrics.queue_depth.set(0)


class DirectRunner:
    """Naive baseline (``--naive``): each request is one onnxruntime call in a worker thread."""

    def __init__(self, served: Served, settings: Settings, metrics: Metrics):
        self.current = served
        self.settings = settings
        self.metrics = metrics
        self.estimator = WaitEstimator(1, settings.inference_workers)
        self._in_flight = 0
        self._pool = ThreadPoolExecutor(settings.inference_workers, thread_name_prefix="intentd-naive")
        self._closed = False

    def start(self) -> None:
        pass

    def swap(self, served: Served) -> None:
        self.current = served

    async def submit(self, text: str, options: RequestOptions, remaining_s: float | None) -> Result:
        if self._closed:
            raise Draining("server is shutting down")
        if self._in_flight >= self.settings.max_queue:
            self.metrics.shed.inc()
            raise Overloaded(f"queue full ({self.settings.max_queue} requests waiting); retry with backoff")
        self.estimator.check(remaining_s, self._in_flight)
        self._in_flight += 1
        try:
            start = time.perf_counter()
            result = await asyncio.get_running_loop().run_in_executor(
                self._pool, self.current.run, [text], [None], [options])
            elapsed = time.perf_counter() - start
        finally:
            self._in_flight -= 1
        self.estimator.observe(elapsed)
        self.metrics.inference.observe(elapsed)
        self.metrics.batch_size.observe(1)
        if isinstance(result[0], Exception):
            log.error("request failed", exc_info=result[0])
            raise InferenceFailed(f"inference failed ({type(result[0]).__name__})")
        return Result(result[0], 0.0, elapsed, 1)

    async def close(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=True)


def make_runner(served: Served, settings: Settings, metrics: Metrics) -> Runner:
    return DirectRunner(served, settings, metrics) if settings.naive else Batcher(served, settings, metrics)
