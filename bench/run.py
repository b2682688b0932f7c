"""`make bench`: the service against its own floor, measured in one run on the same texts.

    python bench/run.py [--model models/artifacts/example] [--out bench-results] [--quick]
                        [--price-per-hour 0.0832] [--no-workers]

1. Low load (20 req/s, open loop, cache off): the service's p50 against its parts: raw
   onnxruntime (tokenise + forward pass of one query, paced at the same rate in-process) and a
   do-nothing grpc.aio server answered through the same client. Interleaved over two rounds.
2. Capacity (highest rate with p95 <= 25 ms and at most 1 % of requests shed) with the lean load generator
   (`intentd loadtest --find-capacity`) and with a grpcio client (bench/grpcio_load.py), against
   raw onnxruntime's best batched throughput on the same texts.
3. Overload: 3 x capacity with 200 ms deadlines: OK answers per second (goodput), both clients.
4. The SLO the server keeps: p95 of answered requests at 0.9 x and 2 x capacity (the load generator's 1 s
   deadlines, which the SLO caps; a request that timed out counts at its deadline, a refused one
   not at all).
5. Thread layout: the default (1 worker, one onnxruntime thread a row, rows side by side on
   every core) vs 1 worker x 2 onnxruntime threads on one row at a time vs 2 workers x 1 thread.
6. Memory over a sustained load, and the summary row: p50 / p95 at half capacity, accuracy on
   the example's test split, and cost per million requests at a stated machine price.
The load generator runs on the same cores as the server. Writes bench.json, bench.md, plots.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/run.py` from the repo root

from bench.grpcio_load import (  # noqa: E402
    CAPACITY_ERROR_BUDGET, find_capacity as grpcio_capacity, run as grpcio_run, utterances)
from bench.loadgen import GRPCIO_ECHO  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SLO_P95_MS = 25.0
LOW_RATE = 20.0
# A 2-vCPU on-demand cloud instance (e.g. AWS c7a.large, us-east-1, 2026 list price); set your own.
DEFAULT_PRICE_PER_HOUR = 0.0832


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`intentd serve` (cache off) or any command that prints its port, as a child process."""

    def __init__(self, model: str | None, *extra: str, command: list[str] | None = None):
        if command is None:
            self.port = free_port()
            command = [sys.executable, "-m", "intentd", "serve", "--model", model, "--listen",
                       f"127.0.0.1:{self.port}", "--cache-size", "0", *extra]
            self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            wait_serving(self.target)
        else:
            self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
            self.port = int(self.proc.stdout.readline().strip())

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

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def wait_serving(target: str) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=180, wait_for_ready=True)


def loadtest(target: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "intentd", "loadtest", "--target", target, "--seed", "1",
                          "--json", "--no-progress", *args], capture_output=True, text=True)
    if out.returncode not in (0, 1):
        raise RuntimeError(f"loadtest failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


# -- 1. low load -------------------------------------------------------------------------------

def raw_paced(model: str, texts: list[str], rate: float, seconds: float) -> dict:
    """Tokenise + forward pass of one query at a time, in-process, paced at `rate` (the cores idle
    between queries as they do under a light load): the model's own share of a request."""
    from intentd.server.engine import Engine

    engine = Engine.load(model)
    for text in texts[:20]:
        engine.forward(engine.tokenize([text]))
    times, next_at, end = [], time.perf_counter(), time.perf_counter() + seconds
    for text in texts[20:]:
        if next_at >= end:
            break
        time.sleep(max(0.0, next_at - time.perf_counter()))
        start = time.perf_counter()
        engine.forward(engine.tokenize([text]))
        times.append((time.perf_counter() - start) * 1e3)
        next_at += 1.0 / rate
    return {"p50_ms": statistics.median(times), "n": len(times)}


def low_load(model: str, texts: list[str], out: Path, seconds: float, rounds: int) -> dict:
    echo_script = out / "grpcio_echo.py"
    echo_script.write_text(GRPCIO_ECHO)
    runs: dict[str, list[float]] = {"raw": [], "echo": [], "service": []}
    server_ms = None
    for r in range(rounds):
        runs["raw"].append(raw_paced(model, texts[r * 1000:], LOW_RATE, seconds)["p50_ms"])
        with ServerProcess(None, command=[sys.executable, str(echo_script)]) as echo:
            runs["echo"].append(loadtest(echo.target, "--rate", str(LOW_RATE), "--duration", str(seconds))
                                ["latency_ms"]["p50"])
        with ServerProcess(model) as server:
            result = loadtest(server.target, "--rate", str(LOW_RATE), "--duration", str(seconds),
                              *(("--plot", str(out / "latency-20rps.png")) if r == 0 else ()))
            runs["service"].append(result["latency_ms"]["p50"])
            server_ms = server_ms or result["server_ms"]
        print(f"low load round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} ms" for k, v in runs.items()),
              file=sys.stderr)
    p50 = {k: statistics.median(v) for k, v in runs.items()}
    return {"rate_rps": LOW_RATE, "raw_p50_ms": p50["raw"], "echo_p50_ms": p50["echo"],
            "service_p50_ms": p50["service"], "rounds": runs, "server_ms": server_ms,
            "budget_ms": p50["raw"] + p50["echo"] + 0.5}


# -- 2-5. capacity, overload, SLO, workers --------------------------------------------------------

def raw_best_throughput(model: str, texts: list[str]) -> dict:
    """Texts per second through tokenise + forward in length-grouped batches, per batch size and
    thread layout (onnxruntime's own threads on one row at a time, or one thread per row with
    rows side by side, as the server does): the best of all is the capacity ratios' reference."""
    from intentd.server.config import usable_cores
    from intentd.server.engine import Engine

    cores = usable_cores()
    layouts = {f"{cores} onnxruntime threads": dict(intra_op_threads=cores, row_threads=1),
               f"{cores} rows side by side": dict(intra_op_threads=1, row_threads=cores)}
    sample = sorted(texts[:1024], key=len)
    throughput = {}
    for layout, threads in layouts.items():
        engine = Engine.load(model, **threads)
        for size in (1, 4, 8, 16, 32, 64):
            batches = [sample[i:i + size] for i in range(0, len(sample) - size + 1, size)]
            engine.forward(engine.tokenize(batches[0]))
            start = time.perf_counter()
            for batch in batches:
                engine.forward(engine.tokenize(batch))
            throughput[layout, size] = sum(len(b) for b in batches) / (time.perf_counter() - start)
    layout, best = max(throughput, key=throughput.get)
    return {"best_rps": round(throughput[layout, best], 1), "best_batch": best, "best_layout": layout,
            "by_batch": {f"{k[0]}, batch {k[1]}": round(v, 1) for k, v in throughput.items()}}


def capacity_lean(target: str, step_s: float, out: Path | None = None, name: str = "") -> dict:
    plot = ("--plot", str(out / f"capacity{name}.png")) if out is not None else ()
    search = loadtest(target, "--find-capacity", "--rate", "25", "--duration", str(step_s),
                      "--slo-p95-ms", str(SLO_P95_MS), "--max-error-rate", str(CAPACITY_ERROR_BUDGET),
                      "--max-rate", "5000", *plot)
    steps = sorted(search["steps"], key=lambda s: s["offered_rps"])
    return {"capacity_rps": search["capacity_rps"],
            "steps": [{"rps": s["offered_rps"], "p50_ms": (s["latency_ms"] or {}).get("p50"),
                       "p95_ms": (s["latency_ms"] or {}).get("p95"), "errors": s["error_count"]} for s in steps]}


def overload(target: str, texts: list[str], capacity: float, seconds: float) -> dict:
    """3 x capacity, 200 ms deadlines: OK answers per second from each client."""
    rate = 3 * capacity
    lean = loadtest(target, "--rate", str(rate), "--duration", str(seconds), "--deadline-ms", "200")
    grpcio = grpcio_run(target, texts, rate, seconds, deadline_s=0.2, seed=7)
    return {"offered_rps": rate,
            "lean": {"ok_per_s": lean["ok"] / seconds, "errors": lean["errors"],
                     "p95_ms": (lean["latency_ms"] or {}).get("p95")},
            "grpcio": {"ok_per_s": grpcio["ok_per_s"], "errors": grpcio["errors"], "p95_ms": grpcio["p95_ms"]}}


def slo_kept(target: str, capacity: float, seconds: float, pid: int | None = None) -> dict:
    """p95 of answered requests (and timed-out ones, at 1 s) at 0.9 x and 2 x capacity, and at 2 x for callers that send no
    send-time stamp (their wait before the handler read from their 1 s deadlines); at 0.9 x also
    where the CPU went."""
    rows = {}
    for factor, name, stamp in ((0.9, "0.9x", "--request-start"), (2.0, "2x", "--request-start"),
                                (2.0, "2x-nostamp", "--no-request-start")):
        sampler = CpuSample(pid, seconds) if pid is not None and factor == 0.9 else None
        result = loadtest(target, "--rate", str(factor * capacity), "--duration", str(seconds), stamp)
        sent = result["ok"] + result["error_count"]
        rows[name] = {"offered_rps": factor * capacity, "answered_p95_ms": (result["latency_ms"] or {}).get("p95"),
                      "answered_per_s": result["ok"] / seconds,
                      "shed_share": result["errors"].get("RESOURCE_EXHAUSTED", 0) / max(1, sent),
                      "errors": result["errors"]}
        if sampler is not None:
            rows[name]["cpu"] = sampler.result()
    return rows


def cpu_s(stat: Path) -> float:
    """User + system CPU seconds from a /proc `stat` file (a process's or one of its threads')."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds of a process's threads, by name: the main thread is the event loop, intentd's
    worker threads carry their own names (server/threads.py), the rest (gRPC's) are "other"."""
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name, seconds = (task / "comm").read_text().strip(), cpu_s(task / "stat")
        except OSError:  # the thread ended meanwhile
            continue
        name = ("event loop" if task.name == str(pid) else
                name.rsplit("_", 1)[0] if name.startswith("intentd-") else "other")
        out[name] = out.get(name, 0.0) + seconds
    return out


def machine_cpu_s() -> tuple[float, float]:
    """Busy and total CPU seconds of the whole machine so far (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    ticks = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - idle) / ticks, sum(fields) / ticks


class CpuSample:
    """The server's CPU by thread and the machine's, over the middle of a load run of `seconds`
    (a thread samples from 2 s in to 1 s before the end, past the load generator's start-up)."""

    def __init__(self, pid: int, seconds: float):
        self.pid, self._result = pid, {}
        self._thread = threading.Thread(target=self._sample, args=(max(1.0, seconds - 3.0),), daemon=True)
        self._thread.start()

    def _sample(self, window_s: float) -> None:
        time.sleep(2.0)
        threads0, (busy0, total0), t0 = thread_cpu_s(self.pid), machine_cpu_s(), time.monotonic()
        time.sleep(window_s)
        threads1, (busy1, total1), t1 = thread_cpu_s(self.pid), machine_cpu_s(), time.monotonic()
        wall = t1 - t0
        cores = {name: round((threads1[name] - threads0.get(name, 0.0)) / wall, 2) for name in threads1}
        self._result = {"server_cores": round(sum(cores.values()), 2), "threads": cores,
                        "machine_busy_cores": round((busy1 - busy0) / (total1 - total0) * (os.cpu_count() or 1), 2),
                        "window_s": round(wall, 1)}

    def result(self) -> dict:
        self._thread.join()
        return self._result


def memory(server: ServerProcess, rate: float, seconds: int) -> dict:
    samples: list[float] = [server.rss_mb()]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(1.0):
            samples.append(server.rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result = loadtest(server.target, "--rate", str(rate), "--duration", str(seconds))
    done.set()
    sampler.join()
    return {"rate_rps": rate, "seconds": seconds, "rss_mb_start": round(samples[0], 1),
            "rss_mb_max": round(max(samples), 1), "rss_mb_end": round(samples[-1], 1),
            "p50_ms": result["latency_ms"]["p50"], "p95_ms": result["latency_ms"]["p95"],
            "errors": result["error_count"]}


# -- report ----------------------------------------------------------------------------------------

def markdown(r: dict) -> str:
    low, raw, lean, grpcio = r["low_load"], r["raw_batched"], r["capacity_lean"], r["capacity_grpcio"]
    over, slo, summary = r["overload"], r["slo"], r["summary"]
    cap = lean["capacity_rps"] or 0.0
    lines = [
        f"# intentd bench ({r['cpus']} CPUs; load generator on the same cores; cache off; one run)",
        "",
        f"Capacity: the highest offered rate with p95 <= {SLO_P95_MS:g} ms and at most "
        f"{CAPACITY_ERROR_BUDGET:.0%} of requests shed.",
        "",
        "| figure | measured | target | met |",
        "|---|---|---|---|",
        f"| p50 at {low['rate_rps']:g} req/s | {low['service_p50_ms']:.2f} ms (raw {low['raw_p50_ms']:.2f} + echo "
        f"{low['echo_p50_ms']:.2f}) | <= {low['budget_ms']:.2f} ms | {yes(r['checks']['low_load_p50'])} |",
        f"| capacity, lean generator | {cap:g} /s = {cap / raw['best_rps']:.2f} x raw {raw['best_rps']:g} /s "
        f"(batch {raw['best_batch']}, {raw['best_layout']}) | >= 0.6 x | {yes(r['checks']['capacity_lean'])} |",
        f"| capacity, grpcio client | {grpcio['capacity_rps'] or 0:g} /s = "
        f"{(grpcio['capacity_rps'] or 0) / raw['best_rps']:.2f} x raw | >= 0.5 x | {yes(r['checks']['capacity_grpcio'])} |",
        f"| goodput at 3 x capacity, 200 ms deadlines | lean {over['lean']['ok_per_s']:.0f} /s, grpcio "
        f"{over['grpcio']['ok_per_s']:.0f} /s | >= 0.8 x capacity ({0.8 * cap:.0f} /s) | "
        f"{yes(r['checks']['goodput_lean'])} / {yes(r['checks']['goodput_grpcio'])} |",
    ]
    for name, row in slo.items():
        label = f"{name.removesuffix('-nostamp')} capacity" + (", no send-time stamp" if "nostamp" in name else "")
        lines.append(f"| p95 of answered and timed-out at {label} | {row['answered_p95_ms']:.1f} ms "
                     f"({100 * row['shed_share']:.0f} % shed) | <= {SLO_P95_MS:g} ms | "
                     f"{yes(r['checks'][f'slo_{name}'])} |")
    cpu = slo.get("0.9x", {}).get("cpu")
    if cpu:
        threads = ", ".join(f"{name} {cores:.2f}" for name, cores in sorted(cpu["threads"].items(),
                                                                          key=lambda kv: -kv[1]) if cores >= 0.01)
        lines.append(f"| CPU at 0.9x capacity (cores, of {r['cpus']}) | server {cpu['server_cores']:.2f} ({threads}); "
                     f"machine {cpu['machine_busy_cores']:.2f}, the load generator's included | | |")
    if r.get("workers"):
        w, t = r["workers"], r["threads2"]
        lines.append(f"| capacity, 1 worker x 2 onnxruntime threads on one row at a time / 2 workers x 1 thread | "
                     f"{t['capacity_rps'] or 0:g} /s / {w['capacity_rps'] or 0:g} /s (the default, 1 worker, "
                     f"1 thread a row, 2 rows side by side: {cap:g} /s) | | |")
    m = r["memory"]
    lines += [
        f"| resident memory, {m['seconds']} s at {m['rate_rps']:g} req/s | {m['rss_mb_start']} -> {m['rss_mb_end']} MB "
        f"(max {m['rss_mb_max']}) | flat | |",
        "",
        "| p50 / p95 at half capacity | intent accuracy (test split) | capacity | cost per million requests |",
        "|---|---|---|---|",
        f"| {summary['p50_ms']:.1f} / {summary['p95_ms']:.1f} ms at {summary['rate_rps']:g} req/s | "
        f"{summary['accuracy']} | {cap:g} req/s | ${summary['cost_per_million']:.3f} at "
        f"${summary['price_per_hour']:g}/h |",
        "",
        "Latency at each rate the capacity search offered (p50 / p95 ms, errors):",
        "",
        "| " + " | ".join(f"{s['rps']:g} /s" for s in lean["steps"]) + " |",
        "|" + "---|" * len(lean["steps"]),
        "| " + " | ".join(_cell(s) for s in lean["steps"]) + " |",
    ]
    return "\n".join(lines)


def yes(flag: bool) -> str:
    return "yes" if flag else "NO"


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
    parser.add_argument("--price-per-hour", type=float, default=DEFAULT_PRICE_PER_HOUR,
                        help="machine price for the cost row (default: a 2-vCPU on-demand cloud instance)")
    parser.add_argument("--no-workers", action="store_true", help="skip the 2-worker capacity search")
    args = parser.parse_args()
    if not (Path(args.model) / "manifest.json").is_file():
        print(f"bench: {args.model} is not an artifact (run `make model` first)", file=sys.stderr)
        return 2
    step_s = 3.0 if args.quick else 5.0
    search_s = 4.0 if args.quick else 10.0  # a capacity step: 5 s ones stopped at a VM stall's noise
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    texts = utterances(40_000)
    r: dict = {"cpus": os.cpu_count(), "model": args.model, "slo_p95_ms": SLO_P95_MS}
    r["low_load"] = low_load(args.model, texts, out, 5.0 if args.quick else 10.0, 1 if args.quick else 2)
    r["raw_batched"] = raw_best_throughput(args.model, texts)
    print("raw batched:", json.dumps(r["raw_batched"]), file=sys.stderr)
    with ServerProcess(args.model) as server:
        r["capacity_lean"] = capacity_lean(server.target, search_s, out)
        print("capacity (lean):", r["capacity_lean"]["capacity_rps"], file=sys.stderr)
        capacity, steps = grpcio_capacity(server.target, texts, 25.0, search_s, SLO_P95_MS,
                                          max_error_rate=CAPACITY_ERROR_BUDGET)
        r["capacity_grpcio"] = {"capacity_rps": capacity, "steps": steps}
        cap = r["capacity_lean"]["capacity_rps"] or 1.0
        r["overload"] = overload(server.target, texts[20_000:], cap, step_s)
        r["slo"] = slo_kept(server.target, cap, 2 * step_s, server.proc.pid)
        r["memory"] = memory(server, round(cap / 2, 1), 15 if args.quick else 30)
    if not args.no_workers:
        with ServerProcess(args.model, "--intra-op-threads", "2") as threads:
            r["threads2"] = capacity_lean(threads.target, search_s, out, "-2threads")
        with ServerProcess(args.model, "--workers", "2", "--intra-op-threads", "1") as workers:
            r["workers"] = capacity_lean(workers.target, search_s, out, "-2workers")
    manifest = json.loads((Path(args.model) / "manifest.json").read_text())
    test = manifest.get("metrics", {}).get("test", {})
    accuracy = test.get("intent_accuracy")
    r["summary"] = {"rate_rps": r["memory"]["rate_rps"], "p50_ms": r["memory"]["p50_ms"],
                    "p95_ms": r["memory"]["p95_ms"],
                    "accuracy": "n/a" if accuracy is None else f"{100 * accuracy:.1f} % (n={test.get('n')})",
                    "price_per_hour": args.price_per_hour,
                    "cost_per_million": args.price_per_hour / (cap * 3600) * 1e6}
    low, raw = r["low_load"], r["raw_batched"]
    over = r["overload"]
    r["checks"] = {
        "low_load_p50": low["service_p50_ms"] <= low["budget_ms"],
        "capacity_lean": cap >= 0.6 * raw["best_rps"],
        "capacity_grpcio": (r["capacity_grpcio"]["capacity_rps"] or 0) >= 0.5 * raw["best_rps"],
        "goodput_lean": over["lean"]["ok_per_s"] >= 0.8 * cap,
        "goodput_grpcio": over["grpcio"]["ok_per_s"] >= 0.8 * cap,
        **{f"slo_{k}": (v["answered_p95_ms"] or 1e9) <= SLO_P95_MS for k, v in r["slo"].items()},
    }
    (out / "bench.json").write_text(json.dumps(r, indent=2))
    (out / "bench.md").write_text(markdown(r) + "\n")
    print((out / "bench.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
