"""Dates and times a follow-up says of an agreed date (`AgreedDates`): read in the previous
intent's direction, on the agreed day, on the half of the day nearest the agreed time, in the
agreed date's own zone; or asked again where two readings stand."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from zoneinfo import ZoneInfo

from .. import locale as locales
from ..analysis import RequestOptions, ResolvedEntity
from ..resolve import Resolver
from ..resolve.dates import (DOTTED_DATE, WEEKDAYS, TimeOfDay, bare_hour, clock_or_count, day_named_before,
                             day_of_month, days_refused, hour_in, names_a_day, names_a_month, says_tonight,
                             time_only, wall_time, zone_at)
from ..resolve.numbers import counts_a_pause, words_to_digits
from ..resolve.resolver import AMOUNTS, after_not
from ..respond import day_key
from . import edits, phrases, vocab


def an_hour_of_the_day(said: str) -> bool:
    """Whether `said` holds an hour before a part of the day, no currency and no verb that moves
    money with it ("make it 8 tonight"; not "send 10 tonight", "$8 tonight")."""
    return (vocab.HOUR_THEN_PART_OF_DAY.search(said) is not None and not vocab.CURRENCY_SAID.search(said)
            and not vocab.MOVES_MONEY.search(said))


# a time of the agreed day said without its half of the day or a zone is one only this close to the
# agreed time (a correction moves a time a little; "make it one fifty" after 09:00 is an amount)
NEAR_S = 3 * 3600


def on_the_half(hour: int, half: re.Match) -> int | None:
    """An hour of a 12-hour clock (1-12) on the half of the day `vocab.HALF_OF_DAY` matched: "9 pm" 21,
    "12 am" 0, "12 at night" 0, "10 at night" 22, "5 tonight" 17; None where the part of the day
    holds no such hour ("9.30 in the afternoon", "4.30 at night": which?)."""
    pod = half.group("pod")
    if pod is None:
        return hour % 12 + (12 if half.group("pm") else 0)
    if hour == 12 and pod.lower() in ("night", "tonight"):
        return 0
    return hour_in(pod.lower(), hour)


def a_time_of(said: str, agreed: dt.datetime) -> bool:
    """Whether `said` is a time alone ("5.00", "4:30", "at five"), maybe beside the agreed date's
    own weekday ("friday at 4.30", "4.30 friday" of a Friday): a new time of the agreed day."""
    whole = vocab.WEEKDAY_THEN_TIME.fullmatch(said) or vocab.TIME_THEN_WEEKDAY.fullmatch(said)
    if whole is not None:
        if WEEKDAYS.get(whole.group("day").lower().removesuffix("s")) != agreed.weekday():
            return False  # "monday but at 5" of a Friday: another day
        said = whole.group("time")
    return time_only(said) is not None or an_hour(said) or vocab.DOTTED_NUMBER_IN.fullmatch(said) is not None


def the_agreed_time(agreed: str | None, day: str) -> str | None:
    """The agreed date (ISO), when `day` (a day said, ISO at midnight) is its day and it has a
    time of day: the day said again keeps its time."""
    try:
        at, said = dt.datetime.fromisoformat(agreed or ""), dt.datetime.fromisoformat(day)
    except ValueError:
        return None
    if at.tzinfo is not None and said.tzinfo is not None:
        at = at.astimezone(said.tzinfo)  # "...T03:00:00+00:00" is Thursday evening in New York
    return agreed if at.time() != dt.time() and at.date() == said.date() else None


def another_day(at: dt.datetime | None, reference: dt.datetime | None) -> bool:
    """Whether `at` (a date agreed, or a day kept) falls on another day than today ("tonight" said
    of it is today's)."""
    return at is not None and reference is not None and at.astimezone(reference.tzinfo).date() != reference.date()


def near(said: TimeOfDay, at: dt.datetime) -> TimeOfDay | None:
    """`said`, a time said as one ("at 4.30", "make it 8:30") on a 12-hour clock without its half of
    the day, on the half nearest the agreed time `at` when that lies within NEAR_S of it ("make it
    8:30" after 21:00 is 20:30, it was 08:30); None when both halves lie far ("move it to 4.30"
    after 09:00: which?)."""
    agreed = at.hour * 60 + at.minute
    hour = min((said.hour % 12, said.hour % 12 + 12), key=lambda h: abs(h * 60 + said.minute - agreed))
    return said._replace(hour=hour) if abs(hour * 60 + said.minute - agreed) <= NEAR_S / 60 else None


def an_hour(said: str) -> bool:
    """An hour and nothing else, said without am/pm: "5", "at five", "five o'clock"."""
    return bare_hour(said) or vocab.BY_AN_HOUR.fullmatch(words_to_digits(said.strip())) is not None


def spoken_minutes(said: str) -> int:
    """The minutes of `vocab.SPOKEN_TIME`'s second part: "oh five" 5, "fifteen" 15, "forty-five" 45."""
    words = re.split(r"[\s-]+", said.lower())
    if words[0] in ("oh", "o"):
        return vocab.UNITS.index(words[1]) + 1
    if words[0] in vocab.TEENS:
        return 10 + vocab.TEENS.index(words[0])
    return 20 + 10 * vocab.TENS.index(words[0]) + (vocab.UNITS.index(words[1]) + 1 if len(words) > 1 else 0)


def at_the_time(at: dt.datetime, said: TimeOfDay, zone) -> dict | None:
    """The datetime resolution of the day of `at` at the time `said`, on the clock of the zone it
    names, else `zone`'s, given in `zone`; None for a time the clocks skip that day."""
    value = wall_time(at.replace(tzinfo=None, hour=said.hour, minute=said.minute, second=0),
                      ZoneInfo(said.zone) if said.zone else zone, said.grain)
    return None if value is None else {"kind": "datetime", "value": value.astimezone(zone).isoformat(),
                                       "grain": said.grain}


class AgreedDates:
    """Dates and times a turn says of the previous intent's date slots, read against the date
    agreed or the day kept while its hour is asked: in the intent's direction ("make it last
    friday" is no date for a payment ahead), on the agreed day ("make it 3pm", "make it 9.30
    instead"), on the half of the day nearest the agreed time, or asked again where two readings
    stand ("move it to 4.30" after 09:00)."""

    def __init__(self, resolver: Resolver):
        self.resolver = resolver

    def dated_as(self, text: str, previous: str, entities: list[ResolvedEntity],
                  options: RequestOptions) -> tuple[list[ResolvedEntity], list[ResolvedEntity]]:
        """Dates read in the direction of the intent the turn continues, not of the intent the
        model read into its few words: "make it last friday" for a scheduled payment is no date
        to act on; "on the 20th" for a lost card is the last 20th, not the next. Also returns the
        dates refused for the previous one: every model date that does not resolve for it, those
        an intent whose dates lie ahead drops for lying in the past ("make it last friday" read as
        travel_notice, whose dates lie ahead too) and those no rule reads ("the first monday of
        next month": the payment was lost to a travel notice)."""
        past = previous in self.resolver.past_intents
        reference = self.resolver.reference_time(options)
        locale = locales.get(options.locale)
        out, refused = [], []
        for e in entities:
            if (e.source == "model" and (self.resolver.specs.get(e.type) or {}).get("builtin") == "datetime"
                    and not clock_or_count(text, e.start, e.end)):  # "a hundred | three | days": no 3rd
                if vocab.DOTTED_NUMBER_IN.fullmatch(e.text.strip()) and vocab.AT_THE_END.search(text, 0, e.start):
                    out.append(e)  # "at | 10.10": a time, or asked (`_dotted_time`); read alone, 10 October
                    continue
                value = self.resolver.resolve_value(e.type, e.text, reference, past, locale)
                if value is None and (e.resolved or not past and self.is_date(e.text, reference, locale)
                                      or vocab.NAMES_A_DAY.search(e.text) and not vocab.EVERY_TIME.search(e.text)):
                    refused.append(e)  # "the first monday of next month": no date read is no date kept either
                e = replace(e, resolved=value is not None, resolution=value)
            out.append(e)
        return out, refused

    def is_date(self, text: str, reference: dt.datetime | None, locale: locales.Locale) -> bool:
        """Whether `text` reads as a date looking ahead, before it is checked against today: an
        unresolved one ("yesterday", "today at 9am" said at noon) was dropped for lying in the past,
        and is refused; "blue" is no date at all."""
        return (reference is not None
                and self.resolver.dates.resolve(text, reference, False, locale.day_first) is not None)

    def dotted_amounts(self, text: str, entities: list[ResolvedEntity], previous: str, spec: dict,
                        slots: list[str], options: RequestOptions) -> list[ResolvedEntity]:
        """The model's "9.30" in "make it 9.30 instead", tagged as an amount or a date, where
        `_dotted_time` reads it as a time: that time on the agreed day (the agreed $75 became $9.30;
        tagged as a date, it was refused, the agreed day dropped, and the answer to the question
        asked then, "9.30am", fell on today). A dotted number the model tagged as a date in a turn
        that names the amount ("no, not 45, make it 9.30") is the amount."""
        out, read_past = [], []  # (where a span ended, where the time read from it ended): "10.00 | in the morning"
        for e in entities:
            builtin = (self.resolver.specs.get(e.type) or {}).get("builtin")
            if e.source != "model" or builtin not in (*AMOUNTS, "datetime"):
                out.append(e)  # (a date "9.30" read no date: refused by _dated_as, taken back by the caller)
                continue
            said = e.text.strip()
            start = e.start + len(e.text) - len(e.text.lstrip())
            dotted = vocab.DOTTED_TIME_SAID.match(said)
            if builtin == "datetime" and e.resolved and (dotted is None or dotted.end() == len(said)):
                out.append(e)  # a date read ("18.12" in en-GB: 18 December); but "9.30 ist" is no 02:30 in India
                continue
            read = self.dotted_time(text, start, start + len(said), previous, spec, slots, options)
            if read is not None:
                read_past.append((start + len(said), read[2]))
            elif builtin == "datetime":
                read = self._amount_named(said, text, previous, slots, options)
            out.append(e if read is None else replace(e, type=read[0], resolved=read[1] is not None,
                                                      resolution=read[1]))
        # what the model made of the words read with the time ("in the morning": a second date)
        return [e for e in out if not any(after <= e.start and e.end <= upto for after, upto in read_past)]

    def spoken_times(self, text: str, tokens: list[tuple[int, int, str]], entities: list[ResolvedEntity],
                      previous: str, spec: dict, slots: list[str], options: RequestOptions) -> list[ResolvedEntity]:
        """"make it nine thirty instead", a time said in words and all the turn says, read as "9.30"
        is, in place of what the model made of its words ("nine" the 9th and "thirty" $30: a
        payment of $30 on Wednesday, read back): where `_dotted_time` reads it as a time, that time
        on the agreed day; else an amount not read, which asks for it (9.30 or 930? as "make it two
        fifty" is). Not beside other words ("the card ending one twenty")."""
        m = vocab.SPOKEN_TIME.search(text)
        if m is None:
            return entities
        read = self._at_the_agreed_time(vocab.HOURS.index(m.group("h").lower()) + 1, spoken_minutes(m.group("m")), text,
                                        m.end(), previous, spec, slots, options)
        end = m.end() if read is None else read[2]  # with the half of the day or the zone said after it
        if read is None:
            read = next(((slot, None) for slot in slots
                         if (self.resolver.specs.get(slot) or {}).get("builtin") == "money"), None)
        if read is None:
            return entities
        source = "context" if read[1] is not None else "model"  # an amount not read: refused, so asked (`_unread`)
        said = ResolvedEntity(read[0], text[m.start():end], m.start(), end, 1.0, source, read[1] is not None, read[1])
        # "can you do nine thirty", "change the amount to nine thirty"
        if not phrases.only_values(tokens, [said], (*vocab.PLACING, *vocab.VERBS, "we", *vocab.AMOUNT_WORDS, *phrases.slot_words([read[0]]))):
            return entities
        return [e for e in entities if e.end <= m.start() or e.start >= end] + [said]

    def _amount_named(self, said: str, text: str, previous: str, slots: list[str],
                      options: RequestOptions) -> tuple[str, dict] | None:
        """(the amount slot, `said` read as its value) when the turn names the amount and `said` is a
        number written with a dot ("9.30")."""
        if vocab.DOTTED_TIME_SAID.fullmatch(said) is None or not self._names_the_amount(text, slots, options):
            return None
        reference = self.resolver.reference_time(options)
        past = previous in self.resolver.past_intents
        for slot in slots:
            if (self.resolver.specs.get(slot) or {}).get("builtin") in AMOUNTS and (
                    value := self.resolver.resolve_value(slot, said, reference, past, locales.get(options.locale))):
                return slot, value
        return None

    def days_asked(self, text: str, tokens: list[tuple[int, int, str]], entities: list[ResolvedEntity], spec: dict,
                    slots: list[str], options: RequestOptions) -> list[ResolvedEntity]:
        """The turn without the model's amount when it is a bare number ("5", "the 15th", "twenty
        one") and all the turn says, answering a date the last answer asked for: its words are read
        as that date below ("the 15" answering "When should the payment go out?" replaced the
        agreed $50 with $15). A correction ("make it 5") keeps the amount, read back."""
        asked = edits.slot_asked(spec, slots, options)
        if (self.resolver.specs.get(asked or "") or {}).get("builtin") != "datetime" or vocab.CORRECTION.search(text):
            return entities
        numbers = [e for e in entities if e.source == "model" and e.type in slots
                   and (self.resolver.specs.get(e.type) or {}).get("builtin") in AMOUNTS
                   and vocab.BARE_DAY.fullmatch(words_to_digits(e.text.strip()))]
        if len(numbers) != 1 or not phrases.only_values(tokens, numbers):
            return entities
        return [e for e in entities if e is not numbers[0]]

    def dotted_time(self, text: str, start: int, end: int, previous: str, spec: dict, slots: list[str],
                     options: RequestOptions) -> tuple[str, dict | None, int] | None:
        """(the date slot, the span text[start:end] as a time of the agreed day) when it is a
        number written as a time with a dot ("9.30", "at 16.30"), alone or with the half of the
        day or a zone after it, inside the span or right after it: `_at_the_agreed_time`. A
        number written as money ("make it 20.00", in a locale whose decimals take a dot) is none,
        unless something says it is a time ("10.00 am", "at 10.00", "move it to 10.00", "20.00 uhr")."""
        m = vocab.DOTTED_TIME_SAID.match(text, start)
        if m is None or m.end() > end:
            return None
        before = text[:start]  # "at 10.00", "move it to 10.00" ("make it" is a correction of anything)
        if vocab.RELATIVE.search(before + m.group(0)):
            return None  # "lower it by 5.00", "reduce it by 10.00": by how much, no time
        led = (m.group(0)[:2].lower() in ("at", "by") or vocab.AT_THE_END.search(before) is not None
               or vocab.POINTED.search(before) is not None and not vocab.CORRECTION.search(before))
        day_first = locales.get(options.locale).day_first
        money_like = m.group("m") == "00" and not day_first
        read = self._at_the_agreed_time(int(m.group("h")), int(m.group("m")), text, m.end(), previous, spec, slots,
                                        options, led, money_like, a_date=day_first and 1 <= int(m.group("m")) <= 12)
        if read is None or read[2] < end:  # more in the span than a time ("9.30 dollars")
            return None
        return read

    def _at_the_agreed_time(self, hour: int, minute: int, text: str, pos: int, previous: str, spec: dict,
                            slots: list[str], options: RequestOptions, led: bool = False,
                            money_like: bool = False, a_date: bool = False) -> tuple[str, dict | None, int] | None:
        """(the date slot, `hour`:`minute` on the agreed day, where what was read of `text` ends)
        for a time said ending at `pos` ("make it 9.30 instead" after 09:00 is 09:30 that day, read
        back; it was $9.30), to an intent with a date agreed. The half of the day, a zone or "uhr"
        / "o'clock" said after it (`led`: "at" or a verb that moves it before it) make it a time
        whatever was agreed ("9.30 pm": 21:30, it was 09:30; "9.30 eastern": New York's 09:30).
        Without them it is one only to a required date agreed with a time of day, on the half of
        the day nearest the agreed time and within NEAR_S of it ("make it 2.30 instead" after 14:00
        is 14:30; "make it one fifty" after 09:00, $1.50 or $150, is no 01:50 but an amount asked),
        and not when it is written as money (`money_like`: "make it 20.00"). A time led by "at"
        or a verb, said on a 12-hour clock, falls on the half nearest the agreed time, and is
        asked when both lie far from it ("move it to 4.30" after 09:00: 04:30 or 16:30?); so is
        one that may as well be a date (`a_date`: "move it to 18.12" in en-GB, 18 December?). A
        date asked while its day is kept ("tomorrow at five": which five?) takes a 24-hour time on
        that day ("17.00": it was $17.00) and asks a 12-hour one again. None for a time the clocks
        skip that day, an impossible half of the day ("16.30 pm", "9.30 in the afternoon"), a zone
        of several ("ist") or a time already past. Not where the last answer asked for the amount
        or the turn names it ("change the amount to 9.30", "no not 45 make it 9.30")."""
        if self._names_the_amount(text, slots, options):
            return None
        dated = next((s for s in slots if (self.resolver.specs.get(s) or {}).get("builtin") == "datetime"), None)
        asked = edits.slot_asked(spec, slots, options)
        if dated is None or (self.resolver.specs.get(asked or "") or {}).get("builtin") in AMOUNTS:
            return None
        reference = self.resolver.reference_time(options)
        carried = dict(options.filled_slots)
        kept_day = asked == dated and dated not in carried and day_key(dated) in carried
        day = self.resolver.resolve_carried(dated, carried.get(dated) or carried.get(day_key(dated), "")
                                            if kept_day else carried.get(dated, ""), 1, previous, reference)
        if len(day) != 1 or day[0].get("kind") != "datetime":
            return None
        at = dt.datetime.fromisoformat(day[0]["value"])
        zone = reference.tzinfo if reference is not None else at.tzinfo
        half = vocab.HALF_OF_DAY.match(text, pos)
        pos = half.end() if half is not None else pos
        named = zone_at(text, pos)  # "make it 9.30 eastern"
        pos = named[1] if named is not None else pos
        clock = vocab.CLOCK_WORD.match(text, pos)  # "20.00 uhr", "nine o'clock"
        pos = clock.end() if clock is not None else pos
        if kept_day and not half and 1 <= hour <= 12:
            return dated, None, pos  # "5.30" answering "which five?": which, again
        if a_date and not (half or named or clock):
            return dated, None, pos  # "18.12": 18:12, or 18 December?
        agreed = at.hour * 60 + at.minute
        if not (led or half or named or clock or kept_day):
            if money_like or dated not in (spec.get("required") or ()) or at.time() == dt.time():
                return None  # an amount: "make it 12.50" after "next friday", a transfer's "9.30"
            said_hour = hour
            if 1 <= hour <= 12:
                hour = min((hour % 12, hour % 12 + 12), key=lambda h: abs(h * 60 + minute - agreed))
            # a 24-hour time far from the agreed one is one only where clocks are written so ("16.30"
            # in en-GB); in en-US "make it 19.50" is $19.50, and "make it 2.30" after 20:00 is $2.30
            far = abs(hour * 60 + minute - agreed) > NEAR_S / 60
            if far and (said_hour <= 12 or not locales.get(options.locale).day_first):
                return None
        elif led and not (half or named or clock) and 1 <= hour <= 12 and at.time() != dt.time():
            said = near(TimeOfDay(hour, minute, "minute", None), at)
            if said is None:
                return dated, None, pos  # "move it to 4.30" after 09:00: which 4.30?
            hour = said.hour
        if half is not None:
            if hour == 0 or hour > 12:  # "16.30 pm": which?
                return dated, None, pos
            if says_tonight(half.group(0)) and another_day(at, reference):
                at = reference  # "5.30 tonight" of a payment agreed for Friday: today, as "9:30 tonight" is
            hour = on_the_half(hour, half)
            if hour is None:  # "9.30 in the afternoon"
                return dated, None, pos
        if named is not None and named[0] is None:  # "9.30 ist": which zone?
            return dated, None, pos
        said = TimeOfDay(hour, minute, "minute", named[0] if named is not None else None)
        return dated, self._ahead(at_the_time(at, said, zone), previous, reference), pos

    def _ahead(self, resolution: dict | None, previous: str, reference: dt.datetime | None) -> dict | None:
        """`resolution`, a time on the agreed day, unless it has passed and `previous`'s dates lie
        ahead: "make it 9.30" at 10:00 for a payment agreed for 11:00 today is no time to pay at
        (read back as 9:30 AM today, a backend would have paid at once); the date is asked."""
        if resolution is None or reference is None or previous in self.resolver.past_intents:
            return resolution
        return resolution if dt.datetime.fromisoformat(resolution["value"]) >= reference else None

    def _names_the_amount(self, text: str, slots: list[str], options: RequestOptions) -> bool:
        """Whether the turn speaks of the amount: names an amount slot ("change the amount to ...")
        or says the agreed amount's number ("no not 45, make it ...")."""
        words = set(vocab.WORD.findall(text.lower()))
        amounts = [s for s in slots if (self.resolver.specs.get(s) or {}).get("builtin") in AMOUNTS]
        if words & (vocab.AMOUNT_WORDS | set(phrases.slot_words(amounts))):
            return True
        carried = dict(options.filled_slots)
        numbers = [carried.get(slot, "").split(" ")[0] for slot in amounts]  # "45 USD" -> "45"
        return any(re.search(rf"(?<![\d.,]){re.escape(n)}(?:\.0+)?(?!\d|[.,]\d)", text) for n in numbers if n)

    def unread(self, text: str, entities: list[ResolvedEntity]) -> list[ResolvedEntity]:
        """The model's amounts, numbers and clock times that did not resolve: "make it two fifty"
        (2.50 or 250?), "make it 2:30am" on a night the clocks skip it. Refused like a date that lies
        behind: not the carried value either, so the slot is asked again (the turn was answered
        alone, as out of scope, and handed to a person)."""
        return [e for e in entities if e.source == "model" and not e.resolved
                and ((self.resolver.specs.get(e.type) or {}).get("builtin") in AMOUNTS
                     and not counts_a_pause(text, e.text, e.end)  # "actually, one | second": a pause, not an amount
                     or time_only(e.text) is not None
                     or DOTTED_DATE.search(e.text) is not None)]  # "make it 9.30 instead" kept the agreed 09:00

    def on_the_agreed_day(self, text: str, previous: str, entities: list[ResolvedEntity],
                           options: RequestOptions) -> list[ResolvedEntity]:
        """"make it 3pm" for a payment agreed for Friday is Friday at 3pm, not today (or Monday); a
        time the clocks skip that day ("make it 2:30am" on a spring-forward night) is unresolved.
        "no, the 8th" for a charge on October 5th is October 8th, not November's (a day of the
        month alone keeps the agreed month, where that day lies in the intent's direction). A day
        that has passed since is no agreed day (for `previous`, whose dates lie ahead)."""
        carried = dict(options.filled_slots)
        reference = self.resolver.reference_time(options)
        out, read_with = [], []  # (where a span ended, where the half of the day read with it ended)
        for e in entities:
            if (e.resolved and e.resolution.get("grain") == "day"
                    and (kept := the_agreed_time(carried.get(e.type), e.resolution["value"])) is not None):
                out.append(replace(e, resolution={"kind": "datetime", "value": kept, "grain": "minute"}))
                continue  # "yes friday" of a payment on Friday at 9am: Friday at 9am (it was midnight)
            its_day = False  # the day named is the agreed one
            if e.resolved and time_only(e.text) is not None and (day := day_named_before(text, e.start)) is not None:
                # "no, friday at 5pm" with the model's span "5pm": friday, not the agreed day
                named = self.resolver.resolve_value(e.type, text[day:e.end], reference, previous in
                                                    self.resolver.past_intents, locales.get(options.locale))
                its_day = named is not None and self._the_agreed_weekday(text[day:e.start], named, e.type, previous,
                                                                         options)
                if named is not None and not its_day:
                    out.append(replace(e, text=text[day:e.end], start=day, resolution=named))
                    continue
            time_said = e.text
            if (e.resolved and e.resolution.get("grain") != "day"  # "friday 18.12" in en-GB: Friday 18 December
                    and (whole := vocab.WEEKDAY_THEN_TIME.fullmatch(e.text.strip())
                         or vocab.TIME_THEN_WEEKDAY.fullmatch(e.text.strip())) is not None):
                # "make it friday at 5pm", all one span: the agreed Friday's weekday is that day too
                its_day = self._the_agreed_weekday(whole.group("day"), e.resolution, e.type, previous, options)
                time_said = ("" if whole.group("time").lower().startswith(("at ", "by ")) else "at ") + whole.group(
                    "time") if its_day else time_said  # "at 4.30": a time (alone, "4.30" is left to the date rules)
            # the agreed date, or the day said while its hour is asked ("tomorrow at five": "5pm" is
            # then), unless the turn names another ("no, today at 5pm" with the model's span "5pm")
            agreed = carried.get(e.type) or (carried.get(day_key(e.type)) if its_day or not names_a_day(text) else None)
            said = time_only(time_said) if agreed and e.resolved else None
            day_said = (day_of_month(e.text) if e.type in carried and e.resolved and said is None
                        and not names_a_month(text) else None)  # "no, the 8th this month": that month
            day = (self.resolver.resolve_carried(e.type, agreed, 1, previous, reference)
                   if said is not None or day_said is not None else [])
            if len(day) != 1 or day[0].get("kind") != "datetime":
                out.append(e)
                continue
            at = dt.datetime.fromisoformat(day[0]["value"])
            if said is not None and reference is not None and says_tonight(text) and not names_a_day(
                    vocab.TONIGHT.sub(" ", text)):  # "tonight at 7pm" (the model's span "7pm") of a payment on Friday
                at = reference  # is today's ("tonight? no, 7pm friday" is Friday's)
            zone = reference.tzinfo if reference is not None else at.tzinfo  # its offset may change that day
            if said is not None:  # on the agreed day, on the clock of the zone it names ("make it 4pm et")
                half = vocab.HALF_OF_DAY.match(text, e.end)  # "make it 9:30 | pm": the model's span without it
                twelve_hour = 1 <= said.hour <= 12 and not vocab.HALF_SAID.search(e.text) and not vocab.ZERO_LED.search(e.text)
                if half is not None and twelve_hour:
                    hour = on_the_half(said.hour, half)
                    said = None if hour is None else said._replace(hour=hour)  # "9:30 in the afternoon": which?
                    read_with.append((e.end, half.end()))
                elif twelve_hour and at.time() != dt.time() and said.zone is None:
                    said = near(said, at)  # "make it 8:30" after 21:00 is 20:30 (it was 08:30)
                resolution = None if said is None else self._ahead(at_the_time(at, said, zone), previous, reference)
                e = replace(e, resolved=resolution is not None, resolution=resolution)  # None: the clocks skip it
                if read_with and read_with[-1][0] == e.end:  # the time's words, with the half of the day
                    e = replace(e, end=read_with[-1][1], text=text[e.start:read_with[-1][1]])
            elif (value := self._that_month(at, day_said, zone, previous, reference)) is not None:
                grain = "day" if value.time() == dt.time() else "minute"  # the agreed time of day stays
                e = replace(e, resolution={"kind": "datetime", "value": value.isoformat(), "grain": grain})
            out.append(e)
        # what the model made of the half of the day read with a time ("9:30 | in the evening": a second date)
        return [e for e in out if not any(after <= e.start and e.end <= upto and e.start < upto
                                          for after, upto in read_with)]

    def hours_of_a_part_of_the_day(self, text: str, entities: list[ResolvedEntity], options: RequestOptions,
                                    previous: str) -> list[ResolvedEntity]:
        """The hour said right before a part of the day the model tagged, as an amount or not at all,
        in a turn that moves no money: "make it 8 | tonight", "make it 7 in the | evening" are 20:00
        and 19:00 (they were $8.00 tonight and $7.00 at the evening's 19:00). In a first turn it
        stays an amount ("I was charged 10 tonight"), as with a verb that moves money ("send 10
        tonight") or a currency ("make it $8 tonight")."""
        if vocab.MOVES_MONEY.search(text):
            return entities
        ordered = sorted(entities, key=lambda e: e.start)
        out: list[ResolvedEntity] = []
        for i, e in enumerate(ordered):
            hour = vocab.HOUR_BEFORE_PART_OF_DAY.search(text, 0, e.start)
            if (hour is None or (self.resolver.specs.get(e.type) or {}).get("builtin") != "datetime"
                    or not vocab.HOUR_THEN_PART_OF_DAY.fullmatch(text, hour.start(), e.end)):
                out.append(e)
                continue
            before = [o for o in ordered[:i] if o.end > hour.start()]  # what the model made of the hour
            if any((self.resolver.specs.get(o.type) or {}).get("builtin") not in AMOUNTS for o in before):
                out.append(e)
                continue
            said = text[hour.start():e.end]
            value = self.resolver.resolve_value(e.type, said, self.resolver.reference_time(options),
                                                previous in self.resolver.past_intents, locales.get(options.locale))
            if value is None:
                out.append(e)
                continue
            out = [o for o in out if o not in before]
            out.append(ResolvedEntity(e.type, said, hour.start(), e.end, e.confidence, e.source, True, value))
        return out

    def the_date_asked(self, text: str, spec: dict, slots: list[str], entities: list[ResolvedEntity],
                        options: RequestOptions, previous: str) -> list[ResolvedEntity]:
        """The turn's words, none a number, read whole as the date asked when the model tagged none:
        "right away" answering "When should the transfer happen?" (read as a yes, it was asked
        again, and again)."""
        asked = edits.slot_asked(spec, slots, options)
        if ((self.resolver.specs.get(asked or "") or {}).get("builtin") != "datetime"
                or any(e.type == asked for e in entities)):
            return []
        if any(c.isdigit() for c in words_to_digits(text.lower())) or days_refused(text):
            return []  # "5" answering which five? is asked again, never the 5th (numbers have rules of their own)
        reference = self.resolver.reference_time(options)
        past, locale = previous in self.resolver.past_intents, locales.get(options.locale)
        words = [(m.start(), m.end()) for m in vocab.TURN_WORD.finditer(text)]
        if len(words) > vocab.DATE_ASKED_WORDS:
            return []
        # the words whole, then without the fillers around them: "right away please", "do it right away"
        for lo, hi in sorted(((lo, hi) for lo in range(len(words)) for hi in range(lo + 1, len(words) + 1)),
                             key=lambda span: span[0] - span[1]):
            if (not all(phrases.filler(text[a:b]) for a, b in words[:lo] + words[hi:])
                    or all(phrases.filler(text[a:b]) for a, b in words[lo:hi])):
                continue
            start, end = words[lo][0], words[hi - 1][1]
            while end > start and text[end - 1] in vocab.EDGE_PUNCT:
                end -= 1
            value = self.resolver.resolve_value(asked, text[start:end], reference, past, locale)
            if value is not None:
                return [ResolvedEntity(asked, text[start:end], start, end, 1.0, "context", True, value)]
        return []

    def days_of_times_asked(self, refused: list[ResolvedEntity], previous: str,
                             options: RequestOptions) -> tuple[tuple[str, str], ...]:
        """("<slot>.day", the agreed date's day) for each agreed date whose new time is asked, the
        turn naming no day ("move it to 5.00" after 09:00: 05:00 or 17:00?): the answer "5pm" falls
        on that day (it fell on today)."""
        carried = dict(options.filled_slots)
        reference = self.resolver.reference_time(options)
        out = []
        for slot in dict.fromkeys(e.type for e in refused):
            if (self.resolver.specs.get(slot) or {}).get("builtin") != "datetime" or reference is None or (
                    day_key(slot) in carried):
                continue
            said = [e.text.strip() for e in refused if e.type == slot]
            agreed = self._agreed(slot, carried.get(slot), previous, options)
            if agreed is None or not all(a_time_of(s, agreed) for s in said):
                # "make it yesterday", "this morning" at noon: no day to keep; but "yes monday but at
                # 5" of a Friday keeps Monday (which five? the answer "5pm" fell on Friday, then today)
                if (day := self._weekday_of_an_hour(slot, said, previous, options)) is not None:
                    out.append((day_key(slot), day))
                continue
            at = agreed.astimezone(reference.tzinfo)
            midnight = wall_time(dt.datetime(at.year, at.month, at.day), reference.tzinfo, "day")
            if midnight is not None:
                out.append((day_key(slot), midnight.isoformat()))
        return tuple(out)

    def _weekday_of_an_hour(self, slot: str, said: list[str], previous: str, options: RequestOptions) -> str | None:
        """The day (ISO, at midnight) of a weekday said before an hour with no am/pm, when that is
        all the turn says of the date ("monday but at 5", "thursday at 10")."""
        whole = vocab.WEEKDAY_THEN_TIME.fullmatch(said[0]) if len(said) == 1 else None
        if whole is None or not an_hour(whole.group("time")):
            return None
        value = self.resolver.resolve_value(slot, whole.group("day"), self.resolver.reference_time(options),
                                            previous in self.resolver.past_intents, locales.get(options.locale))
        return value["value"] if value is not None and value.get("grain") == "day" else None

    def _agreed(self, slot: str, carried: str | None, previous: str, options: RequestOptions) -> dt.datetime | None:
        """A date carried for `slot` (agreed, or a day kept) read back; None when it reads as no date."""
        day = self.resolver.resolve_carried(slot, carried or "", 1, previous, self.resolver.reference_time(options))
        if len(day) != 1 or day[0].get("kind") != "datetime":
            return None
        return dt.datetime.fromisoformat(day[0]["value"])

    def agreed_day_refused(self, text: str, previous: str, slots: list[str], options: RequestOptions,
                            entities: list[ResolvedEntity]) -> str | None:
        """The date slot whose agreed day, or day kept, the turn refuses ("5pm, not tomorrow" after
        "tomorrow at five"; "5pm, not friday" of a payment agreed for Friday): that day is then no
        day to put a time on (the money moved on the day refused). Not when a date the turn gives
        names another day ("not tomorrow, wednesday at 5pm"): that one replaces it, as any value
        said beside another's "not" does; one the model did not tag ("not tomorrow, wednesday")
        is read by no rule, and the date is asked."""
        refused = days_refused(text)
        if not refused:
            return None
        if any(e.type in slots and e.resolved and time_only(e.text) is None and not after_not(text, e.start)
               and (self.resolver.specs.get(e.type) or {}).get("builtin") == "datetime" for e in entities):
            return None
        reference = self.resolver.reference_time(options)
        carried = dict(options.filled_slots)
        past = previous in self.resolver.past_intents
        locale = locales.get(options.locale)
        for slot in slots:
            if (self.resolver.specs.get(slot) or {}).get("builtin") != "datetime":
                continue
            agreed = self._agreed(slot, carried.get(slot) or carried.get(day_key(slot)), previous, options)
            if agreed is None:
                continue
            day = agreed.date()
            for words in refused:
                said = self.resolver.resolve_value(slot, words, reference, past, locale)
                if said is None or said.get("kind") != "datetime":
                    continue
                named = dt.datetime.fromisoformat(said["value"]).date()
                if named == day or vocab.WEEKDAY_WORDS.fullmatch(words) and named.weekday() == day.weekday():
                    return slot  # "not friday" of Friday the 18th
        return None

    def _the_agreed_weekday(self, words: str, named: dict, slot: str, previous: str, options: RequestOptions) -> bool:
        """Whether the day named before a time is a weekday, the agreed date's own ("no, friday at
        5pm" for a payment agreed for Friday the 18th: that Friday, it was the 11th; one agreed for
        next Friday said on a Friday was paid today)."""
        if vocab.WEEKDAY_WORDS.fullmatch(words.strip(" ,")) is None:
            return False
        carried = dict(options.filled_slots)
        agreed = self._agreed(slot, carried.get(slot) or carried.get(day_key(slot)), previous, options)
        if agreed is None or named.get("kind") != "datetime":
            return False
        return agreed.weekday() == dt.datetime.fromisoformat(named["value"]).weekday()

    def _that_month(self, at: dt.datetime, day: int, zone, previous: str,
                    reference: dt.datetime | None) -> dt.datetime | None:
        """The `day`th of the agreed date's month, at its time of day, when that month has one and it
        lies in `previous`'s direction from today (else None: the day's own reading stands)."""
        try:
            naive = at.replace(tzinfo=None, day=day)
        except ValueError:  # "the 31st" of November
            return None
        value = wall_time(naive, zone, "minute")
        if value is None or reference is None:
            return None
        past = previous in self.resolver.past_intents
        today = reference.date()
        return value if (value.date() <= today if past else value.date() >= today) else None
