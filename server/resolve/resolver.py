"""Entity resolution: model spans -> canonical values, plus entities the model did not tag.

Per request: (1) candidate spans from the model, the domain's pattern types and the verbatim
catalog matcher; (2) overlaps removed by the rule below; (3) each kept span resolved by its type's
kind (catalog, builtin, pattern, free).

Overlap rule (docs/resolution.md): spans are ranked pattern > model > catalog-without-model; a
span is kept unless it overlaps a kept span of higher rank; within a rank the longer span wins,
then the earlier one. Patterns win because their regex matched exactly (an account number the
model took for an amount); model spans beat verbatim catalog matches because the model saw the
context ("debit" in "debit card fee" tagged as part of a longer span).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .. import locale as locales
from ..admission import ZONE_NAMES
from ..analysis import RequestOptions, ResolvedEntity
from ..decode import EntitySpan
from . import contact
from .carried import plain_words, read_carried
from .catalog import Catalog, VerbatimMatcher, a_persons_name
from .dates import (A_CLOCK_HOUR, AN_HOUR_WORD, DateResolver, clock_or_count, day_of_unclear_hour, region_then_a_word,
                    zone_after)
from .duration import resolve_duration
from .errors import DomainConfigError
from .money import (beside, fraction_after, leading_number_words, number_words_after, resolve_money,
                    says_a_time)
from .numbers import counts_a_pause, resolve_number, resolve_ordinal, resolve_percentage
from .patterns import PatternType
from .text import fold_catalog, without_zero_width

BUILTINS = ("money", "datetime", "email", "phone", "number", "ordinal", "duration", "percentage")
KINDS = ("catalog", "builtin", "free", "pattern")
AMOUNTS = ("money", "number")  # the builtins a bare number fills, and a pause's count ("one second") never does
_RANK = {"pattern": 0, "model": 1, "catalog": 2}
_JOINER = re.compile(r"\s*(?:,|and|,\s*and)?\s*", re.IGNORECASE)  # between the parts of one amount
_ARTICLE_BEFORE = re.compile(r"(?<![\w'])an?\s+$", re.IGNORECASE)
# the words between a value and the one that replaces it in the same breath ("fifty, no, sixty",
# "monday sorry tuesday", "sixty I mean seventy", "friday uh actually monday"): at least one repair word
_REPAIR = re.compile(r"(?:[\s,.;:!?-]*\b(?:uh|um|er|oh|sorry|no|nope|wait|actually|i\s+mean|i\s+meant|or\s+rather"
                     r"|rather|make\s+(?:it|that)|scratch\s+that|i\s+said)\b)+[\s,.;:!?-]*", re.IGNORECASE)
_REPAIR_WORD = re.compile(r"\b(?:sorry|no|nope|wait|actually|mean|meant|rather|make|scratch|said)\b", re.IGNORECASE)
_DATE_LEAD = re.compile(r"\s*(?:(?:and|on|at|by|for)\s+)*", re.IGNORECASE)  # "twenty five | on friday"
_WORD_BEFORE = re.compile(r"([\w-]+)(?:\s+and)?\s+$")  # "a hundred and twenty | five", "a hundred and | five"
_DATE_COUNTED_FROM = re.compile(r"\s*(?:from|after|before)\s*", re.IGNORECASE)  # "two weeks | from | today"
# "tomorrow | at | 3pm", "20th | of | may", "10 | in | two days", "9:30 | a.m. | tomorrow", "9:30 a.m | . | tomorrow"
_DATE_JOINER = re.compile(r"\s*(?:[ap]\.?\s?m\b\.?|(?<=[ap]\.m)\.)?\s*(?:,|at|on|of|in|,\s*at)?\s*", re.IGNORECASE)
# a word before a catalog value that makes it someone else's: "my mom's checking account", "her
# savings", "my parents' joint account" ("what's", "let's", "this month's", "friday's" and "the bank's"
# say nothing of whose)
_OWNER = re.compile(r"(?!(?:what|that|it|there|here|who|where|how|when|why|let|he|she"
                    r"|today|tonight|tomorrow|yesterday|week|month|year|morning|afternoon|evening|night|weekend"
                    r"|monday|tuesday|wednesday|thursday|friday|saturday|sunday|bank)['’]s$)"
                    r"(?:[\w-]*\w['’]s|[\w-]*s['’]|his|her|their)", re.IGNORECASE)
# the words before a catalog value that say which way it goes: "from my checking", "to savings"
_SOURCE_WORDS = r"from|out\s+of|off"
_DESTINATION_WORDS = r"to|into|onto"
_WHOSE = r"(?:(?:my|the|our|your)\s+)?"
# ("pay off my card" is what the money is for, not where it comes from)
_ROLE_BEFORE = [("source", re.compile(rf"\b(?:{_SOURCE_WORDS})(?<!pay\soff)(?<!pays\soff)(?<!paid\soff)"
                                      rf"(?<!paying\soff)\s+{_WHOSE}$", re.IGNORECASE)),
                ("destination", re.compile(rf"\b(?:{_DESTINATION_WORDS})\s+{_WHOSE}$", re.IGNORECASE))]
# the same words leading a value said alone ("no, from joint": followup/ reads joint, the source)
LEADING_ROLE = re.compile(rf"(?:{_SOURCE_WORDS}|{_DESTINATION_WORDS})\s+{_WHOSE}", re.IGNORECASE)
# "not checking", "not from checking", "instead of checking": a value the turn takes back (followup/
# replaces it in a carried slot)
_NOT_BEFORE = re.compile(rf"\b(?:not|instead\s+of|rather\s+than)\s+"
                         rf"(?:(?:{_SOURCE_WORDS}|{_DESTINATION_WORDS}|for|on)\s+)?{_WHOSE}$", re.IGNORECASE)
_BEFORE_CHARS = 20  # the few characters before a value that the words above can take
# all that lies between two values that go two ways: "checking | to my | savings", "savings | from | checking"
_ROLE_BETWEEN = re.compile(r"[\s,]*" + LEADING_ROLE.pattern, re.IGNORECASE)
_NEXT_WORD = re.compile(r"\s+([^\W\d_]+)")
# nouns of another thing after a name that is only an entry's id: "my student loan", "my business partner"
_ANOTHER_THING = frozenset("loan loans mortgage mortgages insurance policy goal goals partner partners line lines "
                           "owner owners".split())


class Resolver:
    """Built once per loaded domain (catalog tables and regexes compiled here); `resolve` per request."""

    def __init__(self, domain: dict | None):
        domain = domain or {}
        entities = domain.get("entities") or {}
        if not isinstance(entities, dict):
            raise DomainConfigError("'entities' must be a mapping of entity type -> spec")
        self.specs: dict[str, dict] = {}
        self.catalogs: dict[str, Catalog] = {}
        self.patterns: dict[str, PatternType] = {}
        for name, spec in entities.items():
            spec = spec or {}
            kind = spec.get("kind", "free")
            if kind not in KINDS:
                raise DomainConfigError(f"entity {name!r}: unknown kind {kind!r} (one of {', '.join(KINDS)})")
            if kind == "builtin" and spec.get("builtin") not in BUILTINS:
                raise DomainConfigError(f"entity {name!r}: unknown builtin {spec.get('builtin')!r} "
                                        f"(one of {', '.join(BUILTINS)})")
            if kind == "catalog":
                self.catalogs[name] = Catalog(name, spec)
            elif kind == "pattern":
                self.patterns[name] = PatternType.from_config(name, spec)
            self.specs[name] = {**spec, "kind": kind}
        # the domain's first date type: what an amount span that says a time is read as
        self.date_type = next((t for t, spec in self.specs.items() if spec.get("builtin") == "datetime"), None)
        self.verbatim = VerbatimMatcher([c for c in self.catalogs.values() if c.match_without_model])
        # the types found without the model: the domain's patterns and verbatim catalogs
        self.own_types = tuple(self.patterns) + tuple(c.name for c in self.catalogs.values() if c.match_without_model)
        self.dates = DateResolver()
        self.default_time_zone = domain.get("time_zone") or "UTC"
        # intents about what already happened ("the charge from friday"): `dates: past`
        self.past_intents = set()
        for name, intent in (domain.get("intents") or {}).items():
            direction = (intent or {}).get("dates", "future") if isinstance(intent, dict) else "future"
            if direction not in ("past", "future"):
                raise DomainConfigError(f"intent {name!r}: dates must be 'past' or 'future', not {direction!r}")
            if direction == "past":
                self.past_intents.add(name)

    def warm_up(self) -> None:
        """Pay every library's first-call cost (dateparser, phonenumbers, email-validator, text2num)."""
        self.dates.warm_up()
        locales.warm_up()
        regions = {s.get("default_region") for s in self.specs.values() if s.get("builtin") == "phone"}
        for region in regions or {None}:
            contact.warm_up(region)
        resolve_money("two hundred bucks", "USD")
        resolve_money("two hundred riyals", "USD")  # CLDR's currency names
        for catalog in self.catalogs.values():
            catalog.lookup("warm up")

    def resolve(self, text: str, spans: list[EntitySpan], options: RequestOptions,
                intent: str | None = None, analyzed_chars: int | None = None) -> list[ResolvedEntity]:
        """`intent`: the predicted intent; its `dates:` direction decides what "friday" means.
        `analyzed_chars`: the model read only the text's first characters (a truncated text), so
        patterns and catalog names found past them are dropped too: a truncated answer's entities
        come from the part it analysed, whoever found them."""
        reference = self.reference_time(options)
        spans = [self._with_extension(text, s) for s in spans]
        past = intent in self.past_intents
        locale = locales.get(options.locale)
        spans = self._times_tagged_as_amounts(spans, reference, past, locale)
        kept = self._joined(text, self._select(text, spans, len(text) if analyzed_chars is None else analyzed_chars),
                            lambda etype, said: self.resolve_value(etype, said, reference, past, locale) is not None)
        kept = self._dated_after_amount(text, kept)
        out = [self._resolve_one(e, text, reference, past, locale,
                                 max((o.end for o in kept if o.end <= e.start and o.type != e.type
                                      and not self._number_words_before(e, o)), default=0),
                                 (max((o.end for o in kept if o.end <= e.start), default=0),
                                  min((self._next_start(e, o) for o in kept if o.start >= e.end), default=len(text))))
               for e in kept]
        out = _apart(out)
        for e in out:
            if e.type in self.catalogs:
                e.role = role_of(text, e.start)
        other_roles(text, out)
        return out

    def _times_tagged_as_amounts(self, spans: list[EntitySpan], reference: dt.datetime | None, past: bool,
                                 locale: locales.Locale) -> list[EntitySpan]:
        """The model's amount spans that say a time of day, as the date they read as: "make it
        tonight at 7", tagged whole as an amount, made a payment $7.00. An amount with a day after
        it is the amount and the day: "make it 60 tonight" was $60, the day dropped."""
        date_type = self.date_type
        if date_type is None or reference is None or not spans:
            return spans
        out = []
        for s in spans:
            if self._builtin(s.type) != "money":
                out.append(s)
            elif _A_TIME_WORD.search(s.text) and says_a_time(s.text):  # the word first: says_a_time reads numbers
                if self.resolve_value(date_type, s.text, reference, past, locale) is not None:
                    s = EntitySpan(date_type, s.start, s.end, s.text, s.confidence)
                out.append(s)
            elif (day := _DAY_AFTER_AMOUNT.search(s.text)) is not None and day.start() > 0 and self.resolve_value(
                    s.type, s.text[:day.start()], reference, past, locale) is not None:
                said = day.group("day")
                out += [EntitySpan(s.type, s.start, s.start + day.start(), s.text[:day.start()], s.confidence),
                        EntitySpan(date_type, s.end - len(said), s.end, said, s.confidence)]
            else:
                out.append(s)
        return out

    def _number_words_before(self, e: ResolvedEntity, before: ResolvedEntity) -> bool:
        """Whether `before` is a date span of nothing but number words that the amount `e` after it
        opens with: "two | hundred twenty" with "two" a date was $120 (and a payment on the 2nd)."""
        return self._amount_and_date(e, before) and leading_number_words(before.text) == len(before.text.strip())

    def _next_start(self, e: ResolvedEntity, after: ResolvedEntity) -> int:
        """Where the entity after `e` starts, as far as `e` may grow: past the number words a date
        span opens with when `e` is an amount, which goes on with them whatever the model tagged
        ("a hundred and | twenty five on friday" with "twenty five on friday" a date was $100; a
        day of the month is said "the twenty-fifth")."""
        if self._amount_and_date(e, after):
            return after.start + leading_number_words(after.text)
        return after.start

    def _amount_and_date(self, amount: ResolvedEntity, date: ResolvedEntity) -> bool:
        """Whether `amount` is of a money type and `date` of a date type (the pairs whose number words are shared)."""
        return self._builtin(amount.type) == "money" and self._builtin(date.type) == "datetime"

    def _builtin(self, etype: str) -> str | None:
        return (self.specs.get(etype) or {}).get("builtin")

    def _with_extension(self, text: str, span: EntitySpan) -> EntitySpan:
        """A phone number's span with the extension said right after it ("415-555-0134 | ext. 23"),
        which is the number's own: a separate span of the extension alone then overlaps it and is
        dropped. Likewise an email span of a word or two of a dictated address ("john | dot smith
        at yahoo dot com"): the whole address."""
        builtin = self._builtin(span.type)
        start, end = span.start, span.end
        if builtin == "phone":
            end = contact.extension_end(text, span.end)
        elif builtin == "email" and "@" not in span.text:
            start, end = contact.spoken_address(text, span.start, span.end) or (start, end)
        if (start, end) == (span.start, span.end):
            return span
        return EntitySpan(span.type, start, end, text[start:end], span.confidence)

    def taken_back(self, text: str, entities: list[ResolvedEntity]) -> list[ResolvedEntity]:
        """The catalog values of `entities` said after "not", which `resolve` leaves unresolved, with
        the values they name: a follow-up takes these out of the slots it carries ("not checking,
        my joint account" after a transfer from checking to savings: joint and savings)."""
        out = []
        for e in entities:
            if e.type in self.catalogs and after_not(text, e.start):
                value = self.resolve_value(e.type, e.text, None)
                if value is not None:
                    out.append(replace(e, resolved=True, resolution=value))
        return out

    def _joined(self, text: str, kept: list[ResolvedEntity], reads) -> list[ResolvedEntity]:
        """Neighbouring model spans of one money type, nothing but "and" or a comma between them,
        are one amount as said ("a hundred | and | five dollars", "250 dollars | and 20 cents"): read
        apart they were two amounts in one slot ($100.00 and $5.00). Likewise a day and a time
        ("tomorrow | at | 3pm"): two dates in one slot, which was asked for again; and a count of
        time from a day, when the whole reads as a date (`reads(type, words)`): "two weeks | from |
        today" was today. Two spans of one type with a repair between ("fifty | no | sixty dollars")
        are one value too, the one said last (`said_last`)."""
        out: list[ResolvedEntity] = []
        for e in kept:
            last = out[-1] if out else None
            builtin = self._builtin(e.type)
            joiner = _JOINER if builtin == "money" else _DATE_JOINER if builtin == "datetime" else None
            between = text[last.end:e.start] if last is not None else ""
            same = last is not None and last.type == e.type and last.source == e.source == "model"
            if same and builtin is not None and _repair(between) is not None:
                start = last.start
            elif same and joiner is not None and joiner.fullmatch(text, last.end, e.start):
                start = last.start
            elif (same and builtin == "datetime" and _DATE_COUNTED_FROM.fullmatch(between)
                  and reads(e.type, text[_counted_start(text, last.start):e.end])):
                start = _counted_start(text, last.start)
            else:
                out.append(e)
                continue
            out[-1] = ResolvedEntity(e.type, text[start:e.end], start, e.end, min(last.confidence, e.confidence), "model")
        return out

    def _dated_after_amount(self, text: str, kept: list[ResolvedEntity]) -> list[ResolvedEntity]:
        """A date span that opens with the number words an amount before it goes on with starts
        after them: "a hundred | twenty tomorrow" is $120 and tomorrow (it was $100, and no date).
        So does one whose number words go on from untagged ones: in "a hundred and twenty | five
        tomorrow", with "five tomorrow" the date, "five" ends the amount (the date was no date,
        and a follow-up kept the carried day)."""
        out = list(kept)
        for i, date in enumerate(out):
            if self._builtin(date.type) != "datetime" or not (lead := leading_number_words(date.text)):
                continue
            amount = out[i - 1] if i else None
            if amount is not None and self._amount_and_date(amount, date):
                if (not _JOINER.fullmatch(text[amount.end:date.start])
                        or number_words_after(text, amount.start, amount.end) < date.start + lead):
                    continue
            elif not _goes_on_from_number_words(text, date.start, date.start + lead,
                                                amount.end if amount is not None else 0):
                continue
            rest = _DATE_LEAD.match(date.text, lead).end()  # "twenty five | on friday": friday
            if rest < len(date.text):
                out[i] = replace(date, text=date.text[rest:], start=date.start + rest)
        return out

    # -- candidates and the overlap rule ------------------------------------------------------

    def _select(self, text: str, spans: list[EntitySpan], analyzed: int) -> list[ResolvedEntity]:
        candidates = [ResolvedEntity(s.type, s.text, s.start, s.end, s.confidence, "model") for s in spans]
        for pattern in self.patterns.values():  # on the whole text: a match cut at `analyzed` is no match
            for start, end, value in pattern.find(text):
                if end <= analyzed:
                    candidates.append(ResolvedEntity(pattern.name, text[start:end], start, end, 1.0, "pattern", True,
                                                     {"kind": "pattern", "value": value}))
        for catalog, start, end in self.verbatim.find(text):
            if end <= analyzed:
                candidates.append(ResolvedEntity(catalog.name, text[start:end], start, end, 1.0, "catalog"))
        if len(candidates) <= 1:
            return candidates
        model = [e for e in candidates if e.source == "model"]
        # a catalog name that holds the model's span of its type is the value said: "my money | market"
        # (the span "money", no account) is the money market account; never over a span of another
        # type ("business | checking" with "business" tagged a payee keeps the model's "checking")
        named = [n for n in candidates if n.source == "catalog"
                 and not any(m.type != n.type and m.start < n.end and n.start < m.end for m in model)]
        candidates = [e for e in candidates if not (e.source == "model" and any(
            n.type == e.type and n.start <= e.start and e.end <= n.end and n.end - n.start > e.end - e.start
            for n in named))]
        candidates.sort(key=lambda e: (_RANK[e.source], e.start - e.end, e.start))
        kept: list[ResolvedEntity] = []
        for e in candidates:
            if all(e.end <= k.start or k.end <= e.start for k in kept):
                kept.append(e)
        kept.sort(key=lambda e: e.start)
        return kept

    # -- resolution by kind -------------------------------------------------------------------

    def _resolve_one(self, e: ResolvedEntity, text: str, reference: dt.datetime | None, past: bool = False,
                     locale: locales.Locale = locales.EN_US, floor: int = 0,
                     room: tuple[int, int] | None = None) -> ResolvedEntity:
        """`floor`: where the entity of another type before this one ends; an amount's words are never
        looked for before it ("march fifteen | two hundred dollars"; "fifty | thousand dollars", two
        spans of one amount, still reads 50,000). `room`: where the entities around it end and
        start; a span never grows over one (entities never overlap)."""
        lo, hi = room or (0, len(text))
        if e.resolved:  # patterns are resolved when found
            return e
        spec = self.specs.get(e.type)
        if spec is None:  # a type the model knows but the domain config does not describe
            return e
        if spec.get("builtin") in AMOUNTS and counts_a_pause(text, e.text, e.end):
            return e  # "one | second, 50 dollars": a pause, no amount of 1
        if spec.get("builtin") == "datetime" and clock_or_count(text, e.start, e.end):
            return e  # "half past | 2", "in 3 hours and | 30 | minutes": no day of the month
        if spec["kind"] == "catalog" and not self._given(text, e):
            return e  # "my mom's checking account", "not from checking", "my student loan": no value of the turn
        if spec.get("builtin") == "datetime" and region_then_a_word(text, e.start, e.end):
            return e  # "tomorrow at 3pm central | hudson": Central time, or a payee? Asked
        if spec.get("builtin") == "datetime" and self._date_around(e, text, reference, past, locale, lo, hi):
            return e
        if (spec.get("builtin") == "datetime" and _DOTTED.fullmatch(e.text)
                and _AT.search(text, max(lo, e.start - 30), e.start)):
            return e  # "at | 9.05" read as no time (en-GB: 9 May or 09:05?) is no date either (it was 9 May)
        half = _HALF_AFTER.match(text, e.end) if spec.get("builtin") == "datetime" and e.text[-1:].isdigit() else None
        if half is not None and half.end() <= hi:  # "4:30 | pm", the model's span without it, was 04:30
            e.end, e.text = half.end(), text[e.start:half.end()]
        zoned = zone_after(text, e.start, e.end) if spec.get("builtin") == "datetime" else None
        if zoned is not None:  # "tomorrow at 3pm | pst": the zone is the time's, even tagged as another entity
            if zoned > hi:
                return e
            e.end, e.text = zoned, text[e.start:zoned]
        # an amount's currency or percent sign may lie just outside the model's span: "5000 | HUF"
        start, end = beside(text, e.start, e.end, floor, hi) if spec.get("builtin") == "money" else (e.start, e.end)
        if spec.get("builtin") == "money" and fraction_after(text, end):
            return e  # "a million | and a half": not the first part alone
        resolution = self.resolve_value(e.type, text[start:end], reference, past, locale)
        if resolution is not None and (start, end) != (e.start, e.end):  # the entity is the amount's words
            e.start, e.end, e.text = start, end, text[start:end]
        if resolution is None and spec.get("builtin") == "datetime":
            return self._date_within(e, text, reference, past, locale)
        if resolution is None and spec["kind"] == "catalog":
            resolution = self._name_within(e)
        if resolution is not None:
            e.resolved, e.resolution = True, resolution
        return e

    def _date_around(self, e: ResolvedEntity, text: str, reference: dt.datetime | None, past: bool,
                     locale: locales.Locale, lo: int, hi: int) -> bool:
        """Whether the date span `e` reads as a date with the words around it that the model left
        out, which it then takes (between `lo` and `hi`, where the entities around it end and
        start): the word that says which day ("next | tuesday" was today), the day before a month
        ("the first of | next month" was the month), a count of time ("in | three days", "a week
        from | friday", "3 days | from now" were no date), the "at" before a time written with a dot
        ("at | 12.30": a British half past twelve, no date), the time said before the day ("at 5pm on
        | friday" was all day Friday). Only when the longer words read as a date: "the following
        monday" is no date dateparser reads, and the span stays as it is. A day with an hour that
        has no am/pm ("next | friday at six", "at 5 on | friday", "at | five tomorrow") takes its
        words unresolved: the date is asked (which six?), and the day said is kept meanwhile."""
        grown = False
        for said in (_WHICH_ONE, _DAY_OF, _IN, _COUNT_FROM) + ((_AT,) if _DOTTED.fullmatch(e.text) else ()):
            m = said.search(text, max(lo, e.start - 30), e.start)
            grown = m is not None and self._grown(e, text, m.start(), reference, past, locale)
            if grown:
                break
        m = _HOUR_BEFORE.search(text, max(lo, e.start - 30), e.start) if _PART_OF_DAY.match(e.text) else None
        if m is not None and self._grown(e, text, m.start(), reference, past, locale):
            return True  # "at 8 | in the evening": 20:00, not the evening's default hour
        m = _PART_OF_DAY_AFTER.match(text, e.end) if _AN_HOUR.fullmatch(e.text.strip()) else None
        if m is not None and m.end() <= hi:  # "9 | tonight please": 21:00, not the 9th
            whole = self.resolve_value(e.type, text[e.start:m.end()], reference, past, locale)
            if whole is not None:
                e.end, e.text, e.resolved, e.resolution = m.end(), text[e.start:m.end()], True, whole
                return True
        m = _TIME_BEFORE.search(text, max(lo, e.start - 30), e.start)
        if m is not None and (m.group("time") or _STARTS_WITH_HOUR.match(e.text)):
            own = e.resolution if e.resolved else self.resolve_value(e.type, e.text, reference, past, locale)
            if self._grown(e, text, m.start(), reference, past, locale, unless=own):
                return True
        if grown:
            return True
        m = _FROM_NOW.match(text, e.end)
        if m is None or m.end() > hi or self.resolve_value(e.type, e.text, reference, past, locale) is not None:
            return False
        whole = self.resolve_value(e.type, text[e.start:m.end()], reference, past, locale)
        if whole is not None:
            e.end, e.text, e.resolved, e.resolution = m.end(), text[e.start:m.end()], True, whole
        return whole is not None

    def _grown(self, e: ResolvedEntity, text: str, start: int, reference: dt.datetime | None, past: bool,
               locale: locales.Locale, unless: dict | None = None) -> bool:
        """Whether the date span `e` starts at `start` instead: when the longer words read as a date
        other than `unless`, or as a day with an unclear hour (left unresolved: the date is asked)."""
        longer = text[start:e.end]
        whole = self.resolve_value(e.type, longer, reference, past, locale)
        if whole is None:
            if not self._unclear_hour_on_a_day(longer, e.type, reference, past, locale):
                return False
        elif whole == unless:
            return False
        e.start, e.text, e.resolved, e.resolution = start, longer, whole is not None, whole
        return True

    def _unclear_hour_on_a_day(self, said: str, etype: str, reference: dt.datetime | None, past: bool,
                               locale: locales.Locale) -> bool:
        """Whether `said` is a day with an hour that has no am/pm ("friday at 6", "at 5 on friday")."""
        day = day_of_unclear_hour(said)
        if day is None or reference is None:
            return False
        resolution = self.resolve_value(etype, day, reference, past, locale)
        return resolution is not None and resolution.get("kind") == "datetime" and resolution.get("grain") == "day"

    def _name_within(self, e: ResolvedEntity) -> dict | None:
        """The value of the one name of its catalog a catalog span holds ("my joint checking account":
        the catalog lists "joint checking", and the span read whole was no value); none when it
        holds two ("savings intto checking account": which way the money goes is not known)."""
        inside = [(start, end) for catalog, start, end in self.verbatim.find(e.text) if catalog.name == e.type]
        if len(inside) != 1:
            return None
        start, end = inside[0]
        if not (_ONLY_DETERMINERS.fullmatch(e.text[:start]) and _ONLY_NOUN.fullmatch(e.text[end:])):
            return None  # "my son's savings account", "my business savings account", "savings checking"
        found = self.catalogs[e.type].lookup(e.text[start:end])
        if found is None:
            return None
        entry, score = found
        return {"kind": "catalog", "id": entry.id, "value": entry.value, "score": score}

    def _date_within(self, e: ResolvedEntity, text: str, reference: dt.datetime | None, past: bool,
                     locale: locales.Locale) -> ResolvedEntity:
        """A date span that is no date, narrowed to the date it ends with after "on", "for", "by"...:
        "make it eighty five on the 15th", all tagged as one date, is the 15th (and the words
        before it are left to be read: a follow-up reads them as the amount); a repeating date is
        its first day, as the domain's data has it ("every month on the 15th", "the 15th of every
        month": the 15th). Never past another date ("from friday until sunday"), and a span that
        reads as a date in the other direction ("last friday at 9" for a payment ahead) is refused
        as it is, never narrowed to a part that reads ahead."""
        if reference is None or self.dates.resolve(e.text, reference, past, locale.day_first) is not None:
            return e
        if self._unclear_hour_on_a_day(e.text, e.type, reference, past, locale):
            return e  # "at 5 on friday" is no Friday with the hour dropped: which 5? Asked, the day kept
        tail = _REPEAT_TAIL.search(e.text)  # "the 15th of every month": the first day is the date
        if tail is not None and tail.start() > 0:
            resolution = self.resolve_value(e.type, e.text[:tail.start()], reference, past, locale)
            if resolution is not None:
                said = e.text[:tail.start()]
                return ResolvedEntity(e.type, said, e.start, e.start + len(said), e.confidence, e.source, True,
                                      resolution, e.role)
        for m in _DATE_AFTER.finditer(e.text):
            if _DATE_WORD.search(e.text, 0, m.start()):
                break  # "from friday until sunday", "the 1st and on the 15th": not one day
            said = e.text[m.end():]
            resolution = self.resolve_value(e.type, said, reference, past, locale)
            if resolution is not None:
                start = e.start + m.end()
                return ResolvedEntity(e.type, said, start, e.end, e.confidence, e.source, True, resolution, e.role)
        return e

    def _given(self, text: str, e: ResolvedEntity) -> bool:
        """Whether a catalog name is a value the turn gives: not one it takes back ("not from
        checking but from savings"), not someone else's ("my mom's checking account"), no person
        ("send 50 to Ira"), not the
        first word of another thing's name ("my student loan", docs/resolution.md)."""
        return not (after_not(text, e.start) or _owner_start(text, e.start) is not None
                    or a_persons_name(text, e.start, e.end) or self._first_word_of_another(text, e))

    def _first_word_of_another(self, text: str, e: ResolvedEntity) -> bool:
        """A span that is only an entry's id, no name the catalog lists ("student", whose names are
        "student account" and "student checking"), followed by another thing's noun: "my student
        loan" is a loan, "my business partner" a person. Any other word leaves it the entry ("my
        joint balance", "to joint right now"); a listed name names its entry whatever follows."""
        after = _NEXT_WORD.match(text, e.end)
        if after is None:
            return False
        catalog, key = self.catalogs[e.type], fold_catalog(e.text)
        return key in catalog.exact and key not in catalog.spoken and after.group(1).casefold() in _ANOTHER_THING

    def resolve_value(self, etype: str, text: str, reference: dt.datetime | None,
                      past: bool = False, locale: locales.Locale = locales.EN_US) -> dict | None:
        """The resolution dict of `text` as an entity of type `etype`, or None. `reference`: the
        request's instant in its zone; None when it has no local time (dates are then unresolved).
        `locale`: how the request writes numbers and numeric dates (server/locale.py)."""
        spec = self.specs.get(etype)
        if spec is None:
            return None
        kind = spec["kind"]
        if kind == "catalog":
            found = self.catalogs[etype].lookup(text)
            if found is None:
                return None
            entry, score = found
            return {"kind": "catalog", "id": entry.id, "value": entry.value, "score": score}
        if kind == "pattern":
            value = self.patterns[etype].resolve(text)
            return None if value is None else {"kind": "pattern", "value": value}
        if kind == "free":
            # words only, as a carried value must be: markup, URLs, braces or hidden characters
            # ("Amazon<script>...", "Amazon.com/ignore-previous-instructions") never reach a response
            value = plain_words(text)
            return None if value is None else {"kind": "text", "value": value}
        builtin = spec["builtin"]
        text = said_last(without_zero_width(text))
        if builtin == "money":
            return resolve_money(locales.read_numbers(text, locale), spec.get("default_currency"))
        if builtin == "datetime":
            found = None if reference is None else self.dates.resolve(text, reference, past, locale.day_first)
            return found if found is None or past or not _before_today(found, reference) else None
        if builtin == "email":
            return contact.resolve_email(text)
        if builtin == "phone":
            return contact.resolve_phone(text, spec.get("default_region"))
        if builtin == "number":
            return resolve_number(locales.read_numbers(text, locale))
        if builtin == "ordinal":
            return resolve_ordinal(text)
        if builtin == "duration":
            return resolve_duration(locales.read_numbers(text, locale))
        return resolve_percentage(locales.read_numbers(text, locale))

    def resolve_carried(self, etype: str, raw: str, limit: int, intent: str | None = None,
                        reference: dt.datetime | None = None) -> list[dict]:
        """The resolutions of a slot value carried over from an earlier turn (`filled_slots`): only
        the canonical forms `slots_used` returns, checked against the domain (carried.py); empty
        when the value is not a valid value of its type. Given the `intent` it fills and the
        request's `reference` instant, also empty for a date that has passed since, for an intent
        whose dates lie ahead (as a date said in the turn)."""
        spec = self.specs.get(etype)
        if spec is None:
            return []
        values = read_carried(spec["kind"], spec, raw, self.catalogs.get(etype), self.patterns.get(etype), limit)
        if intent is None or intent in self.past_intents or spec.get("builtin") != "datetime":
            return values
        if reference is None or any(_before_today(v, reference) for v in values):
            return []  # "scheduled for January 6" a year late, or on a day no date is read on
        return values

    def reference_time(self, options: RequestOptions) -> dt.datetime | None:
        """The request's reference instant in its time zone (default: now, the domain's zone or UTC);
        None when that local time is outside the years 1..9999 (0001-01-01T00:00Z in Los Angeles)."""
        zone = time_zone(options.time_zone or self.default_time_zone)
        ref = options.reference_time
        if ref is None:
            return dt.datetime.now(zone)
        if ref.tzinfo is None:
            ref = ref.replace(tzinfo=dt.timezone.utc)
        try:
            return ref.astimezone(zone)
        except OverflowError:
            return None


@lru_cache(maxsize=512)
def time_zone(name: str) -> ZoneInfo:
    """An IANA zone (ZONE_NAMES); ValueError for any other name (the service validates a request's
    first: INVALID_ARGUMENT; a domain.yaml's is checked when it is read)."""
    if name not in ZONE_NAMES:
        raise ValueError(f"unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


_DATE_WORD = re.compile(r"\b(?:and|today|tomorrow|yesterday|(?:mon|tues|wednes|thurs|fri|satur|sun)day"
                        r"|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|\d{1,2}(?:st|nd|rd|th)|first|second|third"
                        r"|\w+teenth|\w+tieth)", re.IGNORECASE)
_REPEAT_TAIL = re.compile(r"\s+(?:of\s+)?(?:every|each)\b", re.IGNORECASE)
_DATE_AFTER = re.compile(r"\b(?:on|for|by|from|starting|until)\s+", re.IGNORECASE)
_ORDINAL_WORDS = ("first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|thirteenth"
                  "|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|thirtieth")
_DAY_OF = re.compile(rf"(?<![\w'])(?:the\s+)?(?:\d{{1,2}}(?:st|nd|rd|th)|(?:twenty|thirty)[\s-](?:{_ORDINAL_WORDS})"
                     rf"|{_ORDINAL_WORDS})\s+of\s+$", re.IGNORECASE)
_ONLY_DETERMINERS = re.compile(r"\s*(?:(?:my|our|your|the|this|a|an)\s+)*", re.IGNORECASE)
_ONLY_NOUN = re.compile(r"\s*(?:account|acct|card)?\s*", re.IGNORECASE)
_COUNT_FROM = re.compile(r"(?<![\w'])(?:an?|one|two|three|four|five|six|\d{1,2}|the\s+day|a\s+couple\s+of)\s+"
                         r"(?:(?:day|week|month)s?\s+)?(?:from|after|before)\s+$", re.IGNORECASE)  # "a week from | friday"
_IN = re.compile(r"(?<![\w'])in\s+(?:an?\s+|a\s+couple\s+of\s+)?$", re.IGNORECASE)  # "in | three days", "in a | week"
_FROM_NOW = re.compile(r"\s+(?:from\s+(?:now|today)|ago|later)\b", re.IGNORECASE)  # "three days | from now"
_AT = re.compile(r"(?<![\w'])(?:at|by)\s+$", re.IGNORECASE)  # "at | 12.30": half past twelve, no date
_DOTTED = re.compile(r"\d{1,2}\.[0-5]\d")
_HALF_AFTER = re.compile(r"\s*[ap]\.?\s?m\b\.?", re.IGNORECASE)  # "4:30 | pm"
# a time said before a date's span, maybe the "at" alone: "at 5pm on | friday", "at | five tomorrow"
_TIME_BEFORE = re.compile(r"(?<![\w'])(?:at|by)\s+(?P<time>(?:\d{1,2}(?:[:.][0-5]\d)?|noon|midnight|%s)"
                          r"(?:\s*[ap]\.?\s?m\b\.?)?(?:\s*o'?\s?clock)?\s*,?\s*(?:on\s+)?)?$"
                          % AN_HOUR_WORD, re.IGNORECASE)
# a word without which no amount span says a time of day
_A_TIME_WORD = re.compile(r"[ap]\.?\s?m\b|o'?\s?clock|tonight|today|tomorrow|morning|afternoon|evening|night|day\b",
                          re.IGNORECASE)
# a day the model tagged as the end of an amount: "60 | tonight"
_DAY_AFTER_AMOUNT = re.compile(r"\s+(?P<day>tonight|today|tomorrow)$", re.IGNORECASE)
# an hour said after "at" before a part of the day the model tagged alone: "at 7 | in the evening", "at eight |
# tonight" (without "at", "charged 10 | in the evening" is an amount)
_HOUR_BEFORE = re.compile(r"(?<![\w'$£€¥.,])(?:at|by)\s+%s\s+(?:(?:in\s+the|this|at)\s+)?$" % A_CLOCK_HOUR,
                          re.IGNORECASE)
_PART_OF_DAY = re.compile(r"(?:tonight|(?:(?:this|in\s+the|at)\s+)?(?:morning|afternoon|evening|night))\b",
                          re.IGNORECASE)
_PART_OF_DAY_AFTER = re.compile(r"\s+(?:tonight|(?:this|in\s+the|at|tomorrow)\s+(?:morning|afternoon|evening|night))\b",
                                re.IGNORECASE)
_AN_HOUR = re.compile(r"(?:at\s+)?" + A_CLOCK_HOUR, re.IGNORECASE)
_STARTS_WITH_HOUR = re.compile(r"(?:\d{1,2}|%s)\b" % AN_HOUR_WORD, re.IGNORECASE)

_WHICH_ONE = re.compile(r"(?<![\w'])(?:next|this|last|coming|following)\s+$", re.IGNORECASE)


def _counted_start(text: str, start: int) -> int:
    """Where a count of time starts with the article the model left out: "a | week from friday"."""
    m = _ARTICLE_BEFORE.search(text, max(0, start - 4), start)
    return start if m is None else m.start()


def _apart(entities: list[ResolvedEntity]) -> list[ResolvedEntity]:
    """The entities in text order with none overlapping another: two spans of one amount each
    read over the other's words ("fifty | thousand | dollars": "fifty thousand" and "fifty
    thousand dollars") are the one that holds the other; of two others, the first."""
    out: list[ResolvedEntity] = []
    for e in sorted(entities, key=lambda e: (e.start, e.start - e.end)):
        if out and e.start < out[-1].end:
            if e.type == out[-1].type and e.end > out[-1].end and e.start <= out[-1].start:
                out[-1] = e
            continue
        out.append(e)
    return out


def _goes_on_from_number_words(text: str, start: int, end: int, floor: int) -> bool:
    """Whether the untagged word before `start` (after `floor`, the end of the entity before) is a
    number word that the number words text[start:end] go on ("a hundred and twenty | five
    tomorrow"; not "a hundred | three days from now", which counts days)."""
    before = _WORD_BEFORE.search(text, floor, start)
    return (before is not None and leading_number_words(before.group(1)) == len(before.group(1))
            and number_words_after(text, before.start(1), before.end(1)) >= end)


def _repair(between: str) -> re.Match | None:
    """The repair `between` two values is, if it is one ("no", "sorry", ", I mean,")."""
    m = _REPAIR.fullmatch(between)
    return m if m is not None and _REPAIR_WORD.search(between) else None


def said_last(text: str) -> str:
    """The value a text says last when it takes back what it said first ("fifty no sixty
    dollars": "sixty dollars"; "on monday sorry tuesday": "tuesday"); else the text. One amount
    or date said twice in one breath is the second, never two values in a slot of one."""
    if _REPAIR_WORD.search(text) is None:  # the common case: nothing taken back
        return text
    last = None
    for m in _REPAIR.finditer(text):
        if m.start() > 0 and text[:m.start()].strip() and text[m.end():].strip() and _REPAIR_WORD.search(m.group()):
            last = m
    return text if last is None else text[last.end():]


def _before_today(resolution: dict, reference: dt.datetime) -> bool:
    """A date before the request's day (a time before its minute), for an intent whose dates lie
    ahead (`dates: future`, the default): "schedule a payment for yesterday" has no date to act on
    (the slot is asked for)."""
    value = dt.datetime.fromisoformat(resolution["value"])
    if resolution.get("grain") in ("hour", "minute", "second"):  # a time: "tonight at 10:30" read as 10:30 am
        return value < reference.replace(second=0, microsecond=0)
    return value.astimezone(reference.tzinfo).date() < reference.date()


def role_of(text: str, start: int) -> str | None:
    """Which way a value goes, by the words right before it: "from my checking" is the source,
    "to savings" the destination; slots list values in text order, so "to savings from
    checking" would otherwise read as a transfer out of savings. Someone else's account goes the
    way the words before its owner say ("from my mom's checking account")."""
    owner = _owner_start(text, start)
    before = _before(text, start if owner is None else owner)
    return next((role for role, words in _ROLE_BEFORE if words.search(before)), None)


def other_roles(text: str, entities: list[ResolvedEntity]) -> None:
    """Two values of one type said with nothing between them but the words that send one of them
    a way go the two ways: "checking to savings" is from checking ("checking" went nowhere, and a
    transfer read back "to your Savings account" from none); "into checking to pay off my credit
    card account" says nothing of the card account."""
    for etype in {e.type for e in entities if e.role}:
        said = sorted((e for e in entities if e.type == etype and e.resolved), key=lambda e: e.start)
        if len(said) != 2 or bool(said[0].role) == bool(said[1].role):
            continue
        first, second = said
        if _ROLE_BETWEEN.fullmatch(text, first.end, second.start) is None:
            continue
        unplaced, placed = (first, second) if second.role else (second, first)
        unplaced.role = "destination" if placed.role == "source" else "source"


def after_not(text: str, start: int) -> bool:
    """Whether the value starting at `start` is said right after "not" ("not checking", "not from
    checking"): one the turn takes back, not one it gives."""
    return _NOT_BEFORE.search(_before(text, start)) is not None


def _owner_start(text: str, start: int) -> int | None:
    """Where the word right before the value starting at `start` begins, when that word makes the
    value someone else's ("my mom's | checking account"); else None."""
    head = text[:start].rstrip()
    word = head.rsplit(None, 1)[-1] if len(head) < start and head else ""  # a word, then spaces
    return len(head) - len(word) if word and _OWNER.fullmatch(word) else None


def _before(text: str, start: int) -> str:
    """The few words before a value that say which way it goes, whose it is, or that it is taken back."""
    return text[max(0, start - _BEFORE_CHARS):start]
