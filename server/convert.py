"""Analysis -> intentd.v1 messages, in one place. Defensive: a resolution it cannot map is sent
as resolved=false rather than failing the request."""

from __future__ import annotations

import logging

from intentd.protogen import import_stubs

from .analysis import Analysis, Escalation, FollowUp, ResolvedEntity, Response
from .batcher import Result
from .engine import Engine

pb2, _ = import_stubs()
log = logging.getLogger(__name__)
UINT32_MAX = 2**32 - 1

_SOURCE = {"model": pb2.ENTITY_SOURCE_MODEL, "catalog": pb2.ENTITY_SOURCE_CATALOG, "pattern": pb2.ENTITY_SOURCE_PATTERN,
           "context": pb2.ENTITY_SOURCE_CONTEXT}
_ROLE = {"source": pb2.ENTITY_ROLE_SOURCE, "destination": pb2.ENTITY_ROLE_DESTINATION}
_FOLLOW_UP = {"update": pb2.FOLLOW_UP_KIND_UPDATE, "confirm": pb2.FOLLOW_UP_KIND_CONFIRM,
              "cancel": pb2.FOLLOW_UP_KIND_CANCEL, "hold": pb2.FOLLOW_UP_KIND_HOLD,
              "repeat": pb2.FOLLOW_UP_KIND_REPEAT}
_REASON = {
    "out_of_distribution": pb2.ESCALATION_REASON_OUT_OF_DISTRIBUTION,
    "low_confidence": pb2.ESCALATION_REASON_LOW_CONFIDENCE,
    "ambiguous": pb2.ESCALATION_REASON_AMBIGUOUS,
    "policy": pb2.ESCALATION_REASON_POLICY,
}
# The proto's documented score names, from the names EscalationPolicy uses.
_SCORE_ALIASES = {"ood": "ood_score", "confidence": "top_confidence"}


def _us(seconds: float) -> int:
    return max(0, min(UINT32_MAX, int(seconds * 1e6)))


def timing(result: Result, total_s: float, transit_s: float = 0.0):
    return pb2.ServerTiming(queue_wait_us=_us(result.queue_wait_s), tokenize_us=_us(result.tokenize_s),
                            forward_us=_us(result.forward_s), postprocess_us=_us(result.postprocess_s),
                            total_us=_us(total_s), batch_size=result.batch_size, cache_hit=result.cache_hit,
                            transit_us=_us(transit_s))


def _grain(name) -> int:
    value = pb2.Grain.DESCRIPTOR.values_by_name.get(f"GRAIN_{str(name).upper()}")
    return value.number if value is not None else 0


def resolution(entity: ResolvedEntity):
    res = entity.resolution or {}
    kind = res.get("kind")
    msg = pb2.Resolution()
    try:
        if kind == "money":
            msg.money.CopyFrom(pb2.MoneyValue(amount=str(res.get("amount", "")), currency=str(res.get("currency") or "")))
        elif kind in ("datetime", "date", "time"):
            msg.datetime.CopyFrom(pb2.DateTimeValue(value=str(res.get("value", "")), grain=_grain(res.get("grain"))))
        elif kind == "catalog":
            msg.catalog.CopyFrom(pb2.CatalogValue(id=str(res.get("id", "")), value=str(res.get("value", "")),
                                                  score=float(res.get("score", 1.0))))
        elif kind == "number":
            msg.number.CopyFrom(pb2.NumberValue(value=str(res.get("value", ""))))
        elif kind == "email":
            msg.email = str(res.get("value", ""))
        elif kind == "phone":
            msg.phone_e164 = str(res.get("e164") or res.get("value", ""))
            msg.phone_extension = str(res.get("extension") or "")
        elif kind == "ordinal":
            msg.ordinal.CopyFrom(pb2.NumberValue(value=str(res.get("value", ""))))
        elif kind == "percentage":
            msg.percentage.CopyFrom(pb2.NumberValue(value=str(res.get("value", ""))))
        elif kind == "duration":
            msg.duration.CopyFrom(pb2.DurationValue(iso=str(res.get("value", "")), seconds=float(res.get("seconds", 0))))
        elif kind == "pattern":
            msg.pattern = str(res.get("value", ""))
        elif kind == "text":
            msg.text = str(res.get("value", ""))
        elif kind is not None:
            log.debug("resolution kind %r has no proto mapping; sent unresolved", kind)
    except (TypeError, ValueError) as exc:
        log.warning("cannot map resolution %r: %s", res, exc)
        return pb2.Resolution(resolved=False)
    msg.resolved = msg.WhichOneof("value") is not None
    return msg


def entity(e: ResolvedEntity):
    return pb2.Entity(type=e.type, text=e.text, start=max(0, e.start), end=max(0, e.end),
                      source=_SOURCE.get(e.source, pb2.ENTITY_SOURCE_MODEL), confidence=float(e.confidence),
                      resolution=resolution(e), role=_ROLE.get(e.role, pb2.ENTITY_ROLE_UNSPECIFIED))


def escalation(esc: Escalation):
    scores = {}
    for name, value in esc.scores.items():
        scores[_SCORE_ALIASES.get(name, name)] = float(value)
    return pb2.EscalationHint(escalate=esc.escalate, reason=_REASON.get(esc.reason or "", 0),
                              target_tier=esc.tier or "", scores=scores, detail=esc.detail)


def response(resp: Response | None):
    if resp is None:
        return pb2.ConstrainedResponse()
    return pb2.ConstrainedResponse(text=resp.text, template_id=resp.template_id,
                                   slots_used={str(k): str(v) for k, v in resp.slots_used.items()},
                                   slots_missing=[str(s) for s in resp.slots_missing])


def intents(analysis: Analysis) -> list:
    return [pb2.IntentScore(name=n, confidence=float(c)) for n, c in analysis.prediction.intents]


def ood(analysis: Analysis, threshold: float):
    p = analysis.prediction
    return pb2.OutOfDistribution(flagged=p.is_ood, score=float(p.ood_score), threshold=threshold)


def follow_up(f: FollowUp):
    return pb2.FollowUp(kind=_FOLLOW_UP[f.kind], intent=f.intent)


def analyze_response(a: Analysis, t, threshold: float):
    p = a.prediction
    msg = pb2.AnalyzeResponse(intents=intents(a), entities=[entity(e) for e in a.entities], ood=ood(a, threshold),
                              escalation=escalation(a.escalation), response=response(a.response),
                              model_version=a.model_version, timing=t, truncated=p.truncated,
                              analyzed_chars=p.analyzed_chars)
    if a.follow_up is not None:
        msg.follow_up.CopyFrom(follow_up(a.follow_up))
    if a.used_alternative:
        msg.used_alternative = a.used_alternative
    return msg


def detect_intent_response(a: Analysis, t, threshold: float):
    msg = pb2.DetectIntentResponse(intents=intents(a), ood=ood(a, threshold), escalation=escalation(a.escalation),
                                   model_version=a.model_version, timing=t, truncated=a.prediction.truncated,
                                   analyzed_chars=a.prediction.analyzed_chars)
    if a.follow_up is not None:
        msg.follow_up.CopyFrom(follow_up(a.follow_up))
    return msg


def extract_entities_response(a: Analysis, t, threshold: float):
    p = a.prediction
    return pb2.ExtractEntitiesResponse(entities=[entity(e) for e in a.entities], model_version=a.model_version,
                                       timing=t, truncated=p.truncated, analyzed_chars=p.analyzed_chars)


def respond_response(a: Analysis, t, threshold: float):
    top = intents(a)[:1]
    msg = pb2.RespondResponse(intent=top[0] if top else None, escalation=escalation(a.escalation),
                              response=response(a.response), model_version=a.model_version, timing=t,
                              truncated=a.prediction.truncated, analyzed_chars=a.prediction.analyzed_chars)
    if a.follow_up is not None:
        msg.follow_up.CopyFrom(follow_up(a.follow_up))
    return msg


def model_info(engine: Engine, max_text_chars: int):
    model, policy = engine.model, engine.escalation
    info = pb2.ModelInfo(
        name=model.artifact.name, version=model.version, intents=list(model.labels.intents),
        entity_types=list(model.labels.entity_types) + [t for t in engine.resolver.own_types
                                                          if t not in model.labels.entity_types],
        thresholds=pb2.Thresholds(ood=engine.ood_threshold, low_confidence=policy.low_confidence,
                                  ambiguity_margin=policy.ambiguity_margin),
        execution_provider=model.provider, artifact_path=str(engine.path), max_text_chars=max_text_chars,
    )
    info.loaded_at.FromDatetime(engine.loaded_at)
    return info
