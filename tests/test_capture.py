"""Review capture: what it keeps, its size bound and rotation, redaction, and reading it back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from intentd.models.data.schema import read_jsonl
from intentd.server.capture import CaptureSettings, ReviewCapture
from intentd.server.model import Model
from intentd.server.pipeline import Pipeline

FOREIGN = [
    "quelle est la météo à Lyon demain",
    "asdkjh qwe zxcmnb poiu 4432 lkjh",
    "what is the best recipe for a chocolate lava cake",
    "who won the world cup in 1998",
]


@pytest.fixture(scope="module")
def pipeline(banking_artifact: Path) -> Pipeline:
    return Pipeline(Model.load(banking_artifact))


def test_captures_escalated_not_confident_in_scope(pipeline: Pipeline, tmp_path: Path):
    cap = ReviewCapture(CaptureSettings(tmp_path / "review.jsonl", low_confidence=0.0))  # escalations only
    analyses = pipeline.analyze(FOREIGN + ["what is my checking account balance"])
    queued = [cap.offer(t, a) for t, a in zip(FOREIGN + ["x"], analyses)]
    cap.close()
    assert queued[-1] is analyses[-1].escalation.escalate is False  # a clear in-scope query is not captured
    rows = read_jsonl(tmp_path / "review.jsonl")
    assert len(rows) == sum(queued) >= 3
    assert all(r.meta and r.meta["model_version"] == pipeline.version for r in rows)


def test_rotation_bounds_disk_use(pipeline: Pipeline, tmp_path: Path):
    path = tmp_path / "review.jsonl"
    cap = ReviewCapture(CaptureSettings(path, max_bytes=2048, backups=2))
    analysis = pipeline.analyze([FOREIGN[0]])[0]
    assert analysis.escalation.escalate
    for _ in range(60):
        cap.offer(FOREIGN[0], analysis)
    cap.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["review.jsonl", "review.jsonl.1", "review.jsonl.2"]
    assert all((tmp_path / f).stat().st_size <= 2048 for f in files)
    assert cap.written == 60 and cap.dropped == 0


def test_redaction_and_reimport(pipeline: Pipeline, tmp_path: Path):
    path = tmp_path / "capture" / "review.jsonl"
    text = "asdkjh card 4111 1111 1111 1111 qwe zxcmnb"
    cap = ReviewCapture(CaptureSettings(path, redact_digits=True, low_confidence=1.01))
    assert cap.offer(text, pipeline.analyze([text])[0])
    cap.close()
    line = path.read_text()
    assert "4111" not in line and "0000 0000 0000 0000" in line
    out = tmp_path / "imported"
    proc = subprocess.run([sys.executable, "-m", "intentd", "data", "import", "--format", "jsonl", str(path),
                           "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    total = sum(len(read_jsonl(out / f"{s}.jsonl")) for s in ("train", "valid", "test"))
    assert total == 1
    assert json.loads(line)["meta"]["redacted"] is True


def test_bad_settings_are_rejected(tmp_path: Path):
    with pytest.raises(ValueError, match="max_bytes"):
        ReviewCapture(CaptureSettings(tmp_path / "r.jsonl", max_bytes=10))
