"""The canonical example format (DESIGN.md): one JSON object a line, offsets in code points.

Every reader in the project goes through `read_jsonl`, so a bad line is reported the same way
everywhere: the file, the line number, and what is wrong with it.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from intentd.errors import IntentdError
from intentd.server.admission import has_content

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class DataError(IntentdError, ValueError):
    """Bad input data. The message names the file and line when they are known."""

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.path = str(path) if path is not None else None
        self.line = line


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an example was read: what a warning about it names, so a person can find and fix it.

    `line` is 1-based; `key` is used instead where a format has no useful line (a JSON key and index).
    """

    path: str
    line: int | None = None
    key: str | None = None

    def __str__(self) -> str:
        if self.line is not None:
            return f"{self.path}:{self.line}"
        return f"{self.path}: {self.key}" if self.key else self.path


@dataclass(frozen=True, slots=True)
class Span:
    """An entity mention: [start, end) in code points of the example's text.

    `value`: the optional gold canonical value of the mention, in the form `slots_used` returns
    (server/respond.py `canonical`: money "200 USD", a catalog id, an ISO 8601 datetime, E.164,
    a normalised email address). `intentd eval` scores resolution accuracy on spans that have one.
    """

    start: int
    end: int
    type: str
    value: str | None = None

    def to_json(self) -> dict:
        out: dict = {"start": self.start, "end": self.end, "type": self.type}
        if self.value is not None:
            out["value"] = self.value
        return out


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled utterance. `intent` is None exactly when `ood` is True."""

    text: str
    intent: str | None
    entities: tuple[Span, ...] = field(default_factory=tuple)
    ood: bool = False
    meta: dict | None = field(default=None, compare=False)  # free-form (e.g. review capture); not trained on
    origin: Origin | None = field(default=None, compare=False, repr=False)  # file and line it was read from

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise ValueError("text must be a non-empty string")
        if not has_content(self.text):  # the server refuses such a text: no example of it to learn or score
            raise ValueError("text has no visible characters (only whitespace, control, zero-width or combining ones)")
        lone = _LONE_SURROGATE.search(self.text)
        if lone is not None:  # JSON "\ud83d" with no pair: no UTF-8 form, so nothing could read or write it
            raise ValueError(f"text has a lone surrogate {lone.group()!a} at code point {lone.start()} "
                             "(half of an escaped emoji?): not valid Unicode")
        if self.ood and self.intent is not None:
            raise ValueError('an out-of-scope example ("ood": true) must not have an intent')
        if not self.ood and (not isinstance(self.intent, str) or not self.intent.strip()):
            raise ValueError(
                'an in-scope example needs a non-blank string "intent" '
                '(an out-of-scope example says so: "ood": true)'
            )
        previous_end = 0
        for span in sorted(self.entities, key=lambda s: (s.start, s.end)):
            if span.end <= span.start:
                raise ValueError(f"entity {span.type!r} [{span.start}, {span.end}) is empty: end must be after start")
            if not (0 <= span.start < span.end <= len(self.text)):
                raise ValueError(
                    f"entity {span.type!r} [{span.start}, {span.end}) lies outside the text "
                    f"(length {len(self.text)} code points)"
                )
            if span.start < previous_end:
                raise ValueError(f"entity {span.type!r} at [{span.start}, {span.end}) overlaps another entity")
            if not span.type.strip():
                raise ValueError("entity type must be a non-blank string")
            previous_end = span.end

    def span_text(self, span: Span) -> str:
        return self.text[span.start : span.end]

    def to_json(self) -> dict:
        if self.ood:
            out: dict = {"text": self.text, "ood": True}
        else:
            out = {"text": self.text, "intent": self.intent}
        if self.entities:
            out["entities"] = [s.to_json() for s in self.entities]
        if self.meta:
            out["meta"] = self.meta
        return out

    @classmethod
    def from_json(cls, obj: object, origin: Origin | None = None) -> "Example":
        if not isinstance(obj, dict):
            raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
        unknown = set(obj) - {"text", "intent", "entities", "ood", "meta"}
        if unknown:
            raise ValueError(f"unknown key(s) {sorted(unknown)} (a line has text, intent, entities, ood and meta)")
        if "text" not in obj:
            raise ValueError('missing key "text"')
        ood = obj.get("ood", False)
        if not isinstance(ood, bool):
            raise ValueError('"ood" must be true or false')
        raw_entities = obj.get("entities", [])
        if not isinstance(raw_entities, list):
            raise ValueError('"entities" must be a list')
        spans = []
        for i, ent in enumerate(raw_entities):
            if not isinstance(ent, dict) or not {"start", "end", "type"} <= set(ent):
                raise ValueError(f'entity #{i} must be an object with "start", "end" and "type"')
            extra = set(ent) - {"start", "end", "type", "value"}
            if extra:  # "label" for "type" would otherwise vanish without a word
                raise ValueError(f"entity #{i}: unknown key(s) {sorted(extra)} (an entity has start, end, type "
                                 "and optionally value)")
            start, end, etype = ent["start"], ent["end"], ent["type"]
            if type(start) is not int or type(end) is not int:
                raise ValueError(f"entity #{i}: start and end must be integers")
            if not isinstance(etype, str):
                raise ValueError(f"entity #{i}: type must be a string")
            value = ent.get("value")
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError(f"entity #{i}: value must be a non-empty string (the canonical value)")
            spans.append(Span(start, end, etype, value))
        meta = obj.get("meta")
        if meta is not None and not isinstance(meta, dict):
            raise ValueError('"meta" must be an object')
        intent = obj.get("intent")
        if ood and intent is not None:
            raise ValueError('an out-of-scope example ("ood": true) must not have an intent')
        return cls(text=obj["text"], intent=intent, entities=tuple(spans), ood=ood, meta=meta, origin=origin)


def read_jsonl(path: str | Path, blank: list[int] | None = None) -> list[Example]:
    """Read a canonical JSONL file; any bad line stops with `DataError` naming file and line."""
    return list(iter_jsonl(path, blank))


def iter_jsonl(path: str | Path, blank: list[int] | None = None) -> Iterator[Example]:
    """`blank`: where given, the numbers of the blank lines skipped are appended to it (an import
    lists them, so nothing is dropped without a word)."""
    path = Path(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise DataError(f"cannot open: {exc.strerror}", path) from exc
    with handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")  # a leading BOM is not content
            except UnicodeDecodeError as exc:
                raise DataError(f"not valid UTF-8 ({exc.reason} at byte {exc.start})", path, number) from exc
            if not line.strip():
                if blank is not None:
                    blank.append(number)
                continue
            try:
                obj = json.loads(line.rstrip("\r\n"), object_pairs_hook=unique_keys)  # a column on this line
            except json.JSONDecodeError as exc:
                raise DataError(f"not valid JSON: {exc.msg} (column {exc.colno})", path, number) from exc
            except RepeatedKey as exc:
                raise DataError(str(exc), path, number) from None
            except RecursionError:
                raise DataError("not an example: JSON nested too deeply", path, number) from None
            try:
                yield Example.from_json(obj, Origin(str(path), number))
            except ValueError as exc:
                raise DataError(str(exc), path, number) from exc


class RepeatedKey(ValueError):
    def __init__(self, key: str):
        super().__init__(f"the key {key!r} appears twice in one object (JSON keeps only the last)")
        self.key = key


def unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """json.loads keeps the last of two equal keys: `"intent"` written twice would train on one
    label without a word about the other."""
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise RepeatedKey(key)
        out[key] = value
    return out


def write_jsonl(path: str | Path, examples: Iterable[Example]) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for ex in examples:
            out.write(json.dumps(ex.to_json(), ensure_ascii=False) + "\n")
            count += 1
    return count


@dataclass
class Summary:
    """Counts a person checks after an import: nothing is dropped silently."""

    examples: int = 0
    ood: int = 0
    intents: Counter = field(default_factory=Counter)
    entity_types: Counter = field(default_factory=Counter)

    @classmethod
    def of(cls, examples: Iterable[Example]) -> "Summary":
        s = cls()
        for ex in examples:
            s.examples += 1
            if ex.ood:
                s.ood += 1
            else:
                s.intents[ex.intent] += 1
            s.entity_types.update(span.type for span in ex.entities)
        return s


SPLITS = ("train", "valid", "test")
