"""Accuracy on the public benchmarks, through the same commands a user runs.

    python -m bench.accuracy [--datasets snips,clinc150] [--out bench-results]

For each data set: `intentd data import`, `intentd train` (timed end to end: fine-tuning, export,
INT8, calibration, evaluation) and `intentd eval --json` on the test split with the served artifact,
in batches of 64 and one query at a time. Writes bench-results/accuracy.json and accuracy.md. Needs ../shared/datasets.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets"

# name -> (import format, source, training flags): the defaults, no flags (they decide from the data)
RUNS = {
    "snips": ("bio", "snips", []),
    "clinc150": ("clinc", "clinc150/data_full.json", []),
}
# the marks the default recipe aims at (issue 13; published reference points in ../shared/datasets/README.md)
TARGETS = {
    "snips": {"classification_accuracy": 0.983, "entity_f1": 0.960, "exact_match_classification": 0.91},
    "clinc150": {"classification_accuracy": 0.965, "intent_accuracy": 0.96, "oos_recall": 0.75, "ood_auroc": 0.98},
}


def intentd(*args: str, capture: bool = False) -> str:
    cmd = [sys.executable, "-m", "intentd", *args]
    print("$ intentd " + " ".join(args), file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, check=True, text=True, stdout=subprocess.PIPE if capture else None)
    return proc.stdout or ""


def run_one(name: str, work: Path) -> dict:
    fmt, source, flags = RUNS[name]
    data, artifact = work / "data" / name, work / "artifacts" / name
    intentd("data", "import", "--format", fmt, str(DATASETS / source), "--out", str(data))
    started = time.perf_counter()
    intentd("train", "--data", str(data), "--out", str(artifact), *flags)
    train_seconds = time.perf_counter() - started
    test = str(data / "test.jsonl")
    report = json.loads(intentd("eval", "--model", str(artifact), "--data", test, "--json",
                                "--plot", str(work / f"{name}-eval.png"), capture=True))
    # answers do not depend on the batch (the served INT8 graph runs one row at a time): scoring
    # every query alone must give the same figures; both are reported to show it
    alone = json.loads(intentd("eval", "--model", str(artifact), "--data", test, "--json", "--batch-size", "1",
                               capture=True))
    keys = ("n", "classification_accuracy", "intent_accuracy", "entity_f1", "exact_match",
            "exact_match_classification", "oos_recall", "false_escalation_rate", "ood_auroc", "fpr_at_95_recall")
    return {"train_seconds_end_to_end": round(train_seconds, 1), "flags": flags,
            **{k: report[k] for k in keys}, "alone": {k: alone[k] for k in keys},
            "latency": report["latency"], "targets": TARGETS.get(name, {})}


def markdown(results: dict) -> str:
    def pct(x):
        return "–" if x is None else f"{100 * x:.2f}"

    rows = ["| data set | scored | intent acc. (150/7-way) | in-scope acc. at OOD threshold | entity F1 | "
            "exact match (intent + slots) | OOS recall | OOD AUROC | train end-to-end |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results["runs"].items():
        for how, m in (("batches of 64", r), ("one query at a time", r["alone"])):
            auroc = "–" if m["ood_auroc"] is None else f"{m['ood_auroc']:.3f}"
            rows.append(f"| {name} | {how} | {pct(m['classification_accuracy'])} | {pct(m['intent_accuracy'])} | "
                        f"{pct(m['entity_f1'])} | {pct(m['exact_match_classification'])} | {pct(m['oos_recall'])} | "
                        f"{auroc} | {r['train_seconds_end_to_end'] / 60:.1f} min |")
    return "\n".join(rows) + f"\n\nMachine: {results['machine']}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="snips,clinc150")
    parser.add_argument("--out", default="bench-results")
    parser.add_argument("--work", default="runs", help="where imported data and artifacts go")
    args = parser.parse_args(argv)
    if not DATASETS.is_dir():
        print(f"skipped: {DATASETS} not found (public benchmark data lives beside the repo)", file=sys.stderr)
        return 0
    out, work = Path(args.out), Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    results = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "runs": {},
    }
    for name in args.datasets.split(","):
        results["runs"][name] = run_one(name, work)
        (out / "accuracy.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "accuracy.md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
