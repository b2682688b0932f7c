"""A lean HTTP/2 connection that makes unary gRPC calls: the load generator's wire.

Why not grpcio's client: measured on a 2-core machine against an echo server, grpc.aio
costs about 250 us of CPU per call and hops through its poller thread, so its own p99 is
about 3 ms even at 100 req/s; h2 (pure Python) costs more still. A load generator must add
far less than the server it measures, so this module speaks just the part of HTTP/2 a
unary gRPC call needs, on an asyncio protocol without threads:

- requests: one HEADERS frame whose header block is encoded once per run (literal fields,
  no dynamic table, so it never changes) and the pre-serialized message in DATA frames, as
  much of it at once as the connection's and the stream's send windows allow (the rest
  when the server's WINDOW_UPDATEs open them: a message larger than a window is sent in
  pieces, never held back whole);
- responses: header blocks decoded by ``hpack`` (the server's encoder is stateful), the
  status read from ``grpc-status`` (or the HTTP status / RST_STREAM code, mapped as the
  gRPC HTTP/2 spec says), the message bytes handed to the caller;
- flow control both ways, the server's MAX_CONCURRENT_STREAMS and MAX_FRAME_SIZE,
  SETTINGS and PING acks, GOAWAY, and a per-call deadline (the time the call has left, sent as
  ``grpc-timeout`` and enforced here with RST_STREAM).

Calls complete through a callback, not a task, so a call costs a few dict operations.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections import deque
from collections.abc import Callable

from hpack import Decoder
from hpack.exceptions import HPACKError

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types and flags (RFC 9113 section 6).
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY = range(8)
WINDOW_UPDATE, CONTINUATION = 8, 9
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
# SETTINGS identifiers.
S_HEADER_TABLE_SIZE, S_ENABLE_PUSH, S_MAX_CONCURRENT_STREAMS = 1, 2, 3
S_INITIAL_WINDOW_SIZE, S_MAX_FRAME_SIZE = 4, 5

DEFAULT_WINDOW = 65_535
DEFAULT_MAX_FRAME = 16_384
MAX_STREAM_ID = 2**31 - 1
#: Receive windows we advertise: responses never wait on us.
RECEIVE_STREAM_WINDOW = 1 << 24
RECEIVE_CONNECTION_WINDOW = 1 << 30
HEADER_CACHE_SIZE = 64

#: gRPC status codes by number (grpc/doc/statuscodes.md); 0 (OK) is success.
STATUS_NAMES = (
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
)  # fmt: skip
#: HTTP status -> gRPC status for a response without grpc-status
#: (grpc/doc/http-grpc-status-mapping.md).
HTTP_STATUS = {
    400: "INTERNAL", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "UNIMPLEMENTED",
    429: "UNAVAILABLE", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "UNAVAILABLE",
}  # fmt: skip
#: RST_STREAM error code -> gRPC status (grpc/doc/PROTOCOL-HTTP2.md).
RST_STATUS = {
    7: "UNAVAILABLE",
    8: "CANCELLED",
    11: "RESOURCE_EXHAUSTED",
    12: "PERMISSION_DENIED",
}

#: Callback of one call: (None on OK else a status name, the response message or b"").
Done = Callable[[str | None, bytes], None]


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return struct.pack(">IBBI", len(payload), kind, flags, stream_id)[1:] + payload


def take_frames(buffer: bytearray) -> list[tuple[int, int, int, bytes]]:
    """Remove the complete frames at the start of ``buffer``: (type, flags, stream, payload)."""
    frames = []
    position, size = 0, len(buffer)
    while size - position >= 9:
        end = position + 9 + int.from_bytes(buffer[position : position + 3], "big")
        if end > size:
            break
        stream_id = int.from_bytes(buffer[position + 5 : position + 9], "big") & MAX_STREAM_ID
        frames.append(
            (
                buffer[position + 3],
                buffer[position + 4],
                stream_id,
                bytes(buffer[position + 9 : end]),
            )
        )
        position = end
    del buffer[:position]
    return frames


def _hpack_int(value: int, prefix_bits: int) -> bytes:
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((value,))
    out = bytearray((limit,))
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_headers(headers: list[tuple[str, str]]) -> bytes:
    """A header block of literal fields without indexing: stateless, so encoded once."""
    block = bytearray()
    for name, value in headers:
        raw_name, raw_value = name.encode("ascii"), value.encode("ascii")
        block += b"\x00" + _hpack_int(len(raw_name), 7) + raw_name
        block += _hpack_int(len(raw_value), 7) + raw_value
    return bytes(block)


def grpc_timeout(seconds: float) -> str:
    """The ``grpc-timeout`` header value: at most 8 digits and a unit."""
    micros = max(int(seconds * 1e6), 1)
    return f"{micros}u" if micros < 10**8 else f"{min(micros // 10**6, 10**8 - 1)}S"


def request_start() -> tuple[str, str]:
    """The ``x-request-start`` metadata of a request sent now (microseconds since the epoch): an
    intentd server counts the time the request waits before it can be read against its budget."""
    return "x-request-start", f"t={time.time_ns() // 1000}"


def grpc_message(message: bytes) -> bytes:
    """The length-prefixed gRPC framing of one uncompressed message."""
    return b"\x00" + struct.pack(">I", len(message)) + message


class _Stream:
    __slots__ = ("done", "status", "http_status", "body", "timer", "unsent", "window")

    def __init__(self, done: Done, message: bytes, window: int) -> None:
        self.done = done
        self.status: str | None = None  # grpc-status name, once seen
        self.http_status = 0
        self.body = bytearray()
        self.timer: asyncio.TimerHandle | None = None
        self.unsent = memoryview(message)  # request bytes the send windows have not let out yet
        self.window = window  # this stream's send window


class _Waiting:
    """A call waiting for a stream (the server's MAX_CONCURRENT_STREAMS, or the connection
    still opening); its deadline keeps running, so a wait never outlasts it."""

    __slots__ = ("message", "done", "expires", "timer")

    def __init__(self, message: bytes, done: Done, expires: float) -> None:
        self.message = message
        self.done = done
        self.expires = expires  # loop.time()
        self.timer: asyncio.TimerHandle | None = None


class Connection(asyncio.Protocol):
    """One HTTP/2 connection making unary calls to one method path."""

    def __init__(self, authority: str, path: str, scheme: str = "http", stamp: bool = True) -> None:
        self.stamp = stamp  # each request carries its send time (x-request-start, microseconds)
        self._loop = asyncio.get_running_loop()
        self._header_block = encode_headers(
            [
                (":method", "POST"),
                (":scheme", scheme),
                (":path", path),
                (":authority", authority),
                ("content-type", "application/grpc"),
                ("te", "trailers"),
                ("user-agent", "intentd-loadtest"),
            ]
        )
        self.ready: asyncio.Future[None] = self._loop.create_future()
        self.closed: asyncio.Future[None] = self._loop.create_future()
        self.error: str | None = None  # the status calls get once the connection has ended
        self.reason = ""  # and why it ended, for people
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._decoder = Decoder()
        self._header_cache: dict[bytes, list[tuple[bytes, bytes]]] = {}
        self._header_fragments: tuple[int, bytearray, int] | None = None  # (stream, block, flags)
        self._streams: dict[int, _Stream] = {}
        self._waiting: deque[_Waiting] = deque()
        self._blocked: dict[int, None] = {}  # streams with request bytes the windows hold back, in order
        self._next_stream_id = 1
        self._send_window = DEFAULT_WINDOW
        self._stream_window = DEFAULT_WINDOW
        self._max_frame = DEFAULT_MAX_FRAME
        self._max_streams = 2**31
        self._unacked_bytes = 0

    # --- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        settings = struct.pack(
            ">HIHI", S_ENABLE_PUSH, 0, S_INITIAL_WINDOW_SIZE, RECEIVE_STREAM_WINDOW
        )
        transport.write(  # type: ignore[attr-defined]
            PREFACE
            + frame(SETTINGS, 0, 0, settings)
            + frame(
                WINDOW_UPDATE,
                0,
                0,
                struct.pack(">I", RECEIVE_CONNECTION_WINDOW - DEFAULT_WINDOW),
            )
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail("UNAVAILABLE", f"connection lost: {exc}" if exc else "connection closed")

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        out: list[bytes] = []
        try:
            for kind, flags, stream_id, payload in take_frames(self._buffer):
                self._on_frame(kind, flags, stream_id, payload, out)
        except (HPACKError, ValueError, IndexError) as exc:
            self._protocol_error(f"bad frame from the server: {exc}")
            return
        if self._unacked_bytes > RECEIVE_CONNECTION_WINDOW // 2:
            out.append(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", self._unacked_bytes)))
            self._unacked_bytes = 0
        if out and self._transport is not None:
            self._transport.write(b"".join(out))

    # --- calls ----------------------------------------------------------------------------

    def call(self, message: bytes, done: Done, deadline_s: float) -> None:
        """Send one request (a gRPC-framed message) that has ``deadline_s`` left; ``done`` is
        called exactly once, at the latest when the deadline passes (at once if it has)."""
        if self.error is not None:
            done(self.error, b"")
        elif deadline_s <= 0:
            done("DEADLINE_EXCEEDED", b"")
        elif self._waiting or not self._can_open():
            waiting = _Waiting(message, done, self._loop.time() + deadline_s)
            waiting.timer = self._loop.call_later(deadline_s, self._expire_waiting, waiting)
            self._waiting.append(waiting)
        else:
            self._send(message, done, deadline_s)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _can_open(self) -> bool:
        return self.ready.done() and len(self._streams) < self._max_streams

    def _send(self, message: bytes, done: Done, deadline_s: float) -> None:
        stream_id = self._next_stream_id
        if stream_id > MAX_STREAM_ID:
            done("UNAVAILABLE", b"")
            self.fail("UNAVAILABLE", "stream ids exhausted")
            return
        self._next_stream_id += 2
        stream = _Stream(done, message, self._stream_window)
        self._streams[stream_id] = stream
        stream.timer = self._loop.call_later(deadline_s, self._expire, stream_id)
        block = self._header_block + encode_headers(
            [("grpc-timeout", grpc_timeout(deadline_s)), *((request_start(),) if self.stamp else ())]
        )
        chunks = [frame(HEADERS, END_HEADERS, stream_id, block)]
        self._data(stream_id, stream, chunks)
        self._transport.write(b"".join(chunks))  # type: ignore[union-attr]

    def _data(self, stream_id: int, stream: _Stream, chunks: list[bytes]) -> None:
        """DATA frames for as much of the stream's request as both send windows allow."""
        n = min(len(stream.unsent), self._send_window, stream.window)
        if n < len(stream.unsent):
            self._blocked[stream_id] = None
        else:
            self._blocked.pop(stream_id, None)
        if n <= 0:
            return
        body, stream.unsent = stream.unsent[:n], stream.unsent[n:]
        self._send_window -= n
        stream.window -= n
        step = self._max_frame
        for start in range(0, n, step):
            last = start + step >= n and not stream.unsent
            chunks.append(frame(DATA, END_STREAM if last else 0, stream_id, bytes(body[start : start + step])))

    def _send_blocked(self, only: int | None = None) -> None:
        """Send what the windows now allow of held-back requests (of stream ``only``, or all)."""
        chunks: list[bytes] = []
        for stream_id in ([only] if only is not None else list(self._blocked)):
            stream = self._streams.get(stream_id)
            if stream is not None and stream_id in self._blocked:
                self._data(stream_id, stream, chunks)
            if self._send_window <= 0:
                break
        if chunks and self._transport is not None:
            self._transport.write(b"".join(chunks))

    def _send_waiting(self) -> None:
        while self.error is None and self._waiting and self._can_open():
            waiting = self._waiting.popleft()
            if waiting.timer is not None:
                waiting.timer.cancel()
            self._send(waiting.message, waiting.done, waiting.expires - self._loop.time())

    def _expire_waiting(self, waiting: _Waiting) -> None:
        try:
            self._waiting.remove(waiting)
        except ValueError:
            return
        waiting.done("DEADLINE_EXCEEDED", b"")

    def _expire(self, stream_id: int) -> None:
        stream = self._streams.pop(stream_id, None)
        if stream is not None:
            self._blocked.pop(stream_id, None)
            if self._transport is not None:
                self._transport.write(frame(RST_STREAM, 0, stream_id, struct.pack(">I", 8)))
            stream.done("DEADLINE_EXCEEDED", b"")
            self._send_waiting()

    def _finish(self, stream_id: int, status: str | None) -> None:
        """End a stream: with ``status`` when the transport decided it (reset, goaway),
        else from what the server sent (grpc-status, else the HTTP status)."""
        stream = self._streams.pop(stream_id, None)
        if stream is None:
            return
        self._blocked.pop(stream_id, None)
        if stream.timer is not None:
            stream.timer.cancel()
        if status is None:
            if stream.status is not None:
                status = stream.status
            elif stream.http_status != 200:
                status = HTTP_STATUS.get(stream.http_status, "UNKNOWN")
            else:
                status = "INTERNAL"  # HTTP 200 without grpc-status: a broken response
        if status == "OK":
            stream.done(None, bytes(stream.body[5:]))
        else:
            stream.done(status, b"")
        self._send_waiting()

    # --- frames ---------------------------------------------------------------------------

    def _on_frame(
        self, kind: int, flags: int, stream_id: int, payload: bytes, out: list[bytes]
    ) -> None:
        if self._header_fragments is not None and kind != CONTINUATION:
            raise ValueError("expected a CONTINUATION frame")
        if kind == DATA:
            self._unacked_bytes += len(payload)
            if flags & PADDED:
                payload = payload[1 : len(payload) - payload[0]]
            stream = self._streams.get(stream_id)
            if stream is not None:
                stream.body += payload
                if flags & END_STREAM:
                    self._finish(stream_id, None)
        elif kind == HEADERS:
            if flags & PADDED:
                payload = payload[1 : len(payload) - payload[0]]
            if flags & PRIORITY_FLAG:
                payload = payload[5:]
            if flags & END_HEADERS:
                self._on_headers(stream_id, payload, flags)
            else:
                self._header_fragments = (stream_id, bytearray(payload), flags)
        elif kind == CONTINUATION:
            if self._header_fragments is None or self._header_fragments[0] != stream_id:
                raise ValueError("unexpected CONTINUATION frame")
            self._header_fragments[1].extend(payload)
            if flags & END_HEADERS:
                stream_id, block, first_flags = self._header_fragments
                self._header_fragments = None
                self._on_headers(stream_id, bytes(block), first_flags)
        elif kind == SETTINGS:
            if not flags & ACK:
                self._on_settings(payload)
                out.append(frame(SETTINGS, ACK, 0))
                if not self.ready.done():
                    self.ready.set_result(None)
                self._send_waiting()
        elif kind == PING:
            if not flags & ACK:
                out.append(frame(PING, ACK, 0, payload))
        elif kind == WINDOW_UPDATE:
            increment = int.from_bytes(payload[:4], "big") & MAX_STREAM_ID
            if stream_id == 0:
                self._send_window += increment
                self._send_blocked()
                self._send_waiting()
            elif (stream := self._streams.get(stream_id)) is not None:
                stream.window += increment
                self._send_blocked(stream_id)
        elif kind == RST_STREAM:
            code = int.from_bytes(payload[:4], "big")
            self._finish(stream_id, RST_STATUS.get(code, "INTERNAL"))
        elif kind == GOAWAY:
            last_stream = int.from_bytes(payload[:4], "big") & MAX_STREAM_ID
            for unprocessed in [s for s in self._streams if s > last_stream]:
                self._finish(unprocessed, "UNAVAILABLE")
            self.error, self.reason = (
                "UNAVAILABLE",
                "the server sent GOAWAY",
            )  # no new streams; those below last_stream still finish
            self._fail_waiting("UNAVAILABLE")
        elif kind == PUSH_PROMISE:
            raise ValueError("PUSH_PROMISE although push is disabled")
        # PRIORITY and unknown frame types are ignored (RFC 9113 section 4.1).

    def _on_headers(self, stream_id: int, block: bytes, flags: int) -> None:
        headers = self._decode(block)  # always, even for a reset stream: HPACK state moves on
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        for name, value in headers:
            if name == b"grpc-status":
                code = int(value)
                stream.status = STATUS_NAMES[code] if 0 <= code < len(STATUS_NAMES) else "UNKNOWN"
            elif name == b":status":
                stream.http_status = int(value)
        if flags & END_STREAM:
            self._finish(stream_id, None)

    def _decode(self, block: bytes) -> list[tuple[bytes, bytes]]:
        """hpack's decoder, memoised: after the first response a server sends the same few
        indexed blocks again and again, and hpack costs about 40 us a block.

        A block is cached only when decoding it left the dynamic table as it was, and the
        cache is emptied whenever a block changes the table, so a cached block always means
        what it meant when it was decoded.
        """
        cached = self._header_cache.get(block)
        if cached is not None:
            return cached
        table = self._decoder.header_table
        entries = table.dynamic_entries
        before = (table.maxsize, len(entries), entries[0] if entries else None)
        headers = self._decoder.decode(block, raw=True)
        after_first = entries[0] if entries else None
        if (table.maxsize, len(entries)) == before[:2] and after_first is before[2]:
            if len(self._header_cache) >= HEADER_CACHE_SIZE:
                self._header_cache.clear()
            self._header_cache[block] = headers
        else:
            self._header_cache.clear()
        return headers

    def _on_settings(self, payload: bytes) -> None:
        for offset in range(0, len(payload) - 5, 6):
            key, value = struct.unpack_from(">HI", payload, offset)
            if key == S_MAX_CONCURRENT_STREAMS:
                self._max_streams = value
            elif key == S_INITIAL_WINDOW_SIZE:  # open streams' windows move by the change
                for stream in self._streams.values():
                    stream.window += value - self._stream_window
                self._stream_window = value
                self._send_blocked()
            elif key == S_MAX_FRAME_SIZE:
                self._max_frame = value

    # --- the end --------------------------------------------------------------------------

    def _fail_waiting(self, status: str) -> None:
        while self._waiting:
            waiting = self._waiting.popleft()
            if waiting.timer is not None:
                waiting.timer.cancel()
            waiting.done(status, b"")

    def fail(self, status: str, reason: str) -> None:
        """End the connection: every open or queued call ends with ``status``."""
        if self.error is None:
            self.error, self.reason = status, reason
        for stream_id in list(self._streams):
            self._finish(stream_id, status)
        self._fail_waiting(status)
        if not self.closed.done():
            self.closed.set_result(None)
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(reason))
            self.ready.exception()  # retrieved: a caller that never awaited it is fine

    def _protocol_error(self, reason: str) -> None:
        if self._transport is not None:
            self._transport.write(frame(GOAWAY, 0, 0, struct.pack(">II", 0, 1)))
            self._transport.close()
        self.fail("INTERNAL", reason)
