"""The data path at its edges: a valid split with nothing in scope, an evaluation file with nothing
in scope, texts longer than training reads, labels a model does not know, a time budget that
cannot be met. Each is refused or reported in one line naming the file, never a NaN threshold,
a traceback or a 0 % that means "no data".

Real files, real commands; one tiny training run (the `intentd init` sample, one epoch)."""

from __future__ import annotations

import json
import logging
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from intentd.cli import main
from intentd.models.data.schema import DataError, read_jsonl

from conftest import BANKING

LONG = " ".join(["please"] * 80) + " return the sneakers"  # about 85 word pieces; the span is at the end


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def sample(tmp_path: Path, capsys, name: str = "src") -> Path:
    """The `intentd init` sample: 92 lines, eight intents, out-of-scope examples, a domain.yaml."""
    folder = tmp_path / name
    assert cli(capsys, "init", folder)[0] == 0
    return folder


def imported(tmp_path: Path, capsys, src: Path, *flags) -> Path:
    code, _, err = cli(capsys, "data", "import", "--format", "jsonl", src, "--out", tmp_path / "data", *flags)
    assert code == 0, err
    return tmp_path / "data"


def error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("intentd: error:")]
    assert len(lines) == 1, err
    return lines[0]


def long_row() -> dict:
    start = LONG.index("sneakers")
    return {"text": LONG, "intent": "return_item", "entities": [{"start": start, "end": start + 8, "type": "product"}]}


# ---------------------------------------------------------------------------- a valid split with nothing in scope


def test_a_valid_split_without_in_scope_examples_is_refused_by_import_strict_and_train(tmp_path, capsys):
    src = sample(tmp_path, capsys)
    write_jsonl(src / "valid.jsonl", [{"text": "tell me a joke please", "ood": True},
                                      {"text": "what is the weather in paris", "ood": True}])
    code, out, err = cli(capsys, "data", "import", "--format", "jsonl", src, "--out", tmp_path / "strict", "--strict")
    assert code == 2 and out == "" and not (tmp_path / "strict").exists()
    assert error_line(err).startswith(f"intentd: error: {src / 'valid.jsonl'}: the valid split has no in-scope "
                                      f"example (2 out-of-scope): intentd train refuses it")
    data = imported(tmp_path, capsys, src)  # without --strict: a warning, and the data is written
    code, out, err = cli(capsys, "train", "--data", data, "--out", tmp_path / "art", "--epochs", "1", "--quiet")
    assert code == 2 and not (tmp_path / "art").exists()
    assert error_line(err).startswith(f"intentd: error: {data / 'valid.jsonl'}: no in-scope example (2 out-of-scope): "
                                      f"training needs in-scope validation queries")


def test_an_empty_valid_split_is_one_line_before_training(tmp_path, capsys):
    src = sample(tmp_path, capsys)
    data = imported(tmp_path, capsys, src)
    (data / "valid.jsonl").write_text("", encoding="utf-8")
    code, out, err = cli(capsys, "train", "--data", data, "--out", tmp_path / "art", "--epochs", "1", "--quiet")
    assert code == 2 and out == "" and not (tmp_path / "art").exists()
    assert error_line(err).startswith(f"intentd: error: {data / 'valid.jsonl'}: empty: training needs in-scope")
    assert "Traceback" not in err and "epoch" not in err


def test_valid_fraction_zero_without_a_valid_file_is_refused_and_test_fraction_zero_says_so(tmp_path, capsys):
    src = sample(tmp_path, capsys)
    code, out, err = cli(capsys, "data", "import", "--format", "jsonl", src, "--out", tmp_path / "d0",
                         "--valid-fraction", "0")
    assert code == 2 and out == "" and not (tmp_path / "d0").exists()
    assert "a valid fraction of 0 carves none: intentd train needs one" in error_line(err)
    code, out, err = cli(capsys, "data", "import", "--format", "jsonl", src, "--out", tmp_path / "d1",
                         "--test-fraction", "0")
    assert code == 0 and "carved: test: none carved from train (fraction 0); the split is empty" in out
    assert "too few examples" not in out


def test_calibrate_refuses_a_valid_split_without_in_scope_examples(banking_artifact, tmp_path, capsys):
    art = tmp_path / "art"
    shutil.copytree(banking_artifact, art)
    before = (art / "manifest.json").read_bytes()
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(BANKING / "train.jsonl", data / "train.jsonl")
    write_jsonl(data / "valid.jsonl", [ex.to_json() for ex in read_jsonl(BANKING / "valid.jsonl") if ex.ood])
    code, _, err = cli(capsys, "calibrate", "--model", art, "--data", data)
    assert code == 2 and error_line(err).startswith(f"intentd: error: {data / 'valid.jsonl'}: no in-scope example")
    assert (art / "manifest.json").read_bytes() == before

    # the library refuses too, whoever calls it: never a NaN centre and an infinite threshold
    from intentd.models.calibrate import calibrate
    from intentd.server.model import Model

    examples = read_jsonl(BANKING / "valid.jsonl")
    with pytest.raises(DataError, match="no in-scope example of this model's intents"):
        calibrate(Model.load(art), read_jsonl(BANKING / "train.jsonl"), [ex for ex in examples if ex.ood])


# ---------------------------------------------------------------------------- nothing in scope to score


def test_eval_without_in_scope_examples_says_n_a_and_null(banking_artifact, tmp_path, capsys):
    ood_only = write_jsonl(tmp_path / "ood.jsonl",
                           [ex.to_json() for ex in read_jsonl(BANKING / "test.jsonl") if ex.ood][:20])
    plot = tmp_path / "eval.png"
    code, out, err = cli(capsys, "eval", "--model", banking_artifact, "--data", ood_only, "--plot", plot)
    assert code == 0, err
    assert "20 examples (0 in scope, 20 out of scope)" in out
    for label in ("intent accuracy", "exact match", "false escalations", "ECE"):
        assert re.search(rf"  {label} +n/a", out), (label, out)
    assert plot.read_bytes()[:4] == b"\x89PNG"
    code, out, err = cli(capsys, "eval", "--model", banking_artifact, "--data", ood_only, "--json")
    report = json.loads(out)
    assert {"intent_accuracy", "oos_recall", "ood_auroc", "false_escalation_rate", "entity_f1", "exact_match", "n",
            "latency"} <= set(report)  # DESIGN.md's keys, each present
    assert report["n"] == 20 and report["oos_recall"] is not None
    for key in ("intent_accuracy", "classification_accuracy", "exact_match", "exact_match_classification",
                "false_escalation_rate", "entity_f1", "ood_auroc"):
        assert report[key] is None, key
    assert report["escalation"]["false_escalation_rate"] is None and report["calibration"]["ece"] is None


def test_eval_warns_about_entity_types_the_model_does_not_know(banking_artifact, tmp_path, capsys):
    data = write_jsonl(tmp_path / "t.jsonl", [
        {"text": "what is my savings balance", "intent": "check_balance"},
        {"text": "replace my red card", "intent": "replace_card", "entities": [{"start": 11, "end": 14, "type": "colour"}]},
    ])
    code, _, err = cli(capsys, "eval", "--model", banking_artifact, "--data", data)
    assert code == 0
    assert (f"warning: {data}:2: 1 span(s) of entity type 'colour', which this model does not know: counted as "
            f"missed in entity F1 and exact match") in err.splitlines()


def test_eval_says_how_many_gold_values_are_not_catalog_ids(banking_artifact, tmp_path, capsys, caplog):
    """A gold value written as the display value ("Savings account") read as a wrong resolution,
    with nothing to say the gold value, not the resolver, was at fault."""
    data = write_jsonl(tmp_path / "t.jsonl", [
        {"text": "what is my checking balance", "intent": "check_balance",
         "entities": [{"start": 11, "end": 19, "type": "account", "value": "checking"}]},
        {"text": "do I have enough in my savings to cover rent", "intent": "check_balance",
         "entities": [{"start": 23, "end": 30, "type": "account", "value": "Savings account"}]},
    ])
    with caplog.at_level(logging.WARNING, logger="intentd.models.evaluate"):
        code, out, _ = cli(capsys, "eval", "--model", banking_artifact, "--data", data, "--json")
    assert code == 0 and json.loads(out)["resolution_values_not_ids"] == 1
    assert [r.getMessage() for r in caplog.records] == [
        f"1 gold value(s) of catalog entity types are not catalog ids, so resolution accuracy counts them wrong; "
        f"the first: {data}:2: entity 'account' 'savings' has the gold value 'Savings account', which is not an id "
        f"of its catalog; it is a name of 'savings': use the id 'savings'"]


def test_train_refuses_a_test_intent_it_will_not_know_as_eval_does(tmp_path, capsys):
    src = sample(tmp_path, capsys)
    write_jsonl(src / "test.jsonl", [{"text": "where is my parcel SH123456", "intent": "track_order"},
                                     {"text": "what is the weather on mars today", "intent": "mars_weather"}])
    data = imported(tmp_path, capsys, src)
    code, _, err = cli(capsys, "train", "--data", data, "--out", tmp_path / "art", "--epochs", "1", "--quiet")
    assert code == 2 and not (tmp_path / "art").exists()
    assert error_line(err) == (f"intentd: error: {data / 'test.jsonl'}: 1 example(s) with an intent train.jsonl "
                               f"lacks ('mars_weather' at line 2): fix the label, or mark an out-of-scope example "
                               f'"ood": true')


# ---------------------------------------------------------------------------- texts longer than training reads


def test_import_names_texts_longer_than_max_length_and_the_spans_past_the_cut(tmp_path, capsys):
    src = sample(tmp_path, capsys)
    with (src / "train.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(long_row()) + "\n")
    line = sum(1 for _ in (src / "train.jsonl").open(encoding="utf-8"))
    code, out, err = cli(capsys, "data", "import", "--format", "jsonl", src, "--out", tmp_path / "d", "--strict")
    assert code == 2 and re.match(
        rf"intentd: error: {re.escape(str(src / 'train.jsonl'))}:{line}: \d+ word pieces \(special tokens included\), "
        rf"over --max-length 64: training reads only its first \d+ of {len(LONG)} characters, so 1 entity span\(s\) "
        rf"past that \('product' \[\d+, {len(LONG)}\)\) are cut short or not learnt", error_line(err))
    code, out, err = cli(capsys, "data", "import", "--format", "jsonl", src, "--out", tmp_path / "d",
                         "--strict", "--max-length", "128")
    assert code == 0, err


def test_train_reports_spans_cut_by_max_length_as_such_and_test_figures_without_data_as_n_a(tmp_path, capsys,
                                                                                          caplog):
    """One tiny training run: a long text whose span lies past the cut, and a test split with no
    in-scope example."""
    src = sample(tmp_path, capsys)
    with (src / "train.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(long_row()) + "\n")
    write_jsonl(src / "test.jsonl", [{"text": "book me a flight to Oslo", "ood": True},
                                     {"text": "what's the capital of Peru", "ood": True}])
    data = imported(tmp_path, capsys, src)
    with caplog.at_level(logging.WARNING):
        code, out, err = cli(capsys, "train", "--data", data, "--out", tmp_path / "art", "--epochs", "1", "--quiet")
    assert code == 0, err
    assert re.search(rf"{re.escape(str(data / 'train.jsonl'))}:\d+: \d+ word pieces .* over --max-length 64", err)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [w for w in warnings if re.fullmatch(r"1 of \d+ entity spans end past --max-length 64 word pieces: cut "
                                                r"short or not learnt \(the data warnings list their texts\)", w)]
    assert not [w for w in warnings if "word boundary" in w]
    manifest = json.loads((tmp_path / "art" / "manifest.json").read_text())
    assert manifest["training"]["entity_spans_cut_by_max_length"] == 1
    assert manifest["training"]["entity_spans_not_on_word_boundaries"] == 0
    test = manifest["metrics"]["test"]
    assert test["n"] == 2 and test["oos_recall"] is not None
    assert test["intent_accuracy"] is None and test["false_escalation_rate"] is None
    assert "  test: intent_accuracy n/a, classification_accuracy n/a" in out
    calibration = manifest["calibration"]["ood"]
    assert all(v == v and abs(v) != float("inf") for v in [calibration["threshold"], *calibration["center"].values()])


def test_featurize_counts_spans_past_the_cut_apart_from_word_boundaries():
    from intentd.models.config import default_base
    from intentd.models.data.schema import Example, Span
    from intentd.models.features import AlignmentReport, build_labels, featurize
    from intentd.server.tokenize import TextEncoder

    encoder = TextEncoder.from_file(default_base() / "tokenizer.json", max_length=16)
    start = LONG.index("sneakers")
    examples = [Example(LONG, "return_item", (Span(0, 6, "product"), Span(start, start + 8, "product"))),
                Example("return the sneakers", "return_item", (Span(11, 15, "product"),))]  # cuts a word
    report = AlignmentReport()
    featurize(examples, encoder, build_labels(examples), report)
    assert (report.spans, report.truncated, report.inexact) == (3, 1, 1)


# ---------------------------------------------------------------------------- a time budget that cannot be met


def test_a_time_budget_that_cannot_be_met_is_said_once(caplog):
    from intentd.models.train import Budget, Plan

    now = [5.0]  # loading took 5 s of a 3 s budget
    with caplog.at_level(logging.WARNING, logger="intentd.models.train"):
        budget = Budget(3.0, started=0.0, clock=lambda: now[0])
        now[0] += 3.0
        budget.replan(Budget.PROBE_STEPS, Plan(200), 10)
    said = [r.getMessage() for r in caplog.records if "--time-budget" in r.getMessage()]
    assert said == ["--time-budget 0.05 min cannot be met: 5 s had passed at step 0 and about 30 s are needed after "
                    "training (export, calibration, evaluation): the build will run over it"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="intentd.models.train"):
        Budget(900.0, started=0.0, clock=lambda: 5.0)
    assert not caplog.records


# ---------------------------------------------------------------------------- stopped by SIGTERM


def test_a_build_stopped_by_sigterm_leaves_no_staging_folder(tmp_path, capsys):
    """A CI timeout, `timeout` or a Kubernetes Job stops a build with SIGTERM: the process died
    by the signal, and the artifact being assembled (~90 MB, a dot-folder beside --out) stayed for
    good. Ctrl-C already cleaned it up; SIGTERM does now, and says so."""

    data = imported(tmp_path, capsys, sample(tmp_path, capsys))
    out = tmp_path / "models" / "shop"
    proc = subprocess.Popen([sys.executable, "-m", "intentd", "train", "--data", str(data), "--out", str(out),
                             "--epochs", "1", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not list(out.parent.glob(".shop.*")):  # training is over: the artifact is being assembled
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM and "intentd: stopped (SIGTERM)" in err, err
    assert list(out.parent.iterdir()) == []


def test_a_sigterm_wrapped_by_the_code_it_landed_in_is_still_a_stop():
    """A SIGTERM that lands in a class body's __set_name__ (while a command imports torch) comes
    out wrapped in a RuntimeError: it ended in a traceback and exit 1, not the one line and 143."""
    from intentd.cli import Terminated, _stopped_within

    class Descriptor:
        def __set_name__(self, owner, name):
            raise Terminated()

    with pytest.raises(Exception) as caught:
        class Owner:  # noqa: F841 - its creation is what raises
            field = Descriptor()
    assert not isinstance(caught.value, Terminated) and _stopped_within(caught.value)
    assert not _stopped_within(RuntimeError("a failure of its own"))


def test_a_ctrl_c_while_the_command_line_is_read_is_one_line():
    """The parser's imports take a tenth of a second, outside the handling of a Ctrl-C: one
    there ended in a traceback and the interpreter's exit by SIGINT. Here the interrupt lands
    as the parser is built, as a Ctrl-C in those milliseconds does."""
    child = ("import sys\n"
             "from intentd import cli\n"
             "def interrupt(frame, event, _arg):\n"
             "    if event == 'call' and frame.f_code.co_name == 'build_parser':\n"
             "        raise KeyboardInterrupt\n"
             "sys.settrace(interrupt)\n"
             "sys.exit(cli.main(['loadtest', '--target', '127.0.0.1:1']))\n")
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (130, "intentd: interrupted\n")
