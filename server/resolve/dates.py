"""Dates and times: text -> ISO 8601 value (in the request's time zone) + grain.

Two tiers:
1. A fast path for the expressions people actually say to a bank ("today", "next friday",
   "in 3 days", "the 3rd", "March 5", "3pm tomorrow", "2026-12-04", "end of the month",
   public holidays, "10 days after the 15th" ...): a few regexes and date arithmetic, microseconds per call.
2. dateparser for everything else, English only, input bounded to MAX_INPUT code points, with
   PREFER_DATES_FROM=future, RELATIVE_BASE and the request's TIMEZONE, behind an LRU cache keyed
   by (folded text, reference minute, time zone). It is warmed up at start (its first call costs
   ~150 ms: it compiles its language data), so no request pays that.

A date that falls outside the years 1..9999 ("tomorrow" said on 9999-12-31, a reference time at
the range's edge) is unresolved, never an exception: date arithmetic there raises OverflowError or
ValueError, and a request must not fail for it.

Conventions (documented in docs/resolution.md): "<weekday>" and "this <weekday>" are the next such
day on or after the reference day; "next <weekday>" the first one strictly after it; "last
<weekday>" the most recent one strictly before it. A year-less date is the next one on or after
today; a year of two digits is the one within 50 years of today's. A weekday said with a date must
agree with it. A count from a date counts from that date. Values are the start of their grain
("next week" = its Monday 00:00). Hours and minutes from now ("in 2h", "90 minutes ago") count real
time across a change of the clocks; days and longer count calendar days. What names no one date is
unresolved, never read in part: an hour without am/pm ("at 5", "tomorrow 10"), a bound ("before the
15th"), midnight with a day, a time of day the clocks skip ("2:30am" on a spring-forward night; in a
repeated hour a time is the first of the two), a dotted date in a month-first locale ("04.12.2026"
in en-US).
"""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
import re
from functools import lru_cache
from typing import Iterator, NamedTuple
from zoneinfo import ZoneInfo

from dateutil.easter import easter

from .numbers import category_class, words_to_digits

MAX_INPUT = 48  # code points handed to dateparser; longer spans are not one date
CACHE_SIZE = 4096

WEEKDAYS = {"mon": 0, "tue": 1, "tues": 1, "wed": 2, "weds": 2, "thu": 3, "thur": 3, "thurs": 3, "fri": 4,
            "sat": 5, "sun": 6, "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4,
            "saturday": 5, "sunday": 6}
MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
MONTHS.update({"sept": 9})
PART_OF_DAY = {"morning": 9, "afternoon": 15, "evening": 19, "night": 20, "tonight": 20}

_WD = "(?P<wd>" + "|".join(sorted(WEEKDAYS, key=len, reverse=True)) + r")s?"
_MON = "(?P<mon>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_THE_DAY = r"(?:the\s+)?" + _DAY  # a day of the month alone: "the 5th", "5"
_DAY_ALONE = re.compile(_THE_DAY)
_YEAR = r"(?:,?\s*(?P<year>\d{4}|'\d{2}))?"  # "2027", "'27": a year written as one
# after a day and a month name ("4 dec 26", the British written form), two digits that cannot be an hour
# are a year too; "4 dec 10" may be 10 o'clock, and "dec 4 26" could be a list or the hour that follows
_YEAR_AFTER_MONTH = r"(?:,?\s*(?P<year>\d{4}|'\d{2}|2[4-9]|[3-9]\d))?"
_N = r"(?P<n>\d+|a|an|one|a couple of|a few)"
_CALENDAR_UNIT = r"(?P<unit>day|week|wk|month|year|yr)s?"  # counted on the calendar: "in 3 days" is a day
_CLOCK_UNIT = r"(?P<unit>minute|min|hour|hr)s?"  # counted in real time, across a change of the clocks


def _counts(unit: str) -> list[tuple[re.Pattern, str]]:
    """A count of `unit`s from now: "in 3 days", "3 days from today", "3 days later" ("in"), "3 days ago"."""
    return [(re.compile(r"in\s+" + _N + r"\s+" + unit + r"(?:\s+(?:from\s+)?(?:now|today|time))?"), "in"),
            (re.compile(_N + r"\s+" + unit + r"\s+(?:from\s+(?:now|today)|later)"), "in"),
            (re.compile(_N + r"\s+" + unit + r"\s+ago"), "ago")]


MAX_YEARS_AWAY = 100  # from the request's year: a date further off is a number misread as a year
WEEKDAY_DATE_TRIES = 2  # "Monday the 5th": the next two 5ths (the last two, for the past) that may be a Monday
_TIME_GRAINS = ("hour", "minute", "second")  # a time of day, not a day or longer
_NUDGE = dt.timedelta(minutes=1)  # how far dateparser's reference is moved to see whether its answer moves with it
# an hour said in words before am/pm, "o'clock" or a part of the day ("five pm", "seven o'clock",
# "eight tonight"): read in digits, as "5 pm" is ("five pm" after a payment agreed for Friday was
# today at 5pm; "at five pm" $5); "one" only before am/pm or "o'clock" ("the one this morning" points)
_SPOKEN_HOUR = re.compile(r"\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
                          r"(?:\s+(oh\s+five|ten|fifteen|twenty(?:[\s-]five)?|thirty(?:[\s-]five)?|forty(?:[\s-]five)?"
                          r"|fifty(?:[\s-]five)?))?(?=\s*(?:a\.?m\.?|p\.?m\.?|o'?\s?clock)(?!\w)"
                          r"|(?<!\bone)\s+(?:tonight|(?:this|in\s+the|at|tomorrow)\s+"
                          r"(?:morning|afternoon|evening|night))\b)")
_MINUTES = {"oh five": "05", "ten": "10", "fifteen": "15", "twenty": "20", "twenty five": "25", "thirty": "30",
            "thirty five": "35", "forty": "40", "forty five": "45", "fifty": "50", "fifty five": "55"}
_HOURS = {w: str(i) for i, w in enumerate("one two three four five six seven eight nine ten eleven twelve".split(), 1)}
# an hour without am/pm ("at 5"; "at 12 noon" says it)
_O_CLOCK = re.compile(r"\b\d{1,2}\s*o'?\s?clock\b(?!\s*(?:in\s+the\s+)?(?:a\.?m|p\.?m|morning|afternoon|evening|tonight))")
_BARE_HOUR = re.compile(r"\bat\s+(?!12\s+(?:noon|midnight))\d{1,2}\b(?!\s*(?:[:.]\d|a\.?m\b|p\.?m\b|o'?clock))")
_ALL_DIGITS = re.compile(r"(?:at\s+)?[\d/.\-: ]+")  # numbers and separators only, maybe after "at"
_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}t\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:z|[+-]\d{2}:?\d{2})?")
# the stems of the number and ordinal words ("nine", "ninth", "nineteenth"; "twelfth", "thirtieth")
_NUMBER_WORD = re.compile(r"\b(?:one|two|thr|thir|four|fiv|fif|six|seven|eigh|nin|ten|eleven|twel|twent|first|second"
                          r"|couple)")
# A number dateparser may read as a year or a month ("the 20th 45": 2045; "the 3rd 25": March 25): digits
# that are not a year as written ("2027", "'27"), a time ("10am", "10:30"), a count ("2 weeks") or an ordinal
_LOOSE_NUMBER = re.compile(r"(?<![\w'/.:])\d{1,3}(?![\w/.:])(?!\s*(?:a\.?m\b|p\.?m\b|o'?clock|(?:second|sec|minute"
                           r"|min|hour|hr|day|business day|week|wk|fortnight|month|year|yr)s?\b))")
_ORDINAL = re.compile(r"\b\d{1,2}(?:st|nd|rd|th)\b")
_YEAR_ALONE = re.compile(r"\b\d{4}\b")
_MONTH_NAME = re.compile(r"\b" + _MON + r"(?!\w)")
_MONTH_WORD = re.compile(r"\bmonth\b")
_TRAILING = re.compile(r"\s+(?:on|at|of)$")  # "the 1st of" (a span cut before "every month")
_LEAD = re.compile(r"^(?:(?:around|about|approximately|roughly)\s+)?(?:on|by|for|at|from|until|till|starting|due)\s+"
                   r"|^(?:around|about|approximately|roughly)\s+")
# "before the 15th": any day until then, not the 15th; "2 days after": after what? (dateparser: in 2 days)
_BOUND = re.compile(r"^(?:before|after)\s|\s(?:before|after)$")
# Texts that name no date, whatever dateparser makes of them: a length of time with no direction
# ("two seconds", "a week": "in a week" and "a week ago" are dates; it read "one sec" as a second
# from now, so "give me one sec" moved a transfer), an amount ("$12.75": December 2075), and
# words of one or two letters alone ("a", "an": January; "we": Wednesday); a length written short too
# ("5m", "1h30m", "2 hrs": "make it 5m" moved a transfer's date to five minutes from now)
_DURATION = re.compile(_N + r"\s+(?:second|sec|moment|minute|min|hour|hr|day|week|wk|fortnight|month|year|yr)s?"
                       r"|(?:\d+\s*(?:h|hrs?|m|mins?|s|secs?|d|w|wks?)\s*)+")
_CURRENCY_SIGN = re.compile(category_class("Sc"))
_SHORT_WORDS = re.compile(r"[^\W\d_]{1,2}(?:\s+[^\W\d_]{1,2})*")
_TIME = re.compile(  # "by 5 pm" is a deadline on that day: read as the time itself
    r"(?:\b(?:at|by)\s+)?(?:(?P<h>\d{1,2})(?::(?P<m>\d{2}))?\s*(?P<ampm>a\.?m\.?|p\.?m\.?)(?!\w)"
    r"|(?P<h24>\d{1,2}):(?P<m24>\d{2})(?!\d)|(?:\b12\s+)?\b(?P<word>noon|midday|midnight))"
)
# "in the morning", "the morning of [the 4th]"
_POD = re.compile(r"\b(?:in\s+the\s+|at\s+|the\s+(?=\w+\s+of\s))?(?P<pod>morning|afternoon|evening|night)"
                  r"(?:\s+of(?=\s))?\b|\btonight\b")
# a bare hour beside a part of the day ("8 tonight", "9 tomorrow morning", "7 in the evening"):
# the part of the day says am or pm; the hours each one allows
_POD_HOUR = re.compile(r"(?:^|\s)(?:at\s+)?(?P<h>\d{1,2})(?::(?P<m>[0-5]\d))?(?:\s+o'?clock)?(?=\s|$)")
_POD_HOURS = {"morning": range(5, 12), "afternoon": range(12, 19), "evening": range(17, 24), "night": range(18, 24),
              "tonight": range(17, 24)}
# The words beside a bare number that make it a time or a count, not a day of the month: before it
# ("half past | 2", "quarter to | 3", "ten to | 5", "at | 5", "3 hours and | 30", "in | 2 and a half hours";
# "change it to | 15", "the 1st and | 15" and "from 5 to | 15" are days), or after it (a unit, "o'clock", am/pm, "and a half", a clock's or a
# decimal's digits: "5 | o'clock", "3h | 30 | m")
_BARE_NUMBER = re.compile(r"\d{1,2}")
_CLOCK_OR_COUNT_BEFORE = re.compile(
    r"\b(?:past|at|in|half|(?:hours?|hrs?|h|minutes?|mins?|days?|weeks?)\s+and"
    r"|(?:(?:quarter|five|ten|twenty)(?:\s+minutes?)?|\d{1,2}\s+minutes?)\s+to)\s+$", re.IGNORECASE)
_CLOCK_OR_COUNT_AFTER = re.compile(
    r"[:.]\d|\s*(?:o['’]?\s?clock|[ap]\.?m\b|and\s+a\s+half\b"
    r"|(?:h|hr|hour|m|min|minute|s|sec|second|d|day|week|wk|fortnight|month|year|yr)s?\b)", re.IGNORECASE)
_BESIDE_CHARS = 20  # the few characters before a number that the words above can take

# a time written with a dot, the British way ("at 12.30", "tonight 9.30", "3.15pm"): read as one
# written with a colon (dateparser dropped it, and kept the reference's clock: "tonight at 9.30"
# was now). A time by what is beside it: "at"/"by" before it, am/pm after it, or a day or a part of
# the day beside it; "12.30" alone may be a day-first date. `_dotted_times` reads them.
_DAY_WORDS = (r"(?:today|tonight|tomorrow|tmrw|morning|afternoon|evening|night|"
              + "|".join(sorted(WEEKDAYS, key=len, reverse=True)) + r")s?")
_DOTTED_NUMBER = re.compile(r"(?<![\d.:])\d{1,2}\.\d{1,2}(?![\d:])")  # "14.12", "10.15": a date or a time
_A_DAY_WORD = re.compile(r"\b" + _DAY_WORDS + r"\b")
_DOTTED_TIME = re.compile(
    r"(?P<at>\b(?:at|by)\s+|\b" + _DAY_WORDS + r"\s+(?:the\s+)?)?(?<![\d.:])(?P<h>\d{1,2})\.(?P<m>[0-5]\d)(?![\d.])"
    r"(?P<ampm>\s*[ap]\.?m\b)?(?P<day>\s+" + _DAY_WORDS + r"\b)?")
# a time on a 24-hour clock written without its colon ("tomorrow at 1530"): dateparser kept the day
# and dropped the time ("by 2027" is a year)
_MILITARY = re.compile(r"\b(?:at\s+\d{3,4}|by\s+(?!(?:19|20)\d\d\b)\d{3,4})\b(?!\s*[ap]\.?m\b)")
# dateparser's reading that moves with the reference is a count from now ("in 2h", "3 hours ago
# today"); one with no clock unit in the text is dateparser keeping the reference's clock for a
# time it could not read, which the resolver must not return as the time said
_CLOCK_COUNT = re.compile(r"\d\s*(?:h|hrs?|m|mins?|s|secs?)\b|\b(?:hours?|minutes?|seconds?)\b")
# a time zone named after a time ("3pm pst", "15:00 utc", "3 pm eastern time"): the zone it names,
# or None where the abbreviation names several (IST: India, Ireland, Israel). "central", "eastern",
# "pacific" and "mountain" alone count only last or before "time" ("3pm central hudson" is a payee)
ZONE_WORDS = {
    **dict.fromkeys(("pst", "pdt", "pt", "pacific", "pacific time"), "America/Los_Angeles"),
    **dict.fromkeys(("mst", "mdt", "mt", "mountain", "mountain time"), "America/Denver"),
    **dict.fromkeys(("cst", "cdt", "ct", "central", "central time"), "America/Chicago"),
    **dict.fromkeys(("est", "edt", "et", "eastern", "eastern time"), "America/New_York"),
    **dict.fromkeys(("akst", "akdt", "alaska time"), "America/Anchorage"),
    **dict.fromkeys(("hst", "hawaii time"), "Pacific/Honolulu"),
    **dict.fromkeys(("utc", "gmt"), "UTC"),
    **dict.fromkeys(("bst", "uk time", "london time"), "Europe/London"),
    **dict.fromkeys(("cet", "cest"), "Europe/Berlin"),
    **dict.fromkeys(("eet", "eest"), "Europe/Helsinki"),
    **dict.fromkeys(("jst",), "Asia/Tokyo"),
    **dict.fromkeys(("aest", "aedt"), "Australia/Sydney"),
    **dict.fromkeys(("ist", "sst", "ast", "gst"), None),
    **dict.fromkeys(("z", "zulu"), None),  # UTC to a pilot; a stray letter to others: asked, not the caller's clock
}
_REGIONS = ("pacific", "mountain", "central", "eastern")
_ZONE = ("(?:" + "|".join(sorted((re.escape(z).replace(r"\ ", r"\s+") for z in ZONE_WORDS if z not in _REGIONS),
                                 key=len, reverse=True))
         + "|(?:" + "|".join(_REGIONS) + r")(?=\s*(?:$|[,.;:!?)])))")
_AFTER_TIME = r"(?:\d\s*[ap]\.?m\.?|\d:\d\d|\bnoon|\bmidday|\bmidnight)"
ZONE_AFTER_TIME = re.compile(r"(?P<time>" + _AFTER_TIME + r")\s*(?:\(\s*)?(?P<zone>" + _ZONE + r")\b\)?")
_ENDS_WITH_TIME = re.compile(_AFTER_TIME + r"\.?\s*$", re.IGNORECASE)
_TIME_SAID = r"(?:" + _AFTER_TIME + r"|\d\.[0-5]\d)"  # and a dotted one, before _dotted_times reads it
# a region word after a time, also in brackets or after a full stop ("15.30 (pacific)", "3pm. pacific")
_REGION_WORD = r"\.?\s*\(?\s*(?:" + "|".join(_REGIONS) + r")\s*\)?"
_REGION_LAST = re.compile(_TIME_SAID + _REGION_WORD + r"$", re.IGNORECASE)
_ENDS_WITH_TIME_SAID = re.compile(_TIME_SAID + r"\.?\s*$", re.IGNORECASE)
_REGION_THEN_A_WORD = re.compile(_AFTER_TIME + r"\s*(?:" + "|".join(_REGIONS) + r")\s+(?!time\b)[^\W\d_]")
_REGION_NEXT_THEN_A_WORD = re.compile(_REGION_WORD + r"\s+(?!time\b)[^\W\d_]", re.IGNORECASE)
_A_WORD_NEXT = re.compile(r"\s+(?!time\b)[^\W\d_]", re.IGNORECASE)
_ZONE_NEXT = re.compile(r"\s*(?:\(\s*)?" + _ZONE + r"\b\)?", re.IGNORECASE)

# a numeric date written with dots ("04.12.2026", "4.12."): day first, and no form en-US writes
DOTTED_DATE = re.compile(r"\d{1,2}\.\d{1,2}(?:\.(?:\d{4}|\d{2})|\.)?")

_RULES: list[tuple[re.Pattern, str]] = [
    (re.compile(r"(?:right\s+)?now|immediately|asap|as\s+soon\s+as\s+possible|(?:right|straight)\s+away"), "now"),
    (re.compile(_WD + r"\s+(?P<rest>(?:the\s+)?\d.*|[a-z]{3,9}\.?\s+\d.*)"), "weekday_date"),
    (re.compile(r"(?:earlier\s+|later\s+)?today|this\s+day"), "today"),
    (re.compile(r"tomorrow|tmrw|tmr|tomorow|tommorow|tommorrow"), "tomorrow"),
    (re.compile(r"(?:tomorrow|tmrw|" + _WD + r")\s+week"), "week_after"),  # British: a week after it
    (re.compile(r"yesterday"), "yesterday"),
    (re.compile(r"last\s+night"), "last_night"),
    (re.compile(r"(?:(?P<rel>this\s+coming|this|next|coming|last|past|previous)\s+)?" + _WD), "weekday"),
    *_counts(_CALENDAR_UNIT),
    (re.compile(r"(?:the\s+)?(?:day|" + _WD + r")\s+(?P<dir>after|before)\s+(?P<rest>.+)"), "anchored"),
    (re.compile(_N + r"\s+(?P<unit>day|week)s?\s+(?P<dir>after|before|from)\s+(?P<rest>.+)"), "anchored"),
    (re.compile(r"(?P<rel>this|next|last|previous|the\s+following)\s+(?P<period>week|month|year)"), "period"),
    (re.compile(r"(?:the\s+|this\s+|next\s+)?weekend"), "weekend"),
    (re.compile(r"(?:the\s+)?(?:very\s+)?(?P<edge>end|beginning|start|last\s+day|(?:first|1st)\s+day)\s+of\s+(?:the\s+|this\s+)?"
                r"(?P<period>week|month|year)"), "edge"),
    (re.compile(r"(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})"), "iso"),
    (re.compile(r"(?P<a>\d{1,2})[/.](?P<b>\d{1,2})(?:[/.](?P<y>\d{4}|\d{2})|\.)?"), "numeric"),  # "4.12." too
    (re.compile(r"(?:the\s+)?" + _DAY + r"\s+(?:of\s+)?" + _MON + _YEAR_AFTER_MONTH), "day_month"),
    (re.compile(_MON + r"\s+(?:the\s+)?" + _DAY + _YEAR), "day_month"),
    (re.compile(_THE_DAY + r"(?:\s+of\s+(?:the|this|next)\s+month)?"), "day_of_month"),
    (re.compile(r"(?:in\s+|next\s+|this\s+)?" + _MON + _YEAR), "month"),
    (re.compile(r"(?:in\s+)?(?P<year>20\d\d)"), "year"),
    (re.compile(r"(?P<holiday>christmas eve|christmas(?: day)?|xmas|new year'?s eve|new year'?s(?: day)?"
                r"|thanksgiving(?: day)?|memorial day|labou?r day|independence day|good friday|easter(?: sunday)?"
                r"|valentine'?s(?: day)?|halloween|juneteenth)"), "holiday"),
]


class NoSuchTime(ValueError):
    """An expression that names no time ("2 in the evening"): unresolved, not handed on to dateparser."""


class DateResolver:
    def warm_up(self) -> None:
        """Import dateparser and pay its first-call cost now, not in a request."""
        ref = dt.datetime(2026, 11, 29, 12, 0, tzinfo=ZoneInfo("UTC"))
        for text in ("next friday", "3pm tomorrow", "the 3rd of march", "in two weeks", "dec 4th at noon"):
            self._dateparser(text, ref.replace(tzinfo=None), "UTC")
        self.resolve("in 3 days", ref)

    def resolve(self, text: str, reference: dt.datetime, past: bool = False, day_first: bool = False) -> dict | None:
        """`reference` is aware and already in the request's time zone. `past`: the intent talks
        about what happened (a disputed charge "from friday"), so an expression without its own
        direction ("friday", "the 12th", "March 5", "January") means the latest one not after today.
        `day_first`: the request's locale writes numeric dates day first ("4/12" is 4 December)."""
        t = " ".join(text.lower().replace("’", "'").split()).strip(" ,.!?")
        if not t or len(t) > MAX_INPUT:
            return None
        t = _dotted_times(spoken_hours(t), day_first)
        if t is None or _REGION_THEN_A_WORD.search(t):  # "3pm central hudson": a zone, or a payee's name?
            return None
        try:
            if _ISO_DATETIME.fullmatch(t):  # a canonical value we returned earlier
                return _iso_datetime(t, reference.tzinfo)
            zoned = ZONE_AFTER_TIME.search(t)
            if zoned is not None:
                return self._in_zone(t, zoned, reference, past, day_first)
            # The zone is part of the key: aware datetimes of one instant compare (and hash) equal.
            local = reference.replace(second=0, microsecond=0)
            # `fold` apart: the two 01:30s of a repeated hour compare (and hash) equal
            found = _resolve_cached(self, t, local.replace(tzinfo=None), reference.tzinfo, past, day_first,
                                    reference.fold)
        except (OverflowError, ValueError):  # past year 9999 or before year 1: no such date
            return None
        return dict(found) if found is not None else None

    def _in_zone(self, t: str, zoned: re.Match, reference: dt.datetime, past: bool, day_first: bool) -> dict | None:
        """A time said in a zone it names ("tomorrow at 3pm pst"): read in that zone, given in the
        request's. dateparser honoured the zone in some wordings only ("3pm pst" was 18:00 in New
        York, "tomorrow at 3pm pst" 15:00). An abbreviation of several zones (IST) is unresolved."""
        name = ZONE_WORDS.get(" ".join(zoned.group("zone").split()))
        if name is None:
            return None
        rest = " ".join((t[: zoned.start("zone")] + t[zoned.end():]).split())
        if ZONE_AFTER_TIME.search(rest):  # two zones
            return None
        zone = ZoneInfo(name)
        # "3pm pst": the next 3pm on that zone's clock; "tomorrow at 3pm pst": the caller's tomorrow
        # (near midnight the zones' days differ), 3pm there
        alone = time_only(rest) is not None
        found = self.resolve(rest, reference.astimezone(zone) if alone else reference, past, day_first)
        if found is None or found["grain"] not in _TIME_GRAINS:
            return None
        value = dt.datetime.fromisoformat(found["value"])
        if not alone:
            value = wall_time(value.replace(tzinfo=None), zone, found["grain"])
            if value is None:  # a time that zone's clocks skip that day
                return None
        return {**found, "value": value.astimezone(reference.tzinfo).isoformat()}

    def _dateparser(self, text: str, ref: dt.datetime, tz_name: str,
                    past: bool = False, day_first: bool = False) -> tuple[dt.datetime, str] | None:
        """dateparser's reading of `text` from the naive local `ref`, as (naive local value, grain).
        It counts "in 2h" or "3 hours ago today" on the wall clock (03:30 for "in 2h" at 01:30 on a
        spring-forward night): a time that moves with the reference is such a count, and is counted
        again in real time, to the minute, as `_elapsed` counts "in 2 hours"; its fold says which of
        a repeated hour's two readings it is. A time of day ("tomorrow at 2:30am") stays on the clock."""
        found = _dateparser_reading(text, ref, tz_name, past, day_first)
        if found is None:
            return None
        value, period = found
        if period in ("time", "part_of_day"):
            nudged = _dateparser_reading(text, ref + _NUDGE, tz_name, past, day_first)
            if nudged is not None and nudged[0] - value == _NUDGE:
                if period != "time" or not _CLOCK_COUNT.search(text):  # the reference's clock, for a time it did not read
                    return None
                real = _real_time(ref, value - ref, ZoneInfo(tz_name)).replace(tzinfo=None)
                return real, "second" if real.second else "minute"
        if period in ("time", "part_of_day"):
            grain = "second" if value.second else ("minute" if value.minute else "hour")
            return value, grain
        if period == "month":
            return value.replace(day=1, hour=0, minute=0, second=0), "month"
        if period == "year":
            return value.replace(month=1, day=1, hour=0, minute=0, second=0), "year"
        return _day(value.date()), "day"


def _dateparser_reading(text: str, ref: dt.datetime, tz_name: str, past: bool,
                        day_first: bool) -> tuple[dt.datetime, str] | None:
    """dateparser's (naive value, period) for `text` from `ref`, or None."""
    from dateparser.date import DateDataParser  # imported (and warmed) in warm_up

    parser = DateDataParser(languages=["en"], settings={
        "PREFER_DATES_FROM": "past" if past else "future", "RETURN_TIME_AS_PERIOD": True, "RELATIVE_BASE": ref,
        "TIMEZONE": tz_name, "RETURN_AS_TIMEZONE_AWARE": False, "PREFER_DAY_OF_MONTH": "first",
        "DATE_ORDER": "DMY" if day_first else "MDY"})
    data = parser.get_date_data(text)
    if data is None or data.date_obj is None:
        return None
    return data.date_obj.replace(tzinfo=None, microsecond=0), data.period or "day"


def _iso_datetime(text: str, tz) -> dict | None:
    try:
        value = dt.datetime.fromisoformat(text.upper())
    except ValueError:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(tz)
    midnight = (value.hour, value.minute, value.second) == (0, 0, 0)
    grain = "day" if midnight else ("second" if value.second else "minute")
    if value.tzinfo is None:
        value = wall_time(value, tz, grain)
        if value is None:  # "2026-03-08T02:30:00" in New York: no clock shows it
            return None
    return {"kind": "datetime", "value": value.replace(microsecond=0).isoformat(), "grain": grain}


@lru_cache(maxsize=CACHE_SIZE)
def _resolve_cached(resolver: DateResolver, text: str, ref: dt.datetime, tz: dt.tzinfo,
                    past: bool = False, day_first: bool = False, fold: int = 0) -> dict | None:
    """Keyed by (folded text, naive local reference minute, zone, direction, date order, which of
    a repeated hour's two readings the reference is): no resolution depends on seconds."""
    ref = ref.replace(fold=fold)
    counted = words_to_digits(text) if _NUMBER_WORD.search(text) else text  # not "a second": "a 2nd"
    if (_BARE_HOUR.search(text) or _BARE_HOUR.search(counted)) and not _POD.search(text):
        return None  # "at 5", "friday at five": an hour without am/pm was read as the 5th, or May
    if _BOUND.search(text) or _MILITARY.search(text):
        return None  # a bound on the date, not the date, or a count from no date; "at 1530"
    if (_DURATION.fullmatch(text) or _DURATION.fullmatch(counted) or _SHORT_WORDS.fullmatch(text)
            or _CURRENCY_SIGN.search(text)):
        return None
    elapsed = _elapsed(text, ref, tz)
    if elapsed is not None:
        return elapsed
    found = fast_path(text, ref, past, day_first)
    if found is None and (_ALL_DIGITS.fullmatch(text) or _stray_number(counted)):
        return None  # "11/31", "2/29" with no such day, "1530", "dec 4 10": dateparser would read a year into it
    if found is None:
        found = resolver._dateparser(text, ref, getattr(tz, "key", "UTC"), past, day_first)
        if found is not None and _misreads_ordinal(text, found[0], ref.date(), past):
            return None
    if found is None:
        return None
    value, grain = found
    if abs(value.year - ref.year) > MAX_YEARS_AWAY:  # "at 1530" read as the year 1530
        return None
    at = wall_time(value, tz, grain)
    return None if at is None else {"kind": "datetime", "value": at.isoformat(), "grain": grain}


def region_then_a_word(text: str, start: int, end: int) -> bool:
    """Whether the date span text[start:end] ends with a time and a region word ("tomorrow at
    3pm central") that another word follows in the request, not "time" ("| hudson", "| for the
    rent"): the zone of the time, or the first word of a payee? The span alone cannot tell (a
    region is a zone only last or before "time", ZONE_WORDS), so the date is asked: read as a zone
    it was Central time for the "central hudson" utility, without it 3pm New York for "3pm
    pacific for the rent"."""
    m = _REGION_LAST.search(text, start, end)
    if m is not None and m.end() == end:
        return _A_WORD_NEXT.match(text, end) is not None
    # the span may end at the time, the region word outside it: "tomorrow at 3pm | central hudson"
    return (_ENDS_WITH_TIME_SAID.search(text, start, end) is not None
            and _REGION_NEXT_THEN_A_WORD.match(text, end) is not None)


def zone_at(text: str, pos: int) -> tuple[str | None, int] | None:
    """(the IANA zone, where its words end) when a time zone is named at `pos` ("9.30 | eastern",
    "9.30 | (pst)"): None for the zone of an abbreviation of several ("ist"); None when none is."""
    m = _ZONE_NEXT.match(text, pos)
    if m is None:
        return None
    return ZONE_WORDS.get(" ".join(m.group(0).strip(" ()").lower().split())), m.end()


def zone_after(text: str, start: int, end: int) -> int | None:
    """Where the time zone named right after the date span text[start:end] ends, when the span ends
    with a time ("tomorrow at 3pm | pst", the zone tagged as something else or nothing): read
    without it, the time was the request's zone's, hours off."""
    if not _ENDS_WITH_TIME.search(text, start, end):
        return None
    m = _ZONE_NEXT.match(text, end)
    return None if m is None else m.end()


def clock_or_count(text: str, start: int, end: int) -> bool:
    """Whether the model's date span text[start:end], a bare number (no "the", ordinal suffix or
    month: "2", "two"), is a time or a count by the words beside it in `text` ("half past | 2",
    "in 3 hours and | 30 | minutes", "at | 5 | o'clock"): then it is no day of the month (the 2nd,
    the 30th), and the slot asks again. Alone or with nothing of a clock beside it ("15" answering
    "when?", "on 5") it is the day."""
    number = text[start:end].strip().lower()
    if not _BARE_NUMBER.fullmatch(words_to_digits(number) if _NUMBER_WORD.search(number) else number):
        return False
    return bool(_CLOCK_OR_COUNT_BEFORE.search(text, max(0, start - _BESIDE_CHARS), start)
                or _CLOCK_OR_COUNT_AFTER.match(text, end))


def _stray_number(t: str) -> bool:
    """Whether `t` (a text the fast path did not read, its number words as digits) holds a number
    that is no year, time or count ("the 3rd 25", "dec 4 10", "june 45"; "tomorrow 10", "5 on
    friday": an hour without am/pm, as "at 5"), two days ("the 1st and 15th": a list or a
    recurrence, not one date) or a day and a year with no month ("the 10th 2030"): dateparser reads
    such a number as a year or a month (2030-11-15 for "the 15th and 30th", October 2030 for "the
    10th 2030") or drops it ("tomorrow 10": tomorrow)."""
    if _LOOSE_NUMBER.search(t):
        return True
    years = 0 if _MONTH_NAME.search(t) else len(_YEAR_ALONE.findall(t))
    return len(_ORDINAL.findall(t)) + years > 1


def _misreads_ordinal(text: str, value: dt.datetime, today: dt.date, past: bool) -> bool:
    """Whether dateparser's `value` contradicts the one ordinal day `text` writes: it reads "the 4th" in
    words it does not know as April ("on the 4th after 5pm": 2027-04-29). The 4th is day 4, and with no
    month named, of one of the next two months that have it (the last two, for the past)."""
    ordinals = _ORDINAL.findall(text)
    if len(ordinals) != 1:
        return False
    day = int(ordinals[0][:-2])
    if value.day != day:
        return True
    return not _MONTH_NAME.search(text) and value.date() not in itertools.islice(_days_of_month(day, today, past), 2)


_ELAPSED = _counts(_CLOCK_UNIT)


def _elapsed(text: str, ref: dt.datetime, tz: dt.tzinfo) -> dict | None:
    """"in 2 hours", "90 minutes ago", "in 2 hours from today": real time elapsed, counted across a
    daylight-saving change (2 hours after 01:30 on a spring-forward night is 04:30 on the clock, not 03:30)."""
    t = _LEAD.sub("", text)
    if _NUMBER_WORD.search(t):
        t = words_to_digits(t)
    for regex, kind in _ELAPSED:
        m = regex.fullmatch(t)
        if m is None:
            continue
        n = _n(m)
        if n > 10_000:
            return None
        unit = "minutes" if m.group("unit").startswith("min") else "hours"
        value = _real_time(ref, dt.timedelta(**{unit: -n if kind == "ago" else n}), tz)
        return {"kind": "datetime", "value": value.isoformat(), "grain": "minute"}
    return None


def _real_time(ref: dt.datetime, delta: dt.timedelta, tz: dt.tzinfo) -> dt.datetime:
    """`delta` after the naive local `ref`, counted in real time (through UTC), aware in `tz`: the
    clocks may go forward or back in between, and the result's fold says which of a repeated hour's
    two readings it is."""
    return (local_time(ref, tz).astimezone(dt.timezone.utc) + delta).astimezone(tz)


def local_time(naive: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """A wall-clock time in `tz`. One the clocks skip ("2:30am" on a spring-forward night, which
    no clock shows) moves on by the gap, to the time it is then (3:30), never an offset that
    contradicts the zone: right for an instant (a reference time, the start of a day whose midnight
    is skipped); a time of day someone said is refused instead (`wall_time`). In a repeated hour it
    is the first of the two (fold 0), unless `naive.fold` says the second (a count from a reference
    in it, `_real_time`)."""
    value = naive.replace(tzinfo=tz)
    real = value.astimezone(dt.timezone.utc).astimezone(tz)
    return real if real.replace(tzinfo=None) != naive else value


def wall_time(naive: dt.datetime, tz: dt.tzinfo, grain: str) -> dt.datetime | None:
    """The local `naive` of a resolution of `grain` in `tz`; None for a time of day the clocks skip
    ("tomorrow at 2:30am" on a spring-forward night): moved to 3:30, a payment would go out at a
    time nobody said, so the slot asks again. A day, week, month or year starts when its first
    moment exists (midnight skipped in Santiago on 2026-09-06: 01:00)."""
    value = local_time(naive, tz)
    return None if grain in _TIME_GRAINS and value.replace(tzinfo=None) != naive else value


def fast_path(text: str, ref: dt.datetime, past: bool = False, day_first: bool = False) -> tuple[dt.datetime, str] | None:
    """The common expressions, or None to fall back. `ref` is naive local time. `day_first`:
    numeric dates are day/month (en-GB, de-DE)."""
    t = _LEAD.sub("", text)
    time_of_day = None  # (hour, minute, grain)
    pod_hour = False  # an hour read from beside a part of the day: what is left is ours to read, or none
    m = _TIME.search(t)
    if m:
        time_of_day = _time_of(m)
        if time_of_day is None:  # "13pm", "24:00": dateparser kept the day and dropped the time
            raise NoSuchTime(text)
        t = (t[: m.start()] + " " + t[m.end():])
        if m.group("word") == "midnight" and t.strip():
            raise NoSuchTime(text)  # "friday at midnight": the night before friday, or the one after?
        p = _POD.search(t) if m.group("h24") is not None else None
        if p is not None:  # "at 7:30 tonight": the part of the day says pm
            pod = p.group("pod") or "tonight"
            h, mi, grain = time_of_day
            hour = hour_in(pod, h)
            if hour is None:
                raise NoSuchTime(text)
            time_of_day = (hour, mi, grain)
            t = t[: p.start()] + " " + t[p.end():] + (" today" if p.group(0) == "tonight" else "")
    else:
        if t != "last night" and "last night" in t:  # "last night at 11": yesterday, at night
            t = t.replace("last night", "yesterday night")
        p = _POD.search(t)
        if p and not re.fullmatch(r"(?:last\s+)?night", t.strip()):
            pod = p.group("pod") or "tonight"
            hour = PART_OF_DAY[pod]
            t = t[: p.start()] + " " + t[p.end():] + (" today" if p.group(0) == "tonight" else "")
            said = _POD_HOUR.search(t)
            pod_hour = said is not None
            if said is not None:  # "8 tonight" is 20:00, never 8 am or the 8th
                h = int(said.group("h"))
                hour = hour_in(pod, h)
                if hour is None:  # "2 in the evening": no such hour, and no guess at one
                    raise NoSuchTime(text)
                t = t[: said.start()] + " " + t[said.end():]
            time_of_day = (hour, 0, "hour")
    t = _LEAD.sub("", " ".join(t.replace(",", " ").split()))
    t = _TRAILING.sub("", t)
    if not t or t == "this":  # a bare time: today, or tomorrow once it has passed ("this morning": today)
        if time_of_day is None:
            return None
        h, mi, grain = time_of_day
        at = ref.replace(hour=h, minute=mi, second=0)
        if past:  # "five pm" after a lost card at noon: yesterday's
            return (at if at <= ref else at - dt.timedelta(days=1)), grain
        return (at if at >= ref or t == "this" else at + dt.timedelta(days=1)), grain
    if _NUMBER_WORD.search(t):
        t = words_to_digits(t)
    if time_of_day is not None and _BARE_NUMBER.fullmatch(t):
        return None  # "twenty at nine pm": an amount beside a time, or the 20th? ("the 20th at 9pm" says it)
    for regex, kind in _RULES:
        m = regex.fullmatch(t)
        if m:
            if kind == "weekday_date":  # reads its date in the intent's direction itself
                found = _weekday_date(m, ref, past, day_first)
            elif kind == "anchored":  # so does the date it counts from
                found = _anchored(m, ref, past, day_first)
            elif kind == "numeric":
                found = _numeric(m, ref, day_first)
            else:
                found = _RESOLVERS[kind](m, ref)
            if past and found is not None and (found[0].date() > ref.date() or kind == "weekend"):
                found = _latest_not_after(kind, m, found, ref)
            break
    else:
        if pod_hour:  # dateparser would read the hour as the clock's ("last night at 11": 14:00)
            raise NoSuchTime(text)
        return None
    if found is None:
        return None
    value, grain = found
    if time_of_day is not None:
        if grain != "day":
            return None
        h, mi, tgrain = time_of_day
        return value.replace(hour=h, minute=mi, second=0), tgrain
    return value, grain


def _latest_not_after(kind: str, m: re.Match, found: tuple[dt.datetime, str], ref: dt.datetime):
    """For intents about the past: step an undirected expression back one cycle (a week for a
    weekday, a month for "the 12th", a year for "March 5", "January" or "thanksgiving"). Expressions
    that carry their own direction ("next friday", "in 3 days", "tomorrow", a year) are left alone."""
    value, grain = found
    today = ref.date()
    groups = m.groupdict()
    if kind == "weekend" and not m.group(0).startswith("next"):  # the weekend that is, or was, last
        return _day(today - dt.timedelta(days=(today.weekday() - 5) % 7)), grain
    if kind == "weekday" and groups.get("rel") in (None, "this"):
        return value - dt.timedelta(days=7), grain
    if kind in ("day_month", "numeric") and not (groups.get("year") or groups.get("y")):
        for back in range(1, 9):  # February 29th: the last year that had one, not the next
            try:
                earlier = value.replace(year=value.year - back)
            except ValueError:
                continue
            if earlier.date() <= today:
                return earlier, grain
        return None
    if kind == "holiday":  # the year before the one ahead
        return _day(_holiday_rule(m)(value.year - 1)), grain
    if kind == "month" and not groups.get("year") and not m.group(0).startswith("next"):
        return value.replace(year=value.year - 1), grain
    if kind == "day_of_month" and "month" not in m.group(0):
        latest = next(_days_of_month(value.day, today, past=True), None)
        if latest is not None:
            return _day(latest), grain
    if kind == "edge" and m.group("period") in ("month", "year"):  # "the last day of the month" after a lost card
        end = m.group("edge").startswith(("end", "last"))
        if m.group("period") == "month":  # October's
            last_month = today.replace(day=1) - dt.timedelta(days=1)
            return _day(last_month if end else last_month.replace(day=1)), grain
        return _day(dt.date(today.year - 1, 12, 31) if end else dt.date(today.year - 1, 1, 1)), grain
    return found


def hour_in(pod: str, h: int) -> int | None:
    """The 24-hour reading of `h` said beside a part of the day ("8" tonight: 20, "5" tonight: 17),
    or None ("2 in the evening", "4 at night": which?)."""
    return next((x for x in (h, h + 12) if x in _POD_HOURS[pod]), None)


class TimeOfDay(NamedTuple):
    hour: int
    minute: int
    grain: str
    zone: str | None = None  # the IANA zone named after it ("4pm et"), else the request's


def time_only(text: str) -> TimeOfDay | None:
    """The time of day when `text` names one and no day ("3pm", "at 9:30am", "at 4.15", "noon",
    "4pm et"), else None: a follow-up that changes only the time keeps the agreed day. A zone
    that names several ("4pm ist") is no time that can be placed: None."""
    t = _LEAD.sub("", _dotted_times(spoken_hours(" ".join(text.lower().split()).strip(" ,.!?")), False))
    zone = None
    zoned = ZONE_AFTER_TIME.search(t)
    if zoned is not None and zoned.end() == len(t):
        zone = ZONE_WORDS.get(" ".join(zoned.group("zone").split()))
        if zone is None:
            return None
        t = _LEAD.sub("", t[: zoned.start("zone")].strip())
    m = _TIME.fullmatch(t)
    if m is not None:
        said = _time_of(m)
        return None if said is None else TimeOfDay(*said, zone)
    p = _POD.search(t)  # "at 9 in the morning", "7 in the evening"
    if p is None or p.group(0) == "tonight":
        return None
    rest = (t[: p.start()] + t[p.end():]).strip()
    if rest in ("", "that", "the"):  # "in the evening", "that morning": the part of the day's hour
        return TimeOfDay(PART_OF_DAY[p.group("pod")], 0, "hour", zone)
    said = _POD_HOUR.fullmatch(" " + rest)
    if said is None:
        return None
    h, minute = int(said.group("h")), int(said.group("m") or 0)  # "9:30 in the evening"
    hour = hour_in(p.group("pod"), h)
    return None if hour is None else TimeOfDay(hour, minute, "minute" if minute else "hour", zone)


def _dotted_times(t: str, day_first: bool) -> str | None:
    """`t` with each dotted time (above) written with a colon; None when one may as well be a
    date: "by 4.12" or "at 9.05" in a day-first locale, with nothing else beside it that makes it
    a time, is 4 December or 04:12 (it was read as 04:12: a payment due on the 4th went out at
    dawn). In a month-first locale a dotted date is none (DOTTED_DATE), so it is the time."""
    if "." not in t:
        return t
    ambiguous = False
    dated = False  # a weekday's dotted date was kept as a date
    with_a_day = _A_DAY_WORD.search(t) is not None  # "tonight at 9.05": no date beside a day

    def colon(m: re.Match) -> str:
        nonlocal ambiguous, dated
        zoned = _ZONE_NEXT.match(t, m.end()) is not None and not t[: m.start()].endswith("on ")
        if not (m.group("at") or m.group("ampm") or m.group("day") or zoned):
            return m.group(0)  # "12.30" alone: the date rules decide; "9.30 pst" is a time ("on 18.12 pst" no)
        if day_first and not m.group("ampm") and _a_date(int(m.group("h")), int(m.group("m"))):
            if _a_weekday(m.group("at")):
                dated = True
                return m.group(0)  # "friday 18.12": how a day-first locale writes Friday 18 December
            if _a_weekday(m.group("day")) and not m.group("at"):
                ambiguous = True  # "18.12 friday": the 18th, or 18:12 on Friday?
        if day_first and int(m.group("m")) <= 12 and not (m.group("ampm") or with_a_day):
            ambiguous = True
        return f"{m.group('at') or ''}{m.group('h')}:{m.group('m')}{m.group('ampm') or ''}{m.group('day') or ''}"

    out = _DOTTED_TIME.sub(colon, t)
    if dated and len(_DOTTED_NUMBER.findall(out)) > 1:
        return None  # "monday 14.12 10.15": a dotted time beside the date, no "at" or am/pm (it was 2115)
    return None if ambiguous else out


def _a_weekday(word: str | None) -> bool:
    """Whether the word beside a dotted number is a weekday (not "at", "tonight", "tomorrow" or a
    part of the day, which make it a time)."""
    return word is not None and word.split()[0].removesuffix("s") in WEEKDAYS  # "friday the": friday


def _a_date(day: int, month: int) -> bool:
    return 1 <= day <= 31 and 1 <= month <= 12


def day_of_month(text: str) -> int | None:
    """The day when `text` names a day of the month and nothing else ("the 8th", "on the
    eighth", "13th"; not a bare "8"): a correction of a carried date keeps its month."""
    t = _LEAD.sub("", " ".join(text.lower().split()).strip(" ,.!?"))
    if _NUMBER_WORD.search(t):
        t = words_to_digits(t)
    m = _DAY_ALONE.fullmatch(t)
    return int(m.group("day")) if m is not None and not m.group(0).isdigit() else None


_A_DAY_NAMED = re.compile(r"\b(?:today|tonight|tomorrow|tmrw|" + "|".join(sorted(WEEKDAYS, key=len, reverse=True))
                          + r")s?\b|\bthe\s+\d{1,2}(?:st|nd|rd|th)\b", re.IGNORECASE)


def day_named_before(text: str, pos: int) -> int | None:
    """Where a day named right before `pos` starts ("no, | friday at | 5pm"), only "at", "on" or a
    comma between them; None when there is none or it is refused ("not today at 5pm")."""
    last = None
    for m in _days_named(text, 0, pos):
        last = m
    if last is None or not re.fullmatch(r"\s*,?\s*(?:at|on)?\s*", text[last.end():pos], re.IGNORECASE):
        return None
    return last.start()


def names_a_day(text: str) -> bool:
    """Whether `text` names a day ("today", "friday", "the 9th", "december 12"), not only a time;
    a day refused is none ("5pm, not today")."""
    return next(_days_named(text, 0, len(text)), None) is not None or names_a_month(text)


# the words that refuse what follows them: "not today", "instead of friday", "rather than tomorrow"
_REFUSING = re.compile(r"\b(?:not|n't|instead\s+of|rather\s+than)\s+(?:(?:on|for|at|until)\s+)?(?:the\s+)?$",
                       re.IGNORECASE)


# ... or after them: "tonight is busy", "tonight's no good", "friday won't work", "tonight I can't",
# "tonight? no, 7pm"
_REFUSED_AFTER = re.compile(r"(?:(?:\s+is|'s|\s+are)\s+(?:busy|no\s+good|not\s+good|bad|not\s+possible|impossible|out)"
                            r"|\s+(?:won'?t|doesn'?t|does\s+not|will\s+not|can'?t|cannot)\s+(?:work|do)"
                            r"|,?\s+i\s*(?:can'?t|cannot|won'?t|'m\s+(?:out|busy|away)|am\s+(?:out|busy|away))(?!\s+wait)"
                            r"|\s*[?,.!]\s*(?:no|nope|nah)(?!\s+(?:problem|prob|probs|worries|rush|hurry|biggie|later"
                            r"|sooner|earlier|more|less|need|other|changes?)\b))\b",
                            re.IGNORECASE)


def _days_named(text: str, start: int, end: int, refused: bool = False):
    """The days `text[start:end]` names (`refused`: those it refuses instead). Read on `text`
    itself, never its lower case, whose length may differ ("İ" is two characters lowered, and the
    last day of "İ meant 5pm, not friday" was cut to "frida": the refused Friday got the time)."""
    return (m for m in _A_DAY_NAMED.finditer(text, start, end)
            if (_REFUSING.search(text, 0, m.start()) is not None or _REFUSED_AFTER.match(text, m.end()) is not None)
            == refused)


def says_tonight(text: str) -> bool:
    """Whether `text` says "tonight", not refused ("tomorrow at 6pm, not tonight" does not)."""
    return any(m.group(0).lower() == "tonight" for m in _days_named(text, 0, len(text)))


def days_refused(text: str) -> list[str]:
    """The words of each day `text` refuses ("5pm, not tomorrow", "instead of friday", "not the 8th")."""
    return [m.group(0).lower() for m in _days_named(text, 0, len(text), refused=True)]


def names_a_month(text: str) -> bool:
    """Whether `text` names a month ("october", "sept", "this month"): a day of the month said
    beside it is that month's."""
    t = text.lower()
    return _MONTH_WORD.search(t) is not None or _MONTH_NAME.search(t) is not None


def bare_hour(text: str) -> bool:
    """Whether `text` says an hour without am/pm ("at 5", "at five", "five o'clock"): a time, but which?"""
    t = text.lower()
    counted = words_to_digits(t) if _NUMBER_WORD.search(t) else t
    return any(_BARE_HOUR.search(x) is not None or _O_CLOCK.search(x) is not None for x in (t, counted))


# the hours of a 12-hour clock in words, and as a regular expression's alternatives
HOUR_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")
AN_HOUR_WORD = "|".join(HOUR_WORDS)
# an hour of a 12-hour clock in digits or words, maybe with its minutes ("8", "eight", "8:30"); not
# "one", which as often points at a thing ("the one | this morning")
A_CLOCK_HOUR = r"(?:1[0-2]|0?[1-9]|%s)(?::[0-5]\d)?" % "|".join(HOUR_WORDS[1:])
# an hour said without am/pm at the end of a date ("tomorrow | at five", "friday | at 6 o'clock")
_UNCLEAR_HOUR_AT_END = re.compile(r"\s*,?\s*(?:(?:at|by)\s+)?(?:\d{1,2}|%s)(?:\s*o'?\s?clock)?\s*$"
                                  % AN_HOUR_WORD)
# ... or at its start ("at five | tomorrow", "at 5 on | friday", "by 3 on | the 15th")
_UNCLEAR_HOUR_AT_START = re.compile(r"^(?:(?:at|by)\s+)?(?:\d{1,2}|%s)(?:\s*o'?\s?clock)?\s*,?\s*(?:on\s+)?"
                                    r"(?=\S)" % AN_HOUR_WORD)
# "by" and an hour of a 12-hour clock: "by 3 on the 15th", "tomorrow by five" (a deadline's hour; "by 15" is the 15th)
_BY_HOUR = re.compile(r"\bby\s+(?:[1-9]|1[0-2]|%s)\b(?!\s*(?:[:.]\d|a\.?m\b|p\.?m\b|o'?clock|st\b|nd\b|rd\b|th\b))"
                      % AN_HOUR_WORD)


def day_of_unclear_hour(text: str) -> str | None:
    """The words of the day in a date whose hour has no am/pm ("tomorrow at five", "at five
    tomorrow" -> "tomorrow"): the date is asked (which five?), and the day said is kept meanwhile;
    None when the hour is clear or no words are left."""
    t = " ".join(text.lower().split()).strip(" ,.!?")
    if not bare_hour(t) and _BY_HOUR.search(t) is None:
        return None
    day = _UNCLEAR_HOUR_AT_END.sub("", t)
    if day == t:
        day = _UNCLEAR_HOUR_AT_START.sub("", t)
    return day if day and day != t else None


def spoken_hours(text: str) -> str:
    """`text` (lower case) with each time said in words before am/pm, "o'clock" or a part of the day
    in digits: "five pm" -> "5 pm", "ten thirty am" -> "10:30 am", "eight tonight" -> "8 tonight"."""
    if not any(word in text for word in ("m", "clock", "night", "noon", "evening")):
        return text

    def digits(m: re.Match) -> str:
        minutes = m.group(2) and _MINUTES[" ".join(m.group(2).replace("-", " ").split())]
        return _HOURS[m.group(1)] + (f":{minutes}" if minutes else "")
    return _SPOKEN_HOUR.sub(digits, text)


def _time_of(m: re.Match) -> tuple[int, int, str] | None:
    if m.group("word"):
        return (0, 0, "hour") if m.group("word") == "midnight" else (12, 0, "hour")
    if m.group("h24") is not None:
        h, mi = int(m.group("h24")), int(m.group("m24"))
    else:
        h, mi = int(m.group("h")), int(m.group("m") or 0)
        if not 1 <= h <= 12:
            return None
        h = h % 12 + (12 if m.group("ampm").startswith("p") else 0)
    if h > 23 or mi > 59:
        return None
    return h, mi, ("minute" if mi else "hour")


def _day(d: dt.date) -> dt.datetime:
    return dt.datetime(d.year, d.month, d.day)


def _add_months(d: dt.date, months: int) -> dt.date:
    y, mo = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, mo + 1
    return dt.date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def _n(m: re.Match) -> int:
    n = m.group("n")
    return {"a": 1, "an": 1, "one": 1, "a couple of": 2, "a few": 3}.get(n) or int(n)


def _shift(ref: dt.datetime, n: int, unit: str) -> tuple[dt.datetime, str] | None:
    """`n` calendar units from today's date (hours and minutes: `_elapsed`, in real time)."""
    unit = {"wk": "week", "yr": "year"}.get(unit, unit)
    if n > 10_000:
        return None
    today = ref.date()
    if unit == "day":
        return _day(today + dt.timedelta(days=n)), "day"
    if unit == "week":
        return _day(today + dt.timedelta(weeks=n)), "day"
    return _day(_add_months(today, n * (12 if unit == "year" else 1))), "day"


def _weekday(m: re.Match, ref: dt.datetime):
    today = ref.date()
    target = WEEKDAYS[m.group("wd")]
    rel = m.group("rel")
    ahead = (target - today.weekday()) % 7
    if rel in ("last", "past", "previous"):
        back = (today.weekday() - target) % 7 or 7
        return _day(today - dt.timedelta(days=back)), "day"
    if rel == "next" and ahead == 0:
        ahead = 7
    return _day(today + dt.timedelta(days=ahead)), "day"


def _week_after(m: re.Match, ref: dt.datetime):
    """"tomorrow week", "friday week": a week after tomorrow, or after the coming Friday (dateparser
    dropped the week: "tomorrow week" was tomorrow)."""
    today = ref.date()
    ahead = 1 if m.group("wd") is None else (WEEKDAYS[m.group("wd")] - today.weekday()) % 7
    return _day(today + dt.timedelta(days=ahead + 7)), "day"


def _period(m: re.Match, ref: dt.datetime):
    today = ref.date()
    rel = m.group("rel")
    step = {"this": 0, "next": 1, "last": -1, "previous": -1}.get(rel, 1)
    period = m.group("period")
    if period == "week":
        monday = today - dt.timedelta(days=today.weekday())
        return _day(monday + dt.timedelta(weeks=step)), "week"
    if period == "month":
        return _day(_add_months(today.replace(day=1), step)), "month"
    return _day(dt.date(today.year + step, 1, 1)), "year"


def _edge(m: re.Match, ref: dt.datetime):
    today = ref.date()
    period, end = m.group("period"), m.group("edge").startswith(("end", "last"))
    if period == "week" and m.group("edge").endswith("day"):
        return None  # "the last day of the week": Friday, Saturday or Sunday?
    if period == "week":
        monday = today - dt.timedelta(days=today.weekday())
        return _day(monday + dt.timedelta(days=4 if end else 0)), "day"  # end of the (work) week: Friday
    if period == "month":
        last = calendar.monthrange(today.year, today.month)[1]
        return _day(today.replace(day=last if end else 1)), "day"
    return _day(dt.date(today.year, 12, 31) if end else dt.date(today.year, 1, 1)), "day"


def _weekend(m: re.Match, ref: dt.datetime):
    today = ref.date()
    if today.weekday() == 6 and not m.group(0).startswith("next"):
        return _day(today), "day"
    ahead = (5 - today.weekday()) % 7
    if m.group(0).startswith("next") and ahead == 0:
        ahead = 7
    return _day(today + dt.timedelta(days=ahead)), "day"


def _upcoming(today: dt.date, month: int, day: int, year: int | None) -> dt.date | None:
    """The given month/day in `year`, or the next one on or after today when no year is said."""
    for y in ([year] if year else [today.year, today.year + 1, today.year + 4]):
        try:
            d = dt.date(y, month, day)
        except ValueError:
            continue
        if year or d >= today:
            return d
    return None


def _full_year(year: str, today: dt.date) -> int:
    """A year as written ("2027"), or the one of two digits ("27", "'99") within 50 years of today's:
    1999 for "99" said in 2026, never 2099."""
    digits = year.lstrip("'")
    if len(digits) != 2:
        return int(digits)
    y = today.year - today.year % 100 + int(digits)
    return y - 100 if y > today.year + 49 else y + 100 if y < today.year - 50 else y


def _date_of(today: dt.date, month: int, day: int, year: str | None):
    d = _upcoming(today, month, day, _full_year(year, today) if year else None)
    return None if d is None else (_day(d), "day")


def _iso(m: re.Match, ref: dt.datetime):
    try:
        return _day(dt.date(int(m.group("y")), int(m.group("mo")), int(m.group("d")))), "day"
    except ValueError:
        return None


def _numeric(m: re.Match, ref: dt.datetime, day_first: bool = False):
    """"4/12", "04.12.2026": day first in a day-first locale (en-GB, de-DE), else month first. A
    dotted date is a day-first form: a month-first locale (en-US) writes none, and one written to
    it came from a day-first writer as often as not, so it is no date there: NoSuchTime (dateparser
    would read it month first), even with one reading ("it was for 12.30" is an amount)."""
    a, b = int(m.group("a")), int(m.group("b"))
    if "." in m.group(0) and (not day_first or b > 12):  # "3.15" is no date written day first
        raise NoSuchTime(m.group(0))
    if day_first:  # day/month unless the second number cannot be a month
        day, month = (b, a) if b > 12 else (a, b)
    else:  # US order unless the first number cannot be a month
        month, day = (b, a) if a > 12 else (a, b)
    if month > 12:
        return None
    return _date_of(ref.date(), month, day, m.group("y"))


def _day_month(m: re.Match, ref: dt.datetime):
    return _date_of(ref.date(), MONTHS[m.group("mon")], int(m.group("day")), m.group("year"))


def _day_of_month(m: re.Match, ref: dt.datetime):
    day = int(m.group("day"))
    if not 1 <= day <= 31:
        return None
    first = ref.date().replace(day=1)
    said = m.group(0)
    if said.endswith(("next month", "this month")):  # "the 20th of next month": that month's, or none
        month = _add_months(first, 1) if said.endswith("next month") else first
        if day > calendar.monthrange(month.year, month.month)[1]:
            return None
        return _day(month.replace(day=day)), "day"
    d = next(_days_of_month(day, ref.date()), None)
    return None if d is None else (_day(d), "day")


def _days_of_month(day: int, today: dt.date, past: bool = False) -> Iterator[dt.date]:
    """The `day`th of the months that have one, from today on (back from today, for `past`), for 13 months."""
    first = today.replace(day=1)
    for k in range(13):
        month = _add_months(first, -k if past else k)
        if day <= calendar.monthrange(month.year, month.month)[1]:
            d = month.replace(day=day)
            if (d <= today) if past else (d >= today):
                yield d


def _weekday_date(m: re.Match, ref: dt.datetime, past: bool, day_first: bool):
    """"friday the 4th", "Monday, March 5": the date, read in the intent's direction, when it falls on
    that weekday. A day of the month alone that does not is the first of the next WEEKDAY_DATE_TRIES
    such days (the last ones, for the past) that does: "Tuesday the 5th" said in late November 2026,
    when December 5th is a Saturday, is January 5th. Any other disagreement ("Monday, March 5" when
    March 5th is a Friday) names no date: NoSuchTime, not handed on to dateparser."""
    rest = re.sub(r"^the\s+(?=\d{1,2}\.\d)", "", m.group("rest"))  # "friday the 18.12": the 18.12
    found = fast_path(rest, ref, past, day_first)
    weekday = WEEKDAYS[m.group("wd")]
    if found is None or found[0].weekday() == weekday:
        return found
    alone = re.fullmatch(_THE_DAY, rest)
    if alone is not None:
        days = _days_of_month(int(alone.group("day")), ref.date(), past)
        for d in itertools.islice(days, WEEKDAY_DATE_TRIES):
            if d.weekday() == weekday:
                return _day(d), "day"
    raise NoSuchTime(m.group(0))


def _anchored(m: re.Match, ref: dt.datetime, past: bool, day_first: bool):
    """"10 days after the 15th", "a week from friday", "the day before christmas", "the monday after
    march 5": counted from the day the rest names (read in the intent's direction), never from today;
    a rest that names no one day ("the friday after next", "2 days before january") names no date."""
    anchor = fast_path(m.group("rest"), ref, past, day_first)
    if anchor is None or anchor[1] != "day":
        raise NoSuchTime(m.group(0))
    start, sign = anchor[0].date(), -1 if m.group("dir") == "before" else 1
    if m.groupdict().get("wd"):  # the first such weekday after (before) it
        days = (sign * (WEEKDAYS[m.group("wd")] - start.weekday())) % 7 or 7
    else:
        n = _n(m) if m.groupdict().get("n") else 1
        days = n * (7 if m.groupdict().get("unit") == "week" else 1)
    return _day(start + dt.timedelta(days=sign * days)), "day"


def _month(m: re.Match, ref: dt.datetime):
    month = MONTHS[m.group("mon")]
    today = ref.date()
    if m.group("year"):
        year = _full_year(m.group("year"), today)
    else:
        year = today.year + (month < today.month or (month == today.month and m.group(0).startswith("next")))
    return _day(dt.date(year, month, 1)), "month"


def _year(m: re.Match, ref: dt.datetime):
    return _day(dt.date(int(m.group("year")), 1, 1)), "year"


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    if n > 0:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = dt.date(year, month, calendar.monthrange(year, month)[1])
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


_HOLIDAYS = {
    "christmas eve": lambda y: dt.date(y, 12, 24), "christmas": lambda y: dt.date(y, 12, 25),
    "xmas": lambda y: dt.date(y, 12, 25), "new year's eve": lambda y: dt.date(y, 12, 31),
    "new year's": lambda y: dt.date(y, 1, 1), "independence day": lambda y: dt.date(y, 7, 4),
    "thanksgiving": lambda y: _nth_weekday(y, 11, 3, 4), "memorial day": lambda y: _nth_weekday(y, 5, 0, -1),
    "labor day": lambda y: _nth_weekday(y, 9, 0, 1), "good friday": lambda y: easter(y) - dt.timedelta(days=2),
    "easter": lambda y: easter(y), "valentine's": lambda y: dt.date(y, 2, 14),
    "halloween": lambda y: dt.date(y, 10, 31), "juneteenth": lambda y: dt.date(y, 6, 19),
}


def _holiday_rule(m: re.Match):
    """The holiday's date in a given year."""
    name = m.group("holiday").replace("labour", "labor").replace("new years", "new year's")
    name = name.replace("valentines", "valentine's")
    name = re.sub(r" (?:day|sunday)$", "", name) if name not in ("memorial day", "labor day", "independence day") else name
    return _HOLIDAYS[name]


def _holiday(m: re.Match, ref: dt.datetime):
    rule = _holiday_rule(m)
    today = ref.date()
    d = rule(today.year)
    return _day(d if d >= today else rule(today.year + 1)), "day"


_RESOLVERS = {
    "now": lambda m, ref: (ref, "minute"),
    "today": lambda m, ref: (_day(ref.date()), "day"),
    "tomorrow": lambda m, ref: (_day(ref.date() + dt.timedelta(days=1)), "day"),
    "week_after": _week_after,
    "yesterday": lambda m, ref: (_day(ref.date() - dt.timedelta(days=1)), "day"),
    "last_night": lambda m, ref: (_day(ref.date() - dt.timedelta(days=1)).replace(hour=PART_OF_DAY["night"]),
                                  "hour"),
    "weekday": _weekday,
    "in": lambda m, ref: _shift(ref, _n(m), m.group("unit")),
    "ago": lambda m, ref: _shift(ref, -_n(m), m.group("unit")),
    "period": _period,
    "weekend": _weekend,
    "edge": _edge,
    "iso": _iso,
    "day_month": _day_month,
    "day_of_month": _day_of_month,
    "month": _month,
    "year": _year,
    "holiday": _holiday,
}


def format_datetime(resolution: dict, with_year: bool = False) -> str:
    """Display form for responses: "Friday, December 4", "Friday, December 4 at 3:00 PM", "December 2026";
    `with_year`: "Friday, November 15, 2030", "the week of December 4, 2028"."""
    value = dt.datetime.fromisoformat(resolution["value"])
    grain = resolution.get("grain", "day")
    if grain == "year":
        return str(value.year)
    if grain == "month":
        return f"{value:%B} {value.year}"
    year = f", {value.year}" if with_year else ""
    if grain == "week":
        return f"the week of {value:%B} {value.day}{year}"
    day = f"{value:%A}, {value:%B} {value.day}{year}"
    if grain == "day":
        return day
    hour = value.hour % 12 or 12
    return f"{day} at {hour}:{value:%M} {'AM' if value.hour < 12 else 'PM'}"
