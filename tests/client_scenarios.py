"""What every client example (clients/*/chat-backend) must do against a real server on a Unix socket.

An example is the command that starts it; all examples take the same flags. Each scenario starts
real intentd servers (tests/servers.py) and runs the example as a process, as a chat backend
would run beside its sidecar.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
import time
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
# A hold and a repeat in the middle of a transfer: each keeps the transfer and its slots; a repeat
# says the transfer's answer again, a hold asks for nothing new ("one moment" is no $1)
HOLDS_AND_REPEATS = ["move 200 dollars from checking", "hold on", "and to savings", "sorry, what?",
                     "one moment", "make it 50", "sorry, what?", "yes"]
# a repeat after a confirmed transfer, whose context the backend cleared: the server has nothing to
# repeat, and the backend says its last answer again
REPEAT_AFTER_CONFIRM = ["move 50 dollars from checking to savings", "yes", "sorry, what?"]
# a date said that cannot be read (which five?) is asked, a "yes" to the question confirms nothing,
# and the answer fills it: the backend sends back the slots the last answer asked for
DATE_ASKED = ["move 50 dollars from checking to savings tomorrow at five", "yes", "five pm", "yes"]
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
    escalation, response; each call carries its send time (x-request-start)."""
    with socket_path() as sock, ThreadServer(model=artifact, uds=sock) as server:
        text = run_example(example, "--target", f"unix:{sock}", "--deadline-ms", "5000", BALANCE, AGENT)
        assert text.returncode == 0, text.stderr
        assert f"user: {BALANCE}\n  intent: check_balance (" in text.stdout
        assert "  entity: account 'checking' [11, 19) -> catalog checking " in text.stdout
        assert "  escalation: none\n  response: Your Checking account balance is" in text.stdout
        assert "  escalation: policy -> human: " in text.stdout

        tcp = ["--target", f"127.0.0.1:{server.app.port}"]
        balance, agent = answered_turns(run_example(example, *tcp, "--json", "--deadline-ms", "5000", BALANCE, AGENT))
        stamped = server.metric("intentd_transit_seconds_count", {"by": "stamp"})
    assert stamped == 4
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
    # each value's role comes back in slots_used and is sent on with the slots
    source = {"account": "checking", "account.source": "checking"}
    both = {"account": "checking,savings", "account.source": "checking", "account.destination": "savings"}
    transfer = {**both, "amount": "50 USD"}
    assert got == [
        ("", "", {**source, "amount": "200 USD"}, "unspecified"),
        ("FOLLOW_UP_KIND_UPDATE", "transfer_money", {**both, "amount": "200 USD"}, "unspecified"),
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


def holds_and_repeats(example: list[str], artifact: Path) -> None:
    """A HOLD and a REPEAT carry the transfer on (README, "Voice and chat backends"): a hold's
    response is its own with the transfer's slots, a repeat's the transfer's answer again, and the
    turns after them still update and confirm the transfer."""
    with socket_path() as sock, ThreadServer(model=artifact, uds=sock):
        turns = answered_turns(run_example(example, "--target", f"unix:{sock}", "--deadline-ms", "5000", "--json",
                                           *HOLDS_AND_REPEATS))
    got = [follow_up_of(turn)[:3] for turn in turns]
    started = {"account": "checking", "account.source": "checking", "amount": "200 USD"}
    roles = {"account": "checking,savings", "account.source": "checking", "account.destination": "savings"}
    both = {**roles, "amount": "200 USD"}
    transfer = {**roles, "amount": "50 USD"}
    assert got == [
        ("", "", started),
        ("FOLLOW_UP_KIND_HOLD", "transfer_money", started),
        ("FOLLOW_UP_KIND_UPDATE", "transfer_money", both),
        ("FOLLOW_UP_KIND_REPEAT", "transfer_money", both),
        ("FOLLOW_UP_KIND_HOLD", "transfer_money", both),
        ("FOLLOW_UP_KIND_UPDATE", "transfer_money", transfer),
        ("FOLLOW_UP_KIND_REPEAT", "transfer_money", transfer),
        ("FOLLOW_UP_KIND_CONFIRM", "transfer_money", transfer),
    ], [turn["response"] for turn in turns]
    said = [turn["response"] for turn in turns]
    assert said[1] == said[4] == "Sure, take your time."
    assert said[3] == said[2] and "$200.00 from your Checking account to your Savings account." in said[2]
    assert said[6] == said[5] and "$50.00 from your Checking account to your Savings account." in said[5]
    assert said[7] == "Great, thanks for confirming."


def asks_an_optional_date_until_said(example: list[str], artifact: Path) -> None:
    """Each turn sends back the slots the last answer asked for (`slots_missing`): "tomorrow at
    five" is asked (a transfer's date is optional, and which five?), the "yes" to "When should the
    transfer happen?" asks again, and the answer is read back before the transfer is confirmed."""
    with socket_path() as sock, ThreadServer(model=artifact, uds=sock):
        turns = answered_turns(run_example(example, "--target", f"unix:{sock}", "--deadline-ms", "5000", "--json",
                                           *DATE_ASKED))
    got = [follow_up_of(turn)[:2] + (turn["reply"].get("response", {}).get("slotsMissing", []),) for turn in turns]
    assert got == [("", "", ["date"]), ("FOLLOW_UP_KIND_CONFIRM", "transfer_money", ["date"]),
                   ("FOLLOW_UP_KIND_UPDATE", "transfer_money", []), ("FOLLOW_UP_KIND_CONFIRM", "transfer_money", [])], \
        [turn["response"] for turn in turns]
    said = [turn["response"] for turn in turns]
    assert said[0] == said[1] == "When should the transfer happen?"
    assert "$50.00 from your Checking account to your Savings account" in said[2] and "at 5:00 PM" in said[2], said[2]
    assert said[3] == "Great, thanks for confirming."
    day = follow_up_of(turns[0])[2]["date.day"]  # tomorrow, kept while the hour is asked
    assert follow_up_of(turns[3])[2]["amount"] == "50 USD" and follow_up_of(turns[3])[2]["date"][:10] == day[:10]
    assert "T17:00:00" in follow_up_of(turns[3])[2]["date"]


def repeats_its_last_answer(example: list[str], artifact: Path) -> None:
    """"sorry, what?" after a confirmed transfer is a REPEAT of no intent (the backend cleared the
    context): the server has nothing to say again, so the backend says its own last answer."""
    with socket_path() as sock, ThreadServer(model=artifact, uds=sock):
        target = ["--target", f"unix:{sock}", "--deadline-ms", "5000"]
        turns = answered_turns(run_example(example, *target, "--json", *REPEAT_AFTER_CONFIRM))
        text = run_example(example, *target, *REPEAT_AFTER_CONFIRM)
    assert [follow_up_of(turn)[:2] for turn in turns] == [
        ("", ""), ("FOLLOW_UP_KIND_CONFIRM", "transfer_money"), ("FOLLOW_UP_KIND_REPEAT", "")]
    assert turns[1]["response"] == turns[2]["response"] == "Great, thanks for confirming."
    assert text.returncode == 0, text.stderr
    assert "  follow-up: repeat \n  escalation: none\n  response: Great, thanks for confirming.\n" in text.stdout, \
        text.stdout


def bad_input_is_not_retried(example: list[str], artifact: Path) -> None:
    """INVALID_ARGUMENT is final: one attempt, the server's message, exit 1."""
    with socket_path() as sock, ThreadServer(model=artifact, uds=sock):
        done = run_example(example, "--target", f"unix:{sock}", *PATIENT, "   ")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "INVALID_ARGUMENT after 1 attempt" in done.stderr and "text" in done.stderr
    assert retries_logged(done.stderr, "INVALID_ARGUMENT") == 0


def retries_while_the_queue_is_full(example: list[str], artifact: Path) -> None:
    """A server with a one-request queue, held full: a call of two attempts is shed twice and gives
    up; a patient one is shed, retried, then answered."""
    with socket_path() as sock, ThreadServer(model=artifact, uds=sock, max_queue=1, cache_size=0) as server:
        release = server.hold_model()
        proc = None
        try:
            filler = server.stub.Analyze.future(pb2.AnalyzeRequest(text="fills the queue"), timeout=WAIT_S)
            wait_for(lambda: server.app.runner.queued == 1, "the queue to fill")
            bounded = run_example(example, "--target", f"unix:{sock}", "--attempts", "2",
                                  "--deadline-ms", str(WAIT_S * 1000), BALANCE)
            shed = server.metric("intentd_shed_total", {"reason": "queue_full"})
            proc = subprocess.Popen([*example, "--target", f"unix:{sock}", "--json", *PATIENT, BALANCE],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            wait_for(lambda: server.metric("intentd_shed_total", {"reason": "queue_full"}) >= shed + 2 or proc.poll() is not None,
                     "the example to be shed twice")
        finally:
            release.set()
            out, err = proc.communicate(timeout=WAIT_S * 2) if proc else ("", "")
        filler.result()
    assert bounded.returncode == 1, bounded.stdout + bounded.stderr
    assert f"error: {BALANCE}: RESOURCE_EXHAUSTED after 2 attempts" in bounded.stderr, bounded.stderr
    assert retries_logged(bounded.stderr, "RESOURCE_EXHAUSTED") == 1
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


def a_deadline_after_retries_names_what_was_retried(example: list[str]) -> None:
    """No sidecar: the turn ends DEADLINE_EXCEEDED ("Waiting for LB pick"), which read as a slow
    server; the error names the attempt before it too (UNAVAILABLE, the socket not there)."""
    with socket_path() as sock:
        done = run_example(example, "--target", f"unix:{sock}", "--deadline-ms", "300", BALANCE)
    assert done.returncode == 1
    assert "DEADLINE_EXCEEDED after 2 attempts" in done.stderr and "; before it: UNAVAILABLE" in done.stderr, done.stderr


def waits_as_long_as_a_draining_server_asks(example: list[str], artifact: Path) -> None:
    """A draining server's refusal asks for 300 ms (`grpc-retry-pushback-ms`), by when its GOAWAY
    sends the channel to a new connection: the clients retried within ~25 ms, down the same
    connection to the same refusal."""
    import re

    with socket_path() as sock, ThreadServer(model=artifact, uds=sock, grace_period=30) as server:
        release = server.hold_model()
        held = server.stub.DetectIntent.future(pb2.DetectIntentRequest(text="block my card"), timeout=WAIT_S)
        try:
            wait_for(lambda: server.app.servicer.drain.in_flight == 1, "the held call")
            server.loop.call_soon_threadsafe(server.app.request_stop)
            wait_for(lambda: server.app.servicer.drain.draining, "the drain to begin")
            done = run_example(example, "--target", f"unix:{sock}", "--attempts", "2", "--deadline-ms", "5000", BALANCE)
        finally:
            release.set()
        assert held.result(timeout=WAIT_S).intents
    retry = next(line for line in done.stderr.splitlines() if line.startswith("retry: attempt 1 got UNAVAILABLE"))
    assert "draining" in retry and int(re.search(r"next in (\d+) ms", retry).group(1)) >= 300, retry
    assert done.returncode == 1  # the held call keeps the test's server draining: refused again


def gives_up_at_the_bounds(example: list[str]) -> None:
    """No server at all: --attempts 1 makes one attempt; otherwise the first retry waits for a
    connection that never comes, until the turn's deadline and no longer; exit 1."""
    with socket_path() as sock:
        target = ["--target", f"unix:{sock}", "--backoff-ms", "20", "--max-backoff-ms", "200"]
        once = run_example(example, *target, "--attempts", "1", "--deadline-ms", str(WAIT_S * 1000), BALANCE)
        # retries that failed at once would make 100 attempts in about 10 s of backoff (ceilings
        # 20 ms doubling to 200 ms, jittered), or as many as fit in 300 ms
        by_deadline = run_example(example, *target, "--attempts", "100", "--deadline-ms", "300", BALANCE)
    assert once.returncode == 1, once.stdout + once.stderr
    assert f"error: {BALANCE}: UNAVAILABLE after 1 attempt:" in once.stderr, once.stderr
    assert retries_logged(once.stderr, "UNAVAILABLE") == 0
    assert by_deadline.returncode == 1, by_deadline.stdout + by_deadline.stderr
    assert f"error: {BALANCE}: DEADLINE_EXCEEDED after 2 attempts" in by_deadline.stderr, by_deadline.stderr
    assert retries_logged(by_deadline.stderr, "UNAVAILABLE") == 1


def _turn_ends(stream, ok: bool, ends: list[tuple[float, bool]]) -> None:
    """Appends (when, answered) as each turn of a running example ends: an answer on stdout
    (--json), an `error:` line on stderr."""
    for line in stream:
        if ok or line.startswith("error: "):
            ends.append((time.monotonic(), ok))


def answers_after_a_restart(example: list[str], artifact: Path) -> None:
    """The sidecar restarts under a conversation, with the example's default deadline (1 s) and
    attempts (4): every turn that starts once it listens again is answered, though the channel's
    reconnect backoff grew while it was down (clients/README.md: each retry waits for the
    connection)."""
    ends: list[tuple[float, bool]] = []
    with socket_path() as sock:
        with ThreadServer(model=artifact, uds=sock, grace_period=0) as first:
            release = first.hold_model()  # the conversation waits on its first turn until the server stops
            proc = subprocess.Popen([*example, "--target", f"unix:{sock}", "--json", *[BALANCE] * 20],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            readers = [threading.Thread(target=_turn_ends, args=(stream, ok, ends), daemon=True)
                       for stream, ok in ((proc.stdout, True), (proc.stderr, False))]
            for reader in readers:
                reader.start()
            try:
                wait_for(lambda: first.app.runner.queued == 1 or proc.poll() is not None, "the first turn to arrive")
            finally:
                release.set()
        time.sleep(1.5)  # down long enough for the channel's reconnect backoff to reach its ceiling
        with ThreadServer(model=artifact, uds=sock):
            listening = time.monotonic()
            proc.wait(timeout=WAIT_S)
            for reader in readers:
                reader.join(WAIT_S)
    ends.sort()
    started_after = [ok for (before, _), (_, ok) in zip(ends, ends[1:]) if before > listening]
    assert len(ends) == 20 and not all(ok for _, ok in ends), ends  # the restart was felt
    assert len(started_after) >= 5 and all(started_after), (listening, ends)


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
