"""Outcomes of one constant-rate run: latencies, errors by status code, a timeline.

Latency goes into an HdrHistogram (fixed memory, exact enough percentiles at any count):
that of answered requests, and of timed-out ones at their elapsed time, at least their
deadline (the caller waited that long for nothing, so a latency gate must see it). Failed
requests are counted by gRPC status code; any other failure (a refusal: RESOURCE_EXHAUSTED,
UNAVAILABLE) is an error only, because a shed request is not a fast one. Raw samples are
kept compactly for the per-second view.

Every percentile here, the server's and the per-second ones included, is the nearest rank
rounding up: the value of rank ceil(p/100 * n), as Java's HdrHistogram takes it.

The server's own breakdown is kept raw too (an array append costs a twentieth of an
HdrHistogram record, and this runs per response). Its stages come from the answers the model
computed; an answer from the server's cache has none, so it counts as a cache hit and only
in the total.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np
from hdrh.histogram import HdrHistogram

if TYPE_CHECKING:
    from .payloads import Timing

#: Client-side outcomes besides gRPC status codes.
UNSENT = "UNSENT"  # due within the run but never sent before the hard stop
UNFINISHED = "UNFINISHED"  # sent, but never answered by the end of the run
#: Failures that count in the latency distribution too: the caller waited until its deadline.
TIMED_OUT = frozenset({"DEADLINE_EXCEEDED", UNFINISHED})
REFUSALS = frozenset({"RESOURCE_EXHAUSTED", "UNAVAILABLE"})
# A refusal back within this is a shed request: an error alone (a shed request is no fast answer,
# and in the latency figures it would make shedding look like speed). Any other failure, and a
# slower refusal, is a wait the caller had: in the figures at its elapsed time (a stub that made
# 8 % of its callers wait 950 ms for UNAVAILABLE passed a 50 ms p99 gate with "max 7.77 ms").
FAST_REFUSAL_S = 0.025


def in_latency(error: str | None, latency_s: float) -> bool:
    """Whether an outcome belongs in the latency distribution (above)."""
    return error is None or error not in REFUSALS or latency_s > FAST_REFUSAL_S

MAX_LATENCY_US = 3_600_000_000  # one hour: anything slower is clipped
PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)
#: The server's timing breakdown, in the order a Timing (payloads.py) carries it.
SERVER_STAGES = ("queue_wait", "tokenize", "forward", "postprocess")
#: transit (the wait before the handler ran, from the request's send-time stamp or deadline) comes
#: before the server's total, which starts when the handler does
SERVER_PARTS = ("transit", *SERVER_STAGES, "total")
SERVER_PERCENTILES = (50.0, 95.0, 99.0)


class Recorder:
    """Collects one run's samples; all times in seconds relative to the run's start."""

    def __init__(self, deadline_s: float = 0.0) -> None:
        self.deadline_s = deadline_s
        self.latency = HdrHistogram(1, MAX_LATENCY_US, 3)  # every request but fast refusals (in_latency)
        self.send_lag = HdrHistogram(1, MAX_LATENCY_US, 3)
        self.slot_wait = HdrHistogram(1, MAX_LATENCY_US, 3)  # requests that waited for a slot
        self.ok = 0
        self.errors: Counter[str] = Counter()
        self.unsent = 0
        # Server-reported breakdown (microseconds), when responses carry one.
        self.server = {name: array("I") for name in SERVER_PARTS}
        self.cache_hits = 0
        self.last_done_s = 0.0
        self._due = array("d")
        self._latency_us = array("q")  # -1 for a request outside the distribution (a fast refusal)
        self._failed = array("b")

    def record(self, due_s: float, latency_s: float, error: str | None) -> None:
        """One finished request: due at ``due_s``, done ``latency_s`` later (a timed-out
        one: at least the deadline later, whatever ended it first)."""
        timed_out = error in TIMED_OUT
        if timed_out:
            latency_s = max(latency_s, self.deadline_s)
        self._due.append(due_s)
        self._failed.append(error is not None)
        if in_latency(error, latency_s):
            latency_us = _micros(latency_s)
            self.latency.record_value(latency_us)
            self._latency_us.append(latency_us)
        else:
            self._latency_us.append(-1)
        if error is None:
            self.ok += 1
        else:
            self.errors[error] += 1
        self.last_done_s = max(self.last_done_s, due_s + latency_s)

    def record_send(self, lag_s: float, slot_wait_s: float) -> None:
        """How late the sender reached a request after its due time (the generator's own
        health), and how long the request then waited for an in-flight slot, if it did."""
        self.send_lag.record_value(_micros(lag_s))
        if slot_wait_s > 0:
            self.slot_wait.record_value(_micros(slot_wait_s))

    def record_server(self, timing: Timing | None) -> None:
        """The server's own timing for one response (see :data:`payloads.Timing`)."""
        if timing is None:
            return
        queue_wait, tokenize, forward, postprocess, total, cache_hit, transit = timing
        server = self.server
        server["total"].append(total)
        server["transit"].append(transit)
        if cache_hit:
            self.cache_hits += 1
        else:
            server["queue_wait"].append(queue_wait)
            server["tokenize"].append(tokenize)
            server["forward"].append(forward)
            server["postprocess"].append(postprocess)

    def server_ms(self) -> dict[str, dict[str, float] | None] | None:
        """p50/p95/p99/mean of each server-reported part in ms (a stage is None when the cache
        answered everything, transit when the server read no request's wait); None
        when the server sent no timing."""
        if not self.server["total"]:
            return None
        summary = {name: _raw_summary_ms(values) for name, values in self.server.items()}
        if not any(self.server["transit"]):
            summary["transit"] = None
        return summary

    def server_cache_hits(self) -> dict[str, float] | None:
        """Answers the server's cache gave: count, and share of the answers that carried a
        timing; None when the server sent none."""
        timed = len(self.server["total"])
        if not timed:
            return None
        return {"count": self.cache_hits, "share": round(self.cache_hits / timed, 4)}

    def record_unsent(self, count: int) -> None:
        if count:
            self.unsent += count
            self.errors[UNSENT] += count

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def latency_ms(self) -> dict[str, float] | None:
        """p50/p90/p95/p99/p99.9/max/min/mean in ms of every request but fast refusals; None
        without any."""
        return _summary_ms(self.latency)

    def latency_p95_ms(self) -> float | None:
        """The p95 so far (for a progress line: one lookup, not a summary)."""
        if not self.latency.get_total_count():
            return None
        return _value_at(self.latency, 95.0) / 1000.0

    def send_lag_ms(self) -> dict[str, float] | None:
        summary = _summary_ms(self.send_lag)
        return None if summary is None else {k: summary[k] for k in ("p50", "p99", "max")}

    def slot_wait_ms(self) -> dict[str, float] | None:
        """How many requests waited for an in-flight slot, and p50/p99/max of their waits in
        ms; None when none did."""
        summary = _summary_ms(self.slot_wait)
        if summary is None:
            return None
        return {"count": self.slot_wait.get_total_count(), **{k: summary[k] for k in ("p50", "p99", "max")}}

    def timeline(self, bucket_s: float = 1.0) -> list[dict[str, float | int | None]]:
        """Per-bucket (by due time) request and error counts and p50/p95 latency in ms."""
        if not self._due:
            return []
        due = np.frombuffer(self._due, dtype=np.float64)
        latency = np.frombuffer(self._latency_us, dtype=np.int64)
        failed = np.frombuffer(self._failed, dtype=np.int8).astype(bool)
        buckets = (due // bucket_s).astype(np.int64)
        rows = []
        for bucket in range(int(buckets.max()) + 1):
            in_bucket = buckets == bucket
            measured = latency[in_bucket & (latency >= 0)] / 1000.0
            p50, p95 = percentiles(measured, (50, 95)) if measured.size else (None, None)
            rows.append(
                {
                    "t_s": bucket * bucket_s,
                    "requests": int(in_bucket.sum()),
                    "errors": int((in_bucket & failed).sum()),
                    "p50_ms": None if p50 is None else round(float(p50), 3),
                    "p95_ms": None if p95 is None else round(float(p95), 3),
                }
            )
        return rows


def rank(count: int, percentile: float) -> int:
    """The nearest rank, rounding up: ceil(p/100 * n), at least 1. In exact arithmetic: in
    floats 99.9 / 100 * 1000 is 999.0000000000001, a rank too high (numpy's inverted_cdf)."""
    return max(math.ceil(Fraction(str(percentile)) * count / 100), 1)


def percentiles(values: np.ndarray, wanted: Iterable[float]) -> list[float]:
    """The values of ``values`` at the ``wanted`` percentiles, by :func:`rank`."""
    indexes = [rank(len(values), p) - 1 for p in wanted]
    return np.partition(values, indexes)[indexes].tolist()


def _value_at(histogram: HdrHistogram, percentile: float) -> int:
    """The histogram's value at :func:`rank`. hdrh's own lookup rounds the rank to nearest
    (p99 of 160 samples: the 158th, not the 159th), so ask it for the percentile that lands
    exactly on the rank."""
    count = histogram.get_total_count()
    return histogram.get_value_at_percentile(100.0 * rank(count, percentile) / count)


def _micros(seconds: float) -> int:
    return min(max(int(seconds * 1e6), 1), MAX_LATENCY_US)


def _raw_summary_ms(values: array) -> dict[str, float] | None:
    if not values:
        return None
    micros = np.frombuffer(values, dtype=np.uint32)
    quantiles = percentiles(micros, SERVER_PERCENTILES)
    summary = {
        f"p{p:g}": float(q) / 1000.0 for p, q in zip(SERVER_PERCENTILES, quantiles, strict=True)
    }
    summary["mean"] = float(micros.mean()) / 1000.0
    return {key: round(value, 3) for key, value in summary.items()}


def _summary_ms(histogram: HdrHistogram) -> dict[str, float] | None:
    if histogram.get_total_count() == 0:
        return None
    summary = {f"p{p:g}": _value_at(histogram, p) / 1000.0 for p in PERCENTILES}
    summary["max"] = histogram.get_max_value() / 1000.0
    summary["min"] = histogram.get_min_value() / 1000.0
    summary["mean"] = histogram.get_mean_value() / 1000.0
    return {key: round(value, 3) for key, value in summary.items()}


def cache_hits(recorders: list[Recorder]) -> dict[str, float] | None:
    """Answers the server's cache gave (from its timing): count, share of the answers that
    carried a timing, and that number; None when no answer carried one."""
    answers = sum(len(recorder.server["total"]) for recorder in recorders)
    if not answers:
        return None
    count = sum(recorder.cache_hits for recorder in recorders)
    return {"count": count, "share": round(count / answers, 4), "answers": answers}
