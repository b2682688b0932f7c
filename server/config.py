"""`intentd serve` settings: ONE dataclass; flags, INTENTD_* variables and the config file derive from it.

Precedence, lowest first: field defaults < config file (``--config FILE``, YAML or TOML, keys are
field names) < environment (``INTENTD_<FIELD>``) < command-line flags. Values are validated once,
in ``__post_init__``, and a bad one raises :class:`ConfigError` (the CLI prints it as one line).
"""

from __future__ import annotations

import argparse
import difflib
import functools
import math
import os
import tomllib
import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import yaml

from intentd.errors import IntentdError
from intentd.textfile import NotUtf8, read_utf8
from intentd.yamlfile import load_yaml

ENV_PREFIX = "INTENTD_"
DEFAULT_LISTEN = "127.0.0.1:50051"
DEFAULT_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
SPIN_MODES = ("run", "never", "always")
#: grpc.aio on this machine cancels RPCs beyond ~1,000 in flight: keep the queue well below that.
MAX_QUEUE_LIMIT = 900
MIN_HANG_TIMEOUT_S = 2.0  # twice a worker's heartbeat (server/workers.py HEARTBEAT_S)
MAX_WORKERS_PER_CORE = 4  # beyond it, --workers is a typo, not a plan (each worker holds a model)
MAX_THREADS_PER_CORE = 4  # likewise --intra-op-threads and --row-threads
MAX_GRPC_TIMEOUT_S = (2**31 - 1) // 1000  # ~24.8 days: a connection timeout gRPC counts in int milliseconds
#: sockaddr_un's sun_path on Linux: 108 bytes, the terminating NUL included
MAX_SOCKET_PATH_BYTES = 107


class ConfigError(IntentdError):
    """A setting is missing or invalid; the message names it and says what is expected."""


def _opt(default: Any, help: str, metavar: str | None = None) -> Any:
    return field(default=default, metadata={"help": help, "metavar": metavar})


@dataclass(frozen=True)
class Settings:
    """Everything the server needs, validated on construction."""

    model: Path | None = _opt(None, "artifact directory to serve (required)", "ARTIFACT")
    onnx_file: str | None = _opt(None, "serve another ONNX file of the artifact, e.g. model.fp32.onnx "
                                       "(default: the manifest's INT8 model)", "FILE")
    listen: str = _opt(DEFAULT_LISTEN, "TCP address host:port; empty string: no TCP listener", "HOST:PORT")
    uds: Path | None = _opt(None, "also listen on this Unix domain socket", "PATH")
    max_batch_size: int = _opt(32, "most requests in one forward pass (1: no batching)", "N")
    max_batch_tokens: int = _opt(4096, "token budget of one batch, counted after padding", "N")
    max_queue: int = _opt(256, "requests admitted and not yet answered (queued, running or post-processed) "
                               "before RESOURCE_EXHAUSTED", "N")
    slo_p95_ms: float = _opt(25.0, "latency objective: each request's budget (a caller's deadline may only shorten "
                                   "it, unless --deadline-budget); batches are sized and requests shed to keep it "
                                   "(0: no SLO)", "MS")
    deadline_budget: bool = _opt(False, "a caller's gRPC deadline is its request's budget even when longer than "
                                        "--slo-p95-ms: past capacity it may be answered after the SLO, within its "
                                        "deadline, instead of refused (for callers whose deadlines say what they "
                                        "can wait; requests without one keep the SLO)")
    deadline_wait: bool = _opt(True, "read how long a call without an x-request-start stamp waited before its "
                                     "handler from its deadline, per connection and method, once its calls' "
                                     "deadlines prove alike (server/transit.py); off for callers whose deadlines "
                                     "vary by up to ~25 ms (a gateway passing its callers' deadlines on)")
    slo_transport_ms: float = _opt(3.0, "the part of --slo-p95-ms the server cannot time (gRPC before and after "
                                        "the handler, the network, the caller): an answer later than the rest "
                                        "counts as late when admission adapts", "MS")
    max_text_chars: int = _opt(2000, "longest accepted text, in code points", "N")
    max_stream_messages: int = _opt(10_000, "most messages on one AnalyzeStream (at 10 partials a second, 17 "
                                            "minutes of speech: a stream per utterance never meets it)", "N")
    max_streams: int = _opt(256, "most AnalyzeStream calls open at once (each holds ~30 KB while idle); one "
                                 "more is refused RESOURCE_EXHAUSTED", "N")
    stream_idle_timeout: float = _opt(300.0, "seconds an AnalyzeStream may send no message once every answer "
                                             "has gone out (a voice call's pauses); then it is ended with "
                                             "DEADLINE_EXCEEDED, so streams left silent cannot hold --max-streams "
                                             "(docs/voice.md; 0: never)", "S")
    max_connections: int = _opt(256, "most client connections open at once on the data listener (per worker); "
                                     "one more is refused at once", "N")
    connection_idle_timeout: float = _opt(300.0, "seconds a client connection with no call open may stay; then "
                                                 "it is closed (gRPC clients reconnect on their next call), so "
                                                 "connections left idle or silent cannot hold --max-connections "
                                                 "(0: never)", "S")
    connection_max_age: float = _opt(3600.0, "seconds after which a client connection is asked to go (GOAWAY, give "
                                             "or take a tenth; gRPC clients open a new one for their next call); "
                                             "its open calls get as long again to finish, then it is closed, so "
                                             "calls that never end cannot hold --max-connections for good; a call "
                                             "shorter than this is never cut (0: never)", "S")
    max_calls_per_connection: int = _opt(0, "most calls open at once on one connection (HTTP/2 "
                                            "MAX_CONCURRENT_STREAMS); past it a gRPC client holds its next call "
                                            "unsent, without a word, until one of that connection's ends (0: "
                                            "--max-streams + 100, so that a voice backend's one connection meets "
                                            "the --max-streams refusal first: at 100, its 101st stream, and every "
                                            "unary call beside it, waited in the client for a free place)",
                                            "N")
    max_calls: int = _opt(0, "most calls open at once in the server, on every connection together (streams and "
                             "health watches too); one more is refused RESOURCE_EXHAUSTED at once, so calls that send "
                             "their headers and never their message cannot hold memory without bound (0: --max-queue "
                             "+ --max-streams + 64)", "N")
    stream_stable_n: int = _opt(3, "AnalyzeStream: an answer is `stable` when the top intent and slots held over "
                                   "this many answered partials (docs/voice.md)", "N")
    stream_stable_confidence: float = _opt(0.8, "AnalyzeStream: ... and each of them had a top-intent confidence "
                                                "of at least this", "P")
    max_top_k: int = _opt(1000, "largest accepted top_k", "N")
    default_top_k: int = _opt(5, "top_k when a request leaves it 0", "N")
    intra_op_threads: int = _opt(0, "onnxruntime intra-op threads (0: all cores but one, which the event loop "
                                     "needs; at least 1)", "N")
    row_threads: int = _opt(0, "a row-wise graph's rows computed side by side on this many threads, each an "
                               "onnxruntime call of --intra-op-threads (0: the worker's cores over "
                               "--intra-op-threads, at least 1)", "N")
    spin: str = _opt("run", "onnxruntime's idle threads: 'run' spins inside a forward pass and stops when it "
                            "returns (idle cores go back to gRPC and Python), 'never' sleeps at once (for hosts "
                            "shared with other work), 'always' keeps spinning (onnxruntime's default)", "MODE")
    workers: int = _opt(1, "serving processes sharing the TCP port (the kernel balances connections); "
                           "each has its own onnxruntime session", "N")
    providers: tuple[str, ...] = _opt(DEFAULT_PROVIDERS, "execution providers to try, in order (comma list)", "P1,P2")
    naive: bool = _opt(False, "benchmark baseline: one onnxruntime call per request, no queue or batching")
    cache_size: int = _opt(4096, "exact-match cache entries (0: no cache)", "N")
    uds_mode: str = _opt("0660", "permissions of the --uds socket (octal)", "MODE")
    uds_group: str | None = _opt(None, "group owning the --uds socket (name or gid)", "GROUP")
    tls_cert: Path | None = _opt(None, "serve TLS only on --listen with this PEM certificate chain", "FILE")
    tls_key: Path | None = _opt(None, "PEM private key of --tls-cert", "FILE")
    tls_client_ca: Path | None = _opt(None, "require client certificates signed by this CA (mTLS)", "FILE")
    admin_uds: Path | None = _opt(None, "serve admin RPCs (ReloadModel) on this Unix socket (mode 0600); they are "
                                  "never served on --listen / --uds", "PATH")
    admin_client_cn: tuple[str, ...] = _opt((), "with --tls-client-ca: mTLS clients whose certificate common name "
                                                 "is listed may also call admin RPCs on --listen", "CN1,CN2")
    model_root: Path | None = _opt(None, "ReloadModel loads artifacts only from under this folder "
                                   "(default: the folder holding --model)", "DIR")
    reload_timeout: float = _opt(120.0, "seconds a ReloadModel call waits for the new model to load", "S")
    access_log: bool = _opt(False, "log one JSON line per request (request id, session id, RPC, status, ms)")
    metrics_port: int = _opt(0, "Prometheus /metrics port (0: off)", "PORT")
    metrics_host: str = _opt("127.0.0.1", "address the metrics endpoint binds", "HOST")
    grace_period: float = _opt(10.0, "seconds to finish in-flight requests after SIGTERM", "S")
    stall_timeout: float = _opt(10.0, "seconds one forward pass may hold the model before the server counts it "
                                      "stuck: health NOT_SERVING and requests refused UNAVAILABLE until it "
                                      "returns; a --workers worker is restarted (0: never)", "S")
    hang_timeout: float = _opt(15.0, "with --workers: seconds a worker's event loop may go without running (or "
                                     "its forward pass past --stall-timeout) before the supervisor kills and "
                                     "restarts it; its callers wait that long", "S")
    start_timeout: float = _opt(300.0, "with --workers: seconds a worker may take to start (load and warm up its "
                                       "model) before the supervisor kills it: at the server's start that stops "
                                       "the server (exit 2), later the worker is started again (0: no limit)", "S")
    reflection: bool = _opt(True, "serve gRPC server reflection on the data listener (grpcurl lists the "
                                  "services); it describes every IntentService method, ReloadModel included, "
                                  "though the data listener serves that only to --admin-client-cn clients")
    warm_up: bool = _opt(True, "run the model once per batch shape before serving")
    log_level: str = _opt("info", "debug, info, warning or error", "LEVEL")
    capture_path: Path | None = _opt(None, "append escalated / low-confidence queries to this JSONL review file "
                                     "(off when unset)", "FILE")
    capture_max_bytes: int = _opt(16 * 1024 * 1024, "rotate the review file past this size", "BYTES")
    capture_backups: int = _opt(3, "rotated review files kept (review.jsonl.1 ...)", "N")
    capture_redact_digits: bool = _opt(False, "replace digits, spoken numbers and e-mail addresses in captured text "
                                              "and session ids (review file and access log)")
    capture_low_confidence: float = _opt(0.7, "also capture answers under this confidence", "P")

    @property
    def own_slo_s(self) -> float:
        """The server's share of the p95 SLO, in seconds (0: no SLO): --slo-p95-ms less
        --slo-transport-ms, the time the caller sees and the server's clock does not."""
        return (self.slo_p95_ms - self.slo_transport_ms) / 1e3 if self.slo_p95_ms > 0 else 0.0

    def __post_init__(self) -> None:
        if self.model is None:
            raise ConfigError("no model: give --model ARTIFACT (or INTENTD_MODEL, or `model:` in --config)")
        for f in fields(self):  # nan passes every range check below (as the flags' parser refuses it)
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{_flag(f.name)} must be a finite number (got {value})")
        if not self.listen and self.uds is None:
            raise ConfigError("nothing to listen on: give --listen HOST:PORT and/or --uds PATH")
        if self.listen:
            host, sep, port = self.listen.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
                raise ConfigError(f"--listen {self.listen!r}: expected HOST:PORT (e.g. {DEFAULT_LISTEN})")
        for name in ("max_batch_size", "max_batch_tokens", "max_queue", "max_text_chars",
                     "max_stream_messages", "max_streams", "max_connections", "max_top_k", "default_top_k", "workers", "stream_stable_n"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{_flag(name)} must be at least 1 (got {getattr(self, name)})")
        for name in ("intra_op_threads", "row_threads", "cache_size", "max_calls", "max_calls_per_connection"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{_flag(name)} must be 0 or more (got {getattr(self, name)})")
        if self.max_queue > MAX_QUEUE_LIMIT:
            raise ConfigError(f"--max-queue {self.max_queue} is over {MAX_QUEUE_LIMIT} (grpc.aio cancels RPCs beyond ~1,000 in flight)")
        if self.default_top_k > self.max_top_k:
            raise ConfigError("--default-top-k must not exceed --max-top-k")
        if not 0 <= self.metrics_port <= 65535:
            raise ConfigError(f"--metrics-port {self.metrics_port}: not a port number")
        if self.metrics_port and not self.metrics_host.strip():
            raise ConfigError("--metrics-host: empty (give an address, e.g. 127.0.0.1 or 0.0.0.0)")
        if self.slo_p95_ms < 0:
            raise ConfigError(f"--slo-p95-ms must be 0 or more (got {self.slo_p95_ms:g})")
        if self.slo_p95_ms and not 0 <= self.slo_transport_ms < self.slo_p95_ms:
            raise ConfigError(f"--slo-transport-ms must be 0 or more and under --slo-p95-ms "
                              f"(got {self.slo_transport_ms:g} of {self.slo_p95_ms:g})")
        if self.reload_timeout <= 0:
            raise ConfigError(f"--reload-timeout must be more than 0 (got {self.reload_timeout:g})")
        self._check_transport()
        if self.grace_period < 0:
            raise ConfigError(f"--grace-period must be 0 or more (got {self.grace_period:g})")
        for name in ("connection_idle_timeout", "connection_max_age"):  # gRPC takes them as 32-bit milliseconds
            if not 0 <= getattr(self, name) <= MAX_GRPC_TIMEOUT_S:
                raise ConfigError(f"{_flag(name)} must be 0 or more and at most {MAX_GRPC_TIMEOUT_S} "
                                  f"(got {getattr(self, name):g})")
        if self.stall_timeout < 0:
            raise ConfigError(f"--stall-timeout must be 0 or more (got {self.stall_timeout:g})")
        if not self.hang_timeout >= MIN_HANG_TIMEOUT_S:  # a worker's loop stamps its sign of life once a second
            raise ConfigError(f"--hang-timeout must be at least {MIN_HANG_TIMEOUT_S:g} s (got {self.hang_timeout:g}): a "
                              "serving worker says it is alive once a second")
        if self.start_timeout < 0:
            raise ConfigError(f"--start-timeout must be 0 or more (got {self.start_timeout:g})")
        if self.stream_idle_timeout < 0:
            raise ConfigError(f"--stream-idle-timeout must be 0 or more (got {self.stream_idle_timeout:g})")
        if not self.providers:
            raise ConfigError("--providers: give at least one execution provider")
        unknown = [p for p in self.providers if p not in known_providers()]
        if unknown:  # a known provider this machine lacks falls back (the default lists GPU ones); a typo must not
            raise ConfigError(f"--providers: {', '.join(unknown)} is not an onnxruntime execution provider "
                              f"(e.g. {', '.join(DEFAULT_PROVIDERS)})")
        if self.workers > MAX_WORKERS_PER_CORE * usable_cores():
            raise ConfigError(f"--workers {self.workers} is over {MAX_WORKERS_PER_CORE} a CPU core "
                              f"({usable_cores()} usable here): each worker is a process with its own model (~200 MB)")
        if self.model_root is not None and not Path(self.model_root).is_dir():  # else every ReloadModel is refused
            raise ConfigError(f"--model-root {self.model_root}: no such folder")
        for flag, threads in (("--intra-op-threads", self.intra_op_threads), ("--row-threads", self.row_threads)):
            if threads > MAX_THREADS_PER_CORE * usable_cores():  # a typo's 100000 threads took the host down
                raise ConfigError(f"{flag} {threads} is over {MAX_THREADS_PER_CORE} a CPU core ({usable_cores()} "
                                  "usable here): more threads than that only wait on each other")
        threads = self.onnx_threads * self.onnx_row_threads * self.workers  # what the flags come to, defaults too
        if threads > MAX_THREADS_PER_CORE * usable_cores():
            raise ConfigError(f"{self.onnx_threads} onnxruntime threads x {self.onnx_row_threads} row threads x "
                              f"{self.workers} workers is {threads}, over {MAX_THREADS_PER_CORE} threads a CPU core "
                              f"({usable_cores()} usable here): set --intra-op-threads and --row-threads lower")
        if self.capture_max_bytes < 1024:
            raise ConfigError(f"--capture-max-bytes must be at least 1024 (got {self.capture_max_bytes})")
        if self.capture_backups < 0:
            raise ConfigError(f"--capture-backups must be 0 or more (got {self.capture_backups})")
        if not 0.0 <= self.stream_stable_confidence <= 1.0:
            raise ConfigError(f"--stream-stable-confidence must be within [0, 1] (got {self.stream_stable_confidence:g})")
        if not 0.0 <= self.capture_low_confidence <= 1.0:
            raise ConfigError(f"--capture-low-confidence must be within [0, 1] (got {self.capture_low_confidence:g})")
        if self.spin not in SPIN_MODES:
            raise ConfigError(f"--spin {self.spin!r}: expected one of {', '.join(SPIN_MODES)}")
        if self.log_level.lower() not in ("debug", "info", "warning", "error"):
            raise ConfigError(f"--log-level {self.log_level!r}: expected debug, info, warning or error")

    def _check_transport(self) -> None:
        try:
            mode = int(self.uds_mode, 8)
        except ValueError:
            raise ConfigError(f"--uds-mode {self.uds_mode!r}: expected an octal mode such as 0660") from None
        if not 0 <= mode <= 0o777:
            raise ConfigError(f"--uds-mode {self.uds_mode!r}: expected an octal mode such as 0660")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("--tls-cert and --tls-key go together")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ConfigError("--tls-client-ca needs --tls-cert and --tls-key (mTLS is TLS with client certificates)")
        if self.admin_client_cn and self.tls_client_ca is None:
            raise ConfigError("--admin-client-cn needs --tls-client-ca (only verified client certificates count)")
        for name in ("tls_cert", "tls_key", "tls_client_ca"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ConfigError(f"{_flag(name)} {path}: not a readable file")
        if self.tls_cert is not None and not self.listen:
            raise ConfigError("--tls-cert: TLS applies to --listen, which is off")
        for name in ("uds", "admin_uds"):
            path = getattr(self, name)
            if path is not None:
                _check_socket_path(path, _flag(name))
        if self.uds is not None and self.admin_uds is not None and self.uds.resolve() == self.admin_uds.resolve():
            raise ConfigError(f"--admin-uds {self.admin_uds}: the same path as --uds (the admin socket is a "
                              "separate one, so that only its owner can reload the model)")
        if self.workers > 1:
            if not self.listen:
                raise ConfigError("--workers needs --listen: the kernel balances TCP connections between workers")
            if self.uds is not None or self.admin_uds is not None:
                raise ConfigError("--workers > 1 serves TCP only: a Unix socket cannot be shared between "
                                  "processes (run one worker per socket; reload all workers with SIGHUP)")
            if self.admin_client_cn:
                raise ConfigError("--admin-client-cn with --workers > 1: a ReloadModel call would reach the one "
                                  "worker its connection landed on (reload all workers with SIGHUP)")

    @property
    def calls_per_connection(self) -> int:
        """--max-calls-per-connection, or every stream the server admits and 100 calls beside them."""
        return self.max_calls_per_connection or self.max_streams + 100

    @property
    def calls_limit(self) -> int:
        """--max-calls, or room for every admitted request, every stream and a few more (health
        watches, model info): a call past that would be refused by admission or the stream limit."""
        return self.max_calls or self.max_queue + self.max_streams + 64

    @property
    def onnx_threads(self) -> int:
        """--intra-op-threads, or all cores but one per worker (measured on 2 cores: one onnxruntime
        thread cost 26 % less CPU per request than two, at the same latency)."""
        if self.intra_op_threads:
            return self.intra_op_threads
        return max(1, (usable_cores() - self.workers) // self.workers)

    @property
    def onnx_row_threads(self) -> int:
        """--row-threads, or as many rows at a time as the worker's cores hold at --intra-op-threads
        each (2 on 2 cores: a batch of n rows takes ~n / 2 row times; one row costs the same)."""
        return self.row_threads or rows_side_by_side(usable_cores() // self.workers, self.onnx_threads)

    @property
    def uds_permissions(self) -> int:
        return int(self.uds_mode, 8)

    @property
    def reload_root(self) -> Path:
        """The folder ReloadModel may load from: --model-root, else the folder holding --model."""
        root = self.model_root if self.model_root is not None else Path(self.model).parent
        return root.resolve()

    @property
    def batching(self) -> bool:
        return not self.naive

    @classmethod
    def from_sources(cls, flags: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None,
                     config_file: str | Path | None = None) -> "Settings":
        """Merge file < environment < flags (flags: only the ones the user gave)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        if config_file is not None:
            values.update(_read_file(Path(config_file)))
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = _convert(f.name, raw, f"{ENV_PREFIX}{f.name.upper()}")
        # a flag given empty (`--uds ''`) is None: it turns off what the file or environment set
        values.update({k: v for k, v in (flags or {}).items() if v is not None or _base_type(k) is Path})
        return cls(**values)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "Settings":
        given = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
        return cls.from_sources(given, config_file=getattr(args, "config", None))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per field; defaults are SUPPRESSed so a flag only overrides when given."""
    parser.add_argument("--config", metavar="FILE", help="YAML or TOML file of settings (keys: the flag names)")
    for f in fields(Settings):
        help_text = f.metadata["help"] + f" [env {ENV_PREFIX}{f.name.upper()}]"
        if f.default not in (None, MISSING, ()):
            default = ",".join(f.default) if isinstance(f.default, tuple) else f.default
            help_text += f" (default: {default})"
        kind = _base_type(f.name)
        if kind is bool:
            parser.add_argument(_flag(f.name), dest=f.name, action=argparse.BooleanOptionalAction,
                                default=argparse.SUPPRESS, help=help_text)
        else:
            parser.add_argument(_flag(f.name), dest=f.name, default=argparse.SUPPRESS, metavar=f.metadata["metavar"],
                                type=functools.partial(_flag_value, f.name), help=help_text)


def _flag_value(name: str, raw: str) -> Any:
    """argparse's `type`: its own error type, so argparse prints usage and exits 2."""
    try:
        return _convert(name, raw, "value")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("value: ")) from None


def _check_socket_path(path: Path, flag: str) -> None:
    """A socket path the kernel cannot bind is refused by name before the model loads (gRPC's own
    error reads as a TCP address in use)."""
    size = len(os.fsencode(path))
    if size > MAX_SOCKET_PATH_BYTES:
        raise ConfigError(f"{flag} {path}: {size} bytes long, over the {MAX_SOCKET_PATH_BYTES} a Unix socket "
                          f"path may have (use a shorter folder)")
    if not path.parent.is_dir():
        raise ConfigError(f"{flag} {path}: no folder {path.parent} to create the socket in")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


_HINTS: dict[str, Any] = {}


def _base_type(name: str) -> Any:
    """The field's type without ``| None`` (int, float, bool, str, Path or tuple)."""
    if not _HINTS:
        _HINTS.update(typing.get_type_hints(Settings))
    hint = _HINTS[name]
    if isinstance(hint, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    return typing.get_origin(hint) or hint


def _convert(name: str, raw: Any, source: str) -> Any:
    """A value from a flag, variable or file, converted to the field's type, or ConfigError."""
    kind = _base_type(name)
    try:
        if isinstance(raw, bool) and kind is not bool:  # YAML's `yes`/`true` where a number or name is meant
            raise ValueError
        if name == "uds_mode" and isinstance(raw, int):
            # YAML reads 0660 as 432 and 660 as six hundred and sixty: which one was written is lost
            raise ConfigError(f"{source}: {raw!r}: write the mode as a quoted string, e.g. '0660'")
        if kind is tuple:
            items = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
            return tuple(str(p).strip() for p in items if str(p).strip())
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind is int and isinstance(raw, float):
            raise ValueError
        if kind is Path:  # empty: not set (as an empty --listen is no listener), never "."
            return Path(os.path.expanduser(str(raw))) if str(raw).strip() else None
        value = kind(raw)
        if kind is float and not math.isfinite(value):  # nan passes every range check below
            raise ValueError
        return value
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: {raw!r} is not a valid {'finite number' if kind is float else kind.__name__}") from None


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = read_utf8(path)
    except OSError as exc:
        raise ConfigError(f"--config {path}: cannot read it ({exc.strerror})") from None
    except NotUtf8 as exc:
        raise ConfigError(f"--config {path}:{exc.line}: {exc}") from None
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else load_yaml(text)  # a key twice: an error
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config {path}: not valid TOML ({exc})") from None
    except yaml.YAMLError as exc:  # its own message spans lines and quotes the file: one line, the line number
        mark, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None) or str(exc)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"--config {path}: not valid YAML{where} ({problem})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: expected a mapping of settings at the top level")
    known = {f.name for f in fields(Settings)}
    out = {}
    for key, raw in data.items():
        name = str(key).replace("-", "_")
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            raise ConfigError(f"--config {path}: unknown setting {key!r}"
                              + (f" (did you mean {close[0]!r}?)" if close else ""))
        if raw is None:  # `key:` with no value: not set (never the text "None")
            continue
        out[name] = _convert(name, raw, f"--config {path}: {key}")
    if out.get("model") is not None and not out["model"].is_absolute():
        out["model"] = path.parent / out["model"]  # relative to the file, like most tools
    return out


def rows_side_by_side(cores: int, intra_op_threads: int) -> int:
    """The default row threads: as many rows at a time as `cores` hold at `intra_op_threads` each."""
    return max(1, cores // intra_op_threads)


def usable_cores() -> int:
    """CPUs this process may use: its affinity, capped by a container's CPU quota (a pod limited
    to 2 CPUs on a 64-core node sees 64 in its affinity)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = cgroup_cpu_quota()
    return max(1, min(cores, math.ceil(quota))) if quota else cores


def cgroup_cpu_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The CPU limit of this process's cgroup in CPUs (cgroup v2 `cpu.max`, else v1's CFS quota),
    or None when there is none or it cannot be read."""
    try:
        if (root / "cpu.max").is_file():
            quota, period = (root / "cpu.max").read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        v1 = root / "cpu"
        if (v1 / "cpu.cfs_quota_us").is_file():
            quota = int((v1 / "cpu.cfs_quota_us").read_text())
            return None if quota <= 0 else quota / int((v1 / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None


@functools.lru_cache(maxsize=1)
def known_providers() -> frozenset[str]:
    """Every execution provider onnxruntime has a name for, whether or not this build has it."""
    from .ortimport import onnxruntime

    return frozenset(onnxruntime().get_all_providers())
