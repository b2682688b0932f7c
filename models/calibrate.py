"""Calibration on the served (ONNX) model: temperature, OOD statistics, combination and threshold.

Fitted on what the server will compute (the INT8 graph), not on torch, so the thresholds mean
what they say at serving time.
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from intentd.errors import IntentdError
from intentd.models.data.schema import DataError, Example
from intentd.models.evaluate import length_sorted_batches
from intentd.models.metrics import auroc, expected_calibration_error
from intentd.server.decode import softmax
from intentd.server.escalation import EscalationPolicy
from intentd.server.model import Model
from intentd.server.ood import OODScorer

DEFAULT_TARGET_FER = 0.05  # share of in-scope validation queries we accept to escalate
SHRINKAGE = 1e-2  # covariance regulariser, relative to its mean variance
KNN_BANK_PER_INTENT = 16  # training embeddings per intent in the k-NN bank: its size is its cost
# the probability that a calibrated budget holds on new queries like the validation split's (see
# pick_threshold): 0.5 would be the split-conformal rank, right on average and over budget for
# about every second model; measured on SNIPS and CLINC150 in docs/accuracy.md, "An escalation budget that holds"
BUDGET_CONFIDENCE = 0.9

log = logging.getLogger(__name__)


class CalibrationError(IntentdError):
    """A calibration that would switch OOD detection off (a NaN or infinite threshold)."""


@dataclass
class RawSet:
    logits: np.ndarray  # [N, I]
    embeddings: np.ndarray  # [N, D]


def run_raw(model: Model, texts: Sequence[str], batch_size: int = 64) -> RawSet:
    """Raw outputs in input order, computed in length-grouped batches."""
    logits = embs = None
    for rows in length_sorted_batches(texts, batch_size):
        raw = model.infer(model.encode([texts[r] for r in rows]))
        if logits is None:
            logits = np.empty((len(texts), raw.intent_logits.shape[1]), dtype=raw.intent_logits.dtype)
            embs = np.empty((len(texts), raw.embedding.shape[1]), dtype=raw.embedding.dtype)
        logits[rows], embs[rows] = raw.intent_logits, raw.embedding
    if logits is None:
        return RawSet(np.zeros((0, len(model.labels.intents)), np.float32), np.zeros((0, 0), np.float32))
    return RawSet(logits, embs)


def intent_targets(examples: Sequence[Example], intents: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Which examples are in scope for the model's intents (mask), and the intent index of each
    of those (in order). Out-of-scope examples and intents the model lacks are not in scope."""
    index = {name: i for i, name in enumerate(intents)}
    mask = np.array([not ex.ood and ex.intent in index for ex in examples], dtype=bool)
    targets = np.array([index[ex.intent] for ex, keep in zip(examples, mask) if keep], dtype=np.int64)
    return mask, targets


def fit_ood_stats(
    embeddings: np.ndarray, intents: np.ndarray, n_intents: int, seed: int = 0
) -> dict[str, np.ndarray]:
    """Class means and a shared, shrunk covariance's inverse (Lee et al. 2018), and the k-NN
    bank: at most KNN_BANK_PER_INTENT normalised training embeddings per intent (seeded), which
    keeps the nearest-neighbour search a few hundred microseconds per request at most."""
    dim = embeddings.shape[1]
    means = np.zeros((n_intents, dim), dtype=np.float64)
    centered = []
    for c in range(n_intents):
        rows = embeddings[intents == c].astype(np.float64)
        if len(rows):
            means[c] = rows.mean(0)
            centered.append(rows - means[c])
    x = np.concatenate(centered)
    cov = x.T @ x / max(1, len(x) - 1)
    cov += SHRINKAGE * np.trace(cov) / dim * np.eye(dim)
    rng = np.random.default_rng(seed)
    chosen = np.concatenate(
        [rng.permutation(np.flatnonzero(intents == c))[:KNN_BANK_PER_INTENT] for c in range(n_intents)]
    )
    bank = embeddings[np.sort(chosen)].astype(np.float32)
    bank /= np.maximum(np.linalg.norm(bank, axis=1, keepdims=True), 1e-12)
    return {
        "means": means.astype(np.float32),
        "precision": np.linalg.inv(cov).astype(np.float32),
        "bank": bank,
    }


def fit_temperature(logits: np.ndarray, targets: np.ndarray) -> float | None:
    """Temperature minimising validation NLL (Guo et al. 2017), by a coarse-to-fine 1-D search;
    None when the split cannot fit one: with every query classified right (a small, clean split),
    the NLL falls as the temperature does, and the search would end on its lowest value, making
    every answer ~100 % sure and switching off the low-confidence and ambiguity rules."""
    if len(targets) == 0:
        return None

    def nll(t: float) -> float:
        p = softmax(logits.astype(np.float64), t)
        return float(-np.log(p[np.arange(len(targets)), targets] + 1e-12).mean())

    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 61))
    losses = [nll(t) for t in grid]
    best = int(np.argmin(losses))
    if best == 0:
        return None
    fine = np.exp(np.linspace(np.log(grid[best]) - 0.12, np.log(grid[best]) + 0.12, 49))
    return float(min(fine, key=nll))


def needed_for_budget(target_fer: float, confidence: float = BUDGET_CONFIDENCE) -> int:
    """The fewest in-scope calibration queries with which a budget can hold at `confidence` (none
    of them escalating): below it, no threshold guarantees the budget (45 for 5 % at 0.9)."""
    if target_fer <= 0.0:
        return 1
    return max(1, math.ceil(math.log1p(-confidence) / math.log1p(-target_fer) - 1e-9))


def calibrate(
    model: Model,
    train_set: Sequence[Example],
    valid_set: Sequence[Example],
    target_fer: float = DEFAULT_TARGET_FER,
    valid_raw: RawSet | None = None,
    escalation: EscalationPolicy | None = None,
    confidence: float = BUDGET_CONFIDENCE,
) -> tuple[dict, dict[str, np.ndarray]]:
    """Returns (the manifest's `calibration` section, the OOD statistics to store beside the model).

    `valid_raw`: the model's raw outputs on `valid_set`, when the caller already has them.
    `escalation`: the domain's rules; in-scope queries they escalate for low confidence or
    ambiguity use up the budget before the OOD threshold gets the rest (the budget is for every
    false escalation, not only the OOD flags). `confidence`: see pick_threshold.
    """
    intents = model.labels.intents
    train_mask, train_targets = intent_targets(train_set, intents)
    train_raw = run_raw(model, [ex.text for ex, keep in zip(train_set, train_mask) if keep])
    stats = fit_ood_stats(train_raw.embeddings, train_targets, len(intents))

    if valid_raw is None:
        valid_raw = run_raw(model, [ex.text for ex in valid_set])
    is_in, targets = intent_targets(valid_set, intents)
    if not is_in.any():  # the statistics below would be NaN and the threshold infinite: no OOD flag, ever
        raise DataError("the valid split has no in-scope example of this model's intents: the OOD threshold is "
                        "set on in-scope validation queries")
    raw_in = RawSet(valid_raw.logits[is_in], valid_raw.embeddings[is_in])
    fitted = fit_temperature(raw_in.logits, targets)
    temperature = 1.0 if fitted is None else fitted
    if fitted is None:
        log.warning("the valid split's %d in-scope queries are all classified right, with a margin: they cannot fit "
                    "a confidence temperature (any lower one would do, down to answers ~100 %% sure, which no "
                    "low-confidence or ambiguity rule would ever escalate); confidences keep the model's own "
                    "scale (temperature 1). Add validation queries the model finds hard.", len(targets))

    probs_before = softmax(raw_in.logits.astype(np.float64), 1.0)
    probs_after = softmax(raw_in.logits.astype(np.float64), temperature)
    correct = probs_after.argmax(-1) == targets
    ece = {
        "before": expected_calibration_error(probs_before.max(-1), correct),
        "after": expected_calibration_error(probs_after.max(-1), correct),
    }

    scorer = OODScorer(stats, {})
    in_scores = scorer.method_scores(raw_in.embeddings, raw_in.logits, probs_after)
    center = {m: float(np.median(s)) for m, s in in_scores.items()}
    scale = {m: float(np.std(s)) or 1.0 for m, s in in_scores.items()}
    out_scores = None
    if (~is_in).any():
        raw_out = RawSet(valid_raw.logits[~is_in], valid_raw.embeddings[~is_in])
        out_scores = scorer.method_scores(raw_out.embeddings, raw_out.logits, softmax(raw_out.logits.astype(np.float64), temperature))

    weights, per_method_auroc = _choose_weights(in_scores, out_scores, center, scale)
    combined_in = _combine(in_scores, weights, center, scale)
    unsure = _unsure(escalation or EscalationPolicy(None), probs_after, intents)
    needed = needed_for_budget(target_fer, confidence)
    if len(combined_in) < needed:
        log.warning("holding a %.1f %% false-escalation budget with %.0f %% confidence needs at least %d in-scope "
                    "validation queries; the valid split has %d: the OOD threshold is set above every one of them, "
                    "and the budget is not guaranteed on new queries. Add validation queries.",
                    100 * target_fer, 100 * confidence, needed, len(combined_in))
    threshold = pick_threshold(combined_in, target_fer, unsure, confidence)
    if math.isinf(threshold):  # the rules escalate every in-scope query: flag none of them for OOD, not nothing ever
        threshold = float(np.nextafter(np.max(combined_in), np.inf))
    flagged = combined_in >= threshold
    achieved = {
        "false_escalation_rate": float(np.mean(flagged | unsure)) if len(combined_in) else 0.0,
        "ood_flag_rate": float(np.mean(flagged)) if len(combined_in) else 0.0,
    }
    if out_scores is not None:
        combined_out = _combine(out_scores, weights, center, scale)
        achieved["oos_recall"] = float(np.mean(combined_out >= threshold))
        achieved["auroc"] = auroc(combined_in, combined_out)
    numbers = [temperature, threshold, *center.values(), *scale.values()]
    if not all(math.isfinite(x) for x in numbers):
        raise CalibrationError(f"calibration is not finite (temperature {temperature}, threshold {threshold}, "
                               f"centres {center}, scales {scale}): no artifact is written with it")
    calibration = {
        "temperature": temperature,
        "temperature_fitted": fitted is not None,  # False: the valid split could not fit it (fit_temperature)
        "ece_valid": ece,
        "ood": {
            "methods": list(in_scores),
            "weights": weights,
            "center": center,
            "scale": scale,
            "threshold": threshold,
            "target_false_escalation_rate": target_fer,
            "budget_confidence": confidence,
            # False: too few in-scope validation queries for any threshold to hold the budget
            "budget_attainable": len(combined_in) >= needed,
            "valid": achieved,
            "valid_auroc_per_method": per_method_auroc,
            "valid_counts": {"in_scope": int(is_in.sum()), "out_of_scope": int((~is_in).sum())},
        },
    }
    return calibration, stats


def pick_threshold(in_scope_scores: np.ndarray, target_fer: float, escalated: np.ndarray | None = None,
                   confidence: float = BUDGET_CONFIDENCE) -> float:
    """The lowest threshold (flag: score >= t) at which the share of new in-scope queries that
    escalate, counting those `escalated` for other reasons, stays within `target_fer` with
    probability `confidence` over the draw of the calibration queries.

    Of n calibration queries, a escalated leave a true rate p with p ~ Beta(a + 1, n - a) (order
    statistics of exchangeable scores), so P(p <= target) = P(Binomial(n, target) > a): the
    budget allows the largest a with BinomialCDF(a; n, target) <= 1 - confidence (Vovk 2012's
    training-conditional conformal guarantee). At confidence 0.5 this is about the split-conformal
    rank, which holds the budget only on average over calibration draws: one model's budget then
    fails about half the time, by a margin that grows as the validation split shrinks."""
    if not 0.0 <= target_fer < 1.0:
        raise ValueError(f"target false escalation rate must be in [0, 1), got {target_fer}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"budget confidence must be in (0, 1), got {confidence}")
    scores = np.asarray(in_scope_scores, dtype=np.float64)
    n = len(scores)
    if n == 0:
        return float("inf")
    escalated = np.zeros(n, dtype=bool) if escalated is None else np.asarray(escalated, dtype=bool)
    allowed = allowed_escalations(n, target_fer, confidence)
    if escalated.sum() > max(allowed, 0):
        log.warning("the domain's rules (low confidence, ambiguity) alone escalate %d of %d in-scope validation "
                    "queries, more than a %.1f %% budget allows (%d): false escalations will exceed it whatever "
                    "the OOD threshold; loosen the rules or the budget", int(escalated.sum()), n,
                    100 * target_fer, max(allowed, 0))
    allowed -= int(escalated.sum())  # already taken by low confidence and ambiguity
    scores = np.sort(scores[~escalated])
    if allowed <= 0 or len(scores) == 0:
        return float(np.nextafter(scores[-1], np.inf)) if len(scores) else float("inf")
    if allowed >= len(scores):
        return float(scores[0])
    # flag exactly the `allowed` highest, unless ties force fewer
    return float(np.nextafter(scores[-allowed - 1], np.inf))


def allowed_escalations(n: int, target_fer: float, confidence: float = BUDGET_CONFIDENCE) -> int:
    """How many of n calibration queries may escalate: the largest a with BinomialCDF(a; n,
    target) <= 1 - confidence (-1 when even none would do, so the caller flags none)."""
    if target_fer <= 0.0:
        return 0
    k = np.arange(n + 1)
    log_pmf = (math.lgamma(n + 1) - np.array([math.lgamma(i + 1) + math.lgamma(n - i + 1) for i in k])
               + k * math.log(target_fer) + (n - k) * math.log1p(-target_fer))
    cdf = np.cumsum(np.exp(log_pmf))
    return int(np.searchsorted(cdf, 1.0 - confidence, side="right")) - 1


def _unsure(policy: EscalationPolicy, probs: np.ndarray, intents: Sequence[str]) -> np.ndarray:
    """Which rows the server escalates for low confidence or ambiguity (EscalationPolicy.unsure)."""
    ranked = np.sort(probs, axis=1)
    second = ranked[:, -2] if probs.shape[1] > 1 else np.zeros(len(probs))
    return np.array([policy.unsure(intents[i], top, other) is not None
                     for i, top, other in zip(probs.argmax(1), ranked[:, -1], second)], dtype=bool)


def _combine(scores: dict, weights: dict, center: dict, scale: dict) -> np.ndarray:
    return sum(w * (scores[m] - center[m]) / scale[m] for m, w in weights.items())


def _choose_weights(in_scores, out_scores, center, scale) -> tuple[dict[str, float], dict[str, float]]:
    """With out-of-scope validation data: the single method or equal-weight pair with the best AUROC.

    Without it: Mahalanobis and k-NN together, two distances in the embedding space (to the
    intent's centre, to the nearest training query). Not MSP: an in-scope query torn between two
    intents has a high MSP, and the escalation rules already send it up as ambiguous or low
    confidence; SNIPS, whose test split has more such queries than its validation split, went
    over its budget with MSP in the mix (docs/accuracy.md, "An escalation budget that holds"), and on
    CLINC150 the pair's AUROC is as good (0.981 vs 0.980).
    """
    default = {"mahalanobis": 0.5, "knn": 0.5} if "knn" in in_scores else {"mahalanobis": 0.5, "msp": 0.5}
    if out_scores is None:
        return default, {}
    methods = list(in_scores)  # every method the scorer has (k-NN needs the bank)
    per_method = {m: auroc(in_scores[m], out_scores[m]) for m in methods}
    candidates = [{m: 1.0} for m in methods]
    candidates += [{a: 0.5, b: 0.5} for a, b in itertools.combinations(methods, 2)]
    candidates.append({m: 1.0 / len(methods) for m in methods})
    best = max(
        candidates,
        key=lambda w: auroc(_combine(in_scores, w, center, scale), _combine(out_scores, w, center, scale)),
    )
    return best, per_method
