"""Times said of an agreed date: an hour on the agreed day, the half of the day nearest the
agreed time, a time read in the agreed date's own zone."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from ..resolve.dates import WEEKDAYS, TimeOfDay, bare_hour, hour_in, time_only, wall_time
from ..resolve.numbers import words_to_digits
from . import vocab


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
    if whole is not None and WEEKDAYS.get(whole.group("day").lower().removesuffix("s")) == agreed.weekday():
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
