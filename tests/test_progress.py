"""Progress bars in a log (stderr a file or a pipe): a line now and then, never a redraw flood."""

import io
import itertools
import subprocess
import sys
import time

import pytest

from intentd import progress


def test_a_bar_in_a_log_writes_lines_not_redraws():
    log = io.StringIO()  # not a terminal
    bar = progress.bar(file=log, total=5000, desc="training", unit="step", leave=False)
    for i in range(5000):
        bar.update()
        bar.set_postfix(loss=f"{i:.4f}", refresh=False)
    bar.close()
    out = log.getvalue()
    assert "\r" not in out
    lines = out.splitlines()
    assert 1 <= len(lines) <= 3, lines  # the first draw (and the last), not one a step
    assert all(line.startswith("training:") and line == line.rstrip() for line in lines)


def test_a_long_job_in_a_log_gets_a_line_each_interval():
    log = io.StringIO()
    bar = progress.bar(file=log, total=12, desc="eval", leave=False)
    clock = itertools.count(time.time() + 10, 10)  # each reading of the clock 10 s after the last
    bar._time = lambda: float(next(clock))  # tqdm reads its clock through this attribute
    for _ in range(12):
        bar.update()
    bar.close()
    lines = log.getvalue().splitlines()
    # 120 s of updates at one line per LOG_INTERVAL_S (30 s): a handful of lines, each a status
    assert 3 <= len(lines) <= 6, lines
    assert lines[-1].startswith("eval:")


def test_the_load_tester_bar_in_a_pipe_writes_whole_lines():
    code = (
        "import asyncio\n"
        "from intentd.loadtest.progress import Progress\n"
        "async def main():\n"
        "    p = Progress(True)\n"
        "    p.start('load', 10, lambda: (7, 'p95 3.0 ms'))\n"
        "    await asyncio.sleep(0.05)\n"
        "    p.stop()\n"
        "asyncio.run(main())\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "\r" not in run.stderr
    assert "7/10" in run.stderr and "p95 3.0 ms" in run.stderr


def test_loading_the_base_encoder_draws_no_bar(capfd):
    """transformers drew a "Loading weights" bar for a sub-second load, redrawn with \\r in a log."""
    pytest.importorskip("torch")
    from intentd.models.config import default_base
    from intentd.models.joint import JointModel

    JointModel.from_base(default_base(), n_intents=2, n_tags=1)
    assert capfd.readouterr().err == ""
