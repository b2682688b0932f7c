"""Every key domain.yaml may hold, with the type and range of its value, checked in one place.

The readers (respond.py, resolve/, escalation.py, followup/, models/build.py, models/evaluate.py)
take what they need with `.get` and a default, so on their own a misspelt key is silently ignored
(`respnse:` leaves the intent without an answer) and a value of the wrong type crashes a
constructor with a traceback or is read as something else (`match_without_model: "no"` is true).
`check` walks the domain against the table below before any of them runs; `intentd data import`
and `intentd train` (models/data/domain.py, models/data/checks.py) and the server loading an
artifact (server/engine.py) all call it.

A value of the wrong type or out of range is an error. A key nobody reads (unknown, or read only
for another entity kind) is a warning, not an error: an artifact written by a newer intentd may
carry keys this one does not know. `--strict` makes the warning an error at import and training.
Whether the domain makes sense as a whole (templates naming known slots, regexes that compile,
tiers that are listed, the domain against the data) is checked by its readers and by
models/data/checks.py.
"""

from __future__ import annotations

import datetime as dt
import difflib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Union

import phonenumbers
import yaml

from .resolve.money import ISO_4217
from .resolve.patterns import CANONICAL_FORMS
from .resolve.resolver import BUILTINS, KINDS, time_zone
from .resolve.text import fold_catalog
from intentd.yamlfile import load_yaml  # noqa: F401 - domain.yaml is read with it

KeyPath = tuple[Union[str, int], ...]  # mapping keys and list indices from the top of the file


@dataclass(frozen=True, slots=True)
class Problem:
    path: KeyPath
    message: str  # names the key path: "entities.date must be a mapping (...), got 'datetime'"
    unknown: bool = False  # a key intentd does not read: a warning; otherwise an error

    def __str__(self) -> str:
        return self.message


# -- the kinds of node -------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Value:
    """A scalar. `accepts` covers the type and range that `rule` states; `check` runs only on an
    accepted value and says what is wrong with it when the rule alone cannot ("unknown kind")."""

    rule: str
    accepts: Callable[[object], bool]
    nullable: bool = False  # an empty value (`key:`) reads as the default
    check: Callable[[object], str | None] | None = None


@dataclass(frozen=True, eq=False)
class ListOf:
    rule: str
    item: "Node"
    nullable: bool = False
    non_empty: bool = False


@dataclass(frozen=True, eq=False)
class NamesTo:
    """A mapping whose keys the domain chooses (intent names, entity types, slots)."""

    rule: str
    value: "Node"
    nullable: bool = False


@dataclass(frozen=True, eq=False)
class Fields:
    """A mapping with fixed keys. `only[key]`, given the whole mapping, says why that key is not
    read there (a catalog option on a pattern type), or None when it is."""

    rule: str
    fields: dict[str, "Node"]
    nullable: bool = False
    required: tuple[str, ...] = ()
    only: dict[str, Callable[[dict], str | None]] = field(default_factory=dict)


Node = Union[Value, ListOf, NamesTo, Fields]


def _number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _name(v: object) -> bool:
    return is_name(v)


def is_name(v: object) -> bool:
    """Non-blank text on one line: the artifact's name goes into every log line and version string
    (a newline in it split log records in two)."""
    return isinstance(v, str) and v.strip() != "" and not any(unicodedata.category(ch) == "Cc" for ch in v)


def _in(interval: str, inside: Callable[[float], bool]) -> Value:
    return Value(f"must be a number in {interval}", lambda v: _number(v) and inside(v))


def _tier(example: str) -> Value:
    return Value(f"names a tier (e.g. {example})", _name)


def _zone(v: object) -> str | None:
    try:
        if len(v) <= 64:  # as the service bounds a request's zone: a longer name is no file name
            time_zone(v)
            return None
    except (ValueError, OSError):
        pass
    return f"{_shown(v)} is not an IANA time zone (e.g. Europe/Berlin)"


def _iso_time(v: object) -> str | None:
    if isinstance(v, dt.date):  # unquoted in the YAML: already a date or date-time
        return None
    try:
        dt.datetime.fromisoformat(v)
    except ValueError:
        return f"{v!r} is not an ISO 8601 date-time (e.g. 2026-11-29T12:00:00-05:00)"
    return None


def _one_of(what: str, choices: tuple[str, ...]) -> Callable[[object], str | None]:
    return lambda v: None if v in choices else f"unknown {what} {v!r} (one of {', '.join(choices)})"


def _for(key: str, want: str) -> Callable[[dict], str | None]:
    """`only` rule: the key is read only when the entity type's `key` (kind, builtin) is `want`."""

    def why(spec: dict) -> str | None:
        if key == "builtin" and spec.get("kind", "free") != "builtin":
            return _for("kind", "builtin")(spec)
        have = spec.get(key, "free" if key == "kind" else None)
        if have == want or (key == "kind" and have not in KINDS) or (key == "builtin" and have not in BUILTINS):
            return None  # read, or the kind itself is wrong (that error is the one to fix)
        if key == "kind" and "kind" not in spec:
            return f"read only for kind: {want}, and this type has no kind (so it is free): ignored"
        return f"read only for {key}: {want}, not {have}: ignored"

    return why


TEXT = Value("must be text", lambda v: isinstance(v, str), nullable=True)
NAME = Value("must be a non-empty name", _name)
TEMPLATE = Value("must be text (a template)", lambda v: isinstance(v, str))


def _texts(v: object) -> str | None:
    if isinstance(v, list):
        if not v:
            return "an empty list (give one text, or a list of texts)"
        bad = next((i for i, item in enumerate(v) if not isinstance(item, str)), None)
        if bad is not None:
            return f"entry [{bad}] must be text (a template), got {_shown(v[bad])}"
    return None


# one text, or texts tried in order (the first that can say every value it names: server/respond.py)
RESPONSE = Value("must be text (a template) or a list of texts", lambda v: isinstance(v, (str, list)), check=_texts)
SLOTS = ListOf("must be a list of entity types (e.g. [account, amount])", NAME, nullable=True)

INTENT = Fields("must be a mapping (slots, required, response, prompts, ...)", {
    "description": TEXT,
    "slots": SLOTS,
    "required": SLOTS,
    "response": RESPONSE,
    "prompts": NamesTo('must be a mapping of slot -> prompt (e.g. account: "Which account?")', TEMPLATE,
                       nullable=True),
    "escalate": Value("names a tier (e.g. escalate: human)", _name, nullable=True),
    "dates": Value("must be 'past' or 'future'", lambda v: v in ("past", "future")),
    "when": Value("names the date slot that says when the request is carried out (e.g. when: date)", _name),
})

SPOKEN = Value("must be text (quote it)", lambda v: isinstance(v, str) or _number(v))  # `yes` unquoted is true

MAX_CATALOG_NAME_CHARS = 200  # a name a caller says: a few words


def _said_in_a_breath(v: object) -> str | None:
    """A 2,000-character synonym (a paragraph pasted) crashed the checks and the server's start
    with a RecursionError in the catalog matcher's build, naming neither file nor entry."""
    n = len(str(v))
    folded = len(fold_catalog(str(v)))  # what the matcher is built on: "ﬃ" is 3 characters there
    if max(n, folded) <= MAX_CATALOG_NAME_CHARS:
        return None
    if n > MAX_CATALOG_NAME_CHARS:
        return f"{n:,} characters: a name a caller says is at most {MAX_CATALOG_NAME_CHARS}"
    return (f"{folded:,} characters once folded for matching (ligatures and compatibility forms spelled out): "
            f"a name a caller says is at most {MAX_CATALOG_NAME_CHARS}")


CATALOG_NAME = Value("must be text (quote it)", lambda v: isinstance(v, str) or _number(v), check=_said_in_a_breath)

CATALOG_VALUE = Fields("must be a mapping (id, value, synonyms)", {
    "id": Value("must be text or a number", lambda v: _name(v) or _number(v), check=_said_in_a_breath),
    "value": CATALOG_NAME,
    "synonyms": ListOf("must be a list of texts", CATALOG_NAME, nullable=True),
}, required=("id",))

ENTITY = Fields("must be a mapping (kind: catalog, builtin, pattern or free)", {
    "kind": Value("must be text", lambda v: isinstance(v, str), check=_one_of("kind", KINDS)),
    "description": TEXT,
    # catalog
    "values": ListOf("must be a non-empty list of {id, value, synonyms}", CATALOG_VALUE, non_empty=True),
    "fuzzy_cutoff": _in("[0, 100]", lambda x: 0 <= x <= 100),
    "match_without_model": Value("must be true or false", lambda v: isinstance(v, bool)),
    # builtin
    "builtin": Value("must be text", lambda v: isinstance(v, str), check=_one_of("builtin", BUILTINS)),
    "default_currency": Value("must be an ISO 4217 currency code (e.g. USD, EUR)",
                              lambda v: isinstance(v, str) and v.upper() in ISO_4217, nullable=True),
    "default_region": Value("must be a region code (ISO 3166, e.g. US, GB)",
                            lambda v: isinstance(v, str) and v.upper() in phonenumbers.SUPPORTED_REGIONS,
                            nullable=True),
    # pattern
    "pattern": Value("must be a regex (text)", lambda v: isinstance(v, str)),
    "group": Value("must be a group number (0, 1, ...) or name",
                   lambda v: isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool) and v >= 0)),
    "canonical": Value(f"must be one of {', '.join(CANONICAL_FORMS)}", lambda v: v in CANONICAL_FORMS),
}, nullable=True, only={
    **{key: _for("kind", "catalog") for key in ("values", "fuzzy_cutoff", "match_without_model")},
    "builtin": _for("kind", "builtin"),
    "default_currency": _for("builtin", "money"),
    "default_region": _for("builtin", "phone"),
    **{key: _for("kind", "pattern") for key in ("pattern", "group", "canonical")},
})

ESCALATION = Fields("must be a mapping (tiers, handoff_response, ...)", {
    "tiers": ListOf("must be a list of tier names", NAME, nullable=True),
    "out_of_distribution": _tier("frontier_standard"),
    "low_confidence": _tier("frontier_standard"),
    "ambiguous": _tier("frontier_standard"),
    "low_confidence_threshold": _in("[0, 1]", lambda x: 0.0 <= x <= 1.0),
    "ambiguity_margin": _in("[0, 1]", lambda x: 0.0 <= x <= 1.0),
    "handoff_response": TEMPLATE,
    # what calibration (models/calibrate.py pick_threshold) accepts
    "target_false_escalation_rate": _in("[0, 1)", lambda x: 0.0 <= x < 1.0),
    "budget_confidence": _in("(0, 1)", lambda x: 0.0 < x < 1.0),
}, nullable=True)

TIME_ZONE = Value("must be an IANA time zone name (e.g. Europe/Berlin)", lambda v: isinstance(v, str),
                  nullable=True, check=_zone)

DOMAIN = Fields("must be a mapping (name, intents, entities, escalation, ...)", {
    "name": Value("must be text on one line, no control characters (the artifact's name)", _name, nullable=True),
    "description": TEXT,
    "version": Value("must be text or a number", lambda v: isinstance(v, str) or _number(v), nullable=True),
    "time_zone": TIME_ZONE,
    "intents": NamesTo("must be a mapping of intent name -> spec", INTENT, nullable=True),
    "entities": NamesTo("must be a mapping of entity type -> spec", ENTITY, nullable=True),
    "escalation": ESCALATION,
    "evaluation": Fields("must be a mapping (reference_time, time_zone)", {
        "reference_time": Value("must be an ISO 8601 date-time (e.g. 2026-11-29T12:00:00-05:00)",
                                lambda v: isinstance(v, (str, dt.date)), nullable=True, check=_iso_time),
        "time_zone": TIME_ZONE,
    }, nullable=True),
    "follow_ups": Fields("must be a mapping (confirm, cancel, hold, repeat)", {
        "confirm": ListOf("must be a list of intent names", NAME),
        "cancel": ListOf("must be a list of intent names", NAME),
        "hold": ListOf("must be a list of intent names", NAME),
        "repeat": ListOf("must be a list of intent names", NAME),
    }, nullable=True),
})


# -- the walk ----------------------------------------------------------------------------------


def check(domain: object) -> list[Problem]:
    """Every problem of `domain` (as yaml.safe_load returns it), in file order: errors (wrong
    type or range) and unknown keys (`unknown=True`). None (no domain, an empty file) has none."""
    if domain is None:
        return []
    out: list[Problem] = []
    _walk(DOMAIN, domain, (), out, set())
    out.extend(_catalog_clashes(domain))
    return out


def errors(domain: object) -> list[Problem]:
    return [p for p in check(domain) if not p.unknown]


def unknown_keys(domain: object) -> list[Problem]:
    return [p for p in check(domain) if p.unknown]


def dotted(path: KeyPath) -> str:
    """("entities", "account", "values", 2, "id") -> "entities.account.values[2].id"."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the domain"


def _shown(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _walk(node: Node, value: object, path: KeyPath, out: list[Problem], seen: set) -> None:
    if isinstance(value, (dict, list)):  # a YAML alias repeats an object: check it once per rule
        if (id(value), id(node)) in seen:
            return
        seen.add((id(value), id(node)))
    where = dotted(path)
    if value is None:
        if not node.nullable:
            out.append(Problem(path, f"{where} {node.rule}, got nothing"))
        return
    if isinstance(node, Value):
        if not node.accepts(value):
            out.append(Problem(path, f"{where} {node.rule}, got {_shown(value)}"))
        elif node.check is not None and (problem := node.check(value)) is not None:
            out.append(Problem(path, f"{where}: {problem}"))
    elif isinstance(node, ListOf):
        if not isinstance(value, list) or (node.non_empty and not value):
            out.append(Problem(path, f"{where} {node.rule}, got {_shown(value) if value != [] else 'an empty list'}"))
            return
        for i, item in enumerate(value):
            _walk(node.item, item, path + (i,), out, seen)
    elif not isinstance(value, dict):
        out.append(Problem(path, f"{where} {node.rule}, got {_shown(value)}"))
    elif isinstance(node, NamesTo):
        for key, item in value.items():
            if not isinstance(key, str):
                out.append(Problem(path, f"{where}: the key {key!r} is not a name (write it in quotes)"))
                continue
            _walk(node.value, item, path + (key,), out, seen)
    else:
        missing = [key for key in node.required if key not in value]
        if missing:
            out.append(Problem(path, f"{where}: missing {', '.join(map(repr, missing))}"))
        for key, item in value.items():
            at = path + (str(key),)
            sub = node.fields.get(key) if isinstance(key, str) else None
            if sub is None:
                out.append(Problem(at, f"{dotted(at)}: unknown key, ignored ({_suggest(str(key), node.fields)})",
                                   unknown=True))
                continue
            why = node.only[key](value) if key in node.only else None
            if why is not None:
                out.append(Problem(at, f"{dotted(at)}: {why}", unknown=True))
                continue
            _walk(sub, item, at, out, seen)


def _catalog_clashes(domain: object) -> list[Problem]:
    """Two catalog entries with one id, or one name (id, value or synonym, as the resolver folds
    it): the resolver keeps the first and the backend silently gets the wrong id (an id that is
    another entry's synonym went to one entry in lower case and the other in capitals). Wrong
    types are the walk's to report, so anything not shaped as a catalog is skipped here."""
    out: list[Problem] = []
    entities = domain.get("entities") if isinstance(domain, dict) else None
    for etype, spec in (entities.items() if isinstance(entities, dict) else ()):
        if not isinstance(spec, dict) or spec.get("kind") != "catalog" or not isinstance(spec.get("values"), list):
            continue
        ids: dict[str, int] = {}
        names: dict[str, int] = {}
        for i, entry in enumerate(spec["values"]):
            if not isinstance(entry, dict) or "id" not in entry:
                continue
            at = ("entities", etype, "values", i)
            entry_id = str(entry["id"])
            if entry_id in ids:
                out.append(Problem(at + ("id",), f"{dotted(at + ('id',))}: {entry_id!r} is also the id of "
                                                 f"values[{ids[entry_id]}] (each entry needs its own id)"))
            ids.setdefault(entry_id, i)
            synonyms = entry.get("synonyms") if isinstance(entry.get("synonyms"), list) else []
            forms = [(at + ("id",), entry["id"]), (at + ("value",), entry.get("value", entry["id"]))]
            forms += [(at + ("synonyms", j), synonym) for j, synonym in enumerate(synonyms)]
            for path, form in forms:
                key = fold_catalog(str(form)) if isinstance(form, (str, int, float)) else ""
                if key and names.get(key, i) != i:
                    out.append(Problem(path, f"{dotted(path)}: {str(form)!r} also names values[{names[key]}] "
                                             f"(as the resolver compares names): which entry it means is ambiguous"))
                names.setdefault(key, i)
    return out


def _suggest(key: str, known: dict) -> str:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else f"the keys read here: {', '.join(known)}"


# -- reading -----------------------------------------------------------------------------------




# -- lines -------------------------------------------------------------------------------------


def key_lines(path: str | Path) -> dict[KeyPath, int]:
    """The 1-based line of every mapping key and list item, by its path: ("intents", "greeting")
    -> 12, ("entities", "card", "values", 0) -> 80. Empty when the file cannot be read or parsed
    (line numbers are a help, never a requirement)."""
    try:
        root = yaml.compose(Path(path).read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    out: dict[KeyPath, int] = {}
    walked: set[int] = set()  # an alias is the same node again: walk it once

    def walk(node, prefix: KeyPath) -> None:
        if id(node) in walked:
            return
        walked.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    at = prefix + (str(key.value),)
                    out.setdefault(at, key.start_mark.line + 1)
                    walk(value, at)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                out.setdefault(prefix + (i,), item.start_mark.line + 1)
                walk(item, prefix + (i,))

    walk(root, ())
    return out


def line_of(path: KeyPath, lines: dict[KeyPath, int]) -> int | None:
    """The line of `path`, else of the nearest key above it that has one."""
    for end in range(len(path), 0, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return None
