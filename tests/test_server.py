"""The gRPC server end to end: a real server (in a thread), a real channel, the real tiny model."""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from hypothesis import HealthCheck, given, settings as hyp_settings, strategies as st

from intentd.protogen import import_stubs
from intentd.server.app import SERVICE_NAME

from servers import ThreadServer, code_of, copy_artifact, wait_for

pb2, pb2_grpc = import_stubs()


@pytest.fixture(scope="module")
def server(banking_artifact):
    with ThreadServer(model=banking_artifact) as srv:
        yield srv


@pytest.fixture(scope="module")
def admin_server(banking_artifact, tmp_path_factory):
    """A server whose model root is a folder of its own, with ReloadModel on an admin socket, and
    an access log."""
    root = tmp_path_factory.mktemp("models")
    copy_artifact(banking_artifact, root / "banking")
    with ThreadServer(model=root / "banking", admin_uds=root / "admin.sock", access_log=True) as srv:
        srv.root = root
        yield srv


def test_entities_carry_the_role_their_words_give(server):
    reply = server.stub.Analyze(pb2.AnalyzeRequest(text="transfer $20 to my savings from my checking account"),
                                timeout=10)
    roles = {e.resolution.catalog.id: e.role for e in reply.entities if e.type == "account"}
    assert roles == {"savings": pb2.ENTITY_ROLE_DESTINATION, "checking": pb2.ENTITY_ROLE_SOURCE}


@pytest.mark.parametrize("text", ["\U0001F4A9", "\U0001F621 \U0001F621", "\u16A0\u16A2\u16A6",
                                  "\U0001F642!", "\U0001F642\U0001F642\U0001F642?", "....", "$"])
def test_a_text_of_no_known_word_is_out_of_distribution_and_confirms_nothing(server, text):
    """Emoji or an unseen script tokenise to [UNK] alone, which this model read as 'affirm' at
    0.52, under every escalation threshold: after a pending $500 transfer it was a CONFIRM. A
    mark beside it ('?', '!') or marks alone ('....': a CANCEL) read no word either."""
    ctx = pb2.RequestContext(previous_intent="transfer_money",
                             filled_slots={"amount": "500.00 USD", "account": "checking"})
    reply = server.stub.Analyze(pb2.AnalyzeRequest(text=text, context=ctx), timeout=10)
    assert reply.ood.flagged and reply.escalation.reason == pb2.ESCALATION_REASON_OUT_OF_DISTRIBUTION
    assert "vocabulary" in reply.escalation.detail
    assert reply.follow_up.kind == pb2.FOLLOW_UP_KIND_UNSPECIFIED


def test_one_known_word_beside_emoji_is_read(server):
    """The rule is about the vocabulary, not about emoji."""
    ctx = pb2.RequestContext(previous_intent="transfer_money",
                             filled_slots={"amount": "500.00 USD", "account": "checking"})
    reply = server.stub.Analyze(pb2.AnalyzeRequest(text="\U0001F4A9 yes", context=ctx), timeout=10)
    assert not reply.ood.flagged and reply.follow_up.kind == pb2.FOLLOW_UP_KIND_CONFIRM


def test_every_rpc_says_when_it_read_only_the_beginning(server):
    """DetectIntent and Respond answered a 1,400-character text from its first ~880 characters
    (a greeting, escalated) without saying so; Analyze and ExtractEntities did."""
    text = "please " * 200 + "block my debit card"
    replies = [server.stub.DetectIntent(pb2.DetectIntentRequest(text=text), timeout=10),
               server.stub.Respond(pb2.RespondRequest(text=text), timeout=10),
               server.stub.Analyze(pb2.AnalyzeRequest(text=text), timeout=10),
               server.stub.ExtractEntities(pb2.ExtractEntitiesRequest(text=text), timeout=10)]
    assert all(r.truncated for r in replies)
    assert len({r.analyzed_chars for r in replies}) == 1 and 0 < replies[0].analyzed_chars < text.index("block")
    short = server.stub.DetectIntent(pb2.DetectIntentRequest(text="block my debit card"), timeout=10)
    assert not short.truncated and short.analyzed_chars == len("block my debit card")


def test_analyze_returns_everything(server):
    ts = Timestamp()
    ts.FromJsonString("2025-03-14T10:00:00Z")
    reply = server.stub.Analyze(pb2.AnalyzeRequest(
        text="send 200 dollars to my savings account tomorrow", top_k=3, reference_time=ts,
        time_zone="Europe/Berlin", locale="en-US",
        context=pb2.RequestContext(session_id="s1", filled_slots={"currency": "USD"})), timeout=10)
    assert reply.intents[0].name == "transfer_money"
    assert len(reply.intents) == 3
    assert [i.confidence for i in reply.intents] == sorted((i.confidence for i in reply.intents), reverse=True)
    assert reply.entities and all(e.text for e in reply.entities)
    text = "send 200 dollars to my savings account tomorrow"
    assert all(text[e.start:e.end] == e.text for e in reply.entities)
    assert reply.ood.threshold > 0
    assert {"ood_score", "top_confidence", "margin"} <= set(reply.escalation.scores)
    assert reply.model_version
    assert reply.timing.total_us > 0 and reply.timing.batch_size >= 1


def test_subset_rpcs(server):
    intent = server.stub.DetectIntent(pb2.DetectIntentRequest(text="block my card", top_k=2), timeout=10)
    assert len(intent.intents) == 2 and intent.model_version
    entities = server.stub.ExtractEntities(pb2.ExtractEntitiesRequest(text="pay 50 euros to alice"), timeout=10)
    assert all(e.type for e in entities.entities)
    respond = server.stub.Respond(pb2.RespondRequest(text="what is my balance"), timeout=10)
    assert respond.intent.name and respond.model_version


def test_repeated_utterance_hits_the_cache(server):
    first = server.stub.Analyze(pb2.AnalyzeRequest(text="agent please"), timeout=10)
    again = server.stub.Analyze(pb2.AnalyzeRequest(text="agent please"), timeout=10)
    assert again.timing.cache_hit and again.timing.batch_size == 0
    assert again.intents == first.intents and again.ood == first.ood and again.response == first.response
    for other in ("Agent PLEASE", "agent please "):  # another spelling is another request
        reply = server.stub.Analyze(pb2.AnalyzeRequest(text=other), timeout=10)
        assert not reply.timing.cache_hit and reply.analyzed_chars == len(other)


def test_model_info(server, banking_artifact):
    info = server.stub.GetModelInfo(pb2.GetModelInfoRequest(), timeout=10)
    labels = json.loads((Path(banking_artifact) / "labels.json").read_text())
    assert list(info.intents) == labels["intents"]
    # the model's types, then the domain's pattern types (found by the resolvers alone)
    assert list(info.entity_types) == labels["entity_types"] + ["account_number", "reference"]
    assert info.execution_provider.endswith("ExecutionProvider")
    assert info.thresholds.ood > 0 and info.thresholds.low_confidence > 0
    assert info.max_text_chars == 2000 and info.version


def test_stream_answers_each_message_in_order(server):
    texts = ["i want to", "i want to block", "i want to block my card", "what is my balance", "yes"] * 4
    answers = list(server.stub.AnalyzeStream(iter(pb2.AnalyzeRequest(text=t) for t in texts), timeout=30))
    assert len(answers) == len(texts)
    expected = [server.stub.Analyze(pb2.AnalyzeRequest(text=t), timeout=10).intents[0].name for t in texts]
    assert [a.intents[0].name for a in answers] == expected


def test_stream_bad_message_ends_stream_with_its_code(server):
    answers = []
    with pytest.raises(grpc.RpcError) as err:
        for answer in server.stub.AnalyzeStream(iter([pb2.AnalyzeRequest(text="hello"), pb2.AnalyzeRequest(text=" ")]),
                                                timeout=30):
            answers.append(answer)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and len(answers) == 1


def test_health_and_reflection(server):
    health = health_pb2_grpc.HealthStub(server.channel)
    for name in ("", SERVICE_NAME):
        assert health.Check(health_pb2.HealthCheckRequest(service=name), timeout=10).status == \
            health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(server.channel)
    replies = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                              timeout=10)
    names = {s.name for reply in replies for s in reply.list_services_response.service}
    assert {SERVICE_NAME, "grpc.health.v1.Health"} <= names


@pytest.mark.parametrize("reference", ["2026-11-29T12:00:00Z", "2026-11-29T17:00:00Z"])  # 7:00 and noon in New York
def test_detect_intent_reads_a_turns_dates_as_analyze_does(server, reference):
    """Whether a turn follows the one before can depend on its dates; DetectIntent took no
    reference time or zone, so it read them at the server's "now" in UTC and routed otherwise."""
    ctx = pb2.RequestContext(previous_intent="schedule_payment", filled_slots={"amount": "40.00 USD"})
    ts = Timestamp()
    ts.FromJsonString(reference)
    fields = dict(text="make it today at 9am", context=ctx, reference_time=ts, time_zone="America/New_York")
    analyzed = server.stub.Analyze(pb2.AnalyzeRequest(**fields), timeout=10)
    detected = server.stub.DetectIntent(pb2.DetectIntentRequest(**fields), timeout=10)
    assert (detected.follow_up, list(detected.intents), detected.escalation) == \
        (analyzed.follow_up, list(analyzed.intents), analyzed.escalation)


@pytest.mark.parametrize("request_, field", [
    (pb2.AnalyzeRequest(text=""), "text"),
    (pb2.AnalyzeRequest(text=" \t\n "), "text"),
    (pb2.AnalyzeRequest(text="x" * 2001), "text"),
    (pb2.AnalyzeRequest(text="hi", time_zone="Mars/Olympus_Mons"), "time_zone"),
    (pb2.AnalyzeRequest(text="hi", time_zone="../../etc/passwd"), "time_zone"),
    (pb2.AnalyzeRequest(text="hi", locale="not a locale!"), "locale"),
    (pb2.AnalyzeRequest(text="hi", top_k=100_000), "top_k"),
    (pb2.AnalyzeRequest(text="hi", context=pb2.RequestContext(filled_slots={f"s{i}": "v" for i in range(65)})),
     "context.filled_slots"),
])
def test_bad_input_is_invalid_argument(server, request_, field):
    def timed(code: str) -> float:  # refusals apart from answers: they would pull its quantiles down
        return server.metric("intentd_rpc_latency_seconds_count", {"rpc": "Analyze", "code": code})

    before = timed("INVALID_ARGUMENT"), timed("OK")
    with pytest.raises(grpc.RpcError) as err:
        server.stub.Analyze(request_, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith(field)
    assert server.stub.Analyze(pb2.AnalyzeRequest(text="still serving?"), timeout=10).intents
    wait_for(lambda: (timed("INVALID_ARGUMENT"), timed("OK")) == (before[0] + 1, before[1] + 1), "both timed apart")


def test_reload_is_refused_on_the_data_listener(server, banking_artifact):
    for path in (str(banking_artifact), "", "../../etc"):
        with pytest.raises(grpc.RpcError) as err:
            server.stub.ReloadModel(pb2.ReloadModelRequest(artifact_path=path), timeout=10)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert err.value.details().startswith("ReloadModel is not served on this listener (only on")
        assert path not in err.value.details() or not path  # nothing about the path


def test_hot_reload_under_load(admin_server, banking_artifact, tmp_path_factory):
    # a genuinely different model: the same artifact serving its FP32 graph (other weights, other scores)
    copy_artifact(banking_artifact, admin_server.root / "v2", model="model.fp32.onnx")
    server = admin_server
    probe = pb2.AnalyzeRequest(text="how much is in my checking account")
    before = server.stub.Analyze(probe, timeout=10)
    stop, codes, versions = threading.Event(), [], set()

    def load(worker: int) -> None:
        i = 0
        while not stop.is_set():
            calls = [server.stub.Analyze.future(pb2.AnalyzeRequest(text=f"transfer {worker * 10_000 + i + j} euros"),
                                                timeout=30) for j in range(8)]
            for call in calls:
                codes.append(code_of(call))
                if codes[-1] == grpc.StatusCode.OK:
                    versions.add(call.result().model_version)
            i += 8

    with ThreadPoolExecutor(2) as pool:
        workers = [pool.submit(load, w) for w in range(2)]
        wait_for(lambda: len(codes) >= 16, "load to start")
        reply = server.admin.ReloadModel(pb2.ReloadModelRequest(artifact_path="v2"), timeout=60)
        seen = len(codes)
        wait_for(lambda: len(codes) >= seen + 16, "load after the swap")
        stop.set()
        for w in workers:
            w.result()
    assert reply.ok, reply.error
    assert reply.previous_version == before.model_version != reply.version
    assert set(codes) == {grpc.StatusCode.OK}
    assert {before.model_version, reply.version} >= versions and reply.version in versions
    after = server.stub.Analyze(probe, timeout=10)
    assert after.model_version == reply.version
    assert after.intents[0].confidence != before.intents[0].confidence  # answered by the other model
    drift = [server.app.metrics.registry.get_sample_value(name, {"version": v}) for v in (before.model_version,
             reply.version) for name in ("intentd_ood_rate", "intentd_escalation_rate")]
    assert drift[:2] == [None, None] and None not in drift[2:]  # the old model's rates left with it
    # back to the original, so test order does not matter
    assert server.admin.ReloadModel(pb2.ReloadModelRequest(artifact_path="banking"), timeout=60).ok


def test_an_answer_admitted_before_a_reload_and_computed_after_it_is_all_the_new_models(admin_server,
                                                                                        banking_artifact):
    """A request queued while the model is swapped is computed by the new model: its OOD threshold
    (and everything else) must be the new model's too, never the one current at admission."""
    import json as json_

    server = admin_server
    manifest = json_.loads((banking_artifact / "manifest.json").read_text())
    calibration = manifest["calibration"]
    calibration["ood"] = {**calibration["ood"], "threshold": calibration["ood"]["threshold"] + 1.25}
    copy_artifact(banking_artifact, server.root / "raised", calibration=calibration)
    before = server.stub.GetModelInfo(pb2.GetModelInfoRequest(), timeout=10)
    release = server.hold_model()  # requests now queue
    single = server.stub.Analyze.future(pb2.AnalyzeRequest(text="how much is in my checking account"), timeout=60)
    nbest = server.stub.Analyze.future(pb2.AnalyzeRequest(
        text="block my card", alternatives=[pb2.Alternative(text="lock my card")]), timeout=60)
    wait_for(lambda: server.metric("intentd_requests_in_progress") >= 3, "the requests to queue")
    try:
        reply = server.admin.ReloadModel(pb2.ReloadModelRequest(artifact_path="raised"), timeout=60)
    finally:
        release.set()
    assert reply.ok, reply.error
    after = server.stub.GetModelInfo(pb2.GetModelInfoRequest(), timeout=10)
    assert after.thresholds.ood == pytest.approx(before.thresholds.ood + 1.25, abs=1e-6)
    for answer in (single.result(), nbest.result()):
        assert answer.model_version == after.version
        assert answer.ood.threshold == pytest.approx(after.thresholds.ood, abs=1e-6)
        assert answer.ood.flagged == (answer.ood.score >= answer.ood.threshold)
    assert server.admin.ReloadModel(pb2.ReloadModelRequest(artifact_path="banking"), timeout=60).ok


def test_reload_refuses_what_is_not_a_clean_artifact_under_the_root(admin_server, banking_artifact, tmp_path):
    root = admin_server.root
    before = admin_server.stub.GetModelInfo(pb2.GetModelInfoRequest(), timeout=10).version
    outside = copy_artifact(banking_artifact, tmp_path / "outside")
    (root / "link").symlink_to(outside)
    secret = root / "secret.txt"
    secret.write_text("db_password: hunter2\n")
    unhashed = copy_artifact(banking_artifact, root / "unhashed")
    (unhashed / "domain.yaml").write_text("intents: {transfer_money: {response: 'attacker text'}}\n")
    edited = copy_artifact(banking_artifact, root / "edited")
    manifest = json.loads((edited / "manifest.json").read_text())
    manifest["calibration"]["ood"]["threshold"] = 1e9  # never escalate, same version string
    (edited / "manifest.json").write_text(json.dumps(manifest))
    copy_artifact(banking_artifact, root / "escaping", domain="../secret.txt")
    fifo = root / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / "manifest.json")
    for path in (str(outside), "link", "../outside", "missing", "unhashed", "edited", "escaping", "fifo",
                 str(root / "secret.txt")):
        reply = admin_server.admin.ReloadModel(pb2.ReloadModelRequest(artifact_path=path), timeout=30)
        assert not reply.ok and reply.version == before == reply.previous_version, path
        assert reply.error.startswith("reload failed:") and "hunter2" not in reply.error and "secret" not in reply.error
        assert str(root) not in reply.error and str(tmp_path) not in reply.error, reply.error
    assert admin_server.stub.Analyze(pb2.AnalyzeRequest(text="hello"), timeout=10).model_version == before


def test_a_domain_regex_that_backtracks_on_a_callers_text_never_stalls_the_server(banking_artifact, tmp_path):
    """A caller's "ref" and digits against a domain pattern with a nested repetition held the event
    loop (Python's re keeps the GIL): 27 digits froze every caller and the health check for 5 s,
    40 for hours. Each search now has a time bound, and the text is answered without the value."""
    import yaml

    from intentd.models.build import write_manifest

    root = copy_artifact(banking_artifact, tmp_path / "slow-pattern")
    domain = yaml.safe_load((root / "domain.yaml").read_text(encoding="utf-8"))
    domain["entities"]["reference"]["pattern"] = r"\bref((?:1|11)+)\b"
    (root / "domain.yaml").write_text(yaml.safe_dump(domain, sort_keys=False), encoding="utf-8")
    write_manifest(root, json.loads((root / "manifest.json").read_text()))
    with ThreadServer(model=root) as srv:
        attack = srv.stub.Analyze.future(pb2.AnalyzeRequest(text="ref" + "1" * 200 + "x"), timeout=30)
        other = srv.stub.Analyze(pb2.AnalyzeRequest(text="what's my checking balance"), timeout=30)
        assert other.intents[0].name == "check_balance"
        assert not [e for e in attack.result().entities if e.type == "reference"]
        found = srv.stub.Analyze(pb2.AnalyzeRequest(text="status of ref111 please"), timeout=30)
        assert [e.text for e in found.entities if e.type == "reference"] == ["ref111"]


def test_undecodable_request_is_invalid_argument(server):
    analyze = server.channel.unary_unary("/intentd.v1.IntentService/Analyze",
                                         request_serializer=lambda raw: raw,
                                         response_deserializer=pb2.AnalyzeResponse.FromString)
    bad_utf8 = b"\x0a\x04\xff\xfe\xfd\xfc"  # field 1 (text), 4 bytes that are not UTF-8
    for raw in (bad_utf8, b"\x0a\x7f"):  # and a length past the end of the message
        with pytest.raises(grpc.RpcError) as err:
            analyze(raw, timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.value.details().startswith("request: not a valid AnalyzeRequest")
    assert server.stub.Analyze(pb2.AnalyzeRequest(text="still serving?"), timeout=10).intents


def test_request_id_is_returned_and_generated(server):
    _, call = server.stub.Analyze.with_call(pb2.AnalyzeRequest(text="what is my balance"), timeout=10,
                                            metadata=(("x-request-id", "req-42"),))
    assert ("x-request-id", "req-42") in call.trailing_metadata()
    _, call = server.stub.Analyze.with_call(pb2.AnalyzeRequest(text="what is my balance"), timeout=10)
    generated = dict(call.trailing_metadata())["x-request-id"]
    assert len(generated) == 32 and generated != "req-42"
    with pytest.raises(grpc.RpcError) as err:  # errors carry it too
        server.stub.Analyze(pb2.AnalyzeRequest(text=""), timeout=10, metadata=(("x-request-id", "bad-1"),))
    assert ("x-request-id", "bad-1") in err.value.trailing_metadata()


_texts = st.one_of(
    st.text(max_size=50),
    st.text(st.characters(categories=("Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "So")), max_size=300),
    st.text(min_size=1990, max_size=2010),
)


@hyp_settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                      HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=_texts, top_k=st.integers(0, 2000), time_zone=st.sampled_from(["", "UTC", "Asia/Tokyo", "Nowhere/X"]),
       locale=st.text(max_size=12))
def test_arbitrary_input_never_breaks_the_server(server, text, top_k, time_zone, locale):
    reply = _answer_or_invalid(server, pb2.AnalyzeRequest(text=text, top_k=top_k, time_zone=time_zone, locale=locale))
    if reply is not None:
        assert all(text[e.start:e.end] == e.text for e in reply.entities)


def _answer_or_invalid(server, request):
    """The answer, which names an intent, or None when the server said INVALID_ARGUMENT."""
    try:
        reply = server.stub.Analyze(request, timeout=30)
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, exc.details()
        return None
    assert reply.intents
    return reply


_words = st.lists(st.sampled_from(["pay", "50", "euros", "to", "savings", "tomorrow", "at", "3pm", "yes", "no",
                                   "checking", "", " ", "\x00", "é", "the", "other", "one"]), max_size=12).map(" ".join)
_floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.sampled_from([0.0, 1.0, -1.0]))
_requests = st.builds(
    lambda text, seconds, nanos, zone, previous, slots, alternatives, asr: pb2.AnalyzeRequest(
        text=text, time_zone=zone, reference_time=None if seconds is None else Timestamp(seconds=seconds, nanos=nanos),
        context=pb2.RequestContext(previous_intent=previous, filled_slots=slots),
        alternatives=[pb2.Alternative(text=t, confidence=c) for t, c in alternatives], asr_confidence=asr),
    text=_words, seconds=st.one_of(st.none(), st.integers(-62135596800, 253402300799)),
    nanos=st.integers(0, 999_999_999), zone=st.sampled_from(["", "UTC", "America/New_York", "Nowhere/X", "+05:00"]),
    previous=st.sampled_from(["", "transfer_money", "check_balance", "not_an_intent"]),
    slots=st.dictionaries(st.sampled_from(["amount", "account", "date", "x"]), _words, max_size=3),
    alternatives=st.lists(st.tuples(_words, _floats), max_size=6), asr=_floats)


@hyp_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                      HealthCheck.too_slow])
@given(request=_requests)
def test_arbitrary_options_never_break_the_server(server, request):
    """Reference times from year 1 to 9999, unknown zones, follow-up context, n-best lists with
    any confidences: an answer or INVALID_ARGUMENT, never an internal error."""
    _answer_or_invalid(server, request)


@hyp_settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                      HealthCheck.too_slow])
@given(messages=st.lists(st.tuples(_requests, st.one_of(st.none(), st.booleans()), st.integers(0, 5)), max_size=8))
def test_arbitrary_streams_never_break_the_server(server, messages):
    """Any mix of partials, finals, repeated or falling sequence numbers and bad messages: answers
    in order up to the first bad message, which ends the stream with INVALID_ARGUMENT. (grpcio's
    synchronous client: grpc.aio's can report INTERNAL when it is still writing, docs/voice.md.)"""
    stream = []
    for request, is_final, sequence in messages:
        request.sequence = sequence
        if is_final is not None:
            request.is_final = is_final
        stream.append(request)
    answers = []
    try:
        answers.extend(server.stub.AnalyzeStream(iter(stream), timeout=30))
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, exc.details()
        assert len(answers) < len(stream)
    else:
        assert len(answers) == len(stream)
    # each answer carries its message's sequence, or its 1-based position for a message without one
    assert [a.sequence for a in answers] == [m.sequence or i for i, m in enumerate(stream[:len(answers)], 1)]


# -- queueing behaviour: a server of its own, with a small queue and no cache -------------------


@pytest.fixture(scope="module")
def small_server(banking_artifact):
    with ThreadServer(model=banking_artifact, max_queue=4, cache_size=0) as srv:
        yield srv


def test_burst_is_shed_not_queued_without_bound(small_server):
    release = small_server.hold_model()
    try:
        calls = [small_server.stub.Analyze.future(pb2.AnalyzeRequest(text=f"what is my balance {i}"), timeout=60)
                 for i in range(24)]
        # With the model held, 4 are admitted (the bound counts every admitted request): 20 are shed at once.
        wait_for(lambda: sum(c.done() for c in calls) >= 20, "the burst to be shed")
    finally:
        release.set()
    codes = [code_of(c) for c in calls]
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 20 and codes.count(grpc.StatusCode.OK) == 4
    assert small_server.metric("intentd_shed_total", {"reason": "queue_full"}) >= 20


def computed(server) -> float:
    """Requests that went through a forward pass so far."""
    return server.metric("intentd_batch_size_sum")


def test_deadline_expiry(small_server):
    # The model is held, so the deadline passes whatever the machine's speed (gRPC keeps deadlines
    # in milliseconds: a "1 us" deadline with a free model was answered OK 48 times in 300 here).
    release = small_server.hold_model()
    try:
        with pytest.raises(grpc.RpcError) as err:
            small_server.stub.Analyze(pb2.AnalyzeRequest(text="deadline passes while queued"), timeout=0.5)
        before = computed(small_server)
    finally:
        release.set()
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # the expired entry is dropped when the next batch is built, never computed: only "next one" is
    small_server.stub.Analyze(pb2.AnalyzeRequest(text="next one"), timeout=10)
    assert computed(small_server) == before + 1


def test_cancelled_call_is_dropped_from_the_queue(small_server):
    cancelled = small_server.metric("intentd_cancelled_total")
    release = small_server.hold_model()
    try:
        victim = small_server.stub.Analyze.future(pb2.AnalyzeRequest(text="caller goes away"), timeout=60)
        wait_for(lambda: small_server.app.runner.queued == 1, "the victim to queue")
        victim.cancel()
        wait_for(lambda: small_server.metric("intentd_rpc_total", {"rpc": "Analyze", "code": "CANCELLED"}) >= 1,
                 "the cancel to arrive")
        before = computed(small_server)
    finally:
        release.set()
    small_server.stub.Analyze(pb2.AnalyzeRequest(text="after the cancel"), timeout=10)
    assert small_server.metric("intentd_cancelled_total") == cancelled + 1
    assert computed(small_server) == before + 1


def test_cancelled_streams_are_each_counted_as_cancelled(small_server):
    """A stream cancelled right after its answer is read ends while its handler waits at a
    `yield`: it is still counted once, as CANCELLED, with its latency (1 in 5 went uncounted
    against a separate server process under load)."""
    def counted() -> dict:
        return {code.name: n for code in grpc.StatusCode
                if (n := small_server.metric("intentd_rpc_total", {"rpc": "AnalyzeStream", "code": code.name}))}

    def timed() -> float:
        return sum(small_server.metric("intentd_rpc_latency_seconds_count", {"rpc": "AnalyzeStream", "code": c.name})
                   for c in grpc.StatusCode)

    def requests():
        yield pb2.AnalyzeRequest(text="what is my balance")
        time.sleep(30)  # the client cancels before sending more

    before, before_timed, n = counted(), timed(), 100  # a race: in-process, 0-1 in 100 went uncounted
    for _ in range(n):
        call = small_server.stub.AnalyzeStream(requests(), timeout=60)
        next(call)
        call.cancel()
    expected = {**before, "CANCELLED": before.get("CANCELLED", 0) + n}
    try:
        wait_for(lambda: counted() == expected, "every stream to be counted as cancelled")
    except AssertionError:
        raise AssertionError(f"AnalyzeStream calls by status: {counted()}, expected {expected}") from None
    assert timed() == before_timed + n


def test_serves_another_onnx_file_of_the_artifact(banking_artifact):
    with ThreadServer(model=banking_artifact, onnx_file="model.fp32.onnx") as srv:
        reply = srv.stub.Analyze(pb2.AnalyzeRequest(text="what is my savings balance"), timeout=30)
        assert reply.intents
        assert srv.app.runner.current.model.artifact.manifest["model"] == "model.fp32.onnx"


def test_connections_and_calls_per_connection_are_bounded(banking_artifact):
    """Calls that send their headers and never their message held memory with no bound (400
    connections x 2,000 such calls: 195 -> 620 MB in 11 s): the server takes at most
    --max-connections connections and advertises --max-calls-per-connection streams on each."""
    import socket
    import struct

    with ThreadServer(model=banking_artifact, max_connections=2, max_calls_per_connection=5) as srv:
        with socket.create_connection(("127.0.0.1", srv.app.port), timeout=10) as raw:
            raw.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
            header = raw.recv(9, socket.MSG_WAITALL)
            length, kind = int.from_bytes(header[:3], "big"), header[3]
            payload = raw.recv(length, socket.MSG_WAITALL)
            assert kind == 4  # the server's SETTINGS come first
            settings = dict(struct.unpack(">HI", payload[i:i + 6]) for i in range(0, len(payload), 6))
            assert settings[3] == 5  # SETTINGS_MAX_CONCURRENT_STREAMS
            channels = [grpc.insecure_channel(f"127.0.0.1:{srv.app.port}", options=[("grpc.use_local_subchannel_pool", 1)])
                        for _ in range(2)]
            try:
                first = pb2_grpc.IntentServiceStub(channels[0]).Analyze(pb2.AnalyzeRequest(text="what is my balance"),
                                                                        timeout=30)
                assert first.intents  # the second connection
                with pytest.raises(grpc.RpcError) as refused:  # a third: over the bound
                    pb2_grpc.IntentServiceStub(channels[1]).Analyze(pb2.AnalyzeRequest(text="what is my balance"),
                                                                    timeout=5)
                assert refused.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
            finally:
                for channel in channels:
                    channel.close()


def test_a_request_and_the_calls_open_at_once_are_bounded_as_admission_bounds_them(banking_artifact):
    """gRPC's default receive limit (4 MiB) let one connection's 100 calls each buffer a message
    that never ended (RSS 203 -> 627 MB in 1.4 s, three connections 1.47 GB), and calls that sent
    only their headers took 256 connections to 1.35 GB: a request is bounded by the largest one
    admission accepts, and the calls open at once by --max-calls (default: room for every admitted
    request and stream)."""
    from intentd.server.admission import MAX_CONTEXT_CHARS, MAX_CONTEXT_ITEMS
    from intentd.server.app import max_request_bytes
    from intentd.server.nbest import MAX_ALTERNATIVES

    with ThreadServer(model=banking_artifact, max_calls=2) as srv:
        wide = "\U0001F600" * (srv.app.settings.max_text_chars - 9)  # four UTF-8 bytes a code point
        largest = pb2.AnalyzeRequest(
            text="balance " + wide[:-1] + "?",
            alternatives=[pb2.Alternative(text="balance " + wide, confidence=0.5)] * MAX_ALTERNATIVES,
            context=pb2.RequestContext(filled_slots={f"{i:03d}" + "\u00e9" * (MAX_CONTEXT_CHARS - 3):
                                                     "\U0001F600" * MAX_CONTEXT_CHARS for i in range(MAX_CONTEXT_ITEMS)}))
        assert largest.ByteSize() < max_request_bytes(srv.app.settings)
        try:
            srv.stub.Analyze(largest, timeout=30)
        except grpc.RpcError as exc:  # admission may refuse its content, never gRPC its size
            assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, exc
        too_big = pb2.AnalyzeRequest(text="x" * (max_request_bytes(srv.app.settings) + 1))
        with pytest.raises(grpc.RpcError) as refused:
            srv.stub.Analyze(too_big, timeout=30)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

        def held():  # a stream that sends one text and then waits
            yield pb2.AnalyzeRequest(text="what is my balance")
            time.sleep(60)

        streams = [srv.stub.AnalyzeStream(held(), timeout=60) for _ in range(2)]
        try:
            for stream in streams:
                next(stream)
            with pytest.raises(grpc.RpcError) as over:
                srv.stub.Analyze(pb2.AnalyzeRequest(text="what is my balance"), timeout=30)
            assert over.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        finally:
            for stream in streams:
                stream.cancel()
        wait_for(lambda: _answered(srv), "a call once the streams are gone")


def _answered(srv) -> bool:
    try:
        return bool(srv.stub.Analyze(pb2.AnalyzeRequest(text="what is my balance"), timeout=30).intents)
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        return False


def test_reload_refuses_a_path_with_a_null_byte(admin_server):
    """It was answered INTERNAL, a `ValueError: embedded null byte` traceback in the log."""
    before = admin_server.stub.GetModelInfo(pb2.GetModelInfoRequest(), timeout=10).version
    reply = admin_server.admin.ReloadModel(pb2.ReloadModelRequest(artifact_path="banking\x00"), timeout=30)
    assert not reply.ok and reply.version == before
    assert reply.error == "reload failed: not an artifact folder under the server's model root"


def test_a_refused_reload_logs_a_bounded_line_and_is_access_logged_as_failed(admin_server, caplog):
    """A 5,000-character artifact_path became one 5,000-character ERROR line; and the access log
    said only "OK" (the status of an answered call) for a reload that failed."""
    caplog.set_level("INFO", logger="intentd.access")
    path = "missing/" + "x" * 5000
    reply = admin_server.admin.ReloadModel(pb2.ReloadModelRequest(artifact_path=path), timeout=30,
                                           metadata=(("x-request-id", "reload-1"),))
    assert not reply.ok

    def access_line() -> dict | None:
        lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "intentd.access"]
        return next((line for line in lines if line["request_id"] == "reload-1"), None)
    wait_for(lambda: access_line() is not None, "the access log line")
    assert access_line()["code"] == "OK" and access_line()["reload"] == "failed"
    [refused] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("reload refused")]
    assert "'missing/xxx" in refused and "5008 characters" in refused and len(refused) < 500


def test_a_reload_from_a_folder_named_with_a_newline_logs_one_line(admin_server, caplog):
    """A folder under the root whose name held a newline forged log lines in "reload from ... failed"
    (the refused case was quoted already)."""
    broken = admin_server.root / "nl\nERROR forged"
    broken.mkdir()
    (broken / "manifest.json").write_text("{}")
    with caplog.at_level("ERROR", logger="intentd.server.reload"):
        reply = admin_server.admin.ReloadModel(pb2.ReloadModelRequest(artifact_path=broken.name), timeout=30)
    assert not reply.ok
    [failed] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("reload from")]
    assert "\n" not in failed and "nl\\nERROR forged" in failed, failed


def test_a_model_root_others_may_write_to_is_warned(banking_artifact, tmp_path, caplog):
    """Without --model-root the root is the folder holding --model, /tmp at times: an artifact a
    co-tenant put there was loaded by a relative ReloadModel name, without a word."""
    shared = tmp_path / "shared"
    copy_artifact(banking_artifact, shared / "banking")
    shared.chmod(0o777)
    with caplog.at_level("WARNING", logger="intentd.server.app"):
        with ThreadServer(model=shared / "banking"):
            pass
    assert f"the model root {shared.resolve()} is writable by every user" in caplog.text
    caplog.clear()
    shared.chmod(0o755)
    with caplog.at_level("WARNING", logger="intentd.server.app"):
        with ThreadServer(model=shared / "banking"):
            pass
    assert "writable by every user" not in caplog.text


def test_a_blank_request_id_is_replaced_by_a_generated_one(server):
    for blank in ("", "   "):
        _, call = server.stub.Analyze.with_call(pb2.AnalyzeRequest(text="what is my balance"), timeout=10,
                                                metadata=(("x-request-id", blank),))
        generated = dict(call.trailing_metadata())["x-request-id"]
        assert len(generated) == 32 and generated.isalnum()


def _raw_analyze(port: int, request, metadata: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """An Analyze call over a bare HTTP/2 connection, for metadata grpc's own client refuses to send
    (it holds a request's values to the rule a server's trailers must keep: ASCII); the headers
    and trailers of the answer."""
    import socket

    from hpack import Decoder, Encoder

    from intentd.loadtest.http2 import (DATA, END_HEADERS, END_STREAM, HEADERS, PREFACE, SETTINGS, frame,
                                        grpc_message, take_frames)

    headers = Encoder().encode([(b":method", b"POST"), (b":scheme", b"http"), (b":authority", b"intentd"),
                                (b":path", b"/intentd.v1.IntentService/Analyze"),
                                (b"content-type", b"application/grpc"), (b"te", b"trailers"), *metadata],
                               huffman=False)
    answer, buffer, decoder = {}, bytearray(), Decoder()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        raw.sendall(PREFACE + frame(SETTINGS, 0, 0) + frame(HEADERS, END_HEADERS, 1, headers)
                    + frame(DATA, END_STREAM, 1, grpc_message(request.SerializeToString())))
        while b"grpc-status" not in answer:
            received = raw.recv(65536)
            assert received, f"the connection closed before the call's status: {answer}"
            buffer += received
            for kind, _, stream, payload in take_frames(buffer):
                if kind == HEADERS and stream == 1:
                    answer.update(decoder.decode(payload, raw=True))
    return answer


@pytest.mark.parametrize("request_id", ["été-42".encode(), b"\xff\xfe"])
def test_a_request_id_that_is_not_ascii_is_replaced_by_a_generated_one(server, request_id):
    """It was echoed in the trailers, which must be ASCII: grpc turned the answered call into
    INTERNAL "Invalid metadata" for its caller, while the access log and metrics said OK."""
    answer = _raw_analyze(server.app.port, pb2.AnalyzeRequest(text="what is my balance"),
                          [(b"x-request-id", request_id)])
    assert answer[b"grpc-status"] == b"0", answer
    generated = answer[b"x-request-id"]
    assert len(generated) == 32 and generated.isalnum()


def test_the_access_log_redacts_the_session_id_as_the_review_file_does(banking_artifact, caplog):
    """--capture-redact-digits kept a session id out of the review file (a caller may use a phone
    number or an address as one) and wrote it in clear to the access log."""
    session = "tom.jones@example.com +1 415 555 0100"
    caplog.set_level("INFO", logger="intentd.access")
    with ThreadServer(model=banking_artifact, access_log=True, capture_redact_digits=True) as srv:
        srv.stub.Analyze(pb2.AnalyzeRequest(text="what is my balance", context=pb2.RequestContext(session_id=session)),
                         timeout=30)
        wait_for(lambda: any(r.name == "intentd.access" for r in caplog.records), "the access log line")
    [line] = [json.loads(r.getMessage()) for r in caplog.records if r.name == "intentd.access"]
    assert line["session_id"] == "<email> +0 000 000 0000"


def test_the_access_log_redacts_a_refusals_caller_values_not_the_servers_numbers(banking_artifact, caplog):
    """--capture-redact-digits masked the whole refusal: "text: 00000 characters is over the limit of
    0000", the limit an operator needs to see lost; only the values the caller sent are redacted."""
    caplog.set_level("INFO", logger="intentd.access")
    with ThreadServer(model=banking_artifact, access_log=True, capture_redact_digits=True) as srv:
        for request in (pb2.AnalyzeRequest(text="x" * 2001), pb2.AnalyzeRequest(text="hi", time_zone="+1 415 555 0100")):
            with pytest.raises(grpc.RpcError):
                srv.stub.Analyze(request, timeout=30)
        wait_for(lambda: sum(r.name == "intentd.access" for r in caplog.records) == 2, "the access log lines")
    errors = [json.loads(r.getMessage())["error"] for r in caplog.records if r.name == "intentd.access"]
    assert errors[0] == "text: 2001 characters is over the limit of 2000", errors
    assert errors[1].startswith("time_zone: '+0 000 000 0000' is not a known IANA time zone"), errors


@pytest.mark.parametrize("time_zone", ["localtime", "posixrules", "Factory", "right/UTC", "posix/Europe/Berlin"])
def test_only_iana_time_zones_are_accepted(server, time_zone):
    """`localtime` is the host's zone (answers changed with the machine); the others are not places."""
    with pytest.raises(grpc.RpcError) as err:
        server.stub.Analyze(pb2.AnalyzeRequest(text="pay my bill tomorrow", time_zone=time_zone), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and err.value.details().startswith("time_zone:")
    for known in ("Europe/Berlin", "America/New_York", "UTC", "US/Eastern"):
        assert server.stub.Analyze(pb2.AnalyzeRequest(text="pay my bill tomorrow", time_zone=known), timeout=10).intents


def test_an_undecodable_model_info_request_is_invalid_argument(server):
    model_info = server.channel.unary_unary("/intentd.v1.IntentService/GetModelInfo",
                                            request_serializer=lambda raw: raw,
                                            response_deserializer=pb2.ModelInfo.FromString)
    with pytest.raises(grpc.RpcError) as err:
        model_info(b"\x0a\x7f", timeout=10)  # a length past the end of the message
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith("request: not a valid GetModelInfoRequest")
