"""How long will a batch take? A small online model of the two batch stages, used to admit only
work that can still be answered within its budget and to size each batch to the oldest request's
remaining budget (Clipper-style adaptive batching, model-based rather than AIMD).

- forward pass (holds the inference slot): ``rate * (padded_tokens + FIXED_TOKENS)``: a cost per
  padded token plus a fixed per-batch cost expressed in tokens. One parameter, learned as a
  moving average of seconds per (token + FIXED_TOKENS), so a few noisy batches cannot tip it the
  way a two-parameter line fitted on a narrow range of sizes does; a batch far slower than
  predicted (the machine stalled) moves it by at most a factor of OUTLIER_CAP;
- post-processing (decode, resolve, respond; runs beside the next forward pass): a per-request
  cost, also a moving average.

Before the first batch there is no estimate (0): only budgets already spent are refused.
"""

from __future__ import annotations

import math

FIXED_TOKENS = 16  # per-batch overhead of a forward pass, in padded-token equivalents (MiniLM on CPU)
ALPHA = 0.1  # weight of the newest batch
OUTLIER_CAP = 3.0  # one observation counts as at most this many times the current estimate


class BatchTimeModel:
    def __init__(self) -> None:
        self.seconds_per_token = 0.0
        self.post_per_request_s = 0.0
        self.observed = 0

    def observe_forward(self, padded_tokens: int, seconds: float) -> None:
        rate = seconds / (padded_tokens + FIXED_TOKENS)
        self.seconds_per_token = _average(self.seconds_per_token, rate)
        self.observed += 1

    def observe_post(self, n_requests: int, seconds: float) -> None:
        self.post_per_request_s = _average(self.post_per_request_s, seconds / max(1, n_requests))

    def forward_s(self, padded_tokens: int) -> float:
        return self.seconds_per_token * (padded_tokens + FIXED_TOKENS)

    def batch_s(self, n_requests: int, padded_tokens: int) -> float:
        """Forward pass plus post-processing of one batch: the time its requests wait for both."""
        return self.forward_s(padded_tokens) + n_requests * self.post_per_request_s

    def backlog_s(self, n_requests: int, tokens: int, max_batch_size: int) -> float:
        """Forward-pass time to run `n_requests` queued requests holding `tokens` unpadded tokens,
        in batches of at most `max_batch_size` (padding ~ 15 % more tokens: batches are grouped
        by length)."""
        if n_requests <= 0:
            return 0.0
        batches = math.ceil(n_requests / max_batch_size)
        return self.seconds_per_token * (tokens * 1.15 + batches * FIXED_TOKENS)


def _average(current: float, new: float) -> float:
    if current == 0.0:
        return new
    return (1 - ALPHA) * current + ALPHA * min(new, OUTLIER_CAP * current)
