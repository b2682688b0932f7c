"""What every client example (clients/*/chat-backend) must do against a real server on a Unix socket.

An example is the command that starts it; all examples take the same flags. Each scenario starts
real intentd servers (tests/servers.py) and runs the example as a process, as a chat backend
would run beside its sidecar.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from servers import WAIT_S, ThreadServer, pb2, wait_for

BALANCE = "what is my checking balance"
AGENT = "i want to speak to a human agent"
# docs/resolution.md's multi-turn script; a policy hand-off that asks which account, answered next;
# a turn out of the domain, then a "yes" that must confirm nothing
FOLLOW_UPS = ["move 200 dollars from checking", "and to savings", "make it 50", "yes",
              "i want to close my account", "my savings account",
              "give me a recipe for a vegan lasagna with spinach", "yes"]
# Patient enough for any load on a shared machine: retries stop on success, not on these bounds.
PATIENT = ["--attempts", "100", "--deadline-ms", str(WAIT_S * 1000), "--backoff-ms", "20", "--max-backoff-ms", "200"]


@contextmanager
def socket_path():
    """A short socket path (Unix socket paths are limited to about 100 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="intentd-client-"))
    try:
        yield folder / "intentd.sock"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_example(example: list[str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*example, *args], capture_output=True, text=True, timeout=WAIT_S * 2)


def answered_turns(done: subprocess.CompletedProcess) -> list[dict]:
    assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return [json.loads(line) for line in done.stdout.splitlines()]


def retries_logged(stderr: str, code: str) -> int:
    return sum(line.startswith("retry: ") and f" got {code} " in line for line in stderr.splitlines())


def follow_up_of(turn: dict) -> tuple[str, str, dict, str]:
    """Follow-up kind and intent, slots_used and escalation reason of a --json turn (its `reply` is
    proto3 JSON, which leaves default values out)."""
    reply = turn["reply"]
    follow_up = reply.get("followUp", {})
    return (follow_up.get("kind", ""), follow_up.get("intent", ""), reply.get("response", {}).get("slotsUsed", {}),
            turn["escalation"]["reason"])


def conversation(example: list[str], artifact: Path) -> None:
    """Two turns, human-readable over the Unix socket and JSON over TCP: intent, resolved entity,
    escalation, response."""
    with socket_path() as sock, ThreadServer(model=artifact, uds=sock) as server:
        text = run_example(example, "--target", f"unix:{sock}", "--deadline-ms", "5000", BALANCE, AGENT)
        assert text.returncode == 0, text.stderr
        assert f"user: {BALANCE}\n  intent: check_balance (" in text.stdout
        assert "  entity: account 'checking' [11, 19) -> catalog checking " in text.stdout
        assert "  escalation: none\n  response: Your Checking account balance is" in text.stdout
        assert "  escalation: policy -> human: " in text.stdout

        tcp = ["--target", f"127.0.0.1:{server.app.port}"]
        balance, agent = answered_turns(run_example(example, *tcp, "--json", "--deadline-ms", "5000", BALANCE, AGENT))
    assert balance["intent"] == "check_balance" and balance["attempts"] == 1
    spans = [(e["type"], e["text"], e["start"], e["end"]) for e in balance["entities"]]
    assert spans == [("account", "checking", 11, 19)]
    assert balance["entities"][0]["value"].startswith('catalog checking "Checking account"')
    assert balance["escalation"] == {"escalate": False, "reason": "unspecified", "tier": "", "detail": ""}
    assert balance["response"].startswith("Your Checking account balance is")
    assert balance["reply"]["intents"][0]["name"] == "check_balance"  # the full reply, proto3 JSON
    assert agent["intent"] == "speak_to_agent"
    assert agent["escalation"]["escalate"] and (agent["escalation"]["reason"], agent["escalation"]["tier"]) == \
        ("policy", "human")


def follow_ups(example: list[str], artifact: Path) -> None:
    """Each turn sends back `follow_up.intent or intents[0]` and `slots_used`, and nothing after an
    answer escalated as out of distribution, low confidence or ambiguous (README, "Voice and chat
    backends"): the transfer ends confirmed with its slots, a policy hand-off keeps its context, a
    turn out of the domain drops it."""
    with socket_path() as sock, ThreadServer(model=artifact, uds=sock):
        target = ["--target", f"unix:{sock}", "--deadline-ms", "5000"]
        turns = answered_turns(run_example(example, *target, "--json", *FOLLOW_UPS))
        text = run_example(example, *target, *FOLLOW_UPS[:4])
    got = [follow_up_of(turn) for turn in turns]
    both = "checking,savings"
    transfer = {"account": both, "amount": "50 USD"}
    assert got == [
        ("", "", {"account": "checking", "amount": "200 USD"}, "unspecified"),
        ("FOLLOW_UP_KIND_UPDATE", "transfer_money", {"account": both, "amount": "200 USD"}, "unspecified"),
        ("FOLLOW_UP_KIND_UPDATE", "transfer_money", transfer, "unspecified"),
        ("FOLLOW_UP_KIND_CONFIRM", "transfer_money", transfer, "unspecified"),
        ("", "", {}, "policy"),  # "Which account would you like to close?"
        ("FOLLOW_UP_KIND_UPDATE", "close_account", {"account": "savings"}, "policy"),
        ("", "", {}, "out_of_distribution"),
        ("", "", {}, "unspecified"),
    ], [turn["response"] for turn in turns]
    assert turns[3]["response"] == "Great, thanks for confirming."
    assert text.returncode == 0, text.stderr
    assert "user: yes\n  intent: affirm (" in text.stdout and "  follow-up: confirm transfer_money\n" in text.stdout


def bad_input_is_not_retried(example: list[str], artifact: Path) -> None:
    """INVALID_ARGUMENT is final: one attempt, the server's message, exit 1."""
    with socket_path() as sock, ThreadServer(model=artifact, uds=sock):
        done = run_example(example, "--target", f"unix:{sock}", *PATIENT, "   ")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "INVALID_ARGUMENT after 1 attempt" in done.stderr and "text" in done.stderr
    assert retries_logged(done.stderr, "INVALID_ARGUMENT") == 0


def retries_while_the_queue_is_full(example: list[str], artifact: Path) -> None:
    """A server with a one-request queue, held full: the call is shed, retried, then answered."""
    with socket_path() as sock, ThreadServer(model=artifact, uds=sock, max_queue=1, cache_size=0) as server:
        release = server.hold_model()
        proc = None
        try:
            filler = server.stub.Analyze.future(pb2.AnalyzeRequest(text="fills the queue"), timeout=WAIT_S)
            wait_for(lambda: server.app.runner.queued == 1, "the queue to fill")
            shed = server.metric("intentd_shed_total", {"reason": "queue_full"})
            proc = subprocess.Popen([*example, "--target", f"unix:{sock}", "--json", *PATIENT, BALANCE],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            wait_for(lambda: server.metric("intentd_shed_total", {"reason": "queue_full"}) >= shed + 2 or proc.poll() is not None,
                     "the example to be shed twice")
        finally:
            release.set()
            out, err = proc.communicate(timeout=WAIT_S * 2) if proc else ("", "")
        filler.result()
    [turn] = answered_turns(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    assert turn["intent"] == "check_balance"
    assert turn["attempts"] >= 3 and retries_logged(err, "RESOURCE_EXHAUSTED") == turn["attempts"] - 1, err


def retries_until_the_sidecar_is_up(example: list[str], artifact: Path) -> None:
    """The backend starts before its sidecar: UNAVAILABLE is retried until the server listens."""
    with socket_path() as sock:
        proc = subprocess.Popen([*example, "--target", f"unix:{sock}", "--json", *PATIENT, BALANCE],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            first = proc.stderr.readline()  # blocks until the first failed attempt is logged (or exit)
            assert " got UNAVAILABLE " in first, first + proc.stderr.read()
            with ThreadServer(model=artifact, uds=sock):
                out, err = proc.communicate(timeout=WAIT_S * 2)
        finally:
            if proc.poll() is None:
                proc.kill()
    [turn] = answered_turns(subprocess.CompletedProcess(proc.args, proc.returncode, out, first + err))
    assert turn["intent"] == "check_balance"
    assert turn["attempts"] >= 2 and retries_logged(first + err, "UNAVAILABLE") == turn["attempts"] - 1


def gives_up_at_the_bounds(example: list[str]) -> None:
    """No server at all: retries stop after --attempts, or earlier at the turn's deadline; exit 1."""
    with socket_path() as sock:
        target = ["--target", f"unix:{sock}", "--backoff-ms", "20", "--max-backoff-ms", "200"]
        by_attempts = run_example(example, *target, "--attempts", "3", "--deadline-ms", str(WAIT_S * 1000), BALANCE)
        # 100 attempts would sleep about 10 s in all (ceilings 20 ms doubling to 200 ms, jittered):
        # with a 300 ms budget the deadline must stop them first.
        by_deadline = run_example(example, *target, "--attempts", "100", "--deadline-ms", "300", BALANCE)
    assert by_attempts.returncode == 1, by_attempts.stdout + by_attempts.stderr
    assert f"error: {BALANCE}: UNAVAILABLE after 3 attempt" in by_attempts.stderr, by_attempts.stderr
    assert retries_logged(by_attempts.stderr, "UNAVAILABLE") == 2
    assert by_deadline.returncode == 1, by_deadline.stdout + by_deadline.stderr
    made = re.search(rf"error: {BALANCE}: (UNAVAILABLE|DEADLINE_EXCEEDED) after (\d+) attempt", by_deadline.stderr)
    assert made and int(made[2]) < 100, by_deadline.stderr


def tls(example: list[str], artifact: Path, folder: Path) -> None:
    """TLS over TCP with the server's CA and name; mTLS with a client certificate, refused without one."""
    trustme = pytest.importorskip("trustme")
    authority = trustme.CA()
    server_cert = authority.issue_cert("intentd.test")
    client_cert = authority.issue_cert("chat-backend.test")
    paths = {name: folder / f"{name}.pem" for name in ("ca", "server", "server-key", "client", "client-key")}
    authority.cert_pem.write_to_path(paths["ca"])
    for name, issued in (("server", server_cert), ("client", client_cert)):
        paths[name].write_bytes(b"".join(pem.bytes() for pem in issued.cert_chain_pems))
        issued.private_key_pem.write_to_path(paths[f"{name}-key"])
    trust = ["--tls-ca", str(paths["ca"]), "--tls-server-name", "intentd.test", "--deadline-ms", "5000"]
    mine = ["--tls-cert", str(paths["client"]), "--tls-key", str(paths["client-key"])]

    with ThreadServer(model=artifact, tls_cert=paths["server"], tls_key=paths["server-key"]) as server:
        target = ["--target", f"127.0.0.1:{server.app.port}"]
        [turn] = answered_turns(run_example(example, *target, *trust, "--json", BALANCE))
        assert turn["intent"] == "check_balance"
        # without --tls-ca the system's CAs are used, and none of them signed the server's certificate
        untrusted = run_example(example, *target, "--tls-server-name", "intentd.test", "--attempts", "1", BALANCE)
        assert untrusted.returncode == 1 and "UNAVAILABLE after 1 attempt" in untrusted.stderr, untrusted.stderr

    with ThreadServer(model=artifact, tls_cert=paths["server"], tls_key=paths["server-key"],
                      tls_client_ca=paths["ca"]) as server:
        target = ["--target", f"127.0.0.1:{server.app.port}"]
        [turn] = answered_turns(run_example(example, *target, *trust, *mine, "--json", BALANCE))
        assert turn["intent"] == "check_balance"
        anonymous = run_example(example, *target, *trust, "--attempts", "1", BALANCE)
        assert anonymous.returncode == 1 and "UNAVAILABLE after 1 attempt" in anonymous.stderr, anonymous.stderr
