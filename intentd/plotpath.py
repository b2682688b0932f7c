"""Where a plot goes, checked before a long job (an evaluation, a load test), not after it."""

from __future__ import annotations

import os
from pathlib import Path

from intentd.errors import IntentdError


class PlotPathError(IntentdError):
    """The plot cannot be written there: matplotlib missing, a file type it cannot write, or a
    folder that cannot be made."""


def check_plot_path(path: str | Path) -> Path:
    """`path` as a plot file: matplotlib installed, a suffix it writes, its folder there (made if
    missing) and writable, and not itself a folder or a file that cannot be written. Returns it."""
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise PlotPathError("plotting needs matplotlib: pip install matplotlib (or the intentd[train] extra)") from None
    path = Path(path)
    kinds = FigureCanvasBase.get_supported_filetypes()
    suffix = path.suffix.lower().lstrip(".")
    if path.is_dir() or suffix not in kinds:
        got = "a folder" if path.is_dir() else (f".{suffix}" if suffix else "no suffix")
        raise PlotPathError(f"{path}: a plot is written as one of .{', .'.join(sorted(kinds))} (got {got})")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PlotPathError(f"{path}: cannot make its folder ({exc.strerror})") from None
    if not os.access(path.parent, os.W_OK):
        raise PlotPathError(f"{path}: its folder is not writable")
    if os.path.lexists(path) and not os.access(path, os.W_OK):  # a locked file, a link to nowhere
        raise PlotPathError(f"{path}: exists and cannot be written")
    return path
