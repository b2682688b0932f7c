"""The exact-match cache: its key, the size bound, and when an answer may be reused. A hit must be
exactly what the model would have answered, so the spelling tests compare against the real
engine's own answer."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from intentd.server.analysis import Analysis, Escalation, RequestOptions, ResolvedEntity
from intentd.server.cache import MAX_KEY_CHARS, AnalysisCache
from intentd.server.decode import Prediction
from intentd.server.engine import Engine
from intentd.server.metrics import Metrics


@pytest.fixture(scope="module")
def engine(banking_artifact: Path) -> Engine:
    return Engine.load(banking_artifact)


def analysis(engine: Engine, entities=(), truncated=False, chars=3) -> Analysis:
    prediction = Prediction([("affirm", 0.9), ("deny", 0.1)], [], 0.1, truncated=truncated, analyzed_chars=chars)
    return Analysis(prediction, list(entities), Escalation(), None, engine.version)


def test_hit_miss_and_metrics(engine: Engine):
    metrics = Metrics()
    cache = AnalysisCache(8, metrics)
    opts = RequestOptions()
    assert cache.get("yes", opts, engine) is None
    cache.put("yes", opts, analysis(engine), engine)
    hit = cache.get("yes", opts, engine)
    assert hit is not None and hit.prediction.intent == "affirm"
    assert cache.get("YES", opts, engine) is None  # another spelling: another key
    assert cache.get("yes", RequestOptions(top_k=2), engine) is None  # other options
    assert cache.get("yes", RequestOptions(session_id="abc"), engine) is not None  # tracing only
    assert cache.get(" yes", opts, engine) is None  # another key: spacing is kept
    assert metrics.value("intentd_cache_hits_total") == 2 and metrics.value("intentd_cache_misses_total") == 4


# a value for each RequestOptions field other than the default: a field added without one here
# fails the test below until it is put in the key (or said to be outside it, with the reason)
OTHER_VALUES = {"top_k": 2, "reference_time": dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc), "time_zone": "UTC",
                "locale": "en-GB", "filled_slots": (("amount", "5 USD"),), "previous_intent": "transfer_money",
                "slots_missing": ("date",), "partial": True}
OUTSIDE_THE_KEY = {"session_id": "tracing only", "owner": "the stream that sent it"}


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(RequestOptions)])
def test_every_option_an_answer_depends_on_is_in_the_key(engine: Engine, name: str):
    """The same text with the last answer's `slots_missing` (a bare "5" is then a date, not $5)
    must not be answered from an entry stored without them, nor with any other option changed."""
    if name in OUTSIDE_THE_KEY:
        return
    cache = AnalysisCache(8)
    cache.put("5", RequestOptions(), analysis(engine), engine)
    assert cache.get("5", RequestOptions(), engine) is not None
    other = cache.get("5", RequestOptions(**{name: OTHER_VALUES[name]}), engine)
    if name == "partial" and not engine.reads_partials:  # a model not trained on partials reads them as finals
        assert other is not None
    else:
        assert other is None, name


def test_another_model_version_misses_and_is_not_stored(engine: Engine):
    cache = AnalysisCache(8)
    other = dataclasses.replace(analysis(engine), model_version="another")
    cache.put("yes", RequestOptions(), other, engine)  # computed by a model swapped in meanwhile
    assert len(cache) == 0


def test_lru_bound(engine: Engine):
    cache = AnalysisCache(2)
    for text in ("a", "b", "c"):
        cache.put(text, RequestOptions(), analysis(engine), engine)
    assert len(cache) == 2 and cache.get("a", RequestOptions(), engine) is None


def test_a_spelling_the_model_reads_alike_still_gets_its_own_answer(engine: Engine):
    """The model reads "Txn" and "TXN" alike, but the domain's reference pattern finds only the
    second: an answer without entities stored under one spelling must not serve the other."""
    cache = AnalysisCache(64)
    opts = RequestOptions()
    plain, upper = "what's the status of my refund for Txn 123456", "what's the status of my refund for TXN 123456"
    first = engine.analyze([plain])[0]
    assert not [e for e in first.entities if e.type == "reference"]
    cache.put(plain, opts, first, engine)
    assert cache.get(plain, opts, engine) is first
    assert cache.get(upper, opts, engine) is None
    assert [e.text for e in engine.analyze([upper])[0].entities if e.type == "reference"] == ["TXN 123456"]


def test_requests_too_large_to_be_repeats_are_not_stored(engine: Engine):
    """Bytes, not only entries: a 2,000-character text, or one carrying long slot values, is not
    kept (4,096 such keys held over 1 GB)."""
    cache = AnalysisCache(64)
    cache.put("x" * (MAX_KEY_CHARS + 1), RequestOptions(), analysis(engine), engine)
    slots = RequestOptions(filled_slots=tuple((f"slot{i}", "v" * 100) for i in range(8)))
    cache.put("yes", slots, analysis(engine), engine)
    assert len(cache) == 0
    cache.put("x" * MAX_KEY_CHARS, RequestOptions(), analysis(engine), engine)
    cache.put("yes", RequestOptions(filled_slots=(("account", "checking"),)), analysis(engine), engine)
    assert len(cache) == 2


def test_clock_dependent_answers_need_a_reference_time(engine: Engine):
    cache = AnalysisCache(8)
    ent = ResolvedEntity("date", "tomorrow", 0, 8, 0.9, resolved=True,
                         resolution={"kind": "datetime", "value": "2025-03-15T00:00:00+00:00", "grain": "day"})
    cache.put("tomorrow", RequestOptions(), analysis(engine, entities=[ent]), engine)
    assert cache.get("tomorrow", RequestOptions(), engine) is None  # "now" moves: not stored
    fixed = RequestOptions(reference_time=dt.datetime(2025, 3, 14, tzinfo=dt.timezone.utc))
    cache.put("tomorrow", fixed, analysis(engine, entities=[ent]), engine)
    assert cache.get("tomorrow", fixed, engine) is not None


def test_a_request_carrying_a_date_needs_a_reference_time(engine: Engine):
    """"make it 75" carrying a payment's date answered "scheduled for Tuesday, January 6." from the
    cache after the date had passed, or once it was far enough away to be shown with its year."""
    cache = AnalysisCache(8)
    dated = RequestOptions(filled_slots=(("amount", "50 USD"), ("date", "2027-01-06T00:00:00+00:00")),
                           previous_intent="schedule_payment")
    cache.put("make it 75", dated, analysis(engine), engine)
    assert cache.get("make it 75", dated, engine) is None
    fixed = dataclasses.replace(dated, reference_time=dt.datetime(2026, 12, 6, tzinfo=dt.timezone.utc))
    cache.put("make it 75", fixed, analysis(engine), engine)
    assert cache.get("make it 75", fixed, engine) is not None
    # the day kept for a date whose hour is asked is a date too: it is dropped once it has passed
    day = RequestOptions(filled_slots=(("amount", "50 USD"), ("date.day", "2027-01-06T00:00:00+00:00")))
    cache.put("make it 75", day, analysis(engine), engine)
    assert cache.get("make it 75", day, engine) is None
    undated = RequestOptions(filled_slots=(("amount", "50 USD"),))
    cache.put("make it 75", undated, analysis(engine), engine)
    assert cache.get("make it 75", undated, engine) is not None
    # read against a previous intent, its words are tried as dates of today: no date carried either
    follow = dataclasses.replace(undated, previous_intent="schedule_payment")
    cache.put("make it 75", follow, analysis(engine), engine)
    assert cache.get("make it 75", follow, engine) is None


def test_size_zero_disables(engine: Engine):
    cache = AnalysisCache(0)
    cache.put("yes", RequestOptions(), analysis(engine), engine)
    assert cache.get("yes", RequestOptions(), engine) is None and len(cache) == 0
