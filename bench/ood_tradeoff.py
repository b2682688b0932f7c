"""How far can any threshold go? In-scope accuracy vs out-of-scope recall on a labelled split.

    python -m bench.ood_tradeoff --model ARTIFACT --data test.jsonl [--min-in-scope 0.96] [--plot out.png]

For each OOD score the artifact computes (and their calibrated combination), sweeps every
threshold on the split itself (an oracle: the served threshold is chosen on validation) and
reports the best OOS recall that keeps in-scope accuracy (an in-scope query flagged counts as
wrong, Larson et al. 2019) at or above `--min-in-scope`. If the oracle misses a target, no
threshold or calibration budget can meet it: the classifier or the scores must get better.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from intentd.models.data.schema import read_jsonl
from intentd.models.evaluate import analyze_all
from intentd.server.engine import Engine


def tradeoff(correct: np.ndarray, ood: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(in-scope accuracy, OOS recall) for flagging the k highest scores, k = 0..N."""
    order = np.argsort(-scores, kind="stable")
    flagged_ood = np.concatenate(([0], np.cumsum(ood[order])))
    flagged_correct = np.concatenate(([0], np.cumsum((correct & ~ood)[order])))
    n_in, n_out = max(1, int((~ood).sum())), max(1, int(ood.sum()))
    return (int((correct & ~ood).sum()) - flagged_correct) / n_in, flagged_ood / n_out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--min-in-scope", type=float, default=0.96)
    parser.add_argument("--plot")
    args = parser.parse_args(argv)

    engine = Engine.load(args.model)
    examples = read_jsonl(Path(args.data))
    analyses, _ = analyze_all(engine, examples, batch_size=64)
    preds = [a.prediction for a in analyses]
    known = set(engine.model.labels.intents)
    ood = np.array([ex.ood or ex.intent not in known for ex in examples])
    if not ood.any() or ood.all():
        print("needs both in-scope and out-of-scope examples", file=sys.stderr)
        return 2
    correct = np.array([not o and p.intent == ex.intent for ex, p, o in zip(examples, preds, ood)])
    scores = {m: np.array([p.ood_scores[m] for p in preds]) for m in preds[0].ood_scores}
    scores["combined (served)"] = np.array([p.ood_score for p in preds])

    served_flags = np.array([p.is_ood for p in preds])
    result = {
        "classification_accuracy": float(correct[~ood].mean()),
        "served": {"in_scope_accuracy": float((correct & ~served_flags)[~ood].mean()),
                   "oos_recall": float(served_flags[ood].mean())},
        "min_in_scope": args.min_in_scope,
        "best_oos_recall": {},
    }
    curves = {}
    for name, s in scores.items():
        acc, rec = tradeoff(correct, ood, s)
        curves[name] = (acc, rec)
        ok = acc >= args.min_in_scope
        result["best_oos_recall"][name] = float(rec[ok].max()) if ok.any() else None
    print(json.dumps(result, indent=2))

    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 5))
        for name, (acc, rec) in curves.items():
            ax.plot(rec, acc, label=name)
        ax.axhline(args.min_in_scope, color="grey", linestyle="--", linewidth=0.8)
        ax.scatter([result["served"]["oos_recall"]], [result["served"]["in_scope_accuracy"]], color="black",
                   zorder=3, label="served threshold")
        ax.set_xlabel("out-of-scope recall")
        ax.set_ylabel("in-scope accuracy (flagged = wrong)")
        ax.set_ylim(max(0.0, args.min_in_scope - 0.08), min(1.0, result["classification_accuracy"] + 0.01))
        ax.set_title(f"every threshold on {Path(args.data).name}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main())
