"""What one request gets back, independent of the wire format (server/convert.py maps it to proto).

Flow: Prediction (model + decode) -> resolved entities -> escalation hint -> constrained response.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

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
    # the slots the previous answer asked for (its `slots_missing`, sent back): read only by a
    # follow-up of `previous_intent`, which reads a bare answer as the first and asks them until said
    slots_missing: tuple[str, ...] = ()
    session_id: str | None = None
    # An ASR partial: the utterance may go on (AnalyzeStream's messages before the final). Read
    # by a model trained on partial utterances (`intentd train --partial-utterances`).
    partial: bool = False
    # What submitted it (an AnalyzeStream message), so a superseded partial can be withdrawn from
    # the batcher's queue; not part of the cache key.
    owner: object | None = field(default=None, compare=False, repr=False)

    def at_one_instant(self) -> "RequestOptions":
        """These options with "now" read once, when no reference time was given: every stage of one
        request (resolver, follow-up rules, responder) then reads the same today (read apart, a
        request in flight at midnight kept the day after tomorrow for "tomorrow at five")."""
        if self.reference_time is not None:
            return self
        return replace(self, reference_time=dt.datetime.now(dt.timezone.utc))


# Kinds a slot holds one value of: two amounts, dates or numbers in one turn ("$5 and $10",
# "tonight at 11" read as tonight and the 11th) leave the slot to be asked for, never a list
SINGLE_VALUED = frozenset({"money", "datetime", "phone", "email", "number", "percentage", "ordinal", "duration"})


@dataclass(slots=True)
class ResolvedEntity:
    type: str
    text: str
    start: int  # code points, end exclusive
    end: int
    confidence: float
    source: str = "model"  # model | catalog | pattern | context (a follow-up's bare value)
    resolved: bool = False
    resolution: dict | None = None  # {"kind": "money", "amount": "200", "currency": "USD"}, ...
    role: str | None = None  # source | destination: a catalog value said after "from" / "to" (resolver.py)


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


@dataclass(frozen=True, slots=True)
class FollowUp:
    """A turn resolved against the previous one (server/followup/)."""

    kind: str  # update | confirm | cancel | hold | repeat
    intent: str  # the intent the turn continues: the request's previous_intent ("" for a repeat of nothing)


@dataclass(slots=True)
class Analysis:
    prediction: Prediction
    entities: list[ResolvedEntity]
    escalation: Escalation
    response: Response | None
    model_version: str = ""
    follow_up: FollowUp | None = None
    used_alternative: int = 0  # n-best: the transcript the entities and response come from (0: `text`)
    ood_threshold: float = 0.0  # of the model that computed it: an answer never mixes two models' values
