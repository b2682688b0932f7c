"""How long will a batch take? A small online model of the two batch stages, used to admit only
work that can still be answered within its budget and to size each batch to the oldest request's
remaining budget (Clipper-style adaptive batching, model-based rather than AIMD).

- forward pass (holds the inference slot): ``rate * work``, where work counts the tokens the
  graph computes plus a fixed cost per onnxruntime call, in token equivalents. A batched graph
  computes the padded rectangle in one call (FIXED_TOKENS once); a row-wise graph (dynamic INT8,
  server/model.py) computes each row on its own tokens in its own call (ROW_FIXED_TOKENS per row),
  so a backlog of n requests costs n calls, not one: counting it as one batch under-predicted a
  queue of 7 by about a third and let answered requests run past the SLO. Rows computed side by
  side (`--row-threads`, each thread taking the next row) count as their largest round-robin
  share. One parameter, learned as a moving average of seconds per work token, so a few noisy
  batches cannot tip it the way a two-parameter line fitted on a narrow range of sizes does; a
  batch far slower than predicted (the machine stalled) moves it by at most a factor of
  OUTLIER_CAP;
- post-processing (decode, resolve, respond; runs beside the next forward pass): a per-request
  cost, also a moving average.

Before the first batch there is no estimate (0): only budgets already spent are refused. A hot
swap to a graph computed another way (row-wise INT8 <-> batched FP32) starts the new model from
the old one's time for a typical request (`rebased`), not from nothing: a fresh model predicted
no wait at all until the new graph's first batch, then took that batch, however slow, as its
whole estimate, right when the swap's emptied cache sends every request to the model.

The prediction is a typical time and leaves out the event loop's own queue (a busy loop resumes a
finished request late), so `AdmitShare` closes the loop on what callers get: a controller on the
share of a request's budget the predicted wait may fill, which every late answer lowers and every
timely one raises, so that the share of late answers settles under what a p95 allows. An answer is
late by the caller's clock: past its budget less `--slo-transport-ms`, the time gRPC, the network
and the caller add that the server cannot see (at 2 x capacity here the caller's p95 ran 3-4 ms
over the server's own). Per-request admission keeps the whole budget, so a moderately loaded
server does not shed the few requests a burst pushes past the server's share: the p95 allows them.

`ArrivalRate` says when the server is quiet enough for the event loop to run a forward pass itself.
"""

from __future__ import annotations

import collections
import math
from typing import Sequence

FIXED_TOKENS = 16  # per-call overhead of a batched forward pass, in padded-token equivalents (MiniLM on CPU)
ROW_FIXED_TOKENS = 6  # per-call overhead of one row (INT8, one thread: ~0.12 ms a token, ~0.7 ms a call)
PADDING = 1.15  # padded / real tokens of a batch grouped by length
ALPHA = 0.1  # weight of the newest batch
TYPICAL_TOKENS = 16  # a request of usual length, for what carries over a swap (`rebased`)
OUTLIER_CAP = 3.0  # one observation counts as at most this many times the current estimate
# AdmitShare: the share of answers past their budget is steered to TARGET_MISS, under the 5 % a
# p95 objective allows (the caller also sees the transport's share). Each answer moves the share
# multiplicatively, by exp(GAIN * TARGET_MISS) when in time and exp(-GAIN * (1 - TARGET_MISS))
# when late, so the moves cancel exactly at the target: 100 answers with twice the target's
# misses cut it by a fifth, 100 in time raise it by a quarter.
TARGET_MISS = 0.04
GAIN = 0.056
MIN_SHARE = 0.2
# time with nothing in progress is no load: the share grows e-fold for each SHARE_RECOVERY_S of it;
# after a busy spell that ran late, only what a pause lasts past LATE_PAUSE_S counts
SHARE_RECOVERY_S = 5.0
LATE_PAUSE_S = 10.0
# ArrivalRate: arrivals counted over the last RATE_WINDOW_S; a forward pass runs on the event loop
# while the expected number of arrivals during it stays under INLINE_MAX_ARRIVALS
RATE_WINDOW_S = 1.0
INLINE_MAX_ARRIVALS = 0.1
# ... and no other request arrived within BURST_WINDOW_S, or BURST_PASSES passes when a pass is
# slower: a burst is not quiet whatever the rate (read one request at a time after each pass on
# the loop, its requests arrive a pass and its post-processing apart)
BURST_WINDOW_S = 0.01
BURST_PASSES = 4


class BatchTimeModel:
    def __init__(self, row_wise: bool = False, row_threads: int = 1) -> None:
        self.row_wise = row_wise
        self.row_threads = max(1, row_threads) if row_wise else 1
        self.seconds_per_token = 0.0
        self.post_per_request_s = 0.0
        self.observed = 0

    def rebased(self, row_wise: bool, row_threads: int) -> "BatchTimeModel":
        """A model for a graph computed another way, starting where this one predicts a typical
        request (its forward pass and post-processing) until the new graph's batches refine it:
        each observation moves it by ALPHA, capped at OUTLIER_CAP, as any other would."""
        new = BatchTimeModel(row_wise, row_threads)
        new.seconds_per_token = self.forward_s([TYPICAL_TOKENS]) / new.work([TYPICAL_TOKENS])
        new.post_per_request_s = self.post_per_request_s
        return new

    def work(self, lengths: Sequence[int]) -> float:
        """A batch's forward-pass work in token equivalents, from its rows' unpadded lengths."""
        if not lengths:
            return 0.0
        if self.row_wise:  # row_threads threads take the rows in turn: the largest share decides
            shares = min(self.row_threads, len(lengths))
            return max(sum(lengths[k::shares]) + ROW_FIXED_TOKENS * len(lengths[k::shares]) for k in range(shares))
        return max(lengths) * len(lengths) + FIXED_TOKENS

    def observe_forward(self, lengths: Sequence[int], seconds: float) -> None:
        self.seconds_per_token = _average(self.seconds_per_token, seconds / self.work(lengths))
        self.observed += 1

    def observe_post(self, n_requests: int, seconds: float) -> None:
        self.post_per_request_s = _average(self.post_per_request_s, seconds / max(1, n_requests))

    def forward_s(self, lengths: Sequence[int]) -> float:
        return self.seconds_per_token * self.work(lengths)

    def batch_s(self, lengths: Sequence[int]) -> float:
        """Forward pass plus post-processing of one batch: the time its requests wait for both."""
        return self.forward_s(lengths) + len(lengths) * self.post_per_request_s

    def backlog_s(self, n_requests: int, tokens: int, max_batch_size: int) -> float:
        """Forward-pass time to run `n_requests` queued requests holding `tokens` unpadded tokens,
        in batches of at most `max_batch_size`."""
        if n_requests <= 0:
            return 0.0
        if self.row_wise:
            threads = min(self.row_threads, n_requests)
            return self.seconds_per_token * (tokens + n_requests * ROW_FIXED_TOKENS) / threads
        batches = math.ceil(n_requests / max_batch_size)
        return self.seconds_per_token * (tokens * PADDING + batches * FIXED_TOKENS)


def _average(current: float, new: float) -> float:
    if current == 0.0:
        return new
    return (1 - ALPHA) * current + ALPHA * min(new, OUTLIER_CAP * current)


class AdmitShare:
    """The share of its budget a request's predicted wait may fill and still be admitted: 1.0
    while answers arrive in time (so a lightly loaded server never sheds on a prediction's noise),
    lower while too many arrive late.

    Every answer nudges it (a stochastic-approximation tracker, as used to follow a quantile), so
    the long-run share of late answers settles at TARGET_MISS however the late ones are spread.
    The rule it replaced judged windows of 100 answers (cut by a fifth when one had more than
    the target, raised by a fixed 0.05 when one had under half of it): after an overload it took
    ~1,600 timely answers to climb back from the floor (~700 here), and a server just below
    capacity shed a fifth of its requests meanwhile (docs/performance.md).

    Answers alone cannot tell that an overload is over: after one, a quiet server (a request a
    second) took ~600 answers, ten minutes, to admit against its whole budget again, and shed
    meanwhile what it had room for. Idle time counts too (`rest`), but after a busy spell that ran
    late, only what a pause lasts past LATE_PAUSE_S: bursts that each end late and pause in between
    (a job every second) would otherwise hold the late share at 9-16 % with 0.4-1 s pauses, not at
    its target, while a quiet night after an overload must not leave the share where it ended."""

    UP = math.exp(GAIN * TARGET_MISS)
    DOWN = math.exp(-GAIN * (1 - TARGET_MISS))

    def __init__(self) -> None:
        self.value = 1.0
        self._late_since_rest = False

    def rest(self, idle_s: float) -> None:
        """The server had nothing in progress for `idle_s` seconds."""
        self.value = self.rested(idle_s)
        self._late_since_rest = False

    def rested(self, idle_s: float) -> float:
        """What the share would be after `idle_s` seconds with nothing in progress (the gauge shows
        it while the server is idle: the share the next arrival gets)."""
        counted = max(0.0, idle_s - LATE_PAUSE_S) if self._late_since_rest else idle_s
        return min(1.0, self.value * math.exp(counted / SHARE_RECOVERY_S)) if self.value < 1.0 else self.value

    def observe(self, missed: bool) -> None:
        self._late_since_rest |= missed
        if missed:
            self.value = max(MIN_SHARE, self.value * self.DOWN)
        elif self.value < 1.0:
            self.value = min(1.0, self.value * self.UP)


class ArrivalRate:
    """Requests a second over the last RATE_WINDOW_S, and whether the server is quiet enough to
    run a forward pass on the event loop instead of the inference thread.

    The thread hand-off costs two wake-ups of a sleeping core (there and back), ~0.7 ms a
    request on an idle 2-vCPU VM (docs/performance.md): worth saving when nothing
    else would use the loop meanwhile. While the loop computes, arrivals wait unread in gRPC's
    queue, where admission cannot see or shed them, so it is done only when fewer than
    INLINE_MAX_ARRIVALS requests are expected to arrive during the pass (at ~4 ms a pass: below
    ~25 requests a second); above that the inference thread keeps the loop free. A second's
    average misses a burst: 16 requests sent at once into a quiet server averaged 16 a second, and
    each, read after the pass before it, found nothing queued and ran on the loop in turn (2-4x
    past the SLO). So another arrival within BURST_WINDOW_S (or BURST_PASSES passes) also means
    not quiet.
    """

    def __init__(self) -> None:
        self._times: collections.deque[float] = collections.deque()

    def arrive(self, now: float) -> None:
        self._times.append(now)
        self._forget(now)

    def per_s(self, now: float) -> float:
        self._forget(now)
        return len(self._times) / RATE_WINDOW_S

    def quiet_for(self, seconds: float, now: float) -> bool:
        if len(self._times) >= 2 and self._times[-2] > now - max(BURST_WINDOW_S, BURST_PASSES * seconds):
            return False
        return self.per_s(now) * seconds < INLINE_MAX_ARRIVALS

    def _forget(self, now: float) -> None:
        while self._times and self._times[0] <= now - RATE_WINDOW_S:
            self._times.popleft()
