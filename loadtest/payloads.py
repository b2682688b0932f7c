"""Serialized request messages, built before each step, and the response's timing.

The hot loop sends pre-framed bytes; the only per-response protobuf work is reading the
server's timing breakdown (upb parses a response in a few microseconds).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator

from google.protobuf.message import DecodeError

from intentd import protogen

from .config import MAX_GENERATED_TEXTS
from .errors import LoadTestError
from .http2 import grpc_message

SERVICE = "IntentService"

#: The server's (queue wait, tokenize, forward, postprocess, total) microseconds, cache hit, and
#: the microseconds the request waited before its handler ran (0 unless the server could read it
#: from the request's send-time stamp or its deadline).
Timing = tuple[int, int, int, int, int, bool, int]


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


def _framer(rpc: str) -> Callable[[str], bytes]:
    pb2, method = _method(rpc)
    request_class = getattr(pb2, method.input_type.name)
    return lambda text: grpc_message(request_class(text=text).SerializeToString())


def build_payloads(rpc: str, texts: list[str], seed: int = 0) -> list[bytes]:
    """One gRPC-framed request per text, in a seeded random order (no run starts on one text)."""
    frame = _framer(rpc)
    payloads = [frame(text) for text in texts]
    random.Random(seed).shuffle(payloads)
    return payloads


class Payloads:
    """The requests of a whole run, handed out in order across warm-up and steps, so a text
    comes back only once all the others have been sent.

    From a --texts file: the user's texts (shuffled), cycled. Generated: distinct texts
    drawn as the run needs them (before each step, never per request), up to ``limit``.
    """

    def __init__(
        self,
        frame: Callable[[str], bytes],
        pool: list[bytes],
        *,
        distinct: int | None = None,
        more: Iterator[str] | None = None,
        limit: int = MAX_GENERATED_TEXTS,
    ) -> None:
        self._frame = frame
        self._pool = pool
        self._distinct = distinct
        self._more = more
        self.limit = limit
        self.taken = 0  # messages handed out so far

    @classmethod
    def from_texts(cls, rpc: str, texts: list[str], seed: int = 0) -> Payloads:
        """The user's texts as they are (repeats included: they are the user's traffic)."""
        return cls(_framer(rpc), build_payloads(rpc, texts, seed), distinct=len(set(texts)))

    @classmethod
    def generated(
        cls, rpc: str, texts: Iterator[str], limit: int = MAX_GENERATED_TEXTS
    ) -> Payloads:
        """Messages from ``texts``, an endless stream of distinct texts, drawn as needed."""
        return cls(_framer(rpc), [], more=texts, limit=limit)

    @property
    def distinct(self) -> int:
        """Distinct texts among those built so far."""
        return len(self._pool) if self._distinct is None else self._distinct

    @property
    def repeated(self) -> bool:
        """Whether some text has been handed out twice (warm-up included)."""
        return self.taken > self.distinct

    def take(self, count: int) -> list[bytes]:
        """The next ``count`` messages."""
        if count <= 0:
            return []
        self._grow(min(self.taken + count, self.limit))
        pool, out = self._pool, []
        while len(out) < count:
            start = self.taken % len(pool)
            piece = pool[start : start + count - len(out)]
            out += piece
            self.taken += len(piece)
        return out

    def _grow(self, size: int) -> None:
        if self._more is not None and len(self._pool) < size:
            frame = self._frame
            fresh = itertools.islice(self._more, size - len(self._pool))
            self._pool += [frame(text) for text in fresh]
        if not self._pool:
            raise LoadTestError("no texts to send")


def timing_reader(rpc: str) -> Callable[[bytes], Timing | None]:
    """A function from a response message to the server's :data:`Timing`, or None when the
    message has none (another server, an empty timing)."""
    pb2, method = _method(rpc)
    parse = getattr(pb2, method.output_type.name).FromString

    def read(body: bytes) -> Timing | None:
        try:
            t = parse(body).timing
        except DecodeError:
            return None
        if not (t.total_us or t.cache_hit):
            return None
        return (
            t.queue_wait_us, t.tokenize_us, t.forward_us, t.postprocess_us, t.total_us,
            t.cache_hit, t.transit_us,
        )  # fmt: skip

    return read
