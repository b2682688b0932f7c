"""Dates the resolver once read wrong (an audit, reference Sunday 2026-11-29 12:00 in New York):
stray numbers taken for a year or a month, weekdays that contradict the date, two-digit years,
ordinal words; and the answer cache and the responses that show those dates."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from intentd.server.analysis import Analysis, Escalation, RequestOptions, ResolvedEntity
from intentd.server.cache import AnalysisCache
from intentd.server.decode import EntitySpan, Prediction
from intentd.server.engine import Engine
from intentd.server.resolve import Resolver
from intentd.server.respond import Responder

BANKING = Path(__file__).resolve().parents[1] / "models" / "domains" / "banking" / "domain.yaml"
NY = ZoneInfo("America/New_York")
SUNDAY = dt.datetime(2026, 11, 29, 12, 0, tzinfo=NY)


@pytest.fixture(scope="module")
def resolver() -> Resolver:
    r = Resolver(yaml.safe_load(BANKING.read_text(encoding="utf-8")))
    r.warm_up()
    return r


def day(resolver: Resolver, text: str, past: bool = False, reference: dt.datetime = SUNDAY) -> str | None:
    """The date `text` names for a `dates: future` intent (schedule_payment), or a `dates: past` one."""
    found = resolver.resolve_value("date", text, reference, past)
    return found and found["value"][:10]


# -- a number is a year only when written as one ----------------------------------------------

@pytest.mark.parametrize("text", [
    "the 15th and 30th",  # was 2030-11-15: "schedule a payment of $75 on the 15th and 30th"
    "the 1st and 15th",  # was 2027-01-15: two dates (a list, or every month), not one
    "the first and fifteenth",
    "the 15th and the 30th",
    "dec 4 10",  # was 2110-12-04
    "the 3rd 25",  # was 2027-03-25: the 3rd read as March
    "on the 5th 27",  # was 2027-05-27
    "the 20th 45",  # was 2045-11-20
    "june 45",  # was June 2045
    "march 5 30",  # was 2030-03-05
    "march 5, 27",  # a year of two digits needs its apostrophe
])
def test_a_stray_number_is_no_year_or_month(resolver, text):
    assert resolver.resolve_value("date", text, SUNDAY) is None
    assert resolver.resolve_value("date", text, SUNDAY, past=True) is None


@pytest.mark.parametrize("text, expected", [
    ("march 5 '27", "2027-03-05"),  # a year written as one
    ("march 5, 2027", "2027-03-05"),
    ("3/4/27", "2027-03-04"),
    ("the 3rd of march 2027", "2027-03-03"),
    ("a fortnight from now", "2026-12-13"),  # counts and times are no stray numbers
    ("1 week from today", "2026-12-06"),
    ("dec 4, 10am", "2026-12-04"),
    ("the 4th at 10am", "2026-12-04"),
])
def test_numbers_that_are_years_counts_or_times_still_read(resolver, text, expected):
    assert day(resolver, text) == expected


# -- a weekday must agree with its date --------------------------------------------------------

@pytest.mark.parametrize("text", [
    "Monday the 5th",  # was 2026-12-05, a Saturday; nor is January 5th a Monday
    "friday 10",  # was Thursday 2026-12-10
    "Monday, March 5",  # was 2027-03-05, a Friday
    "friday 30",  # was Monday 2026-11-30
    "Mon 3/5",
    "monday the 5th of next month",  # a month said: no other month is meant
])
def test_a_weekday_that_contradicts_the_date_names_no_date(resolver, text):
    assert resolver.resolve_value("date", text, SUNDAY) is None


@pytest.mark.parametrize("text, reference, expected", [
    ("friday the 4th", SUNDAY, "2026-12-04"),  # they agree
    ("tuesday 12/08", SUNDAY, "2026-12-08"),
    ("tuesday the 5th", SUNDAY, "2027-01-05"),  # December 5th is a Saturday: the next 5th, a Tuesday
    ("Monday the 5th", dt.datetime(2027, 2, 10, 12, 0, tzinfo=NY), "2027-04-05"),  # March 5th is a Friday
    ("friday 30", dt.datetime(2027, 2, 10, 12, 0, tzinfo=NY), "2027-04-30"),  # February has no 30th
])
def test_a_day_of_the_month_alone_is_the_next_one_on_that_weekday(resolver, text, reference, expected):
    assert day(resolver, text, reference=reference) == expected


@pytest.mark.parametrize("text, expected", [
    ("thursday the 12th", "2026-11-12"),  # was 2026-12-12 (ahead, and a Saturday) for a disputed charge
    ("monday the 5th", "2026-10-05"),  # November 5th was a Thursday: the 5th before, a Monday
    ("friday the 12th", None),  # neither November 12th nor October 12th was a Friday
])
def test_a_weekday_and_a_date_for_an_intent_about_the_past_look_back(resolver, text, expected):
    assert day(resolver, text, past=True) == expected


# -- two-digit years ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("3/4/99", "1999-03-04"),  # was 2099
    ("march 5 '99", "1999-03-05"),
    ("march 5 '76", "1976-03-05"),  # 50 years before 2026
    ("march 5 '75", "2075-03-05"),
    ("3/4/27", "2027-03-04"),
])
def test_a_two_digit_year_is_the_one_within_50_years(resolver, text, expected):
    assert day(resolver, text, past=True) == expected


def test_a_two_digit_year_without_its_apostrophe_or_in_the_past_is_no_date_ahead(resolver):
    assert day(resolver, "march 5th 99", past=True) is None  # was 2099-03-05
    assert day(resolver, "3/4/99") is None  # 1999 is no date for a payment ahead (was 2099)


# -- ordinal words -----------------------------------------------------------------------------

ORDINAL_WORDS = ("first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
                 "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth").split()
DAYS_IN_WORDS = (ORDINAL_WORDS + ["twentieth"] + [f"twenty-{w}" for w in ORDINAL_WORDS[:5]]
                 + [f"twenty {w}" for w in ORDINAL_WORDS[5:9]] + ["thirtieth", "thirty-first"])


@pytest.mark.parametrize("n, word", list(enumerate(DAYS_IN_WORDS, start=1)))
def test_every_ordinal_word_is_a_day_of_the_month(resolver, n, word):
    """"the twelfth", "the ninth", "the thirtieth" were unresolved; "the eighth" was not."""
    suffix = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd", 31: "st"}.get(n, "th")
    assert day(resolver, f"the {word}") == day(resolver, f"the {n}{suffix}") is not None
    assert day(resolver, f"the {word} of january") == f"2027-01-{n:02d}"


# -- the answer cache --------------------------------------------------------------------------

def test_an_answer_with_an_unresolved_date_is_not_cached_without_a_reference_time(banking_artifact):
    """"this morning" said at 13:00 is unresolved; stored, it stayed unresolved the next morning."""
    engine = Engine.load(banking_artifact)
    cache = AnalysisCache(8)
    text = "pay 50 dollars to the electric company this morning"
    date = ResolvedEntity("date", "this morning", 39, 51, 0.9, "model")  # resolved=False, no resolution
    prediction = Prediction([("pay_bill", 0.9)], [], 0.1, analyzed_chars=len(text))
    cache.put(text, RequestOptions(), Analysis(prediction, [date], Escalation(), None, engine.version), engine)
    assert len(cache) == 0
    fixed = RequestOptions(reference_time=dt.datetime(2026, 12, 4, 13, 0, tzinfo=dt.timezone.utc))
    cache.put(text, fixed, Analysis(prediction, [date], Escalation(), None, engine.version), engine)
    assert len(cache) == 1  # with its reference time in the key, it is the same answer every time


def test_a_turn_read_against_a_previous_one_is_not_cached_without_a_reference_time(banking_artifact):
    """"make it this morning" after a bill: at noon the words were no date (it had passed) and became
    the payee; stored, the next morning's request got that answer back, not its own."""
    engine = Engine.load(banking_artifact)
    cache = AnalysisCache(8)
    text = "make it this morning"
    prediction = Prediction([("greeting", 0.4)], [], 0.1, analyzed_chars=len(text))
    follow = RequestOptions(previous_intent="pay_bill", filled_slots=(("amount", "20 USD"),))
    cache.put(text, follow, Analysis(prediction, [], Escalation(), None, engine.version), engine)
    assert len(cache) == 0
    cache.put(text, replace(follow, reference_time=dt.datetime(2026, 12, 4, 13, tzinfo=dt.timezone.utc)),
              Analysis(prediction, [], Escalation(), None, engine.version), engine)
    assert len(cache) == 1


# -- the year in responses ---------------------------------------------------------------------

OPTS = RequestOptions(reference_time=dt.datetime(2026, 11, 29, 20, tzinfo=dt.timezone.utc),
                      time_zone="America/Los_Angeles")
MONEY = ResolvedEntity("amount", "x", 0, 1, 0.9, "model", True, {"kind": "money", "amount": "75", "currency": "USD"})


def scheduled(responder: Responder, value: str, options: RequestOptions = OPTS) -> str:
    date = ResolvedEntity("date", "x", 0, 1, 0.9, "model", True, {"kind": "datetime", "value": value, "grain": "day"})
    return responder.respond("schedule_payment", [MONEY, date], Escalation(), options).text


@pytest.mark.parametrize("value, shown", [
    ("2026-12-04T00:00:00-08:00", "Friday, December 4."),
    ("2027-10-29T00:00:00-07:00", "Friday, October 29."),  # within about 11 months
    ("2027-11-26T00:00:00-08:00", "Friday, November 26, 2027."),  # "November 26" would be heard as this one
    ("2030-11-15T00:00:00-08:00", "Friday, November 15, 2030."),  # was "Friday, November 15"
    ("2026-11-27T00:00:00-08:00", "Friday, November 27."),  # two days back: no year needed
    ("2024-11-29T00:00:00-08:00", "Friday, November 29, 2024."),
])
def test_a_date_not_within_the_next_11_months_is_shown_with_its_year(value, shown):
    responder = Responder(yaml.safe_load(BANKING.read_text(encoding="utf-8")))
    assert f"payment of $75.00 for {shown} " in scheduled(responder, value)
    if "2030" in shown:
        gb = RequestOptions(reference_time=OPTS.reference_time, time_zone=OPTS.time_zone, locale="en-GB")
        de = RequestOptions(reference_time=OPTS.reference_time, time_zone=OPTS.time_zone, locale="de-DE")
        assert "Friday, 15 November 2030" in scheduled(responder, value, gb)
        assert "Freitag, 15. November 2030" in scheduled(responder, value, de)


# -- what else is said must count, or the date is unresolved (a second audit) -------------------

def when(resolver: Resolver, text: str) -> str | None:
    """The date and time `text` names for schedule_payment, to the minute."""
    found = resolver.resolve_value("date", text, SUNDAY)
    return found and found["value"][:16]


@pytest.mark.parametrize("text", [
    "the 10th 2030",  # was October 2030: the 10th read as the month
    "on the 10th 2030",
    "the 10th, 2030",
    "the tenth 2030",
    "the 3rd 2027",  # was March 2027
])
def test_a_day_and_a_year_with_no_month_name_no_date(resolver, text):
    assert resolver.resolve_value("date", text, SUNDAY) is None


@pytest.mark.parametrize("text, expected", [
    ("10 days after the 15th", "2026-12-25"),  # was 2026-12-09: ten days from today
    ("2 days before christmas", "2026-12-23"),  # was unresolved
    ("a week from friday", "2026-12-11"),
    ("2 weeks from friday", "2026-12-18"),
    ("a week from tomorrow", "2026-12-07"),
    ("the day before christmas", "2026-12-24"),
    ("the day after tomorrow", "2026-12-01"),
    ("day after tomorrow", "2026-12-01"),
    ("the monday after march 5", "2027-03-08"),  # was 2027-03-05, a Friday
    ("the friday before christmas", "2026-12-18"),
    ("ten days after the fifteenth", "2026-12-25"),
    ("3 days from now", "2026-12-02"),  # counted from today, as before
    ("2 days after tomorrow", "2026-12-02"),  # was 2026-11-30
])
def test_a_count_from_a_date_counts_from_that_date(resolver, text, expected):
    assert day(resolver, text) == expected


def test_a_count_from_a_date_reads_that_date_in_the_intents_direction(resolver):
    assert day(resolver, "2 days after friday", past=True) == "2026-11-29"  # last Friday, the 27th
    assert day(resolver, "the day before yesterday", past=True) == "2026-11-27"


@pytest.mark.parametrize("text", ["the friday after next", "10 days after next month", "2 days before january"])
def test_a_count_from_what_is_no_day_names_no_date(resolver, text):
    assert resolver.resolve_value("date", text, SUNDAY) is None


@pytest.mark.parametrize("text", [
    "tomorrow 10",  # was tomorrow, the 10 dropped: an hour without am/pm, as "at 10"
    "10 tomorrow",
    "tomorrow, 10",
    "tomorrow 12",
    "today 5",
    "5 on friday",  # was May 2027
    "tomorrow at ten",
])
def test_a_bare_number_beside_a_day_is_an_hour_without_am_or_pm(resolver, text):
    assert resolver.resolve_value("date", text, SUNDAY) is None


@pytest.mark.parametrize("text, expected", [
    ("tomorrow 10am", "2026-11-30T10:00"),
    ("friday at 5pm", "2026-12-04T17:00"),
    ("tomorrow morning at 10", "2026-11-30T10:00"),
    ("tomorrow morning 10", "2026-11-30T10:00"),
    ("tonight 9", "2026-11-29T21:00"),
    ("this afternoon at 4", "2026-11-29T16:00"),  # was 12:00: "noon" read inside "afternoon"
    ("in the afternoon", "2026-11-29T15:00"),  # was unresolved, as "afternoon" held "noon"
    ("friday at 3 in the afternoon", "2026-12-04T15:00"),
    ("12 noon", "2026-11-29T12:00"),  # was 2026-12-12 at noon: the 12 read as the 12th
    ("tomorrow at 12 noon", "2026-11-30T12:00"),
    ("12 midnight", "2026-11-30T00:00"),
    ("midnight", "2026-11-30T00:00"),
])
def test_an_hour_that_a_part_of_the_day_makes_clear_is_read(resolver, text, expected):
    assert when(resolver, text) == expected


@pytest.mark.parametrize("text", [
    "tomorrow at midnight",  # was 2026-11-30T00:00, the night before: its start or its end?
    "friday at midnight",
    "midnight on friday",
])
def test_midnight_said_with_a_day_names_no_one_time(resolver, text):
    assert resolver.resolve_value("date", text, SUNDAY) is None


@pytest.mark.parametrize("text", ["before the 15th", "after the 15th", "before friday", "after friday", "2 days after"])
def test_before_or_after_a_date_is_no_date(resolver, text):
    """A payment "before the 15th" is not one on the 15th (was 2026-12-15), nor is "2 days after" in two
    days (was 2026-12-01): the slot asks."""
    assert resolver.resolve_value("date", text, SUNDAY) is None


@pytest.mark.parametrize("text, expected", [
    ("by the 15th", "2026-12-15"),  # on or before it: the day itself will do
    ("by friday", "2026-12-04"),
    ("until friday", "2026-12-04"),
    ("from friday", "2026-12-04"),
    ("this coming friday", "2026-12-04"),  # was unresolved
])
def test_a_date_said_with_by_until_or_from_is_that_date(resolver, text, expected):
    assert day(resolver, text) == expected


def test_as_soon_as_possible_is_now(resolver):
    for text in ("as soon as possible", "right away", "asap"):
        assert when(resolver, text) == "2026-11-29T12:00", text


@pytest.mark.parametrize("text, expected", [
    ("thanksgiving", "2026-11-26"),  # was 2027-11-25 for a disputed charge three days ago
    ("christmas", "2025-12-25"),  # was 2026-12-25, ahead
    ("memorial day", "2026-05-25"),
    ("the day after thanksgiving", "2026-11-27"),
])
def test_a_holiday_for_an_intent_about_the_past_is_the_last_one(resolver, text, expected):
    assert day(resolver, text, past=True) == expected


# -- a review: ordinals among words, "4 dec 26", weeks far off --------------------------------

@pytest.mark.parametrize("text, expected", [
    ("the morning of the 4th", "2026-12-04T09:00"),  # was 2027-04-29T09:00: "4th" read as April
    ("on the 4th by 5 pm", "2026-12-04T17:00"),  # was 2027-04-29T17:00; a deadline, read as its time
    ("the morning of the 3rd", "2026-12-03T09:00"),  # was 2027-03-29T09:00
    ("on the morning of the 4th", "2026-12-04T09:00"),
    ("the evening of the 4th", "2026-12-04T19:00"),  # was 2027-04-29T18:00
    ("the afternoon of the 15th", "2026-12-15T15:00"),  # was unresolved: November 15th, gone
    ("the morning of dec 4th", "2026-12-04T09:00"),
    ("the 4th in the morning", "2026-12-04T09:00"),
    ("the 4th at 5pm", "2026-12-04T17:00"),
    ("by 5pm on the 4th", "2026-12-04T17:00"),
])
def test_a_day_of_the_month_with_a_time_around_it_is_that_day(resolver, text, expected):
    assert when(resolver, text) == expected


FRIDAY_4TH = dt.datetime(2026, 12, 4, 12, 0, tzinfo=NY)


@pytest.mark.parametrize("text, reference", [
    ("the 4th after 5pm", SUNDAY),  # was 2027-04-29T17:00: not the 4th
    ("the 4th early morning", SUNDAY),  # was 2026-11-30T04:00
    ("the 4th after 5pm", FRIDAY_4TH),  # was 2027-04-04T17:00: the 4th, but of April, the month "4th" named
])
def test_a_reading_that_moves_the_ordinal_day_written_is_no_date(resolver, text, reference):
    assert resolver.resolve_value("date", text, reference) is None


@pytest.mark.parametrize("text, past, expected", [
    ("on 4 dec 26", False, "2026-12-04"),  # was unresolved: the British written form
    ("12 december 26", False, "2026-12-12"),
    ("4th of december 26", False, "2026-12-04"),
    ("4 dec 30", False, "2030-12-04"),
    ("4 dec 26 at 5pm", False, "2026-12-04"),
    ("4 dec 99", True, "1999-12-04"),  # within 50 years, as "3/4/99"
])
def test_a_two_digit_year_after_a_day_and_a_month_name_is_a_year(resolver, text, past, expected):
    assert day(resolver, text, past) == expected


@pytest.mark.parametrize("text", ["4 dec 10", "dec 4 26", "december 4 26", "dec 4 10"])
def test_two_digits_that_may_be_an_hour_or_follow_the_month_are_no_year(resolver, text):
    """"4 dec 10": December 4th at 10, or 2010?; "dec 4 26" (US order) was unresolved and stays so."""
    assert resolver.resolve_value("date", text, SUNDAY) is None
    assert resolver.resolve_value("date", text, SUNDAY, past=True) is None


@pytest.mark.parametrize("value, locale, shown", [
    ("2028-12-04T00:00:00-08:00", "en-US", "the week of December 4, 2028."),  # was "the week of December 4"
    ("2028-12-04T00:00:00-08:00", "en-GB", "the week of 4 December 2028."),
    ("2028-12-04T00:00:00-08:00", "de-DE", "die Woche vom 4. Dezember 2028."),
    ("2026-11-30T00:00:00-08:00", "en-US", "the week of November 30."),  # this week: no year needed
])
def test_a_week_not_within_the_next_11_months_is_shown_with_its_year(value, locale, shown):
    responder = Responder(yaml.safe_load(BANKING.read_text(encoding="utf-8")))
    week = ResolvedEntity("date", "x", 0, 1, 0.9, "model", True, {"kind": "datetime", "value": value, "grain": "week"})
    options = RequestOptions(reference_time=OPTS.reference_time, time_zone=OPTS.time_zone, locale=locale)
    assert shown in responder.respond("schedule_payment", [MONEY, week], Escalation(), options).text


# -- what dateparser reads as a date and is none ------------------------------------------------

@pytest.mark.parametrize("text", ["a", "an", "we", "one sec", "a second", "two seconds", "5 minutes", "a week",
                                  "three weeks", "a couple of days", "$12.75", "€19.99"])
def test_a_length_of_time_an_amount_or_a_short_word_names_no_date(resolver, text):
    """dateparser read "one sec" as a second from now, "$12.75" as December 2075, "a" as January
    and "we" as Wednesday: a follow-up "give me one sec" after a scheduled payment moved it."""
    assert day(resolver, text) is None and day(resolver, text, past=True) is None


@pytest.mark.parametrize("text, expected", [("in two weeks", "2026-12-13"), ("two weeks ago", "2026-11-15"),
                                            ("a week from friday", "2026-12-11"), ("five", "2026-12-05"),
                                            ("the fifth", "2026-12-05"), ("four", "2026-12-04")])
def test_a_length_of_time_with_a_direction_and_a_day_in_words_still_read(resolver, text, expected):
    """"five" was May (dateparser) while "four" was the 4th: every number word is a day of the month."""
    assert day(resolver, text, past=text.endswith("ago")) == expected


# -- a bare number beside a time or a length; clocks that change (a third audit) ---------------

MARCH_6 = dt.datetime(2026, 3, 6, 9, 0, tzinfo=NY)


def model_date(resolver: Resolver, text: str, surface: str, reference: dt.datetime = MARCH_6) -> dict | None:
    """The resolution of the model's date span `surface` in `text` for schedule_payment."""
    start = text.index(surface)
    options = RequestOptions(reference_time=reference, time_zone="America/New_York")
    (date,) = resolver.resolve(text, [EntitySpan("date", start, start + len(surface), surface, 0.9)], options)
    return date.resolution


@pytest.mark.parametrize("text, surface", [
    ("schedule a payment of 100 dollars at half past 2", "2"),  # was April 2, and a payment confirmed for it
    ("in 3 hours and 30 minutes", "30"),  # was March 30
    ("at 5 o'clock", "5"),  # was April 5
    ("in 2 and a half hours", "2"),  # was April 2
    ("at quarter to 3", "3"),
    ("ten minutes to 5", "5"),
    ("at 5 pm", "5"),
    ("in 3h30m", "30"),
    ("around 10:30", "10"),
    ("at half past two", "two"),
])
def test_a_bare_number_beside_a_time_or_a_length_is_no_day_of_the_month(resolver, text, surface):
    assert model_date(resolver, text, surface) is None


@pytest.mark.parametrize("text, surface, expected", [
    ("pay it on 5", "5", "2026-04-05"),  # nothing beside it makes it a time: the 5th
    ("15", "15", "2026-03-15"),  # a bare answer to "When should the payment go out?"
    ("on the 15", "15", "2026-03-15"),
    ("change it to 15", "15", "2026-03-15"),  # "to", but no minutes to an hour
    ("make it the 5th", "the 5th", "2026-04-05"),
    ("five", "five", "2026-04-05"),
    ("pay on the 1st and 15", "15", "2026-03-15"),  # "and" after a day, not after hours or minutes
    ("pay on the 5 and 6", "6", "2026-03-06"),  # today
    ("move it from 5 to 15", "15", "2026-03-15"),  # a range's end, not minutes to an hour
])
def test_a_bare_number_with_nothing_of_a_time_beside_it_is_still_a_day(resolver, text, surface, expected):
    assert model_date(resolver, text, surface)["value"][:10] == expected


def test_a_half_past_the_model_took_for_a_day_asks_for_the_date(banking_artifact):
    """End to end: "Done: ... scheduled for Thursday, April 2" was the answer to "half past 2"."""
    engine = Engine.load(banking_artifact)
    text = "schedule a payment of 100 dollars at half past 2"
    amount = text.index("100 dollars")
    spans = [EntitySpan("amount", amount, amount + 11, "100 dollars", 0.9),
             EntitySpan("date", len(text) - 1, len(text), "2", 0.9)]
    options = RequestOptions(reference_time=MARCH_6, time_zone="America/New_York")
    entities = engine.resolver.resolve(text, spans, options, "schedule_payment")
    prediction = Prediction([("schedule_payment", 0.95), ("pay_bill", 0.03)], spans, 0.0, analyzed_chars=len(text))
    analysis = engine.conclude(text, prediction, entities, options)
    assert analysis.response.text == "When should the payment go out?"
    assert dict(analysis.response.slots_used) == {"amount": "100 USD"}


SPRING = dt.datetime(2026, 3, 8, 1, 30, tzinfo=NY)  # 01:30 EST; at 02:00 the clocks go to 03:00
FALL = dt.datetime(2026, 11, 1, 1, 30, tzinfo=NY)  # the first 01:30 (EDT); at 02:00 the clocks go back to 01:00
LORD_HOWE = dt.datetime(2026, 10, 4, 1, 0, tzinfo=ZoneInfo("Australia/Lord_Howe"))  # half an hour forward at 02:00


@pytest.mark.parametrize("text, reference, value", [
    ("in 2h", SPRING, "2026-03-08T04:30:00-04:00"),  # was 03:30: two hours on the clock, one in real time
    ("in 3 hours and 30 minutes", SPRING, "2026-03-08T06:00:00-04:00"),  # was 05:00
    ("in 3h30m", SPRING, "2026-03-08T06:00:00-04:00"),
    ("in 2 hours from today", SPRING, "2026-03-08T04:30:00-04:00"),  # was 03:30
    ("in 2 hours today", SPRING, "2026-03-08T04:30:00-04:00"),
    ("in 3 hours and 30 minutes", FALL, "2026-11-01T04:00:00-05:00"),  # was 05:00
    ("in 1 hour from today", FALL, "2026-11-01T01:30:00-05:00"),  # was 02:30: the second 01:30
    ("in 2h", LORD_HOWE, "2026-10-04T03:30:00+11:00"),  # was 03:00
    ("in 2h", dt.datetime(2026, 3, 5, 10, 0, tzinfo=NY), "2026-03-05T12:00:00-05:00"),  # no clock change (was grain hour)
])
def test_a_count_of_hours_or_minutes_is_real_time_across_a_clock_change(resolver, text, reference, value):
    """A count from now is to the minute, as "in 2 hours" always was (was grain hour on the hour)."""
    assert resolver.resolve_value("date", text, reference) == {"kind": "datetime", "value": value, "grain": "minute"}


def test_hours_ago_are_real_time_across_a_clock_change(resolver):
    four_edt = dt.datetime(2026, 3, 8, 4, 0, tzinfo=NY)
    assert resolver.resolve_value("date", "3 hours ago today", four_edt, past=True)["value"] == \
        "2026-03-08T00:00:00-05:00"  # was 01:00, two hours ago


@pytest.mark.parametrize("text, reference", [
    ("tomorrow at 2:30am", dt.datetime(2026, 3, 7, 12, 0, tzinfo=NY)),  # was 03:30, "Done ... at 3:30 AM"
    ("2:30am", dt.datetime(2026, 3, 8, 1, 15, tzinfo=NY)),
    ("sunday at 2:15 am", dt.datetime(2026, 3, 6, 12, 0, tzinfo=NY)),
    ("2026-03-08T02:30:00", dt.datetime(2026, 3, 7, 12, 0, tzinfo=NY)),
])
def test_a_time_the_clocks_skip_names_no_time(resolver, text, reference):
    """No clock shows 2:30 that night; moved to 3:30, a payment went out at a time nobody said."""
    assert resolver.resolve_value("date", text, reference) is None


def test_a_repeated_time_is_the_first_and_a_day_whose_midnight_is_skipped_still_starts(resolver):
    assert resolver.resolve_value("date", "tomorrow at 1:30am", dt.datetime(2026, 10, 31, 12, 0, tzinfo=NY)) == \
        {"kind": "datetime", "value": "2026-11-01T01:30:00-04:00", "grain": "minute"}
    santiago = dt.datetime(2026, 9, 5, 12, 0, tzinfo=ZoneInfo("America/Santiago"))  # 00:00 on the 6th is skipped
    assert resolver.resolve_value("date", "tomorrow", santiago) == \
        {"kind": "datetime", "value": "2026-09-06T01:00:00-03:00", "grain": "day"}


@pytest.mark.parametrize("text, expected", [("five pm", "2026-11-29T17:00"), ("at seven am tomorrow", "2026-11-30T07:00"),
                                            ("friday at five pm", "2026-12-04T17:00")])
def test_an_hour_said_in_words_reads_as_in_digits(resolver, text, expected):
    assert resolver.resolve_value("date", text, SUNDAY)["value"][:16] == expected


@pytest.mark.parametrize("text", ["at five", "friday at five"])
def test_an_hour_in_words_without_am_or_pm_is_no_day(resolver, text):
    """"at five" answering a payment's date was Saturday, December 5."""
    assert resolver.resolve_value("date", text, SUNDAY) is None


@pytest.mark.parametrize("text, expected", [("five pm", (17, 0, "hour", None)), ("at nine a.m.", (9, 0, "hour", None)),
                                            ("in the evening", (19, 0, "hour", None)),
                                            ("that morning", (9, 0, "hour", None)), ("5 pm", (17, 0, "hour", None)),
                                            ("at 4.15", (4, 15, "minute", None)),
                                            ("4pm et", (16, 0, "hour", "America/New_York")), ("4pm ist", None),
                                            ("friday", None), ("the evening of the 4th", None)])
def test_a_time_alone_in_words_or_a_part_of_the_day_is_a_time_only(text, expected):
    """A follow-up that says only a time keeps the agreed day: "five pm" and "in the evening" after
    a payment for the 15th were today."""
    from intentd.server.resolve.dates import time_only
    assert time_only(text) == expected


@pytest.mark.parametrize("text, past, expected", [
    ("five pm", True, "2026-11-28T17:00"),  # said at noon after a lost card: yesterday's (it was today, ahead)
    ("five pm", False, "2026-11-29T17:00"),
    ("the last day of the month", True, "2026-10-31T00:00"),  # looking back: October's (it was November 30)
    ("the last day of the month", False, "2026-11-30T00:00"),
    ("at ten thirty am", False, "2026-11-30T10:30"),  # minutes in words ("10 30 am" was an hour without am/pm)
    ("friday at nine thirty pm", False, "2026-12-04T21:30"),
    ("around five pm", False, "2026-11-29T17:00"),
])
def test_spoken_times_read_in_the_intents_direction(resolver, text, past, expected):
    assert resolver.resolve_value("date", text, SUNDAY, past)["value"][:16] == expected


@pytest.mark.parametrize("text", ["twenty at nine pm", "20 at 9pm", "five o'clock"])
def test_a_bare_number_beside_a_time_is_no_day_and_an_hour_without_am_pm_no_time(resolver, text):
    """"transfer twenty at nine pm" was a transfer on the 20th."""
    assert resolver.resolve_value("date", text, SUNDAY) is None


# -- times dateparser did not read (an audit: each came back a confident wrong value) ---------

MORNING = SUNDAY.replace(hour=8, minute=17)
LONDON = dt.datetime(2026, 11, 29, 10, 0, tzinfo=ZoneInfo("Europe/London"))


def value(resolver: Resolver, text: str, reference: dt.datetime = SUNDAY, locale: str = "en-US") -> str | None:
    from intentd.server import locale as locales

    found = resolver.resolve_value("date", text, reference, False, locales.get(locale))
    return found and found["value"]


@pytest.mark.parametrize("text, expected", [
    ("tonight at 9.30", "2026-11-29T21:30:00-05:00"),  # was 08:17, the reference's clock: "now"
    ("this evening at 7.30", "2026-11-29T19:30:00-05:00"),
    ("tomorrow morning at 9.30", "2026-11-30T09:30:00-05:00"),  # was 2026-11-30T08:17
    ("tomorrow at 3.15pm", "2026-11-30T15:15:00-05:00"),  # was the day alone
    ("3.15pm tomorrow", "2026-11-30T15:15:00-05:00"),
])
def test_a_time_written_with_a_dot_is_that_time(resolver, text, expected):
    assert value(resolver, text, MORNING) == expected


@pytest.mark.parametrize("text", [
    "at 9.30 today by the way",  # dateparser kept the reference's clock for what it could not read
    "tomorrow at 1530",  # a 24-hour time without its colon: the day was kept and the time dropped
    "tomorrow at 24:00", "tomorrow at 13pm", "tomorrow at 0pm",  # no such time: the day alone was kept
])
def test_a_time_that_cannot_be_read_is_unresolved_not_the_reference_clock_or_the_day(resolver, text):
    assert value(resolver, text, MORNING) is None


@pytest.mark.parametrize("locale", ["en-GB", "de-DE"])
def test_a_british_dotted_time_is_a_time_and_no_date(resolver, locale):
    assert value(resolver, "at 12.30", LONDON, locale) == "2026-11-29T12:30:00+00:00"  # was December 30
    for text in ("12.30", "3.15", "10.15"):  # no day-first reading: was flipped to a month-first date
        assert value(resolver, text, LONDON, locale) is None, text
    assert value(resolver, "4.12.", LONDON, locale) == "2026-12-04T00:00:00+00:00"  # still a day-first date


@pytest.mark.parametrize("text, reference, expected", [
    ("tomorrow at 3pm pst", SUNDAY, "2026-11-30T18:00:00-05:00"),  # was 15:00 New York time
    ("3pm pst tomorrow", SUNDAY, "2026-11-30T18:00:00-05:00"),
    ("tomorrow 3pm utc", SUNDAY, "2026-11-30T10:00:00-05:00"),
    ("friday at 3pm pst", SUNDAY, "2026-12-04T18:00:00-05:00"),
    ("3pm pst", SUNDAY, "2026-11-29T18:00:00-05:00"),
    ("tomorrow at 3pm est", SUNDAY.astimezone(ZoneInfo("America/Los_Angeles")), "2026-11-30T12:00:00-08:00"),
    ("9am ist", SUNDAY, None),  # India, Ireland or Israel
    ("9.30 ist", SUNDAY, None),  # a dotted time too (it was 02:30 the next day: Israel's 09:30)
    ("9.30 pst", SUNDAY, "2026-11-29T12:30:00-05:00"),
    ("9.30 eastern", SUNDAY, "2026-11-30T09:30:00-05:00"),  # the next 09:30 (it was no date)
    ("on 18.12 eastern", SUNDAY, None),  # "on": a date, which en-US does not write with dots
])
def test_a_time_zone_named_after_a_time_is_that_zones(resolver, text, reference, expected):
    assert value(resolver, text, reference) == expected


def test_a_zone_the_model_left_out_of_the_date_span_is_the_dates(resolver):
    text = "schedule a payment of $75 to Comcast tomorrow at 3pm pst"
    spans = [EntitySpan("date", text.index("tomorrow"), text.index(" pst"), "tomorrow at 3pm", 0.9)]
    (date,) = resolver.resolve(text, spans, RequestOptions(reference_time=SUNDAY), intent="schedule_payment")
    assert (date.text, date.resolution["value"]) == ("tomorrow at 3pm pst", "2026-11-30T18:00:00-05:00")
    # tagged as another entity, the zone cannot join the date: the date is asked for again, not hours off
    spans.append(EntitySpan("merchant", text.index("pst"), len(text), "pst", 0.9))
    date = next(e for e in resolver.resolve(text, spans, RequestOptions(reference_time=SUNDAY),
                                            intent="schedule_payment") if e.type == "date")
    assert not date.resolved


@pytest.mark.parametrize("text, expected", [
    ("tomorrow week", "2026-12-07"),  # British: a week after tomorrow (was tomorrow)
    ("friday week", "2026-12-11"),
    ("a week tomorrow", "2026-12-07"),
])
def test_a_week_after_a_day_is_a_week_after_it(resolver, text, expected):
    assert day(resolver, text) == expected


@pytest.mark.parametrize("locale", ["en-US", "en-GB"])
def test_the_at_the_model_left_out_of_a_dotted_time_makes_it_a_time(resolver, locale):
    text = "schedule a payment of £50 to British Gas at 12.30"
    spans = [EntitySpan("date", text.index("12.30"), len(text), "12.30", 0.9)]
    options = RequestOptions(reference_time=LONDON, time_zone="Europe/London", locale=locale)
    (date,) = resolver.resolve(text, spans, options, intent="schedule_payment")
    assert (date.text, date.resolution["value"]) == ("at 12.30", "2026-11-29T12:30:00+00:00")


# -- a re-audit of the times above ---------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("tonight 9.30", "2026-11-29T21:30:00-05:00"),  # was the reference's clock: "now"
    ("tomorrow 9.30", "2026-11-30T09:30:00-05:00"),  # was the day alone
    ("9.30 tomorrow", "2026-11-30T09:30:00-05:00"),
])
def test_a_dotted_time_beside_a_day_is_a_time(resolver, text, expected):
    assert value(resolver, text) == expected


@pytest.mark.parametrize("locale", ["en-GB", "de-DE"])
def test_a_dotted_number_that_may_be_a_day_first_date_or_a_time_is_unresolved(resolver, locale):
    """"by 4.12" is 4 December or 04:12: it was read as 04:12, and a payment due on the 4th went out
    at dawn. With a day or am/pm beside it, it is a time; with minutes no month has, too."""
    for text in ("by 4.12", "at 9.05"):
        assert value(resolver, text, LONDON, locale) is None, text
    assert value(resolver, "tonight at 9.05", LONDON, locale) == "2026-11-29T21:05:00+00:00"
    assert value(resolver, "at 9.05pm", LONDON, locale) == "2026-11-29T21:05:00+00:00"


@pytest.mark.parametrize("locale", ["en-GB", "de-DE"])
def test_a_weekday_before_a_day_first_dotted_date_is_that_date(resolver, locale):
    """"on friday 18.12", how a British or German caller writes Friday 18 December, was Friday of
    this week at 18:12 (any day word made the dotted number a time)."""
    assert value(resolver, "friday 18.12", LONDON, locale) == "2026-12-18T00:00:00+00:00"
    assert value(resolver, "monday 14.12", LONDON, locale) == "2026-12-14T00:00:00+00:00"
    # ... and with "the" before it ("on friday the 18.12" was Friday the 4th at 18:12)
    assert value(resolver, "on friday the 18.12", LONDON, locale) == "2026-12-18T00:00:00+00:00"
    assert value(resolver, "monday the 14.12 at 9.30", LONDON, locale) == "2026-12-14T09:30:00+00:00"
    assert value(resolver, "thursday the 18.12", LONDON, locale) is None  # the 18th is a Friday
    assert value(resolver, "friday 18.12 at 3pm", LONDON, locale) == "2026-12-18T15:00:00+00:00"  # was asked
    assert value(resolver, "monday 7.12 in the morning", LONDON, locale) == "2026-12-07T09:00:00+00:00"
    assert value(resolver, "18.12 friday", LONDON, locale) is None  # the 18th, or 18:12 on Friday?
    # no date has those minutes as a month, and "at" or a relative day still make a time
    assert value(resolver, "friday 9.30", LONDON, locale) == "2026-12-04T09:30:00+00:00"
    assert value(resolver, "friday at 9.05", LONDON, locale) == "2026-12-04T09:05:00+00:00"
    assert value(resolver, "tomorrow 9.05", LONDON, locale) == "2026-11-30T09:05:00+00:00"


@pytest.mark.parametrize("locale", ["en-GB", "de-DE"])
def test_at_before_a_dotted_span_that_may_be_a_date_or_a_time_leaves_it_unread(resolver, locale):
    """"pay £50 to British Gas at 9.05" with the model's span "9.05": "at 9.05" is refused (9 May or
    09:05?), and the span alone was then read as 9 May next year."""
    text = "pay £50 to British Gas at 9.05"
    spans = [EntitySpan("date", text.index("9.05"), len(text), "9.05", 0.9)]
    options = RequestOptions(reference_time=LONDON, time_zone="Europe/London", locale=locale)
    (date,) = resolver.resolve(text, spans, options, intent="schedule_payment")
    assert not date.resolved and date.text == "9.05"
    text = "pay £50 to British Gas at 9.30"  # no month 30: the time
    spans = [EntitySpan("date", text.index("9.30"), len(text), "9.30", 0.9)]
    (date,) = resolver.resolve(text, spans, options, intent="schedule_payment")
    assert date.resolution["value"] == "2026-11-30T09:30:00+00:00"


def test_a_lone_z_after_a_time_is_asked_not_the_callers_clock(resolver):
    """"tomorrow at 3pm z" was 15:00 in New York (the zone word dropped): 5 hours off if UTC was meant."""
    for text in ("tomorrow at 3pm z", "tomorrow at 15:00 z", "3pm zulu"):
        assert value(resolver, text) is None, text


def test_a_day_said_with_a_zone_is_the_callers_day():
    """At 22:00 on Sunday in Los Angeles (Monday in New York) "tomorrow at 9am est" was Tuesday
    (New York's tomorrow), and "monday at 9am est" for a dispute tomorrow morning."""
    r = Resolver(yaml.safe_load(BANKING.read_text(encoding="utf-8")))
    late = dt.datetime(2026, 11, 29, 22, 0, tzinfo=ZoneInfo("America/Los_Angeles"))
    assert r.resolve_value("date", "tomorrow at 9am est", late)["value"] == "2026-11-30T06:00:00-08:00"
    assert r.resolve_value("date", "monday at 9am est", late, True)["value"] == "2026-11-23T06:00:00-08:00"
    assert r.resolve_value("date", "3pm est", late)["value"] == "2026-11-30T12:00:00-08:00"  # the next 3pm there


def test_a_region_word_after_a_time_with_a_word_after_it_is_asked(resolver):
    """"tomorrow at 3pm central hudson" (a utility) was read at 3pm Central time; read without the
    zone, "tomorrow at 3pm pacific for the rent" was 3pm New York. Zone or name? The date is asked,
    whichever way the model's span takes the region word; last, or before "time", it is the zone."""
    for text in ("schedule a payment of $75 tomorrow at 3pm central hudson",
                 "schedule a payment of $75 tomorrow at 3pm pacific for the rent"):
        region = next(r for r in (" central", " pacific") if r in text)
        after = text.index(" ", text.index(region) + 1)
        for end in (text.index(region), after):  # the span without the region word, and with it
            spans = [EntitySpan("date", text.index("tomorrow"), end, text[text.index("tomorrow"):end], 0.9)]
            (date,) = resolver.resolve(text, spans, RequestOptions(reference_time=SUNDAY), intent="schedule_payment")
            assert not date.resolved, (text, date.text)
        assert value(resolver, text[text.index("tomorrow"):]) is None
    # a time written with a dot, in en-GB ("tomorrow at 15.30 central hudson" was Central time)
    text = "schedule a payment of £75 tomorrow at 15.30 central hudson"
    for end in (text.index(" central"), text.index(" hudson")):
        spans = [EntitySpan("date", text.index("tomorrow"), end, text[text.index("tomorrow"):end], 0.9)]
        options = RequestOptions(reference_time=LONDON, time_zone="Europe/London", locale="en-GB")
        (date,) = resolver.resolve(text, spans, options, intent="schedule_payment")
        assert not date.resolved, date.text
    # ... and in brackets, or after a full stop ("15.30 (pacific) for the rent" was 15:30 London, the
    # region word dropped without a word)
    for text in ("schedule a payment of £75 tomorrow at 15.30 (pacific) for the rent",
                 "schedule a payment of £75 tomorrow at 15.30. pacific for the rent",
                 "schedule a payment of £75 tomorrow at 3pm. pacific for the rent"):
        end = text.index(".", text.index("tomorrow") + 15) if ". " in text else text.index(" (")
        spans = [EntitySpan("date", text.index("tomorrow"), end, text[text.index("tomorrow"):end], 0.9)]
        options = RequestOptions(reference_time=LONDON, time_zone="Europe/London", locale="en-GB")
        (date,) = resolver.resolve(text, spans, options, intent="schedule_payment")
        assert not date.resolved, (text, date.text)
    assert value(resolver, "tomorrow at 3pm central") == "2026-11-30T16:00:00-05:00"
    assert value(resolver, "tomorrow at 3pm central time") == "2026-11-30T16:00:00-05:00"
    text = "schedule a payment of $75 tomorrow at 3pm central time please"
    spans = [EntitySpan("date", text.index("tomorrow"), text.index(" time"), "tomorrow at 3pm central", 0.9)]
    (date,) = resolver.resolve(text, spans, RequestOptions(reference_time=SUNDAY), intent="schedule_payment")
    assert date.resolution["value"] == "2026-11-30T16:00:00-05:00"


def test_a_weekday_date_and_a_dotted_time_beside_it_are_asked(resolver):
    """"on monday 14.12 10.15" in en-GB was 10 December 2115 at 14:12."""
    for text in ("on monday 14.12 10.15", "friday 18.12 9.30"):
        assert value(resolver, text, LONDON, "en-GB") is None, text
    assert value(resolver, "friday 18.12 at 9.30", LONDON, "en-GB") == "2026-12-18T09:30:00+00:00"


def test_by_a_year_is_that_year(resolver):
    """A guard for "at 1530" took "by 2027" too."""
    assert resolver.resolve_value("date", "by 2027", SUNDAY)["grain"] == "year"


@pytest.mark.parametrize("text, refused, tonight", [
    ("İ meant 5pm, not friday", ["friday"], False),  # lowered, "İ" is two characters: "not frida"
    ("5pm, NOT Tomorrow", ["tomorrow"], False),
    ("7pm, tonight is busy", ["tonight"], False),
    ("at 7pm, but tonight's no good", ["tonight"], False),
    ("friday won't work, monday", ["friday"], False),
    ("pay it friday out of checking", [], False),
    ("tonight at 7", [], True),
    ("tonight? no, 7pm", ["tonight"], False),
    ("tonight, no problem", [], True),
    ("friday, no later than 5", [], False),
    ("monday, no rush", [], False),
    ("tonight, no biggie, 7pm", [], True),
])
def test_the_days_a_turn_refuses(text, refused, tonight):
    from intentd.server.resolve.dates import days_refused, says_tonight

    assert days_refused(text) == refused and says_tonight(text) is tonight
