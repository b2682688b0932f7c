"""`make bench-peers`: intentd against PyTriton serving the same ONNX file, one client for both (issue 12).

    python bench/peers.py [--model models/artifacts/example] [--out bench-results] [--rounds 3]
                          [--pytriton-python .venv/peers/bin/python] [--quick]

Figures: p50 at 20 req/s and capacity (highest rate with p95 <= 25 ms and no errors, the load
tester's search) for each server, and their ratio; issue 12 asks for capacity >= 1.5 x PyTriton's.

The two servers, cache off on both, each alone on the machine in its turn (intentd, PyTriton,
intentd, PyTriton, ... for --rounds):
- intentd: `intentd serve --cache-size 0 --intra-op-threads 1` (its default on 2 cores), the INT8
  graph one row at a time; per request it also calibrates, decodes and resolves entities, scores
  OOD and builds the response.
- PyTriton: Triton's dynamic batcher (max batch 32, max queue delay 500 us) hands batches to one
  Python callable bound with @batch. It tokenises them with the artifact's tokenizer.json
  (`tokenizers`, dynamic padding and truncation as saved by `intentd train`) and runs the same
  graph file as intentd serves (the manifest's `model`, model.int8.onnx) in onnxruntime with
  intentd's session options, one row at a time on its own tokens: the dynamic-INT8 graph's
  answers depend on the batch it runs in, so batching its rows would change them. It answers the
  top intent and the intent logits only, so it does less work per request than intentd.
PyTriton needs numpy < 2 and protobuf < 7, which intentd's venv does not have, so its server runs
in a venv of its own (`make bench-peers` makes .venv/peers, with intentd's onnxruntime and
tokenizers versions) as `python bench/peers.py --serve-pytriton`, a mode that imports only
pytriton, onnxruntime, tokenizers and numpy.

The client: bench/grpcio_load.py's open loop (grpc.aio on uvloop, Poisson arrivals, latency from
the scheduled send time, 20 warm-up calls) with the call as a parameter, run in intentd's venv for
both servers; only the message differs: intentd's Analyze, or Triton's ModelInfer with the text as
a BYTES tensor [1, 1]. Triton's messages are built from a subset of its grpc_service.proto (same
field numbers), compiled at run time with grpc_tools: tritonclient's own stubs need protobuf < 7.
The client runs on the same cores as the server. Writes peers.json and peers.md under --out.
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
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SLO_P95_MS = 25.0
LOW_RATE = 20.0
TARGET_RATIO = 1.5
PYTRITON_MODEL = "intent"
MAX_BATCH = 32
MAX_QUEUE_DELAY_US = 500
AGREEMENT_TEXTS = 200

# The messages of Triton's ModelInfer, field numbers as in its grpc_service.proto (unused fields left out).
TRITON_PROTO = """
syntax = "proto3";
package inference;
service GRPCInferenceService {
  rpc ModelInfer(ModelInferRequest) returns (ModelInferResponse) {}
}
message InferTensorContents { repeated bytes bytes_contents = 8; }
message ModelInferRequest {
  message InferInputTensor {
    string name = 1;
    string datatype = 2;
    repeated int64 shape = 3;
    InferTensorContents contents = 5;
  }
  string model_name = 1;
  repeated InferInputTensor inputs = 5;
}
message ModelInferResponse {
  message InferOutputTensor {
    string name = 1;
    string datatype = 2;
    repeated int64 shape = 3;
  }
  repeated InferOutputTensor outputs = 5;
  repeated bytes raw_output_contents = 6;
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the PyTriton server (runs in the PyTriton venv) ---------------------------------------------

def onnx_session(graph: Path):
    """intentd's session options at its default on 2 cores (server/model.py, --spin run), and
    the fusion it leaves off on CPU (`CPU_NO_FUSIONS`; this venv has no intentd to import)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.force_spinning_stop", "1")
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(graph), sess_options=options, providers=["CPUExecutionProvider"],
                                disabled_optimizers=["SkipLayerNormFusion"])


def serve_pytriton(model_dir: Path, port: int, log_path: Path, stats_path: Path) -> None:
    """Serve the artifact's graph with PyTriton on `port` (gRPC); print the port once the model is
    ready, log everything else to `log_path`, stop on SIGTERM and write the batches the callable
    saw (rows, seconds) to `stats_path`."""
    ready_out = os.fdopen(os.dup(1), "w")
    with open(log_path, "a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)

    # Triton's Python backend stub links libpython3.X.so: let it load this interpreter's own, not
    # another patch release's from the system library path, which breaks the stdlib it imports.
    libdir = sysconfig.get_config_var("LIBDIR")
    if sysconfig.get_config_var("Py_ENABLE_SHARED") and libdir:
        os.environ["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [libdir, os.environ.get("LD_LIBRARY_PATH")]))

    import numpy as np
    from pytriton.decorators import batch
    from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
    from pytriton.triton import Triton, TritonConfig
    from tokenizers import Tokenizer

    manifest = json.loads((model_dir / "manifest.json").read_text())
    tokenizer = Tokenizer.from_file(str(model_dir / manifest["tokenizer"]))
    session = onnx_session(model_dir / manifest["model"])
    row_wise = manifest["model"] in manifest.get("batch_dependent", ())
    batches: list[tuple[int, float]] = []

    @batch
    def infer(text: np.ndarray) -> dict[str, np.ndarray]:
        start = time.perf_counter()
        encodings = tokenizer.encode_batch([t[0].decode() for t in text])
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        if row_wise:
            lengths = mask.sum(axis=1)
            logits = np.concatenate([session.run(None, {"input_ids": ids[i:i + 1, :n],
                                                        "attention_mask": mask[i:i + 1, :n]})[0]
                                     for i, n in enumerate(lengths)])
        else:
            logits = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        batches.append((len(text), time.perf_counter() - start))
        return {"intent": logits.argmax(axis=1).astype(np.int32)[:, None], "intent_logits": logits.astype(np.float32)}

    config = TritonConfig(grpc_port=port, http_port=free_port(), metrics_port=free_port(), log_verbose=0)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with Triton(config=config) as triton:
        triton.bind(model_name=PYTRITON_MODEL, infer_func=infer,
                    inputs=[Tensor(name="text", dtype=bytes, shape=(1,))],
                    outputs=[Tensor(name="intent", dtype=np.int32, shape=(1,)),
                             Tensor(name="intent_logits", dtype=np.float32, shape=(-1,))],
                    config=ModelConfig(max_batch_size=MAX_BATCH,
                                       batcher=DynamicBatcher(max_queue_delay_microseconds=MAX_QUEUE_DELAY_US)))
        triton.run()
        print(port, file=ready_out, flush=True)
        stop.wait()
    stats_path.write_text(json.dumps(batches))


# -- the client (runs in intentd's venv) -----------------------------------------------------------

@dataclass
class Peer:
    """How the one client talks to one server: the call on a channel, a request per text, and
    the top intent read back from an answer (to check both serve the same model)."""

    name: str
    call: Callable[[Any], Any]  # grpc.aio.Channel -> UnaryUnaryMultiCallable
    request: Callable[[str], Any]
    top_intent: Callable[[Any], str]


def intentd_peer() -> Peer:
    from intentd.protogen import import_stubs

    pb2, pb2_grpc = import_stubs()
    return Peer("intentd", lambda channel: pb2_grpc.IntentServiceStub(channel).Analyze,
                lambda text: pb2.AnalyzeRequest(text=text), lambda answer: answer.intents[0].name)


def triton_peer(labels: list[str]) -> Peer:
    import grpc
    import numpy as np

    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "triton_infer.proto").write_text(TRITON_PROTO)
        sys.path.insert(0, folder)
        try:
            pb2, pb2_grpc = grpc.protos_and_services("triton_infer.proto")
        finally:
            sys.path.remove(folder)

    def request(text: str):
        tensor = pb2.ModelInferRequest.InferInputTensor(name="text", datatype="BYTES", shape=[1, 1])
        tensor.contents.bytes_contents.append(text.encode())
        return pb2.ModelInferRequest(model_name=PYTRITON_MODEL, inputs=[tensor])

    def top_intent(answer) -> str:
        index = [o.name for o in answer.outputs].index("intent")
        return labels[int(np.frombuffer(answer.raw_output_contents[index], dtype="<i4")[0])]

    return Peer("PyTriton", lambda channel: pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer, request, top_intent)


async def open_loop(target: str, peer: Peer, requests: list, rate: float, duration: float, seed: int) -> dict:
    from bench import grpcio_load  # the same client for every server

    return await grpcio_load.open_loop(target, peer.call, requests, rate, duration, seed)


async def top_intents(target: str, peer: Peer, texts: list[str]) -> list[str]:
    import grpc

    async with grpc.aio.insecure_channel(target) as channel:
        call = peer.call(channel)
        return [peer.top_intent(await call(peer.request(text), timeout=10)) for text in texts]


def uvloop_run(coro):
    import uvloop

    return uvloop.run(coro)


def capacity(target: str, peer: Peer, requests: list, step_s: float) -> dict:
    """Highest rate whose p95 meets the SLO with at most CAPACITY_ERROR_BUDGET errors (the load
    tester's search, as `make bench` runs it)."""
    from bench import grpcio_load

    found, steps = grpcio_load.search_capacity(
        lambda rate, seed: uvloop_run(open_loop(target, peer, requests, rate, step_s, seed)), f"  {peer.name}",
        SLO_P95_MS, max_error_rate=grpcio_load.CAPACITY_ERROR_BUDGET)
    return {"capacity_rps": found, "steps": steps}


def measure(target: str, peer: Peer, texts: list[str], low_s: float, step_s: float) -> dict:
    requests = [peer.request(t) for t in texts]
    low = uvloop_run(open_loop(target, peer, requests[10_000:], LOW_RATE, low_s, seed=100))
    print(f"  {peer.name}: p50 at {LOW_RATE:g} req/s {low['p50_ms']:.2f} ms (p95 {low['p95_ms']:.2f})",
          file=sys.stderr)
    return {"low_load": low, **capacity(target, peer, requests, step_s)}


def pytriton_server(python: str, model: str, out: Path):
    from bench.run import ServerProcess

    log = out / "pytriton.log"
    command = [python, str(Path(__file__).resolve()), "--serve-pytriton", "--model", model,
               "--port", str(free_port()), "--log", str(log), "--stats", str(out / "pytriton-batches.json")]
    try:
        return ServerProcess(None, command=command)
    except ValueError:  # it exited without printing its port
        tail = log.read_text(errors="replace").strip().splitlines()[-5:] if log.is_file() else []
        raise SystemExit("bench-peers: the PyTriton server did not start; the end of " + str(log) + ":\n"
                         + "\n".join(line[:400] for line in tail)) from None


class CpuShare:
    """CPU that processes outside this run (not this process or its descendants) and the
    hypervisor (steal) took while a server had its turn, as shares of the machine: a turn that
    shared the cores with other work reads slower than the server is."""

    def __init__(self) -> None:
        self.start = self.sample()

    @staticmethod
    def sample() -> tuple[int, int, int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        user, nice, system, idle, iowait, irq, softirq, steal = fields
        busy = user + nice + system + irq + softirq
        return busy, busy + idle + iowait + steal, steal, ours()

    def shares(self) -> dict:
        (b0, t0, s0, o0), (b1, t1, s1, o1) = self.start, self.sample()
        total = max(1, t1 - t0)
        return {"others": max(0.0, (b1 - b0) - (o1 - o0)) / total, "steal": (s1 - s0) / total}


def ours() -> int:
    """CPU ticks of this process and its descendants, living or reaped."""
    parents, ticks = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):  # the process ended meanwhile
            continue
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        ticks[pid] = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    family = {os.getpid()}
    while (grown := family | {pid for pid, parent in parents.items() if parent in family}) != family:
        family = grown
    return sum(ticks.get(pid, 0) for pid in family)


def versions(python: str) -> dict:
    code = ("import json, importlib.metadata as m; print(json.dumps({p: m.version(p) for p in "
            "('nvidia-pytriton', 'onnxruntime', 'tokenizers', 'numpy')}))")
    theirs = json.loads(subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout)
    import importlib.metadata as m

    ours = {p: m.version(p) for p in ("grpcio", "onnxruntime", "tokenizers", "numpy")}
    return {"pytriton_venv": theirs, "intentd_venv": ours}


# -- report ----------------------------------------------------------------------------------------

def markdown(r: dict) -> str:
    i, p = r["intentd"], r["pytriton"]
    ratio = r["capacity_ratio"]
    rounds = len(i["rounds"])
    lines = [
        f"# intentd vs PyTriton: same ONNX file, same client ({r['cpus']} CPUs, client on the same cores, "
        f"cache off, {rounds} round{'s' * (rounds > 1)}, servers taking turns)",
        "",
        "| figure (best round) | intentd | PyTriton | intentd / PyTriton | target |",
        "|---|---|---|---|---|",
        f"| p50 at {LOW_RATE:g} req/s | {i['low_load_p50_ms']:.2f} ms | {p['low_load_p50_ms']:.2f} ms | "
        f"{i['low_load_p50_ms'] / p['low_load_p50_ms']:.2f} x | |",
        f"| capacity at p95 <= {SLO_P95_MS:g} ms, no errors | {_rate(i['capacity_rps'])} | {_rate(p['capacity_rps'])} | "
        f"{'n/a' if ratio is None else f'{ratio:.2f} x'} | >= {TARGET_RATIO:g} x: "
        f"{'n/a' if ratio is None else ('met' if ratio >= TARGET_RATIO else 'NOT met')} |",
        "",
        "Each round: p50 at 20 req/s, capacity, and the CPU other processes (and the hypervisor, steal) took "
        "from the machine during the server's turn; rounds that shared the cores read slower.",
        "",
        "| round | server | p50 at 20 req/s | capacity | other processes / steal | PyTriton callable |",
        "|---|---|---|---|---|---|",
    ]
    for n, (a, b) in enumerate(zip(i["rounds"], p["rounds"]), 1):
        for name, row in (("intentd", a), ("PyTriton", b)):
            call = row.get("callable") or {}
            lines.append(
                f"| {n} | {name} | {row['low_load']['p50_ms']:.2f} ms | {_rate(row['capacity_rps'])} | "
                f"{100 * row['cpu']['others']:.0f} % / {100 * row['cpu']['steal']:.0f} % | "
                + (f"{call['callable_ms_per_row_p50']:.2f} ms a row (median), {call['mean_rows_per_batch']:.2f} rows "
                   f"a batch (max {call['max_rows_per_batch']})" if call else "") + " |")
    per_round = [(a["capacity_rps"] or 0) / b["capacity_rps"] for a, b in zip(i["rounds"], p["rounds"])
                 if b["capacity_rps"]]
    a = r["agreement"]
    lines += [
        "",
        "Capacity ratio within each round (turns next to each other in time): "
        + (", ".join(f"{x:.2f} x" for x in per_round) or "n/a") + ".",
        "",
        f"Same model on both: top intent agrees on {a['same']} of {a['texts']} texts.",
        "",
        "- Both: the artifact's `" + r["graph"] + "` and `tokenizer.json`; onnxruntime, 1 intra-op thread, "
        "the same session options; the same open-loop grpc.aio client (Poisson arrivals, latency from the "
        "scheduled send time, the load tester's capacity search, "
        f"{r['step_s']:g} s a step) on the same cores as the server; the same generated texts, none repeated.",
        f"- PyTriton: Triton's dynamic batcher (max batch {MAX_BATCH}, max queue delay {MAX_QUEUE_DELAY_US} us), "
        "one `@batch` callable that tokenises the batch (dynamic padding) and runs "
        + ("the graph one row at a time on its own tokens, as intentd does (the INT8 graph's answers depend on "
           "its batch)" if r["row_wise"] else "the graph on the padded batch")
        + "; it answers the top intent and the intent logits only. 'PyTriton callable': its own time "
        "(tokenise + forward passes) over the whole turn.",
        "- intentd: `intentd serve --cache-size 0 --intra-op-threads 1`; per request it also calibrates, "
        "decodes and resolves entities, scores OOD and builds the full response: more work per request "
        "than the PyTriton callable.",
        f"- Versions: PyTriton venv {_versions(r['versions']['pytriton_venv'])}; "
        f"intentd venv {_versions(r['versions']['intentd_venv'])}.",
        "- Best round: other work on shared cores only ever makes a server look slower. Still one run on a "
        "2-core machine: rerun before quoting a ratio near the target.",
        "",
        "Capacity search steps (offered req/s: p50 / p95 ms):",
        "",
    ]
    for n in range(rounds):
        for name, side in (("intentd", i), ("PyTriton", p)):
            steps = sorted(side["rounds"][n]["steps"], key=lambda s: s["offered_rps"])
            lines.append(f"- round {n + 1}, {name}: " + ", ".join(
                f"{s['offered_rps']:g}: {s['p50_ms']:.1f} / {s['p95_ms']:.1f}"
                + (f" ({sum(s['errors'].values())} err)" if s["errors"] else "") for s in steps))
    return "\n".join(lines)


def _rate(rps: float | None) -> str:
    return "none passed" if rps is None else f"{rps:g} req/s"


def _versions(v: dict) -> str:
    return ", ".join(f"{k} {x}" for k, x in v.items())


def summarize(rounds: list[dict]) -> dict:
    """The best round: on shared cores other work only ever makes a server look slower."""
    return {"low_load_p50_ms": min(r["low_load"]["p50_ms"] for r in rounds),
            "capacity_rps": max((r["capacity_rps"] or 0.0 for r in rounds), default=0.0) or None,
            "rounds": rounds}


def batch_stats(path: Path) -> dict:
    """What the PyTriton callable saw over a turn: rows per batch, and its own time per row."""
    batches = json.loads(path.read_text()) if path.is_file() else []
    path.unlink(missing_ok=True)
    if not batches:
        return {}
    rows = sum(n for n, _ in batches)
    return {"batches": len(batches), "rows": rows, "mean_rows_per_batch": rows / len(batches),
            "max_rows_per_batch": max(n for n, _ in batches),
            "callable_ms_per_row_p50": 1e3 * statistics.median(t / n for n, t in batches)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(REPO / "models" / "artifacts" / "example"))
    parser.add_argument("--out", default=str(REPO / "bench-results"))
    parser.add_argument("--rounds", type=int, default=3, help="turns each server takes (default 3)")
    parser.add_argument("--pytriton-python", default=str(REPO / ".venv" / "peers" / "bin" / "python"),
                        help="the Python of the venv with nvidia-pytriton (make bench-peers makes it)")
    parser.add_argument("--quick", action="store_true", help="short steps, one round (a smoke run, not for figures)")
    parser.add_argument("--serve-pytriton", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--log", help=argparse.SUPPRESS)
    parser.add_argument("--stats", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_pytriton:
        serve_pytriton(Path(args.model), args.port, Path(args.log), Path(args.stats))
        return 0
    if not (Path(args.model) / "manifest.json").is_file():
        print(f"bench-peers: {args.model} is not an artifact (run `make model` first)", file=sys.stderr)
        return 2
    if not Path(args.pytriton_python).is_file():
        print(f"bench-peers: {args.pytriton_python} not found (`make bench-peers` makes the PyTriton venv)",
              file=sys.stderr)
        return 2

    sys.path.insert(0, str(REPO))  # `python bench/peers.py` from the repo root
    from bench.grpcio_load import utterances
    from bench.run import ServerProcess

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rounds = 1 if args.quick else args.rounds
    low_s, step_s = (5.0, 3.0) if args.quick else (10.0, 5.0)
    manifest = json.loads((Path(args.model) / "manifest.json").read_text())
    labels = json.loads((Path(args.model) / manifest["labels"]).read_text())["intents"]
    texts = utterances(40_000)
    peers = {"intentd": intentd_peer(), "pytriton": triton_peer(labels)}
    results: dict[str, list[dict]] = {"intentd": [], "pytriton": []}
    answers: dict[str, list[str]] = {}
    for n in range(rounds):
        for key, peer in peers.items():
            print(f"round {n + 1}/{rounds}: {peer.name}", file=sys.stderr)
            server = ServerProcess(args.model, "--intra-op-threads", "1") if key == "intentd" else \
                pytriton_server(args.pytriton_python, args.model, out)
            cpu = CpuShare()
            with server:
                if key not in answers:
                    answers[key] = uvloop_run(top_intents(server.target, peer, texts[-AGREEMENT_TEXTS:]))
                results[key].append({**measure(server.target, peer, texts, low_s, step_s), "cpu": cpu.shares()})
            if key == "pytriton":
                results[key][-1]["callable"] = batch_stats(out / "pytriton-batches.json")
            print(f"  CPU taken by other processes {100 * results[key][-1]['cpu']['others']:.0f} %, "
                  f"steal {100 * results[key][-1]['cpu']['steal']:.0f} % of the machine", file=sys.stderr)
    r: dict = {"cpus": os.cpu_count(), "model": args.model, "graph": manifest["model"],
               "row_wise": manifest["model"] in manifest.get("batch_dependent", ()),
               "slo_p95_ms": SLO_P95_MS, "step_s": step_s, "versions": versions(args.pytriton_python),
               "agreement": {"texts": AGREEMENT_TEXTS,
                             "same": sum(a == b for a, b in zip(answers["intentd"], answers["pytriton"]))},
               "intentd": {"intra_op_threads": 1, **summarize(results["intentd"])},
               "pytriton": {"intra_op_threads": 1, "max_batch": MAX_BATCH, "max_queue_delay_us": MAX_QUEUE_DELAY_US,
                            **summarize(results["pytriton"])}}
    ci, cp = r["intentd"]["capacity_rps"], r["pytriton"]["capacity_rps"]
    r["capacity_ratio"] = ci / cp if ci and cp else None
    (out / "peers.json").write_text(json.dumps(r, indent=2))
    (out / "peers.md").write_text(markdown(r) + "\n")
    print((out / "peers.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
