"""Runs the review capture in a child process whose file system limits a test sets, and prints
what happened as JSON: `python tests/capture_child.py MODE PATH`.

- `fsize`: one record, then RLIMIT_FSIZE set to exactly two such records; then a long record
  (the kernel writes part of it, then refuses: EFBIG) and a short one, which must still fit.
- `fill`: PATH is on a tiny tmpfs; records of alternating lengths until the disk is full (ENOSPC),
  then a ballast file is removed and one more record is written.
"""

from __future__ import annotations

import json
import resource
import signal
import sys
from pathlib import Path

from intentd.models.data.schema import read_jsonl
from intentd.server.analysis import Analysis, Escalation
from intentd.server.capture import CaptureSettings, ReviewCapture
from intentd.server.decode import Prediction
from intentd.server.metrics import Metrics


def analysis() -> Analysis:
    return Analysis(Prediction([("greeting", 0.31), ("affirm", 0.2)], [], 9.5, is_ood=True), [],
                    Escalation(True, "out_of_distribution", "frontier_standard"), None, "child-v1")


def capture(path: Path, metrics: Metrics) -> ReviewCapture:
    return ReviewCapture(CaptureSettings(path, max_bytes=1 << 30), metrics.captured.inc, metrics.capture_dropped)


def main(mode: str, path: Path) -> None:
    metrics = Metrics()
    if mode == "fsize":
        first = capture(path, metrics)
        first.offer("short record one", analysis())
        first.close()
        size = path.stat().st_size
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG from write() instead of a signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (2 * size, 2 * size))
        second = capture(path, metrics)
        second.offer("long record " + "x" * 4000, analysis())
        second.offer("short record two", analysis())  # same length as the first
        second.close()
        texts = [e.text for e in read_jsonl(path)]
        caps = [first, second]
    else:
        ballast = path.with_name("ballast")
        ballast.write_bytes(b"b" * 16384)
        full = capture(path, metrics)
        for i in range(400):
            full.offer(f"record {i:03d} " + ("y" * 1500 if i % 2 else "short"), analysis())
        full.close()
        ballast.unlink()  # room again: the next record must land on a clean line
        freed = capture(path, metrics)
        freed.offer("record 400 after space was freed", analysis())
        freed.close()
        texts = [e.text for e in read_jsonl(path)]
        caps = [full, freed]
    reasons = {}
    for c in caps:
        for reason, n in c.dropped_by_reason.items():
            reasons[reason] = reasons.get(reason, 0) + n
    print(json.dumps({
        "texts": texts,
        "written": sum(c.written for c in caps),
        "dropped": reasons,
        "metric_written": metrics.value("intentd_review_captured_total"),
        "metric_dropped": {r: metrics.value("intentd_review_capture_dropped_total", {"reason": r}) for r in reasons},
        "ends_with_newline": path.read_bytes().endswith(b"\n"),
    }))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
