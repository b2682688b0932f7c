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
- kills (SIGKILL), and so restarts, a serving worker that is hung: its event loop stamps a
  shared slot about once a second, and one whose stamp is older than --hang-timeout answers
  nothing while the kernel keeps handing it connections. A quiet worker's loop runs its forward
  pass itself and stamps nothing meanwhile: the worker says so, and such a pass, like one that
  has stalled (--stall-timeout: the loop would answer, the model never), is bounded by
  --stall-timeout and --hang-timeout more (never with 0: a TensorRT engine build takes tens of
  seconds). A worker still loading its model stamps nothing: one that has not served within
  --start-timeout (a volume that stopped answering, a process stopped) is killed, and counts as
  a start that failed; a reload loads off the loop, so it does not stop the stamps;
- forwards SIGTERM / SIGINT to every worker as a drain (SIGUSR2; a second stop as SIGQUIT, which
  cuts the drains short) and SIGHUP as SIGUSR1 (reload the artifact): signals a worker gets from
  the supervisor alone, as it takes its own SIGTERM and SIGINT as a drain and ignores its own
  SIGHUP (one sent to every process of the service reached it twice); the workers' own signals
  sent to the supervisor stand for what they mean to a worker (SIGUSR2 a stop, SIGQUIT a cut,
  SIGUSR1 a SIGHUP: by default each killed the supervisor and orphaned its workers); each worker
  reports how its reload ended, and once all have, one line says which version each serves and
  why any failed (a reload that failed in one worker leaves two versions served);
- has the others reload (SIGUSR1) when a restarted worker serves another version than they do (the
  artifact under --model changed since they loaded it: a flipped link, `intentd calibrate` in
  place), so that one query gets one answer whichever worker its connection lands on;
- serves /metrics for all of them (prometheus-client's multiprocess mode: counters and
  histograms add up across workers, and so do the queue depth, requests in progress and open
  streams; the other gauges are per worker, labelled by pid), and its workers by state; a dead
  worker's counts are folded into the others' (worker_metrics.py).
Its exit code is 0 when every worker running at the stop drained and exited 0 and none was failing
to start (one that had died once and waited for its restart was logged when it died).

Each worker talks to the supervisor on a pipe of its own, never a queue they share: a worker
killed while writing to a shared queue would leave its lock held, and the others blocked.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import dataclasses
import fcntl
import functools
import glob
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import stat
import tempfile
import threading
import time

from intentd.errors import IntentdError

from .config import ConfigError, Settings
from .signals import WORKER_CUT, WORKER_DRAIN, WORKER_RELOAD, catch_early, ignore_from_now, take_early

# what the supervisor acts on: its stops and SIGHUP, and the workers' own signals sent to it, as
# the one each stands for (killed by SIGUSR1 or SIGUSR2, it left its workers to drain as orphans)
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, WORKER_DRAIN, WORKER_CUT, WORKER_RELOAD)
# a stop and a reload are forwarded as signals of the supervisor's alone (signals.py): a stop
# or a SIGHUP sent to every process of the service (systemd's default, `pkill intentd`) reached each
# worker twice, as its own and as the supervisor's, and the second cut its in-flight requests and
# streams, or loaded the model a second time
HELD = FORWARDED  # blocked in a worker until it keeps them itself
log = logging.getLogger(__name__)
RESTART_PAUSE_S = 1.0  # before restarting a worker that died; doubled after each failed start
MAX_RESTART_PAUSE_S = 60.0
POLL_S = 0.2
STOP_WAIT_S = 30.0  # for the other workers to stop after one could not start
EXIT_START_FAILED = 2  # as the CLI's for any error it reports
HEARTBEAT_S = 1.0  # a serving worker's event loop stamps its slot this often
METRICS_DIR_PREFIX = "intentd-metrics-"


class _Beat(ctypes.Structure):
    """A serving worker's signs of life, in memory it shares with the supervisor (time.monotonic():
    one clock for every process of the machine)."""

    _fields_ = [("loop", ctypes.c_double),  # its event loop last ran
                # when the forward pass now holding its model began, while its loop runs that pass
                # itself (and so stamps nothing) or the pass has stalled (--stall-timeout); else 0
                ("model", ctypes.c_double)]


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


def _worker(settings: Settings, index: int, ready, beats, reports) -> None:
    """A worker process: one whole server. Metrics go to the shared multiprocess directory.
    `ready` (an Event) is set once it serves, and from then it keeps `beats[index]` (`_Beat`).
    On `reports` (its pipe) it sends ("serving", version) as it starts serving, ("failed", its
    one-line message) when its start fails for a reason the user can fix, and ("reloaded",
    version served, why it failed or '') once SIGHUP reloads have settled.

    Its own process group: a signal sent to the supervisor's group (Ctrl-C in a terminal, which
    signals the whole foreground group) reaches it once, forwarded by the supervisor; received
    twice, it would count as the second signal that cancels in-flight requests. Until this
    function runs it is still in the supervisor's group, and a Ctrl-C then is held for it (the
    signals are blocked): dropped here, since the supervisor forwards it as SIGTERM."""
    os.setpgid(0, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # discards one held; serving, the app handles SIGINT again
    # kept while this process imports: acted on then
    catch_early((signal.SIGTERM, signal.SIGHUP, WORKER_DRAIN, WORKER_CUT, WORKER_RELOAD))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD)  # blocked by the supervisor until now
    from .app import serve_one
    from .metrics import Metrics

    threading.Thread(target=_drain_when_orphaned, args=(os.getppid(),), daemon=True).start()
    logging.basicConfig(level=settings.log_level.upper(), format=f"%(levelname)s worker{index} %(name)s: %(message)s")

    def serving(app) -> None:
        _beat(beats[index], app)  # before `ready`: the supervisor watches it from then on
        reports.send(("serving", app.runner.current.version))
        ready.set()

    try:
        code = serve_one(settings, Metrics(), on_ready=serving,
                         on_reload=lambda version, error: reports.send(("reloaded", version, error)), worker=True)
    except (IntentdError, OSError) as exc:
        reports.send(("failed", str(exc)))
        code = EXIT_START_FAILED
    ignore_from_now()
    raise SystemExit(code)


def _beat(beat: _Beat, app) -> None:
    """Keep `beat` from now on: the loop's stamps, and each forward pass the loop runs itself."""
    from .batcher import Batcher

    if isinstance(app.runner, Batcher):  # (--naive runs every pass off the loop)
        app.runner.on_loop_pass = functools.partial(_loop_pass, beat)
    _stamp(beat, app)


def _loop_pass(beat: _Beat, started: float) -> None:
    """A forward pass the loop runs itself began at `started`, or ended (0)."""
    if not started:  # the loop runs again: stamped first, or a poll in between reads a pass past
        beat.loop = time.monotonic()  # --hang-timeout as a loop that long silent
    beat.model = started


def _stamp(beat: _Beat, app) -> None:
    """On the worker's event loop, every HEARTBEAT_S: the supervisor's sign of life, and while its
    model has stalled (server/app.py), since when the pass has held it."""
    now = time.monotonic()
    beat.loop = now
    beat.model = now - app.runner.stalled_s() if app.stalled else 0.0
    asyncio.get_running_loop().call_later(HEARTBEAT_S, _stamp, beat, app)


def _hung(beat: _Beat, now: float, stall_timeout: float, hang_timeout: float) -> str:
    """Why a serving worker is hung, or '' while it is not: one forward pass has held its model
    `hang_timeout` past --stall-timeout (never with 0), or its loop, running no pass, has not
    stamped for `hang_timeout` (--hang-timeout)."""
    if beat.model:
        held_s = now - beat.model
        if stall_timeout and held_s > stall_timeout + hang_timeout:
            return (f"its model has stalled: one forward pass has held it for {held_s:.0f} s "
                    f"(--stall-timeout {stall_timeout:g})")
        return ""
    if now - beat.loop > hang_timeout:
        return f"its event loop has not run for {now - beat.loop:.0f} s"
    return ""


def _drain_when_orphaned(parent: int) -> None:
    """A supervisor killed outright (SIGKILL, OOM) cannot forward a stop: drain on our own (a
    drain: a stop that reached this worker already goes on as it was)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), WORKER_DRAIN)


def supervise(settings: Settings) -> int:
    host, port = free_port(settings.listen)
    worker_settings = dataclasses.replace(settings, listen=f"{host}:{port}", metrics_port=0,
                                          intra_op_threads=settings.onnx_threads)
    early = take_early()  # signals kept since `intentd serve` began
    if any(sig in (signal.SIGTERM, signal.SIGINT, WORKER_DRAIN, WORKER_CUT) for sig in early):
        log.info("stop requested before serving: not starting workers")
        return 0
    metrics_dir, lock = _metrics_dir()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir  # read by each worker's prometheus-client at import
    try:
        return _Supervisor(settings, worker_settings).run(host, port, early)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
        os.close(lock)


def _metrics_dir() -> tuple[str, int]:
    """A new folder for the workers' metrics files, and the descriptor of the lock on it that this
    supervisor holds while it lives. The folders of supervisors killed outright (SIGKILL, OOM:
    nothing removed them), whose locks the kernel has released, are removed first."""
    for folder in glob.glob(os.path.join(tempfile.gettempdir(), f"{METRICS_DIR_PREFIX}*")):
        if not _abandoned(folder):
            continue
        shutil.rmtree(folder, ignore_errors=True)
    path = tempfile.mkdtemp(prefix=METRICS_DIR_PREFIX)
    lock = os.open(os.path.join(path, "lock.new"), os.O_RDONLY | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    os.replace(os.path.join(path, "lock.new"), os.path.join(path, "lock"))  # seen by others only once locked
    return path, lock


def _abandoned(folder: str) -> bool:
    """Whether `folder` is ours and its supervisor is gone (its lock is free). Only our own real
    folder, and only a regular lock file, opened without following a link or waiting: a `lock`
    that another user made a FIFO blocked the open, and with it the server's start, for good
    (signals included)."""
    try:
        info = os.lstat(folder)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            return False
        fd = os.open(os.path.join(folder, "lock"), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:  # its supervisor lives
        return False
    finally:
        os.close(fd)


class _Supervisor:
    """The workers of one `intentd serve --workers N` and what the supervisor knows of each: its
    process, whether it serves, its signs of life, its pipe, the version it serves, why it last
    failed to start and when it may be started again (the rules: this module's docstring)."""

    def __init__(self, settings: Settings, worker_settings: Settings):
        from .metrics import WorkerStates
        from .worker_metrics import WorkerMetrics

        n = settings.workers
        self.settings, self.worker_settings = settings, worker_settings
        self.states = WorkerStates(n)
        self.files = WorkerMetrics(os.environ["PROMETHEUS_MULTIPROC_DIR"])
        self.context = multiprocessing.get_context("spawn")
        self.stopping = False
        self.starting = True  # until every worker has served once
        self.readies = [self.context.Event() for _ in range(n)]
        self.beats = self.context.RawArray(_Beat, n)  # each serving worker's signs of life
        self.reports: list = [None] * n  # each worker's pipe to us
        self.reasons: dict[int, str] = {}
        self.reloads = _Reloads(n)
        self.versions: list[str | None] = [None] * n  # what each worker serves, as it last said
        self.started_at = [0.0] * n  # when each worker was last started
        self.failed_starts = [0] * n
        self.restart_at: dict[int, float] = {}
        self.stop_by: float | None = None  # stopping: when a worker still running is killed
        # the workers the exit code answers for: those running at the stop, and those that could not
        # start again; not one that died once and waited for its restart (its crash was logged)
        self.judged: list[int] = []
        self.workers: list = []

    def run(self, host: str, port: int, early: list) -> int:
        settings = self.settings
        # /metrics first: a port in use is one line before any worker is spawned
        http = _serve_metrics(settings, self.files, self.states) if settings.metrics_port else None
        self.workers = [self.start(i) for i in range(settings.workers)]
        log.info("%d workers on %s:%d (%d onnxruntime threads each)", settings.workers, host, port,
                 self.worker_settings.intra_op_threads)
        # The handler only notes the signal; the loop forwards it. Forwarded from the handler, a
        # signal that came while the loop reaped a killed worker made the worker's Popen ask the
        # kernel again, find no such child, and take it for alive forever: the stop never ended.
        received: collections.deque[int] = collections.deque()
        previous = {sig: signal.signal(sig, lambda signum, _frame: received.append(signum)) for sig in FORWARDED}
        received.extend(early + take_early())  # a signal before or while the workers were started counts too
        try:
            while True:
                time.sleep(POLL_S)
                while received:
                    self.forward(received.popleft())
                self.starting = self.starting and not all(ready.is_set() for ready in self.readies)
                now = time.monotonic()
                if self.stopping and self.stop_by is None:
                    self.stop_by = now + settings.grace_period + settings.hang_timeout
                    self.judged = [i for i, p in enumerate(self.workers) if p.exitcode is None or self.failed_starts[i]]
                for i, process in enumerate(self.workers):
                    self.receive(i)
                    if self.stopping:
                        self.bound_the_stop(i, process, now)
                    elif process.exitcode is None:
                        self.watch(i, process, now)
                    else:
                        self.restart(i, process, now)
                self.states.states = [_state(p, ready) for p, ready in zip(self.workers, self.readies)]
                if self.stopping and all(p.exitcode is not None for p in self.workers):
                    break
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if http is not None:
                http.shutdown()
        codes = [p.exitcode for p in self.workers]
        log.info("workers stopped (exit codes %s)", codes)
        return 0 if all(codes[i] == 0 for i in self.judged) else 1

    def start(self, index: int):
        self.readies[index] = self.context.Event()
        self.started_at[index] = time.monotonic()
        if self.reports[index] is not None:
            self.reports[index].close()
        self.reports[index], sender = self.context.Pipe(duplex=False)
        process = self.context.Process(target=_worker, name=f"intentd-worker{index}",
                                       args=(self.worker_settings, index, self.readies[index], self.beats, sender))
        # blocked until the child keeps them itself (_worker): one forwarded while it starts is held
        # for it, never its default action (the mask is inherited across the spawn)
        previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, HELD)
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
        sender.close()  # the worker's end: once it exits, its pipe ends
        log.info("worker %d started (pid %d)", index, process.pid)
        return process

    def receive(self, index: int) -> None:
        """What worker `index` has sent: why its start failed, how its reloads ended."""
        try:
            while self.reports[index].poll():
                kind, *details = self.reports[index].recv()
                if kind == "failed":
                    self.reasons[index] = details[0]
                elif kind == "serving":
                    self.versions[index] = details[0]
                    if not self.starting:
                        self.converge(index)
                else:
                    self.versions[index] = details[0]
                    asked = index in self.reloads.awaited
                    self.reloads.reported(index, *details)
                    if not asked and not self.starting:  # a SIGUSR1 sent to this worker alone: the others follow
                        self.converge(index, "reloaded alone (a SIGUSR1 sent to it, not to the supervisor)")
        except (EOFError, OSError):  # it has exited, and what it sent is read
            pass

    def converge(self, index: int, why: str = "restarted (the artifact under --model changed since the others "
                                              "loaded it)") -> None:
        """A restarted worker loads what --model holds now; if that changed since the others
        loaded it (a `current` link flipped, `intentd calibrate` in place, a volume updated), the
        same query would get two answers by connection until someone sent SIGHUP: it is sent now.
        So it is when a worker reloaded alone (a SIGUSR1 sent to it directly)."""
        others = {v for i, v in enumerate(self.versions)
                  if i != index and v is not None and self.workers[i].exitcode is None}
        if not others or others == {self.versions[index]}:
            return
        log.warning("worker %d %s serves %s while the others serve %s: reloading them, so that every worker "
                    "serves one version", index, why, self.versions[index], ", ".join(sorted(others)))
        self.reloads.joined(index, self.versions[index])  # the summary counts it among the workers on the new version
        for i, process in enumerate(self.workers):
            if i != index and process.exitcode is None and process.pid is not None:
                os.kill(process.pid, WORKER_RELOAD)
                self.reloads.signalled(i)

    def forward(self, signum: int) -> None:
        if signum == WORKER_RELOAD:  # SIGUSR1, a worker's reload: the service's
            signum = signal.SIGHUP
        if signum == signal.SIGHUP and self.stopping:  # a worker draining would load a second model copy
            log.info("SIGHUP while stopping: no reload")
            return
        if signum in (signal.SIGTERM, signal.SIGINT, WORKER_DRAIN):
            sent = WORKER_CUT if self.stopping else WORKER_DRAIN  # the first: a drain; another: cut it short
            self.stopping = True
        elif signum == WORKER_CUT:  # SIGQUIT: cut now, drained or not
            sent, self.stopping = WORKER_CUT, True
        else:
            sent = WORKER_RELOAD
        for i, process in enumerate(self.workers):
            if process.exitcode is None and process.pid is not None:
                os.kill(process.pid, sent)
                if signum == signal.SIGHUP:
                    self.reloads.signalled(i)
            elif signum == signal.SIGHUP:
                self.reloads.down(i)

    def bound_the_stop(self, i: int, process, now: float) -> None:
        """Stopping: a worker that has not drained by then never will (a wedged loop): killed."""
        if process.exitcode is None and now > self.stop_by:
            log.error("worker %d (pid %d) has not stopped %.0f s after the stop signal (grace period "
                      "%g s); killing it", i, process.pid, now - self.stop_by + self.settings.grace_period
                      + self.settings.hang_timeout, self.settings.grace_period)
            process.kill()

    def watch(self, i: int, process, now: float) -> None:
        """A running worker: killed when it is hung serving, or has not served within --start-timeout."""
        settings = self.settings
        if self.readies[i].is_set():
            why = _hung(self.beats[i], now, settings.stall_timeout, settings.hang_timeout)
        elif settings.start_timeout and now - self.started_at[i] > settings.start_timeout:
            why = self.reasons[i] = f"it did not serve within {settings.start_timeout:g} s (--start-timeout)"
        else:
            why = ""
        if why:
            log.error("worker %d (pid %d) is hung: %s; killing it", i, process.pid, why)
            process.kill()
            process.join(POLL_S)

    def restart(self, i: int, process, now: float) -> None:
        """A worker that has exited: started again once its pause is over. One that could not
        start while the server starts stops the server (IntentdError, exit 2)."""
        if i in self.restart_at:  # dead, waiting for its pause to end
            if now >= self.restart_at[i]:
                del self.restart_at[i]
                self.workers[i] = self.start(i)
            return
        if process.pid is not None:
            self.files.retire(process.pid)
        self.reloads.gone(i)
        self.versions[i] = None
        if self.readies[i].is_set():
            self.failed_starts[i] = 0
            log.error("worker %d exited with %s; restarting it", i, process.exitcode)
        else:
            self.receive(i)  # it may have sent its reason just before we saw it exit
            why = self.reasons.pop(i, f"it exited with {process.exitcode}")
            if self.starting:
                _stop_all(self.workers)
                raise IntentdError(f"worker {i} could not start: {why}")
            self.failed_starts[i] += 1
        pause = min(MAX_RESTART_PAUSE_S, RESTART_PAUSE_S * 2 ** self.failed_starts[i])
        if self.failed_starts[i]:
            log.error("worker %d could not start again (%s); next try in %.0f s", i, why, pause)
        self.restart_at[i] = now + pause


class _Reloads:
    """The workers a SIGHUP reached and how their reloads ended: once each has reported (or died;
    a restarted worker loads the artifact afresh), one line says which version each serves and
    why any reload failed."""

    def __init__(self, workers: int):
        self.workers = workers
        self.awaited: set[int] = set()
        self.outcomes: dict[int, tuple[str, str]] = {}  # worker: (version served, why it failed or '')
        self.restarted: set[int] = set()  # died before it reported: its successor loads the artifact afresh
        self.restarting: set[int] = set()  # down when the SIGHUP came: it too loads the artifact afresh

    def signalled(self, index: int) -> None:
        self.awaited.add(index)  # a worker still reloading reloads once more, and reports once

    def down(self, index: int) -> None:
        self.restarting.add(index)

    def joined(self, index: int, version: str) -> None:
        """A worker that started on `version` as the others are told to reload: counted as loaded."""
        self.outcomes[index] = (version, "")

    def reported(self, index: int, version: str, error: str) -> None:
        self.outcomes[index] = (version, error)
        self._settled(index)

    def gone(self, index: int) -> None:
        if index in self.awaited:
            self.restarted.add(index)
        self.outcomes.pop(index, None)
        self._settled(index)

    def _settled(self, index: int) -> None:
        self.awaited.discard(index)
        if not self.awaited and self.outcomes:
            self._log_summary()
        if not self.awaited:
            self.outcomes.clear()
            self.restarted.clear()
            self.restarting.clear()

    def _log_summary(self) -> None:
        """'reload: 2 of 2 workers on v2', or an error such as 'reload: 1 of 2 workers on v2, 1 on
        v1; worker 1 failed: ...; serving 2 versions'."""
        succeeded_first = sorted(self.outcomes.values(), key=lambda outcome: bool(outcome[1]))
        (version, n), *others = collections.Counter(version for version, _ in succeeded_first).most_common()
        parts = [f"{n} of {self.workers} workers on {version}" + "".join(f", {m} on {v}" for v, m in others)]
        parts += [f"worker {i} failed: {error}" for i, (_, error) in sorted(self.outcomes.items()) if error]
        if others:
            parts.append(f"serving {len(others) + 1} versions")
        failed = len(parts) > 1
        parts += [f"worker {i} exited before it reported (restarted, it loads the artifact afresh)"
                  for i in sorted(self.restarted)]
        down = sorted(self.restarting - self.outcomes.keys())
        parts += [f"worker {i} was down (restarting, it loads the artifact afresh)" for i in down]
        level = logging.ERROR if failed else logging.WARNING if self.restarted or down else logging.INFO
        log.log(level, "reload: %s", "; ".join(parts))


def _stop_all(workers: list) -> None:
    """A drain to every worker still running, then wait; SIGKILL what is left."""
    for process in workers:
        if process.is_alive() and process.pid is not None:
            os.kill(process.pid, WORKER_DRAIN)
    deadline = time.monotonic() + STOP_WAIT_S
    for process in workers:
        process.join(timeout=max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()


def _state(process, ready) -> str:
    """A worker's state, as `intentd_workers` says it (server/metrics.py, WorkerStates)."""
    if process.exitcode is not None:
        return "down"
    return "serving" if ready.is_set() else "starting"


def _serve_metrics(settings: Settings, files, states):
    """The workers' metrics (their files), and `states` (WorkerStates), on one /metrics."""
    from prometheus_client import CollectorRegistry

    from .metrics_http import start_metrics_server

    registry = CollectorRegistry()
    registry.register(files)
    registry.register(states)
    try:
        server = start_metrics_server(settings.metrics_host, settings.metrics_port, registry)
    except OSError as exc:
        raise ConfigError(f"--metrics-port {settings.metrics_port}: cannot bind ({exc.strerror or exc})") from None
    log.info("metrics for all workers on http://%s:%d/metrics", settings.metrics_host, server.server_port)
    return server
