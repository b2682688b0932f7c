"""The server's lifecycle, as a table of contents: startup() -> main_loop() -> shutdown().

Signals: SIGTERM / SIGINT drain and exit (a second one cuts the grace period short), SIGHUP
reloads the artifact being served (e.g. after it was rebuilt in place). Hot reload (SIGHUP or the
ReloadModel RPC) loads and warms the new model beside the old one, then swaps it in atomically.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import stat
from pathlib import Path

import grpc
from threadpoolctl import threadpool_limits
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from intentd.errors import IntentdError
from intentd.protogen import import_stubs

from .admission import ReloadBusy
from .batcher import Runner, Served, make_runner
from .cache import AnalysisCache
from .capture import CaptureSettings, ReviewCapture
from .config import ConfigError, Settings
from .metrics import Metrics
from .service import IntentServicer
from .signals import handle_signals

pb2, pb2_grpc = import_stubs()
log = logging.getLogger(__name__)
SERVICE_NAME = pb2.DESCRIPTOR.services_by_name["IntentService"].full_name
DRAIN_QUIET_S = 0.2  # drained = nothing in flight and no call arriving for this long
SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING


class Reloader:
    """Single-flight hot reload: a failed load keeps the old model and says why."""

    def __init__(self, runner: Runner, cache: AnalysisCache, settings: Settings, metrics: Metrics):
        self.runner, self.cache, self.settings, self.metrics = runner, cache, settings, metrics
        self._lock = asyncio.Lock()

    async def reload(self, path: str | Path) -> dict:
        if self._lock.locked():
            raise ReloadBusy("a reload is already in progress")
        async with self._lock:
            old = self.runner.current
            try:
                new = await asyncio.to_thread(Served.load, path, self.settings)
            except Exception as exc:  # noqa: BLE001 - any failure keeps the old model serving
                reason = str(exc) if isinstance(exc, (IntentdError, OSError)) else f"{type(exc).__name__}: {exc}"
                log.error("reload from %s failed; still serving %s: %s", path, old.version, reason)
                self.metrics.reloads.labels("failed").inc()
                return {"ok": False, "error": reason, "version": old.version, "previous_version": old.version}
            self.runner.swap(new)  # batches already running finish on `old`
            self.cache.clear()
            self.metrics.set_model(new.model.artifact.name, new.version, new.model.provider)
            self.metrics.reloads.labels("ok").inc()
            log.info("reloaded: %s -> %s (%s, %s)", old.version, new.version, new.path, new.model.provider)
            return {"ok": True, "error": "", "version": new.version, "previous_version": old.version}


class App:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.metrics = Metrics()
        self.port: int | None = None  # the TCP port bound (useful with --listen HOST:0)
        self.forced = False
        self._stop = asyncio.Event()
        self._force = asyncio.Event()
        self.started = asyncio.Event()  # set once serving: for embedding the server (tests, benchmarks)
        self._tasks: set[asyncio.Task] = set()
        self._metrics_http = None

    async def run(self) -> int:
        """Serve until SIGTERM/SIGINT (or `request_stop`). Returns the exit code: 0, or 1 when forced."""
        loop = asyncio.get_running_loop()
        try:
            await self.startup()
            with handle_signals(loop, {signal.SIGTERM: self.request_stop, signal.SIGINT: self.request_stop,
                                       signal.SIGHUP: self._reload_on_signal}):
                await self.main_loop()
        finally:
            await self.shutdown()  # also after a failed startup: whatever was started is stopped
        return 1 if self.forced else 0

    async def startup(self) -> None:
        s = self.settings
        # 0. numpy's BLAS (OOD scoring, softmax) gets one thread: its matrices are tiny, and a
        #    multi-threaded BLAS beside onnxruntime's threads oversubscribes the cores (measured:
        #    a batch of 32 scored in 48 ms instead of 0.3 ms on a busy 2-core machine).
        threadpool_limits(1, user_api="blas")
        # 1. Load and warm the model off the event loop: the first real request pays no warm-up cost.
        served = await asyncio.to_thread(Served.load, s.model, s)
        self.metrics.set_model(served.model.artifact.name, served.version, served.model.provider)
        # 2. The engine: cache in front of the batcher (or the naive runner).
        self.cache = AnalysisCache(s.cache_size, self.metrics)
        self.runner = make_runner(served, s, self.metrics)
        self.runner.start()
        self.reloader = Reloader(self.runner, self.cache, s, self.metrics)
        self.capture = None
        if s.capture_path is not None:
            self.capture = ReviewCapture(CaptureSettings(
                s.capture_path, s.capture_max_bytes, s.capture_backups, s.capture_redact_digits,
                s.capture_low_confidence))
            log.info("capturing escalated and low-confidence queries to %s", s.capture_path)
        # 3. The gRPC server: IntentService, health, reflection.
        self.server = grpc.aio.server()
        self.servicer = IntentServicer(self.runner, self.cache, s, self.metrics, self.reloader.reload,
                                       self.capture)
        pb2_grpc.add_IntentServiceServicer_to_server(self.servicer, self.server)
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self.server)
        # 4. Listeners, then start.
        addresses = self._bind()
        await self.server.start()
        for name in ("", SERVICE_NAME):
            await self.health.set(name, SERVING)
        # 5. Metrics endpoint.
        if s.metrics_port:
            self._metrics_http = self.metrics.serve_http(s.metrics_host, s.metrics_port)
        self.started.set()
        log.info("serving %s %s on %s at %s (%s, max batch %d, queue %d)", served.model.artifact.name,
                 served.version, served.model.provider, ", ".join(addresses),
                 "naive" if s.naive else "batching", s.max_batch_size, s.max_queue)

    async def main_loop(self) -> None:
        await self._stop.wait()

    async def shutdown(self) -> None:
        if getattr(self, "server", None) is not None:
            log.info("draining (grace %.1f s)", self.settings.grace_period)
        # 1. Health NOT_SERVING: load balancers and sidecar clients stop sending.
        if getattr(self, "health", None) is not None:
            await self.health.enter_graceful_shutdown()
        # 2. Refuse new work (UNAVAILABLE) and let in-flight RPCs finish, until quiet or the grace
        #    period ends; then stop grpc, which cancels whatever is left. A 2nd signal cuts it short.
        if getattr(self, "server", None) is not None:
            deadline = asyncio.get_running_loop().time() + self.settings.grace_period
            drained = asyncio.ensure_future(self._drain(deadline))
            force = asyncio.ensure_future(self._force.wait())
            await asyncio.wait({drained, force}, return_when=asyncio.FIRST_COMPLETED)
            if not drained.done():
                log.warning("second signal: cancelling in-flight requests")
                drained.cancel()
                await asyncio.gather(drained, return_exceptions=True)
                await self.server.stop(None)
            force.cancel()
        # 3. The batcher finishes anything still queued and stops its threads.
        if getattr(self, "runner", None) is not None:
            await self.runner.close()
        # 4. Background reloads, the review capture, the metrics endpoint, the socket file.
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if getattr(self, "capture", None) is not None:
            await asyncio.to_thread(self.capture.close)
        if self._metrics_http is not None:
            self._metrics_http.shutdown()
        if self.settings.uds is not None:
            self.settings.uds.unlink(missing_ok=True)
        log.info("stopped")

    async def _drain(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(self.servicer.drain.wait_quiet(DRAIN_QUIET_S), self.settings.grace_period)
        except TimeoutError:
            log.warning("grace period over with %d RPCs in flight", self.servicer.drain.in_flight)
        await self.server.stop(max(0.0, deadline - loop.time()))

    def request_stop(self) -> None:
        """First call: drain. Second call: stop now."""
        if self._stop.is_set():
            self.forced = True
            self._force.set()
        else:
            self._stop.set()

    def _reload_on_signal(self) -> None:
        task = asyncio.get_running_loop().create_task(self._reload_current())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reload_current(self) -> None:
        try:
            await self.reloader.reload(self.runner.current.path)
        except ReloadBusy:
            log.warning("SIGHUP ignored: a reload is already in progress")
        except Exception:  # noqa: BLE001 - a background task must never fail unseen
            log.exception("SIGHUP reload failed")

    def _bind(self) -> list[str]:
        s, addresses = self.settings, []
        if s.listen:
            try:
                self.port = self.server.add_insecure_port(s.listen)
            except RuntimeError as exc:
                raise ConfigError(f"--listen {s.listen}: cannot bind ({exc})") from None
            if not self.port:
                raise ConfigError(f"--listen {s.listen}: cannot bind")
            addresses.append(f"{s.listen.rpartition(':')[0]}:{self.port}")
        if s.uds is not None:
            if s.uds.exists() and stat.S_ISSOCK(s.uds.stat().st_mode):
                s.uds.unlink()  # a stale socket from a crashed run; never remove a regular file
            try:
                self.server.add_insecure_port(f"unix:{s.uds}")
            except RuntimeError as exc:
                raise ConfigError(f"--uds {s.uds}: cannot bind ({exc})") from None
            addresses.append(f"unix:{s.uds}")
        return addresses


def serve(settings: Settings) -> int:
    """Run the server on uvloop until it is told to stop; returns the exit code."""
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(App(settings).run())
