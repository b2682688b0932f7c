"""Where a request's CPU goes: the served process's CPU per request under load, split into the
stages of the request path.

    python -m bench.profile [--model models/artifacts/example] [--rate 60] [--seconds 20] [--out bench-results]

1. `intentd serve` (cache off) under open-loop load: its CPU seconds (/proc, every thread,
   onnxruntime's included) divided by the requests it answered;
2. the same texts through each stage in-process, one request at a time and paced at the same
   rate (between requests the caches go cold as they do in the server: post-processing costs
   ~4x more right after a forward pass than in a tight loop), with the server's onnxruntime
   thread count, timed with the process's CPU clock: admission, tokenise, forward, decode, OOD,
   resolve, respond (responder and proto conversion);
3. gRPC + batching (transport, handler, queue, thread hand-offs, metrics) is what remains; a
   do-nothing grpc.aio server under the same load shows how much of it the transport alone costs.
A sampling profiler cannot split this reliably here (an idle thread waiting in the event loop
or a queue looks busy to it), hence the measured remainder. Writes profile.json / profile.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.loadgen import GRPCIO_ECHO  # noqa: E402
from bench.run import ServerProcess, cpu_s  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def served_cpu_per_request(server: ServerProcess, rate: float, seconds: float) -> dict:
    with server:
        before = cpu_s(Path(f"/proc/{server.proc.pid}/stat"))
        out = subprocess.run([sys.executable, "-m", "intentd", "loadtest", "--target", server.target, "--rate",
                              str(rate), "--duration", str(seconds), "--warmup", "0", "--json", "--no-progress"],
                             capture_output=True, text=True)
        cpu = cpu_s(Path(f"/proc/{server.proc.pid}/stat")) - before
    result = json.loads(out.stdout)
    answered = result["ok"] + result["error_count"]
    return {"cpu_us_per_request": cpu / max(1, answered) * 1e6, "requests": answered,
            "latency_ms": result["latency_ms"], "server_ms": result.get("server_ms")}


def stage_costs(model: str, texts: list[str], rate: float) -> dict[str, float]:
    """Mean CPU microseconds per request of each in-process stage, one request at a time, `rate`
    requests a second."""
    from threadpoolctl import threadpool_limits

    from intentd.protogen import import_stubs
    from intentd.server import convert
    from intentd.server.admission import admit
    from intentd.server.analysis import Analysis
    from intentd.server.batcher import Result
    from intentd.server.engine import Engine

    threadpool_limits(1, user_api="blas")
    pb2, _ = import_stubs()
    from intentd.server.config import Settings

    settings = Settings(model=model)
    engine = Engine.load(model, intra_op_threads=settings.onnx_threads,  # as `intentd serve`
                         row_threads=settings.onnx_row_threads)
    engine.warm_up()
    cost = dict.fromkeys(("admission", "tokenise", "forward", "decode", "OOD", "resolve", "respond"), 0.0)
    clock = time.process_time
    for text in texts:
        time.sleep(1.0 / rate)
        request = pb2.AnalyzeRequest(text=text)
        t0 = clock()
        _, options = admit(request, max_chars=2000, default_top_k=5, max_top_k=1000)
        t1 = clock()
        encodings = engine.tokenize([text])
        t2 = clock()
        forwarded = engine.forward(encodings)
        t3 = clock()
        model = engine.model
        prediction = model.decode([text], forwarded.batch, forwarded.raw, top_k=5)[0]
        t4 = clock()
        raw = forwarded.raw
        model.ood.method_scores(raw.embedding, raw.intent_logits, raw.intent_logits)  # its share of decode
        t5 = clock()
        entities = engine.resolver.resolve(text, prediction.entities, options, prediction.intent)
        t6 = clock()
        escalation = engine.escalation.decide(prediction)
        response = engine.responder.respond(prediction.intent, entities, escalation, options)
        analysis = Analysis(prediction, entities, escalation, response, engine.version)
        convert.analyze_response(analysis, convert.timing(Result(analysis), 0.0), engine.ood_threshold)
        t7 = clock()
        cost["admission"] += t1 - t0
        cost["tokenise"] += t2 - t1
        cost["forward"] += t3 - t2
        cost["OOD"] += t5 - t4
        cost["decode"] += (t4 - t3) - (t5 - t4)
        cost["resolve"] += t6 - t5
        cost["respond"] += t7 - t6
    return {stage: total / len(texts) * 1e6 for stage, total in cost.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(REPO / "models" / "artifacts" / "example"))
    parser.add_argument("--rate", type=float, default=60.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--out", default=str(REPO / "bench-results"))
    args = parser.parse_args(argv)
    from intentd.loadtest.utterances import unique_utterances

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    served = served_cpu_per_request(ServerProcess(args.model), args.rate, args.seconds)
    echo_script = out / "grpcio_echo.py"
    echo_script.write_text(GRPCIO_ECHO)
    echo = served_cpu_per_request(ServerProcess(None, command=[sys.executable, str(echo_script)]), args.rate,
                                  args.seconds)
    stages = stage_costs(args.model, list(itertools.islice(unique_utterances(11), 400)), args.rate)
    total = served["cpu_us_per_request"]
    rows = {"gRPC + batching (remainder)": max(0.0, total - sum(stages.values())), **stages}
    report = {"rate_rps": args.rate, "seconds": args.seconds, "served": served, "cpu_us_per_request": rows,
              "echo_server": echo}
    (out / "profile.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"CPU per request: `intentd serve` at {args.rate:g} req/s for {args.seconds:g} s "
             f"({served['requests']} requests), {total:.0f} us in all; stages measured in-process", "",
             "| stage | CPU us per request | share |", "|---|---|---|"]
    lines += [f"| {stage} | {us:.0f} | {100 * us / total:.0f} % |" for stage, us in rows.items()]
    lines += ["", f"A do-nothing grpc.aio server under the same load: {echo['cpu_us_per_request']:.0f} us per request."]
    (out / "profile.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
