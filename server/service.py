"""The IntentService servicer. Handlers are a few lines: admit -> cache or runner -> convert.

Error mapping and per-RPC metrics live in the `unary` / `streaming` decorators, so every handler
answers the same way: a ServiceError becomes its status code (the one table below), anything else
is logged with its traceback and answered INTERNAL - the server never dies on a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from typing import Awaitable, Callable

import grpc

from intentd.protogen import import_stubs

from . import convert
from .admission import DeadlineUnmeetable, Draining, InvalidRequest, Overloaded, ReloadBusy, ServiceError, admit
from .batcher import InferenceFailed, Result, Runner
from .cache import AnalysisCache
from .capture import ReviewCapture
from .config import Settings
from .metrics import Metrics

pb2, pb2_grpc = import_stubs()
log = logging.getLogger(__name__)

STATUS_CODES: dict[type[ServiceError], grpc.StatusCode] = {
    InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    Overloaded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    DeadlineUnmeetable: grpc.StatusCode.DEADLINE_EXCEEDED,
    Draining: grpc.StatusCode.UNAVAILABLE,
    ReloadBusy: grpc.StatusCode.FAILED_PRECONDITION,
    InferenceFailed: grpc.StatusCode.INTERNAL,
}

ReloadFn = Callable[[str], Awaitable[dict]]


class Drain:
    """In-flight RPC accounting for a graceful stop.

    grpc.aio's own stop() CANCELs calls the transport received but the server loop had not yet
    picked up; so the server first refuses new work itself (UNAVAILABLE, retryable) and waits
    until nothing is in flight and no call arrived for a quiet period, then stops grpc.
    """

    def __init__(self) -> None:
        self.draining = False
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._arrival = asyncio.Event()

    def enter(self, rpc: str) -> None:
        self._arrival.set()
        if self.draining and rpc != "GetModelInfo":
            raise Draining("server is draining; retry on another instance")
        self.in_flight += 1
        self._idle.clear()

    def leave(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()

    async def wait_quiet(self, quiet_s: float) -> None:
        self.draining = True
        while True:
            await self._idle.wait()
            self._arrival.clear()
            try:
                await asyncio.wait_for(self._arrival.wait(), quiet_s)
            except TimeoutError:
                return


def status_of(exc: Exception) -> tuple[grpc.StatusCode, str]:
    for cls, code in STATUS_CODES.items():
        if isinstance(exc, cls):
            return code, str(exc)
    log.error("unexpected error in a handler", exc_info=exc)
    return grpc.StatusCode.INTERNAL, "internal error (logged on the server)"


@contextlib.asynccontextmanager
async def _call(servicer: "IntentServicer", rpc: str, context):
    """One RPC's bookkeeping, for unary and streaming handlers alike: drain accounting, the one
    error -> status mapping, and the latency / status-code metrics."""
    start, code, entered = time.perf_counter(), grpc.StatusCode.OK, False
    try:
        try:
            servicer.drain.enter(rpc)
            entered = True
            yield
            return
        except Exception as exc:  # noqa: BLE001 - mapped to a status code, never raised to grpc
            code, message = status_of(exc)
        await context.abort(code, message)
    except asyncio.CancelledError:
        code = grpc.StatusCode.CANCELLED if code is grpc.StatusCode.OK else code
        raise
    finally:
        if entered:
            servicer.drain.leave()
        servicer.metrics.rpc_latency.labels(rpc).observe(time.perf_counter() - start)
        servicer.metrics.rpc_total.labels(rpc, code.name).inc()


def unary(rpc: str):
    def decorate(method):
        @functools.wraps(method)
        async def handler(self: "IntentServicer", request, context):
            async with _call(self, rpc, context):
                return await method(self, request, context)
        return handler
    return decorate


def streaming(rpc: str):
    def decorate(method):
        @functools.wraps(method)
        async def handler(self: "IntentServicer", request_iterator, context):
            async with _call(self, rpc, context):
                async for answer in method(self, request_iterator, context):
                    yield answer
        return handler
    return decorate


class IntentServicer(pb2_grpc.IntentServiceServicer):
    def __init__(self, runner: Runner, cache: AnalysisCache, settings: Settings, metrics: Metrics,
                 reload: ReloadFn, capture: ReviewCapture | None = None):
        self.runner = runner
        self.cache = cache
        self.settings = settings
        self.metrics = metrics
        self.reload = reload
        self.capture = capture
        self.drain = Drain()

    async def _answer(self, request, context, to_proto):
        """The shared path: validate, try the cache, else queue for a batch; then convert."""
        start = time.perf_counter()
        text, options = admit(request, max_chars=self.settings.max_text_chars,
                              default_top_k=self.settings.default_top_k, max_top_k=self.settings.max_top_k)
        served = self.runner.current
        cached = self.cache.get(text, options, served.version)
        if cached is not None:
            result = Result(cached, cache_hit=True)
        else:
            result = await self.runner.submit(text, options, context.time_remaining())
            self.cache.put(text, options, result.analysis)
            if self.capture is not None and self.capture.offer(text, result.analysis):
                self.metrics.captured.inc()  # cache hits are repeats: captured once, when first computed
        self.metrics.count_answer(result.analysis)
        timing = convert.timing(result, time.perf_counter() - start)
        return to_proto(result.analysis, timing, convert.ood_threshold(served))

    @unary("Analyze")
    async def Analyze(self, request, context):
        return await self._answer(request, context, convert.analyze_response)

    @unary("DetectIntent")
    async def DetectIntent(self, request, context):
        return await self._answer(request, context, convert.detect_intent_response)

    @unary("ExtractEntities")
    async def ExtractEntities(self, request, context):
        return await self._answer(request, context, convert.extract_entities_response)

    @unary("Respond")
    async def Respond(self, request, context):
        return await self._answer(request, context, convert.respond_response)

    @streaming("AnalyzeStream")
    async def AnalyzeStream(self, request_iterator, context):
        """One answer per message, in order: each message is answered before the next is read."""
        count = 0
        async for request in request_iterator:
            count += 1
            if count > self.settings.max_stream_messages:
                raise InvalidRequest(f"stream: more than {self.settings.max_stream_messages} messages")
            yield await self._answer(request, context, convert.analyze_response)

    @unary("GetModelInfo")
    async def GetModelInfo(self, request, context):
        return convert.model_info(self.runner.current, self.settings.max_text_chars)

    @unary("ReloadModel")
    async def ReloadModel(self, request, context):
        if not request.artifact_path.strip():
            raise InvalidRequest("artifact_path: required (the artifact directory on the server)")
        return pb2.ReloadModelResponse(**await self.reload(request.artifact_path))
