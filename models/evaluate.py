"""`intentd eval`: score an artifact on labelled data through the serving path (`Engine.analyze`,
the code the server runs, with the domain's evaluation context as the request options)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from typing import Iterator, Sequence

import numpy as np

from intentd.models import metrics
from intentd.models.data.checks import gold_values_not_ids
from intentd.models.data.schema import Example
from intentd.progress import bar as progress_bar
from intentd.server.analysis import Analysis, RequestOptions, ResolvedEntity
from intentd.server.decode import Prediction
from intentd.server.engine import Engine
from intentd.server.resolve import Resolver
from intentd.server.respond import canonical

OOD_LABEL = "<out_of_scope>"

log = logging.getLogger(__name__)


def length_sorted_batches(texts: Sequence[str], batch_size: int) -> Iterator[list[int]]:
    """Index batches of similar-length texts: offline passes pad each batch to its longest row,
    so grouping by length cuts their work by about a third on real data (CLINC150 valid)."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for i in range(0, len(order), batch_size):
        yield order[i : i + batch_size]


def analyze_all(engine: Engine, examples: Sequence[Example], batch_size: int = 64, progress: bool = False,
                options: RequestOptions | None = None):
    """Every example through the serving path (`Engine.analyze`), in length-grouped batches;
    returns the analyses in input order and the wall time of each batch."""
    options = options if options is not None else evaluation_options(engine.model.artifact.domain)
    out: list[Analysis | None] = [None] * len(examples)
    batch_seconds = []
    texts = [ex.text for ex in examples]
    total = -(-len(texts) // batch_size)
    for rows in progress_bar(iterable=length_sorted_batches(texts, batch_size), total=total, desc="eval",
                             disable=not progress, leave=False):
        t0 = time.perf_counter()
        for row, analysis in zip(rows, engine.analyze([texts[r] for r in rows], options)):
            out[row] = analysis
        batch_seconds.append((time.perf_counter() - t0, len(rows)))
    return out, batch_seconds


def single_query_latency(engine: Engine, texts: Sequence[str], n: int = 200) -> dict:
    """Batch-1 latency of the whole serving path (tokenise, forward, decode, resolve, respond), in ms."""
    sample = list(texts[:n]) or ["hello"]
    engine.analyze(sample[:1])
    times = []
    for text in sample:
        t0 = time.perf_counter()
        engine.analyze([text])
        times.append((time.perf_counter() - t0) * 1e3)
    arr = np.array(times)
    return {"n": len(arr), "p50": float(np.percentile(arr, 50)), "p95": float(np.percentile(arr, 95)), "mean": float(arr.mean())}


def evaluate(engine: Engine, examples: Sequence[Example], batch_size: int = 64, progress: bool = False,
             latency: bool = True) -> dict:
    """`latency=False` skips timing 200 single queries (the build's own accuracy checks need none)."""
    analyses, batch_seconds = analyze_all(engine, examples, batch_size, progress)
    preds = [a.prediction for a in analyses]
    known = set(engine.model.labels.intents)
    is_ood = np.array([ex.ood or ex.intent not in known for ex in examples], dtype=bool)  # bool when empty too
    flagged = np.array([p.is_ood for p in preds], dtype=bool)
    ood_scores = np.array([p.ood_score for p in preds], dtype=np.float64)

    in_idx = np.flatnonzero(~is_ood)
    gold = [examples[i].intent for i in in_idx]
    top = [preds[i].intent for i in in_idx]
    served = [OOD_LABEL if preds[i].is_ood else preds[i].intent for i in in_idx]
    intent_right = np.array([g == p for g, p in zip(gold, served)], dtype=bool)
    classification_right = np.array([g == p for g, p in zip(gold, top)], dtype=bool)

    gold_spans = [{(s.start, s.end, s.type) for s in examples[i].entities} for i in in_idx]
    # scored: the entities the answer carries (the model's spans, with the catalog names and
    # patterns the resolver adds and the money and date parts it joins), the figure a caller
    # gets; the tag head's own spans beside it, as the joint intent + slot papers count them.
    # Types only the resolver finds (patterns, verbatim catalogs the tag head never learnt) need no
    # spans in the data: where the file tags none of them, a find is no error, and they are left
    # out (said in the report). A type the tag head learnt is scored everywhere: its wrong tags count
    tagged = {s.type for ex in examples for s in ex.entities}
    learnt = set(engine.model.labels.entity_types)
    unscored = sorted(t for t in engine.resolver.own_types if t not in tagged and t not in learnt)
    pred_spans = [{(e.start, e.end, e.type) for e in analyses[i].entities if e.type not in unscored} for i in in_idx]
    model_spans = [{(e.start, e.end, e.type) for e in preds[i].entities if e.type not in unscored} for i in in_idx]
    entities = metrics.span_prf(gold_spans, pred_spans)
    model_entities = metrics.span_prf(gold_spans, model_spans)
    spans_right = np.array([g == p for g, p in zip(gold_spans, pred_spans)], dtype=bool)
    exact = intent_right & spans_right

    resolution = score_resolutions([examples[i] for i in in_idx], [preds[i] for i in in_idx],
                                   [analyses[i].entities for i in in_idx])
    not_ids = gold_values_not_ids(examples, engine.resolver.catalogs)
    if not_ids:  # said, or a 0 % resolution accuracy reads as a broken resolver
        log.warning("%d gold value(s) of catalog entity types are not catalog ids, so resolution accuracy counts "
                    "them wrong; the first: %s", len(not_ids), not_ids[0])
    escalation = escalation_report(engine, [examples[i] for i in in_idx], [analyses[i] for i in in_idx])

    confidences = np.array([preds[i].confidence for i in in_idx])
    report: dict = {
        "n": len(examples),
        "n_in_scope": int(len(in_idx)),
        "n_out_of_scope": int(is_ood.sum()),
        "intent_accuracy": _mean(intent_right),
        "classification_accuracy": _mean(classification_right),
        "oos_recall": _mean(flagged[is_ood]) if is_ood.any() else None,
        "false_escalation_rate": escalation["false_escalation_rate"],
        "escalation": escalation,
        "ood_auroc": _nan_to_none(metrics.auroc(ood_scores[~is_ood], ood_scores[is_ood])),
        "fpr_at_95_recall": _nan_to_none(metrics.fpr_at_tpr(ood_scores[~is_ood], ood_scores[is_ood], 0.95)),
        "entity_f1": entities["f1"] if any(gold_spans) else None,
        "entity_precision": entities["precision"] if any(gold_spans) else None,
        "entity_recall": entities["recall"] if any(gold_spans) else None,
        "model_entity_f1": model_entities["f1"] if any(gold_spans) else None,
        "exact_match": _mean(exact),
        # as the joint intent + slot papers count "sentence accuracy": no OOD flag exists there
        "exact_match_classification": _mean(classification_right & spans_right),
        "per_entity_type": {t: {k: v for k, v in d.items()} for t, d in entities["per_type"].items()},
        "entity_types_not_scored": unscored,  # found without the model, and never tagged in the data
        "resolution_accuracy": resolution["accuracy"],
        "resolution_per_type": resolution["per_type"],
        "resolution_errors": resolution["errors"],
        "resolution_values_not_ids": len(not_ids),
        "per_intent": metrics.per_class_pr(gold, served),
        "confused_pairs": metrics.confused_pairs(gold, served),
        "calibration": {
            "ece": _nan_to_none(metrics.expected_calibration_error(confidences, classification_right)),
            "temperature": engine.model.temperature,
            "reliability": metrics.reliability_bins(confidences, classification_right),
        },
        "ood_per_method": {},
        "model": {"name": engine.model.artifact.name, "version": engine.version,
                  "file": engine.model.artifact.manifest["model"], "provider": engine.model.provider},
    }
    if is_ood.any() and preds and preds[0].ood_scores:
        for method in preds[0].ood_scores:
            s = np.array([p.ood_scores[method] for p in preds])
            report["ood_per_method"][method] = {
                "auroc": _nan_to_none(metrics.auroc(s[~is_ood], s[is_ood])),
                "fpr_at_95_recall": _nan_to_none(metrics.fpr_at_tpr(s[~is_ood], s[is_ood], 0.95)),
            }
    total_s = sum(s for s, _ in batch_seconds)
    report["latency"] = {
        "batch_size": batch_size,
        "batched_ms_per_query": total_s * 1e3 / max(1, len(examples)),
        "single_query_ms": single_query_latency(engine, [ex.text for ex in examples]) if latency else None,
    }
    report["_confusion"] = {"gold": gold, "predicted": served}
    return report


def escalation_report(engine: Engine, examples: Sequence[Example], analyses: Sequence[Analysis]) -> dict:
    """Escalations of in-scope queries, by reason, against the budget calibration aimed for.

    `false_escalation_rate` counts every reason the server gives (out of distribution, low
    confidence, ambiguity, and a policy escalation triggered by a wrong intent); a policy
    escalation of a query whose true intent the domain sends to a tier is right, not false.
    `ood_flag_rate` is what the calibrated threshold controls: compare it with `budget`.
    `by_reason` splits the false escalations (its parts add up to `false_escalation_rate`);
    `routed_by_policy` is the share escalated rightly, by the domain's policy for their intent.
    """
    policy = engine.escalation.policy
    reasons: dict[str, int] = defaultdict(int)
    false = routed = 0
    for ex, a in zip(examples, analyses):
        esc = a.escalation
        if not esc.escalate:
            continue
        if esc.reason == "policy" and ex.intent in policy:
            routed += 1
        else:
            reasons[esc.reason or "unknown"] += 1
            false += 1
    n = max(1, len(examples))
    ood = engine.model.artifact.calibration.get("ood", {})
    return {  # None without in-scope queries: a rate of nothing
        "false_escalation_rate": false / n if examples else None,
        "ood_flag_rate": sum(a.prediction.is_ood for a in analyses) / n if examples else None,
        "budget": ood.get("target_false_escalation_rate"),
        "budget_confidence": ood.get("budget_confidence"),  # P(the budget holds), models/calibrate.py
        # False: the valid split was too small for any threshold to hold the budget (None: not recorded)
        "budget_attainable": ood.get("budget_attainable"),
        "calibration_in_scope": (ood.get("valid_counts") or {}).get("in_scope"),
        "by_reason": {reason: count / n for reason, count in sorted(reasons.items())},
        "routed_by_policy": routed / n if examples else None,
    }


def evaluation_options(domain: dict | None) -> RequestOptions:
    """The request context gold values assume: the domain's `evaluation: {reference_time, time_zone}`;
    without it, now (one instant for the whole run) in the domain's time zone, else UTC."""
    section = (domain or {}).get("evaluation") or {}
    zone = section.get("time_zone")
    raw = section.get("reference_time")
    if raw is None:
        return RequestOptions(reference_time=dt.datetime.now(dt.timezone.utc), time_zone=zone)
    try:
        reference = raw if isinstance(raw, dt.datetime) else dt.datetime.fromisoformat(str(raw))
    except ValueError:
        raise ValueError(f"domain.yaml evaluation.reference_time: {raw!r} is not an ISO 8601 date-time") from None
    if reference.tzinfo is None:  # a local time of the evaluation time zone
        from intentd.server.resolve.resolver import time_zone

        reference = reference.replace(tzinfo=time_zone(zone or (domain or {}).get("time_zone") or "UTC"))
    return RequestOptions(reference_time=reference, time_zone=zone)


def resolution_scores(domain: dict | None, examples: Sequence[Example], preds: Sequence[Prediction],
                      max_errors: int = 20) -> dict:
    """`score_resolutions` for predictions not yet resolved: each goes through the serving resolver
    with the domain's evaluation context, as `Engine.finish` does."""
    if not any(s.value is not None for ex in examples for s in ex.entities):
        return {"accuracy": None, "per_type": None, "errors": []}
    resolver = Resolver(domain)
    options = evaluation_options(domain)
    resolved = [resolver.resolve(ex.text, pred.entities, options, ex.intent,
                                 pred.analyzed_chars if pred.truncated else None)
                for ex, pred in zip(examples, preds)]
    return score_resolutions(examples, preds, resolved, max_errors)


def score_resolutions(examples: Sequence[Example], preds: Sequence[Prediction],
                      resolved: Sequence[Sequence[ResolvedEntity]], max_errors: int = 20) -> dict:
    """Resolution accuracy given the span: over the gold spans that carry a `value` and that the model
    predicted exactly (start, end, type), the share whose resolved canonical value (as in
    `slots_used`) equals it. A span the resolver dropped or could not resolve is wrong.

    Returns {"accuracy", "per_type": {type: {"accuracy", "n"}}, "errors": [...]}; accuracy and
    per_type are None when no gold span has a value (errors then empty).
    """
    if not any(s.value is not None for ex in examples for s in ex.entities):
        return {"accuracy": None, "per_type": None, "errors": []}
    right: dict[str, list[bool]] = defaultdict(list)
    errors: list[dict] = []
    for ex, pred, entities in zip(examples, preds, resolved):
        predicted = {(e.start, e.end, e.type) for e in pred.entities}
        gold = [s for s in ex.entities if s.value is not None and (s.start, s.end, s.type) in predicted]
        if not gold:
            continue
        by_span = {(e.start, e.end, e.type): e for e in entities}
        for span in gold:
            e = by_span.get((span.start, span.end, span.type))
            got = canonical(e.resolution) if e is not None and e.resolved and e.resolution else None
            right[span.type].append(got == span.value)
            if got != span.value and len(errors) < max_errors:
                errors.append({"text": ex.text, "type": span.type, "span": ex.span_text(span),
                               "gold": span.value, "resolved": got})
    if not right:  # gold values exist, but the model found none of those spans exactly
        return {"accuracy": None, "per_type": None, "errors": []}
    every = [ok for oks in right.values() for ok in oks]
    per_type = {t: {"accuracy": _mean(np.array(oks)), "n": len(oks)} for t, oks in sorted(right.items())}
    return {"accuracy": _mean(np.array(every)), "per_type": per_type, "errors": errors}


def _mean(values: np.ndarray) -> float | None:
    """None where there is nothing to average: no in-scope query is no accuracy, not 0 %."""
    return float(np.mean(values)) if len(values) else None


def _nan_to_none(x: float):
    return None if x is None or (isinstance(x, float) and np.isnan(x)) else x
