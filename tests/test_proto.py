"""The gRPC contract: reproducible stub generation and the names other tools rely on."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest
from google.protobuf.descriptor import FieldDescriptor

from intentd import protogen

# DESIGN.md's RPCs, plus GetModelInfo and the admin ReloadModel (issue 3).
EXPECTED_RPCS = {
    "Analyze",
    "DetectIntent",
    "ExtractEntities",
    "Respond",
    "AnalyzeStream",
    "GetModelInfo",
    "ReloadModel",
}


@pytest.fixture(scope="module")
def stubs():
    pb2, pb2_grpc = protogen.import_stubs()
    return pb2, pb2_grpc


@pytest.fixture(scope="module")
def service(stubs):
    pb2, _ = stubs
    return pb2.DESCRIPTOR.services_by_name["IntentService"]


def _snapshot(root):
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_generation_is_reproducible(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    protogen.generate(first)
    protogen.generate(second)
    snap = _snapshot(first)
    assert snap == _snapshot(second)
    assert {"intentd/v1/intentd_pb2.py", "intentd/v1/intentd_pb2_grpc.py", "__init__.py"} <= set(
        snap
    )
    protogen.generate(first)  # again into the same folder: nothing changes
    assert _snapshot(first) == snap
    assert protogen.is_current(first)


def test_grpc_module_imports_its_sibling_relatively(tmp_path):
    protogen.generate(tmp_path)
    grpc_src = (tmp_path / "intentd/v1/intentd_pb2_grpc.py").read_text()
    assert "from . import intentd_pb2 as" in grpc_src
    assert "from intentd.v1 import" not in grpc_src


def test_stale_generated_modules_are_removed(tmp_path):
    stale = tmp_path / "intentd" / "v1" / "old_pb2.py"
    stale.parent.mkdir(parents=True)
    stale.write_text("# left over from a removed .proto\n")
    protogen.generate(tmp_path)
    assert not stale.exists()


def test_stubs_import_under_the_server_package(stubs):
    pb2, pb2_grpc = stubs
    assert pb2.__name__ == "intentd.server._proto.intentd.v1.intentd_pb2"
    assert hasattr(pb2_grpc, "IntentServiceStub")
    assert hasattr(pb2_grpc, "add_IntentServiceServicer_to_server")
    assert importlib.import_module("intentd.server._proto.intentd.v1.intentd_pb2") is pb2


def test_package_and_service_names_for_reflection(stubs, service):
    pb2, _ = stubs
    assert pb2.DESCRIPTOR.package == "intentd.v1"
    assert service.full_name == "intentd.v1.IntentService"


def test_service_has_exactly_the_contract_rpcs(service):
    assert {m.name for m in service.methods} == EXPECTED_RPCS


def test_analyze_stream_is_bidirectional_and_others_unary(service):
    for method in service.methods:
        streaming = method.name == "AnalyzeStream"
        assert method.client_streaming is streaming, method.name
        assert method.server_streaming is streaming, method.name
    stream = service.methods_by_name["AnalyzeStream"]
    assert stream.input_type.name == "AnalyzeRequest"
    assert stream.output_type.name == "AnalyzeResponse"


def test_request_messages_have_a_string_text_field(service):
    for name in ("Analyze", "DetectIntent", "ExtractEntities", "Respond"):
        request = service.methods_by_name[name].input_type
        field = request.fields_by_name["text"]
        assert field.number == 1, name
        assert field.type == FieldDescriptor.TYPE_STRING, name


def test_enums_are_prefixed_and_start_unspecified(stubs):
    pb2, _ = stubs
    for enum in pb2.DESCRIPTOR.enum_types_by_name.values():
        prefix = "".join(f"_{c}" if c.isupper() else c for c in enum.name).lstrip("_").upper()
        assert enum.values[0].number == 0
        assert enum.values[0].name == f"{prefix}_UNSPECIFIED", enum.name
        assert all(v.name.startswith(prefix + "_") for v in enum.values), enum.name


def test_response_round_trips(stubs):
    pb2, _ = stubs
    response = pb2.AnalyzeResponse(
        intents=[pb2.IntentScore(name="transfer_money", confidence=0.93)],
        entities=[
            pb2.Entity(
                type="amount",
                text="50 euros",
                start=9,
                end=17,
                source=pb2.ENTITY_SOURCE_PATTERN,
                confidence=1.0,
                resolution=pb2.Resolution(
                    resolved=True, money=pb2.MoneyValue(amount="50.00", currency="EUR")
                ),
            )
        ],
        ood=pb2.OutOfDistribution(flagged=False, score=0.1, threshold=0.6),
        escalation=pb2.EscalationHint(
            escalate=False, reason=pb2.ESCALATION_REASON_UNSPECIFIED, scores={"ood_score": 0.1}
        ),
        model_version="v1",
        timing=pb2.ServerTiming(queue_wait_us=10, tokenize_us=50, forward_us=800, postprocess_us=40, total_us=900),
    )
    back = pb2.AnalyzeResponse.FromString(response.SerializeToString())
    assert back == response
    assert back.entities[0].resolution.WhichOneof("value") == "money"


def test_module_entry_point_check(tmp_path):
    out = tmp_path / "stubs"
    cmd = [sys.executable, "-m", "intentd.protogen", "--out", str(out)]
    assert subprocess.run([*cmd, "--check"], capture_output=True).returncode == 1
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    assert subprocess.run([*cmd, "--check"], capture_output=True).returncode == 0


def test_a_serving_install_can_generate_its_stubs():
    """`pip install -e .` (no extras) then `python -m intentd.protogen`, as the README says: the
    generator lived in the dev extra only, so a serving install could neither generate the stubs
    nor start `intentd serve` from a fresh checkout."""
    from importlib.metadata import requires

    from packaging.requirements import Requirement

    base = {Requirement(r).name for r in requires("intentd") or () if Requirement(r).marker is None}
    assert "grpcio-tools" in base
