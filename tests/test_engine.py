"""One inference path: a query's answer is the same alone and batched with any neighbours, and the
same from `Engine.analyze` (eval), `intentd analyze` and the server."""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys
import types

import pytest
from google.protobuf import json_format

from intentd.models.data.schema import read_jsonl
from intentd.server.analysis import RequestOptions
from intentd.server.engine import Engine

from conftest import BANKING
from servers import ThreadServer, pb2

TOLERANCE = 1e-5


@pytest.fixture(scope="module", params=["served", "served, rows side by side", "model.fp32.onnx"])
def engine(banking_artifact, request):
    """The served graph (INT8, one row at a time; its rows also computed two at a time, as
    `--row-threads 2` does) and the FP32 graph (batched as it is)."""
    if request.param.startswith("served"):
        return Engine.load(banking_artifact, row_threads=2 if "side" in request.param else 1)
    return Engine.load(banking_artifact, onnx_file=request.param)


def answer(analysis) -> dict:
    p, esc = analysis.prediction, analysis.escalation
    return {
        "intents": [name for name, _ in p.intents],
        "confidences": [c for _, c in p.intents],
        "entities": [(e.type, e.start, e.end, e.source, e.resolved, json.dumps(e.resolution, sort_keys=True))
                     for e in analysis.entities],
        "ood_score": p.ood_score,
        "ood": p.is_ood,
        "escalation": (esc.escalate, esc.reason, esc.tier),
        "response": analysis.response.text if analysis.response else None,
    }


def assert_same(alone: dict, batched: dict, where: str) -> None:
    for key in ("intents", "entities", "ood", "escalation", "response"):
        assert alone[key] == batched[key], f"{where}: {key}"
    assert batched["confidences"] == pytest.approx(alone["confidences"], abs=TOLERANCE), where
    assert batched["ood_score"] == pytest.approx(alone["ood_score"], abs=TOLERANCE), where


def assert_same_json(cli: dict, server: dict, where: str = "") -> None:
    """Equal, numbers within TOLERANCE (relative for the large ones: a Mahalanobis distance of
    3,000 computed with another thread count differs in its seventh digit)."""
    if isinstance(cli, dict) and isinstance(server, dict):
        assert sorted(cli) == sorted(server), where
        for key in cli:
            assert_same_json(cli[key], server[key], f"{where}.{key}")
    elif isinstance(cli, list) and isinstance(server, list):
        assert len(cli) == len(server), where
        for i, (a, b) in enumerate(zip(cli, server)):
            assert_same_json(a, b, f"{where}[{i}]")
    elif isinstance(cli, float) or isinstance(server, float):
        assert cli == pytest.approx(server, rel=TOLERANCE, abs=TOLERANCE), where
    else:
        assert cli == server, where


def test_answers_do_not_depend_on_batch_neighbours(engine):
    examples = read_jsonl(BANKING / "test.jsonl")
    texts = [ex.text for ex in examples]
    rng = random.Random(7)
    options = RequestOptions(reference_time=dt.datetime(2026, 11, 29, 12, tzinfo=dt.timezone.utc),
                             time_zone="America/New_York")
    queries = rng.sample(texts, 40)
    alone = {q: answer(engine.analyze([q], options)[0]) for q in queries}
    for trial, query in enumerate(queries):
        neighbours = rng.sample(texts, rng.randrange(1, 32))
        neighbours.append("please " + " ".join(rng.sample(texts, 3)))  # a long one: padding past the query
        position = rng.randrange(len(neighbours) + 1)
        batch = neighbours[:position] + [query] + neighbours[position:]
        batched = answer(engine.analyze(batch, options)[position])
        assert_same(alone[query], batched, f"trial {trial}: {query!r} in a batch of {len(batch)}")


def test_rows_computed_side_by_side_are_the_rows_computed_one_by_one(banking_artifact):
    """`--row-threads`: the rows of a batch dealt out to two threads come back in their places,
    bit for bit what one thread computes (each row is its own onnxruntime call either way)."""
    one, two = (Engine.load(banking_artifact, row_threads=n) for n in (1, 2))
    assert (one.model.row_threads, two.model.row_threads) == (1, 2)
    texts = [ex.text for ex in read_jsonl(BANKING / "test.jsonl")]
    rng = random.Random(11)
    for size in (2, 3, 5, 8, 17):
        encodings = one.tokenize(rng.sample(texts, size))
        a, b = one.forward(encodings).raw, two.forward(encodings).raw
        for name in ("intent_logits", "tag_logits", "embedding"):
            assert (getattr(a, name) == getattr(b, name)).all(), f"{name}, batch of {size}"


def test_int8_batched_would_depend_on_neighbours(banking_artifact, tmp_path):
    """Why the served INT8 graph runs one row at a time: batched, a query's scores move."""
    from servers import copy_artifact

    batched = Engine.load(copy_artifact(banking_artifact, tmp_path / "batched", batch_dependent=[]))
    assert not batched.model.row_wise
    texts = [ex.text for ex in read_jsonl(BANKING / "test.jsonl")]
    worst = 0.0
    for i in range(0, 200, 20):
        alone = batched.forward(batched.tokenize([texts[i]])).raw.intent_logits[0]
        together = batched.forward(batched.tokenize([texts[i]] + texts[i + 1:i + 16])).raw.intent_logits[0]
        worst = max(worst, float(abs(alone - together).max()))
    assert worst > 100 * TOLERANCE


def test_top_k_is_the_same_everywhere(banking_artifact):
    engine = Engine.load(banking_artifact)
    text = "what is my checking balance"
    assert len(engine.analyze([text], RequestOptions(top_k=1))[0].prediction.intents) == 1
    cli = subprocess.run([sys.executable, "-m", "intentd", "analyze", "--model", str(banking_artifact), text,
                          "--top-k", "1", "--json"], capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert len(json.loads(cli.stdout)["intents"]) == 1
    with ThreadServer(model=banking_artifact, cache_size=0) as server:
        assert len(server.stub.Analyze(pb2.AnalyzeRequest(text=text, top_k=1), timeout=30).intents) == 1
        assert len(server.stub.DetectIntent(pb2.DetectIntentRequest(text=text, top_k=1), timeout=30).intents) == 1


@pytest.mark.parametrize("flags, message", [
    (["--top-k", "-1"], "--top-k must be 0"),
    (["--top-k", "99999999999"], "--top-k must be 0"),
    (["--max-chars", "-1"], "--max-chars must be at least 1"),
    # a reference time at the years' edge crashed (OverflowError) or was dropped for the clock's time
    (["--timezone", "America/New_York", "--reference-time", "9999-12-31T20:00:00"], "outside the years 1900..2200"),
    (["--reference-time", "9999-12-31T23:00:00-05:00"], "outside the years 1900..2200"),
    (["--reference-time", "0001-01-01T00:00:00+05:00"], "outside the years 1900..2200"),
])
def test_cli_analyze_rejects_a_bad_flag_in_one_line(banking_artifact, flags, message):
    cli = subprocess.run([sys.executable, "-m", "intentd", "analyze", "--model", str(banking_artifact), "hello",
                          *flags], capture_output=True, text=True, timeout=120)
    assert cli.returncode == 2 and message in cli.stderr and "Traceback" not in cli.stderr, cli.stderr


def test_cli_eval_warns_of_texts_a_server_refuses_for_their_length(banking_artifact, tmp_path):
    data = tmp_path / "long.jsonl"
    rows = [{"text": "what is my balance", "intent": "check_balance"},
            {"text": "what is my balance " + "please " * 400, "intent": "check_balance"}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cli = subprocess.run([sys.executable, "-m", "intentd", "eval", "--model", str(banking_artifact), "--data",
                          str(data), "--json"], capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert f"{data}: 1 text(s) over 2000 characters (line 2)" in cli.stderr and "INVALID_ARGUMENT" in cli.stderr
    assert json.loads(cli.stdout)["n"] == 2  # still scored, as the model reads it


def test_cli_eval_of_an_empty_file_says_so(banking_artifact, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    cli = subprocess.run([sys.executable, "-m", "intentd", "eval", "--model", str(banking_artifact),
                          "--data", str(empty)], capture_output=True, text=True, timeout=120)
    assert cli.returncode == 2 and "no examples to evaluate" in cli.stderr and "Traceback" not in cli.stderr, \
        cli.stderr


def test_eval_scores_the_entities_the_server_answers_with(banking_artifact):
    """eval scored the tag head's spans while the answer also holds the catalog names and patterns
    the resolver finds and the amounts it joins: its entity F1 was not the figure callers get."""
    from intentd.models.metrics import span_prf

    cli = _cli("eval", "--model", str(banking_artifact), "--data", str(BANKING / "test.jsonl"), "--json")
    assert cli.returncode == 0, cli.stderr.decode()
    report = json.loads(cli.stdout)
    examples = [ex for ex in read_jsonl(BANKING / "test.jsonl") if not ex.ood]
    with ThreadServer(model=banking_artifact, cache_size=0) as server:
        replies = [server.stub.Analyze(pb2.AnalyzeRequest(text=ex.text), timeout=30) for ex in examples]
    gold = [{(s.start, s.end, s.type) for s in ex.entities} for ex in examples]
    answered = [{(e.start, e.end, e.type) for e in reply.entities} for reply in replies]
    assert report["entity_f1"] == pytest.approx(span_prf(gold, answered)["f1"], abs=1e-12)
    assert 0 < report["model_entity_f1"] <= 1  # the tag head alone, as the papers count it


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "intentd", *args], capture_output=True, timeout=120)


def test_cli_eval_refuses_labels_the_model_does_not_know_and_a_plot_it_cannot_write(banking_artifact, tmp_path):
    """A renamed label would be scored as out of scope (a plausible-looking OOS recall); a plot
    type matplotlib cannot write would fail after the whole evaluation. Both refused up front."""
    lines = BANKING.joinpath("test.jsonl").read_text(encoding="utf-8").splitlines()[:5]
    renamed = [json.dumps({**json.loads(line), "intent": json.loads(line).get("intent", "x") + "_typo"})
               if not json.loads(line).get("ood") else line for line in lines]
    data = tmp_path / "renamed.jsonl"
    data.write_text("\n".join(renamed) + "\n", encoding="utf-8")
    cli = _cli("eval", "--model", str(banking_artifact), "--data", str(data))
    err = cli.stderr.decode()
    assert cli.returncode == 2 and "does not know" in err and "at line 1" in err and "Traceback" not in err, err
    cli = _cli("eval", "--model", str(banking_artifact), "--data", str(BANKING / "test.jsonl"),
               "--plot", str(tmp_path / "plot.txt"))
    err = cli.stderr.decode()
    assert cli.returncode == 2 and ".png" in err and "eval:" not in err and not (tmp_path / "plot.txt").exists(), err
    nowhere = tmp_path / "plot.png"  # a file that cannot be written was found after the whole evaluation
    nowhere.symlink_to(tmp_path / "missing" / "plot.png")
    cli = _cli("eval", "--model", str(banking_artifact), "--data", str(data), "--plot", str(nowhere))
    err = cli.stderr.decode()
    assert cli.returncode == 2 and "cannot be written" in err and "does not know" not in err, err


def test_cli_text_that_is_not_unicode_is_one_line(banking_artifact, tmp_path):
    cli = subprocess.run([sys.executable.encode(), b"-m", b"intentd", b"analyze", b"--model",
                          str(banking_artifact).encode(), b"my balance \xff please"], capture_output=True, timeout=120)
    err = cli.stderr.decode()
    assert cli.returncode == 2 and "not valid UTF-8 (byte 0xff" in err and "Traceback" not in err, err
    data = tmp_path / "surrogate.jsonl"
    data.write_text('{"text": "lone \\ud83d surrogate", "intent": "check_balance"}\n', encoding="utf-8")
    cli = _cli("eval", "--model", str(banking_artifact), "--data", str(data))
    err = cli.stderr.decode()
    assert cli.returncode == 2 and f"{data}:1: text has a lone surrogate" in err and "Traceback" not in err, err


def test_cli_analyze_prints_the_servers_answer(banking_artifact):
    text = "move two hundred bucks from checking to my savings next friday"
    cli = subprocess.run([sys.executable, "-m", "intentd", "analyze", "--model", str(banking_artifact), text,
                          "--reference-time", "2026-11-29T12:00:00", "--timezone", "America/New_York", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    request = pb2.AnalyzeRequest(text=text, time_zone="America/New_York")
    request.reference_time.FromJsonString("2026-11-29T17:00:00Z")  # noon in New York
    with ThreadServer(model=banking_artifact, cache_size=0) as server:
        reply = server.stub.Analyze(request, timeout=30)
    reply.ClearField("timing")
    assert_same_json(json.loads(cli.stdout), json.loads(json_format.MessageToJson(reply)))
    assert any(e["resolution"].get("datetime", {}).get("value", "").startswith("2026-12-04")
               for e in json.loads(cli.stdout)["entities"])


def test_cli_analyze_answers_a_turn_of_a_conversation_as_the_server_does(banking_artifact):
    cli = subprocess.run([sys.executable, "-m", "intentd", "analyze", "--model", str(banking_artifact), "make it 75",
                          "--previous-intent", "transfer_money", "--slot", "amount=50 USD", "--slot", "account=checking",
                          "--session-id", "s1", "--json"], capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    request = pb2.AnalyzeRequest(text="make it 75", context=pb2.RequestContext(
        session_id="s1", previous_intent="transfer_money", filled_slots={"amount": "50 USD", "account": "checking"}))
    with ThreadServer(model=banking_artifact, cache_size=0) as server:
        reply = server.stub.Analyze(request, timeout=30)
    reply.ClearField("timing")
    assert_same_json(json.loads(cli.stdout), json.loads(json_format.MessageToJson(reply)))
    assert reply.follow_up.intent == "transfer_money" and reply.response.slots_used["amount"] == "75 USD"


def test_cli_analyze_warns_of_a_previous_intent_the_model_does_not_know(banking_artifact):
    """The server ignores it (a backend's stale context must not fail a turn); a person who typed
    `transfer_monee` heard nothing and read a first turn's answer as the follow-up rule's."""
    cli = subprocess.run([sys.executable, "-m", "intentd", "analyze", "--model", str(banking_artifact), "make it 75",
                          "--previous-intent", "transfer_monee"], capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert cli.stderr.strip() == ("warning: --previous-intent 'transfer_monee' is not one of the model's intents: "
                                  "answered as a first turn")
    assert "follow-up:" not in cli.stdout


def test_cli_analyze_into_a_closed_pipe_is_quiet(banking_artifact):
    cmd = (f"{sys.executable} -m intentd analyze --model {banking_artifact} 'what is my checking balance' --json "
           f"--top-k 50 | head -c 10")
    out = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=120)
    assert out.stdout == "{\n  \"inten" and "Broken pipe" not in out.stderr and "Traceback" not in out.stderr


def test_a_truncated_text_has_no_entity_past_what_the_model_read(banking_artifact):
    """The answer's entities come from its first analyzed_chars characters, whoever finds them:
    a catalog name past the model's window was resolved (and filled the response) before."""
    engine = Engine.load(banking_artifact)
    text = "transfer $500 from checking to " + "um " * 200 + "savings"
    analysis = engine.analyze([text])[0]
    assert analysis.prediction.truncated and analysis.prediction.analyzed_chars < text.index("savings")
    assert analysis.entities and all(e.end <= analysis.prediction.analyzed_chars for e in analysis.entities)
    assert "Savings" not in (analysis.response.text if analysis.response else "")
    short = engine.analyze(["transfer $500 from checking to savings"])[0]  # untruncated: every match counts
    assert any(e.text == "savings" for e in short.entities)


def test_ood_scores_do_not_depend_on_the_blas_thread_count_at_load(banking_artifact):
    """The scorer's projection was a BLAS product made at load: `intentd analyze` (numpy's
    default threads) and the server (one) gave the same query Mahalanobis distances up to 1.2e-3
    apart, and a build calibrated its threshold on numbers the server does not compute."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    from intentd.server.artifact import load_artifact
    from intentd.server.ood import OODScorer

    artifact = load_artifact(banking_artifact)
    projections = []
    for threads in (1, 2, 4):
        with threadpool_limits(threads, user_api="blas"):
            projections.append(OODScorer(artifact.ood_stats, artifact.calibration)._projection)
    for other in projections[1:]:
        np.testing.assert_array_equal(projections[0], other)


class _ClockRead(dt.datetime):
    """A datetime whose `now` moves an hour each time it is read."""

    reads = 0

    @classmethod
    def now(cls, tz=None):
        cls.reads += 1
        return dt.datetime(2026, 12, 7, 23, 30, tzinfo=dt.timezone.utc).astimezone(tz) + dt.timedelta(hours=cls.reads)


def test_a_request_without_a_reference_time_reads_the_clock_once(engine, monkeypatch):
    """Each stage of one request (resolver, follow-up rules, responder) read "now" again: a request
    in flight at midnight mixed two todays (the day kept for "tomorrow at five" came out a day
    late). The clock is read once a request, and every stage reads that instant."""
    import intentd.server.analysis as analysis
    import intentd.server.resolve.resolver as resolver

    clock = types.SimpleNamespace(**{name: getattr(dt, name) for name in dir(dt) if not name.startswith("_")})
    clock.datetime = _ClockRead
    for module in (analysis, resolver):
        monkeypatch.setattr(module, "dt", clock)
    options = RequestOptions(time_zone="UTC", previous_intent="transfer_money",
                             filled_slots=(("amount", "50 USD"), ("account", "savings")))
    monkeypatch.setattr(_ClockRead, "reads", 0)
    engine.analyze(["transfer $50 to savings tomorrow at five"], options)
    assert _ClockRead.reads == 1
