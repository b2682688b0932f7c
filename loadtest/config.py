"""One settings object for a load test; the command-line flags are built from it.

Each field carries its flag's help and argparse options, so the flag list, the defaults
and the validation live in one place instead of being repeated in the CLI and the runner.
"""

from __future__ import annotations

import argparse
import math
import secrets
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from intentd.argtypes import finite_float, port_problem

from .errors import ConfigError

#: Unary RPCs of intentd.v1.IntentService whose request is a `text` plus options.
UNARY_RPCS = ("Analyze", "DetectIntent", "ExtractEntities", "Respond")
#: Arrival processes (see .schedule).
ARRIVALS = ("poisson", "uniform")
#: Default address: where `intentd serve` listens by default.
DEFAULT_TARGET = "127.0.0.1:50051"
#: Upper bounds that keep the generator itself bounded.
MAX_DURATION_S = 3600.0
MAX_REQUESTS_PER_STEP = 5_000_000
#: The highest rate a capacity search offers unless --max-rate says (or a step would exceed
#: MAX_REQUESTS_PER_STEP).
DEFAULT_MAX_RATE = 100_000.0
MIN_EXPECTED_REQUESTS = 1  # a fixed run expected to send fewer has nothing to judge
MAX_CHANNELS = 64
MAX_SWEEP_STEPS = 50
MAX_VOICE_STREAMS = 1000
#: One word every 150 ms: about 400 words a minute, a fast talker's pace as a recogniser emits it.
DEFAULT_WORD_INTERVAL_MS = 150.0
#: Distinct generated texts a run builds at most (then they cycle): far above the server's
#: cache size (an LRU of 4,096 by default), so a cycle finds nothing cached.
MAX_GENERATED_TEXTS = 200_000


def _opt(default: Any, help: str, **argparse_kwargs: Any) -> Any:
    """A settings field whose metadata describes its command-line flag."""
    return field(default=default, metadata={"help": help, "argparse": argparse_kwargs})


@dataclass(frozen=True)
class LoadConfig:
    """Everything one `intentd loadtest` invocation needs, validated on construction."""

    target: str | None = _opt(
        None,
        f"gRPC address host:port to load (default {DEFAULT_TARGET})",
        metavar="ADDR",
    )
    uds: str | None = _opt(
        None, "Unix domain socket path to load instead of --target", metavar="PATH"
    )
    rpc: str = _opt("Analyze", "unary RPC to call", choices=UNARY_RPCS)
    voice_streams: int | None = _opt(
        None,
        "voice mode: hold N concurrent AnalyzeStream calls, each revealing utterances word by "
        "word as partial transcripts and then the final one, for --duration; reports partial and "
        "final latency, supersession and the `stable` signal (docs/voice.md). --rate, --arrival, "
        "--concurrency-limit, --rpc and --sweep do not apply",
        type=int,
        metavar="N",
    )
    word_interval_ms: float | None = _opt(
        None,
        f"with --voice-streams: time between one stream's words, i.e. its messages "
        f"(default: {DEFAULT_WORD_INTERVAL_MS:g})",
        type=finite_float,
        metavar="MS",
    )
    rate: float = _opt(50.0, "offered load, requests per second", type=finite_float, metavar="R")
    duration: float = _opt(10.0, "seconds of load (per step with --sweep)", type=finite_float, metavar="S")
    arrival: str = _opt(
        "poisson",
        "arrival process: poisson (independent callers) or uniform",
        choices=ARRIVALS,
    )
    concurrency_limit: int = _opt(
        512,
        "most requests in flight; a due request waits for a slot, and the wait counts as latency "
        "and against its deadline (reported apart from the send lag)",
        type=int,
        metavar="N",
    )
    channels: int = _opt(
        1,
        "gRPC channels (connections), used round-robin; a server started with --workers N spreads "
        "connections, not calls, over its workers (the kernel balances them): with one channel, one "
        "worker answers the whole load, so give at least N",
        type=int,
        metavar="N",
    )
    deadline_ms: float = _opt(
        1000.0,
        "per-request gRPC deadline, from the request's scheduled send time; a request that times out "
        "counts in the latency percentiles at its elapsed time (at least this) as well as an error",
        type=finite_float,
        metavar="MS",
    )
    request_start: bool = _opt(
        True,
        "stamp each request's send time (x-request-start metadata), so intentd counts the time a "
        "request waits before the server can read it against its budget",
        action=argparse.BooleanOptionalAction,
    )
    connect_timeout_s: float = _opt(
        5.0,
        "how long to wait for the target to accept a connection",
        type=finite_float,
        metavar="S",
    )
    texts: Path | None = _opt(
        None,
        'your traffic, sent as it is (repeats and all): JSONL of canonical examples (uses "text"), '
        "plain text lines, or a directory of imported splits (*.jsonl) (default: generated "
        f"banking-support utterances, none repeated within the run up to {MAX_GENERATED_TEXTS:,})",
        type=Path,
        metavar="PATH",
    )
    warmup: int = _opt(
        20,
        "requests sent one by one before measuring (not recorded), for at most 2 s: a slow server gets fewer",
        type=int,
        metavar="N",
    )
    seed: int | None = _opt(
        None,
        "seed for Poisson arrivals, text order and the generated texts; the same seed repeats "
        "a run (default: a fresh one each run, shown in the report, so a rerun against the "
        "same server does not find the last run's texts in its cache)",
        type=int,
    )
    sweep: str | None = _opt(
        None,
        "step the rate up and report capacity: a list R1,R2,... or START:FACTOR:STOP "
        "(stops at the first step over --slo-p95-ms or with errors)",
        metavar="RATES",
    )
    slo_p95_ms: float | None = _opt(
        None, "fail (exit 1) when p95 latency exceeds this", type=finite_float, metavar="MS"
    )
    slo_p99_ms: float | None = _opt(
        None, "fail (exit 1) when p99 latency exceeds this", type=finite_float, metavar="MS"
    )
    max_error_rate: float = _opt(
        0.0,
        "fail (exit 1) when the share of failed requests exceeds this (0..1); with "
        "--find-capacity or --sweep, a step may also fail this share and still count",
        type=finite_float,
        metavar="F",
    )
    max_cache_share: float | None = _opt(
        None,
        "fail (exit 1) when the server's exact-match cache answered more than this share of the "
        "requests (0..1): such a run measures the cache, not the model",
        type=finite_float,
        metavar="F",
    )
    find_capacity: bool = _opt(
        False,
        "search for capacity: double the rate from --rate until a step misses --slo-p95-ms or "
        "errs (beyond --max-error-rate), then bisect to within 5%%",
        action="store_true",
    )
    max_rate: float | None = _opt(
        None,
        f"with --find-capacity: never offer more than this (a capacity found at this cap is "
        f"reported as 'at least', capacity_capped in --json) (default: {DEFAULT_MAX_RATE:g}, or less "
        f"where a step of --duration would send over {MAX_REQUESTS_PER_STEP:,} requests)",
        type=finite_float,
        metavar="R",
    )
    min_capacity_rps: float | None = _opt(
        None,
        "with --sweep or --find-capacity: fail (exit 1) when capacity is below this",
        type=finite_float,
        metavar="R",
    )
    tls: bool = _opt(False, "connect over TLS (HTTP/2 via ALPN)", action="store_true")
    tls_ca: Path | None = _opt(
        None, "with --tls: PEM roots to verify the server (default: system roots)", type=Path,
        metavar="FILE",
    )  # fmt: skip
    tls_cert: Path | None = _opt(
        None,
        "with --tls: client certificate PEM (mutual TLS)",
        type=Path,
        metavar="FILE",
    )
    tls_key: Path | None = _opt(
        None, "with --tls-cert: its private key PEM", type=Path, metavar="FILE"
    )
    tls_server_name: str | None = _opt(
        None, "with --tls: name to verify and send as SNI/authority", metavar="NAME"
    )
    json: bool = _opt(
        False,
        "print one JSON object on stdout (progress and verdict go to stderr)",
        action="store_true",
    )
    plot: Path | None = _opt(
        None,
        "write a PNG of latency over time (or over rate with --sweep); needs matplotlib",
        type=Path,
        metavar="FILE",
    )
    progress: bool = _opt(
        True,
        "progress on stderr: a live bar on a terminal, else a plain line every 30 s (as training's "
        "and eval's); --no-progress: none",
        action=argparse.BooleanOptionalAction,
    )
    uvloop: bool = _opt(True, "run on uvloop when installed", action=argparse.BooleanOptionalAction)

    def __post_init__(self) -> None:
        if self.target and self.uds:
            raise ConfigError("give either --target or --uds, not both")
        if self.target is not None and (not self.target.strip() or self.target.startswith("unix:")):
            raise ConfigError(
                f"--target {self.target!r}: expected host:port (use --uds for a socket)"
            )
        if (problem := port_problem(self.target)) is not None:
            raise ConfigError(problem)
        _positive("--rate", self.rate)
        _positive("--duration", self.duration)
        if self.duration > MAX_DURATION_S:
            raise ConfigError(
                f"--duration {self.duration:g} s is over the {MAX_DURATION_S:g} s bound"
            )
        self._check_voice()
        _positive("--concurrency-limit", self.concurrency_limit)
        if not 1 <= self.channels <= MAX_CHANNELS:
            raise ConfigError(f"--channels must be between 1 and {MAX_CHANNELS}")
        _positive("--deadline-ms", self.deadline_ms)
        _positive("--connect-timeout-s", self.connect_timeout_s)
        if self.warmup < 0:
            raise ConfigError("--warmup must be 0 or more")
        if self.seed is not None and self.seed < 0:
            raise ConfigError("--seed must be 0 or more")
        for flag, value in (
            ("--slo-p95-ms", self.slo_p95_ms),
            ("--slo-p99-ms", self.slo_p99_ms),
            ("--min-capacity-rps", self.min_capacity_rps),
        ):
            if value is not None:
                _positive(flag, value)
        if not 0.0 <= self.max_error_rate <= 1.0:
            raise ConfigError("--max-error-rate must be between 0 and 1")
        if self.max_cache_share is not None and not 0.0 <= self.max_cache_share <= 1.0:
            raise ConfigError("--max-cache-share must be between 0 and 1")
        if self.sweep is not None and self.find_capacity:
            raise ConfigError("give either --sweep or --find-capacity, not both")
        if self.mode != "fixed" and self.slo_p95_ms is None:
            flag = "--sweep" if self.sweep is not None else "--find-capacity"
            raise ConfigError(
                f"{flag} needs --slo-p95-ms (capacity is the highest rate that meets it)"
            )
        if self.max_rate is not None:
            _positive("--max-rate", self.max_rate)
        if self.mode == "fixed" and not self.voice and self.rate * self.duration < MIN_EXPECTED_REQUESTS:
            raise ConfigError(f"--rate {self.rate:g} for --duration {self.duration:g} s sends "
                              f"{self.rate * self.duration:.2g} requests on average: nothing to judge a latency "
                              f"by (give at least {MIN_EXPECTED_REQUESTS})")
        if self.min_capacity_rps is not None and self.mode == "fixed":
            raise ConfigError("--min-capacity-rps only applies with --sweep or --find-capacity")
        if self.mode == "search" and self.rate > self.search_max_rate:
            raise ConfigError(f"--rate {self.rate:g} is over --max-rate {self.search_max_rate:g}: the search "
                              "starts at --rate and never offers more than --max-rate")
        if self.mode == "search" and (self.min_capacity_rps or 0) > self.search_max_rate:
            raise ConfigError(
                f"--min-capacity-rps {self.min_capacity_rps:g} is over --max-rate "
                f"{self.search_max_rate:g}: the search could never show it"
            )
        if self.mode == "sweep" and (self.min_capacity_rps or 0) > max(self.rates):
            raise ConfigError(  # run, it failed as an SLO miss, at rates that never reached the bound
                f"--min-capacity-rps {self.min_capacity_rps:g} is over the highest --sweep rate "
                f"{max(self.rates):g}: the sweep could never show it"
            )
        tls_files = {
            "--tls-ca": self.tls_ca,
            "--tls-cert": self.tls_cert,
            "--tls-key": self.tls_key,
            "--tls-server-name": self.tls_server_name,
        }
        given = [flag for flag, value in tls_files.items() if value is not None]
        if given and not self.tls:
            raise ConfigError(f"{', '.join(given)} {'needs' if len(given) == 1 else 'need'} --tls")
        if self.tls_key is not None and self.tls_cert is None:
            raise ConfigError("--tls-key needs --tls-cert")
        for rate in self.rates:
            if rate * self.duration > MAX_REQUESTS_PER_STEP:
                raise ConfigError(
                    f"{rate:g} req/s for {self.duration:g} s is over "
                    f"{MAX_REQUESTS_PER_STEP:,} requests"
                )
        if self.find_capacity and (self.max_rate or 0) * self.duration > MAX_REQUESTS_PER_STEP:  # given
            raise ConfigError(
                f"--max-rate {self.max_rate:g} req/s (the highest rate the search may offer) for "
                f"--duration {self.duration:g} s is over {MAX_REQUESTS_PER_STEP:,} requests a step: "
                f"lower --max-rate or --duration"
            )

    def _check_voice(self) -> None:
        if self.voice_streams is None:
            if self.word_interval_ms is not None:
                raise ConfigError("--word-interval-ms needs --voice-streams")
            return
        if not 1 <= self.voice_streams <= MAX_VOICE_STREAMS:
            raise ConfigError(f"--voice-streams must be between 1 and {MAX_VOICE_STREAMS}")
        if self.word_interval_ms is not None:
            _positive("--word-interval-ms", self.word_interval_ms)
        for flag, given in (
            ("--sweep", self.sweep is not None),
            ("--find-capacity", self.find_capacity),
            ("--min-capacity-rps", self.min_capacity_rps is not None),
        ):
            if given:
                raise ConfigError(f"--voice-streams cannot be combined with {flag}")
        messages = self.voice_streams * self.duration / self.word_interval_s
        if messages > MAX_REQUESTS_PER_STEP:
            raise ConfigError(
                f"{self.voice_streams} streams with a word every {self.word_interval_s * 1e3:g} ms "
                f"for {self.duration:g} s is over {MAX_REQUESTS_PER_STEP:,} messages"
            )

    @property
    def voice(self) -> bool:
        """Whether this is a voice-streams run (AnalyzeStream) rather than a unary load."""
        return self.voice_streams is not None

    @property
    def word_interval_s(self) -> float:
        interval = self.word_interval_ms
        return (DEFAULT_WORD_INTERVAL_MS if interval is None else interval) / 1000.0

    @property
    def address(self) -> str:
        """The gRPC target string: ``unix:PATH`` for --uds, else host:port."""
        return f"unix:{self.uds}" if self.uds else (self.target or DEFAULT_TARGET)

    @property
    def mode(self) -> str:
        """``fixed`` (one rate), ``sweep`` (listed rates) or ``search`` (find capacity)."""
        return "sweep" if self.sweep is not None else "search" if self.find_capacity else "fixed"

    @property
    def rates(self) -> tuple[float, ...]:
        """Offered rates known up front: the sweep's steps, or --rate (a search's first)."""
        return parse_sweep(self.sweep) if self.sweep is not None else (self.rate,)

    @property
    def search_max_rate(self) -> float:
        """The highest rate a capacity search offers: --max-rate, else DEFAULT_MAX_RATE or the
        rate at which a step of --duration sends MAX_REQUESTS_PER_STEP, whichever is lower."""
        if self.max_rate is not None:
            return self.max_rate
        return min(DEFAULT_MAX_RATE, MAX_REQUESTS_PER_STEP / self.duration)

    @property
    def deadline_s(self) -> float:
        return self.deadline_ms / 1000.0

    def seeded(self) -> LoadConfig:
        """This config with a seed: --seed, else a fresh random one."""
        if self.seed is not None:
            return self
        return replace(self, seed=secrets.randbelow(2**31))

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> LoadConfig:
        """Build from a namespace filled by a parser that :func:`add_arguments` set up."""
        values = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
        return cls(**values)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per :class:`LoadConfig` field (``concurrency_limit``: --concurrency-limit)."""
    for f in fields(LoadConfig):
        kwargs = dict(f.metadata["argparse"])
        default = None if f.default is MISSING else f.default
        help_text = f.metadata["help"]
        if default is not None and kwargs.get("action") is None:
            help_text += (
                f" (default: {default:g})"
                if isinstance(default, float)
                else f" (default: {default})"
            )
        parser.add_argument(
            "--" + f.name.replace("_", "-"),
            dest=f.name,
            default=default,
            help=help_text,
            **kwargs,
        )


def parse_sweep(spec: str) -> tuple[float, ...]:
    """Rates of a sweep: ``"20,50,100"``, or ``"START:FACTOR:STOP"`` (``"20:2:80"``: 20, 40, 80)."""
    try:
        if ":" in spec:
            start, factor, stop = (float(part) for part in spec.split(":"))
            if not all(map(math.isfinite, (start, factor, stop))):
                raise ValueError
            if start <= 0 or factor <= 1 or stop < start:
                raise ConfigError(f"--sweep {spec!r}: need START > 0, FACTOR > 1, STOP >= START")
            count = int(math.floor(math.log(stop / start, factor) + 1e-9)) + 1
            rates = tuple(
                round(start * factor**i, 6) for i in range(min(count, MAX_SWEEP_STEPS + 1))
            )
        else:
            rates = tuple(float(part) for part in spec.split(",") if part.strip())
            if not all(map(math.isfinite, rates)):
                raise ValueError
    except ValueError as exc:
        raise ConfigError(f"--sweep {spec!r}: expected R1,R2,... or START:FACTOR:STOP") from exc
    if not rates or any(r <= 0 for r in rates):
        raise ConfigError(f"--sweep {spec!r}: rates must be positive")
    if any(b <= a for a, b in zip(rates, rates[1:], strict=False)):
        raise ConfigError(f"--sweep {spec!r}: rates must increase")
    if len(rates) > MAX_SWEEP_STEPS:
        raise ConfigError(f"--sweep {spec!r}: more than {MAX_SWEEP_STEPS} steps")
    return rates


def _positive(flag: str, value: float) -> None:
    if not value > 0:
        raise ConfigError(f"{flag} must be positive (got {value:g})")
