"""What a run prints: one JSON object (--json) or a short human report, both from one dict."""

from __future__ import annotations

from .config import LoadConfig
from .runner import StepResult
from .slo import Verdict, capacity


def step_dict(step: StepResult) -> dict:
    """The figures of one constant-rate step (latency in ms, from the scheduled send time)."""
    recorder = step.recorder
    return {
        "offered_rps": step.rate,
        "arrival": step.arrival,
        "duration_s": step.duration,
        "scheduled": step.scheduled,
        "sent": step.sent,
        "ok": recorder.ok,
        "error_count": recorder.error_count,
        "errors": dict(sorted(recorder.errors.items())),
        "error_rate": round(step.error_rate, 6),
        "achieved_rps": round(step.achieved_rps, 3),
        "latency_ms": recorder.latency_ms(),
        "server_ms": recorder.server_ms(),
        "send_lag_ms": recorder.send_lag_ms(),
        "max_in_flight": step.max_in_flight,
    }


def result_dict(
    config: LoadConfig, steps: list[StepResult], verdict: Verdict, loop_name: str
) -> dict:
    """The whole run: the single step's figures at top level, or a sweep's or search's steps
    (in the order run) and capacity."""
    header = {
        "target": config.address,
        "rpc": config.rpc,
        "mode": config.mode,
        "client": {
            "loop": loop_name,
            "channels": config.channels,
            "concurrency_limit": config.concurrency_limit,
            "deadline_ms": config.deadline_ms,
            "tls": config.tls,
        },
    }
    if config.mode == "fixed":
        body = step_dict(steps[0])
    else:
        body = {
            "slo_p95_ms": config.slo_p95_ms,
            "capacity_rps": capacity(steps, config.slo_p95_ms),
            "steps": [step_dict(step) for step in steps],
        }
    return {**header, **body, "slo": verdict.to_dict()}


def format_text(result: dict) -> str:
    """A few aligned lines for a terminal; the verdict is the last line."""
    client = result["client"]
    lines = [
        f"target {result['target']}  rpc {result['rpc']}  "
        f"({client['loop']}, {client['channels']} channel(s), "
        f"in-flight limit {client['concurrency_limit']}, "
        f"deadline {client['deadline_ms']:g} ms)"
    ]
    if result["mode"] == "fixed":
        lines += _step_lines(result)
    else:
        lines.append(
            f"{'rate':>10} {'p50':>9} {'p95':>9} {'p99':>9} {'max':>9} {'errors':>7}  (ms, req/s)"
        )
        for step in result["steps"]:
            lat = step["latency_ms"] or {}
            cells = [_ms(lat.get(k)) for k in ("p50", "p95", "p99", "max")]
            lines.append(
                f"{step['offered_rps']:>10g} "
                + "".join(f"{cell:>9} " for cell in cells)
                + f"{step['error_count']:>7}"
            )
        found = result["capacity_rps"]
        lines.append(
            f"capacity: {'none' if found is None else f'{found:g} req/s'} "
            f"(highest rate with p95 <= {result['slo_p95_ms']:g} ms and no errors)"
        )
    lines.append(result["slo"]["verdict"])
    return "\n".join(lines)


def _server_line(server: dict | None) -> list[str]:
    if not server:
        return []
    parts = "  ".join(
        f"{name.replace('_', ' ')} p50 {_ms(server[name]['p50'])} p99 {_ms(server[name]['p99'])}"
        for name in ("queue_wait", "inference", "total")
    )
    return [f"server   {parts} ms (as the server reports it)"]


def _step_lines(step: dict) -> list[str]:
    errors = ", ".join(f"{code} {count}" for code, count in step["errors"].items())
    lat = step["latency_ms"] or {}
    lag = step["send_lag_ms"] or {}
    return [
        f"load     {step['arrival']} {step['offered_rps']:g} req/s for {step['duration_s']:g} s",
        f"requests scheduled {step['scheduled']}  sent {step['sent']}  ok {step['ok']}  "
        f"errors {step['error_count']}{f' ({errors})' if errors else ''}  "
        f"achieved {step['achieved_rps']:g} req/s",
        "latency  "
        + "  ".join(f"{k} {_ms(lat.get(k))}" for k in ("p50", "p90", "p95", "p99", "p99.9", "max"))
        + " ms (from scheduled send time)",
        *_server_line(step.get("server_ms")),
        f"client   send lag p99 {_ms(lag.get('p99'))} ms, max {_ms(lag.get('max'))} ms; "
        f"max in flight {step['max_in_flight']}",
    ]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
