"""`intentd serve --workers N`: N serving processes on one TCP address, for hosts with more cores
than one Python process can use (grpc.aio and the post-processing hold the GIL).

Each worker is a whole server (its own onnxruntime session, batcher and event loop) bound with
SO_REUSEPORT, so the kernel spreads new connections across them; this is the one place where
port sharing is wanted, and the port is first checked free without it, so a port another
program holds is still a one-line error. The supervisor:
- starts the workers and restarts one that dies unexpectedly (after a short pause). Each worker
  says when it serves; one that exits before it does could not start (a corrupt artifact, a bad
  domain): at the server's start that stops the whole server with the worker's one-line error
  and exit code 2, as `intentd serve` without workers would, instead of restarting it forever;
  later (a restart) it is tried again after a pause that doubles each time, up to a minute;
- forwards SIGTERM / SIGINT (drain) and SIGHUP (reload the artifact) to every worker;
- serves /metrics for all of them (prometheus-client's multiprocess mode: counters and
  histograms add up across workers; gauges are per worker, labelled by pid).
Its exit code is 0 when every worker drained and exited 0.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
import time

from intentd.errors import IntentdError

from .config import ConfigError, Settings
from .signals import catch_early, take_early

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
log = logging.getLogger(__name__)
RESTART_PAUSE_S = 1.0  # before restarting a worker that died; doubled after each failed start
MAX_RESTART_PAUSE_S = 60.0
POLL_S = 0.2
STOP_WAIT_S = 30.0  # for the other workers to stop after one could not start
EXIT_START_FAILED = 2  # as the CLI's for any error it reports


def free_port(listen: str) -> tuple[str, int]:
    """Bind HOST:PORT once without SO_REUSEPORT: no other program listens there (and PORT 0
    becomes a real one). Raises ConfigError naming the address."""
    host, _, port = listen.rpartition(":")
    bare = host.strip("[]")
    family = socket.AF_INET6 if ":" in bare else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # as grpc does: connections of a previous run in TIME_WAIT do not hold the port; a listener does
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((bare, int(port)))
        except OSError as exc:
            raise ConfigError(f"--listen {listen}: cannot bind ({exc.strerror or exc})") from None
        return host, probe.getsockname()[1]


def _worker(settings: Settings, index: int, ready, errors) -> None:
    """A worker process: one whole server. Metrics go to the shared multiprocess directory.
    `ready` (an Event) is set once it serves; a start that fails for a reason the user can fix
    puts (index, its one-line message) on `errors` for the supervisor to report.

    Its own process group: a signal sent to the supervisor's group (Ctrl-C in a terminal, which
    signals the whole foreground group) reaches it once, forwarded by the supervisor; received
    twice, it would count as the second signal that cancels in-flight requests."""
    os.setpgid(0, 0)
    catch_early()  # a SIGTERM forwarded while this process imports drains it, not kills it
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)  # blocked by the supervisor until now
    from .app import serve_one
    from .metrics import Metrics

    threading.Thread(target=_drain_when_orphaned, args=(os.getppid(),), daemon=True).start()
    logging.basicConfig(level=settings.log_level.upper(), format=f"%(levelname)s worker{index} %(name)s: %(message)s")
    try:
        code = serve_one(settings, Metrics(), on_ready=ready.set)
    except (IntentdError, OSError) as exc:
        errors.put((index, str(exc)))
        code = EXIT_START_FAILED
    raise SystemExit(code)


def _drain_when_orphaned(parent: int) -> None:
    """A supervisor killed outright (SIGKILL, OOM) cannot forward SIGTERM: drain on our own."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


def supervise(settings: Settings) -> int:
    host, port = free_port(settings.listen)
    worker_settings = dataclasses.replace(settings, listen=f"{host}:{port}", metrics_port=0,
                                          intra_op_threads=settings.onnx_threads)
    early = take_early()  # signals kept since `intentd serve` began
    if any(sig in (signal.SIGTERM, signal.SIGINT) for sig in early):
        log.info("stop requested before serving: not starting workers")
        return 0
    metrics_dir = tempfile.mkdtemp(prefix="intentd-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir  # read by each worker's prometheus-client at import
    try:
        return _supervise(settings, worker_settings, host, port, early)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _supervise(settings: Settings, worker_settings: Settings, host: str, port: int, early: list) -> int:
    # /metrics first: a port in use is one line before any worker is spawned
    http = _serve_metrics(settings) if settings.metrics_port else None
    context = multiprocessing.get_context("spawn")
    stopping = False
    signals_seen = 0
    readies = [context.Event() for _ in range(settings.workers)]
    errors = context.SimpleQueue()
    reasons: dict[int, str] = {}

    def start(index: int):
        readies[index] = context.Event()
        process = context.Process(target=_worker, args=(worker_settings, index, readies[index], errors),
                                  name=f"intentd-worker{index}")
        # blocked until the child keeps them itself (_worker): one forwarded while it starts is held
        # for it, never its default action (the mask is inherited across the spawn)
        previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
        log.info("worker %d started (pid %d)", index, process.pid)
        return process

    def reason(index: int, exitcode: int | None) -> str:
        while not errors.empty():
            i, message = errors.get()
            reasons[i] = message
        return reasons.pop(index, f"it exited with {exitcode}")

    workers = [start(i) for i in range(settings.workers)]
    log.info("%d workers on %s:%d (%d onnxruntime threads each)", settings.workers, host, port,
             worker_settings.intra_op_threads)

    def forward(signum, _frame) -> None:
        nonlocal stopping, signals_seen
        if signum in (signal.SIGTERM, signal.SIGINT):
            stopping = True
            signals_seen += 1
        for process in workers:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM if signum == signal.SIGINT else signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    for sig in early + take_early():  # a signal before or while the workers were started counts too
        forward(sig, None)
    try:
        starting = True  # until every worker has served once
        failed_starts = [0] * settings.workers
        restart_at: dict[int, float] = {}
        while True:
            time.sleep(POLL_S)
            starting = starting and not all(ready.is_set() for ready in readies)
            now = time.monotonic()
            for i, process in enumerate(workers):
                if stopping or process.exitcode is None:
                    continue
                if i in restart_at:  # dead, waiting for its pause to end
                    if now >= restart_at[i]:
                        del restart_at[i]
                        workers[i] = start(i)
                    continue
                _mark_dead(process.pid)
                if readies[i].is_set():
                    failed_starts[i] = 0
                    log.error("worker %d exited with %s; restarting it", i, process.exitcode)
                else:
                    why = reason(i, process.exitcode)
                    if starting:
                        _stop_all(workers)
                        raise IntentdError(f"worker {i} could not start: {why}")
                    failed_starts[i] += 1
                pause = min(MAX_RESTART_PAUSE_S, RESTART_PAUSE_S * 2 ** failed_starts[i])
                if failed_starts[i]:
                    log.error("worker %d could not start again (%s); next try in %.0f s", i, why, pause)
                restart_at[i] = now + pause
            if stopping and all(p.exitcode is not None for p in workers):
                break
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if http is not None:
            http.shutdown()
    codes = [p.exitcode for p in workers]
    log.info("workers stopped (exit codes %s)", codes)
    return 0 if all(code == 0 for code in codes) else 1


def _stop_all(workers: list) -> None:
    """SIGTERM to every worker still running (each drains), then wait; SIGKILL what is left."""
    for process in workers:
        if process.is_alive() and process.pid is not None:
            os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_WAIT_S
    for process in workers:
        process.join(timeout=max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()


def _mark_dead(pid: int | None) -> None:
    from prometheus_client import multiprocess

    if pid is not None:
        multiprocess.mark_process_dead(pid)


def _serve_metrics(settings: Settings):
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    try:
        server, _thread = start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=registry)
    except OSError as exc:
        raise ConfigError(f"--metrics-port {settings.metrics_port}: cannot bind ({exc.strerror or exc})") from None
    log.info("metrics for all workers on http://%s:%d/metrics", settings.metrics_host, server.server_port)
    return server
