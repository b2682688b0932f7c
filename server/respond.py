"""Constrained responses: approved template text plus resolved slot values, nothing else.

First version: the intent's `response` when its required slots are filled, the first missing
slot's prompt otherwise, the domain's hand-off text when escalated.
"""

from __future__ import annotations

from .analysis import Escalation, RequestOptions, ResolvedEntity, Response

HANDOFF_DEFAULT = "Let me connect you with someone who can help."


class Responder:
    def __init__(self, domain: dict | None):
        domain = domain or {}
        self.intents = domain.get("intents", {}) or {}
        self.handoff = (domain.get("escalation", {}) or {}).get("handoff_response", HANDOFF_DEFAULT)

    def respond(self, intent: str, entities: list[ResolvedEntity], escalation: Escalation,
                options: RequestOptions) -> Response | None:
        if escalation.escalate:
            return Response(self.handoff, "handoff")
        spec = self.intents.get(intent)
        if not spec:
            return None
        slots = dict(options.filled_slots)
        for e in entities:
            slots.setdefault(e.type, e.text)
        required = list(spec.get("required", []))
        missing = [s for s in required if s not in slots]
        if missing:
            prompt = (spec.get("prompts") or {}).get(missing[0])
            if prompt:
                return Response(prompt, f"{intent}.prompt.{missing[0]}", {}, missing)
        used = {k: v for k, v in slots.items() if k in spec.get("slots", [])}
        text = spec.get("response", "").format_map(_Slots(used))
        return Response(text, f"{intent}.response", used, missing)


class _Slots(dict):
    def __missing__(self, key: str) -> str:
        return ""
