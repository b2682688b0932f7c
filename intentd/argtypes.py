"""argparse value types and flag checks shared by the command lines (intentd's own, the load
tester's, the health probe's)."""

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


def port_problem(target: str | None) -> str | None:
    """Why `--target HOST:PORT` names no port (gRPC would dial it modulo 65536), or None."""
    port = (target or "").rpartition(":")[2]
    if port.isdigit() and not 0 < int(port) <= 65535:
        return f"--target {target!r}: {port} is not a port number (1-65535)"
    return None
