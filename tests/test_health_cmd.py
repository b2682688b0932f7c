"""`intentd health`, the probe command, run as a process against real servers.

Exit codes are the contract probes rely on: 0 SERVING, 1 answered but not SERVING, 2 no answer.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
import trustme
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from servers import WAIT_S, ThreadServer, pb2, wait_for


def health_cmd(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "intentd", "health", *args], capture_output=True, text=True,
                          timeout=WAIT_S)


@contextmanager
def socket_path():
    """A short socket path (Unix socket paths are limited to about 100 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="intentd-health-"))
    try:
        yield folder / "intentd.sock"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got: {text!r}"
    return lines[0]


@pytest.fixture(scope="module")
def server(banking_artifact):
    with socket_path() as sock, ThreadServer(model=banking_artifact, uds=sock) as running:
        yield running


def test_serving_over_tcp_and_socket_exits_0_silently(server):
    for where in (["--target", f"127.0.0.1:{server.app.port}"], ["--uds", str(server.app.settings.uds)]):
        done = health_cmd(*where)
        assert (done.returncode, done.stdout, done.stderr) == (0, "", ""), where


def test_asks_about_the_named_service(server):
    done = health_cmd("--target", f"127.0.0.1:{server.app.port}", "--service", "intentd.v1.IntentService")
    assert done.returncode == 0, done.stderr
    unknown = health_cmd("--target", f"127.0.0.1:{server.app.port}", "--service", "no.such.Service")
    assert unknown.returncode == 1
    assert "SERVICE_UNKNOWN" in one_line(unknown.stderr)


def test_draining_server_is_not_serving(banking_artifact):
    """After SIGTERM (request_stop) the server answers NOT_SERVING while a held request finishes."""
    with socket_path() as sock, ThreadServer(model=banking_artifact, uds=sock) as server:
        release = server.hold_model()
        held_call = server.stub.Analyze.future(pb2.AnalyzeRequest(text="what is my balance"), timeout=WAIT_S)
        wait_for(lambda: server.app.runner.queued == 1, "the request to queue")
        server.loop.call_soon_threadsafe(server.app.request_stop)
        wait_for(lambda: server.app.servicer.drain.draining, "the drain to start")
        try:
            done = health_cmd("--uds", str(sock))
            assert done.returncode == 1, done.stderr
            assert "NOT_SERVING" in one_line(done.stderr)
        finally:
            release.set()
        held = held_call.result(WAIT_S)  # the accepted request is still answered
        assert held.intents
        server.thread.join(WAIT_S)
        assert server.rc == 0
        gone = health_cmd("--uds", str(sock), "--timeout", "5")
        assert gone.returncode == 2
        assert one_line(gone.stderr).startswith("intentd health: unreachable: ")


def test_every_call_slot_held_is_not_ready_but_alive(banking_artifact):
    """With --max-calls held (Watch streams here; calls that send only their headers do the same)
    the probe's call is refused RESOURCE_EXHAUSTED: the liveness probe failed too, and the kubelet
    restarted a server that was only busy, dropping every call in flight."""
    with socket_path() as sock, ThreadServer(model=banking_artifact, uds=sock, max_calls=2) as server:
        channel = grpc.insecure_channel(f"127.0.0.1:{server.app.port}")
        watches = [health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(), timeout=60)
                   for _ in range(2)]
        try:
            for watch in watches:
                next(watch)
            ready = health_cmd("--uds", str(sock))
            alive = health_cmd("--live", "--uds", str(sock))
        finally:
            for watch in watches:
                watch.cancel()
            channel.close()
    assert ready.returncode == 1 and "RESOURCE_EXHAUSTED" in one_line(ready.stderr)
    assert alive.returncode == 0 and "alive, every call slot held" in one_line(alive.stderr)


def test_no_server_exits_2_with_one_line(tmp_path):
    done = health_cmd("--uds", str(tmp_path / "absent.sock"))
    assert done.returncode == 2
    assert "UNAVAILABLE" in one_line(done.stderr)
    with socket.socket() as s:  # a port nothing listens on: bind, read it, close
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = health_cmd("--target", f"127.0.0.1:{port}", "--timeout", "5")
    assert done.returncode == 2
    assert one_line(done.stderr).startswith(f"intentd health: unreachable: 127.0.0.1:{port}: ")


def test_bad_flags_are_one_line_errors(tmp_path):
    for args, expected in [
        (["--target", "127.0.0.1:1", "--tls-cert", str(tmp_path / "c.pem")], "--tls-cert and --tls-key go together"),
        (["--target", "127.0.0.1:1", "--tls-ca", str(tmp_path / "ca.pem")], f"--tls-ca {tmp_path / 'ca.pem'}"),
        (["--uds", str(tmp_path / "s.sock"), "--tls"], "go with --target"),
        (["--target", "127.0.0.1:1", "--timeout", "0"], "error: --timeout must be more than 0 seconds"),
    ]:
        done = health_cmd(*args)
        assert done.returncode == 2, args
        assert expected in one_line(done.stderr), done.stderr
    usage = health_cmd("--target", "127.0.0.1:1", "--uds", "x.sock")  # argparse: one or the other
    assert usage.returncode == 2 and "not allowed with" in usage.stderr


class TLSHealthServer:
    """The standard gRPC health service behind TLS (optionally mTLS), SERVING.

    intentd's own TLS listener is tested with intentd serve; this one checks the probe's client side."""

    def __init__(self, ca: trustme.CA, require_client_cert: bool):
        cert = ca.issue_cert("intentd.test")
        credentials = grpc.ssl_server_credentials(
            [(cert.private_key_pem.bytes(), cert.cert_chain_pems[0].bytes())],
            root_certificates=ca.cert_pem.bytes() if require_client_cert else None,
            require_client_auth=require_client_cert)
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        servicer = health.HealthServicer()
        servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(servicer, self.server)
        self.port = self.server.add_secure_port("127.0.0.1:0", credentials)

    def __enter__(self):
        self.server.start()
        return self

    def __exit__(self, *exc):
        self.server.stop(None)


def test_tls_and_mtls(tmp_path):
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    client = ca.issue_cert("chat-backend.test")
    cert_file, key_file = tmp_path / "client.pem", tmp_path / "client.key"
    client.cert_chain_pems[0].write_to_path(str(cert_file))
    client.private_key_pem.write_to_path(str(key_file))
    tls = ["--tls-ca", str(ca_file), "--tls-server-name", "intentd.test", "--timeout", "5"]

    with TLSHealthServer(ca, require_client_cert=False) as server:
        target = ["--target", f"127.0.0.1:{server.port}"]
        assert health_cmd(*target, *tls).returncode == 0
        assert health_cmd(*target, "--timeout", "5").returncode == 2  # plaintext to a TLS port
        wrong_name = health_cmd(*target, "--tls-ca", str(ca_file), "--tls-server-name", "other.test", "--timeout", "5")
        assert wrong_name.returncode == 2
    with TLSHealthServer(ca, require_client_cert=True) as server:
        target = ["--target", f"127.0.0.1:{server.port}"]
        assert health_cmd(*target, *tls, "--tls-cert", str(cert_file), "--tls-key", str(key_file)).returncode == 0
        assert health_cmd(*target, *tls).returncode == 2  # mTLS: no client certificate, no answer


def test_probe_imports_no_model_code():
    """Probes run every few seconds in the server's CPU budget: no onnxruntime, numpy or server code."""
    code = ("import sys; from intentd.cli import main; rc = main(['health', '--uds', '/nonexistent/x.sock']); "
            "heavy = sorted(m for m in ('onnxruntime', 'numpy', 'tokenizers', 'intentd.server.app') if m in sys.modules); "
            "print(rc, heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=WAIT_S)
    assert done.stdout.strip() == "2 []", done.stdout + done.stderr

