"""Voice streams: N callers, each an AnalyzeStream revealing utterances word by word.

A caller is a phone call: one AnalyzeStream that speaks utterances back to back. A k-word
utterance is k messages one word interval apart: the partial transcripts of its first 1 ..
k-1 words (`is_final` false), then its full text (`is_final` true); the next utterance's
first word follows one interval after that. The schedule is fixed (open loop): a caller keeps
talking whatever the server does, and latency is measured from the time a message was due
(when its transcript existed), so a write held back by HTTP/2 flow control counts against the
server; how late writes went out is reported as send lag.

Every message gets one answer, in order (docs/voice.md); the reader matches answers to
messages by `sequence`. A stream that ends with an error status fails its unanswered
messages, and so every utterance whose final got no answer; the caller opens a new stream
for its next utterance, at that utterance's scheduled time. Utterances start only within the
duration; those under way then are spoken to the end, and the run ends when every answer is
in, or at the hard stop (the longest utterance, --deadline-ms and a second after the
duration), where whatever is still unanswered counts as UNFINISHED.

A caller converses as docs/voice.md's voice loop does: each message carries the context its
last final answer left (`previous_intent` and `filled_slots`, none after a turn not understood
or an action decided), so a short reply ("yes", "make it 50", "hold on") is a follow-up of the
request before it, and the server's follow-up rule and response rendering are measured too. As
in that loop, messages written before the last final's answer came carry the context before it.

Callers start a word interval / N apart, so messages reach the server evenly spread. This
uses grpc.aio's streaming stubs: the unary path's lean HTTP/2 client speaks unary calls only.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from array import array
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np

from intentd import protogen

from .client import TLS
from .config import LoadConfig
from .errors import ConfigError, LoadTestError, TargetUnavailable
from .progress import Progress
from .recorder import UNFINISHED, percentiles
from .texts import Labelled

#: Measurement clock (as in the runner).
clock = time.perf_counter
START_DELAY_S = 0.05
HARD_STOP_GRACE_S = 1.0
WARMUP_MAX_S = 2.0
#: A stream whose status was OK while messages were still unanswered broke the contract.
UNANSWERED = "UNANSWERED"
#: An answer whose sequence was not the next message's.
OUT_OF_ORDER = "OUT_OF_ORDER"
#: The final transcript was never written: the stream had already ended.
UNSENT = "UNSENT"
#: Words of the longest generated utterance, with room to spare (it only sets the hard stop).
GENERATED_MAX_WORDS = 40


def _stubs():
    try:
        return protogen.import_stubs()
    except protogen.ProtoGenError as exc:
        raise LoadTestError(str(exc)) from exc


@dataclass(slots=True)
class Answer:
    """What one message's answer said, and when it came (seconds since the run's start)."""

    words: int  # words of the transcript it answers
    final: bool
    due_s: float
    latency_s: float
    stale: bool
    superseded: bool  # never computed: no analysis
    stable: bool
    intent: str | None  # follow_up.intent when set, else the top intent; None when superseded
    own_intent: str | None  # the top intent: the utterance's own, which a label names
    flagged: bool  # out of distribution
    follow_up: str  # follow_up.kind, "none" to "repeat": an UPDATE, a CANCEL of one intent differ
    cache_hit: bool

    @property
    def done_s(self) -> float:
        return self.due_s + self.latency_s


@dataclass(slots=True)
class Utterance:
    """One utterance as a caller spoke it: the messages written and the answers they got."""

    item: Labelled
    words: int
    start_s: float
    partials_sent: int = 0
    final_due_s: float | None = None  # when its final transcript was written
    context_intent: str = ""  # the previous_intent its final carried ("": no context)
    answers: list[Answer] = field(default_factory=list)
    failed_messages: int = 0  # written, never answered
    error: str | None = None  # why it has no final answer
    failed_final_s: float | None = None  # how long its final, written, waited for the error instead

    @property
    def final(self) -> Answer | None:
        last = self.answers[-1] if self.answers else None
        return last if last is not None and last.final else None


@dataclass(slots=True)
class _Sent:
    sequence: int
    due: float  # clock()
    utterance: Utterance
    words: int
    final: bool


@dataclass(slots=True)
class _Caller:
    """One caller's conversation: the context its last final answer left (None: none)."""

    context: object | None = None  # pb2.RequestContext


@dataclass
class VoiceRun:
    """Everything one voice run saw; :mod:`.voice_report` turns it into figures."""

    streams: int
    word_interval_s: float
    duration_s: float
    elapsed_s: float = 0.0
    utterances: list[Utterance] = field(default_factory=list)
    streams_opened: int = 0
    stream_errors: Counter = field(default_factory=Counter)  # streams that ended with a status
    error_details: dict = field(default_factory=dict)  # the first message each status came with
    send_lag_s: array = field(default_factory=lambda: array("d"))
    client_cpu_s: float = 0.0
    stopped_s: float | None = None  # a stop from outside (Ctrl-C, SIGTERM) cut the run this far in
    # Live figures for the progress line.
    answers: int = 0
    partial_latency_s: array = field(default_factory=lambda: array("d"))
    final_latency_s: array = field(default_factory=lambda: array("d"))
    superseded: int = 0


def utterance_cycle(items: list[Labelled], seed: int) -> Iterator[Labelled]:
    """The texts in a seeded random order, reshuffled each time round, so the callers do not
    replay one sequence."""
    rng = random.Random(seed)
    order = list(items)
    while True:
        rng.shuffle(order)
        yield from order


def generated_items(seed: int) -> Iterator[Labelled]:
    """Unlabelled generated banking utterances, none repeated (the unary default's texts)."""
    from .utterances import unique_utterances

    return (Labelled(text) for text in unique_utterances(seed))


class _Session:
    """One AnalyzeStream call: a writer (the caller) and this reader of its answers."""

    def __init__(self, voice: VoiceStreams, stub, timeout_s: float, caller: _Caller) -> None:
        self.voice = voice
        self.caller = caller
        self.call = stub.AnalyzeStream(timeout=timeout_s)
        self.pending: deque[_Sent] = deque()
        self.broken = False  # a write failed: the call is over
        self.ended = False  # the reader is done; nothing more is answered
        self.code: str | None = None  # how it ended, when not OK
        self.reader = asyncio.get_running_loop().create_task(self._read())

    @property
    def alive(self) -> bool:
        return not (self.broken or self.ended)

    async def send(self, sent: _Sent, request) -> bool:
        """Write one message; False when the call is already over (nothing was written)."""
        if not self.alive:
            return False
        self.pending.append(sent)  # before the write: its answer may be read before write returns
        try:
            await self.call.write(request)
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            self.broken = True  # the reader gets the status and fails what is pending
        return True

    async def finish(self, hard_stop: float) -> None:
        """Half-close, then wait for the last answers until the hard stop."""
        if self.alive:
            try:
                await self.call.done_writing()
            except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
                pass
        await asyncio.wait((self.reader,), timeout=max(0.0, hard_stop - clock()))
        if not self.reader.done():
            self.reader.cancel()
            await asyncio.wait((self.reader,))
        self.call.cancel()

    async def _read(self) -> None:
        voice, run = self.voice, self.voice.run
        code = None
        try:
            async for reply in self.call:
                now = clock()
                sent = self.pending.popleft() if self.pending else None
                if sent is None or reply.sequence != sent.sequence:
                    if sent is not None:
                        self.pending.appendleft(sent)
                    code = OUT_OF_ORDER
                    break
                answer = voice.answer_of(sent, reply, now)
                sent.utterance.answers.append(answer)
                if answer.final:
                    self.caller.context = voice.carried(reply)
                run.answers += 1
                if answer.superseded:
                    run.superseded += 1
                elif answer.final:
                    run.final_latency_s.append(answer.latency_s)
                else:
                    run.partial_latency_s.append(answer.latency_s)
        except grpc.aio.AioRpcError as exc:
            if run.stopped_s is not None:  # the stop closed the channel: no answer of the server's
                code = UNFINISHED
                return
            code = exc.code().name
            run.stream_errors[code] += 1
            run.error_details.setdefault(code, exc.details() or "")
        except asyncio.CancelledError:
            code = UNFINISHED
            raise
        finally:
            if code == OUT_OF_ORDER:
                run.stream_errors[code] += 1
            if self.pending and code is None:
                code = UNANSWERED
                run.stream_errors[code] += 1
            self.code = code
            self.ended = True
            ended_at = clock()
            while self.pending:
                sent = self.pending.popleft()
                sent.utterance.failed_messages += 1
                if sent.final:
                    sent.utterance.failed_final_s = ended_at - sent.due
                if sent.utterance.error is None:
                    sent.utterance.error = code


class VoiceStreams:
    """The callers of one run, sharing one texts cycle and the server's channels."""

    def __init__(self, config: LoadConfig, items: Iterator[Labelled], longest_words: int) -> None:
        self.config = config
        self.pb2, self.pb2_grpc = _stubs()
        self.items = items
        self.interval = config.word_interval_s
        self.run = VoiceRun(config.voice_streams, self.interval, config.duration)
        self._sequence = itertools.count(1)
        self._longest_words = longest_words
        self.start = self.end = self.hard_stop = 0.0
        pb2 = self.pb2
        self._kinds = {
            value: name.removeprefix("FOLLOW_UP_KIND_").lower()
            for name, value in pb2.FollowUpKind.items()
        }
        self._kinds[pb2.FOLLOW_UP_KIND_UNSPECIFIED] = "none"
        self._unsure = (
            pb2.ESCALATION_REASON_OUT_OF_DISTRIBUTION,
            pb2.ESCALATION_REASON_LOW_CONFIDENCE,
            pb2.ESCALATION_REASON_AMBIGUOUS,
        )

    def answer_of(self, sent: _Sent, reply, now: float) -> Answer:
        own = None if reply.superseded or not reply.intents else reply.intents[0].name
        if reply.superseded:
            intent = None
        elif reply.HasField("follow_up") and reply.follow_up.intent:
            intent = reply.follow_up.intent
        else:
            intent = own
        kind = reply.follow_up.kind
        return Answer(
            words=sent.words, final=reply.is_final, due_s=sent.due - self.start,
            latency_s=now - sent.due, stale=reply.stale, superseded=reply.superseded,
            stable=reply.stable, intent=intent, own_intent=own, flagged=reply.ood.flagged,
            follow_up=self._kinds.get(kind, str(kind)), cache_hit=reply.timing.cache_hit,
        )  # fmt: skip

    def carried(self, final):
        """The context a final answer leaves the caller's next utterance, by docs/voice.md's rule
        ("Conversation context"): none after a turn not understood (escalated as out of
        distribution, low confidence or ambiguous) or an action decided (a CANCEL, a CONFIRM
        that asks for nothing more), so the next "yes" confirms nothing; else the intent the turn
        continued or asked for, the slots its response used and those it asked for."""
        pb2, kind = self.pb2, final.follow_up.kind
        intent = final.follow_up.intent or (final.intents[0].name if final.intents else "")
        if (
            not intent
            or (final.escalation.escalate and final.escalation.reason in self._unsure)
            or kind == pb2.FOLLOW_UP_KIND_CANCEL
            or (kind == pb2.FOLLOW_UP_KIND_CONFIRM and not final.response.slots_missing)
        ):
            return None
        return pb2.RequestContext(previous_intent=intent, filled_slots=final.response.slots_used,
                                  slots_missing=final.response.slots_missing)

    async def measure(self, progress: Progress) -> VoiceRun:
        """Connect, warm up, run the callers for the duration; the run's record."""
        channels = [self._channel() for _ in range(self.config.channels)]
        try:
            await self._connect(channels)
            stubs = [self.pb2_grpc.IntentServiceStub(channel) for channel in channels]
            await self._warm_up(stubs[0])
            return await self._callers(stubs, progress)
        finally:
            await asyncio.gather(*(channel.close() for channel in channels))

    async def _callers(self, stubs: list, progress: Progress) -> VoiceRun:
        run, n = self.run, self.run.streams
        self.start = clock() + START_DELAY_S
        self.end = self.start + self.config.duration
        longest_s = self._longest_words * self.interval
        self.hard_stop = self.end + longest_s + self.config.deadline_s + HARD_STOP_GRACE_S
        expected = int(n * self.config.duration / self.interval)

        def status() -> tuple[int, str]:
            return run.answers, (
                f"utterances {len(run.utterances)} partial p95 {_p95_ms(run.partial_latency_s)} "
                f"final p95 {_p95_ms(run.final_latency_s)} ms superseded {run.superseded} "
                f"stream errors {sum(run.stream_errors.values())}"
            )

        cpu = time.process_time()
        progress.start(f"{n} voice streams", expected, status)
        try:
            await asyncio.gather(
                *(self._caller(stubs[i % len(stubs)], self.start + self.interval * i / n)
                  for i in range(n))
            )  # fmt: skip
        except BaseException:  # cancelled, or a KeyboardInterrupt: the figures so far still count
            run.stopped_s = run.elapsed_s = max(clock() - self.start, 0.0)
            run.client_cpu_s = time.process_time() - cpu
            raise
        finally:
            progress.stop()
        run.client_cpu_s = time.process_time() - cpu
        run.elapsed_s = clock() - self.start
        return run

    async def _caller(self, stub, due: float) -> None:
        item, caller = None, _Caller()  # its context outlives a stream that ended with an error
        while due < self.end:
            self.run.streams_opened += 1
            session = _Session(self, stub, self.hard_stop - clock(), caller)
            while due < self.end and session.alive:
                item = item or next(self.items)
                spoken = await self._speak(session, item, due)
                if spoken is None:
                    break  # the stream ended before the first word: say it on a new one
                due, item = spoken, None
            await session.finish(self.hard_stop)

    async def _speak(self, session: _Session, item: Labelled, due: float) -> float | None:
        """Speak one utterance from ``due`` on: the due time of the next one, or None when the
        stream was over before the first word."""
        await _sleep_until(due)
        if not session.alive:
            return None
        words = item.text.split()
        utterance = Utterance(item, len(words), due - self.start)
        self.run.utterances.append(utterance)
        for count in range(1, len(words) + 1):
            at = due + (count - 1) * self.interval
            await _sleep_until(at)
            final = count == len(words)
            if not session.alive:
                if not session.ended:  # a write failed: the reader is about to get the status
                    await asyncio.wait(
                        (session.reader,), timeout=max(0.0, self.hard_stop - clock())
                    )
                utterance.error = utterance.error or session.code or UNSENT
                break
            text = item.text if final else " ".join(words[:count])
            sequence = next(self._sequence)
            context = session.caller.context
            request = self.pb2.AnalyzeRequest(
                text=text, is_final=final, sequence=sequence, context=context
            )
            await session.send(_Sent(sequence, at, utterance, count, final), request)
            self.run.send_lag_s.append(max(0.0, clock() - at))
            if final:
                utterance.final_due_s = at - self.start
                utterance.context_intent = context.previous_intent if context else ""
            else:
                utterance.partials_sent += 1
        return due + len(words) * self.interval

    def _channel(self):
        address = self.config.address
        if not self.config.tls:
            return grpc.aio.insecure_channel(address)
        c = self.config
        # the files checked as the unary load checks them: grpc took a CA file with no
        # certificate in it, and the run blamed the server ("no gRPC server accepted a connection")
        TLS(c.tls_ca, c.tls_cert, c.tls_key, c.tls_server_name).context()
        try:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(c.tls_ca),
                private_key=_read(c.tls_key or c.tls_cert),
                certificate_chain=_read(c.tls_cert),
            )
        except ValueError as exc:
            raise ConfigError(f"TLS files: {exc}") from exc
        options = (
            [("grpc.ssl_target_name_override", c.tls_server_name)] if c.tls_server_name else []
        )
        return grpc.aio.secure_channel(address, credentials, options=options)

    async def _connect(self, channels: list) -> None:
        timeout = self.config.connect_timeout_s
        address = self.config.address
        try:
            await asyncio.wait_for(asyncio.gather(*(_ready(channel) for channel in channels)), timeout)
        except TimeoutError:
            raise TargetUnavailable(
                f"no gRPC server accepted a connection at {address} within {timeout:g} s"
            ) from None
        except ConnectionError as exc:
            raise TargetUnavailable(f"no gRPC server accepted a connection at {address}: {exc}") from None

    async def _warm_up(self, stub) -> None:
        """Unary calls one by one, unrecorded, so the server's first-request paths are warm."""
        stop = clock() + WARMUP_MAX_S
        for _ in range(self.config.warmup):
            if clock() >= stop:
                break
            try:
                await stub.Analyze(
                    self.pb2.AnalyzeRequest(text=next(self.items).text), timeout=WARMUP_MAX_S
                )
            except grpc.aio.AioRpcError:
                pass


async def _sleep_until(at: float) -> None:
    delay = at - clock()
    if delay > 0:
        await asyncio.sleep(delay)


def _read(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read this TLS file ({exc.strerror or exc})") from exc


def _p95_ms(values: array) -> str:
    if not values:
        return "-"
    return f"{percentiles(np.frombuffer(values, dtype=np.float64), (95,))[0] * 1e3:.1f}"


async def measure(config: LoadConfig, items: list[Labelled] | None, progress: Progress,
                  started: Callable[[VoiceRun], None] | None = None) -> VoiceRun:
    """Run the voice streams of ``config`` over ``items`` (None: generated utterances).
    ``started`` gets the run's record before it starts, so a caller holds it even if the run
    is stopped from outside."""
    if items is None:
        cycle, longest = generated_items(config.seed), GENERATED_MAX_WORDS
    else:
        cycle, longest = (
            utterance_cycle(items, config.seed),
            max(len(i.text.split()) for i in items),
        )
    streams = VoiceStreams(config, cycle, longest)
    if started is not None:
        started(streams.run)
    return await streams.measure(progress)


async def _ready(channel) -> None:
    """Wait until `channel` is connected; ConnectionError as soon as a first attempt fails (a
    refused port is said at once, not after the whole connect timeout of retries)."""
    state = channel.get_state(try_to_connect=True)
    while state is not grpc.ChannelConnectivity.READY:
        if state is grpc.ChannelConnectivity.TRANSIENT_FAILURE:
            raise ConnectionError("the connection failed (refused, or the TLS or HTTP/2 set-up failed)")
        await channel.wait_for_state_change(state)
        state = channel.get_state(try_to_connect=True)
