"""The load generator's client: a few HTTP/2 connections to one address, one RPC.

Requests are pre-serialized, so per request the client does one frame write and one
callback. A connection that drops is re-opened on the next call (at most every
RECONNECT_INTERVAL_S; calls in between fail fast as UNAVAILABLE, as a real client's would).
Retries are off: a retried request would hide an error and add its latency to the wrong
sample.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, TargetUnavailable
from .http2 import Connection, Done

WARMUP_MAX_S = 2.0
RECONNECT_INTERVAL_S = 0.2


@dataclass(frozen=True)
class TLS:
    """TLS settings: server verification against ``ca`` (else the system roots), optional
    client certificate for mutual TLS, and an SNI / authority override."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    server_name: str | None = None

    def context(self) -> ssl.SSLContext:
        try:
            context = ssl.create_default_context(cafile=str(self.ca) if self.ca else None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"--tls-ca {self.ca}: {getattr(exc, 'strerror', None) or exc}") from exc
        try:
            if self.cert is not None:
                context.load_cert_chain(str(self.cert), str(self.key) if self.key else None)
        except (OSError, ssl.SSLError) as exc:
            files = f"{self.cert}" + (f" / --tls-key {self.key}" if self.key else "")
            raise ConfigError(f"--tls-cert {files}: {getattr(exc, 'strerror', None) or exc}") from exc
        context.set_alpn_protocols(["h2"])
        return context


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` -> (host, port)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"target {address!r}: expected host:port")
    return host.strip("[]"), int(port)


class Client:
    """Calls one RPC at one address (``host:port`` or ``unix:PATH``) over ``channels``
    connections, round-robin."""

    def __init__(
        self,
        address: str,
        method_path: str,
        channels: int,
        deadline_s: float,
        tls: TLS | None = None,
        stamp: bool = True,
    ) -> None:
        self.address = address
        self.stamp = stamp
        self.method_path = method_path
        self.deadline_s = deadline_s
        self.tls = tls
        self._count = channels
        self._connections: list[Connection] = []
        self._retry_at: list[float] = []
        self._next = 0
        self._ssl = tls.context() if tls is not None else None
        if address.startswith("unix:"):
            self._authority = "localhost"
        else:
            split_address(address)  # validated here, not on the first call
            self._authority = address
        if tls is not None and tls.server_name:
            self._authority = tls.server_name

    async def connect(self, timeout_s: float) -> None:
        """Open the connections and wait until every one has the server's settings."""
        self._connections = [self._open() for _ in range(self._count)]
        self._retry_at = [0.0] * self._count
        try:
            await asyncio.wait_for(
                asyncio.gather(*(connection.ready for connection in self._connections)),
                timeout_s,
            )
        except (TimeoutError, ConnectionError, OSError) as exc:
            await self.close()
            why = f": {exc}" if str(exc) else f" within {timeout_s:g} s"
            if str(exc) == "connection closed":  # by the server, before its HTTP/2 settings
                why += (" during set-up (a TLS server that refused the client certificate, or none was "
                        "given: --tls-cert/--tls-key?)" if self._ssl is not None
                        else " during set-up (not a gRPC server, or a TLS port: then add --tls)")
            raise TargetUnavailable(
                f"no gRPC server accepted a connection at {self.address}{why}"
            ) from None

    def send(self, message: bytes, done: Done, deadline_s: float) -> None:
        """Start one call with a gRPC-framed ``message`` that has ``deadline_s`` left (a load
        test's deadline runs from the due time); ``done(error, body)`` ends it."""
        index = self._next
        self._next = (index + 1) % self._count
        connection = self._connections[index]
        if connection.error is not None:
            now = time.monotonic()
            if now < self._retry_at[index]:
                done(connection.error, b"")
                return
            self._retry_at[index] = now + RECONNECT_INTERVAL_S
            connection = self._connections[index] = self._open()
        connection.call(message, done, deadline_s)

    async def call(self, message: bytes) -> tuple[str | None, bytes]:
        """One call, awaited: (None on OK else the status name, response message)."""
        future = asyncio.get_running_loop().create_future()
        self.send(
            message,
            lambda error, body: future.done() or future.set_result((error, body)),
            self.deadline_s,
        )
        return await future

    async def warm_up(self, messages: list[bytes], max_s: float = WARMUP_MAX_S) -> None:
        """Send ``messages`` one by one (for at most ``max_s`` seconds), unrecorded, so every
        connection and the server's first-request paths are warm."""
        stop = time.perf_counter() + max_s
        for message in messages:
            if time.perf_counter() >= stop:
                break
            await self.call(message)

    def _open(self) -> Connection:
        """A new connection whose calls queue until it is up (or fail if it never is)."""
        loop = asyncio.get_running_loop()
        scheme = "https" if self._ssl is not None else "http"
        connection = Connection(self._authority, self.method_path, scheme, self.stamp)
        if self.address.startswith("unix:"):
            opening = loop.create_unix_connection(
                lambda: connection, self.address[len("unix:") :], ssl=self._ssl,
                server_hostname=self._authority if self._ssl else None,
            )  # fmt: skip
        else:
            host, port = split_address(self.address)
            opening = loop.create_connection(
                lambda: connection, host, port, ssl=self._ssl,
                server_hostname=(self.tls.server_name or host) if self._ssl else None,
            )  # fmt: skip
        task = loop.create_task(opening)
        task.add_done_callback(lambda done: _opened(connection, done))
        return connection

    async def close(self) -> None:
        for connection in self._connections:
            connection.close()
        await asyncio.gather(
            *(
                asyncio.wait_for(asyncio.shield(c.closed), 1.0)
                for c in self._connections
                if c.error is None
            ),
            return_exceptions=True,
        )
        self._connections = []

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _opened(connection: Connection, task: asyncio.Task) -> None:
    """Fail a connection whose TCP/TLS set-up failed, or whose peer did not agree on h2."""
    if task.cancelled():
        connection.fail("CANCELLED", "connection attempt cancelled")
    elif task.exception() is not None:
        exc = task.exception()
        connection.fail("UNAVAILABLE", f"{type(exc).__name__}: {exc}")
    else:
        transport, _ = task.result()
        tls = transport.get_extra_info("ssl_object")
        if tls is not None and tls.selected_alpn_protocol() != "h2":
            transport.close()
            connection.fail("UNAVAILABLE", "the TLS server did not agree to HTTP/2 (ALPN h2)")
