"""argparse value types shared by the command lines (intentd's own and the load tester's)."""

from __future__ import annotations

import argparse
import math


def finite_float(raw: str) -> float:
    """A float flag: `nan` would pass every range check after it (nan < 0 is false), and `inf`
    means nothing for a rate, a weight or a time."""
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{raw!r} is not a finite number")
    return value
