"""`intentd serve` as a real process: SIGTERM drains without losing an accepted request, SIGHUP
reloads, bad settings exit 2 with one line."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from intentd.protogen import import_stubs
from intentd.server.config import usable_cores

from servers import ThreadServer, code_of

pb2, pb2_grpc = import_stubs()
WAIT_S = 90
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # + an empty SETTINGS


def start(artifact, sock, *extra) -> tuple[subprocess.Popen, grpc.Channel]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "intentd", "serve", "--model", str(artifact), "--listen", "", "--uds", str(sock),
         "--cache-size", "0", "--grace-period", "30", "--no-warm-up", "--slo-p95-ms", "0", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    channel = grpc.insecure_channel(f"unix:{sock}")
    health = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            if health.Check(health_pb2.HealthCheckRequest(), timeout=1, wait_for_ready=True).status == \
                    health_pb2.HealthCheckResponse.SERVING:
                return proc, channel
        except grpc.RpcError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"server did not start:\n{proc.communicate()[0]}")


@contextlib.contextmanager
def serving(artifact, sock, *extra):
    """`start`, then the channel closed and a process the test left running killed."""
    proc, channel = start(artifact, sock, *extra)
    try:
        yield proc, channel
    finally:
        channel.close()
        if proc.poll() is None:
            proc.kill()


def free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def scrape(port: int) -> dict[str, float]:
    """Prometheus samples by name{labels} from the server's /metrics."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out: dict[str, float] = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def accepted_and_running(port: int) -> tuple[float, float]:
    samples = scrape(port)
    running = samples.get("intentd_requests_in_progress", 0.0)
    finished = sum(v for k, v in samples.items() if k.startswith('intentd_rpc_total{') and 'rpc="Analyze"' in k)
    return finished + running, running


def test_sigterm_answers_every_accepted_request(banking_artifact, tmp_path):
    # 600 long texts: with 300 short ones a fast machine answered every one while the client was
    # still making its calls, before the first scrape (the drain not exercised)
    metrics_port, n = free_tcp_port(), 600
    with serving(banking_artifact, tmp_path / "s.sock", "--max-queue", "900", "--max-calls-per-connection", "900",
                 "--metrics-port", str(metrics_port)) as (proc, channel):  # all 600 on one connection at once
        stub = pb2_grpc.IntentServiceStub(channel)
        calls = [stub.Analyze.future(pb2.AnalyzeRequest(
            text=f"please send {i} euros from my checking account to the savings account of my sister " * 4),
            timeout=60)
            for i in range(n)]
        deadline = time.monotonic() + WAIT_S
        while (state := accepted_and_running(metrics_port))[0] < n:  # every call admitted...
            assert time.monotonic() < deadline, "the burst was not admitted"
            time.sleep(0.005)
        proc.send_signal(signal.SIGTERM)  # ...and the signal arrives while some are still being computed
        codes = [code_of(c) for c in calls]
        late = code_of(stub.Analyze.future(pb2.AnalyzeRequest(text="after the signal"), timeout=10))
        rc = proc.wait(WAIT_S)
    log = proc.stdout.read()
    assert state[1] > 0, "every request was answered before the signal: the drain was not exercised"
    assert rc == 0, log
    assert codes == [grpc.StatusCode.OK] * n  # accepted means answered
    assert late == grpc.StatusCode.UNAVAILABLE
    assert "draining" in log and "stopped" in log
    assert not (tmp_path / "s.sock").exists()


@pytest.mark.parametrize("late", [signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGQUIT],
                         ids=["SIGTERM", "SIGUSR1", "SIGUSR2", "SIGQUIT"])
def test_a_late_signal_as_the_server_ends_does_not_kill_it(banking_artifact, tmp_path, late):
    """Once the drain was over the loop's handlers were removed, and the interpreter's teardown put
    back the default action: a second SIGTERM in the last few hundred milliseconds (a supervisor
    that signals twice) killed the process by the signal, and so did the signals a worker takes
    (a late SIGQUIT, a supervisor's second stop, dumped its core). Here one every few milliseconds
    from "stopped" to the exit: none may land on a default action."""
    with serving(banking_artifact, tmp_path / "s.sock") as (proc, _channel):
        proc.send_signal(signal.SIGTERM)
        lines = []
        while not any("intentd.server.app: stopped" in line for line in lines):
            lines.append(proc.stdout.readline())
            assert lines[-1], "".join(lines)
        deadline = time.monotonic() + WAIT_S
        while proc.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(late)
            time.sleep(0.005)
        rc = proc.wait(WAIT_S)
    assert rc == 0, "".join(lines) + proc.stdout.read()


LEAVING_THE_HANDLERS = """
import asyncio, os, signal, subprocess, sys
import uvloop
from intentd.server.signals import catch_early, handle_signals, ignore_from_now

catch_early()
handled = []
sender = subprocess.Popen([sys.executable, "-c", "import os, signal, time\\n"  # until its parent is gone
                           f"while os.getppid() == {os.getpid()}: os.kill({os.getpid()}, signal.SIGUSR2); "
                           "time.sleep(0.00005)"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

async def main():
    loop = asyncio.get_running_loop()
    for _ in range(20_000):
        with handle_signals(loop, {signal.SIGUSR2: lambda: handled.append(1), signal.SIGTERM: lambda: None}):
            await asyncio.sleep(0)

try:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
finally:
    sender.kill()
ignore_from_now()
print(len(handled))
"""


def test_leaving_the_signal_handlers_never_passes_through_the_default_action():
    """What the test above catches now and then, made certain: leaving the loop's handlers set
    each signal to its default action before the one kept from before was put back, and one
    of the signals sent every 50 us here killed the process by it (exit 140) in every run."""
    done = subprocess.run([sys.executable, "-c", LEAVING_THE_HANDLERS], capture_output=True, text=True, timeout=WAIT_S)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 0  # the signals were handled on the loop, not only kept


def test_the_access_log_is_bare_json_whatever_the_log_level(banking_artifact, tmp_path):
    """`--log-level warning` dropped every access record, and each kept one began `INFO
    intentd.access:`, which no JSON-lines shipper reads."""
    with serving(banking_artifact, tmp_path / "s.sock", "--access-log", "--log-level", "warning") as (proc, channel):
        pb2_grpc.IntentServiceStub(channel).Analyze(pb2.AnalyzeRequest(text="what is my balance"), timeout=WAIT_S)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(WAIT_S) == 0
    records = [json.loads(line) for line in proc.stdout.read().splitlines() if line.startswith("{")]
    assert [(r["rpc"], r["code"], r["pid"]) for r in records] == [("Analyze", "OK", proc.pid)]


def test_the_served_timings_are_finer_than_the_event_loops_millisecond(banking_artifact, tmp_path):
    """The served process runs on uvloop, whose loop.time() counts whole milliseconds, read once
    a pass of the loop: queue waits timed with it came out 0, 999 or 1000 us, and a request's
    stages added up to more than its total."""
    with serving(banking_artifact, tmp_path / "s.sock") as (proc, channel):
        stub = pb2_grpc.IntentServiceStub(channel)
        timings = [stub.Analyze(pb2.AnalyzeRequest(text=f"what is my balance {i}"), timeout=30).timing
                   for i in range(20)]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(WAIT_S) == 0
    waits = [t.queue_wait_us for t in timings]
    assert any(w % 1000 not in (0, 999) for w in waits), waits
    assert all(t.queue_wait_us + t.forward_us <= t.total_us for t in timings), timings


def test_sigusr2_drains_a_single_server_as_it_drains_a_worker(banking_artifact, tmp_path):
    """A worker's drain signal killed a server without --workers at once (exit by the signal)."""
    with serving(banking_artifact, tmp_path / "s.sock") as (proc, channel):
        stub = pb2_grpc.IntentServiceStub(channel)
        assert stub.Analyze(pb2.AnalyzeRequest(text="what is my balance"), timeout=30).intents
        proc.send_signal(signal.SIGUSR2)
        assert proc.wait(WAIT_S) == 0
    assert "draining" in proc.stdout.read()


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGUSR1], ids=["SIGHUP", "SIGUSR1, a worker's reload"])
def test_sighup_reloads_and_keeps_serving(banking_artifact, tmp_path, sig):
    """SIGUSR1, the reload a worker gets, killed a server without --workers at once."""
    with serving(banking_artifact, tmp_path / "s.sock") as (proc, channel):
        stub = pb2_grpc.IntentServiceStub(channel)
        loaded_at = stub.GetModelInfo(pb2.GetModelInfoRequest(), timeout=30).loaded_at
        proc.send_signal(sig)
        deadline, i = time.monotonic() + WAIT_S, 0
        while stub.GetModelInfo(pb2.GetModelInfoRequest(), timeout=30).loaded_at == loaded_at:
            assert stub.Analyze(pb2.AnalyzeRequest(text=f"block card {i}"), timeout=30).intents
            assert time.monotonic() < deadline, "SIGHUP did not reload"
            i += 1
        proc.send_signal(signal.SIGINT)
        assert proc.wait(WAIT_S) == 0
    assert "reloaded" in proc.stdout.read()


def test_sighup_after_a_reload_through_a_link_follows_the_link(banking_artifact, tmp_path):
    """ReloadModel("current") keeps the path as given: after the `current` link is flipped, SIGHUP
    serves its new target (it once reloaded the old target, the path the link had resolved to)."""
    from servers import copy_artifact

    root = tmp_path / "models"
    copy_artifact(banking_artifact, root / "a")
    calibration = json.loads((banking_artifact / "manifest.json").read_text())["calibration"]
    copy_artifact(banking_artifact, root / "b", calibration={**calibration, "temperature": 1.0})  # another version
    (root / "current").symlink_to("a")
    admin = grpc.insecure_channel(f"unix:{tmp_path / 'admin.sock'}")
    with serving(root / "a", tmp_path / "s.sock", "--admin-uds", str(tmp_path / "admin.sock")) as (proc, channel):
        admin_stub = pb2_grpc.IntentServiceStub(admin)
        reply = admin_stub.ReloadModel(pb2.ReloadModelRequest(artifact_path="current"), timeout=WAIT_S)
        assert reply.ok, reply.error
        info = admin_stub.GetModelInfo(pb2.GetModelInfoRequest(), timeout=30)
        assert info.artifact_path == str(root / "current")
        (root / "next").symlink_to("b")
        (root / "next").replace(root / "current")
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + WAIT_S
        while (now := admin_stub.GetModelInfo(pb2.GetModelInfoRequest(), timeout=30)).version == info.version:
            assert time.monotonic() < deadline, "SIGHUP did not load the link's new target"
            time.sleep(0.1)
        assert now.artifact_path == str(root / "current")
        assert now.version == json.loads((root / "b" / "manifest.json").read_text())["version"]
    admin.close()


def test_reloads_in_place_do_not_grow_the_process(banking_artifact, tmp_path):
    """Each reload frees a whole model into glibc's per-thread arenas; without handing the pages
    back, five reloads of the same artifact grew the process by ~150 MB (a pod's limit, then OOM)."""
    import shutil

    root = tmp_path / "models"
    shutil.copytree(banking_artifact, root / "a")
    proc, channel = start(root / "a", tmp_path / "s.sock", "--admin-uds", str(tmp_path / "admin.sock"))
    admin = grpc.insecure_channel(f"unix:{tmp_path / 'admin.sock'}")
    stub, admin_stub = pb2_grpc.IntentServiceStub(channel), pb2_grpc.IntentServiceStub(admin)

    def rss_mb() -> float:
        fields = dict(line.split(":", 1) for line in open(f"/proc/{proc.pid}/status"))
        return int(fields["VmRSS"].split()[0]) / 1024

    try:
        assert stub.Analyze(pb2.AnalyzeRequest(text="what's my balance"), timeout=30).intents
        assert admin_stub.ReloadModel(pb2.ReloadModelRequest(artifact_path="a"), timeout=WAIT_S).ok
        time.sleep(3)  # the old model's batches end, then its pages are returned (app.TRIM_AFTER_SWAP_S)
        first = rss_mb()
        for _ in range(5):  # each swap returns the pages on its own timer: one wait at the end
            assert admin_stub.ReloadModel(pb2.ReloadModelRequest(artifact_path="a"), timeout=WAIT_S).ok
            assert stub.Analyze(pb2.AnalyzeRequest(text="what's my balance"), timeout=30).intents
        time.sleep(3)
        assert rss_mb() - first < 60, (first, rss_mb())
    finally:
        channel.close()
        admin.close()
        proc.kill()
        proc.wait(WAIT_S)


def test_a_sigterm_while_starting_stops_cleanly_without_serving(banking_artifact, tmp_path):
    """A SIGTERM in the first second (a pod deleted as it starts; PID 1 in a container) killed the
    process by the default action, or let it bind and report SERVING before draining."""
    proc = subprocess.Popen([sys.executable, "-m", "intentd", "serve", "--model", str(banking_artifact),
                             "--listen", "", "--uds", str(tmp_path / "s.sock"), "--metrics-port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def catches_sigterm() -> bool:
        status = dict(line.split(":", 1) for line in open(f"/proc/{proc.pid}/status"))
        return bool(int(status["SigCgt"].strip(), 16) & (1 << (signal.SIGTERM - 1)))

    deadline = time.monotonic() + WAIT_S
    while not catches_sigterm():  # the handler comes before the model load, which takes a second or more
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    log = proc.communicate(timeout=WAIT_S)[0]
    assert proc.returncode == 0, log
    assert "stop requested before serving" in log and "serving banking" not in log, log
    assert not (tmp_path / "s.sock").exists()


def test_port_in_use_is_one_line_not_a_shared_port(banking_artifact, tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "intentd", "serve", "--model", str(banking_artifact),
                              "--listen", f"127.0.0.1:{port}", "--no-warm-up"],
                             capture_output=True, text=True, timeout=WAIT_S)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"intentd: error: --listen 127.0.0.1:{port}: cannot bind (Address already in use)"]


def test_a_live_unix_socket_is_never_taken_over(banking_artifact, tmp_path):
    """A second server on the same --uds deleted the first one's live socket and took its
    callers (and the first, stopping, then deleted the second's); a stale one is still replaced."""
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as holder:
        holder.bind(str(path))
        holder.listen()
        out = subprocess.run([sys.executable, "-m", "intentd", "serve", "--model", str(banking_artifact),
                              "--listen", "", "--uds", str(path), "--no-warm-up"],
                             capture_output=True, text=True, timeout=WAIT_S)
        assert out.returncode == 2, out.stderr
        assert out.stderr.strip().splitlines()[-1] == (
            f"intentd: error: --uds {path}: another process is listening on it (refusing to replace it)")
    assert path.exists()  # the holder closed without removing it: a stale socket now
    with ThreadServer(model=banking_artifact, uds=path, listen=""):
        with socket.socket(socket.AF_UNIX) as probe:
            probe.connect(str(path))  # replaced, and served


def test_failed_start_says_only_why(tmp_path):
    out = subprocess.run([sys.executable, "-m", "intentd", "-v", "serve", "--model", str(tmp_path / "nothing")],
                         capture_output=True, text=True, timeout=WAIT_S)
    assert out.returncode == 2
    assert "not a directory" in out.stderr.strip().splitlines()[-1]
    assert "draining" not in out.stderr and "stopped" not in out.stderr


_BOTH = 2 * usable_cores() + 1  # at most 4 a core alone; over it multiplied


@pytest.mark.parametrize("args, message", [
    (["--max-queue", "5000"], "--max-queue"),
    (["--listen", "nonsense"], "--listen"),
    (["--max-batch-size", "many"], "--max-batch-size"),
    (["--metrics-port", "9999", "--metrics-host", ""], "--metrics-host"),
    (["--port", "1"], "unrecognized arguments: --port 1"),
    (["--connection-max-age", "-1"], "--connection-max-age must be 0 or more"),
    (["--connection-idle-timeout", "3000000"], "--connection-idle-timeout must be 0 or more and at most 2147483"),
    (["--uds", "/nonexistent/run/s.sock"], "--uds /nonexistent/run/s.sock: no folder /nonexistent/run"),
    (["--admin-uds", "/nonexistent/a.sock"], "--admin-uds /nonexistent/a.sock: no folder /nonexistent"),
    (["--uds", "/tmp/" + "s" * 103], "bytes long, over the 107 a Unix socket path may have"),
    (["--intra-op-threads", "100000"], "--intra-op-threads 100000 is over 4 a CPU core"),  # took the host down
    (["--row-threads", "100000"], "--row-threads 100000 is over 4 a CPU core"),
    (["--intra-op-threads", str(_BOTH), "--row-threads", str(_BOTH)],  # each allowed, not the two together
     f"{_BOTH} onnxruntime threads x {_BOTH} row threads x 1 workers is {_BOTH * _BOTH}, over 4 threads a CPU core"),
    (["--listen", "127.0.0.1:0", "--workers", "2", "--intra-op-threads", str(_BOTH)],  # each worker its own
     f"{_BOTH} onnxruntime threads x 1 row threads x 2 workers is {2 * _BOTH}, over 4 threads a CPU core"),
    (["--model-root", "/nonexistent/models"], "--model-root /nonexistent/models: no such folder"),
])
def test_bad_settings_exit_2_with_one_line(banking_artifact, args, message):
    out = subprocess.run([sys.executable, "-m", "intentd", "serve", "--model", str(banking_artifact), *args],
                         capture_output=True, text=True, timeout=WAIT_S)
    assert out.returncode == 2
    assert message in out.stderr.strip().splitlines()[-1]  # one clear line (argparse adds its usage above)
    assert "Traceback" not in out.stderr

    if args[0] == "--port":  # serve's own usage, not the top level's
        assert "usage: intentd serve" in out.stderr


def test_a_sighup_while_draining_loads_no_second_model(banking_artifact, caplog):
    """A SIGHUP that came while the server drained (a deploy's reload beside a rollout's stop)
    loaded the artifact again: a second model copy in a process on its way out."""
    import logging
    import threading

    from servers import wait_for

    with ThreadServer(model=banking_artifact, grace_period=10) as server:
        app = server.app
        release = server.hold_model()
        try:
            call = threading.Thread(target=lambda: server.stub.Analyze(pb2.AnalyzeRequest(text="what is my balance"),
                                                                        timeout=30))
            call.start()
            wait_for(lambda: app.runner.queued == 1, "the request to wait for the held model")
            with caplog.at_level(logging.INFO, logger="intentd.server.app"):
                server.loop.call_soon_threadsafe(app.request_stop)  # what SIGTERM calls
                wait_for(lambda: "draining" in caplog.text, "the drain")
                server.loop.call_soon_threadsafe(app._reload_on_signal)  # what SIGHUP calls
                wait_for(lambda: "SIGHUP while stopping: no reload" in caplog.text, "the SIGHUP seen")
            assert app._hup_task is None and not app.reloader._busy
        finally:
            release.set()
        call.join(WAIT_S)


def test_a_sighup_during_a_reload_model_call_reloads_once_it_ends(banking_artifact, tmp_path):
    """A deploy that flips `current` and sends SIGHUP while a ReloadModel call still loads the old
    target: the SIGHUP was logged as ignored, and the old target stayed served for good."""
    import threading

    from servers import copy_artifact, wait_for

    root = tmp_path / "models"
    copy_artifact(banking_artifact, root / "a")
    calibration = json.loads((banking_artifact / "manifest.json").read_text())["calibration"]
    copy_artifact(banking_artifact, root / "b", calibration={**calibration, "temperature": 1.0})  # another version
    (root / "current").symlink_to("a")
    with ThreadServer(model=root / "current", admin_uds=tmp_path / "admin.sock") as server:
        app = server.app
        reloading = threading.Thread(target=server.admin.ReloadModel,
                                     args=(pb2.ReloadModelRequest(artifact_path="current"),), kwargs={"timeout": WAIT_S})
        reloading.start()
        wait_for(lambda: app.reloader._busy, "the ReloadModel call to start loading")
        (root / "next").symlink_to("b")
        (root / "next").replace(root / "current")
        server.loop.call_soon_threadsafe(app._reload_on_signal)  # what SIGHUP calls
        reloading.join(WAIT_S)
        b_version = json.loads((root / "b" / "manifest.json").read_text())["version"]
        wait_for(lambda: server.stub.GetModelInfo(pb2.GetModelInfoRequest(), timeout=30).version == b_version,
                 "the SIGHUP's reload of the link's new target")


def test_a_client_polling_model_info_does_not_hold_the_drain_open(banking_artifact):
    """GetModelInfo is answered while draining (a dashboard may ask which model is going away), but
    each call restarted the drain's quiet period: a poller every 50 ms held the server for its
    whole grace period, and the log said "grace period over with 0 RPCs in flight"."""
    import threading

    server = ThreadServer(model=banking_artifact, grace_period=20.0)
    server.__enter__()
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            with contextlib.suppress(grpc.RpcError):
                server.stub.GetModelInfo(pb2.GetModelInfoRequest(), timeout=5)
            time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        time.sleep(0.3)
        started = time.monotonic()
        server.loop.call_soon_threadsafe(server.app.request_stop)
        server.thread.join(WAIT_S)
        assert time.monotonic() - started < 5.0  # the quiet period (0.2 s), not the 20 s grace period
        assert server.rc == 0
    finally:
        stop.set()
        poller.join(10)
        server.channel.close()
        server.loop.close()


def test_silent_connections_are_closed_and_free_their_slots(banking_artifact):
    """Connections that sent the HTTP/2 preface and nothing more held every --max-connections slot
    for good, and every new client of the TCP listener was refused."""
    with ThreadServer(model=banking_artifact, max_connections=3, connection_idle_timeout=1.0) as server:
        assert server.stub.DetectIntent(pb2.DetectIntentRequest(text="block my card"), timeout=30).intents
        server.channel.close()  # the test's own connection would hold a slot until it idles out too
        silent = [socket.create_connection(("127.0.0.1", server.app.port)) for _ in range(3)]
        try:
            for conn in silent:
                conn.sendall(PREFACE)
                conn.settimeout(30)
            for conn in silent:  # the server says GOAWAY and closes each: read to the end
                while conn.recv(4096):
                    pass
            with grpc.insecure_channel(f"127.0.0.1:{server.app.port}") as channel:
                reply = pb2_grpc.IntentServiceStub(channel).DetectIntent(
                    pb2.DetectIntentRequest(text="block my card"), timeout=30, wait_for_ready=True)
                assert reply.intents
        finally:
            for conn in silent:
                conn.close()
            server.channel = grpc.insecure_channel(f"127.0.0.1:{server.app.port}")  # for __exit__ to close


def headers_only_call(method: str) -> bytes:
    """One call's HEADERS frame (END_HEADERS, no END_STREAM: its message never comes), each header
    an HPACK literal without indexing."""
    fields = ((b":method", b"POST"), (b":scheme", b"http"), (b":path", method.encode()), (b":authority", b"localhost"),
              (b"content-type", b"application/grpc"), (b"te", b"trailers"))
    block = b"".join(b"\x00" + bytes([len(k)]) + k + bytes([len(v)]) + v for k, v in fields)
    return len(block).to_bytes(3, "big") + b"\x01\x04" + (1).to_bytes(4, "big") + block


def test_a_connection_holding_a_call_that_never_ends_is_closed_past_its_age(banking_artifact):
    """A connection with a call open is never idle: connections that each sent one call's headers
    and never its message held their --max-connections slots for good. Past --connection-max-age
    (+/-10 %) it is told to go, and closed once the call has had as long again."""
    with ThreadServer(model=banking_artifact, max_connections=1, connection_max_age=1.0) as server:
        server.channel.close()  # the test's own connection would hold the one slot
        with socket.create_connection(("127.0.0.1", server.app.port)) as conn:
            conn.sendall(PREFACE + headers_only_call("/intentd.v1.IntentService/Analyze"))
            conn.settimeout(30)
            started = time.monotonic()
            while conn.recv(4096):  # read to the end: the server closes it
                pass
            held_s = time.monotonic() - started
        with grpc.insecure_channel(f"127.0.0.1:{server.app.port}") as channel:  # the slot is free again
            reply = pb2_grpc.IntentServiceStub(channel).DetectIntent(
                pb2.DetectIntentRequest(text="block my card"), timeout=30, wait_for_ready=True)
        server.channel = grpc.insecure_channel(f"127.0.0.1:{server.app.port}")  # for __exit__ to close
    assert 1.8 < held_s < 10 and reply.intents, held_s


def test_a_stop_waits_for_a_reload_that_is_loading(banking_artifact, monkeypatch):
    """A SIGHUP, then a SIGTERM before the new model had loaded: the process exited while the
    loading thread was inside onnxruntime, and the C++ runtime aborted it (SIGABRT, not exit 0)."""
    import threading

    import onnxruntime

    from servers import wait_for

    session = onnxruntime.InferenceSession.__init__

    def slow_in_a_reload(self, *args, **kwargs):  # a session that takes a while to build
        if threading.current_thread().name == "intentd-reload":
            time.sleep(1.5)
        session(self, *args, **kwargs)

    def loading() -> bool:
        return any(t.name == "intentd-reload" and t.is_alive() for t in threading.enumerate())

    with ThreadServer(model=banking_artifact) as server:
        monkeypatch.setattr(onnxruntime.InferenceSession, "__init__", slow_in_a_reload)
        server.loop.call_soon_threadsafe(server.app._reload_on_signal)  # what SIGHUP calls
        wait_for(loading, "the SIGHUP's reload to start loading")
    assert not server.thread.is_alive() and not loading()


def test_a_failed_sighup_reload_is_one_error_line(banking_artifact, tmp_path, caplog):
    """A broken artifact's reload was logged twice, the second time as 'SIGHUP reload failed:
    reload failed: ...'."""
    import logging

    from servers import copy_artifact, wait_for

    copy_artifact(banking_artifact, tmp_path / "a")
    with ThreadServer(model=tmp_path / "a") as server, caplog.at_level(logging.ERROR):
        (tmp_path / "a" / "model.int8.onnx").unlink()
        server.loop.call_soon_threadsafe(server.app._reload_on_signal)  # what SIGHUP calls
        wait_for(lambda: any(r.levelno == logging.ERROR for r in caplog.records), "the failed reload")
        time.sleep(0.5)
        assert server.stub.Analyze(pb2.AnalyzeRequest(text="what's my balance"), timeout=30).intents  # the old model
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "model.int8.onnx" in errors[0] and "still serving" in errors[0], errors


def test_a_sighup_during_a_reload_model_call_keeps_the_artifact_it_loaded(banking_artifact, tmp_path):
    """The SIGHUP's reload read the served path once the ReloadModel's thread ended, before the
    call swapped its model in: it loaded the old artifact again and put it back."""
    import threading

    from servers import copy_artifact, wait_for

    root = tmp_path / "models"
    copy_artifact(banking_artifact, root / "v1")
    calibration = json.loads((banking_artifact / "manifest.json").read_text())["calibration"]
    copy_artifact(banking_artifact, root / "v2", calibration={**calibration, "temperature": 1.0})  # another version
    with ThreadServer(model=root / "v1", admin_uds=tmp_path / "admin.sock") as server:
        app = server.app
        replies = []
        reloading = threading.Thread(target=lambda: replies.append(server.admin.ReloadModel(
            pb2.ReloadModelRequest(artifact_path="v2"), timeout=WAIT_S)))
        reloading.start()
        wait_for(lambda: app.reloader._busy, "the ReloadModel call to start loading")
        server.loop.call_soon_threadsafe(app._reload_on_signal)  # what SIGHUP calls
        reloading.join(WAIT_S)
        assert replies[0].ok, replies[0].error
        wait_for(lambda: app._hup_task is None and not app.reloader._busy, "the SIGHUP's reload")
        info = server.stub.GetModelInfo(pb2.GetModelInfoRequest(), timeout=30)
        assert info.artifact_path == str(root / "v2")
        assert info.version == json.loads((root / "v2" / "manifest.json").read_text())["version"]
