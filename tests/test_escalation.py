"""Escalation hints: the policy rules by hand, and foreign queries escalated through the real service."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from intentd.server.decode import Prediction
from intentd.server.escalation import EscalationPolicy
from intentd.server.metrics import ROLLING_MIN
from intentd.models.data.schema import read_jsonl

from servers import ThreadServer, pb2, wait_for

DOMAIN = {
    "intents": {"close_account": {"escalate": "human"}, "check_balance": {}},
    "escalation": {"out_of_distribution": "frontier_standard", "low_confidence": "frontier_reasoning",
                   "ambiguous": "frontier_reasoning", "low_confidence_threshold": 0.5, "ambiguity_margin": 0.1},
}


def prediction(intents, is_ood=False, ood_score=0.0) -> Prediction:
    return Prediction(intents=intents, entities=[], ood_score=ood_score, is_ood=is_ood)


@pytest.mark.parametrize(
    "pred, reason, tier",
    [
        (prediction([("check_balance", 0.9), ("close_account", 0.05)], is_ood=True, ood_score=9.0),
         "out_of_distribution", "frontier_standard"),
        (prediction([("close_account", 0.95), ("check_balance", 0.05)]), "policy", "human"),
        (prediction([("check_balance", 0.45), ("close_account", 0.30)]), "low_confidence", "frontier_reasoning"),
        (prediction([("check_balance", 0.52), ("close_account", 0.46)]), "ambiguous", "frontier_reasoning"),
        (prediction([("check_balance", 0.90), ("close_account", 0.05)]), None, None),
    ],
)
def test_rules_in_order(pred, reason, tier):
    hint = EscalationPolicy(DOMAIN, ood_threshold=3.0).decide(pred)
    assert hint.escalate is (reason is not None)
    assert (hint.reason, hint.tier) == (reason, tier)
    assert hint.scores["confidence"] == pred.intents[0][1]


FOREIGN = {
    "other language": "¿Dónde está la estación de tren más cercana, por favor?",
    "gibberish": "zxqv blorp wuggle fnord kkkkk asdfgh",
    "another domain": "give me a recipe for a vegan lasagna with spinach",
}


def test_foreign_queries_escalate_through_grpc(banking_artifact: Path, tmp_path: Path):
    review = tmp_path / "review.jsonl"
    with ThreadServer(model=banking_artifact, capture_path=review) as server:
        for kind, text in FOREIGN.items():
            reply = server.stub.Analyze(pb2.AnalyzeRequest(text=text), timeout=30)
            assert reply.escalation.escalate, kind
            assert reply.escalation.reason == pb2.ESCALATION_REASON_OUT_OF_DISTRIBUTION, kind
            assert reply.escalation.target_tier == "frontier_standard"
            assert reply.ood.flagged and reply.ood.score >= reply.ood.threshold
            # the constrained response of an escalated query is the hand-off, never a guessed intent's
            assert reply.response.template_id == "handoff"
        reply = server.stub.Analyze(pb2.AnalyzeRequest(text="I want to close my savings account"), timeout=30)
        assert reply.escalation.reason == pb2.ESCALATION_REASON_POLICY and reply.escalation.target_tier == "human"
        version = reply.model_version
        assert math.isnan(server.metric("intentd_escalation_rate", {"version": version}))  # too few to say
        for _ in range(ROLLING_MIN - len(FOREIGN) - 1):
            server.stub.Analyze(pb2.AnalyzeRequest(text="I want to close my savings account"), timeout=30)
        assert server.metric("intentd_escalation_rate", {"version": version}) == pytest.approx(1.0)
        wait_for(lambda: review.exists() and len(review.read_text().splitlines()) >= 4, "4 captured queries")
    captured = read_jsonl(review)
    assert sum(1 for ex in captured if ex.ood) >= 3
