"""The IntentService servicer. Handlers are a few lines: admit -> cache or runner -> convert.

Cross-cutting work lives in one place, `_call`: drain accounting, the request id (from
`x-request-id` metadata, else generated; returned in the trailing metadata), the one error ->
status table, per-RPC metrics and the opt-in JSON access log. A ServiceError becomes its status
code; anything else is logged with its traceback and answered INTERNAL: the server never dies
on a request.

Requests are parsed by `lenient_handler`, which turns an unparseable message (e.g. a `text`
that is not UTF-8) into INVALID_ARGUMENT instead of grpc's UNKNOWN. Admin RPCs (ReloadModel) are
served by a second server on the admin socket (`admin=True`); the data listener refuses them
with PERMISSION_DENIED unless the caller presents an allowed mTLS client certificate.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass
from typing import Awaitable, Callable

import grpc
from google.protobuf.message import DecodeError

from intentd.protogen import import_stubs

from . import convert, nbest
from .admission import MAX_CONTEXT_CHARS, admit
from .batcher import Result, Runner
from .cache import AnalysisCache
from .capture import ReviewCapture
from .config import Settings
from .errors import (DeadlineUnmeetable, Draining, InferenceFailed, InvalidRequest, Overloaded, OverServerLimit,
                     ReloadBusy, ReloadRefused, ServiceError, Stalled)
from .metrics import Metrics
from .redact import redact
from .stream import VoiceStream
from .transit import DeadlineClock, TransitClock, on_unix_socket

pb2, pb2_grpc = import_stubs()
log = logging.getLogger(__name__)
access_log = logging.getLogger("intentd.access")


def open_access_log() -> None:
    """Request records are data for a log shipper, not diagnostics: bare JSON lines on stderr
    whatever --log-level is (at `warning` every record was dropped) and without the diagnostic
    lines' `LEVEL name:` prefix, which no JSON-lines reader parses. Each record names its process,
    as --workers N share one stderr."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    access_log.handlers[:] = [handler]
    access_log.setLevel(logging.INFO)
    access_log.propagate = False
SERVICE = pb2.DESCRIPTOR.services_by_name["IntentService"]
ANALYZE_REQUEST = pb2.AnalyzeRequest
REQUEST_ID_KEY = "x-request-id"
MAX_REQUEST_ID_CHARS = 128
STREAM_CANCEL_GRACE_S = 0.025  # how long a stream whose input ended waits for grpc's cancel, if any
DEADLINE_SLACK_S = 0.05  # a cancel this close to the deadline is the deadline passing

STATUS_CODES: dict[type[ServiceError], grpc.StatusCode] = {
    InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    Overloaded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    OverServerLimit: grpc.StatusCode.FAILED_PRECONDITION,
    DeadlineUnmeetable: grpc.StatusCode.DEADLINE_EXCEEDED,
    Draining: grpc.StatusCode.UNAVAILABLE,
    Stalled: grpc.StatusCode.UNAVAILABLE,
    ReloadBusy: grpc.StatusCode.FAILED_PRECONDITION,
    ReloadRefused: grpc.StatusCode.PERMISSION_DENIED,
    InferenceFailed: grpc.StatusCode.INTERNAL,
}

ReloadFn = Callable[[str], Awaitable[dict]]
STREAMING_RPCS = frozenset({"AnalyzeStream"})
# what a call refused by a draining server asks its caller to wait before retrying: past the drain's
# quiet period, when grpc's GOAWAY has sent the connection's next calls to a new one
RETRY_PUSHBACK_MS = 300


class Drain:
    """In-flight RPC accounting for a graceful stop.

    grpc.aio's own stop() CANCELs calls the transport received but the server loop had not yet
    picked up; so the server first refuses new work itself (UNAVAILABLE, retryable, with a
    `grpc-retry-pushback-ms` that asks the caller to wait until the connection is gone) and
    waits until no unary call is in flight and none was accepted for a quiet period, then stops
    grpc, whose GOAWAY sends the callers' retries to a new connection (another instance). Open
    streams do not hold that stop back: grpc lets them finish within the grace period, each
    ended at its next utterance; held back by a stream, every retry of a caller on that
    connection was refused for the whole grace period. Refused calls do not restart the quiet
    period: a client retrying in a loop cannot hold the drain open.
    """

    def __init__(self) -> None:
        self.draining = False
        self.started = asyncio.Event()  # set when the drain begins: open streams end at their next utterance
        self.in_flight = 0
        self._unary = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._arrival = asyncio.Event()

    def enter(self, rpc: str) -> None:
        if self.draining:
            if rpc != "GetModelInfo":
                raise Draining("server is draining; retry on another instance")
        else:  # a GetModelInfo poller must not hold the drain open either (it held it for the whole grace period)
            self._arrival.set()
        self.in_flight += 1
        if rpc not in STREAMING_RPCS:
            self._unary += 1
            self._idle.clear()

    def leave(self, rpc: str) -> None:
        self.in_flight -= 1
        if rpc not in STREAMING_RPCS:
            self._unary -= 1
            if self._unary == 0:
                self._idle.set()

    async def wait_quiet(self, quiet_s: float) -> None:
        self.draining = True
        self.started.set()
        while True:
            await self._idle.wait()
            self._arrival.clear()
            try:
                await asyncio.wait_for(self._arrival.wait(), quiet_s)
            except TimeoutError:
                return


@dataclass(frozen=True, slots=True)
class Undecodable:
    """What a request that cannot be parsed becomes, so its handler can answer INVALID_ARGUMENT."""

    message_type: str
    reason: str


def status_of(exc: Exception) -> tuple[grpc.StatusCode, str]:
    for cls, code in STATUS_CODES.items():
        if isinstance(exc, cls):
            return code, str(exc)
    log.error("unexpected error in a handler", exc_info=exc)
    return grpc.StatusCode.INTERNAL, "internal error (logged on the server)"


def request_id_of(context) -> str:
    """The caller's `x-request-id` when it names something (not blank, printable), else a new one.
    ASCII only: it is echoed in the trailers, where grpc refuses anything else (the answered call
    became INTERNAL "Invalid metadata" for its caller)."""
    for key, value in context.invocation_metadata() or ():
        if (key == REQUEST_ID_KEY and isinstance(value, str) and value.strip() and value.isascii()
                and value.isprintable()):
            return value[:MAX_REQUEST_ID_CHARS]
    return uuid.uuid4().hex


def _gone(context) -> grpc.StatusCode:
    """Why grpc cancelled a handler: the caller's deadline passed, or the caller cancelled. A
    caller's own cancel at its deadline can arrive just before the server's copy of that deadline
    (started when the headers arrived) has passed: that is an expired call too."""
    remaining = context.time_remaining()
    expired = remaining is not None and remaining <= DEADLINE_SLACK_S
    return grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED


@contextlib.asynccontextmanager
async def _call(servicer: "IntentServicer", rpc: str, context):
    """One RPC's bookkeeping, for unary and streaming handlers alike."""
    start, code, entered = time.perf_counter(), grpc.StatusCode.OK, False
    request_id = request_id_of(context)
    context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
    trace = {"request_id": request_id}
    # counted when grpc has finished the call (only then does it know whether the caller left),
    # registered now, so that it is called however the handler ends
    outcome = _Outcome(start)
    context.add_done_callback(functools.partial(_record, servicer, rpc, outcome, trace))
    try:
        message = ""
        try:
            servicer.drain.enter(rpc)
            entered = True
            yield trace
        except Exception as exc:  # noqa: BLE001 - mapped to a status code, never raised to grpc
            code, message = status_of(exc)
            # what the caller was told ("locale: ... is not supported"): never its text, and the values it
            # names redacted as the session id is
            trace["error"] = _quoted_redacted(message) if servicer.settings.capture_redact_digits else message
        if (remaining := context.time_remaining()) is not None and remaining <= 0:
            # grpc ends the call with DEADLINE_EXCEEDED itself; an answer or status sent now may
            # meet the call already closed in its core, which grpc logs as an error traceback
            code = grpc.StatusCode.DEADLINE_EXCEEDED
            raise asyncio.CancelledError
        if not entered and code is grpc.StatusCode.UNAVAILABLE and servicer.drain.draining:
            context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),
                                           ("grpc-retry-pushback-ms", str(RETRY_PUSHBACK_MS))))
        if code is not grpc.StatusCode.OK:
            await context.abort(code, message)
    except asyncio.CancelledError:
        code = _gone(context) if code is grpc.StatusCode.OK else code
        raise
    finally:
        if entered:
            servicer.drain.leave(rpc)
        outcome.code, outcome.elapsed = code, time.perf_counter() - start


_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


def _quoted_redacted(message: str) -> str:
    """A refusal's message with the caller's values in it redacted: they are quoted ("time_zone:
    '+1 415 555 0100' is not ..."); the server's own numbers are not ("text: 50000 characters is
    over the limit of 2000" read "00000 ... 0000", the limit an operator needed lost)."""
    return _QUOTED.sub(lambda m: redact(m.group(0), [])[0], message)


@dataclass(slots=True)
class _Outcome:
    """How a handler ended; unset while it has not."""

    start: float
    code: grpc.StatusCode | None = None
    elapsed: float | None = None


def _record(servicer: "IntentServicer", rpc: str, outcome: _Outcome, trace: dict, context) -> None:
    code = outcome.code  # None: the call ended before its handler did, the caller gone
    if code is None or (code is grpc.StatusCode.OK and context.cancelled()):
        code = _gone(context)
    elapsed = outcome.elapsed if outcome.elapsed is not None else time.perf_counter() - outcome.start
    servicer.metrics.rpc_latency.labels(rpc, code.name).observe(elapsed)
    servicer.metrics.rpc_total.labels(rpc, code.name).inc()
    if servicer.settings.access_log:
        # ASCII: a caller's session id holding U+2028, U+0085 or a bidi override forged a line
        # in viewers that break lines there; escaped, each record stays one line whatever it holds
        access_log.info(json.dumps({"rpc": rpc, "code": code.name, "ms": round(elapsed * 1e3, 3), **trace,
                                    "pid": os.getpid()}))


def unary(rpc: str):
    def decorate(method):
        @functools.wraps(method)
        async def handler(self: "IntentServicer", request, context):
            async with _call(self, rpc, context) as trace:
                return await method(self, request, context, trace)
        return handler
    return decorate


def streaming(rpc: str):
    def decorate(method):
        @functools.wraps(method)
        async def handler(self: "IntentServicer", request_iterator, context):
            async with _call(self, rpc, context) as trace:
                # closed here, not whenever it is collected: its cleanup (a stream's tasks) runs now
                async with contextlib.aclosing(method(self, request_iterator, context, trace)) as answers:
                    async for answer in answers:
                        await _write(context, answer)
        return handler
    return decorate


async def _write(context, answer) -> None:
    """Send one answer of a stream. A call that ended under the write (the caller reset the stream
    while the answer waited for its flow-control window: a phone hanging up) has lost its caller,
    as when grpc cancels the handler; a handler that yielded its answers for grpc to write had grpc
    log that failed write as an ERROR traceback."""
    try:
        await context.write(answer)
    except grpc.aio.InternalError:  # grpc's ExecuteBatchError: the call is over in its core
        raise asyncio.CancelledError from None


def parsed(request):
    """The request message, or INVALID_ARGUMENT when it could not be parsed."""
    if isinstance(request, Undecodable):
        raise InvalidRequest(f"request: not a valid {request.message_type} ({request.reason}; "
                             "string fields must be UTF-8)")
    return request


class IntentServicer(pb2_grpc.IntentServiceServicer):
    def __init__(self, runner: Runner, cache: AnalysisCache, settings: Settings, metrics: Metrics,
                 reload: ReloadFn, capture: ReviewCapture | None = None, admin: bool = False):
        self.runner = runner
        self.cache = cache
        self.settings = settings
        self.metrics = metrics
        self.reload = reload
        self.capture = capture
        self.admin = admin  # served on the admin socket: ReloadModel allowed
        self._refusals = _RefusedAdminCalls()
        self.open_streams = 0  # AnalyzeStream calls in progress, against --max-streams
        self.drain = Drain()
        self._slo_s = settings.own_slo_s  # what the server's own clock can judge
        self.transit = TransitClock()  # what the caller's clock adds before it (x-request-start)
        self.deadlines = DeadlineClock()  # the same, from the deadline of a caller that sends no stamp

    async def _answer(self, request, context, trace: dict, to_proto, admitted=None, capture: bool = True):
        """The shared path: validate, try the cache, else queue for a batch; then convert.
        `admitted`: (text, options) of a request a stream has already validated; `capture`: offer
        the answer to the review file (a stream's partial transcripts are not offered)."""
        start = time.perf_counter()
        # before the handler, by the caller's stamp or deadline (a stream's tell its start, not this message's)
        waited = 0.0
        if admitted is None:
            request = parsed(request)
            self._trace_session(trace, request.context.session_id if request.HasField("context") else "")
            text, options = admit(request, max_chars=self.settings.max_text_chars,
                                  default_top_k=self.settings.default_top_k, max_top_k=self.settings.max_top_k)
            if (measured := self._waited_s(context, to_proto.__name__)) is not None:  # one converter a method
                waited = measured
        else:
            text, options = admitted
            self._trace_session(trace, options.session_id)
        engine = self.runner.current
        if type(request) is ANALYZE_REQUEST and request.alternatives:
            result = await self._nbest(request, text, options, context, engine, capture, waited)
        else:
            result, = await self._cached_or_computed([text], options, engine, context.time_remaining(), waited)
            if self.capture is not None and capture and self.cache.first_offer(text, options, engine):
                self.capture.offer(text, result.analysis, options.session_id)
        self.metrics.count_answer(result.analysis)
        total_s = time.perf_counter() - start
        self.metrics.observe_latency(total_s, self._slo_s)
        if self.settings.access_log:
            follow_up = result.analysis.follow_up  # the intent answered: a follow-up's is the previous one
            continued = follow_up.intent if follow_up is not None else ""  # empty: a repeat of nothing
            trace["intent"] = continued or result.analysis.prediction.intent
            trace["escalation"] = result.analysis.escalation.reason
        # the threshold of the model that computed the answer: a reload may come between admission and its batch
        return to_proto(result.analysis, convert.timing(result, total_s, waited), result.analysis.ood_threshold)

    def _trace_session(self, trace: dict, session_id: str) -> None:
        """The access log's session id, also for a request refused as invalid (an SRE follows one
        session's failures); redacted as the review file redacts it (it may be a phone number or
        an address), and only one within the bound admission holds it to."""
        if session_id and len(session_id) <= MAX_CONTEXT_CHARS:
            trace["session_id"] = (redact(session_id, [])[0] if self.settings.capture_redact_digits else session_id)

    def _waited_s(self, context, rpc: str) -> float | None:
        """How long a unary call waited before its handler ran, by its stamp, else its deadline
        (server/transit.py); None when neither tells."""
        if (stamped := self.transit.waited_s(context)) is not None:
            self.metrics.transit.labels("stamp").observe(stamped)
            return stamped
        if not self.settings.deadline_wait or (remaining := context.time_remaining()) is None:
            return None
        if on_unix_socket(context):  # one clock for every socket caller would read their deadlines as waits
            return None
        waited = self.deadlines.waited_s(f"{context.peer()} {rpc}", remaining, self.runner.idle_s())
        if waited is not None:
            self.metrics.transit.labels("deadline").observe(waited)
        return waited

    async def _nbest(self, request, text: str, options, context, engine, capture: bool,
                     waited: float) -> Result:
        """Every transcript of an ASR n-best list, admitted as one request (so the batcher computes
        them together, against one budget), combined by the rule in server/nbest.py."""
        transcripts = nbest.admit(request, text, self.settings.max_text_chars)
        if len(transcripts) > self.settings.max_queue:
            raise OverServerLimit(f"alternatives: {len(transcripts)} transcripts, more than this server admits at once "
                             f"(--max-queue {self.settings.max_queue})")
        for _ in range(2):  # all transcripts on one model: a reload between their batches means once more
            outcomes = await self._cached_or_computed([t.text for t in transcripts],
                                                      nbest.transcript_options(options, engine), engine,
                                                      context.time_remaining(), waited)
            versions = {o.analysis.model_version for o in outcomes}
            if versions == {engine.version}:
                break
            engine = self.runner.current
            if versions == {engine.version}:  # all computed after the swap, by the model now current
                break
        else:
            raise Overloaded("the model was reloaded twice while this request's transcripts were computed; retry")
        combined = nbest.combine(engine, transcripts, [o.analysis for o in outcomes], options)
        used = outcomes[combined.used_alternative]
        used_text = transcripts[combined.used_alternative].text
        if self.capture is not None and capture and self.cache.first_offer(
                used_text, nbest.transcript_options(options, engine), engine):
            self.capture.offer(used_text, combined, options.session_id)
        return dataclasses.replace(used, analysis=combined)

    async def _cached_or_computed(self, texts: list[str], options, engine, remaining_s: float | None,
                                  waited_s: float) -> list[Result]:
        """Each text's answer (one request's, or an n-best's transcripts'), from the cache or
        computed: those not cached are admitted or shed as one request (all or nothing: an answer
        from the transcripts a load let in would change with the load)."""
        results = [self.cache.get(text, options, engine) for text in texts]
        missing = [i for i, cached in enumerate(results) if cached is None]
        results = [None if cached is None else Result(cached, cache_hit=True) for cached in results]
        if missing:
            computed = await self.runner.submit_all([texts[i] for i in missing], options, remaining_s, waited_s)
            for i, result in zip(missing, computed):
                self.cache.put(texts[i], options, result.analysis, engine)
                results[i] = result
        return results

    @unary("Analyze")
    async def Analyze(self, request, context, trace):
        return await self._answer(request, context, trace, convert.analyze_response)

    @unary("DetectIntent")
    async def DetectIntent(self, request, context, trace):
        return await self._answer(request, context, trace, convert.detect_intent_response)

    @unary("ExtractEntities")
    async def ExtractEntities(self, request, context, trace):
        return await self._answer(request, context, trace, convert.extract_entities_response)

    @unary("Respond")
    async def Respond(self, request, context, trace):
        return await self._answer(request, context, trace, convert.respond_response)

    @streaming("AnalyzeStream")
    async def AnalyzeStream(self, request_iterator, context, trace):
        """One answer per message, in order; messages are read while earlier ones are computed, and a
        partial transcript supersedes the one before it (server/stream.py, docs/voice.md)."""
        if self.open_streams >= self.settings.max_streams:
            self.metrics.shed.labels("streams").inc()
            raise Overloaded(f"server busy: {self.settings.max_streams} streams open (--max-streams); "
                             "retry with backoff")
        self._count_streams(+1)
        stream = VoiceStream(self, request_iterator, context, trace, parsed)
        timeout = self.settings.stream_idle_timeout
        handler = asyncio.current_task()
        try:
            async for answer in stream.answers():
                # an answer the caller does not take (it stopped reading: the write waits on flow
                # control) for --stream-idle-timeout ends the call, as its silence would: a caller
                # whose reader died held its --max-streams place until the connection's max age
                stalled = (asyncio.get_running_loop().call_later(timeout, self._stalled, handler)
                           if timeout and handler is not None else None)
                try:
                    yield answer
                finally:
                    if stalled is not None:
                        stalled.cancel()
        finally:
            self._count_streams(-1)
            stream.close()
        # A caller that cancels (or whose deadline passes) mid-stream ends the request iterator as
        # quietly as a half-close does, and grpc.aio's context.cancelled() stays False
        # (grpc/grpc#36193); grpc cancels this task once its event loop handles the cancel, so give
        # it that long before answering OK. 1 ms was too short in a busy process (a cancelled
        # stream counted OK in a full test run), and 10 ms once in a fresh-clone CI run; a
        # half-closed stream's status (not its answers) leaves this much later.
        await asyncio.sleep(STREAM_CANCEL_GRACE_S)

    def _stalled(self, handler: asyncio.Task) -> None:
        self.metrics.streams_idle_ended.inc()
        log.info("AnalyzeStream ended: an answer not taken for %g s (--stream-idle-timeout)",
                 self.settings.stream_idle_timeout)
        handler.cancel()

    def _count_streams(self, change: int) -> None:
        self.open_streams += change
        self.metrics.streams_open.set(self.open_streams)

    @unary("GetModelInfo")
    async def GetModelInfo(self, request, context, trace):
        parsed(request)  # it has no field, but an unparseable one is refused as every method refuses it
        return convert.model_info(self.runner.current, self.settings.max_text_chars)

    @unary("ReloadModel")
    async def ReloadModel(self, request, context, trace):
        if not (self.admin or self._allowed_admin_peer(context)):
            self._refusals.note(context)
            raise ReloadRefused("ReloadModel is not served on this listener (only on the server's --admin-uds socket, "
                                 "or to mTLS clients named by --admin-client-cn)")
        request = parsed(request)
        if not request.artifact_path.strip():
            raise InvalidRequest("artifact_path: required (an artifact directory under the server's model root)")
        reply = await self.reload(request.artifact_path)
        trace["reload"] = "ok" if reply["ok"] else "failed"  # answered OK either way: the access log tells them apart
        return pb2.ReloadModelResponse(**reply)

    def _allowed_admin_peer(self, context) -> bool:
        """An mTLS client whose verified certificate's one common name is in --admin-client-cn.
        gRPC names the first of several ("CN=admin, CN=user" read as admin), where other readers
        (Go's crypto/x509, many CA policy engines) take the last: such a subject is never admin."""
        if not self.settings.admin_client_cn:
            return False
        peer = context.auth_context() or {}
        subjects = peer.get("x509_subject", [])
        if len(subjects) != 1 or _count_common_names(subjects[0].decode("utf-8", "replace")) != 1:
            return False
        names = peer.get("x509_common_name", [])
        allowed = set(self.settings.admin_client_cn)
        subject = subjects[0].decode("utf-8", "replace")
        # the name gRPC gives is cut at a NUL ("admin\0x" read as admin): it must be the subject's whole CN
        return any((name := raw.decode("utf-8", "replace")) in allowed and _whole_common_name(subject, name)
                   for raw in names)


class _RefusedAdminCalls:
    """ReloadModel calls refused on the data listener: an attempt on the admin RPC is said in the
    log (it left no trace without --access-log, and no caller with it), by peer and certificate
    subject, at most once a minute; the calls refused in between are counted in one line at the
    minute's end, with the last of them."""

    EVERY_S = 60.0

    def __init__(self) -> None:
        self._last = float("-inf")
        self._unsaid = 0
        self._latest = ""
        self._flush: asyncio.TimerHandle | None = None

    def note(self, context) -> None:
        subject = b",".join((context.auth_context() or {}).get("x509_subject", [])).decode("utf-8", "replace")
        caller = f"{context.peer()}" + (f", certificate {subject[:200]!r}" if subject else ", no client certificate")
        now = time.monotonic()
        if now - self._last >= self.EVERY_S:
            self._last = now
            log.warning("ReloadModel refused on the data listener: from %s", caller)
            return
        self._unsaid += 1
        self._latest = caller
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(self._last + self.EVERY_S - now, self._say_unsaid)

    def _say_unsaid(self) -> None:
        self._flush = None
        if self._unsaid:
            log.warning("ReloadModel refused on the data listener: %d more call(s) in the last minute, the last "
                        "from %s", self._unsaid, self._latest)
            self._last, self._unsaid = time.monotonic(), 0


def _whole_common_name(subject: str, name: str) -> bool:
    """Whether the RFC 2253 `subject` has `name` as the whole value of a CN attribute (not its
    start: "CN=admin\\00x"), attributes split only at separators no backslash escapes (an O of
    "x\\,CN=admin" holds no CN), and the value read past its escapes (gRPC writes "opé" as
    "op\\C3\\A9" and "ops+x" as "ops\\+x": such an admin name never matched)."""
    return any(kind == "CN" and _unescaped(value) == name for kind, value in _attributes(subject))


_ESCAPE = re.compile(r"\\(?:([0-9A-Fa-f]{2})|(.))", re.DOTALL)


def _unescaped(value: str) -> str | None:
    """An RFC 2253 attribute value as its text: "\\," -> ",", "\\C3\\A9" -> "é" (hex pairs are
    UTF-8 bytes); None when they are not UTF-8 (no name matches it)."""
    raw = bytearray()
    at = 0
    for m in _ESCAPE.finditer(value):
        raw += value[at:m.start()].encode("utf-8")
        raw += bytes.fromhex(m.group(1)) if m.group(1) else m.group(2).encode("utf-8")
        at = m.end()
    raw += value[at:].encode("utf-8")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _count_common_names(subject: str) -> int:
    """CN attributes in an RFC 2253 subject ("CN=user,CN=admin", "O=x+CN=y"), escapes read past."""
    return sum(1 for kind, _ in _attributes(subject) if kind == "CN")


def _attributes(subject: str) -> list[tuple[str, str]]:
    """(type, value as written, escapes kept) of each attribute of an RFC 2253 subject: split at a
    "," or "+" no backslash escapes, spaces after the separator dropped."""
    out, start, escaped = [], 0, False
    for i, ch in enumerate(subject + ","):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",+":  # (the "," added at the end closes the last)
            kind, _, value = subject[start:i].lstrip().partition("=")
            out.append((kind, value))
            start = i + 1
    return out


def lenient_handler(servicer: IntentServicer, methods: tuple[str, ...] | None = None) -> grpc.GenericRpcHandler:
    """IntentService's method handlers with deserializers that never raise: an unparseable
    request reaches its handler as `Undecodable` and is answered INVALID_ARGUMENT.
    `methods` limits what is served (the rest is UNIMPLEMENTED)."""
    handlers = {}
    for method in SERVICE.methods:
        if methods is not None and method.name not in methods:
            continue
        request_cls = getattr(pb2, method.input_type.name)
        response_cls = getattr(pb2, method.output_type.name)
        kind = grpc.stream_stream_rpc_method_handler if method.client_streaming else grpc.unary_unary_rpc_method_handler
        handlers[method.name] = kind(getattr(servicer, method.name),
                                     request_deserializer=_lenient(request_cls),
                                     response_serializer=response_cls.SerializeToString)
    return grpc.method_handlers_generic_handler(SERVICE.full_name, handlers)


def _lenient(cls):
    def parse(data: bytes):
        try:
            return cls.FromString(data)
        except DecodeError as exc:
            return Undecodable(cls.DESCRIPTOR.name, str(exc) or "malformed message")
    return parse
