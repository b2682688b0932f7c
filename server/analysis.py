"""What one request gets back, independent of the wire format (server/convert.py maps it to proto).

Flow: Prediction (model + decode) -> resolved entities -> escalation hint -> constrained response.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from .decode import Prediction


@dataclass(frozen=True, slots=True)
class RequestOptions:
    """Per-request knobs; part of the cache key, so keep it hashable."""

    top_k: int = 5
    reference_time: dt.datetime | None = None  # aware datetime; None = now at request time
    time_zone: str | None = None  # IANA name; None = the domain's default (or UTC)
    locale: str | None = None
    filled_slots: tuple[tuple[str, str], ...] = ()  # slots filled in earlier turns
    previous_intent: str | None = None
    session_id: str | None = None


@dataclass(slots=True)
class ResolvedEntity:
    type: str
    text: str
    start: int  # code points, end exclusive
    end: int
    confidence: float
    source: str = "model"  # model | catalog | pattern
    resolved: bool = False
    resolution: dict | None = None  # {"kind": "money", "amount": "200", "currency": "USD"}, ...


@dataclass(slots=True)
class Escalation:
    escalate: bool = False
    reason: str | None = None  # out_of_distribution | low_confidence | ambiguous | policy
    tier: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    detail: str = ""


@dataclass(slots=True)
class Response:
    text: str
    template_id: str
    slots_used: dict[str, str] = field(default_factory=dict)
    slots_missing: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Analysis:
    prediction: Prediction
    entities: list[ResolvedEntity]
    escalation: Escalation
    response: Response | None
    model_version: str = ""
