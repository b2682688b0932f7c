"""Serialized request messages, built once before the run, and the response's timing.

The hot loop sends pre-framed bytes; the only per-response protobuf work is reading the
server's timing breakdown (upb parses a response in a few microseconds).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from google.protobuf.message import DecodeError

from intentd import protogen

from .errors import LoadTestError
from .http2 import grpc_message

SERVICE = "IntentService"


def _stubs():
    try:
        return protogen.import_stubs()
    except protogen.ProtoGenError as exc:
        raise LoadTestError(str(exc)) from exc


def _method(rpc: str):
    """(the generated module, the RPC's method descriptor)."""
    pb2, _ = _stubs()
    return pb2, pb2.DESCRIPTOR.services_by_name[SERVICE].methods_by_name[rpc]


def method_path(rpc: str) -> str:
    """The gRPC method path, e.g. ``/intentd.v1.IntentService/Analyze``."""
    _, method = _method(rpc)
    return f"/{method.containing_service.full_name}/{rpc}"


def build_payloads(rpc: str, texts: list[str], seed: int = 0) -> list[bytes]:
    """One gRPC-framed request per text, in a seeded random order (no run starts on one text)."""
    pb2, method = _method(rpc)
    request_class = getattr(pb2, method.input_type.name)
    payloads = [grpc_message(request_class(text=text).SerializeToString()) for text in texts]
    random.Random(seed).shuffle(payloads)
    return payloads


def timing_reader(rpc: str) -> Callable[[bytes], tuple[int, int, int] | None]:
    """A function from a response message to the server's (queue wait, inference, total)
    microseconds, or None when the message has none (another server, an empty timing)."""
    pb2, method = _method(rpc)
    parse = getattr(pb2, method.output_type.name).FromString

    def read(body: bytes) -> tuple[int, int, int] | None:
        try:
            timing = parse(body).timing
        except DecodeError:
            return None
        if not timing.total_us:
            return None
        return timing.queue_wait_us, timing.inference_us, timing.total_us

    return read
