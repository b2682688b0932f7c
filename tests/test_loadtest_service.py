"""The load tester against the real intentd server and model, as a user's CI would run it.

Asserts what must hold on any machine (no errors, every request answered, the gate's exit
codes, the server's timing breakdown read back), never absolute latencies.
"""

from __future__ import annotations

import json

import pytest
from conftest import BANKING
from intentd.loadtest import cli
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
        server_ms = result["server_ms"]  # intentd reports its own breakdown in every response
        assert 0 < server_ms["inference"]["p50"] <= server_ms["total"]["p50"]
        assert server_ms["total"]["p50"] <= result["latency_ms"]["p99"]
        # An impossible SLO fails the gate, with the reason on the last line.
        code, result, err = loadtest(capsys, *target, *texts, *load, "--slo-p95-ms", "0.001")
        assert code == 1 and result["errors"] == {}
        assert err.strip().splitlines()[-1].startswith("SLO FAIL: p95")
