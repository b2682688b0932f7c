"""`make bench`: raw onnxruntime vs the batching server vs the naive server, same utterances.

    python bench/run.py --model models/artifacts/example [--out bench-results] [--quick]

(a) raw onnxruntime on pre-tokenised inputs: batch-1 median latency, best batched throughput;
(b) `intentd serve` under open-loop load from `intentd loadtest`: p50 at 20 req/s, and capacity
    (`--find-capacity`: highest rate with p95 <= 25 ms and no errors); (c) the same for `--naive`;
(d) resident set of the batching server sampled each second over a 60 s load.
The load generator runs on the same cores as the server; the cache is off (--cache-size 0) so
every request reaches the model. Writes bench.json, bench.md and latency plots under --out.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEXTS = REPO / "models" / "domains" / "banking" / "test.jsonl"
SLO_P95_MS = 25.0


def texts() -> list[str]:
    return [json.loads(line)["text"] for line in TEXTS.read_text().splitlines() if line.strip()]


def raw_onnxruntime(model_path: str, utterances: list[str], repeats: int) -> dict:
    from intentd.server.model import Model

    model = Model.load(model_path)
    for n in (1, 4):  # warm up the shapes
        model.infer(model.encode(utterances[:n]))
    singles = [model.encode([t]) for t in utterances]
    times = []
    for _ in range(repeats):
        for batch in singles:
            start = time.perf_counter()
            model.infer(batch)
            times.append(time.perf_counter() - start)
    throughput = {}
    for size in (1, 4, 8, 16, 32, 64):
        batches = [model.encode(utterances[i:i + size]) for i in range(0, len(utterances) - size + 1, size)]
        start = time.perf_counter()
        for _ in range(repeats):
            for batch in batches:
                model.infer(batch)
        throughput[size] = repeats * sum(b.input_ids.shape[0] for b in batches) / (time.perf_counter() - start)
    best = max(throughput, key=throughput.get)
    return {"provider": model.provider, "batch1_median_ms": statistics.median(times) * 1e3,
            "throughput_by_batch": {str(k): round(v, 1) for k, v in throughput.items()},
            "best_throughput_rps": round(throughput[best], 1), "best_batch": best}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    def __init__(self, model: str, *extra: str):
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "intentd", "serve", "--model", model, "--listen",
                                      f"127.0.0.1:{self.port}", "--cache-size", "0", *extra],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        with grpc.insecure_channel(self.target) as channel:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=120,
                                                      wait_for_ready=True)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)


def loadtest(target: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "intentd", "loadtest", "--target", target, "--texts", str(TEXTS),
                          "--json", "--no-progress", *args], capture_output=True, text=True)
    if out.returncode not in (0, 1):
        raise RuntimeError(f"loadtest failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def service(model: str, name: str, out: Path, step_s: float, *extra: str) -> dict:
    """p50 at 20 req/s, then a capacity search (doubling from 25 req/s, then bisecting)."""
    server = ServerProcess(model, *extra)
    try:
        low = loadtest(server.target, "--rate", "20", "--duration", str(max(step_s * 2, 10)),
                       "--plot", str(out / f"latency-20rps-{name}.png"))
        search = loadtest(server.target, "--find-capacity", "--rate", "25", "--duration", str(step_s),
                          "--slo-p95-ms", str(SLO_P95_MS), "--plot", str(out / f"capacity-{name}.png"))
    finally:
        server.stop()
    steps = sorted(search["steps"], key=lambda s: s["offered_rps"])
    return {"p50_ms_at_20rps": low["latency_ms"]["p50"], "p95_ms_at_20rps": low["latency_ms"]["p95"],
            "errors_at_20rps": low["error_count"], "server_ms_at_20rps": low["server_ms"],
            "capacity_rps": search["capacity_rps"],
            "steps": [{"rps": s["offered_rps"], "p50_ms": (s["latency_ms"] or {}).get("p50"),
                       "p95_ms": (s["latency_ms"] or {}).get("p95"), "errors": s["error_count"]} for s in steps]}


def memory(model: str, rate: float, seconds: int) -> dict:
    server = ServerProcess(model)
    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(1.0):
            samples.append(server.rss_mb())

    try:
        samples.append(server.rss_mb())
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        loadtest(server.target, "--rate", str(rate), "--duration", str(seconds))
        done.set()
        sampler.join()
    finally:
        server.stop()
    return {"rate_rps": rate, "seconds": seconds, "rss_mb_start": round(samples[0], 1),
            "rss_mb_max": round(max(samples), 1), "rss_mb_end": round(samples[-1], 1),
            "rss_mb_samples": [round(s, 1) for s in samples]}


def markdown(r: dict) -> str:
    raw, b, n, m = r["raw_onnxruntime"], r["batching"], r["naive"], r["memory"]
    cap = lambda x: "none" if x is None else f"{x:g}"  # noqa: E731
    return "\n".join([
        f"# intentd bench ({r['cpus']} CPUs, {raw['provider']}, load generator on the same cores, cache off)",
        "",
        "| figure | raw onnxruntime | batching server | naive server | target |",
        "|---|---|---|---|---|",
        f"| p50 at 20 req/s (ms) | {raw['batch1_median_ms']:.2f} (batch-1 median) | {b['p50_ms_at_20rps']:.2f} | "
        f"{n['p50_ms_at_20rps']:.2f} | <= raw + 1.0 |",
        f"| capacity, p95 <= 25 ms (req/s) | {raw['best_throughput_rps']:g} (best, batch {raw['best_batch']}) | "
        f"{cap(b['capacity_rps'])} | {cap(n['capacity_rps'])} | >= 50 % of raw |",
        f"| RSS over {m['seconds']} s at {m['rate_rps']:g} req/s (MB) | | start {m['rss_mb_start']}, max "
        f"{m['rss_mb_max']}, end {m['rss_mb_end']} | | <= 400, flat |",
        "",
        "Latency at each rate the capacity search offered (p50 / p95 ms, errors):",
        "",
        "| server | " + " | ".join(f"{s['rps']:g} req/s" for s in b["steps"]) + " |",
        "|---|" + "---|" * len(b["steps"]),
        "| batching | " + " | ".join(_cell(s) for s in b["steps"]) + " |",
        "",
        "| server | " + " | ".join(f"{s['rps']:g} req/s" for s in n["steps"]) + " |",
        "|---|" + "---|" * len(n["steps"]),
        "| naive | " + " | ".join(_cell(s) for s in n["steps"]) + " |",
        "",
    ])


def _cell(step: dict) -> str:
    if step["p50_ms"] is None:
        return f"- ({step['errors']} err)"
    errors = f", {step['errors']} err" if step["errors"] else ""
    return f"{step['p50_ms']:.1f} / {step['p95_ms']:.1f}{errors}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(REPO / "models" / "artifacts" / "example"))
    parser.add_argument("--out", default=str(REPO / "bench-results"))
    parser.add_argument("--quick", action="store_true", help="shorter steps (a smoke run, not for figures)")
    args = parser.parse_args()
    if not (Path(args.model) / "manifest.json").is_file():
        print(f"bench: {args.model} is not an artifact (run `make model` first)", file=sys.stderr)
        return 2
    step_s = 3.0 if args.quick else 6.0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    utterances = texts()
    result = {"cpus": os.cpu_count(), "model": args.model, "texts": str(TEXTS.relative_to(REPO)),
              "raw_onnxruntime": raw_onnxruntime(args.model, utterances, 2 if args.quick else 5)}
    print("raw:", json.dumps(result["raw_onnxruntime"]), file=sys.stderr)
    result["batching"] = service(args.model, "batching", out, step_s)
    print("batching:", json.dumps(result["batching"]), file=sys.stderr)
    result["naive"] = service(args.model, "naive", out, step_s, "--naive")
    print("naive:", json.dumps(result["naive"]), file=sys.stderr)
    capacity = result["batching"]["capacity_rps"] or 50.0
    result["memory"] = memory(args.model, round(capacity / 2), 15 if args.quick else 60)
    raw, b, n = result["raw_onnxruntime"], result["batching"], result["naive"]
    result["checks"] = {
        "low_load_p50_within_1ms_of_raw": b["p50_ms_at_20rps"] <= raw["batch1_median_ms"] + 1.0,
        "capacity_at_least_half_raw": (b["capacity_rps"] or 0) >= 0.5 * raw["best_throughput_rps"],
        "batching_no_worse_at_low_load": b["p50_ms_at_20rps"] <= n["p50_ms_at_20rps"] + 0.2,
        "batching_better_at_capacity": (b["capacity_rps"] or 0) > (n["capacity_rps"] or 0),
        "rss_under_400mb": result["memory"]["rss_mb_max"] <= 400,
    }
    (out / "bench.json").write_text(json.dumps(result, indent=2))
    (out / "bench.md").write_text(markdown(result) + "\n" + "\n".join(
        f"- {k}: {'yes' if v else 'NO'}" for k, v in result["checks"].items()) + "\n")
    print((out / "bench.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
