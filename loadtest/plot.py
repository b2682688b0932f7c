"""Latency pictures for a report: over time for one run, over offered rate for a sweep.

matplotlib is optional (the `train` extra), imported only when --plot is given, and used
through the object API (no pyplot global state, no display needed).
"""

from __future__ import annotations

from pathlib import Path

from intentd.plotpath import PlotPathError, check_plot_path

from .errors import PlotUnavailable
from .runner import StepResult
from .slo import capacity, capacity_capped

_MISSING = "--plot needs matplotlib: pip install matplotlib (or the intentd[train] extra)"


def require_plot_path(path: Path) -> None:
    """Fail before the run, not after it, when --plot cannot be honoured: no matplotlib, a file
    type it cannot write, a folder that cannot be made (exit 2, "cannot run", never after a verdict)."""
    try:
        check_plot_path(path)
    except PlotPathError as exc:
        raise PlotUnavailable(str(exc)) from None


def _figure():
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise PlotUnavailable(_MISSING) from exc
    return Figure(figsize=(9, 4.5), layout="constrained")


def plot_timeline(step: StepResult, path: Path, slo_p95_ms: float | None = None) -> None:
    """Per-second p50/p95 (by scheduled time) and errors per second of one run."""
    fig = _figure()
    ax = fig.subplots()
    rows = step.recorder.timeline(1.0)
    t = [row["t_s"] for row in rows]
    ax.plot(t, [_nan(row["p50_ms"]) for row in rows], marker="o", label="p50")
    ax.plot(t, [_nan(row["p95_ms"]) for row in rows], marker="o", label="p95")
    if slo_p95_ms is not None:
        ax.axhline(slo_p95_ms, color="red", linestyle="--", label=f"p95 SLO {slo_p95_ms:g} ms")
    ax.set_xlabel("seconds since start (scheduled time)")
    ax.set_ylabel("latency (ms)")
    ax.set_title(f"{step.arrival} {step.rate:g} req/s: latency per second")
    errors = [row["errors"] for row in rows]
    if any(errors):
        twin = ax.twinx()
        twin.bar(t, errors, width=0.8, alpha=0.25, color="red", label="errors")
        twin.set_ylabel("errors per second")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=100)


def plot_sweep(
    steps: list[StepResult], path: Path, slo_p95_ms: float | None, max_error_rate: float = 0.0,
    slo_p99_ms: float | None = None,
) -> None:
    """p50/p95/p99 against offered rate, with the SLO and the capacity it implies."""
    fig = _figure()
    ax = fig.subplots()
    steps = sorted(steps, key=lambda step: step.rate)  # a search visits rates out of order
    rates = [step.rate for step in steps]
    for key in ("p50", "p95", "p99"):
        ax.plot(
            rates,
            [_nan((step.recorder.latency_ms() or {}).get(key)) for step in steps],
            marker="o",
            label=key,
        )
    if slo_p95_ms is not None:
        ax.axhline(slo_p95_ms, color="red", linestyle="--", label=f"p95 SLO {slo_p95_ms:g} ms")
    if slo_p99_ms is not None:
        ax.axhline(slo_p99_ms, color="darkred", linestyle=":", label=f"p99 SLO {slo_p99_ms:g} ms")
    found = capacity(steps, slo_p95_ms, max_error_rate, slo_p99_ms)
    if found is not None:  # at the highest rate tried, a lower bound, as the report says
        capped = capacity_capped(steps, slo_p95_ms, max_error_rate, slo_p99_ms)
        ax.axvline(found, color="green", linestyle=":",
                   label=f"capacity {'at least ' if capped else ''}{found:g} req/s")
    ax.set_xscale("log")
    ax.set_xlabel("offered load (req/s)")
    ax.set_ylabel("latency (ms)")
    ax.set_title("latency against offered load")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3, which="both")
    fig.savefig(path, dpi=100)


def plot_voice(rows: list[dict], path: Path, run) -> None:
    """Per-second partial and final p50/p95 (by due time) of a voice run, and failed messages."""
    fig = _figure()
    ax = fig.subplots()
    t = [row["t_s"] for row in rows]
    for kind in ("partial", "final"):
        for p, style in (("p50", "-"), ("p95", "--")):
            ax.plot(t, [_nan(row[f"{kind}_{p}_ms"]) for row in rows], style, marker="o",
                    markersize=3, label=f"{kind} {p}")
    ax.set_xlabel("seconds since start (due time)")
    ax.set_ylabel("latency (ms)")
    ax.set_title(f"{run.streams} voice streams, a word every {run.word_interval_s * 1e3:g} ms")
    failed = [row["failed"] for row in rows]
    if any(failed):
        twin = ax.twinx()
        twin.bar(t, failed, width=0.8, alpha=0.25, color="red", label="failed messages")
        twin.set_ylabel("failed messages per second")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=100)


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value
