"""The server's lifecycle, as a table of contents: startup() -> main_loop() -> shutdown().

Signals are handled from the first moment (a container's PID 1 ignores SIGTERM otherwise):
SIGTERM / SIGINT drain and exit (a second one cuts the grace period short), SIGHUP reloads the
artifact being served (e.g. after it was rebuilt in place; one while starting, once serving;
none while stopping). A `--workers` worker takes its supervisor's signals instead
(server/signals.py): its own SIGTERM / SIGINT only drain, its own SIGHUP is not acted on.
Health follows the model too: NOT_SERVING while one forward pass hangs (--stall-timeout).
Listeners: the data listener(s) (--listen, TLS when --tls-cert is given; --uds) serve
IntentService, health and reflection (unless --no-reflection); the admin socket (--admin-uds,
mode 0600) is a second gRPC server that serves ReloadModel.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import grp
import logging
import os
import signal
import socket
import stat
from pathlib import Path
from typing import Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from threadpoolctl import threadpool_limits

from intentd.protogen import import_stubs

from .admission import MAX_CONTEXT_CHARS, MAX_CONTEXT_ITEMS
from .batcher import batch_sizes_to_warm, make_runner, stalled
from .cache import AnalysisCache
from .capture import CaptureSettings, ReviewCapture
from .config import ConfigError, Settings
from .engine import Engine
from .errors import ReloadBusy
from .metrics import GAUGE_REFRESH_S, Metrics
from .nbest import MAX_ALTERNATIVES
from .reload import Reloader
from .service import IntentServicer, lenient_handler, open_access_log
from .signals import WORKER_CUT, WORKER_DRAIN, WORKER_RELOAD, handle_signals
from .tls import CertificateFiles
from .workers import free_port

pb2, pb2_grpc = import_stubs()
log = logging.getLogger(__name__)
SERVICE_NAME = pb2.DESCRIPTOR.services_by_name["IntentService"].full_name
DRAIN_QUIET_S = 0.2  # drained = nothing in flight and no call accepted for this long
TRIM_AFTER_SWAP_S = 2.0  # after a swap: the batches still on the old model have finished
SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
ADMIN_METHODS = ("ReloadModel", "GetModelInfo")
STALL_CHECK_S = 0.5  # how often health looks at the model


# A request's metadata (request id, send-time stamp, deadline, a gateway's auth token) fits in
# this; gRPC's own default refuses calls from 8 KiB at random. (A raw client that splits its
# headers over CONTINUATION frames is not checked by gRPC's core: the connection and stream
# bounds are what hold it.)
MAX_METADATA_BYTES = 16 * 1024


# a connection that has not finished its TCP (and TLS) handshake by then is closed (gRPC's own: 120 s)
HANDSHAKE_TIMEOUT_MS = 10_000


def max_request_bytes(s: Settings) -> int:
    """The largest request admission could accept: a text and MAX_ALTERNATIVES alternatives of
    --max-text-chars code points at four bytes each, a full context, and room for the rest. gRPC's
    default (4 MiB) let one connection's 100 calls each buffer a message that never ends: 419 MB."""
    context = 2 * MAX_CONTEXT_ITEMS * MAX_CONTEXT_CHARS * 4
    return 4 * s.max_text_chars * (1 + MAX_ALTERNATIVES) + context + 16 * 1024


def bounds(s: Settings) -> list[tuple[str, int]]:
    """What one client may hold open: without these, calls that send their headers and never their
    message (each holding its metadata) took a fresh server from 195 to 620 MB in 11 s, past the
    Pod's 512 MiB, without one of them reaching a handler or a metric; and 256 connections that
    sent the HTTP/2 preface and nothing more held every --max-connections slot for good, refusing
    every new client of the TCP listener. A connection with a call open is never idle: 8 that each
    sent one call's headers and never its message (or watched health) held 8 slots for good, so
    past --connection-max-age a connection is told to go, and closed once its calls have had as
    long again to finish."""
    options = [("grpc.max_allowed_incoming_connections", s.max_connections),
               ("grpc.max_concurrent_streams", s.calls_per_connection),
               ("grpc.max_receive_message_length", max_request_bytes(s)),
               ("grpc.max_metadata_size", MAX_METADATA_BYTES),
               ("grpc.absolute_max_metadata_size", MAX_METADATA_BYTES),
               ("grpc.server_handshake_timeout_ms", HANDSHAKE_TIMEOUT_MS)]
    if s.connection_idle_timeout:
        options.append(("grpc.max_connection_idle_ms", int(s.connection_idle_timeout * 1000)))
    if s.connection_max_age:
        options += [("grpc.max_connection_age_ms", int(s.connection_max_age * 1000)),
                    ("grpc.max_connection_age_grace_ms", int(s.connection_max_age * 1000))]
    return options


class App:
    def __init__(self, settings: Settings, metrics: Metrics | None = None,
                 on_ready: Callable[[App], None] | None = None,
                 on_reload: Callable[[str, str], None] | None = None, worker: bool = False):
        self.settings = settings
        self.worker = worker  # a --workers worker: its supervisor's signals rule (server/signals.py)
        self.metrics = metrics or Metrics()
        self.on_ready = on_ready  # called once serving, with the App (a --workers worker's start handshake)
        # called once SIGHUP reloads have settled, with the version served and why the last one
        # failed ('' when it did not): a --workers supervisor's report on a reload
        self.on_reload = on_reload
        self.port: int | None = None  # the TCP port bound (useful with --listen HOST:0)
        self.forced = False
        self.server: grpc.aio.Server | None = None
        self.admin_server: grpc.aio.Server | None = None
        self._serving = False
        self.stalled = False  # one forward pass has held the model past --stall-timeout
        self._hup = False  # a SIGHUP not yet acted on
        self._hup_task: asyncio.Task | None = None  # reloading on SIGHUP
        self._stop = asyncio.Event()
        self._force = asyncio.Event()
        self.started = asyncio.Event()  # set once serving: for embedding the server (tests, benchmarks)
        self._tasks: set[asyncio.Task] = set()
        self._metrics_http = None
        self._sockets: list[Path] = []

    async def run(self) -> int:
        """Serve until SIGTERM/SIGINT (or `request_stop`). Returns the exit code: 0, or 1 when forced."""
        loop = asyncio.get_running_loop()
        if self.worker:
            handlers = {signal.SIGTERM: self.request_drain, signal.SIGINT: self.request_drain,
                        WORKER_DRAIN: self.request_drain, WORKER_CUT: self.request_cut,
                        signal.SIGHUP: self._hup_to_a_worker, WORKER_RELOAD: self._reload_on_signal}
        else:
            # a worker's signals mean here what they mean to a worker (by default SIGUSR1 and
            # SIGUSR2 killed the process at once, its requests cut)
            handlers = {signal.SIGTERM: self.request_stop, signal.SIGINT: self.request_stop,
                        WORKER_DRAIN: self.request_drain, WORKER_CUT: self.request_cut,
                        signal.SIGHUP: self._reload_on_signal, WORKER_RELOAD: self._reload_on_signal}
        with handle_signals(loop, handlers):
            try:
                await self.startup()
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
        # A port in use or a broken TLS file is a one-line error at once, before seconds of model loading.
        if s.listen and s.workers == 1 and not s.listen.endswith(":0"):
            free_port(s.listen)
        self.tls = (CertificateFiles(s.tls_key, s.tls_cert, s.tls_client_ca,
                                     self.metrics.tls_expiry.labels(s.tls_cert.name).set)
                    if s.tls_cert is not None else None)
        # 1. Load and warm the model off the event loop: the first real request pays no warm-up cost.
        #    The link resolved once, as a reload does: a deploy that flipped `current` while the
        #    files were read made the start read a manifest of one artifact and files of the other
        #    (exit 2, a checksum mismatch). Served under the name given: SIGHUP follows the link.
        engine = await asyncio.to_thread(self._load, Path(s.model).resolve())
        engine.path = Path(s.model)
        self.metrics.set_model(engine.model.artifact.name, engine.version, engine.model.provider)
        # 2. The engine: cache in front of the batcher (or the naive runner).
        self.cache = AnalysisCache(s.cache_size, self.metrics)
        self.runner = make_runner(engine, s, self.metrics)
        self.runner.start()
        self.reloader = Reloader(self._load, self._swap, lambda: self.runner.current, s.reload_root,
                                 s.reload_timeout, count=lambda outcome: self.metrics.reloads.labels(outcome).inc())
        _warn_if_others_write(s.reload_root)
        self.capture = None
        if s.capture_path is not None:
            self.capture = ReviewCapture(
                CaptureSettings(s.capture_path, s.capture_max_bytes, s.capture_backups, s.capture_redact_digits,
                                s.capture_low_confidence),
                on_written=self.metrics.captured.inc, on_dropped=self.metrics.capture_dropped)
            log.info("capturing escalated and low-confidence queries to %s", s.capture_path)
        if self._stop.is_set():  # told to stop while the model loaded: never bind, never report SERVING
            log.info("stop requested before serving: not starting")
            return
        # 3. Metrics endpoint before any listener: a bad address fails the start, not a running server.
        if s.metrics_port:
            try:
                self._metrics_http = self.metrics.serve_http(s.metrics_host, s.metrics_port)
            except OSError as exc:
                raise ConfigError(f"--metrics-host {s.metrics_host} --metrics-port {s.metrics_port}: "
                                  f"cannot bind ({exc.strerror or exc})") from None
        # 4. The gRPC servers: IntentService, health, reflection (unless --no-reflection); the admin socket apart.
        self.server = grpc.aio.server(options=[("grpc.so_reuseport", 1 if s.workers > 1 else 0), *bounds(s)],
                                      maximum_concurrent_rpcs=s.calls_limit)
        self.servicer = IntentServicer(self.runner, self.cache, s, self.metrics, self.reloader.reload_request,
                                       self.capture)
        self.server.add_generic_rpc_handlers((lenient_handler(self.servicer),))
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        if s.reflection:
            reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME),
                                                self.server)
        addresses = self._bind()
        if s.admin_uds is not None:
            self.admin_server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
            admin = IntentServicer(self.runner, self.cache, s, self.metrics, self.reloader.reload_request,
                                   admin=True)
            self.admin_server.add_generic_rpc_handlers((lenient_handler(admin, ADMIN_METHODS),))
            self._bind_socket(self.admin_server, s.admin_uds, 0o600, None, "--admin-uds")
            await self.admin_server.start()
        await self.server.start()
        self._serving = True
        await self._set_health(SERVING)
        if s.stall_timeout:
            self._background(self._watch_model())
        self._background(self._refresh_gauges())
        self.started.set()
        if self.on_ready is not None:
            self.on_ready(self)
        rows = f", {engine.model.row_threads} rows at a time" if engine.model.row_threads > 1 else ""
        log.info("serving %s %s on %s at %s (%s, max batch %d%s, queue %d, SLO p95 %s)", engine.model.artifact.name,
                 engine.version, engine.model.provider, ", ".join(addresses), "naive" if s.naive else "batching",
                 s.max_batch_size, rows, s.max_queue, f"{s.slo_p95_ms:g} ms" if s.slo_p95_ms else "off")
        if self._hup:  # a SIGHUP while starting: the artifact may have changed since it was read
            self._reload_on_signal()

    async def main_loop(self) -> None:
        await self._stop.wait()

    async def _watch_model(self) -> None:
        """Health follows the model. A forward pass that hangs (onnxruntime stuck in a native call)
        leaves the event loop answering health checks SERVING while every request waits for good:
        past --stall-timeout, health says NOT_SERVING (probes restart the process; a --workers
        supervisor restarts the worker, which stops stamping), what waits on the pass is answered
        UNAVAILABLE, and new requests are refused so callers go elsewhere. Should the pass return,
        the server serves again."""
        timeout = self.settings.stall_timeout
        while True:
            await asyncio.sleep(STALL_CHECK_S)
            held_s = self.runner.stalled_s()
            if held_s >= timeout and not self.stalled:
                self.stalled = True
                self.metrics.stalled.set(1)
                failed = self.runner.fail_waiting(stalled(held_s))
                log.error("inference stalled: one forward pass has held the model for %.1f s (--stall-timeout %g); "
                          "health NOT_SERVING, %d waiting requests answered UNAVAILABLE", held_s, timeout, failed)
                await self._set_health(NOT_SERVING)
            elif held_s < timeout and self.stalled:
                self.stalled = False
                self.metrics.stalled.set(0)
                log.warning("inference recovered: the stalled forward pass returned; health SERVING")
                await self._set_health(SERVING)

    async def _refresh_gauges(self) -> None:
        """Gauges that change with time alone (rolling rates whose answers age out, the admission
        share of an idle server), re-read while no answer updates them."""
        while True:
            await asyncio.sleep(GAUGE_REFRESH_S)
            self.metrics.refresh()
            self.runner.refresh_gauges()

    async def _set_health(self, status) -> None:
        for name in ("", SERVICE_NAME):
            await self.health.set(name, status)  # ignored once draining (enter_graceful_shutdown)

    def _background(self, coro) -> asyncio.Task:
        """A task that lives as long as the server; cancelled at shutdown."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def shutdown(self) -> None:
        if self._serving:
            log.info("draining (grace %.1f s)", self.settings.grace_period)
        # 1. Health NOT_SERVING: load balancers and sidecar clients stop sending.
        if getattr(self, "health", None) is not None and self._serving:
            await self.health.enter_graceful_shutdown()
        # 2. Refuse new work (UNAVAILABLE) and let in-flight RPCs finish, until quiet or the grace
        #    period ends; then stop grpc, which cancels whatever is left. A 2nd signal cuts it short.
        if self._serving:
            deadline = asyncio.get_running_loop().time() + self.settings.grace_period
            drained = asyncio.ensure_future(self._drain(deadline))
            force = asyncio.ensure_future(self._force.wait())
            await asyncio.wait({drained, force}, return_when=asyncio.FIRST_COMPLETED)
            if not drained.done():
                log.warning("told to cut the drain (a second stop, or SIGQUIT): cancelling in-flight requests")
                drained.cancel()
                await asyncio.gather(drained, return_exceptions=True)
                await self.server.stop(None)
            force.cancel()
        elif self.server is not None:
            await self.server.stop(None)
        if self.admin_server is not None:
            await self.admin_server.stop(None)
        # 3. The batcher finishes anything still queued and stops its threads.
        if getattr(self, "runner", None) is not None:
            await self.runner.close()
        # 4. Background reloads, the review capture, the metrics endpoint, the socket files.
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        reloader = getattr(self, "reloader", None)
        if reloader is not None and not await reloader.loading_ended(self.settings.grace_period):
            log.warning("a reload was still loading %g s after the stop; exiting without it",
                        self.settings.grace_period)
        if getattr(self, "capture", None) is not None:
            await asyncio.to_thread(self.capture.close)
        if self._metrics_http is not None:
            self._metrics_http.shutdown()
        for path in self._sockets:
            with contextlib.suppress(OSError):
                path.unlink()
        if self._serving:
            log.info("stopped")

    async def _drain(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(self.servicer.drain.wait_quiet(DRAIN_QUIET_S), self.settings.grace_period)
        except TimeoutError:
            log.warning("grace period over with %d RPCs in flight", self.servicer.drain.in_flight)
        await self.server.stop(max(0.0, deadline - loop.time()))

    def request_drain(self) -> None:
        """A `--workers` worker's stop, from its supervisor or sent to it directly: the drain of a
        first stop, and nothing more when a stop came already (the worker's own SIGTERM, sent to
        every process of the service, and the supervisor's: the second cut the drain short)."""
        if not self._stop.is_set():
            self.request_stop()

    def request_cut(self) -> None:
        """A `--workers` supervisor's second stop: cancel what is in flight now."""
        self.request_drain()
        self.request_stop()

    def request_stop(self) -> None:
        """First call: drain. Second call: stop now."""
        if self._stop.is_set():
            self.forced = True
            self._force.set()
        else:
            self._stop.set()

    # -- models --------------------------------------------------------------------------------

    def _load(self, path: Path) -> Engine:
        """Blocking: load and warm an artifact (startup, ReloadModel, SIGHUP)."""
        s = self.settings
        engine = Engine.load(path, onnx_file=s.onnx_file, providers=s.providers,
                             intra_op_threads=s.onnx_threads, spin=s.spin, row_threads=s.onnx_row_threads)
        if s.warm_up:
            engine.warm_up(batch_sizes_to_warm(s))
        return engine

    def _swap(self, old: Engine, new: Engine) -> None:
        self.runner.swap(new)  # batches already running finish on `old`
        self.cache.clear()
        self.metrics.set_model(new.model.artifact.name, new.version, new.model.provider)
        # once the batches still on `old` are done and it is freed, hand its pages back to the system
        asyncio.get_running_loop().call_later(TRIM_AFTER_SWAP_S, _release_freed_memory)

    def _reload_on_signal(self) -> None:
        """SIGHUP, never dropped: the artifact may have changed after a load in progress read it
        (a worker restarted just before a deploy served the old model for good). One that comes
        while starting reloads once serving; one during a SIGHUP reload, once that one ends. One
        while stopping is not acted on: a draining server would load a second model copy."""
        if self._stop.is_set():
            log.info("SIGHUP while stopping: no reload")
            return
        self._hup = True
        if not self._serving:
            log.info("SIGHUP while starting: reloading once serving")
        elif self._hup_task is None:
            self._hup_task = self._background(self._reload_on_signals())

    def _hup_to_a_worker(self) -> None:
        log.info("SIGHUP sent to a --workers worker: not acted on (its supervisor forwards a reload to every "
                 "worker; send SIGHUP to the supervisor, pid %d)", os.getppid())

    async def _reload_on_signals(self) -> None:
        """Reload until no SIGHUP is left unanswered, then report how the last reload ended."""
        try:
            while self._hup:
                self._hup = False
                version, error = await self._reload_current()
        finally:
            self._hup_task = None
        if self.on_reload is not None:
            self.on_reload(version, error)

    async def _reload_current(self) -> tuple[str, str]:
        """SIGHUP: the local operator reloads the artifact being served, wherever it lives (after
        a ReloadModel call in progress, which may have read the files before they changed).
        Returns the version served after it, and why it failed ('' when it did not)."""
        try:
            while True:
                try:
                    result = await self.reloader.reload(self.runner.current.path)
                    break
                except ReloadBusy:
                    log.info("SIGHUP while a ReloadModel call loads: reloading once it ends")
                    await self.reloader.idle()
        except Exception as exc:  # noqa: BLE001 - a background task must never fail unseen
            log.exception("SIGHUP reload failed")
            return self.runner.current.version, f"{type(exc).__name__}: {exc}"
        return result["version"], result["error"].removeprefix("reload failed: ")  # a failure: logged by the reloader

    # -- listeners -----------------------------------------------------------------------------

    def _bind(self) -> list[str]:
        s, addresses = self.settings, []
        if s.listen:
            try:
                if self.tls is not None:
                    self.port = self.server.add_secure_port(s.listen, self.tls.credentials())
                else:
                    self.port = self.server.add_insecure_port(s.listen)
            except RuntimeError as exc:
                raise ConfigError(f"--listen {s.listen}: cannot bind ({_bind_reason(exc)})") from None
            if not self.port:
                raise ConfigError(f"--listen {s.listen}: cannot bind (address in use, or not an address of this host)")
            scheme = "tls" if s.tls_cert is not None else "tcp"
            addresses.append(f"{scheme}://{s.listen.rpartition(':')[0]}:{self.port}")
        if s.uds is not None:
            self._bind_socket(self.server, s.uds, s.uds_permissions, s.uds_group, "--uds")
            addresses.append(f"unix:{s.uds}")
        return addresses

    def _bind_socket(self, server: grpc.aio.Server, path: Path, mode: int, group: str | None, flag: str) -> None:
        """A Unix socket created with no permissions for others (umask), then given its mode and group."""
        if path.exists() or path.is_symlink():
            if not stat.S_ISSOCK(path.lstat().st_mode):
                raise ConfigError(f"{flag} {path}: exists and is not a socket (refusing to replace it)")
            if _answers(path):  # another server's live socket: replacing it took its callers
                raise ConfigError(f"{flag} {path}: another process is listening on it (refusing to replace it)")
            try:
                path.unlink()  # a stale socket from a crashed run
            except OSError as exc:
                raise ConfigError(f"{flag} {path}: a stale socket that cannot be removed ({exc.strerror})") from None
        gid = _group_id(group, flag) if group is not None else -1
        old_umask = os.umask(0o177)
        try:
            server.add_insecure_port(f"unix:{path}")
        except RuntimeError as exc:
            raise ConfigError(f"{flag} {path}: cannot bind ({_bind_reason(exc)})") from None
        finally:
            os.umask(old_umask)
        self._sockets.append(path)
        try:
            if gid != -1:
                os.chown(path, -1, gid)
            os.chmod(path, mode)
        except OSError as exc:
            raise ConfigError(f"{flag} {path}: cannot set its owner or mode ({exc.strerror})") from None


def _answers(path: Path) -> bool:
    """Whether something accepts connections on the Unix socket at `path` (a stale one refuses)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:
            return False
        return True


def _group_id(group: str, flag: str) -> int:
    if group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ConfigError(f"{flag.replace('--uds', '--uds-group')} {group!r}: no such group") from None


def _bind_reason(exc: RuntimeError) -> str:
    text = str(exc)
    return "address in use, or not an address of this host" if "Failed to bind" in text or not text else text


def serve(settings: Settings) -> int:
    """Run the server (or, with --workers N, N of them) until told to stop; returns the exit code."""
    if settings.workers > 1:
        from .workers import supervise

        return supervise(settings)
    return serve_one(settings)


def serve_one(settings: Settings, metrics: Metrics | None = None,
              on_ready: Callable[[App], None] | None = None,
              on_reload: Callable[[str, str], None] | None = None, worker: bool = False) -> int:
    import uvloop

    if settings.access_log:
        open_access_log()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(App(settings, metrics, on_ready, on_reload, worker).run())


def _warn_if_others_write(root: Path) -> None:
    """The model root (--model-root, else the folder holding --model, /tmp at times) where other
    users may write: an artifact, or a link, any of them puts there is loaded by ReloadModel's
    relative names and by SIGHUP, their graph and response templates served as ours."""
    try:
        writable = root.stat().st_mode & stat.S_IWOTH
    except OSError:
        return
    if writable:
        log.warning("the model root %s is writable by every user: an artifact or link any of them puts there can be "
                    "loaded by ReloadModel or SIGHUP; give --model-root a folder only this service writes", root)


def _release_freed_memory() -> None:
    """glibc keeps the pages a freed model leaves in its arenas (one per thread that allocated:
    the reload thread, the inference and row threads), so each in-place reload added ~50 MB of
    resident memory until a pod's limit killed it; malloc_trim returns them (~2 ms)."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim this way
        pass
