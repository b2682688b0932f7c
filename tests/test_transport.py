"""Transports: TLS only when asked, mTLS with a client CA, admin RPCs for allowed mTLS clients, broken
TLS files refused by name, the load tester against a TLS server, reflection off, request logs,
several workers on one port, long texts."""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading

import grpc
import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from intentd.loadtest.cli import main as loadtest_main
from intentd.server.app import App
from intentd.server.config import ConfigError, Settings

from servers import WAIT_S, ThreadServer, copy_artifact, pb2, pb2_grpc, wait_for
from test_server_lifecycle import free_tcp_port, scrape


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a server certificate for localhost, and two client certificates (ops, app)."""
    folder = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(folder / "ca.pem")
    ca.private_key_pem.write_to_path(folder / "ca.key")
    server = ca.issue_cert("localhost", "127.0.0.1")
    server.cert_chain_pems[0].write_to_path(folder / "server.pem")
    server.private_key_pem.write_to_path(folder / "server.key")
    for name in ("ops", "app"):
        client = ca.issue_cert(f"{name}.clients.example", common_name=name)
        client.cert_chain_pems[0].write_to_path(folder / f"{name}.pem")
        client.private_key_pem.write_to_path(folder / f"{name}.key")
    _two_common_names(folder, "ops-app", ["ops", "app"])
    _two_common_names(folder, "ops-nul", ["ops\x00x"])  # one CN, which gRPC cuts at the NUL
    _two_common_names(folder, "ops-nul-o", ["ops\x00x"], "x,CN=ops")  # ... and an O whose escaped comma is no separator
    for name, cn in (("muller", "Müller Ops"), ("plus", "ops+deploy"), ("hash", "#ops")):  # written escaped by gRPC
        _two_common_names(folder, name, [cn])
    return folder


def _two_common_names(folder, name: str, common_names: list[str], organization: str | None = None) -> None:
    """A client certificate whose subject holds several CNs (trustme makes one): gRPC reads the
    first, Go's crypto/x509 and many CA policy engines the last."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_key = serialization.load_pem_private_key((folder / "ca.key").read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn) for cn in common_names]
                                    + ([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)]
                                       if organization else [])))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / f"{name}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))


def tls_channel(port: int, pki, client: str | None = None) -> grpc.Channel:
    key = (pki / f"{client}.key").read_bytes() if client else None
    cert = (pki / f"{client}.pem").read_bytes() if client else None
    creds = grpc.ssl_channel_credentials((pki / "ca.pem").read_bytes(), key, cert)
    return grpc.secure_channel(f"localhost:{port}", creds)


def test_tls_only_and_plaintext_refused(banking_artifact, pki):
    with ThreadServer(model=banking_artifact, tls_cert=pki / "server.pem", tls_key=pki / "server.key") as srv:
        with tls_channel(srv.app.port, pki) as channel:
            reply = pb2_grpc.IntentServiceStub(channel).Analyze(pb2.AnalyzeRequest(text="what is my balance"),
                                                                timeout=30)
            assert reply.intents[0].name == "check_balance"
        with pytest.raises(grpc.RpcError) as err:  # ThreadServer's own channel speaks plaintext
            srv.stub.Analyze(pb2.AnalyzeRequest(text="what is my balance"), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def presented_certificate(port: int, pki) -> bytes:
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    context.set_alpn_protocols(["h2"])
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT_S) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            return tls.getpeercert(binary_form=True)


def test_a_renewed_certificate_is_served_to_new_connections_without_a_restart(banking_artifact, pki, tmp_path):
    """cert-manager rewrites the Secret's files in place: the next connection gets the new
    certificate, and a half-written renewal (a file missing) keeps the one in use."""
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    shutil.copy(pki / "server.pem", cert)
    shutil.copy(pki / "server.key", key)
    ca = trustme.CA.from_pem((pki / "ca.pem").read_bytes(), (pki / "ca.key").read_bytes())
    with ThreadServer(model=banking_artifact, tls_cert=cert, tls_key=key) as srv:
        first = presented_certificate(srv.app.port, pki)
        renewed = ca.issue_cert("localhost", "127.0.0.1")
        renewed.private_key_pem.write_to_path(tmp_path / "new.key")
        renewed.cert_chain_pems[0].write_to_path(tmp_path / "new.crt")
        os.replace(tmp_path / "new.key", key)
        os.replace(tmp_path / "new.crt", cert)
        second = presented_certificate(srv.app.port, pki)
        with tls_channel(srv.app.port, pki) as ch:  # and gRPC over it answers
            reply = pb2_grpc.IntentServiceStub(ch).Analyze(pb2.AnalyzeRequest(text="what is my balance"),
                                                           timeout=WAIT_S)
        key.unlink()  # a renewal half done: the certificate in use stays
        third = presented_certificate(srv.app.port, pki)
    assert first != second and second == ssl.PEM_cert_to_DER_cert(renewed.cert_chain_pems[0].bytes().decode())
    assert third == second and reply.intents


def test_an_expired_certificate_is_said_and_its_end_is_a_metric(banking_artifact, pki, tmp_path, caplog):
    """An expired certificate was served without a word: every client's handshake failed, and the
    log and metrics said nothing. Its renewal is picked up and said as well."""
    import datetime as dt
    import logging

    ca = trustme.CA.from_pem((pki / "ca.pem").read_bytes(), (pki / "ca.key").read_bytes())
    now = dt.datetime.now(dt.timezone.utc)
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    old = ca.issue_cert("localhost", "127.0.0.1", not_before=now - dt.timedelta(days=30),
                        not_after=now - dt.timedelta(days=1))
    old.cert_chain_pems[0].write_to_path(cert)
    old.private_key_pem.write_to_path(key)
    with caplog.at_level(logging.INFO, logger="intentd.server.tls"):
        with ThreadServer(model=banking_artifact, tls_cert=cert, tls_key=key) as srv:
            expiry = srv.metric("intentd_tls_certificate_expiry_timestamp_seconds", {"cert": "tls.crt"})
            assert f"--tls-cert {cert} expired on " in caplog.text
            soon = ca.issue_cert("localhost", "127.0.0.1", not_after=now + dt.timedelta(days=2))
            soon.private_key_pem.write_to_path(tmp_path / "new.key")
            soon.cert_chain_pems[0].write_to_path(tmp_path / "new.crt")
            os.replace(tmp_path / "new.key", key)
            os.replace(tmp_path / "new.crt", cert)
            presented_certificate(srv.app.port, pki)  # a handshake picks the renewal up
            renewed = srv.metric("intentd_tls_certificate_expiry_timestamp_seconds", {"cert": "tls.crt"})
            # a certificate without its key: gRPC keeps the one in use, and so does the metric
            ca.issue_cert("localhost", not_after=now + dt.timedelta(days=30)).cert_chain_pems[0].write_to_path(
                tmp_path / "new.crt")
            os.replace(tmp_path / "new.crt", cert)
            with caplog.at_level(logging.ERROR, logger="intentd.server.tls"):
                presented_certificate(srv.app.port, pki)
            kept = srv.metric("intentd_tls_certificate_expiry_timestamp_seconds", {"cert": "tls.crt"})
    assert kept == renewed and "TLS files changed but cannot be served" in caplog.text
    assert abs(expiry - (now - dt.timedelta(days=1)).timestamp()) < 5
    assert abs(renewed - (now + dt.timedelta(days=2)).timestamp()) < 5
    assert f"--tls-cert {cert} expires on " in caplog.text and "(in 2.0 days)" in caplog.text


def test_mtls_requires_a_client_certificate_and_admin_needs_an_allowed_one(banking_artifact, pki, tmp_path, caplog,
                                                                           monkeypatch):
    from intentd.server import service
    from servers import copy_artifact

    monkeypatch.setattr(service._RefusedAdminCalls, "EVERY_S", 1.0)  # a line a second, not a minute

    root = tmp_path / "models"
    copy_artifact(banking_artifact, root / "banking")
    with ThreadServer(model=root / "banking", tls_cert=pki / "server.pem", tls_key=pki / "server.key",
                      tls_client_ca=pki / "ca.pem", admin_client_cn=("ops",)) as srv:
        with tls_channel(srv.app.port, pki) as anonymous:
            with pytest.raises(grpc.RpcError) as err:
                pb2_grpc.IntentServiceStub(anonymous).Analyze(pb2.AnalyzeRequest(text="hi"), timeout=5)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE  # the handshake fails without a certificate
        with tls_channel(srv.app.port, pki, "app") as app:
            stub = pb2_grpc.IntentServiceStub(app)
            assert stub.Analyze(pb2.AnalyzeRequest(text="block my card"), timeout=30).intents
            with caplog.at_level(logging.WARNING, logger="intentd.server.service"):
                with pytest.raises(grpc.RpcError) as err:
                    stub.ReloadModel(pb2.ReloadModelRequest(artifact_path="banking"), timeout=30)
            assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
            # an attempt on the admin RPC is said, with who made it (it left no trace without --access-log)
            assert any(r.getMessage().startswith("ReloadModel refused on the data listener: from ipv4:127.0.0.1:")
                       and "certificate 'CN=app," in r.getMessage() for r in caplog.records), caplog.text
            with caplog.at_level(logging.WARNING, logger="intentd.server.service"):
                for _ in range(3):  # a burst: one line for all of them once the second is over
                    with pytest.raises(grpc.RpcError):
                        stub.ReloadModel(pb2.ReloadModelRequest(artifact_path="banking"), timeout=30)
                wait_for(lambda: "3 more call(s) in the last minute, the last from ipv4:127.0.0.1:" in caplog.text,
                         "the burst's line")
        with tls_channel(srv.app.port, pki, "ops") as ops:
            reply = pb2_grpc.IntentServiceStub(ops).ReloadModel(pb2.ReloadModelRequest(artifact_path="banking"),
                                                                timeout=60)
            assert reply.ok, reply.error
        # "CN=ops, CN=app": gRPC's common name is "ops", another reader's "app": never admin; nor
        # "CN=ops\00x", which gRPC names "ops" (cut at the NUL)
        for client in ("ops-app", "ops-nul", "ops-nul-o"):
            with tls_channel(srv.app.port, pki, client) as both:
                stub = pb2_grpc.IntentServiceStub(both)
                assert stub.Analyze(pb2.AnalyzeRequest(text="block my card"), timeout=30).intents
                with pytest.raises(grpc.RpcError) as err:
                    stub.ReloadModel(pb2.ReloadModelRequest(artifact_path="banking"), timeout=30)
                assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, client


def test_an_admin_name_the_subject_writes_escaped_is_admin(banking_artifact, pki, tmp_path):
    """gRPC writes a subject as RFC 2253 text, "Müller Ops" as "M\\C3\\BCller Ops" and "ops+deploy"
    as "ops\\+deploy": such a name in --admin-client-cn never matched, and its holder was refused."""
    from servers import copy_artifact

    root = tmp_path / "models"
    copy_artifact(banking_artifact, root / "banking")
    with ThreadServer(model=root / "banking", tls_cert=pki / "server.pem", tls_key=pki / "server.key",
                      tls_client_ca=pki / "ca.pem", admin_client_cn=("Müller Ops", "ops+deploy", "#ops")) as srv:
        for client in ("muller", "plus", "hash"):
            with tls_channel(srv.app.port, pki, client) as channel:
                reply = pb2_grpc.IntentServiceStub(channel).ReloadModel(
                    pb2.ReloadModelRequest(artifact_path="banking"), timeout=60)
                assert reply.ok, (client, reply.error)
        with tls_channel(srv.app.port, pki, "ops") as channel, pytest.raises(grpc.RpcError) as err:
            pb2_grpc.IntentServiceStub(channel).ReloadModel(pb2.ReloadModelRequest(artifact_path="banking"), timeout=30)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def encrypted_key(pki, folder):
    key = serialization.load_pem_private_key((pki / "server.key").read_bytes(), password=None)
    path = folder / "encrypted.key"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.BestAvailableEncryption(b"secret")))
    return path


@pytest.mark.parametrize("files, message", [
    ({"tls_cert": "garbage"}, "--tls-cert {garbage}: not a PEM certificate"),
    ({"tls_key": "garbage"}, "--tls-key {garbage}: not a PEM private key"),
    ({"tls_key": "ops"}, "--tls-key {ops}: not the private key of --tls-cert {server}"),
    ({"tls_key": "encrypted"}, "--tls-key {encrypted}: the key is encrypted"),
    ({"tls_client_ca": "garbage"}, "--tls-client-ca {garbage}: not a PEM certificate"),
])
def test_broken_tls_files_are_named_before_the_model_loads(pki, tmp_path, files, message):
    """A garbage certificate, key or client CA, or a key not the certificate's, was reported after
    the model had loaded as "cannot bind (address in use, or not an address of this host)"."""
    (tmp_path / "garbage.pem").write_text("not a PEM file\n")
    paths = {"garbage": tmp_path / "garbage.pem", "encrypted": encrypted_key(pki, tmp_path), "ops": pki / "ops.key",
             "server": pki / "server.pem", "server_key": pki / "server.key"}
    chosen = {"tls_cert": "server", "tls_key": "server_key", **files}
    settings = Settings(model=tmp_path / "absent", listen="127.0.0.1:0",  # no model: the TLS error must come first
                        **{name: paths[f] for name, f in chosen.items()})
    with pytest.raises(ConfigError) as err:
        asyncio.run(App(settings).run())
    assert str(err.value).startswith(message.format(**paths)), err.value


def _self_signed(tmp_path, name, key):
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    (tmp_path / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / f"{name}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                             serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
    return tmp_path / f"{name}.pem", tmp_path / f"{name}.key"


def test_the_tls_check_refuses_what_grpc_refuses_and_no_more(tmp_path):
    """An RSA-1024 pair, which gRPC serves, was refused as "not a PEM private key" (the host's
    OpenSSL policy, not the file); an RSA key for an EC certificate was called damaged."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from intentd.server.tls import check_files

    weak_cert, weak_key = _self_signed(tmp_path, "weak", rsa.generate_private_key(public_exponent=65537, key_size=1024))
    check_files(weak_key, weak_cert, None)
    ec_cert, _ = _self_signed(tmp_path, "ec", ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(ConfigError, match="not the private key of --tls-cert"):
        check_files(weak_key, ec_cert, None)


def test_load_tester_speaks_tls_to_the_server(banking_artifact, pki, tmp_path, capsys):
    with ThreadServer(model=banking_artifact, tls_cert=pki / "server.pem", tls_key=pki / "server.key",
                      tls_client_ca=pki / "ca.pem") as srv:
        rc = loadtest_main(["--target", f"localhost:{srv.app.port}", "--tls", "--tls-ca", str(pki / "ca.pem"),
                            "--tls-cert", str(pki / "app.pem"), "--tls-key", str(pki / "app.key"),
                            "--rate", "40", "--duration", "2", "--warmup", "5", "--slo-p95-ms", "5000", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert rc == 0 and result["ok"] > 0 and not result["errors"]


def test_no_reflection_turns_reflection_off(banking_artifact):
    """Reflection describes every IntentService method, ReloadModel included, on the data listener
    that serves it only to --admin-client-cn clients: --no-reflection leaves it unserved."""
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    with ThreadServer(model=banking_artifact, reflection=False) as srv:
        with pytest.raises(grpc.RpcError) as err:
            list(reflection_pb2_grpc.ServerReflectionStub(srv.channel).ServerReflectionInfo(iter([request]),
                                                                                            timeout=WAIT_S))
        reply = srv.stub.Analyze(pb2.AnalyzeRequest(text="what is my balance"), timeout=WAIT_S)
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED and reply.intents


def test_access_log_has_request_and_session_ids(banking_artifact, caplog):
    with caplog.at_level(logging.INFO, logger="intentd.access"):
        with ThreadServer(model=banking_artifact, access_log=True) as srv:
            srv.stub.Analyze(pb2.AnalyzeRequest(text="what is my balance",
                                                context=pb2.RequestContext(session_id="call-7")),
                             timeout=30, metadata=(("x-request-id", "req-1"),))
            with pytest.raises(grpc.RpcError):
                srv.stub.Analyze(pb2.AnalyzeRequest(text=""), timeout=30, metadata=(("x-request-id", "req-2"),))
            wait_for(lambda: len([r for r in caplog.records if r.name == "intentd.access"]) >= 2, "two log lines")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "intentd.access"]
    ok = next(line for line in lines if line["request_id"] == "req-1")
    assert ok["session_id"] == "call-7" and ok["code"] == "OK" and ok["rpc"] == "Analyze" and ok["intent"]
    bad = next(line for line in lines if line["request_id"] == "req-2")
    assert bad["code"] == "INVALID_ARGUMENT" and "text" not in bad  # no user text in the access log


def test_text_past_the_model_window_is_flagged(banking_artifact):
    head = "please send 40 dollars to my savings account " * 20  # ~180 tokens: past the 128-token window
    with ThreadServer(model=banking_artifact) as srv:
        long = srv.stub.Analyze(pb2.AnalyzeRequest(text=head + "and freeze my debit card"), timeout=30)
        short = srv.stub.Analyze(pb2.AnalyzeRequest(text="freeze my debit card"), timeout=30)
    assert long.truncated and 0 < long.analyzed_chars < len(head)
    assert not short.truncated and short.analyzed_chars == len("freeze my debit card")


class Supervisor:
    """`intentd serve --workers 2` in its own session, its output read as it comes, so a test
    can wait until every worker listens (a worker still loading would leave the kernel one
    socket to give every connection to)."""

    def __init__(self, artifact, *flags: str) -> None:
        self.port, self.metrics_port = free_tcp_port(), free_tcp_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "intentd", "serve", "--model", str(artifact),
                                      "--listen", f"127.0.0.1:{self.port}", "--workers", "2",
                                      "--metrics-port", str(self.metrics_port), "--no-warm-up", *flags],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True)
        self.reader.start()

    def __enter__(self) -> "Supervisor":
        return self

    def __exit__(self, *exc) -> None:
        """A test that failed before stop() leaves no server behind."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def wait_until_serving(self) -> None:
        try:
            wait_for(lambda: all(f"worker{i} intentd.server.app: serving" in self.log for i in range(2)),
                     "both workers serving")
        except AssertionError:  # what the supervisor said is what tells why
            pytest.fail(f"both workers were not serving within {WAIT_S} s (exit code {self.proc.poll()}); "
                        f"its log:\n{self.log}")

    def stop(self, send) -> int:
        """`send()` delivers the signal; the supervisor's exit code once it and its output end."""
        send()
        try:
            rc = self.proc.wait(WAIT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the supervisor did not stop within {WAIT_S} s; its log:\n{self.log}")
        self.reader.join(WAIT_S)
        return rc


def test_two_workers_share_one_port(banking_artifact, tmp_path):
    n = 40
    with Supervisor(banking_artifact, "--cache-size", "0", "--access-log") as server:
        server.wait_until_serving()
        for i in range(n):  # each on a new connection: the kernel picks a worker per connection
            with grpc.insecure_channel(f"127.0.0.1:{server.port}",
                                       options=[("grpc.use_local_subchannel_pool", 1)]) as ch:
                pb2_grpc.IntentServiceStub(ch).Analyze(pb2.AnalyzeRequest(text=f"what is my balance {i}"),
                                                       timeout=WAIT_S, wait_for_ready=True)

        def answered() -> float:
            return sum(v for k, v in scrape(server.metrics_port).items()
                       if k.startswith("intentd_rpc_total{") and 'code="OK"' in k and 'rpc="Analyze"' in k)

        # a call is counted once grpc has finished it, which may be just after its caller has the answer
        wait_for(lambda: answered() >= n, f"{n} answers counted")
        counted = answered()
        rc = server.stop(lambda: server.proc.send_signal(signal.SIGTERM))  # what an orchestrator sends
    assert rc == 0, server.log
    assert counted == n  # the supervisor's /metrics adds the workers' counters up
    records = [json.loads(line) for line in server.lines if line.startswith("{")]  # the access log's bare JSON
    per_worker = collections.Counter(r["pid"] for r in records if r["rpc"] == "Analyze")
    assert sum(per_worker.values()) == n and len(per_worker) == 2, per_worker  # both workers answered
    assert "Warning" not in server.log, server.log  # e.g. prometheus-client's, on a gauge it cannot clear


def test_a_dead_workers_gauges_leave_with_it(banking_artifact):
    """Killed and restarted, a worker's frozen gauges (its model, SLO attainment, rates) must not
    stay in /metrics beside its successor's: an alert on "two model versions" would read them."""
    with Supervisor(banking_artifact, "--cache-size", "0") as server:
        server.wait_until_serving()
        pid = int(re.search(r"worker 0 started \(pid (\d+)\)", server.log).group(1))
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: server.log.count("worker0 intentd.server.app: serving") >= 2, "worker 0 back")

        def pids() -> set[str]:
            return {re.search(r'pid="(\d+)"', k).group(1) for k in scrape(server.metrics_port)
                    if k.startswith("intentd_model_info{")}
        wait_for(lambda: len(pids()) == 2, "two workers' model gauges")
        exported = pids()
        rc = server.stop(lambda: server.proc.send_signal(signal.SIGTERM))
    assert rc == 0, server.log
    assert str(pid) not in exported and len(exported) == 2, exported


def test_a_metrics_port_in_use_stops_workers_before_they_start(banking_artifact):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        out = subprocess.run([sys.executable, "-m", "intentd", "-v", "serve", "--model", str(banking_artifact),
                              "--listen", f"127.0.0.1:{free_tcp_port()}", "--workers", "2", "--no-warm-up",
                              "--metrics-port", str(taken.getsockname()[1])],
                             capture_output=True, text=True, timeout=WAIT_S)
    assert out.returncode == 2, out.stderr
    assert "cannot bind" in out.stderr.strip().splitlines()[-1]
    assert "worker 0 started" not in out.stderr and "Traceback" not in out.stderr, out.stderr


def _corrupt(artifact) -> None:
    graph = artifact / "model.int8.onnx"
    graph.write_bytes(graph.read_bytes()[:1000])  # its SHA-256 no longer matches the manifest


def test_workers_that_cannot_start_stop_the_server_with_one_line(banking_artifact, tmp_path):
    """A corrupt artifact: the server exits at once with exit code 2 and the worker's one-line
    reason, as one worker would, instead of restarting its workers forever."""
    artifact = tmp_path / "corrupt"
    copy_artifact(banking_artifact, artifact)
    _corrupt(artifact)
    with Supervisor(artifact) as server:
        rc = server.proc.wait(WAIT_S)
        server.reader.join(WAIT_S)
    assert rc == 2, server.log
    assert server.log.strip().splitlines()[-1].startswith("intentd: error: worker "), server.log
    assert "could not start: " in server.log and "corrupt (SHA-256" in server.log
    assert "Traceback" not in server.log and "restarting" not in server.log, server.log


def test_a_worker_that_cannot_restart_is_retried_while_the_other_serves(banking_artifact, tmp_path):
    """After the start, a worker that dies is restarted; one whose restart fails (its artifact
    was corrupted on disk meanwhile) is tried again after doubling pauses, and the other keeps
    answering."""
    artifact = tmp_path / "banking"
    copy_artifact(banking_artifact, artifact)
    with Supervisor(artifact) as server:
        server.wait_until_serving()
        _corrupt(artifact)
        pid = int(re.search(r"worker 0 started \(pid (\d+)\)", server.log).group(1))
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: server.log.count("could not start again") >= 2, "two failed restarts")
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
            reply = pb2_grpc.IntentServiceStub(ch).Analyze(pb2.AnalyzeRequest(text="what is my balance"),
                                                           timeout=WAIT_S)
        rc = server.stop(lambda: server.proc.send_signal(signal.SIGTERM))
    assert reply.intents
    assert "next try in 2 s" in server.log and "next try in 4 s" in server.log, server.log
    assert rc == 1, server.log  # one worker could not run


def test_ctrl_c_drains_workers_once(banking_artifact):
    """Ctrl-C in a terminal signals the whole foreground group. Workers keep to their own group,
    so each drains on the supervisor's forwarded signal alone; had they received the terminal's
    too, the second signal would have cancelled their in-flight requests."""
    with Supervisor(banking_artifact) as server:
        server.wait_until_serving()
        rc = server.stop(lambda: os.killpg(server.proc.pid, signal.SIGINT))
    assert rc == 0, server.log
    assert "second signal" not in server.log and server.log.count("intentd.server.app: stopped") == 2, server.log
