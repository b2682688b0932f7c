"""Arrival times of an open-loop run, fixed before the run starts.

Open loop means requests are due at these times whatever the server does; latency is
measured from the due time, so a slow server cannot slow the arrivals down and hide its
own queueing (coordinated omission).
"""

from __future__ import annotations

import numpy as np

from .config import ARRIVALS


def arrival_offsets(rate: float, duration: float, arrival: str, seed: int = 0) -> np.ndarray:
    """Seconds from the start at which requests are due, sorted, all below ``duration``.

    ``uniform``: exactly ``round(rate * duration)`` requests, evenly spaced.
    ``poisson``: exponential gaps with mean ``1 / rate`` (independent callers), seeded.
    """
    if rate <= 0 or duration <= 0:
        raise ValueError("rate and duration must be positive")
    if arrival == "uniform":
        return np.arange(int(round(rate * duration)), dtype=np.float64) / rate
    if arrival != "poisson":
        raise ValueError(f"unknown arrival process {arrival!r}; choose from {ARRIVALS}")
    rng = np.random.default_rng(seed)
    expected = rate * duration
    draws = int(expected + 6 * np.sqrt(expected) + 16)  # enough gaps with near certainty
    offsets = np.cumsum(rng.exponential(1.0 / rate, size=draws))
    while offsets[-1] < duration:  # astronomically rare: draw more
        more = np.cumsum(rng.exponential(1.0 / rate, size=draws)) + offsets[-1]
        offsets = np.concatenate([offsets, more])
    return offsets[offsets < duration]
