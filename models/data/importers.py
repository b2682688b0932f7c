"""Importers: public and in-house data sets -> canonical train / valid / test examples.

Every format ends in `Example` objects, so the checks in `schema.Example` (spans inside the
text, no overlaps, intent xor out-of-scope) apply to all of them, and every problem is reported
as a `DataError` that names the file and the 1-based line (or JSON key and index) to fix.
Nothing is dropped silently: duplicates are kept and counted, repairs and skipped blank lines are
listed in `ImportResult.notes`, and carved splits are announced in `ImportResult.carved`.

Offsets are Python `str` indices (Unicode code points). Text is never normalised (NFC/NFKC),
because normalising would shift offsets that a source file states or implies.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from intentd.textfile import NotUtf8, read_utf8, split_lines

from .checks import (Finding, as_read, budget_note, check_domain, check_examples, check_intent_count, check_lengths,
                     check_split_files, fail_on, format_findings,
                     is_ood_label)
from .domain import DomainPlan, load_domain, place_domain, plan_domain
from .schema import (SPLITS, DataError, Example, Origin, RepeatedKey, Span, Summary, read_jsonl, unique_keys,
                     write_jsonl)
from .splits import stratified_split

__all__ = [
    "FORMATS",
    "DataError",
    "ImportResult",
    "import_data",
    "import_into",
    "write_splits",
    "format_summary",
    "bio_to_spans",
]

FORMATS = ("jsonl", "bio", "clinc", "csv")

# File or folder names accepted for each split, in the order they are looked for.
SPLIT_NAMES: dict[str, tuple[str, ...]] = {
    "train": ("train",),
    "valid": ("valid", "dev", "val", "validation"),
    "test": ("test",),
}


@dataclass
class ImportResult:
    """What an import produced, and enough provenance for a person to trust it."""

    splits: dict[str, list[Example]]  # keys exactly "train", "valid", "test"
    carved: list[str]  # one note per split carved out of train
    sources: dict[str, str]  # split -> the file or folder it came from
    notes: list[str] = field(default_factory=list)  # repairs, skipped lines, ignored keys
    findings: list[Finding] = field(default_factory=list)  # warnings about the data and its domain.yaml
    domain: DomainPlan | None = None  # the domain.yaml carried into the output folder, if any


# --------------------------------------------------------------------------------------------
# entry points


def import_data(
    fmt: str,
    src: str | Path,
    *,
    text_column: str = "text",
    intent_column: str = "intent",
    ood_label: str = "oos",
    seed: int = 13,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.1,
    strict: bool = True,
) -> ImportResult:
    """Read SRC in format `fmt` and return all three splits, carving missing ones from train.

    `strict` applies to BIO tags: by default an `I-x` that continues no `x` entity is an error
    (it usually means a mis-aligned or hand-edited file); with strict=False it is read as `B-x`,
    as conlleval does, and the repairs are counted in `notes`.
    """
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    for name, value in (("valid_fraction", valid_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise DataError(f"{name} must be at least 0 and below 1, got {value}")
    if valid_fraction + test_fraction >= 1.0:
        raise DataError(
            f"valid_fraction + test_fraction must be below 1, got {valid_fraction} + {test_fraction}"
        )
    src = Path(src)
    if not src.exists():
        raise DataError("no such file or folder", src)

    notes: list[str] = []
    if fmt == "jsonl":
        found, sources = _import_jsonl(src, notes=notes)
    elif fmt == "bio":
        found, sources = _import_bio(src, ood_label=ood_label, strict=strict, notes=notes)
    elif fmt == "clinc":
        found, sources = _import_clinc(src, ood_label=ood_label, notes=notes)
    else:
        found, sources = _import_csv(
            src, text_column=text_column, intent_column=intent_column, ood_label=ood_label, notes=notes
        )

    if not found.get("train"):
        raise DataError("no training examples", sources.get("train", src))
    splits, carved = _carve_missing(found, sources, seed, valid_fraction, test_fraction)
    return ImportResult(splits=splits, carved=carved, sources=sources, notes=notes)


def import_into(
    out_dir: str | Path,
    fmt: str,
    src: str | Path,
    *,
    fail_on_warnings: bool = False,
    max_length: int | None = None,
    **options,
) -> tuple[ImportResult, dict[str, Path]]:
    """`intentd data import`: read SRC, check it (and the domain.yaml the output folder will hold)
    against the data, then write the splits and carry domain.yaml along.

    domain.yaml is taken from the source folder, or beside a source file; an output folder's own
    domain.yaml that differs is kept (it may hold edits) and reported. `fail_on_warnings`
    (`--strict`): any warning is a DataError and nothing is written. `max_length`: the `intentd
    train --max-length` to warn about longer texts for (with the bundled base's tokenizer).
    `options`: as `import_data`.
    """
    result = import_data(fmt, src, **options)
    _check_not_a_source(Path(out_dir), result.sources.values())
    plan = plan_domain(src, out_dir)
    domain = load_domain(plan.checked) if plan.checked is not None else None
    result.domain = plan
    result.findings = check_examples(result.splits, options.get("ood_label", "oos"))
    result.findings += check_intent_count(result.splits)
    if fmt in ("jsonl", "csv"):
        result.findings += check_split_files(Path(src), f".{fmt}", result.sources, SPLIT_NAMES)
    result.findings += check_domain(domain, plan.checked or plan.source, result.splits)
    if (note := budget_note(domain, result.splits.get("valid"))) is not None:
        result.notes.append(note)
    if max_length is not None:
        encoder = _base_encoder(max_length)
        if encoder is None:
            result.notes.append("text lengths not checked: the bundled base encoder (intentd[train]) is not "
                                "installed; intentd train checks them")
        else:
            result.findings += check_lengths(result.splits, encoder)
    if plan.action == "kept":  # the note names the file already
        result.findings.insert(0, Finding("domain_kept", plan.note() or ""))
    if fail_on_warnings:
        fail_on(result.findings)
    written = write_splits(result, out_dir)
    place_domain(plan)
    return result, written


def _base_encoder(max_length: int):
    """The bundled base's tokenizer, cut where `intentd train --max-length` cuts (a file read, no
    model); None without the training extra."""
    from intentd.server.tokenize import TextEncoder

    try:
        from intentd.models.config import default_base

        path = default_base() / "tokenizer.json"
    except ImportError:
        return None
    return TextEncoder.from_file(path, max_length) if path.is_file() else None


def _check_not_a_source(out_dir: Path, sources) -> None:
    """Writing the splits over the files they were read from would lose the carved examples
    (train.jsonl comes back without its valid and test share), and a second import would carve
    again: refused before anything is written."""
    files = [Path(s) for s in sources if Path(s).is_file()]
    for split in SPLITS:
        target = out_dir / f"{split}.jsonl"
        if target.is_file() and any(target.samefile(f) for f in files):
            raise DataError("the output folder holds the source files, which the import would overwrite: "
                            "import into another folder", out_dir)


def write_splits(result: ImportResult, out_dir: str | Path) -> dict[str, Path]:
    """Write train.jsonl, valid.jsonl and test.jsonl.

    All three are written beside their final names first, then renamed, so an interrupted import
    never leaves a truncated split that a later `intentd train` would read as complete, nor (but
    in the instant of the three renames) a new train.jsonl beside the last import's valid and test.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError("output path exists and is not a folder", out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    partials = {split: (out_dir / f".{split}.jsonl.partial", out_dir / f"{split}.jsonl") for split in SPLITS}
    try:
        for split, (partial, final) in partials.items():
            try:
                write_jsonl(partial, result.splits.get(split, []))
            except OSError as exc:
                raise DataError(f"cannot write: {exc.strerror}", final) from exc
        for partial, final in partials.values():
            os.replace(partial, final)
    except BaseException:  # a write that failed, or was stopped (Ctrl-C, SIGTERM)
        for partial, _ in partials.values():
            with contextlib.suppress(OSError):  # what cannot be removed must not hide why
                partial.unlink(missing_ok=True)
        raise
    return {split: final for split, (_, final) in partials.items()}


def format_summary(result: ImportResult) -> str:
    """The report a person reads before training: counts, provenance, and leakage warnings."""
    sums = {split: Summary.of(result.splits.get(split, [])) for split in SPLITS}
    lines: list[str] = []

    width = max(len(s) for s in SPLITS)
    lines.append(f"{'split':<{width}}  {'examples':>8}  {'in-scope':>8}  {'ood':>6}  {'entities':>8}  source")
    for split in SPLITS:
        s = sums[split]
        n_ent = sum(s.entity_types.values())
        lines.append(
            f"{split:<{width}}  {s.examples:>8}  {s.examples - s.ood:>8}  {s.ood:>6}  {n_ent:>8}  "
            f"{result.sources.get(split, '-')}"
        )
    for note in result.carved:
        lines.append(f"carved: {note}")
    for note in result.notes:
        lines.append(f"note: {note}")
    if result.domain is not None and result.domain.note():
        lines.append(result.domain.note())

    lines.extend(_count_table("intent", [sums[s].intents for s in SPLITS]))
    lines.extend(_count_table("entity type", [sums[s].entity_types for s in SPLITS]))

    lines.append("")
    lines.append("checks:")
    lines.extend("  " + line for line in _checks(result.splits))
    lines.extend("  " + line for line in format_findings(result.findings))
    if result.findings:
        lines.append("  (--strict makes warnings errors)")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# shared helpers


def _read_text(path: Path) -> str:
    """Strict UTF-8 with the line of the first bad byte; a leading BOM is not content."""
    try:
        return read_utf8(path)
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror}", path) from exc
    except NotUtf8 as exc:
        raise DataError(str(exc), path, exc.line) from exc


def _find_splits(folder: Path, suffix: str, is_kind: Callable[[Path], bool]) -> dict[str, Path]:
    """Locate split files (or sub-folders) by name; an ambiguous pair like dev + valid is an error."""
    found: dict[str, Path] = {}
    for split, names in SPLIT_NAMES.items():
        hits = [folder / f"{name}{suffix}" for name in names if is_kind(folder / f"{name}{suffix}")]
        if len(hits) > 1:
            listed = " and ".join(p.name for p in hits)
            raise DataError(f"both {listed} present: which one is the {split} split?", folder)
        if hits:
            found[split] = hits[0]
    if "train" not in found:
        present = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
        wanted = f"train{suffix}" + ("/" if not suffix else "")
        raise DataError(f"no {wanted} here (found: {', '.join(present) or 'nothing'})", folder)
    return found


def _carve_missing(
    found: dict[str, list[Example]],
    sources: dict[str, str],
    seed: int,
    valid_fraction: float,
    test_fraction: float,
) -> tuple[dict[str, list[Example]], list[str]]:
    """Carve test, then valid, from train; both fractions are of the train that was read."""
    train = list(found["train"])
    original = len(train)
    splits: dict[str, list[Example]] = {}
    carved: list[str] = []
    origin = sources["train"]
    test_missing = "test" not in found
    if test_missing:
        train, splits["test"] = stratified_split(train, test_fraction, seed)
        sources["test"] = f"carved from {origin}"
        carved.append(_carve_note("test", test_fraction, seed, len(splits["test"]), original))
    else:
        splits["test"] = list(found["test"])
    if "valid" not in found:
        if valid_fraction == 0:
            raise DataError("no valid split beside the training data, and a valid fraction of 0 carves none: "
                            "intentd train needs one (model selection and the OOD threshold are set on it); give "
                            "a valid file or a fraction above 0 (--valid-fraction)", origin)
        share = valid_fraction / (1.0 - test_fraction) if test_missing else valid_fraction
        train, splits["valid"] = stratified_split(train, share, seed)
        sources["valid"] = f"carved from {origin}"
        carved.append(_carve_note("valid", valid_fraction, seed, len(splits["valid"]), original))
    else:
        splits["valid"] = list(found["valid"])
    splits["train"] = train
    return {split: splits[split] for split in SPLITS}, carved


def _carve_note(split: str, fraction: float, seed: int, count: int, original: int) -> str:
    note = (
        f"{split} carved from train ({fraction:.0%}, seed {seed}, stratified by intent): "
        f"{count} of {original} examples"
    )
    if fraction == 0:
        note = f"{split}: none carved from train (fraction 0); the split is empty"
    elif count == 0:
        note += " -- too few examples to carve any; the split is empty"
    return note


def _line_numbers(lines: list[int]) -> str:
    """The first few line numbers and how many more: "3, 5, 7" or "3, 5, 7, 9, 11 and 4 more"."""
    return ", ".join(map(str, lines[:5])) + (f" and {len(lines) - 5} more" if len(lines) > 5 else "")


def _blank_note(split: str, path: Path, lines: list[int]) -> str:
    return f"{split}: skipped {len(lines)} blank line(s) (line(s) {_line_numbers(lines)}) in {path}"


def _count_table(title: str, counters: list[Counter]) -> list[str]:
    keys = sorted(set().union(*counters))
    if not keys:
        return ["", f"{title}s: none"]
    width = max(len(title), *(len(k) for k in keys))
    out = ["", f"{title}s ({len(keys)}):", f"  {title:<{width}}  " + "  ".join(f"{s:>6}" for s in SPLITS)]
    for key in keys:
        out.append(f"  {key:<{width}}  " + "  ".join(f"{c[key]:>6}" for c in counters))
    return out


def _checks(splits: dict[str, list[Example]]) -> list[str]:
    """Counts that make reported figures wrong when they are not zero; the examples behind them
    are listed among the warnings (checks.py)."""
    out: list[str] = []
    train = splits.get("train", [])
    train_texts = Counter(as_read(ex.text) for ex in train)  # "Hello " and "hello" are one text to the model
    out.append(f"duplicate texts within train (case, spacing and accents aside): {len(train) - len(train_texts)}")
    for split in ("valid", "test"):
        leaked = sum(1 for ex in splits.get(split, []) if as_read(ex.text) in train_texts)
        out.append(f"{split} texts also in train: {leaked}" + (f" (leakage: these inflate {split} figures)" if leaked else ""))
    valid_texts = {as_read(ex.text) for ex in splits.get("valid", [])}
    repeated = sum(1 for ex in splits.get("test", []) if (key := as_read(ex.text)) in valid_texts
                   and key not in train_texts)
    out.append("test texts also in valid: " + str(repeated)
               + (" (the escalation threshold is set on valid: these flatter its budget on test)" if repeated else ""))
    return out


# --------------------------------------------------------------------------------------------
# jsonl


def _import_jsonl(src: Path, *, notes: list[str]) -> tuple[dict[str, list[Example]], dict[str, str]]:
    files = {"train": src} if src.is_file() else _find_splits(src, ".jsonl", Path.is_file)
    found = {}
    for split, path in files.items():
        blank: list[int] = []
        found[split] = read_jsonl(path, blank)
        if blank:
            notes.append(_blank_note(split, path, blank))
    return found, {s: str(p) for s, p in files.items()}


# --------------------------------------------------------------------------------------------
# bio

_TAG = re.compile(r"(?:O|([BI])-(\S+))\Z")
_SPACES = re.compile(r"[ \t]+")


def _tokens(line: str) -> list[str]:
    """Split on ASCII spaces and tabs only: str.split() would also split inside a token at a
    no-break space (U+00A0, as in "10\u00a0€") or U+2028, changing the text the file states."""
    line = line.strip(" \t")
    return _SPACES.split(line) if line else []


class _TagError(ValueError):
    """A problem in one line of seq.out; the caller adds the file and line."""


def bio_to_spans(tokens: list[str], tags: list[str], *, strict: bool = True) -> tuple[list[Span], int]:
    """Character spans over " ".join(tokens) for a BIO tag sequence; returns (spans, repairs).

    `repairs` counts `I-x` tags that continued no `x` entity and were read as `B-x` (only when
    strict=False; in strict mode they raise ValueError).
    """
    if len(tokens) != len(tags):
        raise _TagError(f"{len(tags)} tag(s) for {len(tokens)} token(s)")
    spans: list[Span] = []
    repairs = 0
    pos = 0
    open_type: str | None = None
    open_start = open_end = 0
    previous = "O"
    for index, (token, tag) in enumerate(zip(tokens, tags), start=1):
        start, end = pos, pos + len(token)
        pos = end + 1
        match = _TAG.match(tag)
        if match is None:
            raise _TagError(
                f"token {index} ({token!r}): malformed tag {tag!r}; expected O, B-<type> or I-<type>"
            )
        prefix, etype = match.groups()
        if prefix == "I" and etype != open_type:
            if strict:
                raise _TagError(
                    f"token {index} ({token!r}): tag {tag!r} continues no {etype!r} entity "
                    f"(previous tag {previous!r}); an entity starts with B-{etype}: fix the tag in the file"
                )
            prefix = "B"
            repairs += 1
        if prefix == "I":
            open_end = end
        else:
            if open_type is not None:
                spans.append(Span(open_start, open_end, open_type))
                open_type = None
            if prefix == "B":
                open_type, open_start, open_end = etype, start, end
        previous = tag
    if open_type is not None:
        spans.append(Span(open_start, open_end, open_type))
    return spans, repairs


def _lines(path: Path) -> list[str]:
    """Lines split on "\\n" only: str.splitlines() would also split on U+2028, U+0085 and
    friends inside a token and silently break the alignment of the three files."""
    return split_lines(_read_text(path))


def _import_bio(
    src: Path, *, ood_label: str, strict: bool, notes: list[str]
) -> tuple[dict[str, list[Example]], dict[str, str]]:
    if not src.is_dir():
        raise DataError("bio format needs a folder (with train/, dev/, test/ holding seq.in, seq.out, label)", src)
    if (src / "seq.in").exists():
        folders = {"train": src}  # a single split folder: everything is train
    else:
        folders = _find_splits(src, "", Path.is_dir)
    found = {
        split: _read_bio_split(folder, split=split, ood_label=ood_label, strict=strict, notes=notes)
        for split, folder in folders.items()
    }
    return found, {s: str(p) for s, p in folders.items()}


def _read_bio_split(folder: Path, *, split: str, ood_label: str, strict: bool, notes: list[str]) -> list[Example]:
    paths = {name: folder / name for name in ("seq.in", "seq.out", "label")}
    for path in paths.values():
        if not path.is_file():
            raise DataError("missing (a bio split folder holds seq.in, seq.out and label)", path)
    content = {name: _lines(path) for name, path in paths.items()}
    for lines in content.values():  # blank lines at a file's end (an editor's) end no example
        while lines and not lines[-1].strip():
            lines.pop()
    counts = {name: len(lines) for name, lines in content.items()}
    if len(set(counts.values())) > 1:
        longest = max(counts.values())
        short = min(counts, key=lambda name: counts[name])
        detail = ", ".join(f"{name} {n}" for name, n in counts.items())
        raise DataError(
            f"line counts differ ({detail}): {short} has no line {counts[short] + 1} of {longest}",
            paths[short],
            counts[short] + 1,
        )

    examples: list[Example] = []
    blank = repaired_lines = repaired_tags = 0
    for number, (line_in, line_out, line_label) in enumerate(
        zip(content["seq.in"], content["seq.out"], content["label"]), start=1
    ):
        tokens, tags, label = _tokens(line_in), _tokens(line_out), line_label.strip()
        if not tokens and not tags and not label:
            blank += 1
            continue
        if not tokens:
            raise DataError("empty line, but seq.out or label has content on this line", paths["seq.in"], number)
        try:
            spans, repairs = bio_to_spans(tokens, tags, strict=strict)
        except _TagError as exc:
            message = str(exc)
            if len(tokens) != len(tags):
                message += f" on the same line of {paths['seq.in'].name}"
            raise DataError(message, paths["seq.out"], number) from exc
        if not label:
            raise DataError("empty label (an out-of-scope example is labelled " f"{ood_label!r})", paths["label"], number)
        if repairs:
            repaired_lines += 1
            repaired_tags += repairs
        ood = is_ood_label(label, ood_label)
        try:
            examples.append(
                Example(text=" ".join(tokens), intent=None if ood else label, entities=tuple(spans), ood=ood,
                        origin=Origin(str(paths["seq.in"]), number))
            )
        except ValueError as exc:
            raise DataError(str(exc), paths["seq.in"], number) from exc
    if blank:
        notes.append(f"{split}: skipped {blank} line(s) blank in all of seq.in, seq.out and label ({folder})")
    if repaired_lines:
        notes.append(
            f"{split}: {repaired_tags} I- tag(s) on {repaired_lines} line(s) continued no entity "
            f"and were read as B- (strict=False) ({folder / 'seq.out'})"
        )
    return examples


# --------------------------------------------------------------------------------------------
# clinc

_CLINC_KEYS = {"train": ("train", "oos_train"), "valid": ("val", "oos_val"), "test": ("test", "oos_test")}


def _import_clinc(
    src: Path, *, ood_label: str, notes: list[str]
) -> tuple[dict[str, list[Example]], dict[str, str]]:
    path = src / "data_full.json" if src.is_dir() else src
    if not path.is_file():
        present = sorted(p.name for p in src.iterdir()) if src.is_dir() else []
        raise DataError(f"no data_full.json here (found: {', '.join(present) or 'nothing'})", src)
    text = _read_text(path)
    try:
        data = json.loads(text, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON: {exc.msg} (column {exc.colno})", path, exc.lineno) from exc
    except RepeatedKey as exc:  # json keeps the last: a "train" list written twice lost the first, unsaid
        keys = [m.start() for m in re.finditer(rf'"{re.escape(exc.key)}"\s*:', text)]
        line = text.count("\n", 0, keys[1]) + 1 if len(keys) > 1 else None
        raise DataError(str(exc), path, line) from None
    if not isinstance(data, dict):
        raise DataError(
            f"expected a JSON object with keys train, val, test (and oos_*), got {type(data).__name__}", path
        )
    known = {key for keys in _CLINC_KEYS.values() for key in keys}
    ignored = sorted(set(data) - known)
    if ignored:
        notes.append(f"ignored key(s) in {path.name}: {', '.join(ignored)}")
    if "train" not in data:
        raise DataError(f'no key "train" (keys present: {", ".join(sorted(data)) or "none"})', path)

    found: dict[str, list[Example]] = {}
    for split, (key, oos_key) in _CLINC_KEYS.items():
        if key not in data:
            if oos_key in data:
                raise DataError(f'key "{oos_key}" without "{key}": the split would hold out-of-scope only', path)
            continue
        found[split] = _clinc_list(data, key, path, ood_label, oos_only=False)
        if oos_key in data:
            found[split] += _clinc_list(data, oos_key, path, ood_label, oos_only=True)
    return found, {split: str(path) for split in found}


def _clinc_list(data: dict, key: str, path: Path, ood_label: str, *, oos_only: bool) -> list[Example]:
    items = data[key]
    if not isinstance(items, list):
        raise DataError(f'key "{key}": expected a list of [text, intent] pairs, got {type(items).__name__}', path)
    out = []
    for index, item in enumerate(items):
        if not (isinstance(item, list) and len(item) == 2 and all(isinstance(v, str) for v in item)):
            shown = json.dumps(item, ensure_ascii=False)
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
            raise DataError(f'key "{key}" index {index}: expected [text, intent], got {shown}', path)
        text, label = item
        if not label.strip():  # the Example's own message would give JSONL's advice ("ood": true)
            raise DataError(f'key "{key}" index {index}: blank intent (an out-of-scope example is labelled '
                            f'{ood_label!r}, or --ood-label)', path)
        ood = is_ood_label(label, ood_label)
        if oos_only and not ood:
            raise DataError(
                f'key "{key}" index {index}: label {label!r} in an out-of-scope list (expected {ood_label!r})', path
            )
        try:
            out.append(Example(text=text, intent=None if ood else label, ood=ood,
                               origin=Origin(str(path), key=f'key "{key}" index {index}')))
        except ValueError as exc:
            raise DataError(f'key "{key}" index {index}: {exc}', path) from exc
    return out


# --------------------------------------------------------------------------------------------
# csv


def _import_csv(
    src: Path, *, text_column: str, intent_column: str, ood_label: str, notes: list[str]
) -> tuple[dict[str, list[Example]], dict[str, str]]:
    files = {"train": src} if src.is_file() else _find_splits(src, ".csv", Path.is_file)
    found = {}
    for split, path in files.items():
        blank: list[int] = []
        found[split] = _read_csv(path, text_column=text_column, intent_column=intent_column, ood_label=ood_label,
                                 blank=blank)
        if blank:
            notes.append(_blank_note(split, path, blank))
    return found, {s: str(p) for s, p in files.items()}


def _read_csv(path: Path, *, text_column: str, intent_column: str, ood_label: str, blank: list[int]) -> list[Example]:
    """One example per record; line numbers are the physical line where a record starts, which
    differs from the record number once a quoted field spans lines.

    A blank intent is an error, never out-of-scope: it is as often a label someone forgot as a
    query that is out of scope, and training on the wrong guess is worse than stopping. The error
    lists the first few such records and their count, so one pass fixes them all. The numbers of
    blank lines (no record) are appended to `blank`."""
    reader = csv.reader(io.StringIO(_read_text(path), newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise DataError("empty file: expected a header row", path, 1) from None
    except csv.Error as exc:
        raise DataError(f"bad CSV header: {exc}", path, 1) from exc
    names = [name.strip() for name in header]
    columns = {}
    for column in (text_column, intent_column):
        count = names.count(column)
        if count != 1:
            problem = "no column" if count == 0 else f"{count} columns named"
            raise DataError(f"{problem} {column!r}; columns present: {', '.join(map(repr, names))}", path, 1)
        columns[column] = names.index(column)
    text_at, intent_at = columns[text_column], columns[intent_column]

    examples: list[Example] = []
    unlabelled: list[int] = []  # lines of records with an empty intent
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DataError(f"bad CSV in the record starting here: {exc}", path, start) from exc
        line, start = start, reader.line_num + 1
        if not row:  # a blank line is no record
            blank.append(line)
            continue
        if len(row) != len(header):
            raise DataError(
                f"{len(row)} field(s), but the header has {len(header)} (an unquoted comma in the text?)",
                path,
                line,
            )
        text, intent = row[text_at].strip(), row[intent_at].strip()
        if not text:
            raise DataError(f"empty text in column {text_column!r}", path, line)
        if not intent:
            unlabelled.append(line)
            continue
        ood = is_ood_label(intent, ood_label)
        try:
            examples.append(Example(text=text, intent=None if ood else intent, ood=ood, origin=Origin(str(path), line)))
        except ValueError as exc:
            raise DataError(str(exc), path, line) from exc
    if unlabelled:
        raise DataError(
            f"empty {intent_column!r} in {len(unlabelled)} record(s) (line(s) {_line_numbers(unlabelled)}): label "
            f"every record; an out-of-scope one is labelled {ood_label!r} (--ood-label)",
            path,
            unlabelled[0],
        )
    return examples
