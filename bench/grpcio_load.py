"""An open-loop load client built on grpcio (grpc.aio on uvloop), the client most Python backends
use: the same Poisson arrivals and capacity search as `intentd loadtest`, so the two clients'
figures can be set side by side (grpcio's client costs ~250 us of CPU a call on the shared cores).

    python -m bench.grpcio_load --target 127.0.0.1:50051 --rate 100 --duration 10 [--deadline-ms 200]
    python -m bench.grpcio_load --target 127.0.0.1:50051 --find-capacity --slo-p95-ms 25
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import math
import random
import sys
from collections.abc import Callable

import numpy as np

from intentd.loadtest.recorder import percentiles


async def open_loop(target: str, call_of: Callable, requests: list, rate: float, duration: float, seed: int,
                    deadline_s: float | None = None, stamp: bool = True) -> dict:
    """Poisson arrivals at `rate` for `duration` seconds, latency from each request's due time.
    `call_of(channel)` is the unary call to drive (intentd's Analyze, or a peer server's), so
    every server is measured by the same client. `stamp`: each call carries its send time
    (x-request-start), as `intentd loadtest` sends it; a server that does not read it ignores it."""
    import grpc

    from intentd.loadtest.http2 import request_start

    rng = random.Random(seed)
    async with grpc.aio.insecure_channel(target) as channel:
        call = call_of(channel)
        for request in requests[:20]:  # warm the connection and the server
            await call(request, timeout=10)
        latencies: list[float] = []
        codes: collections.Counter[str] = collections.Counter()
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.05
        due, tasks, i = start, [], 20

        async def one(request, due_at: float) -> None:
            metadata = (request_start(),) if stamp else None
            try:
                await call(request, timeout=deadline_s, metadata=metadata)
            except grpc.RpcError as exc:
                codes[exc.code().name] += 1
                if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:  # counted as the load generator counts it
                    latencies.append(max(loop.time() - due_at, deadline_s or 0.0))
                return
            codes["OK"] += 1
            latencies.append(loop.time() - due_at)

        while due < start + duration:
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(one(requests[i % len(requests)], due)))
            i += 1
            due += rng.expovariate(rate)
        await asyncio.gather(*tasks)
    # the load generator's rank (nearest, rounding up), so the two clients' figures compare
    p50, p95, p99 = percentiles(np.array(latencies) * 1e3, (50, 95, 99)) if latencies else [math.nan] * 3
    return {"offered_rps": rate, "sent": len(tasks), "ok": codes["OK"], "errors": {k: v for k, v in codes.items()
                                                                                   if k != "OK"},
            "ok_per_s": codes["OK"] / duration, "p50_ms": p50, "p95_ms": p95, "p99_ms": p99}


def run(target: str, texts: list[str], rate: float, duration: float, deadline_s: float | None = None,
        seed: int = 0) -> dict:
    import uvloop

    from intentd.protogen import import_stubs

    pb2, pb2_grpc = import_stubs()
    requests = [pb2.AnalyzeRequest(text=t) for t in texts]
    return uvloop.run(open_loop(target, lambda channel: pb2_grpc.IntentServiceStub(channel).Analyze, requests,
                                rate, duration, seed, deadline_s))


# Errors a capacity step may have and still pass (1 %): a server that sheds to keep its p95
# refuses a few requests at Poisson bursts well below its limit; those refusals are its SLO at work.
CAPACITY_ERROR_BUDGET = 0.01


def search_capacity(step_at: Callable[[float, int], dict], label: str, slo_p95_ms: float, start: float = 25.0,
                    max_rate: float = 5000.0, max_error_rate: float = 0.0) -> tuple[float | None, list[dict]]:
    """Highest rate whose p95 meets the SLO with errors within `max_error_rate` (the load
    tester's search); `step_at(rate, seed)` runs one step."""
    from intentd.loadtest.capacity import Search

    search, steps = Search(start, max_rate, max_steps=14), []
    for rate in search:
        result = step_at(rate, len(steps))
        errors = sum(result["errors"].values())
        search.record(rate, errors <= max_error_rate * result["sent"] and result["p95_ms"] <= slo_p95_ms)
        steps.append(result)
        print(f"{label}: {rate:g} req/s p50 {result['p50_ms']:.1f} ms p95 {result['p95_ms']:.1f} ms "
              f"errors {result['errors'] or 0}", file=sys.stderr)
    return search.capacity, steps


def find_capacity(target: str, texts: list[str], start: float, duration: float, slo_p95_ms: float,
                  max_rate: float = 5000.0, max_error_rate: float = 0.0) -> tuple[float | None, list[dict]]:
    return search_capacity(lambda rate, seed: run(target, texts, rate, duration, seed=seed), "grpcio client",
                           slo_p95_ms, start, max_rate, max_error_rate)


def utterances(n: int, seed: int = 1) -> list[str]:
    """The load tester's generated texts (none repeats), so both clients send alike."""
    import itertools

    from intentd.loadtest.utterances import unique_utterances

    return list(itertools.islice(unique_utterances(seed), n))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", required=True)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--deadline-ms", type=float)
    parser.add_argument("--find-capacity", action="store_true")
    parser.add_argument("--slo-p95-ms", type=float, default=25.0)
    args = parser.parse_args(argv)
    texts = utterances(20_000)
    if args.find_capacity:
        capacity, steps = find_capacity(args.target, texts, args.rate, args.duration, args.slo_p95_ms)
        print(json.dumps({"capacity_rps": capacity, "steps": steps}))
    else:
        deadline = args.deadline_ms / 1e3 if args.deadline_ms else None
        print(json.dumps(run(args.target, texts, args.rate, args.duration, deadline)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
