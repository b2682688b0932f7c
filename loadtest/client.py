"""The gRPC side of the load generator: a small channel pool and one raw-bytes call.

Requests are pre-serialized and responses are left as bytes, so per-request client work
is one call object and one coroutine. Retries are off: a retried request would hide an
error and add its latency to the wrong sample.
"""

from __future__ import annotations

import asyncio
import time
from itertools import cycle

import grpc

from .errors import TargetUnavailable

WARMUP_MAX_S = 2.0
_CHANNEL_OPTIONS = (
    ("grpc.use_local_subchannel_pool", 1),  # each channel gets its own connection
    ("grpc.enable_retries", 0),
)


class Client:
    """Calls one RPC at one address over ``channels`` connections, round-robin."""

    def __init__(self, address: str, method_path: str, channels: int, deadline_s: float) -> None:
        self.address = address
        self.method_path = method_path
        self.deadline_s = deadline_s
        self._count = channels
        self._channels: list[grpc.aio.Channel] = []
        self._calls = None

    async def connect(self, timeout_s: float) -> None:
        """Open the channels and wait until every one is connected."""
        self._channels = [
            grpc.aio.insecure_channel(self.address, options=_CHANNEL_OPTIONS)
            for _ in range(self._count)
        ]
        try:
            await asyncio.wait_for(
                asyncio.gather(*(channel.channel_ready() for channel in self._channels)), timeout_s
            )
        except TimeoutError:
            await self.close()
            raise TargetUnavailable(
                f"no gRPC server accepted a connection at {self.address} within {timeout_s:g} s"
            ) from None
        self._calls = cycle([channel.unary_unary(self.method_path) for channel in self._channels])

    async def call(self, payload: bytes) -> str | None:
        """Send one request; None on OK, else the status code's name."""
        try:
            await next(self._calls)(payload, timeout=self.deadline_s)
        except grpc.aio.AioRpcError as exc:
            return exc.code().name
        return None

    async def warm_up(self, payloads: list[bytes], count: int, max_s: float = WARMUP_MAX_S) -> None:
        """Send up to ``count`` requests one by one (at most ``max_s`` seconds), unrecorded,
        so every connection and the server's first-request paths are warm."""
        stop = time.perf_counter() + max_s
        for index in range(count):
            if time.perf_counter() >= stop:
                break
            await self.call(payloads[index % len(payloads)])

    async def close(self) -> None:
        await asyncio.gather(*(channel.close() for channel in self._channels))
        self._channels = []

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
