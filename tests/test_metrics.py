"""Metric functions against values computed by hand."""

import math

import numpy as np
import pytest

from intentd.models import metrics


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
