"""Calibration math against hand-computed cases."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from intentd.models.build import recalibrate, write_manifest
from intentd.models.calibrate import (
    BUDGET_CONFIDENCE,
    KNN_BANK_PER_INTENT,
    SHRINKAGE,
    _choose_weights,
    _combine,
    allowed_escalations,
    calibrate,
    fit_ood_stats,
    fit_temperature,
    needed_for_budget,
    pick_threshold,
)
from intentd.models.data.schema import DataError, read_jsonl
from intentd.server.artifact import ArtifactError, load_artifact
from intentd.server.decode import softmax
from intentd.server.engine import Engine
from intentd.server.ood import OODScorer

from conftest import BANKING


def test_mahalanobis_matches_hand_computation():
    # two classes in 2-D, centred at (0, 0) and (4, 0); within-class spread only along x
    emb = np.array([[-1.0, 0.0], [1.0, 0.0], [3.0, 0.0], [5.0, 0.0]])
    intents = np.array([0, 0, 1, 1])
    stats = fit_ood_stats(emb, intents, 2)
    np.testing.assert_allclose(stats["means"], [[0, 0], [4, 0]])
    # pooled covariance: x variance 4 * 1 / (4 - 1) = 4/3, y variance 0; shrinkage adds
    # SHRINKAGE * trace / dim = SHRINKAGE * (4/3) / 2 to the diagonal
    eps = SHRINKAGE * (4 / 3) / 2
    precision = np.diag([1 / (4 / 3 + eps), 1 / eps])
    np.testing.assert_allclose(stats["precision"], precision, rtol=1e-5)

    scorer = OODScorer(stats, {})
    x = np.array([[2.0, 0.0], [0.0, 0.1]], dtype=np.float32)
    logits = np.zeros((2, 2), dtype=np.float32)
    scores = scorer.method_scores(x, logits, softmax(logits.copy()))
    # (2, 0): 2 from either mean along x; (0, 0.1): 0.1 along the low-variance y axis is far
    assert scores["mahalanobis"][0] == pytest.approx(4 * precision[0, 0], rel=1e-4)
    assert scores["mahalanobis"][1] == pytest.approx(0.01 * precision[1, 1], rel=1e-4)
    assert scores["msp"] == pytest.approx([0.5, 0.5])
    assert scores["energy"] == pytest.approx([-np.log(2)] * 2, rel=1e-5)


def test_knn_score_is_cosine_distance_to_the_nearest_bank_row():
    # class 0 along x, class 1 along y; 100 rows each, the bank keeps KNN_BANK_PER_INTENT each
    rng = np.random.default_rng(1)
    x_rows = np.c_[rng.uniform(1, 2, 100), np.zeros(100)]
    y_rows = np.c_[np.zeros(100), rng.uniform(1, 2, 100)]
    emb = np.concatenate([x_rows, y_rows])
    stats = fit_ood_stats(emb, np.array([0] * 100 + [1] * 100), 2)
    assert stats["bank"].shape == (2 * KNN_BANK_PER_INTENT, 2)
    np.testing.assert_allclose(np.linalg.norm(stats["bank"], axis=1), 1.0, rtol=1e-6)
    scorer = OODScorer(stats, {})
    queries = np.array([[5.0, 0.0], [0.0, 0.3], [1.0, 1.0], [-1.0, 0.0]], dtype=np.float32)
    logits = np.zeros((4, 2), dtype=np.float32)
    knn = scorer.method_scores(queries, logits, softmax(logits.copy()))["knn"]
    # on a class axis: 0 whatever the length; at 45 degrees: 1 - cos 45; opposite x: the y rows
    # are nearest, at 90 degrees: 1
    assert knn == pytest.approx([0.0, 0.0, 1 - np.sqrt(0.5), 1.0], abs=1e-6)
    # an artifact from before the bank scores without k-NN
    old = OODScorer({"means": stats["means"], "precision": stats["precision"]}, {})
    assert "knn" not in old.method_scores(queries, logits, softmax(logits.copy()))


def test_temperature_recovers_the_generating_temperature():
    rng = np.random.default_rng(0)
    true_t = 2.5
    logits = rng.normal(size=(4000, 5)) * 4.0
    probs = softmax(logits.copy(), true_t)
    targets = np.array([rng.choice(5, p=p) for p in probs])
    assert fit_temperature(logits, targets) == pytest.approx(true_t, rel=0.08)


def test_a_split_that_cannot_fit_a_temperature_gets_none():
    """Every query classified right with a margin: the NLL falls as the temperature does, and the
    fit ended on its search's floor (0.044), every answer ~100 % sure, the low-confidence and
    ambiguity rules never firing. One query classified wrong fits a real temperature again."""
    assert fit_temperature(np.zeros((0, 3)), np.zeros(0, dtype=int)) is None
    logits = np.array([[4.0, 1.0, 0.5], [0.2, 3.0, 1.0], [1.0, 0.0, 2.5], [3.0, 2.9, 0.0]])
    assert fit_temperature(logits, np.array([0, 1, 2, 0])) is None
    fitted = fit_temperature(logits, np.array([0, 1, 2, 1]))
    assert fitted is not None and 0.05 < fitted < 20.0


@pytest.mark.parametrize("target, confidence", [(0.05, 0.9), (0.03, 0.9), (0.05, 0.5), (0.1, 0.95), (0.2, 0.8)])
def test_needed_for_budget_is_the_first_size_that_allows_a_threshold(target, confidence):
    n = needed_for_budget(target, confidence)
    assert allowed_escalations(n, target, confidence) == 0 and allowed_escalations(n - 1, target, confidence) == -1
    assert needed_for_budget(0.05, 0.9) == 45


def test_a_valid_split_too_small_for_its_budget_or_its_temperature_is_said(banking_artifact, tmp_path, caplog,
                                                                             capsys):
    """A domain of `intentd init`'s size: 6 in-scope validation queries, all right. Its artifact
    said ECE 8e-08 and served every answer at confidence 1.000, and 33 % of its test queries
    escalated against a 5 % budget, with nothing said at training."""
    from intentd.server.model import Model

    model = Model.load(banking_artifact)
    valid = read_jsonl(BANKING / "valid.jsonl")
    engine = Engine(model, banking_artifact)
    easy = [ex for ex in valid if not ex.ood and engine.analyze([ex.text])[0].prediction.intent == ex.intent][:6]
    with caplog.at_level("WARNING", logger="intentd.models.calibrate"):
        calibration, _ = calibrate(model, read_jsonl(BANKING / "train.jsonl"), easy)
    assert calibration["temperature"] == 1.0 and calibration["temperature_fitted"] is False
    assert calibration["ood"]["budget_attainable"] is False
    assert "the valid split's 6 in-scope queries are all classified right" in caplog.text
    assert "needs at least 45 in-scope validation queries; the valid split has 6" in caplog.text

    # and `intentd eval` says so beside the budget
    from intentd.cli import main

    art, data = tmp_path / "art", _calibration_data(tmp_path / "data")
    shutil.copytree(banking_artifact, art)
    (data / "valid.jsonl").write_text("".join(json.dumps(ex.to_json()) + "\n" for ex in easy))
    assert main(["calibrate", "--model", str(art), "--data", str(data)]) == 0
    capsys.readouterr()
    assert main(["eval", "--model", str(art), "--data", str(BANKING / "test.jsonl")]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if "false escalations" in line)
    assert "(budget 5.00 % with 90 % confidence, not guaranteed: calibrated on 6 in-scope validation queries, " \
           "45 needed" in line, line
    caplog.clear()
    with caplog.at_level("WARNING", logger="intentd.models.calibrate"):
        calibration, _ = calibrate(model, read_jsonl(BANKING / "train.jsonl"), valid)
    assert calibration["temperature_fitted"] is True and calibration["ood"]["budget_attainable"] is True
    assert caplog.text == ""


def test_weights_pick_the_separating_method_and_combine_standardises():
    in_scores = {"mahalanobis": np.array([1.0, 2.0, 3.0]), "msp": np.array([0.5, 0.1, 0.9]),
                 "energy": np.array([0.0, 0.0, 0.0])}
    out_scores = {"mahalanobis": np.array([10.0, 11.0]), "msp": np.array([0.2, 0.6]),
                  "energy": np.array([0.0, 0.0])}
    center = {m: 0.0 for m in in_scores}
    scale = {"mahalanobis": 2.0, "msp": 1.0, "energy": 1.0}
    weights, per_method = _choose_weights(in_scores, out_scores, center, scale)
    assert per_method["mahalanobis"] == 1.0 and per_method["energy"] == 0.5
    assert weights == {"mahalanobis": 1.0}  # the first candidate with a perfect AUROC
    assert _combine(in_scores, weights, center, scale) == pytest.approx(in_scores["mahalanobis"] / 2)
    # without out-of-scope data: the two embedding distances (MSP only when there is no k-NN bank)
    assert _choose_weights(in_scores, None, center, scale)[0] == {"mahalanobis": 0.5, "msp": 0.5}
    with_bank = {**in_scores, "knn": np.array([0.1, 0.2, 0.3])}
    assert _choose_weights(with_bank, None, {**center, "knn": 0.0}, {**scale, "knn": 1.0})[0] == {
        "mahalanobis": 0.5, "knn": 0.5}


@pytest.mark.parametrize(
    "scores, target, flagged",
    [
        (np.arange(100.0), 0.05, 4),  # n - ceil((n + 1) * 0.95) = 4 of 100, not 5
        (np.arange(200.0), 0.05, 9),
        (np.arange(10.0), 0.05, 0),  # too few to flag any
        (np.arange(4.0), 0.5, 1),
        (np.array([1.0, 2.0, 3.0, 3.0]), 0.5, 0),  # a tie at the cut: flagging one would flag two
    ],
)
def test_threshold_at_confidence_one_half_is_the_conformal_rank(scores, target, flagged):
    threshold = pick_threshold(scores, target, confidence=0.5)
    assert int(np.sum(scores >= threshold)) == flagged


@pytest.mark.parametrize("n, target", [(100, 0.05), (700, 0.05), (3000, 0.05), (260, 0.03), (50, 0.2)])
def test_allowed_escalations_is_the_binomial_quantile(n, target):
    from scipy.stats import binom

    for confidence in (0.5, 0.9):
        a = allowed_escalations(n, target, confidence)
        assert binom.cdf(a, n, target) <= 1 - confidence < binom.cdf(a + 1, n, target)


def _new_query_rates(n: int, target: float, confidence: float, draws: int = 2000) -> np.ndarray:
    """Uniform in-scope scores: the share of new queries at or over each draw's threshold."""
    rng = np.random.default_rng(0)
    return np.array([1.0 - min(pick_threshold(rng.random(n), target, confidence=confidence), 1.0)
                     for _ in range(draws)])


def test_threshold_holds_the_budget_on_new_queries():
    """Over many calibration draws: at confidence 0.5 (the conformal rank) the share of *new*
    in-scope queries flagged is within the budget on average, yet over it for ~40 % of the draws
    (one served model); at the default 0.9 it is over the budget for at most ~10 % of them. The
    plain sample quantile (10 of 200 flagged) would average (10 + 1) / 201 = 5.5 %."""
    half = _new_query_rates(200, 0.05, 0.5)
    assert half.mean() <= 0.0505 and (half > 0.05).mean() > 0.3
    default = _new_query_rates(200, 0.05, BUDGET_CONFIDENCE)
    assert BUDGET_CONFIDENCE == 0.9 and (default > 0.05).mean() <= 0.11
    # and no more conservative than it has to be: a of n flagged leaves (a + 1) / (n + 1) on average
    assert default.mean() == pytest.approx((allowed_escalations(200, 0.05) + 1) / 201, abs=2e-3)


def test_other_escalations_use_up_the_budget_first():
    scores = np.arange(200.0)
    unsure = np.zeros(200, dtype=bool)
    unsure[:4] = True  # four low-confidence queries, with low OOD scores
    threshold = pick_threshold(scores, 0.05, unsure, confidence=0.5)
    assert int(np.sum((scores >= threshold) | unsure)) == 9 and int(np.sum(scores >= threshold)) == 5
    assert pick_threshold(scores, 0.05, np.ones(200, dtype=bool)) == float("inf")


def test_threshold_rejects_nonsense_budgets():
    with pytest.raises(ValueError):
        pick_threshold(np.arange(5.0), 1.5)


def test_offline_passes_batch_by_length_and_keep_input_order(banking_artifact):
    """run_raw and eval group texts by length for speed; every row must still be its own text's."""
    from intentd.models.calibrate import run_raw
    from intentd.models.data.schema import Example
    from intentd.models.evaluate import analyze_all, length_sorted_batches
    from intentd.server.engine import Engine

    texts = ["hi", "what is my checking balance right now please", "block my card", "ok", "pay 40 dollars"]
    batches = list(length_sorted_batches(texts, 2))
    assert sorted(i for b in batches for i in b) == list(range(len(texts)))
    assert [len(texts[i]) for b in batches for i in b] == sorted(len(t) for t in texts)

    engine = Engine.load(banking_artifact)
    model = engine.model
    raw = run_raw(model, texts, batch_size=2)
    analyses, _ = analyze_all(engine, [Example(text=t, intent="x") for t in texts], batch_size=2)
    for i, text in enumerate(texts):
        alone = model.infer(model.encode([text]))
        np.testing.assert_allclose(raw.logits[i], alone.intent_logits[0], atol=1e-4)
        assert analyses[i].prediction.intents == engine.analyze([text])[0].prediction.intents


def test_a_budget_the_rules_alone_exceed_is_said(caplog):
    """`calibrate --target-fer 0` on a domain whose rules escalate some queries went through
    silently, then eval showed the budget missed."""
    scores = np.linspace(0.0, 1.0, 200)
    escalated = np.zeros(200, dtype=bool)
    escalated[:3] = True
    with caplog.at_level("WARNING", logger="intentd.models.calibrate"):
        pick_threshold(scores, 0.0, escalated)
    assert "alone escalate 3 of 200" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="intentd.models.calibrate"):
        pick_threshold(scores, 0.05, escalated)  # room for them and more
    assert caplog.text == ""


# -- `intentd calibrate` on an existing artifact -----------------------------------------------

def _calibration_data(folder: Path, without: tuple[str, ...] = ()) -> Path:
    """The banking data, small (4 training examples an intent, 120 validation queries: a second
    of calibration, not ten), less the intents `without`."""
    folder.mkdir()
    train, seen = [], {}
    for line in (BANKING / "train.jsonl").read_text().splitlines():
        intent = json.loads(line)["intent"]
        seen[intent] = seen.get(intent, 0) + 1
        if seen[intent] <= 4 and intent not in without:
            train.append(line)
    (folder / "train.jsonl").write_text("\n".join(train) + "\n")
    (folder / "valid.jsonl").write_text("\n".join((BANKING / "valid.jsonl").read_text().splitlines()[:120]) + "\n")
    return folder


def test_a_calibrate_stopped_before_its_manifest_leaves_the_artifact_as_it_was(banking_artifact, tmp_path):
    """The new statistics replaced ood_stats.npz before manifest.json held their hash: stopped in
    between (Ctrl-C, a failed write), the artifact no longer loaded, for calibrate either. Here
    the manifest's write fails for real: a folder stands where its temporary file goes."""
    art = tmp_path / "art"
    shutil.copytree(banking_artifact, art)
    before = (art / "manifest.json").read_bytes()
    (art / "manifest.json.tmp").mkdir()
    data = _calibration_data(tmp_path / "data")
    with pytest.raises(IsADirectoryError):
        recalibrate(art, data, target_fer=0.1, progress=False)
    assert load_artifact(art).manifest["version"] == json.loads(before)["version"]  # every file verified
    assert sorted(p.name for p in art.glob("ood_stats*")) == ["ood_stats.alt.npz", "ood_stats.npz"]  # written beside

    (art / "manifest.json.tmp").rmdir()
    manifest = recalibrate(art, data, target_fer=0.1, progress=False)
    assert load_artifact(art).manifest["version"] == manifest["version"] != json.loads(before)["version"]
    assert manifest["ood_stats"] == "ood_stats.alt.npz"


def test_the_manifest_lists_the_files_it_names_and_no_others(banking_artifact, tmp_path):
    """Every file in the folder was hashed: a leftover manifest.json.tmp was listed, then renamed
    away (the artifact no longer loaded); a link to a file outside made calibrate fail half-way;
    notes beside the model became required files and changed the version."""
    art = tmp_path / "art"
    shutil.copytree(banking_artifact, art)
    manifest = json.loads((art / "manifest.json").read_text())
    (art / "manifest.json.tmp").write_text("{")
    (art / "NOTES.txt").write_text("notes\n")
    (tmp_path / "outside.txt").write_text("not the artifact's\n")
    (art / "outside").symlink_to(tmp_path / "outside.txt")
    write_manifest(art, dict(manifest))
    rewritten = json.loads((art / "manifest.json").read_text())
    assert rewritten["files"] == manifest["files"] and rewritten["version"] == manifest["version"]
    (art / "NOTES.txt").unlink()
    assert load_artifact(art).manifest["version"] == manifest["version"]


def test_calibrate_refuses_data_without_some_of_the_models_intents(banking_artifact, tmp_path):
    """Their OOD statistics were left empty, so their queries read as out of scope: OOS recall
    on test fell from 76.5 % to 34.6 % with 2 of 28 intents in train.jsonl, without a word."""
    art = tmp_path / "art"
    shutil.copytree(banking_artifact, art)
    before = (art / "manifest.json").read_bytes()
    data = _calibration_data(tmp_path / "data", without=("greeting",))
    n = len(load_artifact(art).labels.intents)
    with pytest.raises(DataError, match=rf"train.jsonl: no in-scope example of 1 of the model's {n} intents "
                                        r"\(greeting\)"):
        recalibrate(art, data, progress=False)
    assert (art / "manifest.json").read_bytes() == before


def test_calibrate_names_a_labels_json_that_does_not_fit_the_model(banking_artifact, tmp_path):
    """The data was checked against labels.json before the model was: calibrate blamed the data
    ("156 example(s) with an intent this model does not know"), where analyze, eval and serve name labels.json."""
    art = tmp_path / "art"
    shutil.copytree(banking_artifact, art)
    labels = json.loads((art / "labels.json").read_text())
    n = len(labels["intents"])
    (art / "labels.json").write_text(json.dumps({**labels, "intents": labels["intents"][:-1]}))
    write_manifest(art, json.loads((art / "manifest.json").read_text()))
    with pytest.raises(ArtifactError, match=rf"labels\.json: {n - 1} intents, but model\.int8\.onnx computes "
                                            rf"intent_logits {n} wide"):
        recalibrate(art, BANKING, progress=False)
