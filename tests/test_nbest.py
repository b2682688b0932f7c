"""ASR n-best: the combination rule on the real model, then the real server over gRPC."""

from __future__ import annotations

import datetime as dt
import math

import grpc
import pytest

from intentd.server import nbest
from intentd.server.analysis import RequestOptions
from intentd.server.engine import Engine
from servers import ThreadServer, pb2, wait_for

NO_AMOUNT = "transfer money to my savings account"
WITH_AMOUNT = "transfer fifty dollars to my savings account"


@pytest.fixture(scope="module")
def engine(banking_artifact) -> Engine:
    return Engine.load(banking_artifact)


def combined(engine: Engine, texts_weights: list[tuple[str, float]], options=RequestOptions()):
    transcripts = [nbest.Transcript(i, t, w) for i, (t, w) in enumerate(texts_weights)]
    analyses = engine.analyze([t.text for t in transcripts], nbest.transcript_options(options, engine))
    return nbest.combine(engine, transcripts, analyses, options), analyses


def test_intents_are_the_weighted_mixture(engine):
    texts = [("block my card", 0.5), ("lock my car", 0.3), ("what's my balance", 0.2)]
    answer, analyses = combined(engine, texts)
    expected: dict[str, float] = {}
    for (_, w), a in zip(texts, analyses):
        for name, p in a.prediction.intents:
            expected[name] = expected.get(name, 0.0) + w * p
    best = max(expected, key=expected.get)
    assert answer.prediction.intents[0][0] == best
    assert math.isclose(answer.prediction.intents[0][1], expected[best], rel_tol=1e-9)
    assert len(answer.prediction.intents) == RequestOptions().top_k
    ood = sum(w * a.prediction.ood_score for (_, w), a in zip(texts, analyses))
    assert math.isclose(answer.prediction.ood_score, ood, rel_tol=1e-9)


def test_entities_come_from_the_best_transcript_that_fills_the_required_slots(engine):
    answer, _ = combined(engine, [(NO_AMOUNT, 0.6), (WITH_AMOUNT, 0.3), ("transfer fifteen dollars to my savings", 0.1)])
    assert answer.prediction.intent == "transfer_money"
    assert answer.used_alternative == 1  # the top transcript lacks the amount; the next one has it
    assert answer.response.slots_used == {"amount": "50 USD", "account": "savings", "account.destination": "savings"}
    assert all(WITH_AMOUNT[e.start:e.end] == e.text for e in answer.entities)  # offsets into that transcript


def test_when_several_fill_them_the_highest_weight_wins(engine):
    answer, _ = combined(engine, [("transfer fifteen dollars to my savings", 0.2), (WITH_AMOUNT, 0.7)])
    assert answer.used_alternative == 1 and answer.response.slots_used["amount"] == "50 USD"
    answer, _ = combined(engine, [(WITH_AMOUNT, 0.7), ("transfer fifteen dollars to my savings", 0.2)])
    assert answer.used_alternative == 0


def test_carried_slots_count_as_filled(engine):
    options = RequestOptions(filled_slots=(("amount", "50 USD"),))
    answer, _ = combined(engine, [(NO_AMOUNT, 0.6), (WITH_AMOUNT, 0.4)], options)
    assert answer.used_alternative == 0


def test_carried_slots_count_only_where_the_answer_keeps_them(engine):
    # after a transfer, "schedule a payment" is a new request: the transfer's carried amount is
    # dropped from its answer, so the transcript that says the amount is the one to use
    options = RequestOptions(previous_intent="transfer_money", filled_slots=(("amount", "50 USD"),))
    answer, _ = combined(engine, [("schedule a payment for tomorrow", 0.6),
                                  ("schedule a payment of fifty dollars for tomorrow", 0.4)], options)
    assert answer.prediction.intent == "schedule_payment"
    assert answer.used_alternative == 1
    assert answer.response.slots_missing == [] and answer.response.slots_used["amount"] == "50 USD"


def test_a_transcript_is_judged_by_its_values_for_the_chosen_intent(engine):
    # "yesterday" fills a date for the top transcript's own (past) reading, but a scheduled
    # payment's date lies ahead: for the chosen intent only the alternatives fill it
    options = RequestOptions(reference_time=dt.datetime(2026, 11, 25, 17, 0, tzinfo=dt.timezone.utc),
                             time_zone="America/New_York")
    answer, _ = combined(engine, [("did my fifty dollar payment from yesterday go through", 0.4),
                                  ("schedule fifty dollars for tomorrow", 0.3),
                                  ("schedule a payment of fifty dollars for tomorrow", 0.3)], options)
    assert answer.prediction.intent == "schedule_payment"
    assert answer.used_alternative in (1, 2) and answer.response.slots_missing == []
    assert answer.response.slots_used["date"].startswith("2026-11-26")


@pytest.mark.parametrize("other", ["hmm", "blorp zzz qux"])
def test_a_hand_off_never_beats_an_answer(engine, other):
    """A hand-off asks for no slot: counted as filling them all, a lower-weighted "hmm" beat the
    top transcript's "fifty dollars", and the amount was lost."""
    options = RequestOptions(previous_intent="transfer_money")
    answer, _ = combined(engine, [("fifty dollars", 0.7), (other, 0.3)], options)
    assert answer.used_alternative == 0
    assert answer.follow_up is not None and answer.response.slots_used.get("amount") == "50 USD"


def test_weights_by_rank_without_confidences():
    request = pb2.AnalyzeRequest(text="a", alternatives=[pb2.Alternative(text="b"), pb2.Alternative(text="c")])
    transcripts = nbest.admit(request, "a", 100)
    assert [t.weight for t in transcripts] == [1.0, 0.5, 1 / 3]
    request = pb2.AnalyzeRequest(text="a", asr_confidence=0.2, alternatives=[pb2.Alternative(text="b", confidence=0.6)])
    assert [(t.index, t.text, t.weight) for t in nbest.admit(request, "a", 100)] == [
        (0, "a", pytest.approx(0.2)), (1, "b", pytest.approx(0.6))]


# -- over gRPC -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(banking_artifact):
    with ThreadServer(model=banking_artifact, cache_size=0) as srv:
        yield srv


def nbest_request(**kwargs) -> pb2.AnalyzeRequest:
    return pb2.AnalyzeRequest(text=NO_AMOUNT, asr_confidence=0.6, alternatives=[
        pb2.Alternative(text=WITH_AMOUNT, confidence=0.3),
        pb2.Alternative(text="transfer fifty dollars to my savings a count", confidence=0.1)], **kwargs)


def test_answer_says_which_transcript_it_used(server):
    reply = server.stub.Analyze(nbest_request(), timeout=30)
    assert reply.intents[0].name == "transfer_money" and reply.used_alternative == 1
    assert [(e.type, e.text) for e in reply.entities if e.type == "amount"] == [("amount", "fifty dollars")]
    assert all(WITH_AMOUNT[e.start:e.end] == e.text for e in reply.entities)
    assert reply.response.template_id == "transfer_money.response.3"
    plain = server.stub.Analyze(pb2.AnalyzeRequest(text=NO_AMOUNT), timeout=30)
    assert plain.used_alternative == 0 and plain.response.template_id == "transfer_money.prompt.amount"


def test_every_transcript_is_computed_in_one_batch(server):
    runner = server.app.runner
    sizes, batches = server.metric("intentd_batch_size_sum"), server.metric("intentd_batch_size_count")
    release = server.hold_model()
    try:
        call = server.stub.Analyze.future(nbest_request(), timeout=60)
        wait_for(lambda: runner.queued == 3, "the three transcripts to queue")
    finally:
        release.set()
    assert call.result().used_alternative == 1
    assert server.metric("intentd_batch_size_sum") == sizes + 3
    assert server.metric("intentd_batch_size_count") == batches + 1


def test_n_best_in_a_stream(server):
    answers = list(server.stub.AnalyzeStream(iter([nbest_request(is_final=True)]), timeout=30))
    assert answers[0].used_alternative == 1 and answers[0].is_final


def test_a_shed_transcript_sheds_the_request_never_its_answer(banking_artifact):
    """All or nothing: a loaded server that left out the transcript holding the amount would answer
    a different request (no amount: ask for it) than an idle one."""
    request = pb2.AnalyzeRequest(text=NO_AMOUNT, asr_confidence=0.5, alternatives=[
        pb2.Alternative(text="transfer money to my savings", confidence=0.4),
        pb2.Alternative(text=WITH_AMOUNT, confidence=0.1)])
    with ThreadServer(model=banking_artifact, cache_size=0, max_queue=3) as srv:
        idle = srv.stub.Analyze(request, timeout=30)
        assert idle.used_alternative == 2 and idle.response.template_id != "transfer_money.prompt.amount"
        release = srv.hold_model()
        try:
            other = srv.stub.Analyze.future(pb2.AnalyzeRequest(text="hello there"), timeout=30)
            wait_for(lambda: srv.app.runner.queued == 1, "another request to queue")
            with pytest.raises(grpc.RpcError) as err:  # two transcripts fit beside it, the third does not
                srv.stub.Analyze(request, timeout=30)
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert srv.metric("intentd_shed_total", {"reason": "queue_full"}) == 1
        finally:
            release.set()
        assert other.result().intents
        wait_for(lambda: srv.app.runner.in_system == 0, "the admitted transcripts to be cancelled or answered")
        again = srv.stub.Analyze(request, timeout=30)
        assert (again.used_alternative, again.response.template_id) == (idle.used_alternative,
                                                                        idle.response.template_id)
    with ThreadServer(model=banking_artifact, cache_size=0, max_queue=2) as srv:
        with pytest.raises(grpc.RpcError) as err:
            srv.stub.Analyze(request, timeout=30)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # was RESOURCE_EXHAUSTED: clients retried it
        assert "3 transcripts, more than this server admits at once (--max-queue 2)" in err.value.details()


@pytest.mark.parametrize("alternatives, asr_confidence, field", [
    ([pb2.Alternative(text=f"t {i}") for i in range(11)], 0.0, "alternatives: 11 transcripts is over the limit of 10"),
    ([pb2.Alternative(text="ok"), pb2.Alternative(text="")], 0.0, "alternatives[1].text: must not be empty"),
    ([pb2.Alternative(text=" \t")], 0.0, "alternatives[0].text: no visible characters"),
    ([pb2.Alternative(text="x" * 2001)], 0.0, "alternatives[0].text: 2001 characters"),
    ([pb2.Alternative(text="ok", confidence=1.5)], 0.5, "alternatives[0].confidence: 1.5 is outside [0, 1]"),
    ([pb2.Alternative(text="ok", confidence=float("nan"))], 0.5, "alternatives[0].confidence: nan is outside"),
    ([pb2.Alternative(text="ok", confidence=0.2)], -0.1, "asr_confidence: -0.1 is outside [0, 1]"),
    ([pb2.Alternative(text="ok", confidence=0.2)], 0.0, "asr_confidence: missing (0)"),
    ([pb2.Alternative(text="ok", confidence=0.2), pb2.Alternative(text="no")], 0.5,
     "alternatives[1].confidence: missing (0)"),
])
def test_bad_alternatives_are_invalid_argument_naming_the_field(server, alternatives, asr_confidence, field):
    with pytest.raises(grpc.RpcError) as err:
        server.stub.Analyze(pb2.AnalyzeRequest(text="hello", alternatives=alternatives,
                                               asr_confidence=asr_confidence), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith(field), err.value.details()


def test_the_mixture_does_not_depend_on_top_k(engine):
    """How many intents a caller asks to see must not move the scores: each transcript enters
    the mixture with its whole distribution (a cut at max(top_k, 10) once moved a confidence by
    5e-5 and a margin by 3e-3, enough to flip an ambiguity escalation)."""
    texts = [("pay my phone bill", 0.4), ("pay my fone bil", 0.35), ("play my phone bill", 0.25)]
    n_intents = len(engine.model.labels.intents)
    answers = [combined(engine, texts, RequestOptions(top_k=k))[0] for k in (1, 5, 12, n_intents)]
    full = answers[-1].prediction.intents
    assert len(full) == n_intents
    for answer in answers:
        k = len(answer.prediction.intents)
        assert answer.prediction.intents == full[:k]
        assert answer.escalation == answers[-1].escalation
        assert answer.prediction.ood_score == answers[-1].prediction.ood_score


def test_an_n_best_is_admitted_as_one_request(banking_artifact):
    """Admitted transcript by transcript, an n-best found its own first transcripts ahead of the
    rest: an idle server refused it ("retry with backoff", which never helped), and each late
    transcript it did answer cut admission for every other caller."""
    text = "please move fifty dollars from my checking account to my savings"
    request = pb2.AnalyzeRequest(text=text, asr_confidence=0.5, alternatives=[
        pb2.Alternative(text=text.replace("fifty", f"{i} hundred"), confidence=0.05) for i in range(10)])
    # a budget one transcript fits and eleven do not
    with ThreadServer(model=banking_artifact, cache_size=0, slo_p95_ms=6, slo_transport_ms=1) as srv:
        for _ in range(4):
            wait_for(lambda: srv.app.runner.idle, "an idle server")
            assert srv.stub.Analyze(request, timeout=30).intents[0].name == "transfer_money"
        assert srv.metric("intentd_shed_total", {"reason": "budget"}) == 0
        assert srv.metric("intentd_admit_share") == 1.0  # its lateness was its own size, not the load


def test_transcripts_that_fail_together_leave_no_unretrieved_error(banking_artifact, caplog):
    """A stall (or a shared deadline) fails every transcript of an n-best at once: the request got
    its one error, and asyncio logged each sibling's as 'Future exception was never retrieved'."""
    import gc
    import logging

    text = "send money to mom"
    request = pb2.AnalyzeRequest(text=text, asr_confidence=0.5, alternatives=[
        pb2.Alternative(text=f"send {k} dollars to mom", confidence=0.05) for k in range(10)])
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        with ThreadServer(model=banking_artifact, cache_size=0, stall_timeout=1.0) as srv:
            release = srv.hold_model()
            with pytest.raises(grpc.RpcError) as err:
                srv.stub.Analyze(request, timeout=30)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            release.set()
            wait_for(lambda: srv.app.runner.in_system == 0, "the transcripts to leave")
            srv.loop.call_soon_threadsafe(gc.collect)
            assert srv.stub.Analyze(pb2.AnalyzeRequest(text="block my card"), timeout=30).intents
    assert "never retrieved" not in caplog.text


def test_free_text_from_a_lower_weighted_transcript_fills_no_slot(engine):
    """"near me" (0.7) answering "Which city?" asks again; its alternative "near knee" (0.2) was
    chosen for filling the city with its words ("the nearest fee-free ATMs in near knee"): free
    text from a follow-up's words counts as filled only in the highest-weighted transcript."""
    options = RequestOptions(previous_intent="find_atm")
    answer, _ = combined(engine, [("near me", 0.7), ("near knee", 0.2)], options)
    assert answer.used_alternative == 0 and "city" not in answer.response.slots_used
    answer, _ = combined(engine, [("boston", 0.7), ("austin", 0.2)], options)  # the top one's words fill it
    assert answer.used_alternative == 0
