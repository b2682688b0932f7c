"""Opt-in capture of escalated and low-confidence queries, for people to label and retrain on.

Each line is canonical JSONL (models/data/schema.py) pre-filled with the model's guess, so after
a person corrects `intent` / `entities` (or sets `"ood": true`), `intentd data import --format
jsonl` reads the file back as it is. The file is size-bounded and rotated (review.jsonl,
review.jsonl.1, ...). Off by default; `redact_digits` replaces every digit with `0` (account and
card numbers, amounts) before anything touches the disk.

Writes happen on a background thread so the request path only pays for a queue put.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import queue
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from .analysis import Analysis

log = logging.getLogger(__name__)

_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class CaptureSettings:
    path: Path
    max_bytes: int = 16 * 1024 * 1024
    backups: int = 3
    redact_digits: bool = False
    low_confidence: float = 0.7  # also capture non-escalated queries under this confidence
    queue_size: int = 10_000  # beyond this, captures are dropped (and counted), never blocking requests


class ReviewCapture:
    def __init__(self, settings: CaptureSettings):
        if settings.max_bytes < 1024:
            raise ValueError("capture max_bytes must be at least 1024")
        if settings.backups < 0:
            raise ValueError("capture backups must be >= 0")
        self.settings = settings
        settings.path.parent.mkdir(parents=True, exist_ok=True)
        self.dropped = 0
        self.written = 0
        self._queue: queue.Queue[dict | None] = queue.Queue(maxsize=settings.queue_size)
        self._thread = threading.Thread(target=self._writer, name="review-capture", daemon=True)
        self._thread.start()

    def wants(self, analysis: Analysis) -> bool:
        return analysis.escalation.escalate or analysis.prediction.confidence < self.settings.low_confidence

    def offer(self, text: str, analysis: Analysis) -> bool:
        """Queue one record if the analysis is worth a person's look; True when queued."""
        if not self.wants(analysis):
            return False
        try:
            self._queue.put_nowait(self._record(text, analysis))
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def close(self, timeout: float = 5.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _record(self, text: str, analysis: Analysis) -> dict:
        p, esc = analysis.prediction, analysis.escalation
        redact = self.settings.redact_digits
        record: dict = {"text": _DIGIT.sub("0", text) if redact else text}
        if p.is_ood:
            record["ood"] = True
        else:
            record["intent"] = p.intent
            spans = [{"start": e.start, "end": e.end, "type": e.type} for e in analysis.entities]
            if spans:
                record["entities"] = spans  # offsets survive redaction: one digit becomes one digit
        record["meta"] = {
            "captured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "model_version": analysis.model_version,
            "reason": esc.reason or "low_confidence_unescalated",
            "tier": esc.tier,
            "confidence": round(p.confidence, 4),
            "ood_score": round(p.ood_score, 4),
            "top_intents": [[n, round(c, 4)] for n, c in p.intents[:3]],
            "redacted": redact,
        }
        return record

    def _writer(self) -> None:
        path = self.settings.path
        while True:
            record = self._queue.get()
            if record is None:
                return
            line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
            try:
                if path.exists() and path.stat().st_size + len(line) > self.settings.max_bytes:
                    self._rotate()
                with path.open("ab") as f:
                    f.write(line)
                self.written += 1
            except OSError as exc:  # a full disk must not take the service down
                self.dropped += 1
                log.warning("review capture: cannot write %s: %s", path, exc)

    def _rotate(self) -> None:
        path, n = self.settings.path, self.settings.backups
        if n == 0:
            path.unlink(missing_ok=True)
            return
        oldest = path.with_name(f"{path.name}.{n}")
        oldest.unlink(missing_ok=True)
        for i in range(n - 1, 0, -1):
            src = path.with_name(f"{path.name}.{i}")
            if src.exists():
                src.rename(path.with_name(f"{path.name}.{i + 1}"))
        path.rename(path.with_name(f"{path.name}.1"))
