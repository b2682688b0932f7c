"""`intentd serve` as a real process: SIGTERM drains without losing an accepted request, SIGHUP
reloads, bad settings exit 2 with one line."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from intentd.protogen import import_stubs

from servers import code_of

pb2, pb2_grpc = import_stubs()
WAIT_S = 90


def start(artifact, sock, *extra) -> tuple[subprocess.Popen, grpc.Channel]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "intentd", "serve", "--model", str(artifact), "--listen", "", "--uds", str(sock),
         "--cache-size", "0", "--grace-period", "30", "--no-warm-up", *extra],
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


def test_sigterm_drains_in_flight_requests(banking_artifact, tmp_path):
    proc, channel = start(banking_artifact, tmp_path / "s.sock")
    stub = pb2_grpc.IntentServiceStub(channel)
    try:
        calls = [stub.Analyze.future(pb2.AnalyzeRequest(text=f"send {i} euros to my savings account"), timeout=60)
                 for i in range(200)]
        calls[0].result()  # the burst is arriving: the rest are queued or in flight
        proc.send_signal(signal.SIGTERM)
        codes = [code_of(c) for c in calls]
        rc = proc.wait(WAIT_S)
    finally:
        channel.close()
        if proc.poll() is None:
            proc.kill()
    log = proc.stdout.read()
    assert rc == 0, log
    # accepted requests are all answered; only ones that arrived after the stop may be refused
    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}, codes
    assert codes.count(grpc.StatusCode.OK) > 1
    assert "draining" in log and "stopped" in log
    assert not (tmp_path / "s.sock").exists()


def test_sighup_reloads_and_keeps_serving(banking_artifact, tmp_path):
    proc, channel = start(banking_artifact, tmp_path / "s.sock")
    stub = pb2_grpc.IntentServiceStub(channel)
    try:
        loaded_at = stub.GetModelInfo(pb2.GetModelInfoRequest(), timeout=30).loaded_at
        proc.send_signal(signal.SIGHUP)
        deadline, i = time.monotonic() + WAIT_S, 0
        while stub.GetModelInfo(pb2.GetModelInfoRequest(), timeout=30).loaded_at == loaded_at:
            assert stub.Analyze(pb2.AnalyzeRequest(text=f"block card {i}"), timeout=30).intents
            assert time.monotonic() < deadline, "SIGHUP did not reload"
            i += 1
        proc.send_signal(signal.SIGINT)
        assert proc.wait(WAIT_S) == 0
    finally:
        channel.close()
        if proc.poll() is None:
            proc.kill()
    assert "reloaded" in proc.stdout.read()


@pytest.mark.parametrize("args, message", [
    (["--max-queue", "5000"], "--max-queue"),
    (["--listen", "nonsense"], "--listen"),
    (["--max-batch-size", "many"], "--max-batch-size"),
])
def test_bad_settings_exit_2_with_one_line(banking_artifact, args, message):
    out = subprocess.run([sys.executable, "-m", "intentd", "serve", "--model", str(banking_artifact), *args],
                         capture_output=True, text=True, timeout=WAIT_S)
    assert out.returncode == 2
    assert message in out.stderr.strip().splitlines()[-1]  # one clear line (argparse adds its usage above)
    assert "Traceback" not in out.stderr
