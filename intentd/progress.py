"""Progress bars for long jobs (training, eval, load tests): live on a terminal, and a plain
line every LOG_INTERVAL_S where stderr is a file or a pipe (CI, `kubectl logs`, `tee`).

tqdm redraws its one line with a carriage return several times a second; in a log those
redraws pile up into one line of megabytes (a SNIPS training wrote ~1.5 MB of them).
"""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm

LOG_INTERVAL_S = 30.0  # seconds between two progress lines in a log


def is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class LogLines:
    """A stream for tqdm that turns each redraw into a line of its own: no carriage returns,
    no blank padding, no empty lines (tqdm clears its line with spaces before other output)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        line = text.replace("\r", "").rstrip()
        if line:
            self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()


def bar(*, file: TextIO | None = None, **kwargs) -> tqdm:
    """A tqdm bar on `file` (stderr): tqdm's own on a terminal, otherwise one line a
    LOG_INTERVAL_S and a last one at the end (a log cannot erase a line, so `leave` is moot
    there). Callers update it with `refresh=False` so the interval holds."""
    stream = file if file is not None else sys.stderr
    if not is_terminal(stream):
        kwargs.setdefault("mininterval", LOG_INTERVAL_S)
        kwargs.setdefault("maxinterval", LOG_INTERVAL_S)
        kwargs.setdefault("ncols", 100)
        kwargs["leave"] = True
        stream = LogLines(stream)
    return tqdm(file=stream, **kwargs)
