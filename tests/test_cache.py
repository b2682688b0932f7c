"""The exact-match cache: its key, the size bound, and when an answer may be reused. A hit must be
exactly what the model would have answered, so the spelling tests compare against the real
engine's own answer."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from intentd.server.analysis import Analysis, Escalation, RequestOptions, ResolvedEntity
from intentd.server.cache import AnalysisCache
from intentd.server.decode import Prediction
from intentd.server.engine import Engine
from intentd.server.metrics import Metrics


@pytest.fixture(scope="module")
def engine(banking_artifact: Path) -> Engine:
    return Engine.load(banking_artifact)


def analysis(engine: Engine, entities=(), truncated=False, chars=3) -> Analysis:
    prediction = Prediction([("affirm", 0.9), ("deny", 0.1)], [], 0.1, truncated=truncated, analyzed_chars=chars)
    return Analysis(prediction, list(entities), Escalation(), None, engine.version)


def test_the_key_is_the_text_as_the_tokenizer_reads_it(engine: Engine):
    assert engine.reads_as("  Agent PLEASE ") == "  agent please "  # lower case; spacing kept
    assert engine.reads_as("Café") == engine.reads_as("cafe")  # accents stripped, as the model reads them
    assert engine.reads_as("Straße") != engine.reads_as("strasse")  # casefold would merge these
    assert engine.reads_as("ﬁle") != engine.reads_as("file")  # NFKC would merge these
    for a, b in (("Café", "cafe"), ("YES", "yes")):
        assert engine.model.encoder.tokenizer.encode(a).ids == engine.model.encoder.tokenizer.encode(b).ids


def test_hit_miss_and_metrics(engine: Engine):
    metrics = Metrics()
    cache = AnalysisCache(8, metrics)
    opts = RequestOptions()
    assert cache.get("yes", opts, engine) is None
    cache.put("yes", opts, analysis(engine), engine)
    hit = cache.get("YES", opts, engine)
    assert hit is not None and hit.prediction.intent == "affirm"
    assert cache.get("yes", RequestOptions(top_k=2), engine) is None  # other options
    assert cache.get("yes", RequestOptions(session_id="abc"), engine) is not None  # tracing only
    assert cache.get(" yes", opts, engine) is None  # another key: spacing is kept
    assert metrics.value("intentd_cache_hits_total") == 2 and metrics.value("intentd_cache_misses_total") == 3


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


def test_what_points_into_the_raw_text_is_only_reused_for_the_same_raw_text(engine: Engine):
    cache = AnalysisCache(8)
    ent = ResolvedEntity("amount", "50 euros", 4, 12, 0.9)
    cache.put("pay 50 euros", RequestOptions(), analysis(engine, entities=[ent]), engine)
    assert cache.get("pay 50 euros", RequestOptions(), engine) is not None
    assert cache.get("pay 50 Euros", RequestOptions(), engine) is None  # offsets and surface text would be wrong
    cache.put("long text", RequestOptions(), analysis(engine, truncated=True, chars=4), engine)
    assert cache.get("Long text", RequestOptions(), engine) is None  # where reading stopped is the raw text's
    follow_up = RequestOptions(previous_intent="transfer_money")
    cache.put("yes", follow_up, analysis(engine), engine)
    assert cache.get("yes", follow_up, engine) is not None
    assert cache.get("Yes", follow_up, engine) is None  # a follow-up reads the raw words


def test_another_spelling_gets_exactly_the_models_answer(engine: Engine):
    """Stored under one spelling, asked under others: every hit equals the engine's own answer
    to that spelling (the read length included), and what the model reads apart misses."""
    cache = AnalysisCache(64)
    opts = RequestOptions()
    stored = "What is my balance"
    cache.put(stored, opts, engine.analyze([stored])[0], engine)
    for spelling in ("what is my balance", "WHAT IS MY BALANCE", "Whàt is my bálance"):
        hit = cache.get(spelling, opts, engine)
        assert hit is not None, spelling
        own = engine.analyze([spelling])[0]
        assert hit.prediction.intents == own.prediction.intents
        assert hit.prediction.ood_score == pytest.approx(own.prediction.ood_score, abs=1e-5)
        assert hit.prediction.analyzed_chars == own.prediction.analyzed_chars == len(spelling)
        assert (hit.response, hit.escalation, hit.entities) == (own.response, own.escalation, own.entities)
    for other in ("what  is my balance", "what is my balance?"):
        assert cache.get(other, opts, engine) is None
    for a, b in (("straße", "STRASSE"), ("ﬁle a complaint", "file a complaint")):  # the model reads these apart
        cache.put(a, opts, engine.analyze([a])[0], engine)
        assert cache.get(b, opts, engine) is None


def test_clock_dependent_answers_need_a_reference_time(engine: Engine):
    cache = AnalysisCache(8)
    ent = ResolvedEntity("date", "tomorrow", 0, 8, 0.9, resolved=True,
                         resolution={"kind": "datetime", "value": "2025-03-15T00:00:00+00:00", "grain": "day"})
    cache.put("tomorrow", RequestOptions(), analysis(engine, entities=[ent]), engine)
    assert cache.get("tomorrow", RequestOptions(), engine) is None  # "now" moves: not stored
    fixed = RequestOptions(reference_time=dt.datetime(2025, 3, 14, tzinfo=dt.timezone.utc))
    cache.put("tomorrow", fixed, analysis(engine, entities=[ent]), engine)
    assert cache.get("tomorrow", fixed, engine) is not None


def test_size_zero_disables(engine: Engine):
    cache = AnalysisCache(0)
    cache.put("yes", RequestOptions(), analysis(engine), engine)
    assert cache.get("yes", RequestOptions(), engine) is None and len(cache) == 0
