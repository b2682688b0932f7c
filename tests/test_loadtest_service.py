"""The load tester against the real intentd server and model, as a user's CI would run it.

Asserts what must hold on any machine (no errors, every request answered, the gate's exit
codes, the server's timing breakdown and cache hits read back), never absolute latencies.
"""

from __future__ import annotations

import json

import pytest
from conftest import BANKING
from intentd.loadtest import cli
from intentd.loadtest.report import format_text
from intentd.server.transit import TRUST_AFTER
from servers import ThreadServer

pytestmark = pytest.mark.timeout(180)


def loadtest(capsys, *argv: str) -> tuple[int, dict, str]:
    code = cli.main([*argv, "--json", "--no-progress", "--warmup", "5"])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def test_gate_on_the_real_server(banking_artifact, capsys):
    with ThreadServer(model=banking_artifact, cache_size=0) as server:
        target = ("--target", f"127.0.0.1:{server.app.port}")
        texts = ("--texts", str(BANKING / "test.jsonl"))
        load = ("--rate", "25", "--duration", "2")
        code, result, err = loadtest(capsys, *target, *texts, *load, "--slo-p95-ms", "10000")
        assert code == 0, err
        assert result["errors"] == {} and result["ok"] == result["scheduled"] > 30
        # intentd reports its own breakdown in every response; with no cache, every answer
        # was computed, each stage took time, and the stages fit inside the total.
        server_ms = result["server_ms"]
        assert result["server_cache_hits"] == {"count": 0, "share": 0.0, "answers": result["ok"]}
        for stage in ("tokenize", "forward", "postprocess"):
            assert 0 < server_ms[stage]["p50"] <= server_ms["total"]["p50"], stage
        assert server_ms["queue_wait"]["p50"] <= server_ms["total"]["p50"]
        assert server_ms["total"]["p50"] <= result["latency_ms"]["p99"]
        # every request (the warm-up's included) carried its send time, unless told not to
        stamped = server.metric("intentd_transit_seconds_count", {"by": "stamp"})
        assert stamped == result["sent"] + 5 and result["client"]["request_start"]
        assert server_ms["transit"]["p99"] >= server_ms["transit"]["p50"] >= 0  # the server read the stamps
        assert server.metric("intentd_transit_seconds_count", {"by": "deadline"}) == 0  # a stamp comes first
        code, result, err = loadtest(capsys, *target, *texts, *load, "--no-request-start")
        assert code == 0, err
        assert server.metric("intentd_transit_seconds_count", {"by": "stamp"}) == stamped
        assert not result["client"]["request_start"] and result["server_ms"]["forward"]["p50"] > 0
        # each call still carried the same 1 s deadline: once its calls read by an idle server
        # agreed, the deadlines were the clock
        by_deadline = server.metric("intentd_transit_seconds_count", {"by": "deadline"})
        assert result["sent"] - 15 <= by_deadline <= result["sent"] + 5 - (TRUST_AFTER - 1)
        # An impossible SLO fails the gate, with the reason on the last line.
        code, result, err = loadtest(capsys, *target, *texts, *load, "--slo-p95-ms", "0.001")
        assert code == 1 and result["errors"] == {}
        assert err.strip().splitlines()[-1].startswith("SLO FAIL: p95")


def test_default_texts_measure_the_model_not_the_cache(banking_artifact, tmp_path, capsys):
    """With the server's cache on: the default generated texts are never answered from it,
    while a user's traffic of three repeated texts is, and the report says so."""
    repeated = tmp_path / "repeated.txt"
    repeated.write_text("what is my checking balance\nblock my debit card\nagent please\n")
    with ThreadServer(model=banking_artifact) as server:
        assert server.app.settings.cache_size > 0
        target = ("--target", f"127.0.0.1:{server.app.port}")
        load = ("--rate", "25", "--duration", "1.5", "--arrival", "uniform")
        code, result, err = loadtest(capsys, *target, *load)
        assert code == 0, err
        assert result["texts"]["source"] == "generated" and not result["texts"]["repeated"]
        assert result["server_cache_hits"]["count"] == 0
        assert result["server_ms"]["forward"]["p50"] > 0
        assert "cache" not in format_text(result)

        code, result, err = loadtest(capsys, *target, *load, "--texts", str(repeated))
        assert code == 0, err
        hits = result["server_cache_hits"]
        # The warm-up asked each text once; the cache may answer every request after it.
        assert hits["answers"] == result["ok"] and hits["share"] >= 0.9, hits
        assert "this measures the cache, not the model" in format_text(result)
