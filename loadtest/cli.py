"""`intentd loadtest`: run an open-loop load against one address and gate on its SLO.

With --voice-streams it holds N AnalyzeStream callers instead (loadtest/voice.py).

Exit codes: 0 the SLO held, 1 it was violated, 2 the test could not run (bad flags, an
unreadable --texts file, no server at the target), 130 interrupted (143 by SIGTERM, through
intentd's CLI); a stopped run still prints what it measured, judged by no one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from . import config as _config
from .config import LoadConfig
from .errors import ConfigError, LoadTestError

DESCRIPTION = (
    "Open-loop load generator and SLO gate for an intentd server: requests leave at a fixed "
    "rate (Poisson or uniform arrivals) and latency is measured from their scheduled time."
)
EXIT_PASS, EXIT_SLO_VIOLATED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the loadtest flags to ``parser`` (a sub-command parser of `intentd`)."""
    _config.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run the load test described by ``args``; returns the exit code."""
    try:
        return _run(LoadConfig.from_args(args).seeded())
    except LoadTestError as exc:
        print(f"intentd loadtest: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt as exc:
        if type(exc) is not KeyboardInterrupt:  # a SIGTERM (intentd's Terminated): its caller says so
            raise
        print("intentd loadtest: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _plot_keeping_the_verdict(draw) -> None:
    """The plot was checked before the run; one that still fails (a full disk) is reported, and
    the exit code stays the SLO verdict's: a gate must not read "latency failed" or "could not
    run" for a picture."""
    try:
        draw()
    except (OSError, ValueError, LoadTestError) as exc:
        print(f"intentd loadtest: warning: the plot was not written ({exc})", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="intentd loadtest", description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv))


def _run(config: LoadConfig) -> int:
    if config.voice:
        return _run_voice(config)
    # Heavy imports here: `intentd --help` must not pay for grpc and numpy.
    from .payloads import Payloads, method_path, timing_reader
    from .plot import plot_sweep, plot_timeline, require_plot_path
    from .progress import Progress
    from .report import format_text, partial_dict, result_dict
    from .runner import measure
    from .slo import evaluate, evaluate_sweep
    from .texts import load_texts
    from .utterances import unique_utterances

    if config.plot is not None:
        require_plot_path(config.plot)
    if config.texts is None:
        payloads = Payloads.generated(config.rpc, unique_utterances(config.seed))
    else:
        payloads = Payloads.from_texts(config.rpc, load_texts(config.texts), config.seed)
    progress = Progress(config.progress)
    loop_factory, loop_name = _loop_factory(config.uvloop)
    steps = []
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(_stopped_on_the_loop(measure(config, method_path(config.rpc), payloads, progress, steps,
                                                    timing_reader(config.rpc))))
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: what was measured is still worth reading
        if any(step.sent for step in steps):
            _print(partial_dict(config, steps, loop_name, payloads), None, config, format_text)
        raise
    if not any(step.scheduled for step in steps):  # a Poisson draw of nothing: no latency to judge
        raise ConfigError("no request was scheduled in the run (a low --rate drew none): nothing to judge; "
                          "raise --rate or --duration")

    verdict = (
        evaluate(steps[0], config) if config.mode == "fixed" else evaluate_sweep(steps, config)
    )
    result = result_dict(config, steps, verdict, loop_name, payloads)
    _print(result, verdict, config, format_text)
    if config.plot is not None:
        _plot_keeping_the_verdict(lambda: plot_sweep(steps, config.plot, config.slo_p95_ms, config.max_error_rate,
                                                             config.slo_p99_ms)
                                  if config.mode != "fixed" else plot_timeline(steps[0], config.plot, config.slo_p95_ms))
    return EXIT_PASS if verdict.passed else EXIT_SLO_VIOLATED


def _run_voice(config: LoadConfig) -> int:
    """--voice-streams: N AnalyzeStream callers speaking word by word (loadtest/voice.py)."""
    from .plot import plot_voice, require_plot_path
    from .progress import Progress
    from .texts import load_labelled
    from .voice import measure
    from .voice_report import evaluate, format_text, partial, result_dict, summary, timeline

    if config.plot is not None:
        require_plot_path(config.plot)
    items = None if config.texts is None else load_labelled(config.texts)
    texts = {"source": "generated"} if items is None else {
        "source": str(config.texts),
        "distinct": len({item.text for item in items}),
        "in_scope": sum(1 for item in items if item.intent is not None and not item.ood),
        "out_of_scope": sum(1 for item in items if item.ood),
    }
    progress = Progress(config.progress)
    runs = []
    try:
        # grpc.aio runs on asyncio's own loop (its support for uvloop is experimental).
        run = asyncio.run(_stopped_on_the_loop(measure(config, items, progress, runs.append)))
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: what was measured is still worth reading
        if runs and runs[0].stopped_s is not None and runs[0].utterances:
            figures = summary(runs[0])
            result = partial(result_dict(config, runs[0], texts, evaluate(figures, config), figures), runs[0])
            _print(result, None, config, format_text)
        raise
    figures = summary(run)
    verdict = evaluate(figures, config)
    result = result_dict(config, run, texts, verdict, figures)
    _print(result, verdict, config, format_text)
    if config.plot is not None:
        _plot_keeping_the_verdict(lambda: plot_voice(timeline(run), config.plot, run))
    return EXIT_PASS if verdict.passed else EXIT_SLO_VIOLATED


async def _stopped_on_the_loop(run):
    """Await `run`, a SIGTERM cancelling it from the event loop, between two of its steps. Raised
    from the signal handler wherever the process was, the stop landed at times inside grpc's
    callbacks, which took it for a failed call: the run went on to its end, reported a false
    error rate and exited 1 (2 runs in 15). Once cancelled, the handler that was in place (the
    CLI's: it raises its Terminated) is called, so the caller reports what was measured. A
    Python-level handler, swapped in and out in one step (as asyncio.Runner's for SIGINT): the
    loop's own removal passed through the default action, where a second SIGTERM killed the
    process without a word."""
    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    stopped = []

    def stop() -> None:
        stopped.append(True)
        task.cancel()

    try:
        previous = signal.signal(signal.SIGTERM, lambda _number, _frame: loop.call_soon_threadsafe(stop))
    except ValueError:  # off the main thread (tests call main()): no signals
        return await run
    try:
        return await run
    except asyncio.CancelledError:
        if not stopped:
            raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    if callable(previous):
        previous(signal.SIGTERM, None)  # the CLI's: raises its Terminated
    raise KeyboardInterrupt


def _loop_factory(use_uvloop: bool):
    """uvloop's loop when wanted and installed, else asyncio's default."""
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop, "uvloop"
    return None, "asyncio"


def _print(result: dict, verdict, config: LoadConfig, format_text) -> None:
    """The result on stdout (JSON, or text for people); with --json the verdict also goes to stderr."""
    if config.json:
        print(json.dumps(result))
        print(result["slo"]["verdict"] if verdict is None else verdict.line(), file=sys.stderr)
    else:
        print(format_text(result))
