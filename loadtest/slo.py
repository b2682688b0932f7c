"""The SLO gate: compare measured figures with the limits and say so in one line.

A CI job reads the exit code; a person reads the verdict line. Latency percentiles cover
answered requests and timed-out ones (at their elapsed time, at least the deadline), not
refused ones, so the error rate is always checked too (default limit 0): a server that sheds
half its load must not pass on the speed of the other half.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # runner imports this module
    from .config import LoadConfig
    from .runner import StepResult


@dataclass(frozen=True)
class Check:
    """One limit. ``at_most``: actual <= limit passes; else actual >= limit. A missing
    measurement fails; a missing limit only reports the figure."""

    name: str
    actual: float | None
    limit: float | None
    unit: str
    at_most: bool = True
    note: str | None = None  # what the figure means, when it is not what its name suggests

    @property
    def passed(self) -> bool:
        if self.actual is None:
            return False
        if self.limit is None:
            return True
        return self.actual <= self.limit if self.at_most else self.actual >= self.limit

    def describe(self) -> str:
        if self.actual is None and self.note is not None:
            return f"{self.name} n/a ({self.note})"
        described = self._describe()
        return described if self.note is None else f"{described} ({self.note})"

    def _describe(self) -> str:
        if self.actual is None:
            why = "no request answered or timed out" if self.at_most else "no rate met the SLO"
            return f"{self.name} n/a ({why})"
        if self.limit is None:
            return f"{self.name} {_fmt(self.actual, self.unit)}"
        op = {(True, True): "<=", (True, False): ">", (False, True): ">=", (False, False): "<"}[
            (self.at_most, self.passed)
        ]
        return f"{self.name} {_fmt(self.actual, self.unit)} {op} {_fmt(self.limit, self.unit)}"

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "actual": self.actual,
            "limit": self.limit,
            "passed": self.passed,
        }


def _fmt(value: float, unit: str) -> str:
    return f"{value:.2%}" if unit == "%" else f"{value:g} {unit}"


@dataclass(frozen=True)
class Verdict:
    """All checks of a run; passes when every one does."""

    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def line(self) -> str:
        """``SLO PASS: ...`` or ``SLO FAIL: <failed checks> (ok: <passed checks>)``."""
        if self.passed:
            return "SLO PASS: " + "; ".join(check.describe() for check in self.checks)
        failed = "; ".join(check.describe() for check in self.checks if not check.passed)
        ok = "; ".join(check.describe() for check in self.checks if check.passed)
        return f"SLO FAIL: {failed}" + (f" (ok: {ok})" if ok else "")

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "verdict": self.line(),
            "checks": [c.to_dict() for c in self.checks],
        }


def evaluate(step: StepResult, config: LoadConfig) -> Verdict:
    """Checks of a fixed-rate run: p95, p99 (when set) and the error rate."""
    latency = step.recorder.latency_ms() or {}
    checks = []
    if config.slo_p95_ms is not None:
        checks.append(Check("p95", latency.get("p95"), config.slo_p95_ms, "ms"))
    if config.slo_p99_ms is not None:
        checks.append(Check("p99", latency.get("p99"), config.slo_p99_ms, "ms"))
    checks.append(Check("error rate", step.error_rate, config.max_error_rate, "%"))
    checks.extend(_cache_check([step], config))
    return Verdict(tuple(checks))


def _cache_check(steps: list[StepResult], config: LoadConfig) -> list[Check]:
    """--max-cache-share: a run the server's cache answered measured the cache, not the model (a
    CI gate passed on one that said so only in its report). A server that reports no timing
    cannot say: that fails, as any missing measurement does."""
    if config.max_cache_share is None:
        return []
    from .recorder import cache_hits

    hits = cache_hits([step.recorder for step in steps])
    return [cache_check(hits, config.max_cache_share)]


def cache_check(hits: dict | None, limit: float) -> Check:
    """The exact share against the limit: the report's, rounded to 4 places, let 1 hit in 20,001
    pass a limit of 0."""
    share = None if hits is None else hits["count"] / hits["answers"]
    return Check("cache share", share, limit, "%", note=None if hits is not None else "the server sent no timing")


def step_meets_slo(step: StepResult, p95_ms: float | None, max_error_rate: float = 0.0,
                   p99_ms: float | None = None) -> bool:
    """Whether a sweep step counts toward capacity: p95 (and p99, when set) within the SLO and
    errors within --max-error-rate (by default none at all; a server that sheds to keep its SLO
    refuses a few requests at bursts well below its limit, which a small error budget allows)."""
    latency = step.recorder.latency_ms()
    return (
        latency is not None
        and step.error_rate <= max_error_rate
        and (p95_ms is None or latency["p95"] <= p95_ms)
        and (p99_ms is None or latency["p99"] <= p99_ms)
    )


def capacity(steps: list[StepResult], p95_ms: float | None, max_error_rate: float = 0.0,
             p99_ms: float | None = None) -> float | None:
    """Highest offered rate whose step met the SLO, or None if none did."""
    passing = [step.rate for step in steps if step_meets_slo(step, p95_ms, max_error_rate, p99_ms)]
    return max(passing) if passing else None


def capacity_capped(steps: list[StepResult], p95_ms: float | None, max_error_rate: float = 0.0,
                    p99_ms: float | None = None) -> bool:
    """Whether the capacity found is only a lower bound: no rate above it was tried and
    failed (the search stopped at --max-rate, or a sweep's every rate passed)."""
    found = capacity(steps, p95_ms, max_error_rate, p99_ms)
    return found is not None and not any(
        step.rate > found and not step_meets_slo(step, p95_ms, max_error_rate, p99_ms) for step in steps
    )


def evaluate_sweep(steps: list[StepResult], config: LoadConfig) -> Verdict:
    """Passes when some rate met the SLO and capacity reached --min-capacity-rps (if set)."""
    found = capacity(steps, config.slo_p95_ms, config.max_error_rate, config.slo_p99_ms)
    capped = capacity_capped(steps, config.slo_p95_ms, config.max_error_rate, config.slo_p99_ms)
    note = "at least: the highest rate tried" if capped else None
    return Verdict(
        (Check("capacity", found, config.min_capacity_rps, "req/s", at_most=False, note=note),
         *_cache_check(steps, config))
    )
