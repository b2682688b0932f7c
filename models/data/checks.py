"""Warnings about data that loads but would train or serve wrongly, each naming the file and line.

Two families, both run by `intentd data import` and (through `check_training_data`) by `intentd
train` before any training:
- the examples on their own: entity spans with surrounding whitespace or that start or end inside
  a word (the tagger labels whole words, so such a span is learnt as the whole word), intents that
  look like out-of-scope or carry stray spaces, one text (case and spacing aside) with two labels
  or two entity annotations, valid or test texts also in train, valid or test labels never seen
  in train;
- domain.yaml on its own: keys intentd does not read (a typo such as `respnse:`, or an option of
  another entity kind), with the closest known key;
- the examples against domain.yaml: intents it has no entry for (no response), intents it lists
  without a training example (`intentd train` refuses them), entity types it does not declare
  (never resolved), declared types no training span shows (the model never finds them), gold
  `value`s of a catalog type that are not one of its ids (`intentd eval` scores them wrong),
  escalation tiers it does not list, and no domain.yaml at all.

Findings are warnings. Reports show the first few of each kind and a count; with
`fail_on_warnings` (`--strict`) the first finding becomes a DataError (one line, file and line).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

from .domain import DOMAIN_FILE, key_lines, validate_domain
from .schema import SPLITS, DataError, Example, Origin, Span

if TYPE_CHECKING:
    from intentd.server.resolve.catalog import Catalog
    from intentd.server.tokenize import TextEncoder

SHOWN_PER_KIND = 5  # findings listed per kind before "... and N more"

# kind -> what a group of them is, in report order
KINDS: dict[str, str] = {
    "no_domain": "no domain.yaml",
    "split_file_not_read": "files named like a split that were not read (the split was carved from train)",
    "one_intent": "a single intent (the classifier has nothing to tell apart)",
    "domain_kept": "domain.yaml not replaced",
    "unknown_key": "domain.yaml keys intentd does not read (ignored: a typo?)",
    "intent_not_in_domain": "intents with no entry in domain.yaml (they get no response)",
    "intent_without_response": "domain.yaml intents with no response (answered with none)",
    "domain_intent_without_examples": "domain.yaml intents without a training example (intentd train refuses them)",
    "entity_type_not_in_domain": "entity types not declared in domain.yaml (never resolved)",
    "entity_type_without_spans": "domain.yaml entity types without a training span (the model never finds them)",
    "gold_value_not_id": "gold entity values that are not an id of their catalog (intentd eval scores them wrong)",
    "unknown_tier": "escalation tiers not listed in escalation.tiers",
    "question_without_replies": "responses that ask a question no intent of the data answers",
    "valid_without_in_scope": "no in-scope validation example (intentd train refuses it)",
    "span_whitespace": "entity spans with leading or trailing whitespace",
    "span_cuts_word": "entity spans that start or end inside a word (the tagger labels whole words)",
    "ood_label_as_intent": "examples whose intent is the out-of-scope label",
    "control_characters": "texts with control characters (copied from a terminal or a binary file?)",
    "intent_whitespace": "intents with leading or trailing whitespace",
    "entity_type_whitespace": "entity types with leading or trailing whitespace",
    "too_long": "texts longer than training reads (--max-length, in word pieces)",
    "conflicting_labels": "texts that also appear with another label",
    "conflicting_entities": "texts that also appear with other entity spans",
    "leakage": "valid or test texts also in train, or test texts also in valid (they inflate the figures)",
    "unseen_intent": "valid or test intents never seen in train (intentd train and eval refuse them)",
    "unseen_entity_type": "valid or test entity types never seen in train (the model cannot find them)",
}


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # a key of KINDS
    message: str
    path: str | None = None
    line: int | None = None
    key: str | None = None  # where a format has no line: a JSON key and index

    @classmethod
    def at(cls, kind: str, origin: Origin | None, message: str) -> "Finding":
        if origin is None:
            return cls(kind, message)
        return cls(kind, message, origin.path, origin.line, origin.key)

    def __str__(self) -> str:
        where = str(Origin(self.path, self.line, self.key)) if self.path else ""
        return f"{where}: {self.message}" if where else self.message

    def sort_key(self) -> tuple:
        """Report order: by kind (KINDS order), then file and line."""
        kind = list(KINDS).index(self.kind) if self.kind in KINDS else len(KINDS)
        return (kind, self.path or "", self.line or 0, self.key or "")

    def error(self, others: int = 0) -> DataError:
        message = f"{self.key}: {self.message}" if self.key and self.line is None else self.message
        if others:
            message += f" (and {others} more warning(s); without --strict they are listed and the data is kept)"
        return DataError(message, self.path, self.line)


def format_findings(findings: Sequence[Finding], shown: int = SHOWN_PER_KIND) -> list[str]:
    """One line for a lone finding; a count, the first `shown` and "... and N more" for a kind with several."""
    groups: dict[str, list[Finding]] = {}
    for finding in sorted(findings, key=Finding.sort_key):
        groups.setdefault(finding.kind, []).append(finding)
    lines: list[str] = []
    for group in groups.values():
        if len(group) == 1:
            lines.append(f"warning: {group[0]}")
            continue
        lines.append(f"warning: {len(group)} {KINDS.get(group[0].kind, group[0].kind)}:")
        lines.extend(f"  {finding}" for finding in group[:shown])
        if len(group) > shown:
            lines.append(f"  ... and {len(group) - shown} more")
    return lines


def fail_on(findings: Sequence[Finding]) -> None:
    """`--strict`: the first finding, by report order, as an error."""
    if findings:
        raise min(findings, key=Finding.sort_key).error(len(findings) - 1)


def check_training_data(
    splits: Mapping[str, Sequence[Example]],
    domain: dict | None,
    domain_path: str | Path | None,
    strict: bool = False,
    ood_label: str = "oos",
    encoder: "TextEncoder | None" = None,
) -> list[str]:
    """What `intentd train` checks before training: the examples, and the domain against them;
    with the training `encoder`, the texts it would cut.

    Raises DataError when the domain itself is invalid, or (strict) on the first warning;
    otherwise returns the report lines (empty when all is well) for the caller to print.
    """
    if domain is not None and domain_path is not None:
        validate_domain(domain, domain_path)
    findings = check_examples(splits, ood_label) + check_intent_count(splits) + check_domain(domain, domain_path, splits)
    if encoder is not None:
        findings += check_lengths(splits, encoder)
    if strict:
        fail_on(findings)
    return format_findings(findings)


# --------------------------------------------------------------------------------------------
# the examples on their own


def check_examples(splits: Mapping[str, Sequence[Example]], ood_label: str = "oos") -> list[Finding]:
    findings: list[Finding] = []
    for split in SPLITS:
        for ex in splits.get(split, ()):
            findings.extend(_check_example(ex, ood_label))
    findings.extend(_check_across_splits(splits))
    return findings


def _check_example(ex: Example, ood_label: str) -> Iterable[Finding]:
    control = next((i for i, ch in enumerate(ex.text) if ch not in "\t\n\r" and unicodedata.category(ch) == "Cc"),
                   None)
    if control is not None:  # a NUL or a terminal's colour code ("\x1b[31m") is no word a caller says
        yield Finding.at("control_characters", ex.origin,
                         f"text has a control character ({ex.text[control]!a} at code point {control})")
    if not ex.ood and ex.intent is not None:
        if is_ood_label(ex.intent, ood_label):
            yield Finding.at("ood_label_as_intent", ex.origin,
                             f"intent {ex.intent!r} is the out-of-scope label: in canonical JSONL an "
                             f'out-of-scope example is {{"text": ..., "ood": true}}, with no intent')
        elif ex.intent != ex.intent.strip():
            yield Finding.at("intent_whitespace", ex.origin,
                             f"intent {ex.intent!r} has leading or trailing whitespace (a different label "
                             f"from {ex.intent.strip()!r})")
    if not ex.entities:
        return
    for etype in dict.fromkeys(s.type for s in ex.entities):
        if etype != etype.strip():
            yield Finding.at("entity_type_whitespace", ex.origin,
                             f"entity type {etype!r} has leading or trailing whitespace (a different type "
                             f"from {etype.strip()!r})")
    starts, ends = word_bounds(ex.text)
    for span in ex.entities:
        finding = _check_span(ex, span, starts, ends)
        if finding is not None:
            yield finding


def is_ood_label(label: str, ood_label: str) -> bool:
    """Whether a label is the out-of-scope label, case and surrounding spaces aside: "OOS" or
    "Oos" in a CSV is no intent either."""
    return label.strip().casefold() == ood_label.strip().casefold()


def _learnt_words(text: str, span: Span, starts: list[int], ends: list[int]) -> tuple[int, int]:
    """The words the tagger learns for a span: the span without the whitespace at its edges,
    widened to whole words (`starts`, `ends`: `word_bounds(text)`)."""
    shown = text[span.start : span.end]
    start = span.start + len(shown) - len(shown.lstrip())
    end = span.end - (len(shown) - len(shown.rstrip()))
    return max((s for s in starts if s <= start), default=start), min((e for e in ends if e >= end), default=end)


def _check_span(ex: Example, span: Span, starts: list[int], ends: list[int]) -> Finding | None:
    text, shown = ex.text, ex.span_text(span)
    if not shown.strip():
        return Finding.at("span_whitespace", ex.origin,
                          f"entity {span.type!r} [{span.start}, {span.end}) {shown!r} is only whitespace")
    spaced = shown != shown.strip()
    start, end = _learnt_words(text, span, starts, ends)
    if not spaced and (start, end) == (span.start, span.end):
        return None
    head = f"entity {span.type!r} [{span.start}, {span.end}) {shown!r}"
    fix = f"the span should be [{start}, {end}) {text[start:end]!r}"
    if spaced:
        return Finding.at("span_whitespace", ex.origin, f"{head} has leading or trailing whitespace; {fix}")
    return Finding.at("span_cuts_word", ex.origin,
                      f"{head} starts or ends inside a word; the model learns whole words, so {fix}")


_NON_SPACE = re.compile(r"\S+")


def _is_punctuation(ch: str) -> bool:
    return unicodedata.category(ch).startswith("P")


def word_bounds(text: str) -> tuple[list[int], list[int]]:
    """Start and end offsets of the words the tagger labels (server/tokenize.py `_words`): runs
    of non-space characters, with punctuation at either end of a run standing alone
    ("savings." is "savings" and "."; "$200", "2026-01-15" and "bank's" are one word each)."""
    starts: list[int] = []
    ends: list[int] = []
    for match in _NON_SPACE.finditer(text):
        lo, hi = match.span()
        while lo < hi - 1 and _is_punctuation(text[lo]):
            starts.append(lo)
            ends.append(lo + 1)
            lo += 1
        while hi - 1 > lo and _is_punctuation(text[hi - 1]):
            starts.append(hi - 1)
            ends.append(hi)
            hi -= 1
        starts.append(lo)
        ends.append(hi)
    return sorted(starts), sorted(ends)


def _label(ex: Example) -> str:
    return "out-of-scope" if ex.ood else repr(ex.intent)


def as_read(text: str) -> str:
    """A text as the model reads it, whatever its case, spacing, accents and Unicode form (the base
    is uncased: its tokenizer splits on spaces, decomposes and drops the accents): "Where is my
    pizza " and "where is my pizza" are one text, and so are "München" written composed (NFC) and
    decomposed (NFD, as macOS and some forms export it), which passed as two with two labels."""
    from intentd.server.tokenize import fold_width

    decomposed = unicodedata.normalize("NFD", fold_width(text).casefold())
    # accents (Mn) go, and so do the format and control characters the tokenizer drops (a zero-width space)
    kept = (c for c in decomposed if c.isspace() or not (unicodedata.category(c).startswith(("Mn", "C"))
                                                          or c == "\ufffd"))
    return " ".join("".join(kept).split())


def _tags(ex: Example) -> tuple[tuple[str, str], ...]:
    """What an example teaches the tagger, comparable between copies whose case or spacing differ:
    each span's type and the words it learns for it, in order (a span cutting a word, or with
    spaces at its edges, is learnt as the whole word, and warned about on its own)."""
    starts, ends = word_bounds(ex.text)
    return tuple((s.type, as_read(ex.text[slice(*_learnt_words(ex.text, s, starts, ends))]))
                 for s in sorted(ex.entities, key=lambda s: s.start))


def _shown_tags(ex: Example) -> str:
    spans = sorted(ex.entities, key=lambda s: s.start)
    return ", ".join(f"{s.type} {ex.span_text(s)!r}" for s in spans) if spans else "with no entity"


def _conflict(ex: Example, seen: Example) -> Finding | None:
    """Two copies of one text that teach the model different things: another label, or other
    entity spans (the tagger learns both, and is scored wrong on one of them)."""
    where = f"{seen.origin or 'an earlier line'}"
    if seen.text != ex.text:
        where += f" ({seen.text!r}: the texts differ only in case, spacing, accents or Unicode form)"
    if _label(seen) != _label(ex):
        return Finding.at("conflicting_labels", ex.origin,
                          f"{ex.text!r} is {_label(ex)} here but {_label(seen)} at {where}")
    if _tags(seen) != _tags(ex):
        return Finding.at("conflicting_entities", ex.origin,
                          f"{ex.text!r} is tagged {_shown_tags(ex)} here but {_shown_tags(seen)} at {where}")
    return None


def _check_across_splits(splits: Mapping[str, Sequence[Example]]) -> Iterable[Finding]:
    train = splits.get("train", ())
    first: dict[str, Example] = {}  # in every split: the copies of a text may sit in two
    for split in SPLITS:
        for ex in splits.get(split, ()):
            seen = first.setdefault(as_read(ex.text), ex)
            finding = _conflict(ex, seen) if seen is not ex else None
            if finding is not None:
                yield finding
    valid = splits.get("valid")
    if valid is not None and all(ex.ood for ex in valid):
        where = valid[0].origin.path if valid and valid[0].origin else None
        what = f"has no in-scope example ({len(valid)} out-of-scope)" if valid else "is empty"
        yield Finding("valid_without_in_scope", f"the valid split {what}: intentd train refuses it, as model "
                                                f"selection and the OOD threshold are set on in-scope validation "
                                                f"queries", where)
    first_seen: dict[str, Example] = {}  # by the text as the model reads it: a copy in other case is one
    for ex in train:
        first_seen.setdefault(as_read(ex.text), ex)

    train_intents = {ex.intent for ex in train if not ex.ood}
    train_types = {span.type for ex in train for span in ex.entities}
    in_valid: dict[str, Example] = {}
    for ex in splits.get("valid", ()):
        in_valid.setdefault(as_read(ex.text), ex)
    for split in ("valid", "test"):
        rows = splits.get(split, ())
        for ex in rows:
            if (seen := first_seen.get(as_read(ex.text))) is not None:
                yield Finding.at("leakage", ex.origin,
                                 f"{split} text {ex.text!r} is also in train ({seen.origin or 'train'})")
            elif split == "test" and (seen := in_valid.get(as_read(ex.text))) is not None:
                # the OOD threshold is set on valid: a test split that repeats it flatters the budget
                yield Finding.at("leakage", ex.origin,
                                 f"test text {ex.text!r} is also in valid ({seen.origin or 'valid'})")
        for intent, (count, ex) in _first_of(rows, lambda e: [] if e.ood else [e.intent]).items():
            if intent not in train_intents:
                yield Finding.at("unseen_intent", ex.origin,
                                 f"{split} intent {intent!r} ({count} example(s)) is never seen in train")
        for etype, (count, ex) in _first_of(rows, lambda e: [s.type for s in e.entities]).items():
            if etype not in train_types:
                yield Finding.at("unseen_entity_type", ex.origin,
                                 f"{split} entity type {etype!r} ({count} span(s)) is never seen in train")


def check_split_files(src: Path, suffix: str, sources: Mapping[str, str], names: Mapping[str, Sequence[str]]) -> list[Finding]:
    """Files beside the splits read whose names are near a split's ("tests.jsonl", "Valid.jsonl",
    "test.json") while that split was carved from train: a hand-made test set replaced, unsaid."""
    if not src.is_dir():
        return []
    carved = [split for split in names if str(sources.get(split, "")).startswith("carved from")]
    out: list[Finding] = []
    for path in sorted(src.iterdir()):
        if not path.is_file() or path.name.startswith(".") or (words := _name_words(path.name)) is None:
            continue
        for split in carved:
            wanted = names[split]
            if words & (set(wanted) | _SPLIT_WORDS.get(split, set())):
                out.append(Finding("split_file_not_read", f"looks like the {split} split, but only "
                                   f"{' or '.join(n + suffix for n in wanted)} is read: {split} was carved from "
                                   f"train instead (rename it to use it)", str(path)))
                break
    return out


# other words a split's file is named by (the names read are importers.SPLIT_NAMES), also with
# "set", "data" or "daten" after them ("testset", "valset", "Testdaten")
_SPLIT_WORDS = {"test": {"tests", "testing", "holdout", "holdouts", "heldout", "eval", "evaluation"},
                "valid": {"validate", "validation", "validierung", "dev", "development", "validset"}}
_DATA_SUFFIXES = {".jsonl", ".json", ".csv", ".tsv"}  # a report or a notebook beside the data is no split
_PACKED_SUFFIXES = {".gz", ".bz2", ".xz", ".zst", ".zip"}  # "test.jsonl.gz": a split not read, all the same
# a file of results about a split, not the split: "test_predictions.jsonl", "eval_results.json"
_REPORT_WORDS = {"result", "results", "report", "reports", "prediction", "predictions", "preds", "error", "errors",
                 "metric", "metrics", "score", "scores", "output", "outputs", "log", "logs", "summary",
                 "misclassified", "failures", "failed", "wrong", "mistakes", "confusion"}
_SET_ENDINGS = ("set", "data", "daten", "sdaten")  # "Validierungsdaten"


def _name_words(name: str) -> set[str] | None:
    """The words a data file's name says ("held_out" also as "heldout", "valset" also as "val"),
    or None for a file that is no data file, or that reports on one."""
    suffixes = [s.casefold() for s in Path(name).suffixes]
    if suffixes and suffixes[-1] in _PACKED_SUFFIXES:
        suffixes.pop()
    if not suffixes or suffixes[-1] not in _DATA_SUFFIXES:
        return None
    stem = name[: len(name) - sum(len(s) for s in Path(name).suffixes[len(suffixes) - 1:])]
    tokens = [t for t in re.split(r"[^a-z]+", stem.casefold()) if t]  # "test_set", "Test (1)", "banking.test"
    if set(tokens) & _REPORT_WORDS:
        return None
    words = set(tokens) | {a + b for a, b in zip(tokens, tokens[1:])}  # "held out", "hold-out"
    return words | {w[: -len(end)] for w in words for end in _SET_ENDINGS if w.endswith(end) and len(w) > len(end)}


def check_intent_count(splits: Mapping[str, Sequence[Example]]) -> list[Finding]:
    """One intent: every answer is it at confidence 1.0 (training learns nothing, loss 0 from the
    first step), so low-confidence and ambiguity never escalate; only the OOD score does."""
    intents = {ex.intent for ex in splits.get("train", ()) if not ex.ood}
    if len(intents) != 1:
        return []
    return [Finding("one_intent", f"train has one intent ({next(iter(intents))!r}): every answer is it with "
                                  "confidence 1.0, and only the out-of-distribution score can escalate; add the "
                                  "other things callers ask, or out-of-scope examples")]


def check_lengths(splits: Mapping[str, Sequence[Example]], encoder: "TextEncoder") -> list[Finding]:
    """Texts longer than `encoder.max_length` word pieces (`intentd train --max-length`): training
    reads only their start, so a span past the cut is never learnt."""
    from tokenizers import Tokenizer

    from intentd.server.tokenize import fold_width

    whole = Tokenizer.from_str(encoder.tokenizer.to_str())  # the same word pieces, uncut
    whole.no_truncation()
    whole.no_padding()
    findings: list[Finding] = []
    for split in SPLITS:
        rows = splits.get(split, ())
        for ex, enc in zip(rows, whole.encode_batch([fold_width(ex.text) for ex in rows], add_special_tokens=True)):
            if len(enc.ids) <= encoder.max_length:
                continue
            pieces = [i for i, word in enumerate(enc.word_ids) if word is not None]
            kept = encoder.max_length - (len(enc.ids) - len(pieces))  # the special tokens stay
            read = enc.offsets[pieces[kept - 1]][1] if kept > 0 else 0
            message = (f"{len(enc.ids)} word pieces (special tokens included), over --max-length "
                       f"{encoder.max_length}: training reads only its first {read} of {len(ex.text)} characters")
            cut = [span for span in ex.entities if span.end > read]
            if cut:
                message += (f", so {len(cut)} entity span(s) past that ("
                            + ", ".join(f"{s.type!r} [{s.start}, {s.end})" for s in cut[:3])
                            + (" ..." if len(cut) > 3 else "") + ") are cut short or not learnt")
            findings.append(Finding.at("too_long", ex.origin, message + " (train with a larger --max-length, "
                                                                        "or shorten the text)"))
    return findings


def _first_of(rows: Iterable[Example], keys) -> dict[str, tuple[int, Example]]:
    """key -> (how many times it occurs, the first example it occurs in), in order of first occurrence."""
    counts: Counter = Counter()
    first: dict[str, Example] = {}
    for ex in rows:
        for key in keys(ex):
            counts[key] += 1
            first.setdefault(key, ex)
    return {key: (counts[key], first[key]) for key in first}


# --------------------------------------------------------------------------------------------
# the examples against domain.yaml


def check_domain(
    domain: dict | None, path: str | Path | None, splits: Mapping[str, Sequence[Example]]
) -> list[Finding]:
    """The domain (already validated on its own) against the data it will be trained with, and
    the keys in it that nothing reads."""
    if domain is None:
        where = str(path) if path is not None else None
        return [Finding("no_domain", f"no {DOMAIN_FILE} here: the model will give no responses and resolve no "
                                     f"entity values (`intentd init DIR` writes a commented template)", where)]
    from intentd.server.domain_schema import line_of, unknown_keys

    path = str(path) if path is not None else DOMAIN_FILE
    lines = key_lines(path)
    findings = [Finding("unknown_key", p.message, path, line_of(p.path, lines)) for p in unknown_keys(domain)]
    train = splits.get("train", ())
    intents = domain.get("intents") or {}
    entities = domain.get("entities") or {}

    train_intents = _first_of(train, lambda e: [] if e.ood else [e.intent])
    for intent, (count, ex) in train_intents.items():
        if intent not in intents:
            findings.append(Finding.at("intent_not_in_domain", ex.origin,
                                       f"intent {intent!r} ({count} example(s)) has no entry under intents: "
                                       f"in {path}, so it gets no response"))
    for intent, spec in intents.items():
        if not (isinstance(spec, dict) and "response" in spec):
            findings.append(Finding("intent_without_response",
                                    f"intent {intent!r} has no response: every answer to it carries none (after "
                                    f"its slot prompts, if it has any); give it one, unless a backend answers "
                                    f"it on its own", path, lines.get(("intents", str(intent)))))
        if intent not in train_intents:
            findings.append(Finding("domain_intent_without_examples",
                                    f"intent {intent!r} has no training example: `intentd train` refuses a "
                                    f"domain intent the model cannot predict (add examples or remove it)",
                                    path, lines.get(("intents", str(intent)))))

    all_rows = [ex for split in SPLITS for ex in splits.get(split, ())]
    for etype, (count, ex) in _first_of(all_rows, lambda e: [s.type for s in e.entities]).items():
        if etype not in entities:
            findings.append(Finding.at("entity_type_not_in_domain", ex.origin,
                                       f"entity type {etype!r} ({count} span(s)) is not declared under "
                                       f"entities: in {path}, so its spans are never resolved and fill no slot"))
    train_types = {span.type for ex in train for span in ex.entities}
    for etype, spec in entities.items():
        spec = spec or {}
        kind = spec.get("kind", "free")
        found_without_model = kind == "pattern" or (kind == "catalog" and spec.get("match_without_model"))
        if etype not in train_types and not found_without_model:
            hint = " (or set match_without_model: true)" if kind == "catalog" else ""
            findings.append(Finding("entity_type_without_spans",
                                    f"entity type {etype!r} ({kind}) has no span in train: the model never "
                                    f"finds it{hint}", path, lines.get(("entities", str(etype)))))

    if any(span.value is not None for ex in all_rows for span in ex.entities):
        from intentd.server.resolve import Resolver

        findings.extend(gold_values_not_ids(all_rows, Resolver(domain).catalogs))
    findings.extend(_check_tiers(domain, path, lines))
    findings.extend(_check_questions(domain, path, lines, set(train_intents)))
    return findings


def _check_questions(domain: dict, path: str, lines: dict, trained: set[str]) -> Iterable[Finding]:
    """A response that asks the caller something ("Shall I go ahead?") in a domain whose data
    teaches no yes and no no (its follow_ups' confirm and cancel intents): the caller's "yes" is
    read as whichever intent is nearest ("greeting", at confidence 1.000, in the starter domain)."""
    from intentd.server.followup import CANCEL_INTENTS, CONFIRM_INTENTS

    section = domain.get("follow_ups") if isinstance(domain.get("follow_ups"), dict) else {}
    # read as FollowUps reads them: a list given, even empty, replaces the default
    confirm = [str(i) for i in section.get("confirm", CONFIRM_INTENTS) or ()]
    cancel = [str(i) for i in section.get("cancel", CANCEL_INTENTS) or ()]
    if any(i in trained for i in confirm) and any(i in trained for i in cancel):
        return
    for intent, spec in (domain.get("intents") or {}).items():
        response = (spec or {}).get("response")
        asking = [q for r in (response if isinstance(response, list) else [response]) if (q := _yes_no_question(r))]
        if asking:
            yield Finding("question_without_replies",
                          f"intent {intent!r}'s response asks {asking[0]!r} but the data "
                          f"teaches no reply: follow_ups confirm ({', '.join(confirm)}) and cancel "
                          f"({', '.join(cancel)}) need training examples, or a caller's yes or no is read as another "
                          f"intent", path, lines.get(("intents", str(intent))))


# an English question a caller answers yes or no opens with one of these ("Shall I go ahead?",
# "Would you like me to...?"); "Can/Could you tell me...?" asks for a value, "checking or savings?"
# for a choice, and other languages are not read (a warning must not misfire: --strict fails on it)
_YES_NO_OPENING = re.compile(r"(?i)(?:shall|should|do|does|did|would|will|is|are|am|was|were|have|has|may|"
                             r"want|ok|okay|alright)\b")
_QUESTION = re.compile(r"[^.!?\uff1f\u3002\uff01]*[?\uff1f]")


def _yes_no_question(response: object) -> str | None:
    """The response's first question a caller answers yes or no ("Shall I go ahead?"), not an open
    one ("How can I help?", answered by a request) or a choice ("checking or savings?")."""
    if not isinstance(response, str):
        return None
    for match in _QUESTION.finditer(response):
        question = match.group().strip()
        if _YES_NO_OPENING.match(question) and not re.search(r"(?i)\bor\b", question):
            return question
    return None


def budget_note(domain: dict | None, valid: Sequence[Example] | None) -> str | None:
    """Too few in-scope validation queries for calibration to hold the escalation budget (its
    threshold then flags none of them and guarantees nothing, models/calibrate.py): a note, not
    a warning, since nothing in the data is wrong, only short."""
    in_scope = sum(not ex.ood for ex in valid or ())
    if not in_scope:
        return None  # none at all is its own finding
    from intentd.models.calibrate import BUDGET_CONFIDENCE, DEFAULT_TARGET_FER, needed_for_budget

    section = (domain or {}).get("escalation")
    section = section if isinstance(section, dict) else {}
    budget = float(section.get("target_false_escalation_rate", DEFAULT_TARGET_FER))
    confidence = float(section.get("budget_confidence", BUDGET_CONFIDENCE))
    needed = needed_for_budget(budget, confidence)
    if in_scope >= needed:
        return None
    return (f"the valid split has {in_scope} in-scope example(s); holding a {100 * budget:g} % escalation budget with "
            f"{100 * confidence:g} % confidence needs at least {needed}: below that no OOD threshold guarantees it "
            f"(add validation examples, or import with a larger --valid-fraction)")


def gold_values_not_ids(examples: Iterable[Example], catalogs: Mapping[str, "Catalog"]) -> list[Finding]:
    """Gold `value`s of catalog spans that are not one of the catalog's ids: the resolver answers
    with the id, so `intentd eval` scores each such span wrong (a display value such as
    "Pepperoni" read as 0 % resolution accuracy, as if the resolver were broken)."""
    findings = []
    for ex in examples:
        for span in ex.entities:
            catalog = catalogs.get(span.type)
            if span.value is None or catalog is None or span.value in catalog.by_id:
                continue
            found = catalog.lookup(span.value)
            if found is None:
                ids = list(catalog.by_id)
                fix = f"its ids are {', '.join(map(repr, ids[:8]))}" + (" ..." if len(ids) > 8 else "")
            elif found[1] == 1.0:
                fix = f"it is a name of {found[0].id!r}: use the id {found[0].id!r}"
            else:
                fix = f"it reads as {found[0].id!r}: use the id {found[0].id!r}"
            findings.append(Finding.at("gold_value_not_id", ex.origin,
                                       f"entity {span.type!r} {ex.span_text(span)!r} has the gold value "
                                       f"{span.value!r}, which is not an id of its catalog; {fix}"))
    return findings


def _check_tiers(domain: dict, path: str, lines: dict) -> Iterable[Finding]:
    from intentd.server.escalation import DEFAULT_TIER

    escalation = domain.get("escalation") or {}
    tiers = escalation.get("tiers")
    if not isinstance(tiers, list):
        return
    for reason in ("out_of_distribution", "low_confidence", "ambiguous"):
        tier = escalation.get(reason, DEFAULT_TIER)
        if tier not in tiers:
            said = f"escalation.{reason} is {tier!r}" if reason in escalation else \
                f"escalation.{reason} is not set, so it is {tier!r}"
            yield Finding("unknown_tier", f"{said}, which escalation.tiers does not list", path,
                          lines.get(("escalation", reason), lines.get(("escalation", "tiers"))))
    for intent, spec in (domain.get("intents") or {}).items():
        tier = spec.get("escalate") if isinstance(spec, dict) else None
        if tier and tier not in tiers:
            yield Finding("unknown_tier", f"intent {intent!r} escalates to {tier!r}, which escalation.tiers "
                                          f"does not list", path,
                          lines.get(("intents", str(intent), "escalate"), lines.get(("intents", str(intent)))))


def check_known_intents(examples: Sequence[Example], intents: Iterable[str], path: str | Path,
                        lacking: str = "this model does not know") -> None:
    """Scoring or calibrating a model on examples of intents it does not have counts them as out
    of scope: a renamed label reads as a plausible OOS recall in `eval` (and in `train`'s own valid
    and test figures), and `calibrate` on another domain's data set a threshold that escalated 97 %
    of queries. Refused, naming the lines."""
    known = set(intents)
    unknown = [ex for ex in examples if not ex.ood and ex.intent not in known]
    if not unknown:
        return
    where = ", ".join(f"{ex.intent!r} at line {ex.origin.line}" if ex.origin and ex.origin.line else repr(ex.intent)
                      for ex in unknown[:3])
    more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
    raise DataError(f"{len(unknown)} example(s) with an intent {lacking} ({where}{more}): "
                    'fix the label, or mark an out-of-scope example "ood": true', path)


def over_length(examples: Sequence[Example], max_chars: int, path: str | Path) -> str | None:
    """`intentd eval` scores a text of any length as the model reads it (its first few hundred
    words), while a server answers one over `--max-text-chars` with INVALID_ARGUMENT: said, naming
    the first lines, rather than counted as answers no caller gets."""
    long = [ex for ex in examples if len(ex.text) > max_chars]
    if not long:
        return None
    where = ", ".join(f"line {ex.origin.line}" if ex.origin and ex.origin.line else f"{len(ex.text)} characters"
                      for ex in long[:3])
    more = f" and {len(long) - 3} more" if len(long) > 3 else ""
    return (f"{path}: {len(long)} text(s) over {max_chars} characters ({where}{more}), which a server with "
            f"--max-text-chars {max_chars} refuses (INVALID_ARGUMENT); scored here as the model reads them")


def unknown_entity_types(examples: Sequence[Example], types: Iterable[str], path: str | Path) -> list[str]:
    """`intentd eval` on spans of a type the model lacks: it can never find them, so they count as
    missed; said, naming the first line of each, rather than read as a weak model."""
    known = set(types)
    lines = []
    unknown = _first_of(examples, lambda e: [s.type for s in e.entities if s.type not in known])
    for etype, (count, ex) in unknown.items():
        where = f"{path}:{ex.origin.line}" if ex.origin and ex.origin.line else str(path)
        lines.append(f"{where}: {count} span(s) of entity type {etype!r}, which this model does not know: "
                     f"counted as missed in entity F1 and exact match")
    return lines
