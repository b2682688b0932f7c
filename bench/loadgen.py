"""The load generator's own cost: `intentd loadtest` against echo servers that do no work.

    python -m bench.loadgen [--rate 2000] [--duration 20] [--out bench-results]

Against `intentd.loadtest.echo_server` (a gRPC echo that costs the server tens of
microseconds a call) the latency the generator reports is what it adds itself, plus the
loopback: the figure the loadtest issue bounds (p99 under 2 ms at 2,000 req/s on 2 cores).
The same run against a grpcio (grpc.aio) echo server shows what a Python gRPC server costs
by comparison. CPU seconds per request of the generator and of each server come from
/proc. Writes loadgen.json, loadgen.md and a latency-over-time PNG per server under --out.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
P99_TARGET_MS = 2.0

GRPCIO_ECHO = textwrap.dedent(
    """
    import asyncio, grpc, uvloop

    async def echo(request, context):
        return request

    async def main():
        server = grpc.aio.server()
        handler = grpc.method_handlers_generic_handler(
            "intentd.v1.IntentService", {"Analyze": grpc.unary_unary_rpc_method_handler(echo)})
        server.add_generic_rpc_handlers((handler,))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        print(port, flush=True)
        await server.wait_for_termination()

    uvloop.run(main())
    """
)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_against(name: str, command: list[str], rate: float, duration: float, out: Path) -> dict:
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        port = server.stdout.readline().strip()
        if not port.isdigit():
            raise RuntimeError(f"{name} echo server did not start")
        server_cpu = cpu_seconds(server.pid)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        generator = subprocess.Popen(
            [sys.executable, "-m", "intentd", "loadtest", "--target", f"127.0.0.1:{port}",
             "--rate", str(rate), "--duration", str(duration), "--warmup", "200",
             "--json", "--no-progress", "--plot", str(out / f"loadgen-{name}.png")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        stdout, stderr = generator.communicate()  # reaps it: its CPU joins RUSAGE_CHILDREN
        server_cpu = cpu_seconds(server.pid) - server_cpu
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        generator_cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    finally:
        server.terminate()
        server.wait(10)
    if generator.returncode not in (0, 1):
        raise RuntimeError(f"loadtest failed: {stderr.strip()}")
    result = json.loads(stdout)
    requests = result["ok"] + result["error_count"]
    return {
        "server": name,
        "offered_rps": rate,
        "achieved_rps": result["achieved_rps"],
        "errors": result["errors"],
        "latency_ms": result["latency_ms"],
        "send_lag_ms": result["send_lag_ms"],
        "server_cpu_us_per_request": round(server_cpu / max(requests, 1) * 1e6, 1),
        # Includes the generator's start-up, warm-up and report (about a second of CPU).
        "generator_cpu_us_per_request": round(generator_cpu / max(requests, 1) * 1e6, 1),
    }


def markdown(rows: list[dict], duration: float) -> str:
    lines = [
        f"# Load generator overhead ({os.cpu_count()} CPUs, generator and echo server on the "
        f"same cores, {duration:g} s per run)",
        "",
        "| echo server | offered req/s | achieved req/s | p50 ms | p99 ms | p99.9 ms | max ms "
        "| send lag p99 ms | errors | server CPU us/req | generator CPU us/req |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lat = row["latency_ms"] or {}
        lines.append(
            f"| {row['server']} | {row['offered_rps']:g} | {row['achieved_rps']:g} | "
            f"{lat.get('p50', float('nan')):.2f} | {lat.get('p99', float('nan')):.2f} | "
            f"{lat.get('p99.9', float('nan')):.2f} | {lat.get('max', float('nan')):.2f} | "
            f"{row['send_lag_ms']['p99']:.2f} | {sum(row['errors'].values())} | "
            f"{row['server_cpu_us_per_request']:g} | {row['generator_cpu_us_per_request']:g} |"
        )
    minimal = rows[0]
    verdict = minimal["latency_ms"]["p99"] < P99_TARGET_MS and not minimal["errors"]
    lines += [
        "",
        f"- generator p99 against the minimal echo server under {P99_TARGET_MS:g} ms at "
        f"{minimal['offered_rps']:g} req/s with no errors: {'yes' if verdict else 'NO'}",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=REPO / "bench-results")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    script = args.out / "grpcio_echo.py"
    script.write_text(GRPCIO_ECHO)
    servers = {
        "minimal": [sys.executable, "-m", "intentd.loadtest.echo_server"],
        "grpcio": [sys.executable, str(script)],
    }
    rows = []
    for name, command in servers.items():
        rows.append(run_against(name, command, args.rate, args.duration, args.out))
        print(f"{name}: {json.dumps(rows[-1])}", file=sys.stderr)
        time.sleep(1.0)
    (args.out / "loadgen.json").write_text(json.dumps(rows, indent=2))
    report = markdown(rows, args.duration)
    (args.out / "loadgen.md").write_text(report + "\n")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
