"""Catalog (list) entities: exact then fuzzy matching against canonical values and synonyms,
plus a verbatim matcher that finds catalog values the model did not tag."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from .errors import DomainConfigError
from .text import fold, fold_catalog, fold_same_length

DEFAULT_FUZZY_CUTOFF = 85.0  # rapidfuzz ratio, 0..100
# a shorter text or name only matches exactly ("cd", "ira"): one letter off, "debt" and "Iran"
# are other words, not "debit" and "ira" misspelt
MIN_FUZZY_LENGTH = 5
FUZZY_CANDIDATES = 5  # best-scoring synonyms tried, in order, for one that differs by typos only
MAX_ACRONYM = 3  # a name this short ("ira", "cd", "mma") is an acronym: "Ira", written as a name, is a person
_WORD = re.compile(r"[^\W_]+")
# what may come right before a shortened name ("checking" of "Checking account") to make it the
# customer's account or card: "my checking", "from checking", "pay with debit", "monday's checking";
# never "just checking", "he's checking", "a direct debit"
_NOUN_BEFORE = re.compile(r"(?:\b(?:my|our|your|the|this|that|not|from|to|into|onto|in|on|of|off|out\s+of"
                          r"|with|via|use|using|between)|(?<!\bhe)(?<!\bshe)(?<!\bit)['’]s)\s*$")
# where a clause starts ("checking balance", "not checking, savings", "checking or savings", "balance for
# checking") a short name is also a verb: the account only when no object or particle follows it
# ("checking my balance", "checking in", "checking out the app", "thanks for checking")
_CLAUSE_BEFORE = re.compile(r"(?:^|[,;]|\b(?:and|or|but)|(?<!thanks )(?<!thank you )\bfor)\s*$")
_A_VERB_GOES_ON = re.compile(r"\s*(?:my|the|a|an|your|our|his|her|their|that|this|in|out|up|whether|back|over|how|what"
                             r"|when)\b")  # not "to", "for", "on", "with", "if": "checking to savings", "savings if possible"
# what may come right before an acronym in Title case for it to be the account ("Ira balance",
# "close my Cd"): after any other word it is a name ("send 50 to Ira")
_OWNED_BEFORE = re.compile(r"(?:^|\b(?:my|our|your|the))\W*$")


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    id: str
    value: str


class Catalog:
    """One catalog entity type. Lookups are on folded text (see text.fold_catalog)."""

    def __init__(self, name: str, spec: dict):
        self.name = name
        self.fuzzy_cutoff = float(spec.get("fuzzy_cutoff", DEFAULT_FUZZY_CUTOFF))
        self.match_without_model = bool(spec.get("match_without_model", False))
        values = spec.get("values") or []
        if not isinstance(values, list) or not values:
            raise DomainConfigError(f"entity {name!r}: a catalog needs a non-empty 'values' list")
        self.entries: list[CatalogEntry] = []
        self.exact: dict[str, CatalogEntry] = {}  # folded synonym/value/id -> entry
        self.by_id: dict[str, CatalogEntry] = {}
        self.spoken: list[str] = []  # folded values and synonyms: what the verbatim matcher looks for
        self.shortened: set[str] = set()  # one-word synonyms that are a word of their entry's name: "debit"
        for raw in values:
            if not isinstance(raw, dict) or "id" not in raw:
                raise DomainConfigError(f"entity {name!r}: each catalog value needs an 'id'")
            entry = CatalogEntry(str(raw["id"]), str(raw.get("value", raw["id"])))
            self.entries.append(entry)
            self.by_id[entry.id] = entry
            name = fold_catalog(entry.value).split()
            for form in [entry.value, *(raw.get("synonyms") or [])]:
                key = fold_catalog(str(form))
                if key:
                    self.spoken.append(key)
                    self.exact.setdefault(key, entry)  # first entry wins a synonym listed twice
                    if len(name) > 1 and key in name:
                        self.shortened.add(key)
            self.exact.setdefault(fold(entry.id.replace("_", " ")), entry)
        self._choices = list(self.exact)
        self._spelled = [c for c in self._choices if len(c) >= MIN_FUZZY_LENGTH]  # names a typo may be of

    def narrowed(self, text: str) -> CatalogEntry | None:
        """The entry whose shortest name holding every word of `text` adds the fewest words
        ("credit" answering "your debit card or your credit card?": "credit card", not "business
        credit card"), or None when no entry, or several equally, hold them. For an answer to the
        slot's own question only: elsewhere a word of a name is no name. "to Ira" is a person here too."""
        words = set(fold_catalog(text).split())
        if not words or any(fold(w.group()) in self.exact and a_persons_name(text, w.start(), w.end())
                            for w in _WORD.finditer(text)):
            return None
        extra: dict[str, int] = {}
        for key in self._choices:
            names = set(key.split())
            if words <= names:
                entry = self.exact[key]
                extra[entry.id] = min(extra.get(entry.id, len(names)), len(names) - len(words))
        if not extra:
            return None
        fewest = min(extra.values())
        best = [i for i, n in extra.items() if n == fewest]
        return self.by_id[best[0]] if len(best) == 1 else None

    def lookup(self, text: str) -> tuple[CatalogEntry, float] | None:
        """(entry, score in 0..1) for the best match of `text`, or None below the cut-off. Whether
        an acronym is written as a person's name depends on its place in the text
        (`a_persons_name`), which the caller knows."""
        if text in self.by_id:
            return self.by_id[text], 1.0
        key = fold_catalog(text)
        entry = self.exact.get(key)
        if entry is not None:
            return entry, 1.0
        if len(key) < MIN_FUZZY_LENGTH:
            return None
        for choice, score, _ in process.extract(key, self._spelled, scorer=fuzz.ratio, score_cutoff=self.fuzzy_cutoff,
                                                limit=FUZZY_CANDIDATES):
            if _typos_only(key, choice, self.fuzzy_cutoff):
                return self.exact[choice], round(score / 100.0, 3)
        return None


def _typos_only(key: str, choice: str, cutoff: float) -> bool:
    """Every word of `key` is a word of `choice` or a misspelling of one (one typo or swapped pair
    of letters in five, "debit crad"): "savngs account" is the savings account, but "dad account" is not the "card account" (87 as whole strings) and "debit
    card account" not the "credit card account". A whole word replaced is another thing."""
    words = choice.split()
    if len(words) != len(key.split()):  # a space missed or added ("debitcard"): the letters, nearly all
        return OSA.distance(key.replace(" ", ""), choice.replace(" ", "")) <= 1
    return all(any(w == c or fuzz.ratio(w, c) >= cutoff or OSA.distance(w, c) <= max(1, len(c) // 5)
                   for c in words) for w in key.split())


def a_persons_name(text: str, start: int, end: int) -> bool:
    """Whether the catalog name text[start:end] is an acronym written as a person's name: in Title
    case after a word other than my/our/your/the ("send 50 to Ira"). First in the text or after
    those words the capital is a sentence's or the phone's autocorrect ("Ira balance", "close my Cd")."""
    word = text[start:end]
    return (len(word) <= MAX_ACRONYM and _title_case(word)
            and _OWNED_BEFORE.search(fold_same_length(text[:start])) is None)


def _title_case(word: str) -> bool:
    return not (word.isupper() or word.islower())


class VerbatimMatcher:
    """Finds catalog synonyms present verbatim (case- and accent-insensitive) in a text.

    One compiled regex for all catalog types that opt in: a trie of the folded synonyms, so the
    alternation is factored ("credit (?:card(?: account)?|account)") and the longest synonym at a
    position wins; word boundaries on both sides; any run of spaces or hyphens between words.
    Without the model to read the context, a shortened name is also an ordinary word ("just
    checking", "a direct debit", "a visa for my trip"): it counts only after the words that make it
    the customer's account or card (`_NOUN_BEFORE`); an acronym written as a person's name ("send
    50 to Ira") never.
    """

    def __init__(self, catalogs: list[Catalog]):
        self.owner: dict[str, Catalog] = {}
        for cat in catalogs:
            for form in cat.spoken:
                self.owner.setdefault(form, cat)  # a synonym in two catalogs goes to the first
        self.regex = re.compile(r"(?<!\w)(?:" + _trie_regex(sorted(self.owner)) + r")(?!\w)") if self.owner else None

    def find(self, text: str) -> list[tuple[Catalog, int, int]]:
        if self.regex is None:
            return []
        folded = fold_same_length(text)
        out = []
        for m in self.regex.finditer(folded):
            key = " ".join(m.group(0).replace("-", " ").split())
            cat = self.owner.get(key)
            if cat is None or (len(key) <= MAX_ACRONYM and a_persons_name(text, m.start(), m.end())):
                continue
            if key in cat.shortened and not (_NOUN_BEFORE.search(folded, 0, m.start()) or (
                    _CLAUSE_BEFORE.search(folded, 0, m.start()) and not _A_VERB_GOES_ON.match(folded, m.end()))):
                continue
            out.append((cat, m.start(), m.end()))
        return out


def _trie_regex(words: list[str]) -> str:
    trie: dict = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict) -> str:
        end = "" in node
        branches = [(_char(ch) + emit(child)) for ch, child in sorted(node.items()) if ch != ""]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if end:  # a word may stop here or go on: try the longer one first (greedy)
            return "(?:" + body + ")?" if len(branches) > 1 or len(body) > 1 else body + "?"
        return body

    return emit(trie)


def _char(ch: str) -> str:
    return r"[\s\-]+" if ch == " " else re.escape(ch)
