"""Pattern entity types: a regex from the domain config, found in the text whether or not the
model tagged anything there (account numbers, order or case references).

Config (under `entities:`):
    account_number: {kind: pattern, pattern: '...', group: 1, canonical: digits}
`group` (default 0) is the part of the match that becomes the entity span; `canonical` turns
it into the resolved value: `as_is` (default), `digits` (digits only), `upper` (upper-case, no
spaces or hyphens).

A domain's regex runs on every request, on the caller's text: one that backtracks without end on
some input ("(a|aa)+$") would let one request stall the server. The `regex` module bounds each
search (MATCH_TIMEOUT_S, far above a sane regex's microseconds on the longest text); a regex that
exceeds it on the stress texts below is refused at load, and one that exceeds it on a request
finds nothing there (and the log says so) while the server keeps answering.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

import regex as regex_engine

from .errors import DomainConfigError

CANONICAL_FORMS = ("as_is", "digits", "upper")
MAX_PATTERN_LENGTH = 500
MATCH_TIMEOUT_S = 0.05
# runs of one character class and a mismatch at the end: what makes a nested repetition backtrack
_STRESS = tuple(unit * (120 // len(unit)) + end for unit in ("1", "a", "A", " ", "1 ", "a ", "1-", "a.", "aA1")
                for end in ("!", "\n", ""))
_ESCAPE = re.compile(r"\\.")  # "\d", "\.": a class or an escaped character, not a literal of its own
MAX_LITERALS = 64  # every one a regex of 500 characters can name: a run each costs microseconds


def _stress(source: str) -> tuple[str, ...]:
    """The runs above, and runs of each character the regex names itself: "(x+x+)+y" backtracks
    on a run of x's, which no run above holds (it loaded, and cost every request with one 50 ms).
    All of them: the first 8 in sorted order were those of "(?:card|debit)?(w+w+)+y"'s words."""
    literals = sorted({c for c in _ESCAPE.sub("", source) if c.isalnum() or c in "_#@-"})[:MAX_LITERALS]
    return _STRESS + tuple(c * 400 + end for c in literals for end in ("!", ""))

log = logging.getLogger(__name__)
_timeouts: Counter[str] = Counter()  # per entity type: the log says so at the 1st, 2nd, 4th, 8th... time


@dataclass(frozen=True, slots=True)
class PatternType:
    name: str
    regex: regex_engine.Pattern
    group: int | str
    canonical: str
    value_regex: regex_engine.Pattern  # the group alone: what a canonical value carried from an earlier turn matches

    @classmethod
    def from_config(cls, name: str, spec: dict) -> "PatternType":
        source = spec.get("pattern")
        if not isinstance(source, str) or not source or len(source) > MAX_PATTERN_LENGTH:
            raise DomainConfigError(f"entity {name!r}: kind 'pattern' needs a 'pattern' regex "
                                    f"(1..{MAX_PATTERN_LENGTH} characters)")
        try:
            re.compile(source)  # the syntax the docs promise (Python's); `regex` accepts more
            regex = regex_engine.compile(source)
        except (re.error, regex_engine.error) as exc:
            raise DomainConfigError(f"entity {name!r}: invalid regex {source!r}: {exc}") from None
        group = spec.get("group", 0)
        if (isinstance(group, int) and not 0 <= group <= regex.groups) or (
                isinstance(group, str) and group not in regex.groupindex):
            raise DomainConfigError(f"entity {name!r}: regex has no group {group!r}")
        canonical = spec.get("canonical", "as_is")
        if canonical not in CANONICAL_FORMS:
            raise DomainConfigError(f"entity {name!r}: canonical must be one of {', '.join(CANONICAL_FORMS)}")
        if regex.search("") is not None:
            raise DomainConfigError(f"entity {name!r}: the regex matches the empty string")
        try:
            for text in _stress(source):
                regex.search(text, timeout=MATCH_TIMEOUT_S)
        except TimeoutError:
            raise DomainConfigError(f"entity {name!r}: the regex {source!r} takes over {MATCH_TIMEOUT_S * 1000:.0f} ms "
                                    f"on a text of {len(text)} characters ({text[:12]!r}...): a repetition inside a "
                                    "repetition backtracks without end; match each part once") from None
        return cls(name, regex, group, canonical, _group_regex(regex, group))

    def find(self, text: str) -> list[tuple[int, int, str]]:
        out = []
        try:
            for m in self.regex.finditer(text, timeout=MATCH_TIMEOUT_S):
                start, end = m.span(self.group)
                if start < end:
                    out.append((start, end, self.canonical_value(m.group(self.group))))
        except TimeoutError:
            self._timed_out(len(text))
            return []
        return out

    def resolve(self, span_text: str) -> str | None:
        """The canonical value of a model span of this type, when the regex matches it exactly."""
        try:
            m = self.regex.fullmatch(span_text.strip(), timeout=MATCH_TIMEOUT_S)
            if m is None:
                m = next((x for x in self.regex.finditer(span_text, timeout=MATCH_TIMEOUT_S)
                          if x.group(self.group).strip() == span_text.strip()), None)
        except TimeoutError:
            self._timed_out(len(span_text))
            return None
        return None if m is None else self.canonical_value(m.group(self.group))

    def accepts(self, value: str) -> bool:
        """Whether `value` is a canonical value of this type: the group's own regex matches all of
        it and it is already in canonical form ("1234567890" for the banking account_number,
        whose full regex also needs the words "account number" around it)."""
        try:
            matched = self.value_regex.fullmatch(value, timeout=MATCH_TIMEOUT_S) is not None
        except TimeoutError:
            self._timed_out(len(value))
            return False
        return matched and self.canonical_value(value) == value

    def _timed_out(self, length: int) -> None:
        """The search outlasted MATCH_TIMEOUT_S on a text of `length` characters: nothing found there."""
        _timeouts[self.name] += 1
        count = _timeouts[self.name]
        if count & (count - 1) == 0:
            log.warning("entity %r: its regex gave up after %.0f ms on a text of %d characters, found nothing "
                        "there (%d times since start)", self.name, MATCH_TIMEOUT_S * 1000, length, count)

    def canonical_value(self, text: str) -> str:
        """ASCII for `digits` and `upper`: "１２３４" and "١٢٣٤" (which `\\d` matches) are 1234,
        the value a backend looks up."""
        if self.canonical == "digits":
            return "".join(str(unicodedata.decimal(c)) for c in text if c.isdecimal())
        if self.canonical == "upper":  # NFKC folds full-width letters and digits, not "١٢٣"
            folded = unicodedata.normalize("NFKC", text)
            return "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c
                           for c in re.sub(r"[\s\-]", "", folded)).upper()
        return text


def _group_regex(regex: regex_engine.Pattern, group: int | str) -> regex_engine.Pattern:
    """The capturing group `group` of `regex` compiled alone (with the regex's flags); the whole
    regex when the group is 0 or cannot stand alone (a back-reference, a verbose-mode comment)."""
    source = regex.pattern
    number = group if isinstance(group, int) else regex.groupindex[group]
    if number == 0 or regex.flags & regex_engine.VERBOSE:  # "#" comments may hold parentheses
        return regex
    stack: list[int | None] = []  # body start of each open group; None for a non-capturing one
    seen, i, in_class = 0, 0, False
    while i < len(source):
        c = source[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            i += 2 if source.startswith("[^", i) else 1
            i += source.startswith("]", i)  # "[]...]" and "[^]...]": a leading "]" is literal
            continue
        elif c == "(":
            if source.startswith("(?P<", i):
                seen += 1
                stack.append(source.index(">", i) + 1 if seen == number else None)
            elif source.startswith("(?", i):
                stack.append(None)
            else:
                seen += 1
                stack.append(i + 1 if seen == number else None)
        elif c == ")" and stack:
            start = stack.pop()
            if start is not None:
                try:
                    return regex_engine.compile(source[start:i], regex.flags)
                except regex_engine.error:
                    return regex
        i += 1
    return regex
