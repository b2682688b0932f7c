"""`intentd serve` and `--workers N` around reloads and hangs: a SIGHUP while starting is not
dropped, the supervisor says where a reload left every worker, and a hung worker is replaced."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import threading
import time

import grpc

from intentd.server.app import serve_one
from intentd.server.config import Settings

from servers import WAIT_S, copy_artifact, pb2, pb2_grpc, wait_for
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


def worker_pid(server: Supervisor, index: int) -> int:
    """The pid of worker `index` as last started."""
    return int(re.findall(rf"worker {index} started \(pid (\d+)\)", server.log)[-1])


def test_the_supervisor_says_where_a_reload_left_every_worker(banking_artifact, tmp_path, monkeypatch):
    """A SIGHUP reload that failed in one worker left two versions served, and nothing said so.
    The second deploy lands between the two workers' loads (worker 1, stopped, loads late) and is
    broken: worker 0 serves it, worker 1 keeps the one before."""
    monkeypatch.setenv("INTENTD_TEST_HUNG_AFTER_S", "600")  # worker 1 is stopped on purpose
    root = versions(banking_artifact, tmp_path / "models")
    _corrupt(copy_artifact(banking_artifact, root / "broken"))
    with Supervisor(root / "current") as server:
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


def test_a_hung_worker_is_replaced(banking_artifact, monkeypatch):
    """A worker whose event loop stops (SIGSTOP stands in for a wedged loop) was never noticed:
    the kernel kept handing it connections, which hung. The supervisor kills and restarts it."""
    monkeypatch.setenv("INTENTD_TEST_HUNG_AFTER_S", "3")
    with Supervisor(banking_artifact, "--cache-size", "0") as server:
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


def test_a_worker_hung_while_stopping_is_killed(banking_artifact, monkeypatch):
    """A worker wedged when SIGTERM came never exited, and the supervisor waited for it for ever
    (a second SIGTERM changed nothing): past the grace period and the hang bound it is killed."""
    monkeypatch.setenv("INTENTD_TEST_HUNG_AFTER_S", "2")
    with Supervisor(banking_artifact, "--grace-period", "1") as server:
        server.wait_until_serving()
        hung = worker_pid(server, 0)
        os.kill(hung, signal.SIGSTOP)
        rc = server.stop(lambda: server.proc.send_signal(signal.SIGTERM))
    assert rc == 1, server.log  # not every worker drained
    assert f"worker 0 (pid {hung}) has not stopped" in server.log, server.log
    assert "is hung" not in server.log  # stopping: the stop bound decides, not a restart


def test_a_reload_summary_names_a_worker_that_died_before_it_reported(banking_artifact, tmp_path, monkeypatch):
    """A worker killed mid-reload (here: hung, and replaced) dropped out of the summary, which
    read "1 of 2 workers on b" at INFO."""
    monkeypatch.setenv("INTENTD_TEST_HUNG_AFTER_S", "3")
    root = versions(banking_artifact, tmp_path / "models")
    with Supervisor(root / "current") as server:
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
