"""Prometheus metrics on a private registry, so tests and several servers in one process never collide."""

from __future__ import annotations

import collections
import logging
import math
import os
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

from .capture import DROP_REASONS
from .metrics_http import start_metrics_server

log = logging.getLogger(__name__)

# Sub-millisecond resolution where the SLO lives (p95 <= 25 ms), coarse beyond. The default SLO
# (25 ms) and the server's share of it (22 ms: --slo-p95-ms less --slo-transport-ms) are edges, and
# 15-50 ms is split finely enough that histogram_quantile does not interpolate across the SLO.
LATENCY_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.022, 0.025, 0.03, 0.04,
                   0.05, 0.1, 0.25, 1.0, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
TOKEN_BUCKETS = (16, 64, 128, 256, 512, 1024, 2048, 4096, 8192)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
ROLLING_WINDOW = 1000  # answers behind each rolling rate, at most
ROLLING_SECONDS = 300.0  # and none older: an idle process's rates age out instead of holding an alert
ROLLING_MIN = 20  # fewer answers in the window: NaN (a cold first answer read as "half of all late")
GAUGE_REFRESH_S = 5.0  # how often the server re-reads its rolling gauges while nothing is answered
# Label values the server itself fixes, exported at 0 from the start: a series born at 1 shows no
# increase, so an alert on `increase(...) > 0` missed the first failure after every restart.
RELOAD_OUTCOMES = ("ok", "failed")  # server/reload.py
EXPIRED_STAGES = ("admission", "queue")  # server/batcher.py
ESCALATION_REASONS = ("out_of_distribution", "policy", "low_confidence", "ambiguous")  # server/escalation.py


class RollingRate:
    """Share of True over the last `window` observations no older than `seconds`: a drift signal
    that reacts within minutes, unlike a counter's lifetime average, and says nothing (NaN) on
    fewer than `minimum`. Without the age bound an idle replica kept the share of its last busy
    minute for good (an alert on it never cleared); without the minimum, one out-of-scope first
    question read as an OOD rate of 1.0."""

    def __init__(self, window: int = ROLLING_WINDOW, seconds: float = ROLLING_SECONDS,
                 minimum: int = ROLLING_MIN) -> None:
        self._values: collections.deque[tuple[float, bool]] = collections.deque()
        self._true = 0
        self.window, self.seconds, self.minimum = window, seconds, minimum

    def add(self, value: bool, now: float) -> float:
        self._values.append((now, value))
        self._true += value
        if len(self._values) > self.window:
            self._true -= self._values.popleft()[1]
        return self.share(now)

    def share(self, now: float) -> float:
        """The share at `now` (time.monotonic()), NaN on too few answers."""
        values, cutoff = self._values, now - self.seconds
        while values and values[0][0] < cutoff:
            self._true -= values.popleft()[1]
        return self._true / len(values) if len(values) >= self.minimum else math.nan


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        # by status too: under overload the refusals (sub-millisecond) pulled any quantile of the
        # answered calls' time down; {code="OK"} is the time of answers alone
        self.rpc_latency = Histogram("intentd_rpc_latency_seconds", "Server time per RPC, by final status code",
                                     ["rpc", "code"], buckets=LATENCY_BUCKETS, registry=r)
        self.rpc_total = Counter("intentd_rpc", "RPCs by final status code", ["rpc", "code"], registry=r)
        self.queue_wait = Histogram("intentd_queue_wait_seconds", "Admission to batch start",
                                    buckets=LATENCY_BUCKETS, registry=r)
        self.forward = Histogram("intentd_forward_seconds", "onnxruntime forward pass of one batch (holds the model)",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.forward_on_loop = Counter("intentd_forward_on_loop", "Forward passes the event loop ran itself "
                                       "(a quiet server: no thread hand-off)", registry=r)
        self.postprocess = Histogram("intentd_postprocess_seconds",
                                     "Decode, OOD, resolution and responses of one batch (beside the next forward pass)",
                                     buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("intentd_batch_size", "Requests per batch", buckets=BATCH_BUCKETS, registry=r)
        self.batch_tokens = Histogram("intentd_batch_tokens", "Padded tokens per batch", buckets=TOKEN_BUCKETS,
                                      registry=r)
        # with --workers, these add up across worker processes; the other gauges are per worker (pid
        # label), and a dead worker's go with it (live*: the supervisor marks it dead)
        self.queue_depth = Gauge("intentd_queue_depth", "Requests admitted and not yet in a batch", registry=r,
                                 multiprocess_mode="livesum")
        self.in_progress = Gauge("intentd_requests_in_progress", "Requests admitted and not yet answered, any stage",
                                 registry=r, multiprocess_mode="livesum")
        self.batch_bound = Gauge("intentd_batch_bound", "Largest batch the latest batch's budget allowed", registry=r,
                                 multiprocess_mode="liveall")
        self.admit_share = Gauge("intentd_admit_share", "Share of its budget a request's predicted wait may "
                                 "fill at admission (lowered while answers arrive past their budget)", registry=r,
                                 multiprocess_mode="liveall")
        self.slo_attainment = Gauge("intentd_slo_attainment",
                                    f"Share of the last {ROLLING_WINDOW} answers of the last {ROLLING_SECONDS:g} s "
                                    "within the server's share of the p95 SLO (--slo-p95-ms less "
                                    f"--slo-transport-ms); NaN on fewer than {ROLLING_MIN} answers and without an "
                                    "SLO", registry=r, multiprocess_mode="liveall")
        self.slo_attainment.set(math.nan)  # 0 would read as "every answer late" to an alert
        self.shed = Counter("intentd_shed", "Requests refused at admission: queue full, or more work ahead than "
                            "their budget (deadline, else SLO), or a budget spent before the server could read the request; "
                            "for_final: a stream's queued partial transcript shed to make room for a final or unary "
                            "request; streams: an AnalyzeStream past --max-streams; stalled: one forward pass has held "
                            "the model past --stall-timeout", ["reason"], registry=r)
        for reason in ("queue_full", "budget", "waited", "for_final", "streams", "stalled"):
            self.shed.labels(reason)
        self.transit = Histogram("intentd_transit_seconds", "Time a request waited before its handler ran, by "
                                 "the caller's x-request-start stamp or its deadline, less its connection's "
                                 "floor (requests whose wait could be read)", ["by"], buckets=LATENCY_BUCKETS,
                                 registry=r)
        for by in ("stamp", "deadline"):
            self.transit.labels(by)
        self.expired = Counter("intentd_expired", "Requests refused or dropped for their deadline", ["stage"],
                               registry=r)
        for stage in EXPIRED_STAGES:
            self.expired.labels(stage)
        self.cancelled = Counter("intentd_cancelled", "Queued requests dropped because the caller went away",
                                 registry=r)
        self.cache_hits = Counter("intentd_cache_hits", "Exact-match cache hits", registry=r)
        self.cache_misses = Counter("intentd_cache_misses", "Exact-match cache misses", registry=r)
        self.ood = Counter("intentd_ood", "Answers flagged out of distribution (follow-ups apart)", registry=r)
        self.escalations = Counter("intentd_escalations", "Answers with an escalation hint, by reason", ["reason"],
                                   registry=r)
        for reason in ESCALATION_REASONS:
            self.escalations.labels(reason)
        self.stalled = Gauge("intentd_inference_stalled", "1 while one forward pass has held the model past "
                             "--stall-timeout (health NOT_SERVING, requests refused UNAVAILABLE)", registry=r,
                             multiprocess_mode="liveall")
        # labelled, so absent without TLS (an unlabelled gauge reads 0, "expired in 1970", to an alert)
        self.tls_expiry = Gauge("intentd_tls_certificate_expiry_timestamp_seconds", "When the served --tls-cert "
                                "expires (Unix time), by its file name", ["cert"], registry=r,
                                multiprocess_mode="liveall")
        self.model_info = Gauge("intentd_model_info", "The serving model (value 1)", ["name", "version", "provider"],
                                registry=r, multiprocess_mode="liveall")
        self.reloads = Counter("intentd_reloads", "Model reloads by outcome", ["outcome"], registry=r)
        for outcome in RELOAD_OUTCOMES:
            self.reloads.labels(outcome)
        # drift: per model version, so a new model's traffic is never averaged with the old one's
        window = f"the last {ROLLING_WINDOW} answers of the last {ROLLING_SECONDS:g} s (NaN on fewer than {ROLLING_MIN})"
        self.ood_rate = Gauge("intentd_ood_rate", f"Share of {window} flagged OOD",
                              ["version"], registry=r, multiprocess_mode="liveall")
        self.escalation_rate = Gauge("intentd_escalation_rate", f"Share of {window} with an escalation hint",
                                     ["version"], registry=r, multiprocess_mode="liveall")
        self.confidence = Histogram("intentd_top_confidence", "Calibrated top-intent confidence of answers",
                                    ["version"], buckets=CONFIDENCE_BUCKETS, registry=r)
        # The review file (server/capture.py): each queued record ends as written or dropped, counted
        # by the capture's writer thread (ReviewCapture(..., on_written=, on_dropped=capture_dropped)).
        self.captured = Counter("intentd_review_captured", "Records written to the review file", registry=r)
        self.capture_drops = Counter("intentd_review_capture_dropped",
                                     "Records not written to the review file, by reason", ["reason"], registry=r)
        for reason in DROP_REASONS:
            self.capture_drops.labels(reason)  # every reason exported from the start, at 0
        # AnalyzeStream (server/stream.py): partials a later message of their stream superseded.
        self.stream_superseded = Counter("intentd_stream_superseded",
                                         "AnalyzeStream partials superseded by a later message: withdrawn from the "
                                         "queue (never computed) or answered marked stale; or shed under load and "
                                         "answered superseded", ["outcome"], registry=r)
        for outcome in ("withdrawn", "stale", "shed"):
            self.stream_superseded.labels(outcome)
        self.streams_open = Gauge("intentd_streams_open", "AnalyzeStream calls open (with --workers, summed over "
                                  "the workers; each refuses streams past its own --max-streams)", registry=r,
                                  multiprocess_mode="livesum")
        self.streams_idle_ended = Counter("intentd_streams_idle_ended", "AnalyzeStream calls ended for sending no "
                                          "message for --stream-idle-timeout once every answer had gone out",
                                          registry=r)
        self._rolling: dict[str, tuple[RollingRate, RollingRate]] = {}
        self._within_slo = RollingRate()
        self._model: tuple[str, str, str] | None = None

    def observe_latency(self, seconds: float, slo_s: float) -> None:
        """One answered request's server time, against the SLO (0: no SLO, nothing recorded)."""
        if slo_s > 0:
            self.slo_attainment.set(self._within_slo.add(seconds <= slo_s, time.monotonic()))

    def refresh(self) -> None:
        """The rolling gauges as of now: answers age out of them while none arrive (the server
        calls this every GAUGE_REFRESH_S). Plain sets: --workers shares metrics through files."""
        now = time.monotonic()
        self.slo_attainment.set(self._within_slo.share(now))
        current = None if self._model is None else self._model[1]
        for version, (ood, escalated) in list(self._rolling.items()):
            if version == current:
                self.ood_rate.labels(version).set(ood.share(now))
                self.escalation_rate.labels(version).set(escalated.share(now))

    def set_model(self, name: str, version: str, provider: str) -> None:
        """One series at 1, the model now served. A reloaded-away model's series goes, and so do
        its drift rates (an alert on them fired until a restart): removed, or set to 0 (the info)
        and NaN (the rates) in the workers' multiprocess mode, where prometheus-client cannot
        remove one."""
        previous, self._model = self._model, (name, version, provider)
        if previous is not None and previous != self._model:
            multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
            if multiprocess:
                self.model_info.labels(*previous).set(0)
            else:
                self.model_info.remove(*previous)
            if previous[1] != version and self._rolling.pop(previous[1], None) is not None:
                for rate in (self.ood_rate, self.escalation_rate):
                    if multiprocess:
                        rate.labels(previous[1]).set(math.nan)
                    else:
                        rate.remove(previous[1])
        self.model_info.labels(*self._model).set(1)

    def capture_dropped(self, reason: str) -> None:
        self.capture_drops.labels(reason).inc()

    def count_answer(self, analysis) -> None:
        # a follow-up ("and to savings", "make it 50") is flagged on its few words alone, as no
        # request of its own, and answered against the turn before it: no drift from the training
        # data (counted, the drift alert fired whenever callers sent more follow-ups)
        drifted = analysis.prediction.is_ood and analysis.follow_up is None
        if drifted:
            self.ood.inc()
        if analysis.escalation.escalate:
            self.escalations.labels(analysis.escalation.reason or "unknown").inc()
        version = analysis.model_version
        self.confidence.labels(version).observe(analysis.prediction.confidence)
        if self._model is not None and version != self._model[1]:
            return  # computed by a reloaded-away model just before its swap: its rates are gone
        rolling = self._rolling.get(version)
        if rolling is None:
            rolling = self._rolling[version] = (RollingRate(), RollingRate())
        now = time.monotonic()
        self.ood_rate.labels(version).set(rolling[0].add(drifted, now))
        self.escalation_rate.labels(version).set(rolling[1].add(analysis.escalation.escalate, now))

    def value(self, name: str, labels: dict | None = None) -> float:
        """A sample's current value (0 when absent): for tests and the benchmark report."""
        return self.registry.get_sample_value(name, labels or {}) or 0.0

    def serve_http(self, host: str, port: int):
        """Start the /metrics endpoint in a daemon thread; returns the HTTP server (call .shutdown())."""
        server = start_metrics_server(host, port, self.registry)
        log.info("metrics on http://%s:%d/metrics", host, server.server_port)
        return server


class WorkerStates:
    """`intentd_workers{state}` on a `--workers` supervisor's /metrics: its workers by state as it
    last saw them (a collector of its own, read at each scrape: a worker cannot say it is down,
    the supervisor sees them all). serving: has served since it was started (its own health may
    still say otherwise: `intentd_inference_stalled`); starting: loading its model; down: exited,
    to be restarted after a pause (which doubles while it cannot start)."""

    STATES = ("serving", "starting", "down")

    def __init__(self, workers: int) -> None:
        self.states = ["starting"] * workers  # one per worker, replaced whole by the supervisor

    def collect(self):
        family = GaugeMetricFamily("intentd_workers", "Worker processes of a --workers server by state: serving, "
                                   "starting (loading its model), down (exited, to be restarted)", labels=["state"])
        states = self.states
        for state in self.STATES:
            family.add_metric([state], states.count(state))
        yield family
