"""A gRPC echo server that costs almost nothing: the yardstick for the load generator itself.

    python -m intentd.loadtest.echo_server [--host 127.0.0.1] [--port 0] [--uds PATH]

It answers every unary call on any method with the request message (status OK) and prints
its port. It never decodes a header (the method does not matter), so a call costs it
tens of microseconds where a grpcio server costs hundreds: what `intentd loadtest`
measures against it is the generator's own overhead plus the kernel's loopback. Use it to
check that a CI box can generate the load its SLO gate asks for (`make bench` does).
"""

from __future__ import annotations

import argparse
import asyncio
import struct

from .http2 import (
    ACK,
    DATA,
    END_HEADERS,
    END_STREAM,
    GOAWAY,
    HEADERS,
    PADDED,
    PING,
    PREFACE,
    RST_STREAM,
    S_INITIAL_WINDOW_SIZE,
    SETTINGS,
    WINDOW_UPDATE,
    frame,
    take_frames,
)

# Literal header fields without indexing (no HPACK state): ":status: 200" is static entry 8.
RESPONSE_HEADERS = b"\x88\x0f\x10\x10application/grpc"
TRAILERS = b"\x00\x0bgrpc-status\x010"
WINDOW = 1 << 30


class EchoProtocol(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = bytearray()
        self.preface_seen = False
        self.bodies: dict[int, bytes] = {}
        self.consumed = 0
        transport.write(  # type: ignore[attr-defined]
            frame(SETTINGS, 0, 0, struct.pack(">HI", S_INITIAL_WINDOW_SIZE, 1 << 24))
            + frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", WINDOW))
        )

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.preface_seen:
            if len(buffer) < len(PREFACE):
                return
            if buffer[: len(PREFACE)] != PREFACE:
                self.transport.close()
                return
            del buffer[: len(PREFACE)]
            self.preface_seen = True
        out = []
        for kind, flags, stream_id, payload in take_frames(buffer):
            if kind == DATA:
                self.consumed += len(payload)
                if flags & PADDED:
                    payload = payload[1 : len(payload) - payload[0]]
                body = self.bodies.pop(stream_id, b"") + payload
                if flags & END_STREAM:
                    out.append(
                        frame(HEADERS, END_HEADERS, stream_id, RESPONSE_HEADERS)
                        + frame(DATA, 0, stream_id, body)
                        + frame(HEADERS, END_HEADERS | END_STREAM, stream_id, TRAILERS)
                    )
                else:
                    self.bodies[stream_id] = body
            elif kind == SETTINGS and not flags & ACK:
                out.append(frame(SETTINGS, ACK, 0))
            elif kind == PING and not flags & ACK:
                out.append(frame(PING, ACK, 0, payload))
            elif kind == RST_STREAM:
                self.bodies.pop(stream_id, None)
            elif kind == GOAWAY:
                self.transport.close()
                return
        if self.consumed > WINDOW // 2:
            out.append(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", self.consumed)))
            self.consumed = 0
        if out:
            self.transport.write(b"".join(out))  # type: ignore[attr-defined]


async def serve(host: str, port: int, uds: str | None) -> None:
    loop = asyncio.get_running_loop()
    if uds:
        server = await loop.create_unix_server(EchoProtocol, uds)
        print(uds, flush=True)
    else:
        server = await loop.create_server(EchoProtocol, host, port)
        print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    parser.add_argument("--uds", help="listen on this Unix socket instead")
    args = parser.parse_args(argv)
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    try:
        runner(serve(args.host, args.port, args.uds))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
