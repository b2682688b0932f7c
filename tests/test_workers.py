"""`intentd serve` and `--workers N` around reloads and hangs: a SIGHUP while starting is not
dropped, the supervisor says where a reload left every worker, a hung worker is replaced (and a
long forward pass is not a hang), /metrics says how many workers serve, and a supervisor killed
outright leaves no metrics folder for good."""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import os
import re
import signal
import tempfile
import threading
import time
import urllib.request

import grpc
import pytest

from intentd.server.app import serve_one
from intentd.server.config import Settings
from intentd.server.workers import _metrics_dir

from servers import WAIT_S, copy_artifact, pb2, pb2_grpc, wait_for
from test_server_lifecycle import scrape
from test_transport import Supervisor, _corrupt


def versions(artifact, root):
    """Artifacts `a` and `b` (another version) under `root`, and a `current` link to `a`."""
    copy_artifact(artifact, root / "a")
    calibration = json.loads((artifact / "manifest.json").read_text())["calibration"]
    copy_artifact(artifact, root / "b", calibration={**calibration, "temperature": 1.0})
    (root / "current").symlink_to("a")
    return root


def version_of(artifact) -> str:
    return json.loads((artifact / "manifest.json").read_text())["version"]


def deploy(root, target: str) -> None:
    """Point `current` at `target` in one rename, as a deploy does."""
    (root / "next").symlink_to(target)
    (root / "next").replace(root / "current")


class DeployWhileLoading(logging.Handler):
    """A deploy, and its SIGHUP, the moment the server has read its artifact and before it serves
    (it still warms the model up): once, on the model's first "model ..." log line."""

    def __init__(self, root) -> None:
        super().__init__()
        self.root, self.done = root, False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.done and record.getMessage().startswith("model "):
            self.done = True
            deploy(self.root, "b")
            os.kill(os.getpid(), signal.SIGHUP)


def test_a_sighup_while_starting_reloads_once_serving(banking_artifact, tmp_path, caplog):
    """A SIGHUP that came while the server started was dropped ("not serving yet"): a worker
    restarted just before a deploy served the old model for good. The server runs here, in the
    main thread, to catch real signals."""
    root = versions(banking_artifact, tmp_path / "models")
    sock, ready, seen = tmp_path / "s.sock", threading.Event(), []

    def client() -> None:
        """Once serving: the versions served, until the new one or a deadline; then SIGTERM."""
        if not ready.wait(WAIT_S):
            return  # never served: serve_one has returned (or failed) on its own
        try:
            with grpc.insecure_channel(f"unix:{sock}") as channel:
                stub, deadline = pb2_grpc.IntentServiceStub(channel), time.monotonic() + 30
                while time.monotonic() < deadline and version_of(root / "b") not in seen:
                    seen.append(stub.GetModelInfo(pb2.GetModelInfoRequest(), timeout=10).version)
                    time.sleep(0.05)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # drains the server, through its own handler

    deploying = DeployWhileLoading(root)
    logging.getLogger("intentd.server.model").addHandler(deploying)
    watcher = threading.Thread(target=client, daemon=True)
    try:
        with caplog.at_level(logging.INFO):
            watcher.start()
            rc = serve_one(Settings(model=root / "current", listen="", uds=sock, slo_p95_ms=0), on_ready=lambda app: ready.set())
            watcher.join(WAIT_S)
    finally:
        logging.getLogger("intentd.server.model").removeHandler(deploying)
    assert deploying.done and rc == 0
    assert seen[-1] == version_of(root / "b"), seen
    assert "SIGHUP while starting: reloading once serving" in caplog.text
    # from the version read while starting; the line names the link's target
    assert (f"reloaded: {version_of(root / 'a')} -> {version_of(root / 'b')} ({root / 'current'} -> {root / 'b'}, "
            in caplog.text), caplog.text


def test_a_deploy_while_the_artifact_is_read_at_start_serves_one_artifact(banking_artifact, tmp_path, monkeypatch):
    """The README's deploy (flip `current`) while the server read its artifact at start: the
    manifest came from one artifact and the files from the other, and the start failed (exit 2,
    a checksum mismatch). The link is resolved once, as a reload does."""
    from intentd.models.build import write_manifest
    from intentd.server import artifact

    root = versions(banking_artifact, tmp_path / "models")
    domain = root / "b" / "domain.yaml"
    domain.write_text(domain.read_text(encoding="utf-8").replace("Hello", "Hi there", 1), encoding="utf-8")
    write_manifest(root / "b", json.loads((root / "b" / "manifest.json").read_text()))
    hash_regular, flipped = artifact.hash_regular, []

    def flip_after_the_manifest(path, *args, **kwargs):
        if not flipped:
            flipped.append(True)
            deploy(root, "b")
        return hash_regular(path, *args, **kwargs)

    monkeypatch.setattr(artifact, "hash_regular", flip_after_the_manifest)
    sock, served = tmp_path / "s.sock", []

    def ready(app) -> None:
        served.append(app.runner.current.version)
        os.kill(os.getpid(), signal.SIGTERM)

    rc = serve_one(Settings(model=root / "current", listen="", uds=sock, slo_p95_ms=0, warm_up=False), on_ready=ready)
    assert flipped and rc == 0 and served == [version_of(root / "a")]


def worker_pid(server: Supervisor, index: int) -> int:
    """The pid of worker `index` as last started."""
    return int(re.findall(rf"worker {index} started \(pid (\d+)\)", server.log)[-1])


def test_the_supervisor_says_where_a_reload_left_every_worker(banking_artifact, tmp_path):
    """A SIGHUP reload that failed in one worker left two versions served, and nothing said so.
    The second deploy lands between the two workers' loads (worker 1, stopped, loads late) and is
    broken: worker 0 serves it, worker 1 keeps the one before."""
    root = versions(banking_artifact, tmp_path / "models")
    _corrupt(copy_artifact(banking_artifact, root / "broken"))
    with Supervisor(root / "current", "--hang-timeout", "600") as server:  # worker 1 is stopped on purpose
        server.wait_until_serving()
        deploy(root, "b")
        server.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: f"reload: 2 of 2 workers on {version_of(root / 'b')}" in server.log, "all on b")
        assert server.log.count(f"{root / 'current'} -> {root / 'b'}") == 2, server.log  # the link's target

        deploy(root, "a")
        os.kill(worker_pid(server, 1), signal.SIGSTOP)
        try:
            server.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: server.log.count("worker0 intentd.server.reload: reloaded: ") == 2, "worker 0 reloaded")
            deploy(root, "broken")
        finally:
            os.kill(worker_pid(server, 1), signal.SIGCONT)
        wait_for(lambda: "serving 2 versions" in server.log, "the summary of the second reload")
        rc = server.stop(lambda: server.proc.send_signal(signal.SIGTERM))
    assert rc == 0, server.log
    summary = next(line for line in server.lines if "serving 2 versions" in line)
    assert summary.startswith("ERROR intentd.server.workers: reload: 1 of 2 workers on "
                              f"{version_of(root / 'a')}, 1 on {version_of(root / 'b')}; "
                              "worker 1 failed: the artifact could not be loaded"), summary


def test_a_worker_restarted_on_a_changed_artifact_brings_the_others_to_it(banking_artifact, tmp_path):
    """A worker that died (a crash, an OOM kill, a hang) came back on what --model held then; after
    a deploy not yet signalled, it served the new version and the other worker the old one, the
    same query answered two ways by connection until someone sent SIGHUP, and nothing said so."""
    root = versions(banking_artifact, tmp_path / "models")
    with Supervisor(root / "current") as server:
        server.wait_until_serving()
        deploy(root, "b")  # no SIGHUP: the operator has not rolled it out yet
        os.kill(worker_pid(server, 1), signal.SIGKILL)
        new = version_of(root / "b")
        wait_for(lambda: f"reload: 2 of 2 workers on {new}" in server.log, "both workers on b")
        for i in range(16):  # each on a new connection: the kernel spreads them over both workers
            with grpc.insecure_channel(f"127.0.0.1:{server.port}",
                                       options=[("grpc.use_local_subchannel_pool", 1)]) as ch:
                answer = pb2_grpc.IntentServiceStub(ch).Analyze(pb2.AnalyzeRequest(text=f"hello there {i}"),
                                                                timeout=10, wait_for_ready=True)
            assert answer.model_version == new, i
        rc = server.stop(lambda: server.proc.send_signal(signal.SIGTERM))
    assert rc == 0, server.log
    assert (f"worker 1 restarted (the artifact under --model changed since the others loaded it) serves {new} "
            f"while the others serve {version_of(root / 'a')}: reloading them") in server.log, server.log


def test_a_worker_reloaded_alone_brings_the_others_to_it(banking_artifact, tmp_path):
    """A SIGUSR1 sent to one worker (not to the supervisor) reloaded that worker alone: a quarter of
    the answers came from the new version, the rest from the old, and the supervisor said only
    "reload: 1 of 2 workers on" the new one, at INFO."""
    root = versions(banking_artifact, tmp_path / "models")
    with Supervisor(root / "current") as server:
        server.wait_until_serving()
        deploy(root, "b")
        os.kill(worker_pid(server, 0), signal.SIGUSR1)
        new = version_of(root / "b")
        wait_for(lambda: f"reload: 2 of 2 workers on {new}" in server.log, "both workers on b")
        rc = server.stop(lambda: server.proc.send_signal(signal.SIGTERM))
    assert rc == 0, server.log
    assert f"worker 0 reloaded alone (a SIGUSR1 sent to it, not to the supervisor) serves {new}" in server.log


def test_a_hung_worker_is_replaced(banking_artifact):
    """A worker whose event loop stops (SIGSTOP stands in for a wedged loop) was never noticed:
    the kernel kept handing it connections, which hung. The supervisor kills and restarts it."""
    with Supervisor(banking_artifact, "--cache-size", "0", "--hang-timeout", "3") as server:
        server.wait_until_serving()
        hung = worker_pid(server, 0)
        os.kill(hung, signal.SIGSTOP)
        try:
            wait_for(lambda: server.log.count("worker0 intentd.server.app: serving") == 2, "worker 0 replaced")
        finally:
            with contextlib.suppress(ProcessLookupError):  # left stopped by a supervisor that missed it
                os.kill(hung, signal.SIGKILL)
        for i in range(20):  # each on a new connection: every one is answered
            with grpc.insecure_channel(f"127.0.0.1:{server.port}",
                                       options=[("grpc.use_local_subchannel_pool", 1)]) as ch:
                pb2_grpc.IntentServiceStub(ch).Analyze(pb2.AnalyzeRequest(text=f"what is my balance {i}"),
                                                       timeout=10, wait_for_ready=True)
        rc = server.stop(lambda: server.proc.send_signal(signal.SIGTERM))
    assert rc == 0, server.log
    assert server.log.count("is hung") == 1 and f"worker 0 (pid {hung}) is hung" in server.log, server.log


def test_a_worker_hung_while_it_starts_again_is_started_once_more(banking_artifact):
    """A worker that hung while it loaded its model (SIGSTOP stands in for a volume that stopped
    answering) was not watched: after a restart the service ran a worker short for good."""
    with Supervisor(banking_artifact, "--start-timeout", "3") as server:
        server.wait_until_serving()
        os.kill(worker_pid(server, 1), signal.SIGKILL)
        wait_for(lambda: server.log.count("worker 1 started") == 2, "worker 1 restarted")
        stuck = worker_pid(server, 1)
        os.kill(stuck, signal.SIGSTOP)  # within the second or more it takes to start
        try:
            wait_for(lambda: server.log.count("worker1 intentd.server.app: serving") == 2, "worker 1 serving again")
        finally:
            with contextlib.suppress(ProcessLookupError):  # left stopped by a supervisor that missed it
                os.kill(stuck, signal.SIGKILL)
        rc = server.stop(lambda: server.proc.send_signal(signal.SIGTERM))
    assert rc == 0, server.log
    assert f"worker 1 (pid {stuck}) is hung: it did not serve within 3 s (--start-timeout)" in server.log, server.log
    assert "worker 1 could not start again (it did not serve within 3 s" in server.log, server.log


def test_a_worker_hung_while_the_server_starts_stops_the_server(banking_artifact):
    """As a worker that cannot start: one line and exit 2, not a server that never serves."""
    with Supervisor(banking_artifact, "--start-timeout", "3") as server:
        wait_for(lambda: "worker 0 started" in server.log, "worker 0 started")
        os.kill(worker_pid(server, 0), signal.SIGSTOP)
        rc = server.stop(lambda: None)
    assert rc == 2, server.log
    assert "worker 0 could not start: it did not serve within 3 s (--start-timeout)" in server.log, server.log


def test_a_worker_hung_while_stopping_is_killed(banking_artifact):
    """A worker wedged when SIGTERM came never exited, and the supervisor waited for it for ever
    (a second SIGTERM changed nothing): past the grace period and the hang bound it is killed."""
    with Supervisor(banking_artifact, "--grace-period", "1", "--hang-timeout", "2") as server:
        server.wait_until_serving()
        hung = worker_pid(server, 0)
        os.kill(hung, signal.SIGSTOP)
        rc = server.stop(lambda: server.proc.send_signal(signal.SIGTERM))
    assert rc == 1, server.log  # not every worker drained
    assert f"worker 0 (pid {hung}) has not stopped" in server.log, server.log
    assert "is hung" not in server.log  # stopping: the stop bound decides, not a restart


def test_a_reload_summary_names_a_worker_that_died_before_it_reported(banking_artifact, tmp_path):
    """A worker killed mid-reload (here: hung, and replaced) dropped out of the summary, which
    read "1 of 2 workers on b" at INFO."""
    root = versions(banking_artifact, tmp_path / "models")
    with Supervisor(root / "current", "--hang-timeout", "3") as server:
        server.wait_until_serving()
        deploy(root, "b")
        hung = worker_pid(server, 1)
        os.kill(hung, signal.SIGSTOP)
        try:
            server.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "workers: reload: " in server.log, "the summary")
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(hung, signal.SIGKILL)
        server.stop(lambda: server.proc.send_signal(signal.SIGTERM))
    summary = next(line for line in server.lines if "workers: reload: " in line)
    assert summary.startswith(f"WARNING intentd.server.workers: reload: 1 of 2 workers on {version_of(root / 'b')}; "
                              "worker 1 exited before it reported"), summary


SLOW_ON_THE_LOOP = """\
# Written by tests/test_workers.py: onnxruntime's run, on a process's main thread (where a quiet
# intentd worker's event loop runs its forward pass), first sleeps the seconds written in FLAG, once.
import os
import threading
import time

import onnxruntime

FLAG = {flag!r}
_run = onnxruntime.InferenceSession.run


def run(self, *args, **kwargs):
    if threading.current_thread() is threading.main_thread():
        try:
            with open(FLAG) as flag:
                seconds = float(flag.read())
            os.unlink(FLAG)
        except (OSError, ValueError):
            seconds = 0.0
        time.sleep(seconds)
    return _run(self, *args, **kwargs)


onnxruntime.InferenceSession.run = run
"""


def slow_passes_on_the_loop(tmp_path, monkeypatch):
    """The file whose number of seconds the next forward pass run on a worker's event loop takes
    (as a TensorRT engine build for a new input shape takes tens of seconds): onnxruntime is
    patched in every process started from now on (a sitecustomize module on PYTHONPATH)."""
    hook, flag = tmp_path / "hook", tmp_path / "slow"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SLOW_ON_THE_LOOP.format(flag=str(flag)))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")])))
    return flag


def analyze(server: Supervisor, text: str) -> float:
    """One Analyze call on a connection of its own (the kernel picks the worker); its seconds."""
    start = time.monotonic()
    with grpc.insecure_channel(f"127.0.0.1:{server.port}", options=[("grpc.use_local_subchannel_pool", 1)]) as ch:
        pb2_grpc.IntentServiceStub(ch).Analyze(pb2.AnalyzeRequest(text=text), timeout=WAIT_S, wait_for_ready=True)
    return time.monotonic() - start


def test_a_long_forward_pass_on_the_event_loop_is_not_a_hang(banking_artifact, tmp_path, monkeypatch):
    """A quiet worker's event loop runs its forward pass itself and stamps nothing meanwhile: the
    supervisor took a pass longer than its hang bound (15 s) for a wedged loop and killed the
    worker, even with --stall-timeout 0 (a TensorRT engine build, which then began again in the
    new worker)."""
    slow = slow_passes_on_the_loop(tmp_path, monkeypatch)
    with Supervisor(banking_artifact, "--cache-size", "0", "--stall-timeout", "0", "--hang-timeout", "2") as server:
        server.wait_until_serving()
        slow.write_text("3.5")  # past the hang bound
        assert analyze(server, "what is my balance") >= 3.5  # the pass ran on the loop, and was answered
        rc = server.stop(lambda: server.proc.send_signal(signal.SIGTERM))
    assert rc == 0, server.log
    assert "is hung" not in server.log, server.log


def test_a_forward_pass_on_the_event_loop_is_bounded_by_the_stall_timeout(banking_artifact, tmp_path, monkeypatch):
    """...but it is bounded by --stall-timeout, with the hang bound as margin, and the supervisor
    says the worker's model has stalled (it said its event loop had not run)."""
    slow = slow_passes_on_the_loop(tmp_path, monkeypatch)
    with Supervisor(banking_artifact, "--cache-size", "0", "--stall-timeout", "1", "--hang-timeout", "2") as server:
        server.wait_until_serving()
        slow.write_text("60")  # a pass that never ends, as far as the supervisor can wait
        with pytest.raises(grpc.RpcError) as killed:
            analyze(server, "what is my balance")
        assert killed.value.code() == grpc.StatusCode.UNAVAILABLE
        server.stop(lambda: server.proc.send_signal(signal.SIGTERM))  # (exit code 1: a worker was killed)
    hung = [line for line in server.lines if "is hung" in line]
    assert len(hung) == 1 and re.search(r"is hung: its model has stalled: one forward pass has held it for \d+ s "
                                        r"\(--stall-timeout 1\); killing it", hung[0]), server.log


def workers_by_state(server: Supervisor) -> dict[str, float]:
    samples = scrape(server.metrics_port)
    return {state: samples[f'intentd_workers{{state="{state}"}}'] for state in ("serving", "starting", "down")}


def test_the_supervisor_exports_its_workers_by_state(banking_artifact):
    """Nothing on /metrics said how many workers served: a dead or restarting one only took its
    pid's series away. `intentd_workers{state}` says; and `intentd_streams_open` says it is the
    sum over the workers, each capped at its own --max-streams."""
    with Supervisor(banking_artifact) as server:
        server.wait_until_serving()
        wait_for(lambda: workers_by_state(server) == {"serving": 2, "starting": 0, "down": 0}, "2 serving")
        os.kill(worker_pid(server, 0), signal.SIGKILL)
        wait_for(lambda: workers_by_state(server)["serving"] == 1, "worker 0 out of service")
        states = workers_by_state(server)
        assert states["starting"] + states["down"] == 1, states  # down for its restart pause, then loading
        wait_for(lambda: workers_by_state(server) == {"serving": 2, "starting": 0, "down": 0}, "worker 0 back")
        body = urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=10).read().decode()
        server.stop(lambda: server.proc.send_signal(signal.SIGTERM))
    assert ("# HELP intentd_streams_open AnalyzeStream calls open (with --workers, summed over the workers; each "
            "refuses streams past its own --max-streams)") in body


def test_a_dead_workers_counts_are_folded_into_the_others(banking_artifact):
    """A dead worker's metric files stayed until the supervisor exited (~40 KB and 0.4 ms per scrape each, a
    crash loop filled /tmp); now they are added into one file per type, and no count goes back."""
    from intentd.server.workers import METRICS_DIR_PREFIX

    def answered() -> float:
        return sum(v for k, v in scrape(server.metrics_port).items()
                   if k.startswith("intentd_rpc_total{") and 'code="OK"' in k)

    with Supervisor(banking_artifact, "--cache-size", "0") as server:
        server.wait_until_serving()
        for round_ in range(2):  # the second death adds to the first's sums
            for i in range(20):  # a connection each: both workers answer some
                with grpc.insecure_channel(f"127.0.0.1:{server.port}",
                                           options=[("grpc.use_local_subchannel_pool", 1)]) as ch:
                    pb2_grpc.IntentServiceStub(ch).Analyze(pb2.AnalyzeRequest(text=f"what is my balance {round_} {i}"),
                                                           timeout=WAIT_S, wait_for_ready=True)
            wait_for(lambda: answered() >= 20 * (round_ + 1), "answers counted")
            before, dead = answered(), worker_pid(server, 0)
            folder = next(f for f in glob.glob(os.path.join(tempfile.gettempdir(), f"{METRICS_DIR_PREFIX}*"))
                          if os.path.exists(os.path.join(f, f"counter_{dead}.db")))
            os.kill(dead, signal.SIGKILL)
            wait_for(lambda: worker_pid(server, 0) != dead and workers_by_state(server)["serving"] == 2,
                     "worker 0 back")
            assert answered() == before == 20 * (round_ + 1)
            assert not [name for name in os.listdir(folder) if name.endswith(f"_{dead}.db")], os.listdir(folder)
            assert "counter_retired.db" in os.listdir(folder) and "histogram_retired.db" in os.listdir(folder)
        server.stop(lambda: server.proc.send_signal(signal.SIGTERM))


def test_a_killed_supervisors_metrics_folder_is_removed_by_the_next(tmp_path, monkeypatch):
    """A supervisor killed outright (SIGKILL, OOM) left its /tmp/intentd-metrics-* folder behind,
    one more at each such restart. Its lock goes with it (the kernel releases it, as closing the
    descriptor does here): the next supervisor removes that folder, and no live one's."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    live, live_lock = _metrics_dir()
    killed, killed_lock = _metrics_dir()
    os.close(killed_lock)
    try:
        mine, my_lock = _metrics_dir()
        os.close(my_lock)
    finally:
        os.close(live_lock)
    assert os.path.isdir(live) and os.path.isdir(mine) and not os.path.exists(killed)


def test_a_metrics_folder_planted_by_another_user_neither_blocks_nor_is_removed(tmp_path, monkeypatch):
    """Another user's folder of the same name with a FIFO for its lock: the supervisor's open()
    waited for a writer, for good, before it bound the port or handled a signal (only SIGKILL
    ended it). A lock that is a link, or a folder that is not ours, is left alone."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    fifo = tmp_path / "intentd-metrics-fifo"
    fifo.mkdir()
    os.mkfifo(fifo / "lock")
    link = tmp_path / "intentd-metrics-link"
    link.mkdir()
    (tmp_path / "elsewhere").write_text("")
    (link / "lock").symlink_to(tmp_path / "elsewhere")
    theirs = tmp_path / "intentd-metrics-theirs"
    theirs.mkdir()
    (theirs / "lock").write_text("")
    if os.geteuid() == 0:
        os.chown(theirs, 65534, 65534)
    done = []
    worker = threading.Thread(target=lambda: done.append(_metrics_dir()), daemon=True)
    worker.start()
    worker.join(10)
    assert done, "the supervisor's start blocked on a planted FIFO"
    os.close(done[0][1])
    assert fifo.is_dir() and link.is_dir() and (tmp_path / "elsewhere").exists()
    assert theirs.is_dir() or os.geteuid() != 0


def test_a_stop_while_a_dead_worker_waits_to_restart_exits_0(banking_artifact):
    """Every running worker drained and exited 0, but the stop came within a dead worker's restart
    pause: the supervisor exited 1 for the crash it had already logged."""
    with Supervisor(banking_artifact) as server:
        server.wait_until_serving()
        os.kill(worker_pid(server, 1), signal.SIGKILL)
        wait_for(lambda: "worker 1 exited with -9; restarting it" in server.log, "the crash seen")
        rc = server.stop(lambda: server.proc.send_signal(signal.SIGTERM))  # within the 1 s pause
    assert rc == 0, server.log
    assert "workers stopped (exit codes [0, -9])" in server.log, server.log


def test_a_ctrl_c_while_a_worker_restarts_drains_it_once(banking_artifact):
    """A restarted worker is in the supervisor's process group until its own code runs: a Ctrl-C
    then (the whole group signalled) reached it beside the SIGTERM the supervisor forwards, counted
    as a second signal, and the worker exited 1."""
    with Supervisor(banking_artifact) as server:
        server.wait_until_serving()
        os.kill(worker_pid(server, 1), signal.SIGKILL)
        wait_for(lambda: len(re.findall(r"worker 1 started", server.log)) == 2, "worker 1 restarted")
        rc = server.stop(lambda: os.killpg(server.proc.pid, signal.SIGINT))
    assert rc == 0, server.log
    assert "second signal" not in server.log, server.log


def test_a_sigterm_to_every_process_of_the_service_drains_once(banking_artifact):
    """systemd's default stop, `pkill intentd`: each worker got its own SIGTERM and the one the
    supervisor forwards, took the second for "cancel in-flight requests", and exited 1 (the
    supervisor too). The supervisor forwards a stop as a drain, which a stop already under way
    leaves as it is."""
    with Supervisor(banking_artifact) as server:
        server.wait_until_serving()
        pids = [worker_pid(server, 0), worker_pid(server, 1)]

        def everyone() -> None:
            for pid in (server.proc.pid, *pids):
                os.kill(pid, signal.SIGTERM)
        rc = server.stop(everyone)
    assert rc == 0, server.log
    assert "second signal" not in server.log and server.log.count("intentd.server.app: stopped") == 2, server.log


def test_a_sighup_to_every_process_of_the_service_reloads_each_worker_once(banking_artifact):
    """`pkill -HUP intentd`, `systemctl kill -s HUP`: each worker got its own SIGHUP and the one
    the supervisor forwards, and loaded the model twice."""
    with Supervisor(banking_artifact) as server:
        server.wait_until_serving()
        for pid in (server.proc.pid, worker_pid(server, 0), worker_pid(server, 1)):
            os.kill(pid, signal.SIGHUP)
        wait_for(lambda: "workers: reload: " in server.log, "the summary")
        time.sleep(2.0)  # a second reload, were one coming, would have started by now
        server.stop(lambda: server.proc.send_signal(signal.SIGTERM))
    assert server.log.count("intentd.server.reload: reloaded: ") == 2, server.log
    assert server.log.count("not acted on (its supervisor forwards a reload") == 2, server.log


def test_a_workers_signals_sent_to_the_supervisor_mean_what_they_mean_to_a_worker(banking_artifact):
    """The README names SIGUSR1 (reload) and SIGUSR2 (drain) as what workers get: sent to the
    supervisor, each killed it at once (exit 138 / 140) and left its workers to drain as orphans."""
    with Supervisor(banking_artifact) as server:
        server.wait_until_serving()
        server.proc.send_signal(signal.SIGUSR1)
        wait_for(lambda: "workers: reload: " in server.log, "the reload summary")
        rc = server.stop(lambda: server.proc.send_signal(signal.SIGUSR2))
    assert rc == 0, server.log
    assert server.log.count("intentd.server.reload: reloaded: ") == 2, server.log
    assert "second signal" not in server.log and server.log.count("intentd.server.app: stopped") == 2, server.log


def test_a_workers_own_stop_after_the_supervisors_still_only_drains(banking_artifact):
    """A stop script that signals the supervisor and then its workers: the forwarded drain came
    first, the worker took its own SIGTERM for the second stop, and cut its requests (exit 1)."""
    with Supervisor(banking_artifact) as server:
        server.wait_until_serving()
        pids = [worker_pid(server, 0), worker_pid(server, 1)]

        def supervisor_then_workers() -> None:
            server.proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)  # past the supervisor's forward
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        rc = server.stop(supervisor_then_workers)
    assert rc == 0, server.log
    assert "second signal" not in server.log and server.log.count("intentd.server.app: stopped") == 2, server.log


def test_a_reload_summary_names_a_worker_that_was_down_at_the_sighup(banking_artifact):
    """A SIGHUP within a dead worker's restart pause: 'reload: 1 of 2 workers on v1' at INFO, and
    nothing about the other worker (which loads the artifact afresh as it restarts)."""
    with Supervisor(banking_artifact) as server:
        server.wait_until_serving()
        os.kill(worker_pid(server, 1), signal.SIGKILL)
        wait_for(lambda: "worker 1 exited with -9; restarting it" in server.log, "the crash seen")
        server.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "workers: reload: " in server.log, "the summary")
        server.stop(lambda: server.proc.send_signal(signal.SIGTERM))
    summary = next(line for line in server.lines if "workers: reload: " in line)
    assert summary.startswith("WARNING intentd.server.workers: reload: 1 of 2 workers on ") and summary.rstrip().endswith(
        "; worker 1 was down (restarting, it loads the artifact afresh)"), summary
