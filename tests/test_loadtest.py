"""The load generator against a real gRPC server (a tiny stand-in, not the product's server).

The stand-in implements IntentService.Analyze on the generated stubs and behaves as the
request text says: "sleep:30" answers after 30 ms, "abort:RESOURCE_EXHAUSTED" fails with
that code, "cached" answers as intentd's cache would, anything else answers at once. It
remembers every text it was sent ("received" returns and forgets them). It runs in its own
process, so its latency is not disturbed by the client's event loop, on a free loopback port
and a Unix socket.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from unicodedata import normalize

import numpy as np
import pytest
from intentd.loadtest import cli
from intentd.loadtest.config import MAX_GENERATED_TEXTS, LoadConfig, parse_sweep
from intentd.loadtest.errors import ConfigError, TextsError
from intentd.loadtest.payloads import Payloads
from intentd.loadtest.recorder import Recorder
from intentd.loadtest.report import format_text
from intentd.loadtest.schedule import arrival_offsets
from intentd.loadtest.texts import load_texts
from intentd.loadtest.utterances import unique_utterances

from intentd import protogen

pytestmark = pytest.mark.timeout(120)

SERVER = textwrap.dedent(
    """
    import asyncio, json, os, random, sys, time
    import grpc
    from intentd.protogen import import_stubs

    pb2, pb2_grpc = import_stubs()
    slots = asyncio.Semaphore(2)  # "slot:N": two at a time, N ms each
    handled = []  # "jitter:A:B" handler times in ms, for "stats"
    received = []  # every text sent, for "received"

    class Stub(pb2_grpc.IntentServiceServicer):
        async def Analyze(self, request, context):
            start = time.perf_counter()
            verb, _, arg = request.text.partition(":")
            if verb == "received":
                texts = json.dumps(received)
                received.clear()
                return pb2.AnalyzeResponse(model_version=texts)
            received.append(request.text)
            if verb == "sleep":
                await asyncio.sleep(int(arg) / 1000)
            elif verb == "abort":  # "abort:CODE", or "abort:CODE:MS" after MS ms
                code, _, wait_ms = arg.partition(":")
                await asyncio.sleep(int(wait_ms or 0) / 1000)
                await context.abort(grpc.StatusCode[code], "told to fail")
            elif verb == "slot":
                async with slots:
                    await asyncio.sleep(int(arg) / 1000)
            elif verb == "jitter":
                low, high = (int(x) for x in arg.split(":"))
                await asyncio.sleep(random.uniform(low, high) / 1000)
                handled.append((time.perf_counter() - start) * 1000)
            elif verb == "stats":
                version = json.dumps(handled)
                handled.clear()
                return pb2.AnalyzeResponse(model_version=version)
            elif verb == "timing":
                queue, tokenize, forward, post, *transit = (int(x) for x in arg.split(":"))
                timing = pb2.ServerTiming(
                    queue_wait_us=queue, tokenize_us=tokenize, forward_us=forward,
                    postprocess_us=post, total_us=queue + tokenize + forward + post,
                    batch_size=4, transit_us=transit[0] if transit else 0,
                )
                return pb2.AnalyzeResponse(model_version="stub", timing=timing)
            elif verb == "cached":  # as intentd answers from its exact-match cache
                timing = pb2.ServerTiming(total_us=40, cache_hit=True)
                return pb2.AnalyzeResponse(model_version="stub", timing=timing)
            elif verb == "exit":
                os._exit(0)
            return pb2.AnalyzeResponse(model_version="stub")

    async def main(uds, cert=None, key=None):
        # STUB_WINDOW=fixed: no BDP probing, so the server keeps HTTP/2's default 64 KiB windows
        fixed = os.environ.get("STUB_WINDOW") == "fixed"
        server = grpc.aio.server(options=[("grpc.http2.bdp_probe", 0)] if fixed else None)
        pb2_grpc.add_IntentServiceServicer_to_server(Stub(), server)
        if cert:
            with open(cert, "rb") as c, open(key, "rb") as k:
                credentials = grpc.ssl_server_credentials([(k.read(), c.read())])
            port = server.add_secure_port("127.0.0.1:0", credentials)
        else:
            port = server.add_insecure_port("127.0.0.1:0")
            server.add_insecure_port("unix:" + uds)
        await server.start()
        print(port, flush=True)
        await server.wait_for_termination()

    asyncio.run(main(*sys.argv[1:]))
    """
)


def start_server(folder, *extra: str, env: dict | None = None):
    """Start the stand-in in a child process: (process, tcp address, unix socket path)."""
    protogen.ensure_stubs()  # before the child imports them: no generation race
    script = folder / "server.py"
    script.write_text(SERVER)
    uds = folder / "intentd.sock"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(uds), *extra], stdout=subprocess.PIPE, text=True,
        env={**os.environ, **(env or {})},
    )
    port = proc.stdout.readline().strip()
    if not port.isdigit():
        proc.kill()
        pytest.fail("stand-in server did not start")
    return proc, f"127.0.0.1:{port}", str(uds)


def stop(proc) -> None:
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(tcp address, unix socket path) of the stand-in server."""
    proc, address, uds = start_server(tmp_path_factory.mktemp("stub-server"))
    try:
        yield address, uds
    finally:
        stop(proc)


@pytest.fixture
def texts(tmp_path):
    """Write a --texts file of these lines; returns its path."""

    def make(*lines: str):
        path = tmp_path / "texts.txt"
        path.write_text("".join(line + "\n" for line in lines))
        return str(path)

    return make


def loadtest(capsys, *argv: str) -> tuple[int, dict | None, str]:
    """Run `intentd loadtest ... --json` in-process: (exit code, parsed stdout, stderr)."""
    code = cli.main([*argv, "--json", "--warmup", "2", "--connect-timeout-s", "5"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


# --- against the stand-in server ---------------------------------------------------------


def test_counts_and_json_report(server, capsys):
    address, _ = server
    code, result, err = loadtest(
        capsys, "--target", address, "--rate", "100", "--duration", "1", "--arrival", "uniform"
    )
    assert code == 0
    assert result["scheduled"] == result["sent"] == result["ok"] == 100
    assert result["errors"] == {} and result["error_rate"] == 0
    expected = {
        "target",
        "rpc",
        "mode",
        "client",
        "offered_rps",
        "arrival",
        "duration_s",
        "scheduled",
        "sent",
        "ok",
        "error_count",
        "errors",
        "error_rate",
        "achieved_rps",
        "latency_ms",
        "server_ms",
        "server_cache_hits",
        "send_lag_ms",
        "max_in_flight",
        "slo",
        "texts",
    }
    assert expected <= set(result)
    assert {"p50", "p90", "p95", "p99", "p99.9", "max"} <= set(result["latency_ms"])
    assert set(result["client"]) == {"loop", "channels", "concurrency_limit", "deadline_ms", "request_start", "tls"}
    assert result["latency_ms"]["p50"] <= result["latency_ms"]["p95"] <= result["latency_ms"]["max"]
    assert result["rpc"] == "Analyze" and result["mode"] == "fixed"
    assert result["texts"] == {"source": "generated", "distinct": 102, "repeated": False}
    assert result["server_cache_hits"] is None  # the stand-in reports no timing here
    assert 80 <= result["achieved_rps"] <= 101
    assert err.strip().splitlines()[-1].startswith("SLO PASS")


def test_slow_handler_fails_a_tight_p95_gate(server, texts, capsys):
    address, _ = server
    code, result, err = loadtest(
        capsys,
        "--target",
        address,
        "--texts",
        texts("sleep:30"),
        "--rate",
        "40",
        "--duration",
        "1",
        "--slo-p95-ms",
        "5",
    )
    assert code == 1
    assert result["slo"]["passed"] is False
    assert result["latency_ms"]["p95"] >= 30
    verdict = err.strip().splitlines()[-1]
    assert verdict.startswith("SLO FAIL: p95") and "> 5 ms" in verdict


def test_slow_handler_passes_a_loose_p95_gate(server, texts, capsys):
    address, _ = server
    code, result, _ = loadtest(
        capsys,
        "--target",
        address,
        "--texts",
        texts("sleep:30"),
        "--rate",
        "40",
        "--duration",
        "1",
        "--slo-p95-ms",
        "500",
        "--slo-p99-ms",
        "500",
    )
    assert code == 0
    assert result["slo"]["passed"] is True
    assert [c["name"] for c in result["slo"]["checks"]] == ["p95", "p99", "error rate"]


def test_errors_are_counted_by_status_code(server, texts, capsys):
    address, _ = server
    argv = (
        "--target",
        address,
        "--texts",
        texts("abort:RESOURCE_EXHAUSTED"),
        "--rate",
        "50",
        "--duration",
        "0.5",
        "--arrival",
        "uniform",
    )
    code, result, err = loadtest(capsys, *argv)
    assert code == 1  # default --max-error-rate 0
    assert result["errors"] == {"RESOURCE_EXHAUSTED": 25}
    assert result["ok"] == 0 and result["error_rate"] == 1.0
    assert result["latency_ms"] is None
    assert "error rate 100.00% > 0.00%" in err
    code, _, _ = loadtest(capsys, *argv, "--max-error-rate", "1")
    assert code == 0


def test_latency_is_measured_from_the_scheduled_time(server, texts, capsys):
    """One slot, 30 ms per request, a request due every 10 ms: the queue grows and a
    closed-loop client would still report 30 ms. Open loop must report the wait."""
    address, _ = server
    _, result, _ = loadtest(
        capsys,
        "--target",
        address,
        "--texts",
        texts("sleep:30"),
        "--rate",
        "100",
        "--duration",
        "0.5",
        "--arrival",
        "uniform",
        "--concurrency-limit",
        "1",
        "--deadline-ms",
        "2000",
    )
    assert result["ok"] == 50 and result["max_in_flight"] == 1
    assert result["latency_ms"]["p95"] > 500


def test_plot_writes_a_png(server, tmp_path, capsys):
    address, _ = server
    png = tmp_path / "latency.png"
    code, _, _ = loadtest(
        capsys, "--target", address, "--rate", "50", "--duration", "1.2", "--plot", str(png)
    )
    assert code == 0
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize("name, needle", [("latency.txt", "a plot is written as one of"),
                                           ("a-folder", "(got a folder)")])
def test_a_plot_that_cannot_be_written_is_refused_before_the_run(server, tmp_path, capsys, name, needle):
    """Found after a passing run, it turned the gate's exit into 1 ("SLO missed") or 2."""
    address, _ = server
    (tmp_path / "a-folder").mkdir()
    code = cli.main(["--target", address, "--rate", "50", "--duration", "5", "--json", "--no-progress",
                     "--plot", str(tmp_path / name)])
    out = capsys.readouterr()
    assert code == 2 and needle in out.err and out.out == ""  # refused before any request was sent


def test_a_p99_objective_counts_in_a_sweep(server, capsys):
    """--slo-p99-ms was checked on a fixed-rate run only: a sweep passed a p99 it never looked at."""
    address, _ = server
    code, result, _ = loadtest(capsys, "--target", address, "--sweep", "20", "--duration", "0.5",
                               "--slo-p95-ms", "500", "--slo-p99-ms", "0.01")
    assert code == 1 and result["capacity_rps"] is None


def test_a_run_with_nothing_to_judge_cannot_run(server, capsys):
    """A smoke gate of 1 req/s for 1 s draws no request in a third of its Poisson seeds: that is
    "cannot run" (2), not a pass or an SLO miss."""
    from intentd.loadtest.schedule import arrival_offsets

    address, _ = server
    assert cli.main(["--target", address, "--rate", "0.01", "--duration", "1", "--no-progress"]) == 2
    assert "nothing to judge" in capsys.readouterr().err
    seed = next(s for s in range(100) if len(arrival_offsets(1.0, 1.0, "poisson", s)) == 0)
    assert cli.main(["--target", address, "--rate", "1", "--duration", "1", "--seed", str(seed), "--warmup", "0",
                     "--slo-p95-ms", "50", "--no-progress"]) == 2
    assert "no request was scheduled" in capsys.readouterr().err


def test_unix_socket_target_and_other_rpc(server, capsys):
    _, uds = server
    code, result, _ = loadtest(
        capsys,
        "--uds",
        uds,
        "--rate",
        "50",
        "--duration",
        "0.4",
        "--arrival",
        "uniform",
        "--channels",
        "2",
        "--no-uvloop",
    )
    assert code == 0 and result["ok"] == 20
    assert result["target"] == f"unix:{uds}" and result["client"]["loop"] == "asyncio"
    assert "2 channel(s)," in format_text(result) and "one worker" not in format_text(result)
    # The stand-in does not implement DetectIntent: every call is UNIMPLEMENTED.
    code, result, _ = loadtest(
        capsys,
        "--uds",
        uds,
        "--rpc",
        "DetectIntent",
        "--rate",
        "20",
        "--duration",
        "0.25",
        "--arrival",
        "uniform",
    )
    assert code == 1 and result["errors"] == {"UNIMPLEMENTED": 5}


def test_sweep_reports_capacity(server, texts, tmp_path, capsys):
    address, _ = server
    png = tmp_path / "sweep.png"
    code, result, _ = loadtest(
        capsys,
        "--target",
        address,
        "--sweep",
        "20,40",
        "--duration",
        "0.5",
        "--slo-p95-ms",
        "500",
        "--plot",
        str(png),
    )
    assert code == 0
    assert result["mode"] == "sweep" and result["capacity_rps"] == 40
    assert [s["offered_rps"] for s in result["steps"]] == [20, 40]
    # Every listed rate passed: 40 req/s is a lower bound, and the report says so.
    assert result["capacity_capped"] is True
    assert "capacity: at least 40 req/s (the highest listed rate met" in format_text(result)
    assert png.read_bytes().startswith(b"\x89PNG")
    # Every step over the SLO: the sweep stops after the first one and fails.
    code, result, err = loadtest(
        capsys,
        "--target",
        address,
        "--texts",
        texts("sleep:30"),
        "--sweep",
        "20:2:80",
        "--duration",
        "0.5",
        "--slo-p95-ms",
        "5",
    )
    assert code == 1
    assert result["capacity_rps"] is None and len(result["steps"]) == 1
    assert result["capacity_capped"] is False
    assert "capacity n/a" in err


def test_percentiles_agree_with_the_servers_own_timings(server, texts, capsys):
    """An independent measurement: the stand-in times each handler (2-40 ms, random) and
    the generator's percentiles for the same requests must sit just above the server's."""
    address, _ = server
    stats = texts("stats")
    loadtest(capsys, "--target", address, "--texts", stats, "--rate", "5", "--duration", "0.2")
    code, result, _ = loadtest(
        capsys,
        *("--target", address, "--texts", texts("jitter:2:40"), "--rate", "100"),
        *("--duration", "2"),
    )
    assert code == 0 and result["ok"] == result["scheduled"] > 150
    server_ms = np.array(_stats(capsys, address, stats))
    assert len(server_ms) == result["ok"] + 2  # the two warm-up requests come first
    server_ms = server_ms[2:]
    client = result["latency_ms"]
    for key, q in (("p50", 50), ("p90", 90), ("p95", 95)):
        inside = float(np.percentile(server_ms, q))
        # Each client latency includes its handler's time, so each client percentile is at
        # least the server's (less HDR's 0.1% rounding), plus a loopback hop of a few ms (and
        # the scheduling delays of a shared 2-core machine, which grow with the load).
        assert inside * 0.999 - 0.05 <= client[key] <= inside * 1.15 + 3.0, (key, inside, client[key])


def _received(address: str) -> list[str]:
    """The texts the stand-in was sent since it was last asked (it then forgets them)."""
    return json.loads(_ask(address, "received"))


def _stats(capsys, address: str, stats_file: str) -> list[float]:
    """Ask the stand-in for the handler times it recorded (and reset them)."""
    return json.loads(_ask(address, "stats"))


def _ask(address: str, text: str) -> str:
    """One Analyze call to the stand-in; its answer's model_version."""
    import asyncio

    from intentd.loadtest.client import Client
    from intentd.loadtest.payloads import build_payloads, method_path
    from intentd.protogen import import_stubs

    pb2, _ = import_stubs()

    async def ask():
        async with Client(address, method_path("Analyze"), 1, 5.0) as client:
            await client.connect(5.0)
            error, body = await client.call(build_payloads("Analyze", [text])[0])
            assert error is None
            return pb2.AnalyzeResponse.FromString(body).model_version

    return asyncio.run(ask())


def test_server_timing_breakdown_is_reported(server, texts, capsys):
    address, _ = server
    code, result, _ = loadtest(
        capsys, "--target", address, "--texts", texts("timing:300:150:2000:700:450"), "--rate", "50",
        "--duration", "0.4",
    )  # fmt: skip
    assert code == 0
    server_ms = result["server_ms"]
    assert set(server_ms) == {"transit", "queue_wait", "tokenize", "forward", "postprocess", "total"}
    assert server_ms["transit"]["p50"] == pytest.approx(0.45)  # before the handler: not in the total
    assert server_ms["queue_wait"]["p50"] == pytest.approx(0.3)
    assert server_ms["tokenize"]["p95"] == pytest.approx(0.15)
    assert server_ms["forward"]["p99"] == pytest.approx(2.0)
    assert server_ms["postprocess"]["mean"] == pytest.approx(0.7)
    assert server_ms["total"]["p50"] == pytest.approx(3.15)
    assert result["server_cache_hits"] == {"count": 0, "share": 0.0, "answers": result["ok"]}
    text = format_text(result)
    assert "forward" in text and "postprocess" in text and "cache" not in text
    # A server that reports nothing: the key is there, empty.
    _, result, _ = loadtest(capsys, "--target", address, "--rate", "50", "--duration", "0.2")
    assert result["server_ms"] is None and result["server_cache_hits"] is None


def test_answers_from_the_servers_cache_are_counted_and_called_out(server, texts, capsys):
    """A user's traffic that repeats (three of four texts answered from the cache): the
    report counts the cache hits from the server's timing and says what was measured."""
    address, _ = server
    three_cached = texts("cached", "cached", "cached", "timing:300:150:2000:700")
    code, result, _ = loadtest(
        capsys, "--target", address, "--texts", three_cached, "--rate", "40", "--duration", "1",
        "--arrival", "uniform",
    )  # fmt: skip
    assert code == 0 and result["ok"] == 40
    # The 40 requests after the 2 warm-ups cycle the 4 texts: 30 cached, 10 computed.
    assert result["server_cache_hits"] == {"count": 30, "share": 0.75, "answers": 40}
    assert result["texts"] == {"source": three_cached, "distinct": 2, "repeated": True}
    # The model's stages come from the computed answers only; the total from all of them.
    assert result["server_ms"]["forward"]["p50"] == pytest.approx(2.0)
    assert result["server_ms"]["total"]["p50"] == pytest.approx(0.04)
    assert result["server_ms"]["transit"] is None  # this stand-in reads no send-time stamps
    text = format_text(result)
    assert (
        "server cache answered 75 % of requests (30 of 40): this measures the cache, not the model"
    ) in text
    assert "stages: the 10 answers not from its cache" in text
    # The human report (no --json) prints the same.
    code = cli.main(["--target", address, "--texts", three_cached, "--rate", "20",
                     "--duration", "0.4", "--warmup", "0", "--arrival", "uniform"])  # fmt: skip
    assert code == 0
    assert "this measures the cache, not the model" in capsys.readouterr().out

    # --max-cache-share makes it the gate's business: the run said "measures the cache" and passed
    for limit, expected in (("0.5", 1), ("0.8", 0)):
        code, result, _ = loadtest(capsys, "--target", address, "--texts", three_cached, "--rate", "40",
                                   "--duration", "1", "--arrival", "uniform", "--max-cache-share", limit)
        assert code == expected, result["slo"]
    assert result["slo"]["checks"][-1] == {"name": "cache share", "actual": 0.75, "limit": 0.8, "passed": True}
    code, result, _ = loadtest(capsys, "--target", address, "--texts", three_cached, "--rate", "40",
                               "--duration", "1", "--arrival", "uniform", "--max-cache-share", "0.5")
    assert "SLO FAIL: cache share 75.00% > 50.00%" in result["slo"]["verdict"]
    code, result, _ = loadtest(capsys, "--target", address, "--rate", "20", "--duration", "0.2",
                               "--max-cache-share", "0.5")  # a server that sends no timing cannot say
    assert code == 1 and "cache share n/a" in result["slo"]["verdict"] and "the server sent no timing" in \
        result["slo"]["verdict"]


def test_find_capacity_of_a_server_with_known_capacity(server, texts, capsys, tmp_path):
    """Two slots of 20 ms: 100 req/s at most. The search must land just below it."""
    address, _ = server
    png = tmp_path / "capacity.png"
    code, result, err = loadtest(
        capsys,
        *("--target", address, "--texts", texts("slot:20"), "--find-capacity"),
        *("--slo-p95-ms", "80", "--rate", "20", "--duration", "1.5", "--arrival", "uniform"),
        *("--deadline-ms", "400", "--plot", str(png)),
    )
    assert code == 0, err
    assert result["mode"] == "search"
    rates = [step["offered_rps"] for step in result["steps"]]
    assert rates[:3] == [20, 40, 80]  # ramp: doubles while it passes
    assert 60 <= result["capacity_rps"] <= 100, rates
    assert result["capacity_capped"] is False
    # The search narrowed to within 5%: the lowest failing rate is close above capacity.
    failing = [
        s["offered_rps"] for s in result["steps"] if s["offered_rps"] > result["capacity_rps"]
    ]
    assert min(failing) <= result["capacity_rps"] * 1.05 + 1
    assert png.read_bytes().startswith(b"\x89PNG")
    code, result, err = loadtest(
        capsys,
        *("--target", address, "--texts", texts("slot:20"), "--find-capacity"),
        *("--slo-p95-ms", "80", "--rate", "20", "--duration", "0.5", "--min-capacity-rps", "500"),
    )
    assert code == 1 and "capacity" in err.strip().splitlines()[-1]


def test_capacity_steps_may_spend_the_error_budget(server, texts, capsys):
    """A server that sheds to keep its SLO refuses a few requests well below its limit: with
    --max-error-rate a capacity step may fail that share and still count; without it, none."""
    address, _ = server
    one_in_ten = texts("abort:RESOURCE_EXHAUSTED", *(f"fine {i}" for i in range(9)))
    run = ("--target", address, "--texts", one_in_ten, "--sweep", "20,40", "--duration", "1",
           "--slo-p95-ms", "500", "--arrival", "uniform")  # fmt: skip
    code, strict, _ = loadtest(capsys, *run)
    assert code == 1 and strict["capacity_rps"] is None
    assert strict["steps"][0]["error_count"] > 0
    assert "capacity: none (no rate tried met p95 <= 500 ms and no errors)" in format_text(strict)
    code, budgeted, _ = loadtest(capsys, *run, "--max-error-rate", "0.2")
    assert code == 0 and budgeted["capacity_rps"] == 40 and budgeted["max_error_rate"] == 0.2
    assert all(0 < s["error_count"] <= 0.2 * (s["ok"] + s["error_count"]) for s in budgeted["steps"])
    assert "and errors <= 20.00%" in format_text(budgeted)
    # a p99 objective decides steps too: the capacity line and the JSON say so
    code, tail, _ = loadtest(capsys, "--target", address, "--texts", texts("sleep:30"), "--sweep", "10,20",
                             "--duration", "1", "--slo-p95-ms", "500", "--slo-p99-ms", "5")
    assert code == 1 and tail["capacity_rps"] is None and tail["slo_p99_ms"] == 5
    assert "capacity: none (no rate tried met p95 <= 500 ms, p99 <= 5 ms and no errors)" in format_text(tail)


def test_capacity_at_the_max_rate_cap_is_reported_as_a_lower_bound(server, capsys):
    """The stand-in answers at once, far faster than 80 req/s: the search stops at its
    --max-rate cap, which is not the server's capacity, and the report must say so."""
    address, _ = server
    code, result, err = loadtest(
        capsys, "--target", address, "--find-capacity", "--rate", "20", "--max-rate", "80",
        "--slo-p95-ms", "500", "--duration", "0.5", "--arrival", "uniform",
    )  # fmt: skip
    assert code == 0
    assert [step["offered_rps"] for step in result["steps"]] == [20, 40, 80]
    assert result["capacity_rps"] == 80 and result["capacity_capped"] is True
    assert "capacity: at least 80 req/s (the --max-rate cap met p95 <= 500 ms" in format_text(
        result
    )
    assert "capacity 80 req/s (at least: the highest rate tried)" in err.strip().splitlines()[-1]


def test_default_texts_never_repeat_within_a_run_and_follow_the_seed(server, capsys):
    """Warm-up and every step of a sweep send distinct texts (as intentd's cache compares
    them). A run without --seed draws a fresh seed and reports it: --seed with it sends the
    same texts again, and another run without --seed sends others (a rerun against the same
    server must not find the last run's texts in its cache)."""
    address, _ = server
    run = ("--target", address, "--sweep", "100,200", "--duration", "0.5", "--slo-p95-ms", "500",
           "--arrival", "uniform")  # fmt: skip

    def sent(*seed: str) -> tuple[int, list[str]]:
        _received(address)  # forget earlier tests' texts
        code, result, _ = loadtest(capsys, *run, *seed)
        assert code == 0 and [s["ok"] for s in result["steps"]] == [50, 100]
        assert result["texts"] == {"source": "generated", "distinct": 152, "repeated": False}
        return result["seed"], _received(address)

    seed, first = sent()
    assert len(first) == 2 + 50 + 100  # warm-up, then both steps
    assert len({" ".join(text.casefold().split()) for text in first}) == len(first)
    again_seed, again = sent("--seed", str(seed))
    assert again_seed == seed and sorted(again) == sorted(first)
    other_seed, other = sent()
    assert other_seed != seed and not set(other) & set(first)


def test_deadline_exceeded_and_large_requests(server, texts, capsys):
    address, _ = server
    code, result, _ = loadtest(
        capsys, "--target", address, "--texts", texts("sleep:300"), "--rate", "20",
        "--duration", "0.3", "--deadline-ms", "50", "--arrival", "uniform",
    )  # fmt: skip
    assert code == 1 and result["errors"] == {"DEADLINE_EXCEEDED": 6}
    # 100 kB of text: several DATA frames each way, past the default 64 kB window.
    code, result, _ = loadtest(
        capsys, "--target", address, "--texts", texts("x" * 100_000), "--rate", "20",
        "--duration", "0.5",
    )  # fmt: skip
    assert code == 0 and result["ok"] == result["scheduled"]


def test_timed_out_requests_count_in_the_latency_gate(server, texts, capsys):
    """One request in ten outlives its 100 ms deadline. Left out of the percentiles, they let an
    error budget buy a p99 gate's pass (p99 3 ms, SLO PASS): a timed-out request counts at its
    elapsed time, at least its deadline. A fast refusal is load shedding: an error only."""
    address, _ = server
    slow_one = texts("sleep:300", *(f"fast {i}" for i in range(9)))
    run = ("--target", address, "--rate", "50", "--duration", "1", "--arrival", "uniform",
           "--deadline-ms", "100", "--max-error-rate", "0.2", "--slo-p99-ms", "50")  # fmt: skip
    code, result, err = loadtest(capsys, *run, "--texts", slow_one)
    assert result["errors"] == {"DEADLINE_EXCEEDED": 5} and result["ok"] == 45
    assert result["latency_ms"]["p50"] < 50 <= 100 <= result["latency_ms"]["p99"]
    assert code == 1 and err.strip().splitlines()[-1].startswith("SLO FAIL: p99")
    assert "(from scheduled send time; every request but fast refusals)" in format_text(result)
    refused_one = texts("abort:RESOURCE_EXHAUSTED", *(f"fast {i}" for i in range(9)))
    code, result, _ = loadtest(capsys, *run, "--texts", refused_one)
    assert code == 0 and result["errors"] == {"RESOURCE_EXHAUSTED": 5} and result["latency_ms"]["p99"] < 50


@pytest.mark.parametrize("failure", ["abort:UNAVAILABLE:300", "abort:INTERNAL:60"])
def test_a_slow_failure_counts_at_its_elapsed_time(server, texts, capsys, failure):
    """A caller that waited 950 ms for UNAVAILABLE (a proxy's connect timeout) was left out of the
    percentiles as a refusal, and so was every INTERNAL, however slow: the report said "max 7.77
    ms" and a p99 gate passed on the error budget. Only a refusal back within 25 ms is an error
    alone."""
    address, _ = server
    run = ("--target", address, "--rate", "50", "--duration", "1", "--arrival", "uniform",
           "--deadline-ms", "1000", "--max-error-rate", "0.2", "--slo-p99-ms", "50")  # fmt: skip
    code, result, err = loadtest(capsys, *run, "--texts", texts(failure, *(f"fast {i}" for i in range(9))))
    wait_ms = int(failure.rsplit(":", 1)[1])
    assert sum(result["errors"].values()) == 5 and result["latency_ms"]["max"] >= wait_ms
    assert code == 1 and err.strip().splitlines()[-1].startswith("SLO FAIL: p99")


def test_the_cache_gate_takes_the_exact_share():
    """The report rounds the share to 4 places; gated on that, 1 cached answer in 20,001 passed
    --max-cache-share 0."""
    from intentd.loadtest.slo import cache_check

    assert not cache_check({"count": 1, "share": 0.0, "answers": 20_001}, 0.0).passed
    assert not cache_check({"count": 2_501, "share": 0.1, "answers": 25_000}, 0.1).passed
    assert cache_check({"count": 2_500, "share": 0.1, "answers": 25_000}, 0.1).passed


def test_a_request_that_waits_for_a_slot_keeps_its_deadline(server, texts, capsys):
    """One in-flight slot, 150 ms answers, a request due every 50 ms, 200 ms deadlines: a request
    that waited for the slot got a fresh deadline when it left, and answers at ~1 s counted as OK.
    Its deadline runs from its scheduled time; its slot wait is reported apart from the send
    lag (the generator's own health, which the waits had swamped)."""
    address, _ = server
    code, result, _ = loadtest(
        capsys, "--target", address, "--texts", texts("sleep:150"), "--rate", "20", "--duration", "0.5",
        "--arrival", "uniform", "--concurrency-limit", "1", "--deadline-ms", "200",
    )  # fmt: skip
    assert result["ok"] + result["error_count"] == result["scheduled"] == 10
    assert result["errors"]["DEADLINE_EXCEEDED"] >= 5
    assert result["latency_ms"]["max"] < 300  # nothing waited much past its deadline (it was ~1 s)
    assert result["slot_wait_ms"]["count"] >= 5 and result["slot_wait_ms"]["max"] >= 50
    assert result["send_lag_ms"]["p99"] < 50
    assert "waited for an in-flight slot" in format_text(result)


def test_requests_larger_than_the_servers_windows_are_sent_in_pieces(tmp_path, texts, capsys):
    """A server that keeps HTTP/2's default 64 KiB windows (no BDP probing, as many gRPC
    servers run): a 100 kB or 300 kB request waited for a window that never grew, and the run
    hung with every later request queued behind it."""
    proc, address, _ = start_server(tmp_path, env={"STUB_WINDOW": "fixed"})
    try:
        for size in (100_000, 300_000):
            code, result, _ = loadtest(
                capsys, "--target", address, "--texts", texts("x" * size, "short one"), "--rate", "20",
                "--duration", "0.5", "--deadline-ms", "5000",
            )  # fmt: skip
            assert code == 0 and result["ok"] == result["scheduled"] > 0, (size, result)
    finally:
        stop(proc)


def test_a_server_that_dies_mid_run_is_counted_not_fatal(tmp_path, texts, capsys):
    proc, address, _ = start_server(tmp_path)
    try:
        path = tmp_path / "mixed.txt"
        path.write_text("hello\n" * 30 + "exit\n" + "hello\n" * 30)
        code, result, _ = loadtest(
            capsys, "--target", address, "--texts", str(path), "--rate", "100",
            "--duration", "1", "--arrival", "uniform", "--seed", "3",
        )  # fmt: skip
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert code == 1
    assert result["ok"] > 0 and set(result["errors"]) <= {"UNAVAILABLE", "INTERNAL"}
    assert result["ok"] + result["error_count"] == result["scheduled"] == 100


def _stop_midway(address: str, sig: int, *flags: str) -> tuple[int, str, str]:
    """The run as a terminal's foreground job, which a Ctrl-C reaches: started in the background
    of a script (a CI job's `cmd &`), the suite hands on SIGINT ignored, and the load test rightly
    ran on to its end and exited 0."""
    proc = subprocess.Popen([sys.executable, "-m", "intentd.cli", "loadtest", "--target", address, "--no-progress",
                             *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    try:
        time.sleep(4)  # past the start and the warm-up, into the run
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    return proc.returncode, out, err


def test_a_sigterm_stops_a_run_with_what_it_measured(server):
    """A CI timeout's SIGTERM killed the load test by the signal, without a word; then with one
    line, and none of the figures measured before it."""
    address, _ = server
    code, out, err = _stop_midway(address, signal.SIGTERM, "--rate", "20", "--duration", "30", "--json")
    assert code == 128 + signal.SIGTERM, err
    assert err.strip().splitlines()[-1] == "intentd: stopped (SIGTERM)"
    result = json.loads(out)
    stopped = result["interrupted"]["stopped_s"]
    assert 0 < stopped < 30 and result["stopped_s"] == stopped
    assert result["slo"]["passed"] is False and result["slo"]["verdict"].startswith("SLO NOT JUDGED")
    assert result["scheduled"] == result["sent"] > 0 and result["ok"] > 0
    assert result["ok"] + result["error_count"] + result["interrupted"]["in_flight_not_counted"] == result["sent"]
    assert result["achieved_rps"] > 5  # over the time it ran, not the 30 s it was to run
    assert result["latency_ms"]["p50"] > 0


def test_a_stopped_sweep_counts_no_capacity_from_the_step_it_cut(server):
    address, _ = server
    code, out, err = _stop_midway(address, signal.SIGINT, "--sweep", "20,21,22,23", "--duration", "2",
                                  "--slo-p95-ms", "500")
    assert code == 130, err
    lines = out.strip().splitlines()
    assert lines[-1].startswith("SLO NOT JUDGED: the run was stopped") and "req/s" in lines[-1], out
    rows = [line for line in lines if line.split()[:1] in (["20"], ["21"], ["22"], ["23"])]
    assert rows and "(stopped after" in rows[-1] and not any("stopped" in row for row in rows[:-1]), out
    capacity = next(line for line in lines if line.startswith("capacity:"))
    assert capacity.startswith("capacity: none") if len(rows) == 1 else "ended before the stop" in capacity, out


def test_tls_target(tmp_path, capsys):
    trustme = pytest.importorskip("trustme")
    authority = trustme.CA()
    cert = authority.issue_cert("intentd.test")
    cert.cert_chain_pems[0].write_to_path(tmp_path / "server.pem")
    cert.private_key_pem.write_to_path(tmp_path / "server.key")
    authority.cert_pem.write_to_path(tmp_path / "ca.pem")
    proc, address, _ = start_server(
        tmp_path, str(tmp_path / "server.pem"), str(tmp_path / "server.key")
    )
    try:
        tls = ("--tls", "--tls-ca", str(tmp_path / "ca.pem"), "--tls-server-name", "intentd.test")
        code, result, _ = loadtest(
            capsys, "--target", address, *tls, "--rate", "50", "--duration", "0.4"
        )
        assert code == 0 and result["ok"] == result["scheduled"] and result["client"]["tls"]
        # Verification is on: without the CA the handshake fails, clearly.
        code, _, err = loadtest(
            capsys, "--target", address, "--tls", "--tls-server-name", "intentd.test",
            "--rate", "50", "--duration", "0.2",
        )  # fmt: skip
        assert code == 2 and "CERTIFICATE_VERIFY_FAILED" in err
        # plaintext to a TLS port: the server hangs up; the error says what that likely means
        code, _, err = loadtest(capsys, "--target", address, "--rate", "50", "--duration", "0.2")
        assert code == 2 and "connection closed during set-up (not a gRPC server, or a TLS port: then add --tls)" in err
    finally:
        stop(proc)


def test_progress_is_on_by_default_as_plain_lines_in_a_log(server, capsys):
    """As training's and eval's bars: where stderr is a file or a pipe, plain lines (it showed
    nothing unless stderr was a terminal); the last line once (--progress printed it twice)."""
    address, _ = server
    for flags in ((), ("--progress",)):
        code = cli.main(["--target", address, "--rate", "20", "--duration", "0.3", "--arrival", "uniform",
                         "--warmup", "0", *flags])  # fmt: skip
        err = capsys.readouterr().err.splitlines()
        assert code == 0
        assert [line for line in err if "6/6" in line] == [next(line for line in err if "6/6" in line)]
        assert all("\r" not in line for line in err) and err[-1].startswith("20 req/s: 100%")
    assert cli.main(["--target", address, "--rate", "20", "--duration", "0.3", "--no-progress"]) == 0
    assert capsys.readouterr().err == ""


def test_a_server_that_is_not_grpc_gets_a_neutral_hint(capsys):
    """An HTTP/1.1 port hung up on the HTTP/2 preface and the error said "a TLS port?"."""
    import http.server
    import threading

    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        code = cli.main(["--target", f"127.0.0.1:{web.server_port}", "--rate", "5", "--no-progress"])
    finally:
        web.shutdown()
        web.server_close()
    assert code == 2
    assert "during set-up (not a gRPC server, or a TLS port: then add --tls)" in capsys.readouterr().err


def test_human_report_ends_with_the_verdict(server, capsys):
    address, _ = server
    code = cli.main(["--target", address, "--rate", "20", "--duration", "0.3", "--warmup", "0"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert out[0].startswith(f"target {address}")
    assert "1 channel: one worker of a --workers server" in out[0]  # the kernel balances connections
    assert out[-1].startswith("SLO PASS")


# --- failures to run: exit code 2 with one clear line -------------------------------------


def test_unreachable_target_is_a_clear_error(capsys):
    code = cli.main(
        ["--uds", "/nonexistent/intentd.sock", "--duration", "0.1", "--connect-timeout-s", "0.3"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "no gRPC server accepted a connection at unix:/nonexistent/intentd.sock" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--rate", "0"], "--rate must be positive"),
        (["--sweep", "20,50"], "--sweep needs --slo-p95-ms"),
        (["--sweep", "50,20", "--slo-p95-ms", "5"], "rates must increase"),
        (["--target", "h:1", "--uds", "/s"], "either --target or --uds"),
        (["--max-error-rate", "2"], "--max-error-rate must be between 0 and 1"),
        (["--rate", "1e9", "--duration", "10"], "over 5,000,000 requests"),
        (["--find-capacity", "--slo-p95-ms", "25", "--duration", "60", "--max-rate", "100000"],
         "--max-rate 100000 req/s (the highest rate the search may offer) for --duration 60 s"),
        (["--seed", "-1"], "--seed must be 0 or more"),
        (
            ["--find-capacity", "--slo-p95-ms", "5", "--max-rate", "100"]
            + ["--min-capacity-rps", "500"],
            "--min-capacity-rps 500 is over --max-rate 100",
        ),
        (  # it ran the whole sweep, then failed as an SLO miss at rates that never reached 50
            ["--sweep", "20,40", "--slo-p95-ms", "100", "--min-capacity-rps", "50"],
            "--min-capacity-rps 50 is over the highest --sweep rate 40",
        ),
        (
            ["--find-capacity", "--slo-p95-ms", "5", "--rate", "500", "--max-rate", "100"],
            "--rate 500 is over --max-rate 100: the search starts at --rate",
        ),
    ],
)
def test_bad_flags_exit_2(argv, message, capsys):
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_missing_texts_file_exit_2(tmp_path, capsys):
    assert cli.main(["--texts", str(tmp_path / "nope.jsonl")]) == 2
    assert "cannot read --texts" in capsys.readouterr().err


def test_module_entry_point():
    done = subprocess.run(
        [sys.executable, "-m", "intentd.loadtest", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    for flag in (
        "--target",
        "--uds",
        "--rate",
        "--duration",
        "--concurrency-limit",
        "--rpc",
        "--texts",
        "--deadline-ms",
        "--sweep",
        "--slo-p95-ms",
        "--slo-p99-ms",
        "--max-error-rate",
        "--json",
        "--plot",
        "--find-capacity",
        "--tls",
        "--tls-ca",
    ):
        assert flag in done.stdout
    assert "--workers" in done.stdout  # --channels says why one connection loads one worker


# --- pieces --------------------------------------------------------------------------------


def test_arrival_schedules():
    uniform = arrival_offsets(50, 2, "uniform")
    assert len(uniform) == 100 and uniform[1] - uniform[0] == pytest.approx(0.02)
    poisson = arrival_offsets(1000, 10, "poisson", seed=1)
    assert 9500 < len(poisson) < 10500
    assert (poisson >= 0).all() and (poisson < 10).all() and (poisson[1:] >= poisson[:-1]).all()
    assert (arrival_offsets(1000, 10, "poisson", seed=1) == poisson).all()


def test_parse_sweep():
    assert parse_sweep("20,50,100") == (20, 50, 100)
    assert parse_sweep("20:2:160") == (20, 40, 80, 160)
    assert parse_sweep("10:3:100") == (10, 30, 90)
    for bad in ("", "a,b", "0,10", "20:1:100", "20:2"):
        with pytest.raises(ConfigError):
            parse_sweep(bad)


def test_config_defaults():
    config = LoadConfig()
    assert config.address == "127.0.0.1:50051" and config.rates == (50.0,)
    assert config.seed is None and isinstance(config.seeded().seed, int)
    assert LoadConfig(seed=5).seeded().seed == 5
    assert LoadConfig(uds="/tmp/s.sock").address == "unix:/tmp/s.sock"


def test_percentiles_take_the_nearest_rank_rounding_up():
    """p99 of 160 samples is the 159th (rank ceil(0.99 * 160)): with two slow ones, a slow one.
    hdrh rounded the rank to nearest (the 158th: 9 ms, and a p99 gate of 50 ms passed); the
    per-second view interpolated. Every figure takes the same rank, as the server's does."""
    recorder = Recorder()
    for i in range(160):
        recorder.record(i / 160, 0.101 if i in (40, 120) else 0.009, None)
    assert recorder.latency_ms()["p99"] == pytest.approx(101, rel=1e-3)
    assert recorder.latency_ms()["p95"] == pytest.approx(9, rel=1e-3)
    micros = np.random.default_rng(0).integers(500, 90_000, 1000)  # 99.9 / 100 * 1000 > 999 in floats
    recorder = Recorder()
    for due, us in enumerate(micros):
        recorder.record(due / 1000, us / 1e6, None)
        recorder.record_server((0, 0, 0, 0, int(us), False, 0))
    ranked = np.sort(micros) / 1000
    latency, timeline = recorder.latency_ms(), recorder.timeline()
    for p, rank in ((50, 500), (90, 900), (95, 950), (99, 990), (99.9, 999)):
        assert latency[f"p{p:g}"] == pytest.approx(ranked[rank - 1], rel=1e-3), p  # hdrh: 3 digits
    assert timeline[0]["p50_ms"] == ranked[499] and timeline[0]["p95_ms"] == ranked[949]
    assert recorder.server_ms()["total"]["p99"] == ranked[989]


def test_tls_requests_say_https():
    """:scheme was http even over TLS."""
    import asyncio

    from hpack import Decoder
    from intentd.loadtest.client import TLS, Client

    async def schemes() -> list[str]:
        found = []
        for tls in (None, TLS()):
            connection = Client("127.0.0.1:1", "/x", 1, 1.0, tls)._open()  # nothing listens: it fails
            await connection.closed
            found += [value for name, value in Decoder().decode(connection._header_block) if name == ":scheme"]
        return found

    assert asyncio.run(schemes()) == ["http", "https"]


def test_a_capacity_search_keeps_to_the_request_bound_unless_told_a_max_rate():
    """`--find-capacity --duration 60` was refused for the default --max-rate 100000 that the
    user never gave (over 5,000,000 requests a step): the search's ceiling comes down instead."""
    search = LoadConfig(find_capacity=True, slo_p95_ms=25, duration=60)
    assert search.search_max_rate == pytest.approx(5_000_000 / 60)
    assert LoadConfig(find_capacity=True, slo_p95_ms=25).search_max_rate == 100_000
    assert LoadConfig(find_capacity=True, slo_p95_ms=25, max_rate=500).search_max_rate == 500
    with pytest.raises(ConfigError, match="lower --max-rate or --duration"):
        LoadConfig(find_capacity=True, slo_p95_ms=25, duration=60, max_rate=100_000)


def test_load_texts(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text(
        '{"text": "fly to boston", "intent": "book_flight"}\n\nplain line\n'
        '{"text": "what is love", "ood": true}\n'
    )
    assert load_texts(path) == ["fly to boston", "plain line", "what is love"]
    (tmp_path / "other.jsonl").write_text('{"text": "book a table"}\n')
    assert load_texts(tmp_path) == ["fly to boston", "plain line", "what is love", "book a table"]
    path.write_text('{"intent": "x"}\n')
    with pytest.raises(TextsError, match=':1: a JSON line needs a non-empty string "text"'):
        load_texts(path)
    path.write_text("\n \n")
    with pytest.raises(TextsError, match="has no texts"):
        load_texts(path)
    path.write_bytes("\ufeffhello\n".encode() + b"caf\xe9 au lait\n")  # Latin-1, not UTF-8, on line 2
    with pytest.raises(TextsError, match=r"data.jsonl:2: not valid UTF-8 \(invalid continuation byte at byte 12\)"):
        load_texts(path)
    path.write_bytes("\ufeffhello\n".encode())
    assert load_texts(path) == ["hello"]  # a leading byte-order mark is not text
    # lines end at "\n" only: data files written with raw U+2028 in a string, and plain texts
    # with form feeds or other separators, are one line each (str.splitlines() split them)
    path.write_text('{"text": "line\u2028separator"}\r\nform\x0cfeed and \x1c group\n', encoding="utf-8")
    assert load_texts(path) == ["line\u2028separator", "form\x0cfeed and \x1c group"]
    path.write_bytes(b"first\rsecond\r")  # a file with classic Mac line ends: two texts, not one
    assert load_texts(path) == ["first", "second"]


def test_header_cache_follows_the_hpack_dynamic_table():
    """The same indexed byte means another header once the table changes (RFC 7541)."""
    import asyncio

    from hpack import Encoder
    from intentd.loadtest.http2 import Connection

    async def decode_all() -> list:
        connection = Connection("localhost", "/x")
        encoder = Encoder()
        first = encoder.encode([("grpc-status", "0")])  # adds an entry: index 62
        again = encoder.encode([("grpc-status", "0")])  # indexed, table unchanged
        assert again == b"\xbe"
        other = encoder.encode([("grpc-status", "13")])  # adds another: it becomes 62
        return [connection._decode(block) for block in (first, again, again, other, b"\xbe")]

    decoded = asyncio.run(decode_all())
    assert decoded[:3] == [[(b"grpc-status", b"0")]] * 3
    assert decoded[3] == [(b"grpc-status", b"13")]
    assert decoded[4] == [(b"grpc-status", b"13")]  # not the cached "0"


def test_generated_texts_are_distinct_up_to_the_cap_and_seeded():
    """The generator reaches the run's cap without running dry, in the form intentd's cache
    compares texts (so distinct texts are distinct cache keys); a seed fixes the stream."""
    texts = list(itertools.islice(unique_utterances(3), MAX_GENERATED_TEXTS))
    assert len(set(texts)) == MAX_GENERATED_TEXTS
    assert all(text == " ".join(normalize("NFKC", text).casefold().split()) for text in texts)
    assert list(itertools.islice(unique_utterances(3), 500)) == texts[:500]
    assert not set(itertools.islice(unique_utterances(4), 500)) & set(texts[:500])
    # Support-chat turns, not noise: a few words to a long sentence, no unfilled slots.
    words = [len(text.split()) for text in texts[:2000]]
    assert 3 <= min(words) and max(words) <= 30 and 7 <= sum(words) / len(words) <= 16
    assert not any("{" in text or "}" in text for text in texts[:2000])


def test_payloads_hand_out_texts_in_turn_and_cycle_only_past_the_cap():
    payloads = Payloads.generated("Analyze", unique_utterances(0), limit=50)
    first, second = payloads.take(30), payloads.take(30)
    assert len(set(first)) == 30 and not set(first) & set(second[:20])
    assert second[20:] == first[:10]  # past the cap: from the start again
    assert payloads.distinct == 50 and payloads.repeated
    assert payloads.take(0) == []
    user = Payloads.from_texts("Analyze", ["yes", "no", "yes"])
    assert user.distinct == 2 and len(user.take(3)) == 3 and user.repeated


def test_target_and_tls_mistakes_name_what_is_wrong(tmp_path, capsys):
    for args, needle in ((["--target", "127.0.0.1:99999"], "99999 is not a port number"),
                         (["--target", "127.0.0.1:1", "--tls", "--tls-ca", str(tmp_path / "no.pem")],
                          f"--tls-ca {tmp_path / 'no.pem'}: No such file"),
                         (["--target", "127.0.0.1:1", "--tls-ca", "x.pem"], "--tls-ca needs --tls")):
        assert cli.main([*args, "--rate", "5", "--no-progress"]) == 2
        assert needle in capsys.readouterr().err
