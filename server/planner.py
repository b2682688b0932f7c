"""How long will a batch take? A small online model of the two batch stages, used to admit only
work that can still be answered within its budget and to size each batch to the oldest request's
remaining budget (Clipper-style adaptive batching, model-based rather than AIMD).

- forward pass (holds the inference slot): ``a + b * padded_tokens``, refitted after every batch
  by recursive least squares with forgetting, so it follows the machine's drifting speed;
- post-processing (decode, resolve, respond; runs beside the next forward pass): a per-request
  cost, an exponential moving average.

Before the first batch there is no estimate (0): only budgets already spent are refused.
"""

from __future__ import annotations

import math

import numpy as np

FORGET = 0.98  # weight of the past per observation: about the last 50 batches count
POST_ALPHA = 0.1


class BatchTimeModel:
    def __init__(self) -> None:
        self._theta = np.zeros(2)  # seconds: per batch, per padded token
        self._p = np.eye(2) * 1e3
        self.post_per_request_s = 0.0
        self.observed = 0

    def observe_forward(self, padded_tokens: int, seconds: float) -> None:
        x = np.array([1.0, float(padded_tokens)])
        px = self._p @ x
        gain = px / (FORGET + x @ px)
        self._theta = self._theta + gain * (seconds - x @ self._theta)
        self._p = (self._p - np.outer(gain, px)) / FORGET
        self.observed += 1

    def observe_post(self, n_requests: int, seconds: float) -> None:
        per = seconds / max(1, n_requests)
        self.post_per_request_s = per if self.post_per_request_s == 0.0 else (
            (1 - POST_ALPHA) * self.post_per_request_s + POST_ALPHA * per)

    def forward_s(self, padded_tokens: int) -> float:
        if not self.observed:
            return 0.0
        a, b = self._theta
        return max(0.0, a + b * padded_tokens)

    def batch_s(self, n_requests: int, padded_tokens: int) -> float:
        """Forward pass plus post-processing of one batch: the time its requests wait for both."""
        return self.forward_s(padded_tokens) + n_requests * self.post_per_request_s

    def backlog_s(self, n_requests: int, tokens: int, max_batch_size: int) -> float:
        """Forward-pass time to run `n_requests` queued requests holding `tokens` unpadded tokens, in batches of
        at most `max_batch_size` (padding ~ 15 % more tokens: batches are grouped by length)."""
        if n_requests <= 0 or not self.observed:
            return 0.0
        batches = math.ceil(n_requests / max_batch_size)
        a, b = self._theta
        return max(0.0, batches * a + b * tokens * 1.15)
