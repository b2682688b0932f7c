"""What a voice run prints: one JSON object (--json) or a short human report, both from one dict.

Definitions (docs/voice.md, "Measuring it"):
- Partial latency covers the partials the server computed (answered fresh or stale);
  a superseded partial was never computed and its placeholder answer is not a latency.
  Latency runs from the time a message was due to its answer; final latency also counts the
  finals that failed, at the time their error came (a refusal back within 25 ms apart).
- An utterance is finished when its final got an answer; the others failed (the status that
  ended their stream). Only finished utterances enter the `stable` and accuracy figures.
- `stable` fired before the final when some partial answer of the utterance had `stable`
  set; the first such answer is the one measured: the words the caller had still to say, how
  long before the final answer it came, whether it came while the caller was still talking
  (before the final transcript was written), whether it was fresh (a backend following
  docs/voice.md's loop skips stale answers), and whether its intent was the final's.
- Accuracy: a final answer is right for an in-scope example when its top intent (the
  utterance's own, kept when the answer is a follow-up: "yes" is affirm in a CONFIRM of a
  transfer) is the label and it is not flagged out of scope; an out-of-scope example is caught
  when it is flagged.
- A run stopped from outside (Ctrl-C, SIGTERM) reports the utterances that ended before the
  stop; those it cut (no final answer, no error of the server's) are counted apart, in no
  figure, and the verdict says the run was not judged.
- Follow-ups: each caller sends the context its last final answer left (docs/voice.md, voice
  loop); of the finished utterances, how many finals carried a previous intent, and the
  follow-up kind of each final answer (none: not a follow-up).
"""

from __future__ import annotations

import numpy as np

from .config import LoadConfig
from .recorder import UNFINISHED, in_latency, percentiles
from .slo import Check, Verdict, cache_check
from .voice import Utterance, VoiceRun

PERCENTILES = (50.0, 95.0, 99.0)
FOLLOW_UP_KINDS = ("update", "confirm", "cancel", "hold", "repeat", "none")


def latency_ms(seconds: list[float]) -> dict[str, float] | None:
    """p50/p95/p99/max/mean in ms (percentiles by nearest rank, as the unary report's); None
    without samples."""
    if not seconds:
        return None
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    summary = {
        f"p{p:g}": float(q)
        for p, q in zip(PERCENTILES, percentiles(ms, PERCENTILES), strict=True)
    }
    summary["max"], summary["mean"] = float(ms.max()), float(ms.mean())
    return {key: round(value, 3) for key, value in summary.items()}


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(values: list[float], digits: int = 2) -> float | None:
    return round(float(np.mean(values)), digits) if values else None


def first_stable(utterance: Utterance):
    """The first partial answer of ``utterance`` with `stable` set, or None."""
    return next((a for a in utterance.answers if a.stable and not a.final), None)


def summary(run: VoiceRun) -> dict:
    """The figures of one run (see the module docstring)."""
    utterances = run.utterances
    if run.stopped_s is not None:
        utterances = [u for u in utterances if u.final is not None or u.error not in (None, UNFINISHED)]
    finished = [u for u in utterances if u.final is not None]
    failed = [u for u in utterances if u.final is None]
    partials = [a for u in utterances for a in u.answers if not a.final]
    computed = [a for u in utterances for a in u.answers if not a.superseded]
    fresh = sum(1 for a in partials if not a.stale)
    stale = sum(1 for a in partials if a.stale and not a.superseded)
    superseded = sum(1 for a in partials if a.superseded)
    partials_sent = sum(u.partials_sent for u in utterances)
    finals_sent = sum(1 for u in utterances if u.final_due_s is not None)

    fired, words_before, lead_ms, while_talking, on_fresh, differed = 0, [], [], 0, 0, 0
    for u in finished:
        stable = first_stable(u)
        if stable is None:
            continue
        fired += 1
        words_before.append(u.words - stable.words)
        lead_ms.append((u.final.done_s - stable.done_s) * 1e3)
        while_talking += stable.done_s < u.final_due_s
        on_fresh += not stable.stale
        differed += (stable.intent, stable.follow_up) != (u.final.intent, u.final.follow_up)

    in_scope = [u for u in finished if u.item.intent is not None and not u.item.ood]
    out_of_scope = [u for u in finished if u.item.ood]
    correct = sum(
        1 for u in in_scope if u.final.own_intent == u.item.intent and not u.final.flagged
    )
    caught = sum(1 for u in out_of_scope if u.final.flagged)
    hits = sum(1 for a in computed if a.cache_hit)
    errors: dict[str, int] = {}
    for u in failed:
        errors[u.error or "UNFINISHED"] = errors.get(u.error or "UNFINISHED", 0) + 1
    lag = list(run.send_lag_s)
    return {
        "utterances": {
            "started": len(utterances),
            "finished": len(finished),
            "failed": len(failed),
            "errors": dict(sorted(errors.items())),
            "error_rate": _share(len(failed), len(utterances)) or 0.0,
            "mean_words": _mean([u.words for u in utterances]),
            **({"cut_by_the_stop": len(run.utterances) - len(utterances)} if run.stopped_s is not None else {}),
        },
        "partials": {
            "sent": partials_sent,
            "answered": fresh,
            "stale": stale,
            "superseded": superseded,
            "failed": partials_sent - fresh - stale - superseded,
        },
        "finals": {
            "sent": finals_sent,
            "answered": len(finished),
            "failed": finals_sent - len(finished),
        },
        "messages_per_s": round((partials_sent + finals_sent) / (run.duration_s if run.stopped_s is None
                                                                 else max(run.stopped_s, 1e-3)), 2),
        "latency_ms": {
            "partial": latency_ms([a.latency_s for a in partials if not a.superseded]),
            # a final that failed waited too (a fast refusal apart): with an error budget, hung
            # finals left the figures and a latency gate passed on the finals that came back
            "final": latency_ms([u.final.latency_s for u in finished]
                                + [u.failed_final_s for u in failed if u.failed_final_s is not None
                                   and in_latency(u.error or UNFINISHED, u.failed_final_s)]),
        },
        "stable": {
            "fired": fired,
            "share": _share(fired, len(finished)),
            "words_before_end_mean": _mean(words_before),
            "lead_ms_mean": _mean(lead_ms, 1),
            "while_talking": _share(while_talking, fired),
            "on_fresh_answer": _share(on_fresh, fired),
            "differed": differed,
            "differed_share": _share(differed, fired),
        },
        "follow_ups": {
            "context_sent": sum(1 for u in finished if u.context_intent),
            "kinds": _follow_up_kinds(finished),
        },
        "accuracy": {
            "labelled_in_scope": len(in_scope),
            "correct": correct,
            "share": _share(correct, len(in_scope)),
            "labelled_out_of_scope": len(out_of_scope),
            "flagged": caught,
            "oos_recall": _share(caught, len(out_of_scope)),
        }
        if in_scope or out_of_scope
        else None,
        "server_cache_hits": {
            "count": hits,
            "share": _share(hits, len(computed)),
            "answers": len(computed),
        }
        if computed
        else None,
        "streams": {
            "opened": run.streams_opened,
            "errors": dict(sorted(run.stream_errors.items())),
            "error_details": dict(sorted(run.error_details.items())),
        },
        "send_lag_ms": {
            "p99": round(percentiles(np.asarray(lag), (99,))[0] * 1e3, 3),
            "max": round(max(lag) * 1e3, 3),
        }
        if lag
        else None,
    }


def _follow_up_kinds(finished: list[Utterance]) -> dict[str, int]:
    """How many final answers were each follow-up kind, every kind listed."""
    kinds = dict.fromkeys(FOLLOW_UP_KINDS, 0)
    for u in finished:
        kinds[u.final.follow_up] = kinds.get(u.final.follow_up, 0) + 1
    return kinds


def evaluate(figures: dict, config: LoadConfig) -> Verdict:
    """The gate: final-answer p95 / p99 when set, and the share of utterances that failed."""
    final = figures["latency_ms"]["final"] or {}
    checks = []
    if config.slo_p95_ms is not None:
        checks.append(Check("final p95", final.get("p95"), config.slo_p95_ms, "ms"))
    if config.slo_p99_ms is not None:
        checks.append(Check("final p99", final.get("p99"), config.slo_p99_ms, "ms"))
    checks.append(
        Check("failed utterances", figures["utterances"]["error_rate"], config.max_error_rate, "%")
    )
    if config.max_cache_share is not None:  # accepted, and never checked: a cached run passed
        checks.append(cache_check(figures["server_cache_hits"], config.max_cache_share))
    return Verdict(tuple(checks))


def result_dict(
    config: LoadConfig, run: VoiceRun, texts: dict, verdict: Verdict, figures: dict
) -> dict:
    """The whole run: settings, what was sent, and the figures."""
    return {
        "target": config.address,
        "rpc": "AnalyzeStream",
        "mode": "voice",
        "seed": config.seed,
        "client": {
            "loop": "asyncio",
            "grpc": "grpc.aio",
            "channels": config.channels,
            "tls": config.tls,
            "cpu_s": round(run.client_cpu_s, 3),
        },
        "texts": texts,
        "load": {
            "streams": run.streams,
            "word_interval_ms": round(run.word_interval_s * 1e3, 3),
            "duration_s": run.duration_s,
            "elapsed_s": round(run.elapsed_s, 3),
        },
        **figures,
        "slo": verdict.to_dict(),
    }


def partial(result: dict, run: VoiceRun) -> dict:
    """A stopped run's result: its figures so far, and a verdict that judges nothing (a partial
    run passes no gate; the exit code says it was stopped)."""
    cut = result["utterances"]["cut_by_the_stop"]
    line = (f"SLO NOT JUDGED: the run was stopped after {run.stopped_s:.1f} s of {run.duration_s:g} s; "
            "the figures above are partial" + (f" ({cut} utterances under way then are in none)" if cut else ""))
    return {**result, "interrupted": {"stopped_s": round(run.stopped_s, 3), "utterances_not_counted": cut},
            "slo": {**result["slo"], "passed": False, "verdict": line}}


def timeline(run: VoiceRun, bucket_s: float = 1.0) -> list[dict]:
    """Per bucket of due time: partial and final p50/p95 in ms, and messages that failed."""
    answers = [a for u in run.utterances for a in u.answers if not a.superseded]
    failures = [u.start_s for u in run.utterances for _ in range(u.failed_messages)]
    end = max([a.due_s for a in answers] + failures + [0.0])
    rows = []
    for bucket in range(int(end // bucket_s) + 1):
        low, high = bucket * bucket_s, (bucket + 1) * bucket_s
        row = {"t_s": low, "failed": sum(1 for t in failures if low <= t < high)}
        for kind, final in (("partial", False), ("final", True)):
            ms = [a.latency_s * 1e3 for a in answers if a.final == final and low <= a.due_s < high]
            p50, p95 = percentiles(np.asarray(ms), (50, 95)) if ms else (None, None)
            row[f"{kind}_p50_ms"] = None if p50 is None else round(float(p50), 3)
            row[f"{kind}_p95_ms"] = None if p95 is None else round(float(p95), 3)
        rows.append(row)
    return rows


def format_text(result: dict) -> str:
    """A few aligned lines for a terminal; the verdict is the last line."""
    client, load, texts = result["client"], result["load"], result["texts"]
    utt, part, fin = result["utterances"], result["partials"], result["finals"]
    lat, stable, acc = result["latency_ms"], result["stable"], result["accuracy"]
    errors = ", ".join(f"{code} {count}" for code, count in utt["errors"].items())
    stream_errors = ", ".join(
        f"{code} {count}" for code, count in result["streams"]["errors"].items()
    )
    lines = [
        (
            f"target {result['target']}  rpc AnalyzeStream  ({client['grpc']}, "
            f"{client['channels']} channel(s), seed {result['seed']})"
        ),
        _texts_line(texts),
        (
            f"load     {load['streams']} streams, one word every {load['word_interval_ms']:g} ms, "
            f"utterances started for {load['duration_s']:g} s (run {load['elapsed_s']:.1f} s, "
            f"{result['messages_per_s']:g} messages/s)"
        ),
        f"utter.   started {utt['started']}  finished {utt['finished']}  failed {utt['failed']}"
        + (f" ({errors})" if errors else "")
        + f"  ({utt['mean_words']} words on average)",
        (
            f"partials sent {part['sent']}: answered {part['answered']}, stale {part['stale']} "
            f"(computed, outdated), superseded {part['superseded']} (never computed), "
            f"failed {part['failed']}"
        ),
        f"finals   sent {fin['sent']}: answered {fin['answered']}, failed {fin['failed']}",
        "latency  partial "
        + _lat(lat["partial"])
        + "; final "
        + _lat(lat["final"])
        + " ms (from the message's due time)",
        _stable_line(stable, utt["finished"]),
        _follow_up_line(result["follow_ups"], utt["finished"]),
        *_accuracy_lines(acc),
        *_cache_lines(result["server_cache_hits"]),
        f"streams  opened {result['streams']['opened']}"
        + (
            f", ended with an error: {stream_errors}"
            if stream_errors
            else ", none ended with an error"
        ),
        _client_line(result),
        result["slo"]["verdict"],
    ]
    return "\n".join(lines)


def _texts_line(texts: dict) -> str:
    if texts["source"] == "generated":
        return "texts    generated banking utterances, none repeated, unlabelled"
    labels = ""
    if texts["in_scope"] or texts["out_of_scope"]:
        labels = (
            f", labelled: {texts['in_scope']:,} in scope, {texts['out_of_scope']:,} out of scope"
        )
    return f"texts    {texts['source']}: {texts['distinct']:,} distinct{labels}"


def _lat(summary: dict | None) -> str:
    if not summary:
        return "-"
    return "  ".join(f"{k} {summary[k]:.1f}" for k in ("p50", "p95", "p99", "max"))


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.1f} %"


def _stable_line(stable: dict, finished: int) -> str:
    if not stable["fired"]:
        return f"stable   never fired before the final ({finished} finished utterances)"
    return (
        f"stable   fired before the final in {_pct(stable['share'])} of {finished} finished "
        f"utterances: {stable['words_before_end_mean']:g} words before the end and "
        f"{stable['lead_ms_mean']:g} ms before the final answer on average; while the caller "
        f"was still talking {_pct(stable['while_talking'])}, on a fresh answer "
        f"{_pct(stable['on_fresh_answer'])}; intent differed from the final's in "
        f"{_pct(stable['differed_share'])} ({stable['differed']})"
    )


def _follow_up_line(follow_ups: dict, finished: int) -> str:
    kinds = ", ".join(f"{kind} {count}" for kind, count in follow_ups["kinds"].items())
    return (
        f"context  {follow_ups['context_sent']} of {finished} finished utterances carried a "
        f"previous intent; follow-ups in final answers: {kinds}"
    )


def _accuracy_lines(acc: dict | None) -> list[str]:
    if acc is None:
        return []
    parts = []
    if acc["labelled_in_scope"]:
        parts.append(
            f"final intent right for {_pct(acc['share'])} of {acc['labelled_in_scope']} "
            "in-scope utterances"
        )
    if acc["labelled_out_of_scope"]:
        parts.append(
            f"out of scope flagged for {_pct(acc['oos_recall'])} of {acc['labelled_out_of_scope']}"
        )
    return ["accuracy " + "; ".join(parts)]


def _cache_lines(hits: dict | None) -> list[str]:
    if not hits or not hits["count"]:
        return []
    share, count = _pct(hits["share"]), hits["count"]
    line = f"cache    server cache answered {share} of computed answers ({count:,})"
    if hits["share"] >= 0.10:
        line += ": the latencies measure the cache as much as the model"
    return [line]


def _client_line(result: dict) -> str:
    lag = result["send_lag_ms"] or {}
    cpu, elapsed = result["client"]["cpu_s"], result["load"]["elapsed_s"]
    cores = f" ({cpu / elapsed:.2f} of a core)" if elapsed else ""
    lag_text = f"send lag p99 {lag['p99']:.2f} ms, max {lag['max']:.2f} ms" if lag else "send lag -"
    return f"client   {lag_text}; CPU {cpu:.1f} s{cores}"
