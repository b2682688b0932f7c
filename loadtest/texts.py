"""The utterances a load test sends: a --texts file or a built-in banking-support set.

Latency depends on text length (tokens per batch), so users benchmark with their own
traffic; the built-in list is a realistic default of short support-chat turns.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import TextsError

BUILTIN_TEXTS: tuple[str, ...] = (
    "what is my current balance",
    "i want to transfer 50 euros to my savings account",
    "my card was declined at the supermarket",
    "how do i activate my new card",
    "i lost my credit card yesterday",
    "can you block my card please",
    "send 200 dollars to john smith tomorrow",
    "why was i charged a fee on my last statement",
    "what's the exchange rate for pounds",
    "i didn't make this payment on march 3rd",
    "how long does a bank transfer take",
    "change my pin",
    "yes",
    "agent please",
    "where is the nearest atm",
    "my salary hasn't arrived yet",
    "can i get a refund for a card payment",
    "update my phone number to +44 7700 900123",
    "set up a standing order of 300 pounds every month",
    "what's the weather like in paris",
)


def load_texts(path: Path | None) -> list[str]:
    """Texts from ``path`` (JSONL with a ``text`` key, or plain lines; a directory: every
    ``*.jsonl`` split of an imported data set in it), else the built-ins.

    A line starting with ``{`` is read as a JSON object (canonical data: out-of-scope
    examples are kept, they are real traffic too); any other non-blank line is a text.
    """
    if path is None:
        return list(BUILTIN_TEXTS)
    if Path(path).is_dir():
        splits = sorted(Path(path).glob("*.jsonl"))
        if not splits:
            raise TextsError(f"--texts {path} is a directory without *.jsonl files")
        return [text for split in splits for text in load_texts(split)]
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise TextsError(f"cannot read --texts {path}: {exc.strerror or exc}") from exc
    texts = []
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("{"):
            texts.append(_text_of(stripped, path, number))
        else:
            texts.append(stripped)
    if not texts:
        raise TextsError(f"--texts {path} has no texts")
    return texts


def _text_of(line: str, path: Path, number: int) -> str:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise TextsError(f"{path}:{number}: invalid JSON ({exc.msg})") from exc
    text = record.get("text") if isinstance(record, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise TextsError(f'{path}:{number}: a JSON line needs a non-empty string "text"')
    return text
