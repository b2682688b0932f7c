"""`intentd eval`: score an artifact on labelled data through the serving path (server.model.Model)."""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np
from tqdm import tqdm

from intentd.models import metrics
from intentd.models.data.schema import Example
from intentd.server.decode import Prediction
from intentd.server.model import Model

OOD_LABEL = "<out_of_scope>"


def predict_all(model: Model, examples: Sequence[Example], batch_size: int = 64, progress: bool = False):
    """Predictions in input order, and the wall time of each batch (encode + infer + decode)."""
    preds: list[Prediction] = []
    batch_seconds = []
    texts = [ex.text for ex in examples]
    for i in tqdm(range(0, len(texts), batch_size), desc="eval", disable=not progress, leave=False):
        chunk = texts[i : i + batch_size]
        t0 = time.perf_counter()
        preds.extend(model.predict(chunk))
        batch_seconds.append((time.perf_counter() - t0, len(chunk)))
    return preds, batch_seconds


def single_query_latency(model: Model, texts: Sequence[str], n: int = 200) -> dict:
    """Batch-1 latency of the serving path (tokenise + forward + decode), in milliseconds."""
    sample = list(texts[:n]) or ["hello"]
    model.predict(sample[:1])
    times = []
    for text in sample:
        t0 = time.perf_counter()
        model.predict([text])
        times.append((time.perf_counter() - t0) * 1e3)
    arr = np.array(times)
    return {"n": len(arr), "p50": float(np.percentile(arr, 50)), "p95": float(np.percentile(arr, 95)), "mean": float(arr.mean())}


def evaluate(model: Model, examples: Sequence[Example], batch_size: int = 64, progress: bool = False) -> dict:
    preds, batch_seconds = predict_all(model, examples, batch_size, progress)
    known = set(model.labels.intents)
    is_ood = np.array([ex.ood or ex.intent not in known for ex in examples])
    flagged = np.array([p.is_ood for p in preds])
    ood_scores = np.array([p.ood_score for p in preds])

    in_idx = np.flatnonzero(~is_ood)
    gold = [examples[i].intent for i in in_idx]
    top = [preds[i].intent for i in in_idx]
    served = [OOD_LABEL if preds[i].is_ood else preds[i].intent for i in in_idx]
    intent_right = np.array([g == p for g, p in zip(gold, served)], dtype=bool)
    classification_right = np.array([g == p for g, p in zip(gold, top)], dtype=bool)

    gold_spans = [{(s.start, s.end, s.type) for s in examples[i].entities} for i in in_idx]
    pred_spans = [{(e.start, e.end, e.type) for e in preds[i].entities} for i in in_idx]
    entities = metrics.span_prf(gold_spans, pred_spans)
    exact = intent_right & np.array([g == p for g, p in zip(gold_spans, pred_spans)], dtype=bool)

    confidences = np.array([preds[i].confidence for i in in_idx])
    report: dict = {
        "n": len(examples),
        "n_in_scope": int(len(in_idx)),
        "n_out_of_scope": int(is_ood.sum()),
        "intent_accuracy": _mean(intent_right),
        "classification_accuracy": _mean(classification_right),
        "oos_recall": _mean(flagged[is_ood]) if is_ood.any() else None,
        "false_escalation_rate": _mean(flagged[~is_ood]),
        "ood_auroc": _nan_to_none(metrics.auroc(ood_scores[~is_ood], ood_scores[is_ood])),
        "fpr_at_95_recall": _nan_to_none(metrics.fpr_at_tpr(ood_scores[~is_ood], ood_scores[is_ood], 0.95)),
        "entity_f1": entities["f1"] if any(gold_spans) else None,
        "entity_precision": entities["precision"] if any(gold_spans) else None,
        "entity_recall": entities["recall"] if any(gold_spans) else None,
        "exact_match": _mean(exact),
        "per_entity_type": {t: {k: v for k, v in d.items()} for t, d in entities["per_type"].items()},
        "per_intent": metrics.per_class_pr(gold, served),
        "confused_pairs": metrics.confused_pairs(gold, served),
        "calibration": {
            "ece": _nan_to_none(metrics.expected_calibration_error(confidences, classification_right)),
            "temperature": model.temperature,
            "reliability": metrics.reliability_bins(confidences, classification_right),
        },
        "ood_auroc_per_method": {},
        "model": {"name": model.artifact.name, "version": model.version, "file": model.artifact.manifest["model"], "provider": model.provider},
    }
    if is_ood.any() and preds and preds[0].ood_scores:
        for method in preds[0].ood_scores:
            s = np.array([p.ood_scores[method] for p in preds])
            report["ood_auroc_per_method"][method] = _nan_to_none(metrics.auroc(s[~is_ood], s[is_ood]))
    total_s = sum(s for s, _ in batch_seconds)
    report["latency"] = {
        "batch_size": batch_size,
        "batched_ms_per_query": total_s * 1e3 / max(1, len(examples)),
        "single_query_ms": single_query_latency(model, [ex.text for ex in examples]),
    }
    report["_confusion"] = {"gold": gold, "predicted": served}
    return report


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else 0.0


def _nan_to_none(x: float):
    return None if x is None or (isinstance(x, float) and np.isnan(x)) else x
