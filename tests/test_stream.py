"""AnalyzeStream for voice, end to end: a real server, a real channel, the real banking model.

Partials are superseded while the model is held (hold_model), so which requests were computed is
known exactly: `intentd_batch_size_sum` counts requests that went through a forward pass.
"""

from __future__ import annotations

import json
import logging
import queue

import grpc
import pytest

from servers import ThreadServer, pb2, wait_for

BLOCK = "i want to block my debit card"
# A transfer the caller was just asked to confirm: "yes", "no", "to savings" are follow-ups of it.
TRANSFER = pb2.RequestContext(previous_intent="transfer_money", filled_slots={"amount": "50 USD", "account": "savings"})
SHED_REASONS = ("queue_full", "budget")


@pytest.fixture(scope="module")
def server(banking_artifact, tmp_path_factory):
    capture = tmp_path_factory.mktemp("capture") / "review.jsonl"
    with ThreadServer(model=banking_artifact, cache_size=64, capture_path=capture) as srv:
        srv.capture_path = capture
        yield srv


def computed(server) -> float:
    return server.metric("intentd_batch_size_sum")


def partial(text: str, sequence: int = 0, context: pb2.RequestContext | None = None) -> pb2.AnalyzeRequest:
    return pb2.AnalyzeRequest(text=text, is_final=False, sequence=sequence, context=context)


def final(text: str, sequence: int = 0) -> pb2.AnalyzeRequest:
    return pb2.AnalyzeRequest(text=text, is_final=True, sequence=sequence)


class Duplex:
    """A bidirectional call driven step by step: send, then read the answer when it is due."""

    def __init__(self, stub, **kwargs):
        self._out: queue.Queue = queue.Queue()
        self.call = stub.AnalyzeStream(iter(self._out.get, None), timeout=60, **kwargs)

    def send(self, request) -> None:
        self._out.put(request)

    def ask(self, request):
        self.send(request)
        return next(self.call)

    def finish(self) -> list:
        self._out.put(None)
        return list(self.call)


def test_superseded_partials_are_never_computed(server):
    runner = server.app.runner
    before, withdrawn = computed(server), server.metric("intentd_stream_superseded_total", {"outcome": "withdrawn"})
    release = server.hold_model()
    try:
        stream = Duplex(server.stub)
        texts = ["i lost", "i lost my", "i lost my credit card"]
        for i, text in enumerate(texts):
            stream.send(partial(text, sequence=100 + i))
            # the one partial queued is the latest: the one it superseded left the queue at once
            # (they stayed until the next batch was built, counted in the queue depth and the work ahead)
            wait_for(lambda: [e.text for e in runner._pending] == [text], f"partial {i} alone in the queue")
            assert server.metric("intentd_queue_depth") == 1
        stream.send(final("i lost my credit card in boston", sequence=200))
        wait_for(lambda: [e.text for e in runner._pending] == ["i lost my credit card in boston"], "the final alone")
    finally:
        release.set()
    answers = stream.finish()
    assert [a.sequence for a in answers] == [100, 101, 102, 200]
    for a in answers[:3]:  # withdrawn while queued: an answer without analysis
        assert a.superseded and a.stale and not a.is_final and not a.intents and not a.model_version
    last = answers[3]
    assert last.is_final and not last.stale and not last.superseded
    assert last.intents[0].name == "report_lost_card"
    assert computed(server) == before + 1  # only the final went through the model
    assert server.metric("intentd_stream_superseded_total", {"outcome": "withdrawn"}) == withdrawn + 3


def test_a_started_partial_is_answered_stale_and_answers_keep_their_order(server):
    runner = server.app.runner
    server.stub.Analyze(pb2.AnalyzeRequest(text="what is my savings balance"), timeout=30)  # now cached
    hits = server.metric("intentd_cache_hits_total")
    before, marked = computed(server), server.metric("intentd_stream_superseded_total", {"outcome": "stale"})
    release = server.hold_model()
    try:
        stream = Duplex(server.stub)
        stream.send(final("hello there"))  # held: its answer cannot go out yet
        wait_for(lambda: runner.queued == 1, "the first message to queue")
        stream.send(partial("what is my savings balance"))  # answered at once from the cache...
        wait_for(lambda: server.metric("intentd_cache_hits_total") == hits + 1, "the cached partial")
        stream.send(partial("what is my savings balance please"))  # ...but superseded before its turn
        wait_for(lambda: runner.queued == 2, "the next partial to queue")
    finally:
        release.set()
    answers = stream.finish()
    assert [a.sequence for a in answers] == [1, 2, 3]
    first, stale, current = answers
    assert first.is_final and first.intents and not first.stale
    assert stale.stale and not stale.superseded and not stale.is_final
    assert stale.intents[0].name == "check_balance" and stale.timing.cache_hit  # computed, so answered in full
    assert current.intents and not current.stale and not current.is_final
    assert computed(server) == before + 2
    assert server.metric("intentd_stream_superseded_total", {"outcome": "stale"}) == marked + 1


def shed(server) -> float:
    return sum(server.metric("intentd_shed_total", {"reason": r}) for r in SHED_REASONS)


def test_a_shed_partial_is_answered_superseded_and_the_stream_goes_on(banking_artifact):
    """Under load a partial is best effort (the next message covers the utterance); a final is not."""
    with ThreadServer(model=banking_artifact, cache_size=0, max_queue=1) as srv:
        release = srv.hold_model()
        try:
            stream = Duplex(srv.stub)
            stream.send(final("hello there"))  # holds the only place
            wait_for(lambda: srv.app.runner.queued == 1, "the first message to queue")
            stream.send(partial("block my"))  # no room: shed
            wait_for(lambda: shed(srv) == 1, "the partial to be shed")
            stream.send(partial("block my debit"))  # supersedes the shed one before its answer went out; shed too
            wait_for(lambda: shed(srv) == 2, "the next partial to be shed")
        finally:
            release.set()
        answers = [next(stream.call), next(stream.call), next(stream.call)]  # the stream is still open
        answers.append(stream.ask(final("block my debit card")))
        stream.finish()
        assert [(a.is_final, a.superseded) for a in answers] == [(True, False), (False, True), (False, True),
                                                                 (True, False)]
        assert answers[3].intents[0].name == "block_card"
        # as the caller was told: both shed, neither answered stale (the first was counted stale)
        assert srv.metric("intentd_stream_superseded_total", {"outcome": "shed"}) == 2
        assert srv.metric("intentd_stream_superseded_total", {"outcome": "stale"}) == 0

        release = srv.hold_model()
        try:
            stream = Duplex(srv.stub)
            stream.send(final("hello there"))
            wait_for(lambda: srv.app.runner.queued == 1, "the first message to queue")
            stream.send(final("block my debit card"))  # a shed final ends the stream
            wait_for(lambda: shed(srv) == 3, "the final to be shed")
        finally:
            release.set()
        first = next(stream.call)
        assert first.is_final and first.intents
        with pytest.raises(grpc.RpcError) as err:
            stream.finish()
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_a_final_takes_the_place_of_a_queued_partial_when_the_server_is_full(banking_artifact):
    """A partial is best effort, a final is the utterance: under load the partial gives way."""
    with ThreadServer(model=banking_artifact, cache_size=0, max_queue=2) as srv:
        release = srv.hold_model()
        try:
            first, talking, other = Duplex(srv.stub), Duplex(srv.stub), Duplex(srv.stub)
            first.send(final("hello there"))
            wait_for(lambda: srv.app.runner.queued == 1, "the first final to queue")
            talking.send(partial("block my", sequence=1))  # the second and last place
            wait_for(lambda: srv.app.runner.queued == 2, "the partial to queue")
            other.send(partial("i lost", sequence=1))  # a partial finds no room: shed itself
            wait_for(lambda: shed(srv) == 1, "the second partial to be shed")
            other.send(final("i lost my card", sequence=2))  # a final: the queued partial gives way
            wait_for(lambda: srv.metric("intentd_shed_total", {"reason": "for_final"}) == 1,
                     "the queued partial to give its place")
            assert srv.app.runner.queued == 2 and srv.app.runner.in_system == 2
        finally:
            release.set()
        assert [(a.is_final, bool(a.intents)) for a in first.finish()] == [(True, True)]
        assert [(a.sequence, a.superseded) for a in talking.finish()] == [(1, True)]
        answers = other.finish()
        assert [(a.sequence, a.superseded, a.is_final) for a in answers] == [(1, True, False), (2, False, True)]
        assert answers[1].intents[0].name == "report_lost_card"
        assert shed(srv) == 1  # no final was shed
        assert srv.metric("intentd_stream_superseded_total", {"outcome": "shed"}) == 2
        wait_for(lambda: srv.app.runner.in_system == 0, "every request to leave the count")

        # a withdrawn partial leaves the queue at once; the one in its place gives way to a final
        release = srv.hold_model()
        try:
            first, talking, other = Duplex(srv.stub), Duplex(srv.stub), Duplex(srv.stub)
            first.send(final("hello there"))
            wait_for(lambda: srv.app.runner.queued == 1, "the first final to queue")
            talking.send(partial("block", sequence=1))
            wait_for(lambda: srv.app.runner.queued == 2, "the partial to queue")
            talking.send(partial("block my", sequence=2))  # withdraws the first, queues in its place
            wait_for(lambda: [e.text for e in srv.app.runner._pending] == ["hello there", "block my"]
                     and srv.app.runner.in_system == 2, "the next partial in the first one's place")
            other.send(final("i lost my card"))
            wait_for(lambda: srv.metric("intentd_shed_total", {"reason": "for_final"}) == 2, "the live partial to go")
            assert srv.app.runner.queued == 2 and srv.app.runner.in_system == 2
        finally:
            release.set()
        assert [a.superseded for a in talking.finish()] == [True, True]
        assert [a.is_final and bool(a.intents) for a in other.finish() + first.finish()] == [True, True]
        wait_for(lambda: srv.app.runner.in_system == 0, "every request to leave the count")


def test_stable_after_n_agreeing_partials(server):
    stream = Duplex(server.stub)
    same = [stream.ask(partial(BLOCK)) for _ in range(3)]
    assert [a.intents[0].name for a in same] == ["block_card"] * 3
    assert all(a.intents[0].confidence >= 0.8 and not a.ood.flagged for a in same)
    assert [a.stable for a in same] == [False, False, True]  # --stream-stable-n 3
    done = stream.ask(final(BLOCK))
    assert done.is_final and done.stable
    again = stream.ask(partial(BLOCK))  # a new utterance: the run starts again
    assert not again.stable
    changed = [stream.ask(partial(t)) for t in (BLOCK, "i want to block my credit card")]
    assert not changed[1].stable  # another slot value breaks the run
    stream.ask(final("ok"))
    unsure = [stream.ask(partial("and from checking")) for _ in range(3)]
    assert unsure[-1].stable == all(a.intents[0].confidence >= 0.8 and not a.ood.flagged for a in unsure)
    stream.finish()


def test_a_confirm_or_cancel_is_never_stable(server):
    """"no wait make it sixty" after a transfer is a CANCEL for its first words: three partials of
    it in a row were `stable`, and a backend acting early cancelled what the caller was correcting."""
    stream = Duplex(server.stub)
    said = [stream.ask(partial(text, context=TRANSFER)) for text in ("no", "no wait", "no wait make", "no wait make it")]
    said += [stream.ask(partial("yes", context=TRANSFER)) for _ in range(3)]
    stream.finish()
    assert {a.follow_up.kind for a in said[:4]} == {pb2.FOLLOW_UP_KIND_CANCEL}
    assert {a.follow_up.kind for a in said[4:]} == {pb2.FOLLOW_UP_KIND_CONFIRM}
    assert not any(a.stable for a in said)


@pytest.mark.parametrize("text", ["yes", "no no no", "hold on", "no wait make it"])
def test_a_reply_with_no_turn_to_answer_is_never_stable(server, text):
    """With no previous turn (what a backend sends after a CANCEL or a decided CONFIRM) a yes, a
    no or a pause is the domain's reply intent, sure of itself: three in a row were `stable`."""
    stream = Duplex(server.stub)
    said = [stream.ask(partial(text)) for _ in range(3)]
    stream.finish()
    assert {a.intents[0].name for a in said} <= {"affirm", "deny", "hold", "repeat"}, said
    assert not any(a.stable for a in said)


def test_a_follow_up_qualifies_by_its_follow_up_not_its_own_intent(server):
    """"to savings" after a transfer is an UPDATE of it, whatever the model reads into two words
    on their own (unsure here, which kept `stable` from ever firing on it)."""
    stream = Duplex(server.stub)
    said = [stream.ask(partial("to savings", context=TRANSFER)) for _ in range(3)]
    stream.finish()
    assert all(a.follow_up.kind == pb2.FOLLOW_UP_KIND_UPDATE and not a.escalation.escalate for a in said)
    assert said[0].intents[0].confidence < 0.8 or said[0].ood.flagged  # its own reading fails that rule
    assert [a.stable for a in said] == [False, False, True]


def test_a_follow_up_flagged_on_its_own_words_is_no_drift(server):
    """"and to savings" after a transfer is flagged out of distribution on its two words (as the
    answer says) and read as an UPDATE: it counted in intentd_ood_total and intentd_ood_rate, so
    the drift alert fired whenever callers sent more follow-ups."""
    before = server.metric("intentd_ood_total")
    reply = server.stub.Analyze(pb2.AnalyzeRequest(text="and to savings", context=TRANSFER), timeout=30)
    assert reply.follow_up.kind == pb2.FOLLOW_UP_KIND_UPDATE and reply.ood.flagged
    alone = server.stub.Analyze(pb2.AnalyzeRequest(text="and to savings"), timeout=30)
    assert alone.ood.flagged and not alone.follow_up.kind
    assert server.metric("intentd_ood_total") == before + 1  # the one with no turn before it


def test_messages_are_read_while_earlier_ones_are_computed(server):
    runner = server.app.runner
    before = computed(server)
    release = server.hold_model()
    try:
        stream = Duplex(server.stub)
        texts = [f"transfer {n} dollars to savings" for n in range(11, 16)]
        for text in texts:
            stream.send(final(text))
        wait_for(lambda: runner.queued == 5, "all five to be read before any is answered")
    finally:
        release.set()
    answers = stream.finish()
    assert [a.sequence for a in answers] == [1, 2, 3, 4, 5]
    amounts = [[e.resolution.money.amount for e in a.entities if e.type == "amount"] for a in answers]
    assert amounts == [[str(n)] for n in range(11, 16)]
    assert all(a.is_final and not a.stale for a in answers)
    assert computed(server) == before + 5


def test_a_bad_message_ends_the_stream_after_the_answers_before_it(server):
    answers = []
    bad = pb2.AnalyzeRequest(text="and to savings", alternatives=[pb2.Alternative(text=" ")])
    with pytest.raises(grpc.RpcError) as err:
        for answer in server.stub.AnalyzeStream(iter([partial("transfer fifty"), final("transfer fifty dollars"), bad,
                                                      final("never read")]), timeout=30):
            answers.append(answer)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith("alternatives[0].text")
    assert err.value.details().endswith("(message 3 of the stream)")  # which one, of a call of hundreds
    assert [a.sequence for a in answers] == [1, 2]


def test_locale_is_checked_per_message(server):
    with pytest.raises(grpc.RpcError) as err:
        list(server.stub.AnalyzeStream(iter([final("hello"), pb2.AnalyzeRequest(text="hi", locale="fr-FR")]),
                                       timeout=30))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "en-US, en-GB, de-DE" in err.value.details()


def test_only_finals_reach_the_review_file_with_their_session(server):
    ctx = pb2.RequestContext(session_id="call-42")
    stream = Duplex(server.stub)
    answers = [stream.ask(pb2.AnalyzeRequest(text="zorp blarg quux", is_final=False, context=ctx)),
               stream.ask(pb2.AnalyzeRequest(text="zorp blarg quux florp", is_final=True, context=ctx))]
    stream.finish()
    assert all(a.escalation.escalate and a.intents for a in answers)  # gibberish, both computed

    def records():
        if not server.capture_path.exists():
            return []
        return [json.loads(line) for line in server.capture_path.read_text().splitlines()]
    wait_for(lambda: any(r["text"] == "zorp blarg quux florp" for r in records()), "the final's record")
    mine = [r for r in records() if r["text"].startswith("zorp")]
    assert [r["text"] for r in mine] == ["zorp blarg quux florp"]  # the partial is not captured
    assert mine[0]["meta"]["session_id"] == "call-42"


def test_a_final_that_repeats_its_last_partial_is_captured_once(server):
    """ASRs often send the last partial's text again as the final: its answer comes from the
    cache, and it is still the one record of the utterance (a repeat of it is not another)."""
    text = "plim vorta skell drune"
    stream = Duplex(server.stub)
    answers = [stream.ask(pb2.AnalyzeRequest(text="plim vorta", is_final=False)),
               stream.ask(pb2.AnalyzeRequest(text=text, is_final=False)),
               stream.ask(pb2.AnalyzeRequest(text=text, is_final=True))]
    stream.finish()
    assert answers[-1].escalation.escalate and answers[-1].timing.cache_hit
    again = server.stub.Analyze(pb2.AnalyzeRequest(text=text), timeout=30)
    assert again.timing.cache_hit
    marker = "plim marker"  # a later record: once it is written, the repeat's would have been too
    server.stub.Analyze(pb2.AnalyzeRequest(text=marker), timeout=30)

    def records():
        if not server.capture_path.exists():
            return []
        return [json.loads(line) for line in server.capture_path.read_text().splitlines()]
    wait_for(lambda: any(r["text"] == marker for r in records()), "the marker's record")
    assert [r["text"] for r in records() if r["text"].startswith("plim vorta")] == [text]


def test_open_streams_are_bounded_and_a_closed_one_frees_its_place(banking_artifact):
    """Idle streams hold memory (~30 KB each): one past --max-streams is refused at once,
    RESOURCE_EXHAUSTED, and the place of a stream that ended is free again."""
    with ThreadServer(model=banking_artifact, max_streams=2) as srv:
        first, second = Duplex(srv.stub), Duplex(srv.stub)
        assert first.ask(final(BLOCK)).intents and second.ask(final(BLOCK)).intents
        with pytest.raises(grpc.RpcError) as refused:
            list(srv.stub.AnalyzeStream(iter([final(BLOCK)]), timeout=30))
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "2 streams open (--max-streams)" in refused.value.details()
        assert srv.metric("intentd_shed_total", {"reason": "streams"}) == 1
        first.finish()
        wait_for(lambda: srv.app.servicer.open_streams == 1, "the ended stream to leave")
        third = list(srv.stub.AnalyzeStream(iter([final(BLOCK)]), timeout=30))
        assert third[0].intents
        second.finish()
        wait_for(lambda: srv.app.servicer.open_streams == 0, "every stream to leave")


def test_stream_settings_are_validated():
    from intentd.server.config import ConfigError, Settings

    with pytest.raises(ConfigError, match="--stream-stable-n"):
        Settings(model="m", stream_stable_n=0)
    with pytest.raises(ConfigError, match="--stream-stable-confidence"):
        Settings(model="m", stream_stable_confidence=1.5)
    with pytest.raises(ConfigError, match="--stream-idle-timeout"):
        Settings(model="m", stream_idle_timeout=-1)


def test_a_draining_server_ends_streams_at_an_utterance_boundary(banking_artifact):
    """SIGTERM: a stream between utterances ends at once with UNAVAILABLE; one mid-utterance gets
    its final answered first. Both used to stay open for the whole grace period, taking new
    utterances, and were then cut mid-utterance."""
    import time

    with ThreadServer(model=banking_artifact, grace_period=30) as server:
        idle, talking = Duplex(server.stub), Duplex(server.stub)
        assert idle.ask(final("what's my balance")).is_final  # one utterance done, the next not begun
        assert not talking.ask(partial("block my")).is_final  # mid-utterance
        started = time.monotonic()
        server.loop.call_soon_threadsafe(server.app.request_stop)
        with pytest.raises(grpc.RpcError) as ended:
            next(idle.call)
        assert ended.value.code() == grpc.StatusCode.UNAVAILABLE and "draining" in ended.value.details()
        assert time.monotonic() - started < 10  # not the grace period
        answer = talking.ask(final("block my debit card"))  # the utterance in progress is finished
        assert answer.is_final and answer.intents[0].name
        with pytest.raises(grpc.RpcError) as ended:
            talking.ask(partial("and also"))
        assert ended.value.code() == grpc.StatusCode.UNAVAILABLE


def test_an_open_stream_does_not_keep_a_draining_server_refusing_the_next_calls(banking_artifact):
    """A draining server refuses new calls (UNAVAILABLE) until its unary calls are done and then
    stops gRPC, whose GOAWAY sends a caller's next calls to a new connection: another instance.
    A stream open mid-utterance held that stop back for the whole grace period, and every retry
    went down the same connection to the same refusal (a client's 4 attempts in ~100 ms). Now the
    stop comes once the unary calls are done, the stream still finishes its utterance, and the
    refusal asks the caller to wait past the quiet period (`grpc-retry-pushback-ms`)."""
    import socket
    import time

    def listening(port: int) -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return False
        return True

    with ThreadServer(model=banking_artifact, grace_period=30) as server:
        port = server.app.port
        talking = Duplex(server.stub)
        assert not talking.ask(partial("block my")).is_final  # mid-utterance
        release = server.hold_model()
        held = server.stub.DetectIntent.future(pb2.DetectIntentRequest(text="what's my balance"), timeout=20)
        wait_for(lambda: server.app.servicer.drain.in_flight == 2, "the held call to be in flight")
        server.loop.call_soon_threadsafe(server.app.request_stop)
        wait_for(lambda: server.app.servicer.drain.draining, "the drain to begin")
        with pytest.raises(grpc.RpcError) as refused:
            server.stub.DetectIntent(pb2.DetectIntentRequest(text="block my card"), timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE and "draining" in refused.value.details()
        assert dict(refused.value.trailing_metadata())["grpc-retry-pushback-ms"] == "300"
        assert listening(port)  # the held unary call keeps the drain refusing
        release.set()
        assert held.result(timeout=20).intents  # answered
        stopped = time.monotonic()
        wait_for(lambda: not listening(port), "the listener to close with the stream still open")
        assert time.monotonic() - stopped < 10  # the quiet period, not the 30 s grace period
        answer = talking.ask(final("block my debit card"))  # the utterance in progress is still finished
        assert answer.is_final and answer.intents[0].name


def test_one_connection_carries_every_stream_the_server_admits(banking_artifact):
    """A voice backend's one channel: the connection's call cap was 100 whatever --max-streams, so
    its 101st stream, and every unary call beside it, waited in the client, unseen by the server,
    until a stream ended (dead air on a phone call). Now the cap leaves room for every stream the
    server admits: the next one is refused at once, and unary calls still go through."""
    with ThreadServer(model=banking_artifact, max_streams=105) as server:
        streams = [Duplex(server.stub) for _ in range(105)]
        try:
            wait_for(lambda: server.metric("intentd_streams_open") == 105, "105 streams to open")
            assert server.stub.DetectIntent(pb2.DetectIntentRequest(text="block my card"), timeout=10).intents
            with pytest.raises(grpc.RpcError) as refused:
                next(Duplex(server.stub).call)
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        finally:
            for stream in streams:
                stream.send(None)


def test_a_stream_past_its_message_bound_is_ended_naming_the_message(banking_artifact):
    """The refusal said "more than 2 messages" and not which one, unlike every other refused message."""
    with ThreadServer(model=banking_artifact, max_stream_messages=2) as server:
        stream = Duplex(server.stub)
        assert stream.ask(final("what's my balance")).is_final and stream.ask(final("block my card")).is_final
        with pytest.raises(grpc.RpcError) as ended:
            stream.ask(final("thanks"))
    assert ended.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "(message 3 of the stream)" in ended.value.details() and "new stream" in ended.value.details()


def test_a_silent_stream_is_ended_once_every_answer_went_out(banking_artifact):
    """A stream that never sent a message held its --max-streams place for good (256 of them
    locked voice out). One silent for --stream-idle-timeout with every answer sent is ended with
    DEADLINE_EXCEEDED and counted; one whose message is still being computed stays open, however
    long that takes; `intentd_streams_open` follows them."""
    import time

    with ThreadServer(model=banking_artifact, stream_idle_timeout=0.5) as srv:
        release = srv.hold_model()
        try:
            talking = Duplex(srv.stub)
            talking.send(final(BLOCK))
            silent = Duplex(srv.stub)
            wait_for(lambda: srv.metric("intentd_streams_open") == 2, "both streams to open")
            with pytest.raises(grpc.RpcError) as ended:
                next(silent.call)
            time.sleep(0.5)  # the talking stream's message, held, outlives its idle timeout too
        finally:
            release.set()
        assert ended.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "--stream-idle-timeout" in ended.value.details()
        assert next(talking.call).intents[0].name == "block_card"
        answered = time.monotonic()
        with pytest.raises(grpc.RpcError) as ended:
            next(talking.call)
        assert ended.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - answered > 0.4  # timed from its answer, not from its message
        assert srv.metric("intentd_streams_idle_ended_total") == 2
        wait_for(lambda: srv.metric("intentd_streams_open") == 0, "both streams to leave")
        for stream in (silent, talking):
            stream.send(None)  # ends the client's request iterator


def test_a_caller_that_resets_a_stream_its_answers_wait_for_is_cancelled_without_an_error(banking_artifact, caplog):
    """A caller that gives the server no flow-control window for its answers and then resets the
    stream (a phone hanging up) made grpc log an ERROR traceback (ExecuteBatchError) for the
    answer it could not send, though the call was only cancelled."""
    import socket
    import struct

    from hpack import Encoder

    from intentd.loadtest.http2 import (DATA, END_HEADERS, HEADERS, PREFACE, RST_STREAM, S_INITIAL_WINDOW_SIZE,
                                        SETTINGS, frame)

    def cancelled() -> float:
        return srv.metric("intentd_rpc_total", {"rpc": "AnalyzeStream", "code": "CANCELLED"})

    message = final(BLOCK).SerializeToString()
    headers = Encoder().encode([(":method", "POST"), (":scheme", "http"), (":authority", "intentd"),
                                (":path", "/intentd.v1.IntentService/AnalyzeStream"),
                                ("content-type", "application/grpc"), ("te", "trailers")])
    with ThreadServer(model=banking_artifact) as srv, socket.create_connection(("127.0.0.1", srv.app.port)) as raw:
        raw.sendall(PREFACE + frame(SETTINGS, 0, 0, struct.pack(">HI", S_INITIAL_WINDOW_SIZE, 0))
                    + frame(HEADERS, END_HEADERS, 1, headers))
        for _ in range(20):
            raw.sendall(frame(DATA, 0, 1, b"\x00" + struct.pack(">I", len(message)) + message))
        answered = {"version": srv.app.runner.current.version}  # the answers after the first are computed
        wait_for(lambda: srv.metric("intentd_top_confidence_count", answered) >= 16, "answers to wait for a window")
        raw.sendall(frame(RST_STREAM, 0, 1, struct.pack(">I", 8)))  # CANCEL
        wait_for(lambda: cancelled() == 1, "the stream to be counted cancelled")
        wait_for(lambda: srv.metric("intentd_streams_open") == 0, "the stream to leave")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_a_caller_that_stops_taking_its_answers_is_ended_after_the_idle_timeout(banking_artifact):
    """A caller whose reader died (it gives the server no flow-control window for its answers, and
    says nothing more) held its --max-streams place until the connection's maximum age: the idle
    timeout starts only once every answer has gone out, and none could. An answer not taken for
    --stream-idle-timeout ends the call, and is counted as an idle end."""
    import socket
    import struct

    from hpack import Encoder

    from intentd.loadtest.http2 import DATA, END_HEADERS, HEADERS, PREFACE, S_INITIAL_WINDOW_SIZE, SETTINGS, frame

    message = final(BLOCK).SerializeToString()
    headers = Encoder().encode([(":method", "POST"), (":scheme", "http"), (":authority", "intentd"),
                                (":path", "/intentd.v1.IntentService/AnalyzeStream"),
                                ("content-type", "application/grpc"), ("te", "trailers")])
    with ThreadServer(model=banking_artifact, stream_idle_timeout=0.5, max_streams=1) as srv, \
            socket.create_connection(("127.0.0.1", srv.app.port)) as raw:
        raw.sendall(PREFACE + frame(SETTINGS, 0, 0, struct.pack(">HI", S_INITIAL_WINDOW_SIZE, 0))
                    + frame(HEADERS, END_HEADERS, 1, headers))
        for _ in range(3):
            raw.sendall(frame(DATA, 0, 1, b"\x00" + struct.pack(">I", len(message)) + message))
        wait_for(lambda: srv.metric("intentd_streams_idle_ended_total") == 1, "the stalled stream to be ended")
        wait_for(lambda: srv.metric("intentd_streams_open") == 0, "the stream to leave")
        assert next(srv.stub.AnalyzeStream(iter([final("hello")]), timeout=10)).is_final  # its place is free


def test_a_stream_whose_deadline_passed_is_counted_as_expired_not_cancelled(server):
    """The caller's own cancel at its deadline reached the server a little before the server's copy
    of the deadline (started when the headers arrived) had passed: expired voice streams were
    counted as CANCELLED, the caller's hang-up, in intentd_rpc_total and the access log."""
    def counted(code: str) -> float:
        return server.metric("intentd_rpc_total", {"rpc": "AnalyzeStream", "code": code})

    expired = counted("DEADLINE_EXCEEDED")
    for _ in range(4):
        out: queue.Queue = queue.Queue()
        out.put(final("hi"))
        with pytest.raises(grpc.RpcError) as ended:
            list(server.stub.AnalyzeStream(iter(out.get, None), timeout=1.0))
        out.put(None)
        assert ended.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    wait_for(lambda: counted("DEADLINE_EXCEEDED") == expired + 4, "four expired streams to be counted as such")
