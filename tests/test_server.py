"""The gRPC server end to end: a real server (in a thread), a real channel, the real tiny model."""

from __future__ import annotations

import json
import shutil
import threading
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

from servers import ThreadServer, code_of, wait_for

pb2, pb2_grpc = import_stubs()


@pytest.fixture(scope="module")
def server(banking_artifact):
    with ThreadServer(model=banking_artifact) as srv:
        yield srv


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
    again = server.stub.Analyze(pb2.AnalyzeRequest(text="  Agent   PLEASE "), timeout=10)
    assert again.timing.cache_hit and again.timing.batch_size == 0
    assert [i.name for i in again.intents] == [i.name for i in first.intents]


def test_model_info(server, banking_artifact):
    info = server.stub.GetModelInfo(pb2.GetModelInfoRequest(), timeout=10)
    labels = json.loads((Path(banking_artifact) / "labels.json").read_text())
    assert list(info.intents) == labels["intents"]
    assert list(info.entity_types) == labels["entity_types"]
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
    with pytest.raises(grpc.RpcError) as err:
        server.stub.Analyze(request_, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith(field)
    assert server.stub.Analyze(pb2.AnalyzeRequest(text="still serving?"), timeout=10).intents


def test_reload_rpc_bad_path_keeps_old_model(server, tmp_path):
    before = server.stub.GetModelInfo(pb2.GetModelInfoRequest(), timeout=10).version
    reply = server.stub.ReloadModel(pb2.ReloadModelRequest(artifact_path=str(tmp_path / "missing")), timeout=30)
    assert not reply.ok and "missing" in reply.error and reply.version == before == reply.previous_version
    with pytest.raises(grpc.RpcError) as err:
        server.stub.ReloadModel(pb2.ReloadModelRequest(artifact_path=""), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert server.stub.Analyze(pb2.AnalyzeRequest(text="hello"), timeout=10).model_version == before


def test_hot_reload_under_load(server, banking_artifact, tmp_path):
    other = tmp_path / "v2"
    shutil.copytree(banking_artifact, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["version"] += "-v2"
    (other / "manifest.json").write_text(json.dumps(manifest))
    before = server.stub.GetModelInfo(pb2.GetModelInfoRequest(), timeout=10).version
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
        reply = server.stub.ReloadModel(pb2.ReloadModelRequest(artifact_path=str(other)), timeout=60)
        seen = len(codes)
        wait_for(lambda: len(codes) >= seen + 16, "load after the swap")
        stop.set()
        for w in workers:
            w.result()
    assert reply.ok, reply.error
    assert reply.previous_version == before and reply.version == manifest["version"]
    assert set(codes) == {grpc.StatusCode.OK}
    assert manifest["version"] in versions
    assert server.stub.GetModelInfo(pb2.GetModelInfoRequest(), timeout=10).version == manifest["version"]
    # back to the original, so test order does not matter
    assert server.stub.ReloadModel(pb2.ReloadModelRequest(artifact_path=str(banking_artifact)), timeout=60).ok


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
    request = pb2.AnalyzeRequest(text=text, top_k=top_k, time_zone=time_zone, locale=locale)
    try:
        reply = server.stub.Analyze(request, timeout=30)
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, exc.details()
    else:
        assert reply.intents
        assert all(text[e.start:e.end] == e.text for e in reply.entities)


# -- queueing behaviour: a server of its own, with a small queue and no cache -------------------


@pytest.fixture(scope="module")
def small_server(banking_artifact):
    with ThreadServer(model=banking_artifact, max_queue=4, cache_size=0) as srv:
        yield srv


def test_burst_is_shed_not_queued_without_bound(small_server):
    release = small_server.block_inference()
    try:
        calls = [small_server.stub.Analyze.future(pb2.AnalyzeRequest(text=f"what is my balance {i}"), timeout=60)
                 for i in range(24)]
        # With the worker held, at most 4 queue and at most 4 are in the held batch: >= 16 must be shed.
        wait_for(lambda: sum(c.done() for c in calls) >= 16, "the burst to be shed")
    finally:
        release.set()
    codes = [code_of(c) for c in calls]
    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) >= 16 and grpc.StatusCode.OK in codes
    assert small_server.metric("intentd_shed_total") >= 16


def test_deadline_expiry(small_server):
    with pytest.raises(grpc.RpcError) as err:
        small_server.stub.Analyze(pb2.AnalyzeRequest(text="tiny deadline"), timeout=0.000_001)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    expired = small_server.metric("intentd_expired_total", {"stage": "queue"}) + \
        small_server.metric("intentd_cancelled_total")
    release = small_server.hold_a_batch()
    try:
        with pytest.raises(grpc.RpcError) as err:
            small_server.stub.Analyze(pb2.AnalyzeRequest(text="deadline passes while queued"), timeout=0.5)
    finally:
        release.set()
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # the expired entry is dropped when the next batch is built, never computed
    small_server.stub.Analyze(pb2.AnalyzeRequest(text="next one"), timeout=10)
    wait_for(lambda: small_server.metric("intentd_expired_total", {"stage": "queue"})
             + small_server.metric("intentd_cancelled_total") > expired, "the expired entry to be dropped")


def test_cancelled_call_is_dropped_from_the_queue(small_server):
    cancelled = small_server.metric("intentd_cancelled_total")
    release = small_server.hold_a_batch()
    try:
        victim = small_server.stub.Analyze.future(pb2.AnalyzeRequest(text="caller goes away"), timeout=60)
        wait_for(lambda: len(small_server.app.runner._pending) == 1, "the victim to queue")
        victim.cancel()
        wait_for(lambda: all(e.future.done() for e in small_server.app.runner._pending), "the cancel to arrive")
    finally:
        release.set()
    small_server.stub.Analyze(pb2.AnalyzeRequest(text="after the cancel"), timeout=10)
    assert small_server.metric("intentd_cancelled_total") == cancelled + 1


def test_serves_another_onnx_file_of_the_artifact(banking_artifact):
    with ThreadServer(model=banking_artifact, onnx_file="model.fp32.onnx") as srv:
        reply = srv.stub.Analyze(pb2.AnalyzeRequest(text="what is my savings balance"), timeout=30)
        assert reply.intents
        assert srv.app.runner.current.model.artifact.manifest["model"] == "model.fp32.onnx"
