"""AnalyzeStream for voice: partial transcripts, supersession, ordered answers and `stable`.

One stream is a reader task and the answer pipeline (the handler's generator), joined by a
bounded queue of messages in arrival order (contract: docs/voice.md):
- The reader reads the next message while earlier ones are being computed. It validates the
  message (a bad one is queued as its failure, and reading stops), supersedes the partial before
  it, starts its computation (the service's `_answer`, the same path as a unary call) and queues
  it. A stream holds at most WINDOW messages read and not yet answered: with that many, the
  reader waits for the pipeline (and HTTP/2 flow control then holds the client).
- The pipeline answers the queued messages in order: it waits for each one's computation and
  sends its answer, or raises its failure (the stream ends with that status code after the
  answers before it).

Supersession: a message (partial or final) supersedes the partial before it when that partial's
answer has not gone out yet. A superseded partial that has not started (its computation not yet
running, or its requests still waiting in the batcher's queue) is withdrawn: its requests are
cancelled, so the batcher skips them and it is never computed; it is answered `superseded` with
no analysis. One already being tokenised or computed is answered in full, marked `stale`. A final
(or a message without `is_final`) is never superseded; the next partial starts a new utterance.

Drain (SIGTERM): a stream finishes the utterance it is in (its partials and its final are
answered), then ends with UNAVAILABLE "draining", at once when it is between utterances: the
caller reconnects to another instance at an utterance boundary. Only an utterance still open
when the grace period runs out is cut (the server stops then, whatever is open).

Silence: a stream that sends no message for `--stream-idle-timeout` once every answer has gone
out ends with DEADLINE_EXCEEDED (StreamIdle), as its own deadline would end it: one that never
sent a message held its `--max-streams` place for good. A message still being computed keeps it
open, however long that takes; an answer the caller does not take for as long ends the call
(service.py: the write waits on flow control, so the idle timer never starts).

Load: a partial that is shed (RESOURCE_EXHAUSTED) or cannot meet its deadline is answered
`superseded` too, and the stream goes on (the next partial or the final covers the utterance); a
final that is shed ends the stream with its status, as a unary call would fail.

`stable`: the top intent (a follow-up's kind and intent) and the slots (entity type and canonical
value) have been the same over the last `stream_stable_n` answered partials of the utterance, this
answer included, each a follow-up or with top confidence >= `stream_stable_confidence` and not out
of distribution. A CONFIRM or CANCEL is never stable: "no wait, make it sixty" is a CANCEL for its
first words, and a backend acting early would cancel what the caller was correcting. Nor is a
reply intent of the domain (its follow_ups: affirm, deny, hold, repeat) read with no turn before
it to answer: "yes", "no no no" and "hold on" were `stable` then.
Superseded partials (no analysis) neither count nor break the run; a final answer is judged with
the partials before it, then the run starts again.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, AsyncIterator, Callable

from intentd.protogen import import_stubs

from . import convert
from .admission import admit
from .analysis import Analysis
from .errors import DeadlineUnmeetable, Draining, InvalidRequest, Overloaded
from .respond import canonical

if TYPE_CHECKING:
    from .service import IntentServicer

pb2, _ = import_stubs()
WINDOW = 16  # messages read ahead of the answer being sent
_END = object()
DRAINING = "server is draining; reconnect to another instance for the next utterance"


class StreamIdle(DeadlineUnmeetable):
    """The caller sent nothing for --stream-idle-timeout once every answer had gone out."""


@dataclass(eq=False, slots=True)
class Message:
    """One stream message on its way through the server."""

    sequence: int
    final: bool
    number: int = 0  # its place in the call (1, 2, ...): what an error names, whatever `sequence` says
    task: asyncio.Task | None = None
    running: bool = False  # its computation has begun (its task has run)
    stale: bool = False  # superseded: a later message arrived before its answer went out
    withdrawn: bool = False  # superseded before it started: cancelled, never computed
    answered: bool = False


@dataclass(slots=True)
class Failed:
    """A message that could not be admitted: the stream ends with its status, in order."""

    error: Exception


@dataclass(slots=True)
class Stability:
    """The `stable` signal of one stream (see the module docstring)."""

    n: int
    confidence: float
    run: deque = field(default_factory=deque)

    def observe(self, analysis: Analysis, final: bool, replies: frozenset[str] = frozenset()) -> bool:
        """`replies`: the domain's reply intents (a yes, a no, a pause), never stable on their own."""
        p, follow_up = analysis.prediction, analysis.follow_up
        # a follow-up was judged by the follow-up rule: its own reading of a few words ("to
        # savings", unsure on its own) is not what it answers; a decision waits for the final
        if follow_up is not None:
            qualifies = follow_up.kind == "update"
        else:
            qualifies = p.confidence >= self.confidence and not p.is_ood and p.intent not in replies
        said = follow_up if follow_up is not None else p.intent  # an UPDATE, a CONFIRM and a CANCEL of one intent differ
        slots = tuple(sorted((e.type, canonical(e.resolution)) for e in analysis.entities
                             if e.resolved and e.resolution))
        self.run.append((said, slots) if qualifies else None)
        while len(self.run) > self.n:
            self.run.popleft()
        stable = len(self.run) == self.n and self.run[0] is not None and self.run.count(self.run[0]) == self.n
        if final:
            self.run.clear()
        return stable


def waiting_in_queue(runner, message: Message) -> bool:
    """Whether one of `message`'s requests still waits in the batcher's queue (not yet in a batch)."""
    return runner.waiting(message)


class VoiceStream:
    """One AnalyzeStream call."""

    def __init__(self, servicer: "IntentServicer", requests, context, trace: dict, parse: Callable):
        """`parse`: the message, or InvalidRequest when it could not be decoded (service.parsed)."""
        self.servicer = servicer
        self.parse = parse
        self.settings = servicer.settings
        self.requests = requests
        self.context = context
        self.trace = trace
        self.queue: asyncio.Queue = asyncio.Queue()  # bounded by `slots`
        self.slots = asyncio.Semaphore(WINDOW)
        self.partial: Message | None = None  # the latest partial, until something supersedes it
        self.stability = Stability(self.settings.stream_stable_n, self.settings.stream_stable_confidence)
        self.tasks: set[asyncio.Task] = set()
        self.reader: asyncio.Task | None = None

    async def answers(self) -> AsyncIterator:
        """One answer per message, in order."""
        self.reader = asyncio.get_running_loop().create_task(self._read(), name="intentd-stream-reader")
        while True:
            message = await self.queue.get()
            if message is _END:
                return
            if isinstance(message, Failed):
                raise message.error
            await asyncio.wait((message.task,))  # never raises the task's own error or cancellation
            reply = self._reply(message)
            message.answered = True
            if self.partial is message:
                self.partial = None
            self.slots.release()
            yield reply
            self.queue.task_done()  # answered and sent: with none left, the caller's silence is timed

    def close(self) -> None:
        """Cancel the reader and every computation not yet answered (the caller left or failed)."""
        if self.reader is not None:
            self.reader.cancel()
        for task in self.tasks:
            task.cancel()

    # -- the reader ------------------------------------------------------------------------------

    async def _read(self) -> None:
        s = self.settings
        count = 0
        in_utterance = False  # a partial was read and its utterance's final not yet
        requests = aiter(self.requests)
        try:
            while True:
                await self.slots.acquire()  # a message answered makes room for the next
                try:
                    request = await self._next(requests, in_utterance)
                except StopAsyncIteration:
                    break
                count += 1
                if count > s.max_stream_messages:
                    raise _in_message(InvalidRequest(
                        f"stream: more than {s.max_stream_messages} messages (--max-stream-messages): open a new "
                        "stream for the next utterance"), count)
                try:
                    request = self.parse(request)
                    text, options = admit(request, max_chars=s.max_text_chars, default_top_k=s.default_top_k,
                                          max_top_k=s.max_top_k)
                except InvalidRequest as exc:
                    raise _in_message(exc, count) from None
                final = request.is_final if request.HasField("is_final") else True
                message = Message(request.sequence or count, final, count)
                self._supersede()
                message.task = asyncio.get_running_loop().create_task(
                    self._compute(message, request, text, replace(options, owner=message, partial=not final)))
                self.tasks.add(message.task)
                message.task.add_done_callback(self.tasks.discard)
                message.task.add_done_callback(_retrieved)
                if not final:
                    self.partial = message
                in_utterance = not final
                self.queue.put_nowait(message)
        except Exception as exc:  # noqa: BLE001 - answered in order: the stream ends with its status
            self.queue.put_nowait(Failed(exc))
            return
        except BaseException:  # cancelled (by close(), or under a call that went away): end the pipeline too
            self.queue.put_nowait(Failed(asyncio.CancelledError()))
            raise
        self.queue.put_nowait(_END)

    async def _next(self, requests, in_utterance: bool):
        """The next message, or the error that ends the stream instead: Draining when the server
        drains and no utterance is open (the one in progress is finished first), StreamIdle when
        the caller sends nothing for --stream-idle-timeout once every answer has gone out."""
        stops = []
        if not in_utterance:
            if self.servicer.drain.draining:
                raise Draining(DRAINING)
            stops.append(self._drained())
        if self.settings.stream_idle_timeout:
            stops.append(self._silence())
        reading = asyncio.ensure_future(anext(requests))
        waits = [reading, *map(asyncio.ensure_future, stops)]
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:  # the stream is closing, or one came: nothing will read the others
                waiting.cancel()
        if reading in done:
            return reading.result()
        error = done.pop().result()
        if isinstance(error, StreamIdle):
            self.servicer.metrics.streams_idle_ended.inc()
        raise error

    async def _drained(self) -> Draining:
        await self.servicer.drain.started.wait()
        return Draining(DRAINING)

    async def _silence(self) -> StreamIdle:
        """Once every message read has been answered and sent (none can come in meanwhile: the
        reader is waiting for the next), --stream-idle-timeout more."""
        await self.queue.join()
        timeout = self.settings.stream_idle_timeout
        await asyncio.sleep(timeout)
        return StreamIdle(f"stream idle: no message for {timeout:g} s once every answer had gone out "
                          "(--stream-idle-timeout); open a new stream for the next utterance")

    def _supersede(self) -> None:
        previous, self.partial = self.partial, None
        if previous is None or previous.answered:
            return
        previous.stale = True
        if not previous.running or waiting_in_queue(self.servicer.runner, previous):
            previous.withdrawn = True
            previous.task.cancel()  # cancels its queued requests at once: the batcher skips them
            self.servicer.metrics.stream_superseded.labels("withdrawn").inc()
        # one already started is counted by `_reply`, as it is answered: stale, or shed if it failed

    async def _compute(self, message: Message, request, text: str, options) -> tuple[Analysis, object]:
        message.running = True
        return await self.servicer._answer(request, self.context, self.trace, _with_analysis,
                                           admitted=(text, options), capture=message.final)

    # -- the pipeline ----------------------------------------------------------------------------

    def _reply(self, message: Message):
        task = message.task
        if task.cancelled():
            if message.withdrawn:
                return _superseded(message)
            raise asyncio.CancelledError()  # cancelled by close(): the stream is going away
        error = task.exception()
        if error is not None:
            if isinstance(error, (Overloaded, DeadlineUnmeetable)) and (message.stale or not message.final):
                # a partial shed or out of time: the next message of the utterance covers it, so
                # the call goes on (a shed final still ends the stream: nothing else answers it)
                self.servicer.metrics.stream_superseded.labels("shed").inc()
                return _superseded(message)
            raise _in_message(error, message.number) if isinstance(error, InvalidRequest) else error
        if message.stale:
            self.servicer.metrics.stream_superseded.labels("stale").inc()
        analysis, reply = task.result()
        reply.is_final = message.final
        reply.sequence = message.sequence
        reply.stale = message.stale
        reply.stable = self.stability.observe(analysis, message.final, self.servicer.runner.current.follow_ups.replies)
        return reply


def _retrieved(task: asyncio.Task) -> None:
    """Marks a computation's failure as seen: one left unanswered when the stream ends (the
    caller left, or an earlier message failed) would otherwise be logged as never retrieved."""
    if not task.cancelled():
        task.exception()


def _with_analysis(analysis: Analysis, timing, threshold: float) -> tuple[Analysis, object]:
    return analysis, convert.analyze_response(analysis, timing, threshold)


def _in_message(error: InvalidRequest, number: int) -> InvalidRequest:
    """The error with the message it is about: a field's name alone does not say which of a call's
    hundreds of messages was refused."""
    return InvalidRequest(f"{error} (message {number} of the stream)")


def _superseded(message: Message):
    return pb2.AnalyzeResponse(sequence=message.sequence, is_final=False, stale=True, superseded=True)
