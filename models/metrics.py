"""Evaluation metrics, defined as in the papers we compare with (see ../shared/datasets/README.md).

- in-scope accuracy counts an in-scope query flagged out-of-scope as wrong (Larson et al. 2019);
- entity F1 is span-level micro F1: a span counts only when type and both boundaries match
  (conlleval / seqeval);
- AUROC treats out-of-scope as the positive class, scored by the OOD score.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

import numpy as np

SpanKey = tuple[int, int, str]  # (start, end, type)


def span_prf(gold: Sequence[Iterable[SpanKey]], pred: Sequence[Iterable[SpanKey]]) -> dict:
    """Micro precision/recall/F1 over exact spans, overall and per entity type."""
    tp: Counter = Counter()
    n_gold: Counter = Counter()
    n_pred: Counter = Counter()
    for g, p in zip(gold, pred, strict=True):
        gs, ps = set(g), set(p)
        for s in gs:
            n_gold[s[2]] += 1
        for s in ps:
            n_pred[s[2]] += 1
        for s in gs & ps:
            tp[s[2]] += 1
    per_type = {t: _prf(tp[t], n_pred[t], n_gold[t]) for t in sorted(set(n_gold) | set(n_pred))}
    overall = _prf(sum(tp.values()), sum(n_pred.values()), sum(n_gold.values()))
    return {**overall, "per_type": per_type}


def _prf(tp: int, n_pred: int, n_gold: int) -> dict:
    precision = tp / n_pred if n_pred else (1.0 if n_gold == 0 else 0.0)
    recall = tp / n_gold if n_gold else (1.0 if n_pred == 0 else 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": n_gold}


def per_class_pr(gold: Sequence[str], pred: Sequence[str]) -> dict[str, dict]:
    """Per-intent precision and recall; `pred` may hold labels outside `gold` (e.g. "<ood>")."""
    out = {}
    for label in sorted(set(gold)):
        tp = sum(1 for g, p in zip(gold, pred) if g == label and p == label)
        n_pred = sum(1 for p in pred if p == label)
        n_gold = sum(1 for g in gold if g == label)
        out[label] = _prf(tp, n_pred, n_gold)
    return out


def confused_pairs(gold: Sequence[str], pred: Sequence[str], top: int = 10) -> list[dict]:
    pairs = Counter((g, p) for g, p in zip(gold, pred) if g != p)
    return [{"gold": g, "predicted": p, "count": c} for (g, p), c in pairs.most_common(top)]


def auroc(scores_negative: np.ndarray, scores_positive: np.ndarray) -> float:
    """Probability that a positive (OOD) scores above a negative (in-scope); ties count half."""
    neg = np.asarray(scores_negative, dtype=np.float64)
    pos = np.asarray(scores_positive, dtype=np.float64)
    if len(neg) == 0 or len(pos) == 0:
        return float("nan")
    both = np.concatenate([neg, pos])
    order = both.argsort(kind="mergesort")
    ranks = np.empty(len(both), dtype=np.float64)
    sorted_scores = both[order]
    # average ranks over ties
    i = 0
    while i < len(both):
        j = i
        while j + 1 < len(both) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    rank_sum_pos = ranks[len(neg) :].sum()
    return float((rank_sum_pos - len(pos) * (len(pos) + 1) / 2.0) / (len(pos) * len(neg)))


def fpr_at_tpr(scores_negative: np.ndarray, scores_positive: np.ndarray, tpr: float = 0.95) -> float:
    """False positive rate (in-scope flagged) at the threshold that catches `tpr` of the OOD queries."""
    pos = np.sort(np.asarray(scores_positive, dtype=np.float64))
    neg = np.asarray(scores_negative, dtype=np.float64)
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    # the largest threshold t with mean(pos >= t) >= tpr
    k = int(np.floor((1.0 - tpr) * len(pos) + 1e-9))
    threshold = pos[k]
    return float(np.mean(neg >= threshold))


def expected_calibration_error(confidences: np.ndarray, correct: np.ndarray, n_bins: int = 15) -> float:
    """ECE with equal-width bins (Guo et al. 2017)."""
    conf = np.asarray(confidences, dtype=np.float64)
    ok = np.asarray(correct, dtype=np.float64)
    if len(conf) == 0:
        return float("nan")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        sel = bins == b
        if sel.any():
            ece += sel.mean() * abs(conf[sel].mean() - ok[sel].mean())
    return float(ece)


def reliability_bins(confidences: np.ndarray, correct: np.ndarray, n_bins: int = 10) -> list[dict]:
    conf = np.asarray(confidences, dtype=np.float64)
    ok = np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    out = []
    for b in range(n_bins):
        sel = bins == b
        out.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "count": int(sel.sum()),
                "confidence": float(conf[sel].mean()) if sel.any() else None,
                "accuracy": float(ok[sel].mean()) if sel.any() else None,
            }
        )
    return out
