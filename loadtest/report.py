"""What a run prints: one JSON object (--json) or a short human report, both from one dict."""

from __future__ import annotations

from .config import LoadConfig
from .payloads import Payloads
from .recorder import SERVER_PARTS, cache_hits
from .runner import StepResult
from .slo import Verdict, capacity, capacity_capped

#: From this share of cached answers on, the report says the run measured the cache.
CACHE_NOTABLE = 0.10


def partial_dict(config: LoadConfig, steps: list[StepResult], loop_name: str, payloads: Payloads) -> dict:
    """A run stopped from outside (Ctrl-C, SIGTERM): the figures so far, judged by no one. The
    step that was cut counts toward no capacity (a few seconds of a rate are not the rate held),
    and the verdict says the run was stopped: a partial run passes no gate."""
    from .slo import evaluate, evaluate_sweep

    cut = next((step for step in steps if step.stopped_s is not None), None)
    whole = [step for step in steps if step.stopped_s is None]
    if config.mode == "fixed":
        verdict = evaluate(steps[0], config)
    else:
        verdict = evaluate_sweep(whole, config) if whole else Verdict(())
    result = result_dict(config, steps, verdict, loop_name, payloads, judged=whole)
    where, in_flight = "", 0
    if cut is not None:
        in_flight = cut.cut_in_flight
        where = (f" after {cut.stopped_s:.1f} s of {cut.duration:g} s" if config.mode == "fixed" else
                 f" {cut.stopped_s:.1f} s into the {cut.duration:g} s step at {cut.rate:g} req/s")
    line = (f"SLO NOT JUDGED: the run was stopped{where}; the figures above are partial"
            + (f" ({in_flight} requests in flight then are in none)" if in_flight else ""))
    result["interrupted"] = {
        "stopped_s": None if cut is None else round(cut.stopped_s, 3),
        "step_rate": None if cut is None else cut.rate,
        "in_flight_not_counted": in_flight,
    }
    result["slo"] = {**verdict.to_dict(), "passed": False, "verdict": line}
    return result


def step_dict(step: StepResult) -> dict:
    """The figures of one constant-rate step (latency in ms, from the scheduled send time, of
    every request but refusals back within 25 ms)."""
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
        "server_cache_hits": cache_hits([recorder]),
        "send_lag_ms": recorder.send_lag_ms(),
        "slot_wait_ms": recorder.slot_wait_ms(),
        "max_in_flight": step.max_in_flight,
        **({"stopped_s": round(step.stopped_s, 3), "in_flight_not_counted": step.cut_in_flight}
           if step.stopped_s is not None else {}),
    }


def result_dict(
    config: LoadConfig,
    steps: list[StepResult],
    verdict: Verdict,
    loop_name: str,
    payloads: Payloads,
    judged: list[StepResult] | None = None,
) -> dict:
    """The whole run: the single step's figures at top level, or a sweep's or search's steps
    (in the order run), capacity (from the ``judged`` steps: all but a cut one), and the cache
    hits of all steps."""
    judged = steps if judged is None else judged
    header = {
        "target": config.address,
        "rpc": config.rpc,
        "mode": config.mode,
        "seed": config.seed,
        "client": {
            "loop": loop_name,
            "channels": config.channels,
            "concurrency_limit": config.concurrency_limit,
            "deadline_ms": config.deadline_ms,
            "request_start": config.request_start,
            "tls": config.tls,
        },
        "texts": {
            "source": "generated" if config.texts is None else str(config.texts),
            "distinct": payloads.distinct,
            "repeated": payloads.repeated,
        },
    }
    if config.mode == "fixed":
        body = step_dict(steps[0])
    else:
        body = {
            "slo_p95_ms": config.slo_p95_ms,
            "slo_p99_ms": config.slo_p99_ms,
            "max_error_rate": config.max_error_rate,
            "capacity_rps": capacity(judged, config.slo_p95_ms, config.max_error_rate, config.slo_p99_ms),
            "capacity_capped": capacity_capped(judged, config.slo_p95_ms, config.max_error_rate, config.slo_p99_ms),
            "server_cache_hits": cache_hits([step.recorder for step in steps]),
            "steps": [step_dict(step) for step in steps],
        }
    return {**header, **body, "slo": verdict.to_dict()}


def format_text(result: dict) -> str:
    """A few aligned lines for a terminal; the verdict is the last line."""
    client = result["client"]
    lines = [
        f"target {result['target']}  rpc {result['rpc']}  "
        f"({client['loop']}, {_channels(client['channels'])}, "
        f"in-flight limit {client['concurrency_limit']}, "
        f"deadline {client['deadline_ms']:g} ms, "
        f"{'' if client.get('request_start', True) else 'no '}send-time stamp, seed {result['seed']})",
        _texts_line(result["texts"]),
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
                + (f"  (stopped after {step['stopped_s']:.1f} s)" if "stopped_s" in step else "")
            )
        lines.append(_capacity_line(result))
    lines += _cache_lines(result["server_cache_hits"])
    lines.append(result["slo"]["verdict"])
    return "\n".join(lines)


def _channels(count: int) -> str:
    """One connection reaches one process of a `serve --workers N` server: say so."""
    return f"{count} channel(s)" if count > 1 else "1 channel: one worker of a --workers server"


def _texts_line(texts: dict) -> str:
    if texts["source"] == "generated":
        how = "cycled: some were sent twice" if texts["repeated"] else "none sent twice"
        return f"texts    generated banking utterances, {texts['distinct']:,} distinct, {how}"
    how = ", some sent more than once" if texts["repeated"] else ""
    return f"texts    {texts['source']}: {texts['distinct']:,} distinct{how}"


def _capacity_line(result: dict) -> str:
    found, slo = result["capacity_rps"], f"p95 <= {result['slo_p95_ms']:g} ms"
    if result.get("slo_p99_ms") is not None:  # a step that misses it does not count either
        slo += f", p99 <= {result['slo_p99_ms']:g} ms"
    allowed = result.get("max_error_rate") or 0.0
    slo += f" and errors <= {allowed:.2%}" if allowed else " and no errors"
    if found is None:
        return f"capacity: none (no rate tried met {slo})"
    if not result["capacity_capped"]:
        return f"capacity: {found:g} req/s (highest rate with {slo})"
    if "interrupted" in result:
        cap, more = "the highest rate whose step ended before the stop", "run it to the end"
    elif result["mode"] == "search":
        cap, more = "the --max-rate cap", "raise --max-rate"
    else:
        cap, more = "the highest listed rate", "add higher rates to --sweep"
    return (
        f"capacity: at least {found:g} req/s ({cap} met {slo}; "
        f"{more} to find the capacity)"
    )


def _cache_lines(hits: dict | None) -> list[str]:
    """How much the server's cache answered; from CACHE_NOTABLE on, what that means."""
    if not hits or not hits["count"]:
        return []
    share = hits["share"] * 100
    line = (
        f"cache    server cache answered {share:.0f} % of requests "
        if share >= 1
        else f"cache    server cache answered {share:.2f} % of requests "
    ) + f"({hits['count']:,} of {hits['answers']:,})"
    if hits["share"] >= CACHE_NOTABLE:
        line += ": this measures the cache, not the model"
    return [line]


def _server_lines(server: dict | None, hits: dict | None) -> list[str]:
    if not server:
        return []
    head = "".join(f"{name.replace('_', ' '):>13}" for name in SERVER_PARTS)
    rows = [
        f"         {p:<3}" + "".join(f"{_ms((server[n] or {}).get(p)):>13}" for n in SERVER_PARTS)
        for p in ("p50", "p99")
    ]
    source = "as the server reports it"
    if hits and hits["count"]:
        computed = hits["answers"] - hits["count"]
        source += f"; stages: the {computed:,} answers not from its cache"
    return [f"server   ms {head}  ({source})", *rows]


def _step_lines(step: dict) -> list[str]:
    errors = ", ".join(f"{code} {count}" for code, count in step["errors"].items())
    lat = step["latency_ms"] or {}
    lag = step["send_lag_ms"] or {}
    slot = step.get("slot_wait_ms")
    waits = (f"; {slot['count']:,} waited for an in-flight slot (p99 {_ms(slot['p99'])} ms, "
             f"max {_ms(slot['max'])} ms)" if slot else "")  # fmt: skip
    stopped = f" (stopped after {step['stopped_s']:.1f} s)" if "stopped_s" in step else ""
    return [
        f"load     {step['arrival']} {step['offered_rps']:g} req/s for {step['duration_s']:g} s{stopped}",
        f"requests scheduled {step['scheduled']}  sent {step['sent']}  ok {step['ok']}  "
        f"errors {step['error_count']}{f' ({errors})' if errors else ''}  "
        f"achieved {step['achieved_rps']:g} req/s",
        "latency  "
        + "  ".join(f"{k} {_ms(lat.get(k))}" for k in ("p50", "p90", "p95", "p99", "p99.9", "max"))
        + " ms (from scheduled send time; every request but fast refusals)",
        *_server_lines(step.get("server_ms"), step.get("server_cache_hits")),
        f"client   send lag p99 {_ms(lag.get('p99'))} ms, max {_ms(lag.get('max'))} ms{waits}; "
        f"max in flight {step['max_in_flight']}",
    ]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
