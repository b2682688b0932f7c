"""The exact-match cache: normalisation, the size bound, and when an answer may be reused."""

from __future__ import annotations

import datetime as dt

from intentd.server.analysis import Analysis, Escalation, RequestOptions, ResolvedEntity
from intentd.server.cache import AnalysisCache, normalise
from intentd.server.decode import Prediction
from intentd.server.metrics import Metrics


def analysis(version="v1", entities=()) -> Analysis:
    return Analysis(Prediction([("affirm", 0.9), ("deny", 0.1)], [], 0.1), list(entities), Escalation(), None, version)


def test_normalise():
    assert normalise("  Agent\t\nPLEASE ") == "agent please"
    assert normalise("ｙｅｓ") == "yes"  # NFKC
    assert normalise("Straße") == "strasse"  # casefold


def test_hit_miss_and_metrics():
    metrics = Metrics()
    cache = AnalysisCache(8, metrics)
    opts = RequestOptions()
    assert cache.get("yes", opts, "v1") is None
    cache.put("yes", opts, analysis())
    assert cache.get(" YES ", opts, "v1") is not None
    assert cache.get("yes", opts, "v2") is None  # another model version
    assert cache.get("yes", RequestOptions(top_k=2), "v1") is None  # other options
    assert cache.get("yes", RequestOptions(session_id="abc"), "v1") is not None  # tracing only
    assert metrics.value("intentd_cache_hits_total") == 2 and metrics.value("intentd_cache_misses_total") == 3


def test_lru_bound():
    cache = AnalysisCache(2)
    for text in ("a", "b", "c"):
        cache.put(text, RequestOptions(), analysis())
    assert len(cache) == 2 and cache.get("a", RequestOptions(), "v1") is None


def test_entities_only_reused_for_the_same_raw_text():
    cache = AnalysisCache(8)
    ent = ResolvedEntity("amount", "50 euros", 4, 12, 0.9)
    cache.put("pay 50 euros", RequestOptions(), analysis(entities=[ent]))
    assert cache.get("pay 50 euros", RequestOptions(), "v1") is not None
    assert cache.get("pay  50 Euros", RequestOptions(), "v1") is None  # offsets would be wrong


def test_clock_dependent_answers_need_a_reference_time():
    cache = AnalysisCache(8)
    ent = ResolvedEntity("date", "tomorrow", 0, 8, 0.9, resolved=True,
                         resolution={"kind": "datetime", "value": "2025-03-15T00:00:00+00:00", "grain": "day"})
    cache.put("tomorrow", RequestOptions(), analysis(entities=[ent]))
    assert cache.get("tomorrow", RequestOptions(), "v1") is None  # "now" moves: not stored
    fixed = RequestOptions(reference_time=dt.datetime(2025, 3, 14, tzinfo=dt.timezone.utc))
    cache.put("tomorrow", fixed, analysis(entities=[ent]))
    assert cache.get("tomorrow", fixed, "v1") is not None


def test_size_zero_disables():
    cache = AnalysisCache(0)
    cache.put("yes", RequestOptions(), analysis())
    assert cache.get("yes", RequestOptions(), "v1") is None and len(cache) == 0
