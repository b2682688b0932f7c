"""Metric functions against values computed by hand; the server's Prometheus metrics."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from intentd.models import metrics
from intentd.server.config import Settings
from intentd.server.decode import Prediction
from intentd.server.escalation import EscalationPolicy
from intentd.server.metrics import (ESCALATION_REASONS, EXPIRED_STAGES, LATENCY_BUCKETS, RELOAD_OUTCOMES,
                                    Metrics)

FIXED_LABELS = [("intentd_reloads_total", "outcome", RELOAD_OUTCOMES),
                ("intentd_expired_total", "stage", EXPIRED_STAGES),
                ("intentd_escalations_total", "reason", ESCALATION_REASONS)]


def test_span_f1_counts_only_exact_type_and_boundaries():
    gold = [{(0, 5, "city"), (9, 15, "date")}, {(3, 7, "amount")}]
    pred = [{(0, 5, "city"), (9, 14, "date")}, {(3, 7, "account")}]
    out = metrics.span_prf(gold, pred)
    # 1 true positive of 3 predicted and 3 gold
    assert out["precision"] == pytest.approx(1 / 3)
    assert out["recall"] == pytest.approx(1 / 3)
    assert out["f1"] == pytest.approx(1 / 3)
    assert out["per_type"]["city"]["f1"] == 1.0
    assert out["per_type"]["date"]["f1"] == 0.0
    assert out["per_type"]["account"]["precision"] == 0.0


def test_span_f1_empty_is_perfect_and_missing_is_zero():
    assert metrics.span_prf([set()], [set()])["f1"] == 1.0
    assert metrics.span_prf([{(0, 1, "x")}], [set()])["f1"] == 0.0


def test_auroc_hand_computed_with_ties():
    # pairs (pos, neg): 3 positives x 2 negatives = 6 pairs
    neg = np.array([0.1, 0.5])
    pos = np.array([0.5, 0.7, 0.2])
    # 0.5 vs 0.1 win, vs 0.5 tie; 0.7 wins twice; 0.2 wins vs 0.1, loses vs 0.5
    assert metrics.auroc(neg, pos) == pytest.approx((1 + 0.5 + 2 + 1) / 6)
    assert metrics.auroc(np.array([0.0]), np.array([1.0])) == 1.0
    assert math.isnan(metrics.auroc(np.array([]), np.array([1.0])))


def test_fpr_at_95_recall():
    pos = np.arange(1, 21, dtype=float)  # 20 positives; 95 % recall keeps 19 -> threshold 2
    neg = np.array([0.0, 1.0, 2.0, 3.0])
    assert metrics.fpr_at_tpr(neg, pos, 0.95) == pytest.approx(0.5)


def test_ece_hand_computed():
    conf = np.array([0.9, 0.9, 0.6, 0.6])
    correct = np.array([1, 0, 1, 1])
    # bin(0.9): acc 0.5, conf 0.9 -> 0.4 * 1/2 ; bin(0.6): acc 1.0, conf 0.6 -> 0.4 * 1/2
    assert metrics.expected_calibration_error(conf, correct, n_bins=10) == pytest.approx(0.4)


def test_per_class_and_confused_pairs():
    gold = ["a", "a", "b", "b"]
    pred = ["a", "b", "b", "<out_of_scope>"]
    pr = metrics.per_class_pr(gold, pred)
    assert pr["a"]["precision"] == 1.0 and pr["a"]["recall"] == 0.5
    assert pr["b"]["precision"] == 0.5 and pr["b"]["recall"] == 0.5
    pairs = metrics.confused_pairs(gold, pred)
    assert {"gold": "a", "predicted": "b", "count": 1} in pairs
    assert len(pairs) == 2


def test_fixed_label_values_are_exported_at_zero_before_their_first_event():
    """A series born at 1 shows no increase: `increase(intentd_reloads_total{outcome="failed"}[5m]) > 0`
    missed the first failed reload after every restart."""
    registry = Metrics().registry
    for name, label, values in FIXED_LABELS:
        for value in values:
            assert registry.get_sample_value(name, {label: value}) == 0.0, (name, value)


def test_every_escalation_reason_the_policy_gives_is_exported():
    policy = EscalationPolicy({"intents": {"close_account": {"escalate": "human"}}})
    predictions = [Prediction([("greeting", 0.9), ("affirm", 0.05)], [], 9.0, is_ood=True),
                   Prediction([("close_account", 0.9), ("affirm", 0.05)], [], 0.0),
                   Prediction([("greeting", 0.4), ("affirm", 0.1)], [], 0.0),
                   Prediction([("greeting", 0.55), ("affirm", 0.5)], [], 0.0)]
    assert sorted(policy.decide(p).reason for p in predictions) == sorted(ESCALATION_REASONS)


WORKER = """
from intentd.server.metrics import Metrics
m = Metrics()
m.reloads.labels("failed").inc()
m.expired.labels("queue").inc(2)
"""


def test_pre_created_series_add_up_across_workers(tmp_path):
    """--workers: each worker writes its own files (prometheus-client's multiprocess mode) and the
    supervisor sums them; a worker's zeros add nothing to another's counts."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    workers = [subprocess.Popen([sys.executable, "-c", WORKER], env=env) for _ in range(2)]
    assert [w.wait(timeout=60) for w in workers] == [0, 0]
    supervisor = CollectorRegistry()
    MultiProcessCollector(supervisor, path=str(tmp_path))
    assert supervisor.get_sample_value("intentd_reloads_total", {"outcome": "failed"}) == 2
    assert supervisor.get_sample_value("intentd_reloads_total", {"outcome": "ok"}) == 0
    assert supervisor.get_sample_value("intentd_expired_total", {"stage": "queue"}) == 4
    assert supervisor.get_sample_value("intentd_expired_total", {"stage": "admission"}) == 0
    assert supervisor.get_sample_value("intentd_escalations_total", {"reason": "policy"}) == 0
    reloads = [s for f in supervisor.collect() if f.name == "intentd_reloads" for s in f.samples]
    assert sorted(s.labels["outcome"] for s in reloads) == ["failed", "ok"]  # one series each, not one per worker


def test_the_slo_and_the_servers_budget_are_latency_bucket_edges():
    """histogram_quantile interpolates inside a bucket: with no edge between 25 and 50 ms a p99 of
    26 ms read as anything up to 50, and whether answers met the server's own 22 ms was not in the data."""
    settings = Settings(model="m")
    assert settings.slo_p95_ms / 1e3 in LATENCY_BUCKETS
    assert settings.own_slo_s in LATENCY_BUCKETS
    near = [edge for edge in LATENCY_BUCKETS if 0.01 <= edge <= 0.05]
    assert max(b - a for a, b in zip(near, near[1:])) <= 0.01 + 1e-12
    registry = Metrics().registry
    assert registry.get_sample_value("intentd_queue_wait_seconds_bucket", {"le": "0.022"}) == 0.0
