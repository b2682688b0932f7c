"""The user's traffic for a load test: the texts of a --texts file or folder.

Latency depends on text length (tokens per batch), so users benchmark with their own
traffic, repeats and all; without --texts the run sends generated, never-repeated texts
(:mod:`.utterances`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from intentd.textfile import NotUtf8, read_utf8, split_lines

from .errors import TextsError


@dataclass(frozen=True, slots=True)
class Labelled:
    """One utterance and, when its line says, the intent it should get or that it is
    out of scope (neither: unlabelled, as plain lines and generated texts are)."""

    text: str
    intent: str | None = None
    ood: bool = False


def load_texts(path: Path) -> list[str]:
    """Texts from ``path`` (JSONL with a ``text`` key, or plain lines; a directory: every
    ``*.jsonl`` split of an imported data set in it).

    A line starting with ``{`` is read as a JSON object (canonical data: out-of-scope
    examples are kept, they are real traffic too); any other non-blank line is a text.
    """
    texts = [_record_of(line, where, number)["text"] if line.startswith("{") else line
             for where, number, line in _lines(path)]
    if not texts:
        raise TextsError(f"--texts {path} has no texts")
    return texts


def load_labelled(path: Path) -> list[Labelled]:
    """Like :func:`load_texts` (same files, same errors), keeping each JSON line's label:
    its ``intent``, or ``"ood": true`` for an out-of-scope example; plain lines have none."""
    items = []
    for where, number, line in _lines(path):
        if not line.startswith("{"):
            items.append(Labelled(line))
            continue
        record = _record_of(line, where, number)
        intent = record.get("intent")
        if intent is not None and (not isinstance(intent, str) or not intent.strip()):
            raise TextsError(f'{where}:{number}: "intent" must be a non-empty string')
        items.append(Labelled(record["text"], intent, record.get("ood") is True))
    if not items:
        raise TextsError(f"--texts {path} has no texts")
    return items


def _lines(path: Path):
    """(file, line number, stripped line) of every non-blank line of ``path``, or of each
    ``*.jsonl`` split in it when it is a directory."""
    if Path(path).is_dir():
        splits = sorted(Path(path).glob("*.jsonl"))
        if not splits:
            raise TextsError(f"--texts {path} is a directory without *.jsonl files")
        for split in splits:
            yield from _lines(split)
        return
    try:
        text = read_utf8(path)
        lines = split_lines(text, "\n" if "\n" in text or "\r" not in text else "\r")  # CR only: classic Mac
    except OSError as exc:
        raise TextsError(f"cannot read --texts {path}: {exc.strerror or exc}") from exc
    except NotUtf8 as exc:
        raise TextsError(f"{path}:{exc.line}: {exc}") from None
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield path, number, line.strip()


def _record_of(line: str, path: Path, number: int) -> dict:
    """A JSON line's object, with its non-empty ``text`` checked."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise TextsError(f"{path}:{number}: invalid JSON ({exc.msg})") from exc
    text = record.get("text") if isinstance(record, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise TextsError(f'{path}:{number}: a JSON line needs a non-empty string "text"')
    return record
