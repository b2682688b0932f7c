"""Serialized request messages, built once before the run.

The hot loop sends bytes and receives bytes (no per-request protobuf work), so the
client's own overhead stays small next to a millisecond-scale server.
"""

from __future__ import annotations

import random

from intentd import protogen

from .errors import LoadTestError

SERVICE = "IntentService"


def _stubs():
    try:
        return protogen.import_stubs()
    except protogen.ProtoGenError as exc:
        raise LoadTestError(str(exc)) from exc


def method_path(rpc: str) -> str:
    """The gRPC method path, e.g. ``/intentd.v1.IntentService/Analyze``."""
    pb2, _ = _stubs()
    return f"/{pb2.DESCRIPTOR.services_by_name[SERVICE].full_name}/{rpc}"


def build_payloads(rpc: str, texts: list[str], seed: int = 0) -> list[bytes]:
    """One serialized request per text, in a seeded random order (no run starts on one text)."""
    pb2, _ = _stubs()
    method = pb2.DESCRIPTOR.services_by_name[SERVICE].methods_by_name[rpc]
    request_class = getattr(pb2, method.input_type.name)
    payloads = [request_class(text=text).SerializeToString() for text in texts]
    random.Random(seed).shuffle(payloads)
    return payloads
