"""Plots people would rather see than read: intent confusion and confidence reliability."""

from __future__ import annotations

from collections import Counter
from pathlib import Path


def eval_plot(report: dict, path: str | Path, max_intents: int = 30) -> Path:
    """One PNG: the confusion matrix of the most-confused intents, and a reliability diagram."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # matplotlib lives in the `train` extra
        raise RuntimeError("plotting needs matplotlib: pip install 'intentd[train]'") from exc
    import numpy as np

    gold, pred = report["_confusion"]["gold"], report["_confusion"]["predicted"]
    errors = Counter(g for g, p in zip(gold, pred) if g != p) + Counter(p for g, p in zip(gold, pred) if g != p)
    labels = sorted(set(gold) | set(pred))
    if len(labels) > max_intents:
        keep = [name for name, _ in errors.most_common(max_intents)] or labels[:max_intents]
        labels = sorted(keep)
    index = {name: i for i, name in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=int)
    for g, p in zip(gold, pred):
        if g in index and p in index:
            matrix[index[g], index[p]] += 1

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(16, 7.5), gridspec_kw={"width_ratios": [1.6, 1]})
    if labels:  # none without in-scope queries: an empty panel, not a singular image
        ax1.imshow(np.log1p(matrix), cmap="Blues")
    ax1.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax1.set_yticks(range(len(labels)), labels, fontsize=7)
    for (i, j), v in np.ndenumerate(matrix):
        if v and i != j:
            ax1.text(j, i, str(v), ha="center", va="center", fontsize=6, color="darkred")
    ax1.set_xlabel("predicted")
    ax1.set_ylabel("gold")
    title = "intent confusion" + (f" ({len(labels)} most-confused intents)" if len(labels) < len(set(gold)) else "")
    ax1.set_title(title)

    bins = [b for b in report["calibration"]["reliability"] if b["count"]]
    centers = [(b["low"] + b["high"]) / 2 for b in report["calibration"]["reliability"]]
    acc = [b["accuracy"] if b["count"] else 0 for b in report["calibration"]["reliability"]]
    ax2.bar(centers, acc, width=0.09, edgecolor="black", alpha=0.7, label="accuracy")
    ax2.plot([0, 1], [0, 1], "k--", label="perfect calibration")
    ax2.set_xlim(0, 1)
    ax2.set_ylim(0, 1)
    ax2.set_xlabel("confidence (calibrated)")
    ax2.set_ylabel("accuracy")
    ece = report["calibration"]["ece"]
    ece = "n/a" if ece is None else f"{ece:.3f}"  # no in-scope query
    ax2.set_title(f"reliability (ECE {ece}, {sum(b['count'] for b in bins)} in-scope queries)")
    ax2.legend(loc="upper left")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
