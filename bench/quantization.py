"""Which graph to serve: accuracy, batch-1 latency, batched throughput and batch independence of
each candidate, from one artifact's FP32 graph, measured in one run.

    python -m bench.quantization [--model models/artifacts/example] [--data models/domains/banking]
                                 [--out bench-results] [--rounds 3]

Candidates: dynamic INT8 run one row at a time (what `intentd train` serves: the input INT8
resolves worst left in FP32, models/export.py), the same with onnxruntime's SkipLayerNormalization
fusion (its default, left off when serving on CPU), the same with every input quantised, and batched
(one activation scale per batch tensor), the FP32 graph with fused kernels, static INT8 (QDQ,
activation scales calibrated on the training texts), and weight-only 8-bit and 4-bit
(MatMulNBits, activations quantised per row in blocks of 32). Each candidate is put in a copy of
the artifact and scored through the serving path (`Engine`), in batches of 64 and one query at a
time; "neighbour diff" is the largest change of any intent logit or embedding value when a query
is computed beside 31 random others instead of alone. Latency and throughput rounds interleave
the candidates, so the machine's drifting speed hits each alike; medians over rounds. Writes
quantization.json / .md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def make_candidates(artifact: Path, train_texts: list[str], folder: Path) -> dict[str, str]:
    """Write each candidate graph into `folder`; returns label -> file name."""
    import onnx

    from intentd.server.ortimport import onnxruntime

    onnxruntime()  # before onnxruntime.quantization imports it: its telemetry file kept out of /tmp
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer

    from intentd.models.export import quantize_int8
    from intentd.server.artifact import load_artifact
    from intentd.server.tokenize import TextEncoder

    manifest = load_artifact(artifact).manifest
    fp32 = artifact / manifest["model_fp32"]
    files = {"dynamic INT8, one row at a time, the coarsest input in FP32 (served)": manifest["model"],
             "dynamic INT8, batched (one activation scale per batch)": manifest["model"],
             "FP32, fused kernels, batched": manifest["model_fp32"]}
    encoder = TextEncoder.from_file(artifact / manifest["tokenizer"])

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            batches = [encoder.encode(train_texts[i:i + 16]) for i in range(0, min(len(train_texts), 512), 16)]
            self._batches = iter(batches)

        def get_next(self):
            batch = next(self._batches, None)
            return None if batch is None else {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}

    fused = "candidate.int8-skip-layer-norm.onnx"
    fuse_skip_layer_norm(artifact / manifest["model"], folder / fused)
    files["dynamic INT8, one row at a time, the coarsest input in FP32, SkipLayerNormalization fused"] = fused
    every = "candidate.int8-every-input.onnx"
    quantize_int8(fp32, folder / every)
    files["dynamic INT8, one row at a time, every input quantised"] = every
    static = "candidate.qdq.onnx"
    quantize_static(str(fp32), str(folder / static), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                    extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    files["static INT8 (QDQ, calibrated activation scales)"] = static
    for bits in (8, 4):
        quantizer = MatMulNBitsQuantizer(onnx.load(str(fp32)), algo_config=DefaultWeightOnlyQuantConfig(
            block_size=32, is_symmetric=True, accuracy_level=4, bits=bits))
        quantizer.process()
        name = f"candidate.nbits{bits}.onnx"
        quantizer.model.save_model_to_file(str(folder / name), False)
        files[f"weight-only {bits}-bit (per-row int8 activations)"] = name
    return files


def fuse_skip_layer_norm(src: Path, dst: Path) -> None:
    """`src` as onnxruntime optimises it by default, residual Add + LayerNormalization fused into
    SkipLayerNormalization (as `intentd train` exported graphs before; server/model.py
    `CPU_NO_FUSIONS`), saved so that serving keeps the fused nodes."""
    from intentd.server.ortimport import onnxruntime

    ort = onnxruntime()

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(dst)
    ort.InferenceSession(str(src), sess_options=options, providers=["CPUExecutionProvider"])


def candidate_artifact(artifact: Path, graph: Path, folder: Path, row_wise: bool) -> Path:
    """A copy of the artifact (files hard-linked) that serves `graph`, batched or row by row."""
    from intentd.models.build import write_manifest

    folder.mkdir()
    for f in artifact.iterdir():
        if f.name != "manifest.json":
            os.link(f, folder / f.name)
    if not (folder / graph.name).exists():
        os.link(graph, folder / graph.name)
    elif not os.path.samefile(graph, folder / graph.name):
        raise ValueError(f"{graph}: a candidate must not take the name of an artifact file")
    manifest = json.loads((artifact / "manifest.json").read_text())
    manifest["model"] = graph.name
    manifest["batch_dependent"] = [graph.name] if row_wise else []
    write_manifest(folder, manifest)
    return folder


def neighbour_diff(engine, texts: list[str], trials: int = 40, seed: int = 3) -> tuple[float, int]:
    rng = random.Random(seed)
    worst, flips = 0.0, 0
    for query in rng.sample(texts, min(trials, len(texts))):
        batch = rng.sample(texts, 31)
        position = rng.randrange(32)
        batch.insert(position, query)
        together = engine.forward(engine.tokenize(batch)).raw
        alone = engine.forward(engine.tokenize([query])).raw
        for a, b in ((together.intent_logits[position], alone.intent_logits[0]),
                     (together.embedding[position], alone.embedding[0])):
            worst = max(worst, float(np.abs(a - b).max()))
        flips += int(together.intent_logits[position].argmax() != alone.intent_logits[0].argmax())
    return worst, flips


def speed_round(engine, texts: list[str]) -> tuple[float, float]:
    """(median batch-1 tokenise + forward ms, texts/s in length-grouped batches of 32)."""
    times = []
    for text in texts[:120]:
        start = time.perf_counter()
        engine.forward(engine.tokenize([text]))
        times.append(time.perf_counter() - start)
    ordered = sorted(texts, key=len)
    start = time.perf_counter()
    for i in range(0, len(ordered), 32):
        engine.forward(engine.tokenize(ordered[i:i + 32]))
    return statistics.median(times) * 1e3, len(ordered) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(REPO / "models" / "artifacts" / "example"))
    parser.add_argument("--data", default=str(REPO / "models" / "domains" / "banking"),
                        help="folder with train.jsonl (calibration texts) and test.jsonl (scoring)")
    parser.add_argument("--out", default=str(REPO / "bench-results"))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    from threadpoolctl import threadpool_limits

    from intentd.models.data.schema import read_jsonl
    from intentd.models.evaluate import evaluate
    from intentd.server.engine import Engine

    threadpool_limits(1, user_api="blas")
    artifact, data, out = Path(args.model), Path(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    test = read_jsonl(data / "test.jsonl")
    train_texts = [ex.text for ex in read_jsonl(data / "train.jsonl")]
    texts = [ex.text for ex in test]
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="intentd-quant-") as tmp:
        tmp = Path(tmp)
        print("building candidates ...", file=sys.stderr)
        graphs = make_candidates(artifact, train_texts, tmp)
        engines = {}
        for i, (label, name) in enumerate(graphs.items()):
            graph = (artifact / name) if (artifact / name).exists() else (tmp / name)
            engines[label] = Engine.load(candidate_artifact(artifact, graph, tmp / f"art{i}", "one row" in label))
            print(f"scoring {label} ...", file=sys.stderr)
            batched = evaluate(engines[label], test, batch_size=64, latency=False)
            alone = evaluate(engines[label], test, batch_size=1, latency=False)
            diff, flips = neighbour_diff(engines[label], texts)
            rows[label] = {
                "file_mb": round(graph.stat().st_size / 2**20, 1),
                "classification_accuracy": {"batched": batched["classification_accuracy"],
                                            "one_at_a_time": alone["classification_accuracy"]},
                "entity_f1": {"batched": batched["entity_f1"], "one_at_a_time": alone["entity_f1"]},
                "neighbour_max_diff": diff, "neighbour_flips": flips,
                "b1_ms": [], "batched_per_s": [],
            }
        for r in range(args.rounds):
            print(f"speed round {r + 1}/{args.rounds} ...", file=sys.stderr)
            for label, engine in engines.items():
                b1, per_s = speed_round(engine, texts)
                rows[label]["b1_ms"].append(b1)
                rows[label]["batched_per_s"].append(per_s)
    for row in rows.values():
        row["b1_ms"] = round(statistics.median(row["b1_ms"]), 2)
        row["batched_per_s"] = round(statistics.median(row["batched_per_s"]), 1)
    result = {"model": str(artifact), "data": str(data), "cpus": os.cpu_count(), "candidates": rows}
    (out / "quantization.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "quantization.md").write_text(markdown(rows) + "\n")
    print(markdown(rows))
    return 0


def markdown(rows: dict[str, dict]) -> str:
    def pct(pair: dict) -> str:
        b, a = pair["batched"], pair["one_at_a_time"]
        if b is None:
            return "-"
        return f"{100 * b:.2f}" if abs(a - b) < 1e-12 else f"{100 * b:.2f} / {100 * a:.2f}"
    lines = ["| graph | intent acc. % (batched / alone) | entity F1 % | neighbour max diff (flips of 40) | "
             "batch-1 ms | batched / s | MB |", "|---|---|---|---|---|---|---|"]
    for label, row in rows.items():
        lines.append(f"| {label} | {pct(row['classification_accuracy'])} | {pct(row['entity_f1'])} | "
                     f"{row['neighbour_max_diff']:.1e} ({row['neighbour_flips']}) | {row['b1_ms']:.2f} | "
                     f"{row['batched_per_s']:.0f} | {row['file_mb']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
