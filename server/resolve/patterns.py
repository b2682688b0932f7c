"""Pattern entity types: a regex from the domain config, found in the text whether or not the
model tagged anything there (account numbers, order or case references).

Config (under `entities:`):
    account_number: {kind: pattern, pattern: '...', group: 1, canonical: digits}
`group` (default 0) is the part of the match that becomes the entity span; `canonical` turns
it into the resolved value: `as_is` (default), `digits` (digits only), `upper` (upper-case, no
spaces or hyphens).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import DomainConfigError

CANONICAL_FORMS = ("as_is", "digits", "upper")
MAX_PATTERN_LENGTH = 500


@dataclass(frozen=True, slots=True)
class PatternType:
    name: str
    regex: re.Pattern
    group: int | str
    canonical: str

    @classmethod
    def from_config(cls, name: str, spec: dict) -> "PatternType":
        source = spec.get("pattern")
        if not isinstance(source, str) or not source or len(source) > MAX_PATTERN_LENGTH:
            raise DomainConfigError(f"entity {name!r}: kind 'pattern' needs a 'pattern' regex "
                                    f"(1..{MAX_PATTERN_LENGTH} characters)")
        try:
            regex = re.compile(source)
        except re.error as exc:
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
        return cls(name, regex, group, canonical)

    def find(self, text: str) -> list[tuple[int, int, str]]:
        out = []
        for m in self.regex.finditer(text):
            start, end = m.span(self.group)
            if start < end:
                out.append((start, end, self.canonical_value(m.group(self.group))))
        return out

    def resolve(self, span_text: str) -> str | None:
        """The canonical value of a model span of this type, when the regex matches it exactly."""
        m = self.regex.fullmatch(span_text.strip())
        if m is None:
            m = next((x for x in self.regex.finditer(span_text) if x.group(self.group).strip() == span_text.strip()), None)
        return None if m is None else self.canonical_value(m.group(self.group))

    def canonical_value(self, text: str) -> str:
        if self.canonical == "digits":
            return "".join(c for c in text if c.isdigit())
        if self.canonical == "upper":
            return re.sub(r"[\s\-]", "", text).upper()
        return text
