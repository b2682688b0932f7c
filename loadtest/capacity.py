"""Which rate to try next when looking for capacity (--find-capacity; --sweep just lists them).

Capacity is the highest offered rate whose step meets the SLO with no errors (or no more than
--max-error-rate of them). The search doubles the rate from --rate until a step fails (halves
it while the first steps fail), then bisects between the best passing and the lowest failing
rate until they are within PRECISION of each other, so a 2,000 req/s server is found in about
a dozen short steps.
"""

from __future__ import annotations

from collections.abc import Iterator

PRECISION = 0.05  # stop when lowest failing / highest passing <= 1.05
MIN_RATE = 1.0


class Search:
    """Ramp, then bisect. Feed each step's outcome to :meth:`record` before the next rate."""

    def __init__(self, start: float, max_rate: float, max_steps: int) -> None:
        self.max_rate = max_rate
        self.max_steps = max_steps
        self.best: float | None = None  # highest rate that passed
        self.worst: float | None = None  # lowest rate that failed
        self._next: float | None = min(start, max_rate)
        self._steps = 0

    def __iter__(self) -> Iterator[float]:
        while self._next is not None and self._steps < self.max_steps:
            self._steps += 1
            rate, self._next = self._next, None
            yield rate

    def record(self, rate: float, passed: bool) -> None:
        if passed:
            self.best = rate if self.best is None else max(self.best, rate)
        else:
            self.worst = rate if self.worst is None else min(self.worst, rate)
        if self.worst is None:  # still ramping up
            self._next = min(rate * 2, self.max_rate) if rate < self.max_rate else None
        elif self.best is None:  # even the first rate failed: ramp down
            self._next = rate / 2 if rate / 2 >= MIN_RATE else None
        elif self.worst / self.best > 1 + PRECISION:
            self._next = _round((self.best + self.worst) / 2)

    @property
    def capacity(self) -> float | None:
        return self.best


def _round(rate: float) -> float:
    """Three significant figures: rates people can read and rerun."""
    return float(f"{rate:.3g}")
