"""The voice-streams load (`intentd loadtest --voice-streams`) against the real server and model.

Asserts what must hold on any machine: every message answered once and in order, counts that
add up, the figures recomputed from the answers the client saw, the server's own count of
superseded partials equal to the client's, failures counted by status when the server sheds,
follow-ups answered against the context each caller carried; never absolute latencies.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import Counter

import pytest
from conftest import BANKING
from intentd.loadtest import cli
from intentd.loadtest.config import LoadConfig
from intentd.loadtest.progress import Progress
from intentd.loadtest.texts import load_labelled
from intentd.loadtest.voice import measure
from intentd.loadtest.voice_report import (
    FOLLOW_UP_KINDS,
    first_stable,
    format_text,
    summary,
)
from servers import ThreadServer

pytestmark = pytest.mark.timeout(180)

TEXTS = BANKING / "test.jsonl"
STABLE_N = 3  # the server's default --stream-stable-n


def voice(capsys, port: int, *extra: str) -> tuple[int, dict, str]:
    code = cli.main([
        "--target", f"127.0.0.1:{port}", "--voice-streams", "4", "--word-interval-ms", "50",
        "--texts", str(TEXTS), "--json", "--no-progress", *extra,
    ])  # fmt: skip
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def superseded_metric(server, outcome: str) -> float:
    return server.metric("intentd_stream_superseded_total", {"outcome": outcome})


def test_voice_streams_report_adds_up(banking_artifact, capsys):
    with ThreadServer(model=banking_artifact, cache_size=0) as server:
        withdrawn = superseded_metric(server, "withdrawn")
        stale = superseded_metric(server, "stale")
        code, result, err = voice(capsys, server.app.port, "--duration", "2.5", "--warmup", "3")
        withdrawn = superseded_metric(server, "withdrawn") - withdrawn
        stale = superseded_metric(server, "stale") - stale
    assert code == 0, err
    assert err.strip().splitlines()[-1].startswith("SLO PASS")
    assert result["mode"] == "voice" and result["load"]["streams"] == 4
    utt, partials, finals = result["utterances"], result["partials"], result["finals"]
    # Every utterance started got its final answer: nothing shed on an unloaded server.
    assert utt["started"] == utt["finished"] == finals["sent"] == finals["answered"] >= 8
    assert utt["failed"] == finals["failed"] == partials["failed"] == 0 and utt["errors"] == {}
    assert result["streams"] == {"opened": 4, "errors": {}, "error_details": {}}
    # Each partial got exactly one answer; a k-word utterance is k-1 partials and a final.
    assert partials["sent"] == partials["answered"] + partials["stale"] + partials["superseded"]
    assert (
        abs(utt["mean_words"] * utt["started"] - (partials["sent"] + finals["sent"]))
        <= 0.005 * utt["started"]
    )
    # The server counted the same supersessions the answers said.
    assert (partials["superseded"], partials["stale"]) == (withdrawn, stale)
    for kind in ("partial", "final"):
        lat = result["latency_ms"][kind]
        assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"], kind
    stable, acc = result["stable"], result["accuracy"]
    assert 0 <= stable["differed"] <= stable["fired"] <= utt["finished"]
    for share in (
        stable["share"],
        stable["while_talking"],
        stable["on_fresh_answer"],
        stable["differed_share"],
        acc["share"],
        acc["oos_recall"],
    ):
        assert share is None or 0.0 <= share <= 1.0
    if stable["fired"]:
        assert stable["share"] == round(stable["fired"] / utt["finished"], 4)
        assert stable["words_before_end_mean"] >= 1  # only partials count, and they lack a word
    # Every line of the banking test split is labelled: each finished utterance is scored.
    assert acc["labelled_in_scope"] + acc["labelled_out_of_scope"] == utt["finished"]
    assert 0 <= acc["correct"] <= acc["labelled_in_scope"]
    follow_ups = result["follow_ups"]
    assert list(follow_ups["kinds"]) == list(FOLLOW_UP_KINDS)
    assert sum(follow_ups["kinds"].values()) == utt["finished"]
    assert 0 < follow_ups["context_sent"] <= utt["finished"]  # the first utterances carry none
    assert result["server_cache_hits"] == {
        "count": 0,
        "share": 0.0,
        "answers": finals["answered"] + partials["answered"] + partials["stale"],
    }
    text = format_text(result)
    assert text.splitlines()[-1] == result["slo"]["verdict"]
    assert "superseded" in text and "stable" in text and "final intent right" in text
    assert f"context  {follow_ups['context_sent']} of {utt['finished']} finished" in text


def test_a_voice_gate_on_the_cache_share_is_checked(banking_artifact, capsys, tmp_path):
    """--max-cache-share was accepted with --voice-streams and never checked: a run whose report
    said the cache answered 18.8 % passed a 10 % gate."""
    one = tmp_path / "one.txt"
    one.write_text("what is my checking balance\n", encoding="utf-8")
    with ThreadServer(model=banking_artifact) as server:  # the cache on: the same words every time
        code, result, err = cli.main([
            "--target", f"127.0.0.1:{server.app.port}", "--voice-streams", "2", "--word-interval-ms", "50",
            "--texts", str(one), "--json", "--no-progress", "--duration", "1.5", "--max-cache-share", "0.02",
        ]), None, None  # fmt: skip
        out, err = capsys.readouterr()
    result = json.loads(out)
    assert result["server_cache_hits"]["share"] > 0.02
    assert code == 1 and err.strip().splitlines()[-1].startswith("SLO FAIL") and "cache share" in err


def test_a_bad_ca_file_is_named_not_blamed_on_the_server(capsys, tmp_path):
    """A --tls-ca file with no certificate in it: the voice load said no gRPC server accepted a
    connection (and grpc logged four lines); the unary load names the file, and so does this."""
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate\n", encoding="utf-8")
    code = cli.main(["--target", "127.0.0.1:1", "--voice-streams", "1", "--tls", "--tls-ca", str(ca),
                     "--texts", str(TEXTS), "--duration", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and f"--tls-ca {ca}" in err and "no gRPC server" not in err, err


def test_figures_follow_from_the_answers_seen(banking_artifact):
    items = load_labelled(TEXTS)
    with ThreadServer(model=banking_artifact, cache_size=0) as server:
        config = LoadConfig(
            target=f"127.0.0.1:{server.app.port}",
            voice_streams=3,
            word_interval_ms=40,
            duration=2.0,
            warmup=0,
            seed=11,
        )
        run = asyncio.run(measure(config, items, Progress(False)))
    figures = summary(run)
    assert run.utterances and all(u.final is not None for u in run.utterances)
    fired, differed, words_before = 0, 0, []
    for u in run.utterances:
        # One answer per word, in order: partials for 1..k-1 words, then the final.
        assert [a.words for a in u.answers] == list(range(1, u.words + 1))
        assert [a.final for a in u.answers] == [False] * (u.words - 1) + [True]
        computed = []
        for a in u.answers[:-1]:
            if a.superseded:
                assert a.stale and not a.stable and a.intent is None
                continue
            computed.append(a)
            if a.stable:  # the server's rule: the last N computed partials agree, each an
                # UPDATE or no follow-up and not flagged
                last = computed[-STABLE_N:]
                said = {(x.intent, x.follow_up) for x in last}
                assert len(last) == STABLE_N and said == {(a.intent, a.follow_up)}
                assert all(x.follow_up == "update" or (x.follow_up == "none" and not x.flagged)
                           for x in last)  # fmt: skip
        stable = next((a for a in u.answers[:-1] if a.stable), None)
        assert stable is first_stable(u)
        if stable is not None:
            fired += 1
            differed += stable.intent != u.answers[-1].intent
            words_before.append(u.words - stable.words)
    got = figures["stable"]
    assert got["fired"] == fired and got["differed"] == differed
    assert got["share"] == round(fired / len(run.utterances), 4)
    if fired:
        assert got["words_before_end_mean"] == round(sum(words_before) / fired, 2)
    right = sum(
        1
        for u in run.utterances
        if u.item.intent
        and not u.item.ood
        and u.answers[-1].own_intent == u.item.intent
        and not u.answers[-1].flagged
    )
    assert figures["accuracy"]["correct"] == right


def test_callers_carry_the_context_and_follow_ups_are_counted(banking_artifact, tmp_path):
    """Each caller sends what its last final answer left (docs/voice.md's voice loop), so a
    reply to a transfer is a follow-up of it. The load test sent no context: no follow-up was
    ever answered, its rendering never measured, and the report had no count of them."""
    texts = tmp_path / "conversation.jsonl"
    texts.write_text(
        '{"text": "move 200 dollars from checking to savings", "intent": "transfer_money"}\n'
        'make it 50\n{"text": "yes", "intent": "affirm"}\nhold on\nno\n'
    )
    with ThreadServer(model=banking_artifact, cache_size=0) as server:
        config = LoadConfig(
            target=f"127.0.0.1:{server.app.port}",
            voice_streams=1,  # one caller: its utterances in the order it said them
            word_interval_ms=100,
            duration=4.0,
            warmup=0,
            seed=3,
        )
        run = asyncio.run(measure(config, load_labelled(texts), Progress(False)))
    said = run.utterances
    assert said and all(u.final is not None for u in said)
    for u in said:
        if u.final.follow_up in ("update", "confirm", "cancel", "hold"):
            assert u.context_intent == u.final.intent  # answered against the context it sent
    for before, u in itertools.pairwise(said):
        if before.final.done_s > u.final_due_s:
            continue  # its final was written before the answer it would carry came
        if before.final.follow_up in ("cancel", "confirm"):  # decided: the transfer asks nothing
            assert u.context_intent == ""
        elif before.final.follow_up in ("update", "hold"):
            assert u.context_intent == before.final.intent == "transfer_money"
    figures = summary(run)
    kinds = Counter(u.final.follow_up for u in said)
    assert figures["follow_ups"] == {
        "context_sent": sum(1 for u in said if u.context_intent),
        "kinds": {kind: kinds[kind] for kind in FOLLOW_UP_KINDS},
    }
    assert kinds["update"] + kinds["confirm"] >= 1
    # "yes" confirming the transfer is still affirm, the label: scored on the utterance's own intent
    right = sum(1 for u in said if u.item.intent == u.final.own_intent and not u.final.flagged)
    assert figures["accuracy"]["correct"] == right


def test_a_shedding_server_fails_utterances_by_status(banking_artifact, capsys):
    """The model held for a second with room for one request: the other streams' messages are
    shed (a shed partial is answered superseded, a shed final ends its stream with
    RESOURCE_EXHAUSTED), the callers reopen, and the counts still add up."""
    with ThreadServer(model=banking_artifact, cache_size=0, max_queue=1) as server:
        release = server.hold_model()
        timer = threading.Timer(1.0, release.set)
        timer.start()
        try:
            code, result, err = voice(capsys, server.app.port, "--duration", "2", "--warmup", "0")
        finally:
            timer.cancel()
            release.set()
    assert code == 1 and "SLO FAIL: failed utterances" in err
    utt, partials, finals = result["utterances"], result["partials"], result["finals"]
    assert utt["failed"] > 0 and set(utt["errors"]) <= {"RESOURCE_EXHAUSTED", "UNSENT"}
    assert result["streams"]["errors"].get("RESOURCE_EXHAUSTED", 0) > 0
    assert "server busy" in result["streams"]["error_details"]["RESOURCE_EXHAUSTED"]
    assert result["streams"]["opened"] > 4  # callers came back on new streams
    assert partials["superseded"] > 0  # shed partials did not end their streams
    assert utt["started"] == utt["finished"] + utt["failed"]
    assert finals["answered"] == utt["finished"] and finals["failed"] <= utt["failed"]
    assert partials["sent"] == (
        partials["answered"] + partials["stale"] + partials["superseded"] + partials["failed"]
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--word-interval-ms", "100"], "--word-interval-ms needs --voice-streams"),
        (["--voice-streams", "0"], "--voice-streams must be between 1 and"),
        (
            ["--voice-streams", "2", "--word-interval-ms", "0"],
            "--word-interval-ms must be positive",
        ),
        (
            ["--voice-streams", "2", "--sweep", "1,2", "--slo-p95-ms", "9"],
            "cannot be combined with --sweep",
        ),
    ],
)
def test_bad_voice_flags_are_one_line_errors(argv, message, capsys):
    assert cli.main(argv) == cli.EXIT_ERROR
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_a_bad_texts_line_names_file_and_line(tmp_path, capsys):
    texts = tmp_path / "calls.jsonl"
    texts.write_text(
        '{"text": "block my card", "intent": "block_card"}\n{"text": "hi", "intent": 3}\n'
    )
    assert cli.main(["--voice-streams", "2", "--texts", str(texts)]) == cli.EXIT_ERROR
    err = capsys.readouterr().err.strip()
    assert f"{texts}:2:" in err and '"intent" must be a non-empty string' in err


def test_a_refused_connection_is_said_at_once(capsys):
    """Voice mode waited the whole connect timeout and said "within 5 s" for a port nobody
    listens on; the fixed-rate mode says "refused" at once, and so does this one now."""
    import socket

    with socket.socket() as probe:  # a free port: bound, never listened on, then closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    code = cli.main(["--voice-streams", "2", "--target", f"127.0.0.1:{port}", "--duration", "1",
                     "--connect-timeout-s", "30"])
    err = capsys.readouterr().err.strip()
    assert code == cli.EXIT_ERROR and err.endswith("the connection failed (refused, or the TLS or HTTP/2 set-up failed)")
    assert time.monotonic() - started < 15  # not the 30 s of the timeout


def test_a_stopped_voice_run_reports_what_it_measured(banking_artifact):
    """A SIGTERM (a CI timeout) ended a voice run with one line and none of its figures; the
    utterances it cut are in none of them, and the closed streams are no server error."""
    import signal
    import subprocess
    import sys

    with ThreadServer(model=banking_artifact, cache_size=0) as server:
        proc = subprocess.Popen([
            sys.executable, "-m", "intentd.cli", "loadtest", "--target", f"127.0.0.1:{server.app.port}",
            "--voice-streams", "4", "--word-interval-ms", "50", "--texts", str(TEXTS), "--duration", "60",
            "--json", "--no-progress",
        ], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        try:
            time.sleep(6)  # past the start and the warm-up, into the run
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err.strip().splitlines()[-1] == "intentd: stopped (SIGTERM)"
    result = json.loads(out)
    utt = result["utterances"]
    assert 0 < result["interrupted"]["stopped_s"] < 60
    assert result["interrupted"]["utterances_not_counted"] == utt["cut_by_the_stop"] >= 0
    assert utt["started"] == utt["finished"] > 0 and utt["failed"] == 0, utt
    assert result["streams"]["errors"] == {}, result["streams"]
    assert result["slo"]["passed"] is False and result["slo"]["verdict"].startswith("SLO NOT JUDGED")
    assert result["messages_per_s"] > 10  # over the time it ran, not the 60 s it was to run
