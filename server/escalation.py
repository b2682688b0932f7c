"""The escalation hint: whether a query should go to a bigger tier, why, and to which.

Rules, first match wins:
1. out_of_distribution - the combined OOD score passed the calibrated threshold, or no word of
                         the text is in the model's vocabulary (the predicted intent means
                         nothing then, so this comes first);
2. policy              - the domain marks the predicted intent `escalate: <tier>` (e.g. account closure);
3. low_confidence      - the calibrated top probability is under `low_confidence` (default 0.5);
4. ambiguous           - the top two intents are within `ambiguity_margin` (default 0.1).
Thresholds live in the artifact's domain config (`escalation:` section) and calibration.
"""

from __future__ import annotations

from .analysis import Escalation
from .decode import Prediction

DEFAULT_TIER = "frontier_standard"
DEFAULT_LOW_CONFIDENCE = 0.5
DEFAULT_AMBIGUITY_MARGIN = 0.1


class EscalationPolicy:
    def __init__(self, domain: dict | None, ood_threshold: float | None = None):
        section = (domain or {}).get("escalation", {}) or {}
        self.tiers = {
            "out_of_distribution": section.get("out_of_distribution", DEFAULT_TIER),
            "low_confidence": section.get("low_confidence", DEFAULT_TIER),
            "ambiguous": section.get("ambiguous", DEFAULT_TIER),
        }
        self.low_confidence = float(section.get("low_confidence_threshold", DEFAULT_LOW_CONFIDENCE))
        self.ambiguity_margin = float(section.get("ambiguity_margin", DEFAULT_AMBIGUITY_MARGIN))
        self.ood_threshold = ood_threshold
        self.policy = {
            name: spec["escalate"]
            for name, spec in ((domain or {}).get("intents", {}) or {}).items()
            if isinstance(spec, dict) and spec.get("escalate")
        }

    def decide(self, prediction: Prediction) -> Escalation:
        top_name, top_p = prediction.intents[0]
        second_p = prediction.intents[1][1] if len(prediction.intents) > 1 else 0.0
        scores = {"ood": prediction.ood_score, "confidence": top_p, "margin": top_p - second_p}
        if self.ood_threshold is not None:
            scores["ood_threshold"] = self.ood_threshold
        scores.update({f"ood_{k}": v for k, v in prediction.ood_scores.items()})
        if prediction.is_ood:
            detail = ("no word of the text is in the model's vocabulary" if prediction.unreadable
                      else f"OOD score {prediction.ood_score:.2f} is over the calibrated threshold")
            return Escalation(True, "out_of_distribution", self.tiers["out_of_distribution"], scores, detail)
        if top_name in self.policy:
            return Escalation(True, "policy", self.policy[top_name], scores,
                              f"the domain sends intent {top_name!r} to {self.policy[top_name]}")
        reason = self.unsure(top_name, top_p, second_p)
        if reason == "low_confidence":
            return Escalation(True, reason, self.tiers[reason], scores,
                              f"top intent confidence {top_p:.2f} < {self.low_confidence:.2f}")
        if reason == "ambiguous":
            return Escalation(True, reason, self.tiers[reason], scores,
                              f"top two intents within {top_p - second_p:.2f} (< {self.ambiguity_margin:.2f})")
        return Escalation(False, None, None, scores, "")

    def unsure(self, top_name: str, top_p: float, second_p: float) -> str | None:
        """"low_confidence" or "ambiguous" when rules 3-4 escalate an in-distribution answer
        (never for a policy intent, which goes where the domain says); calibration counts these
        against the false-escalation budget."""
        if top_name in self.policy:
            return None
        if top_p < self.low_confidence:
            return "low_confidence"
        if top_p - second_p < self.ambiguity_margin:
            return "ambiguous"
        return None
