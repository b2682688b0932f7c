"""Numbers, ordinals, percentages and durations that were read as a value the caller did not say:
one value, one reading, or unresolved (docs/resolution.md)."""

from __future__ import annotations

import pytest

from intentd.server.resolve import Resolver
from intentd.server.resolve.duration import resolve_duration
from intentd.server.resolve.money import resolve_money
from intentd.server.resolve.numbers import resolve_number, resolve_ordinal, resolve_percentage


def test_point_before_a_number_is_its_decimal_point():
    """text2num reads "two point five" but left "point five" as "point 5", read as 5 (a number, a
    percentage, $5.00 and five hours), and "2 point 5" as two numbers."""
    assert resolve_number("point five") == {"kind": "number", "value": "0.5"}
    assert resolve_number("2 point 5") == {"kind": "number", "value": "2.5"}
    assert resolve_percentage("point five percent") == {"kind": "percentage", "value": "0.5"}
    assert resolve_percentage("2 point 5 percent") == {"kind": "percentage", "value": "2.5"}
    assert resolve_money("point five dollars", "USD") == {"kind": "money", "amount": "0.5", "currency": "USD"}
    assert resolve_duration("point five hours") == {"kind": "duration", "value": "PT30M", "seconds": 1800}
    assert resolve_number("5 point 5 point 5") is None  # "5.5.5": no one reading
    assert resolve_money("at this point 5 dollars", "USD")["amount"] == "5"  # a point in time


@pytest.mark.parametrize("text", ["double five", "triple seven", "double 5"])
def test_a_doubled_digit_is_no_one_number(text):
    """"double five" (55, or 10?) was 5."""
    assert resolve_number(text) is None


@pytest.mark.parametrize("text", ["5% or 10%", "5%-10%", "10% 20%", "5 percent or 10 percent", "33 1/3%",
                                  "10, 20%", "1/3%"])
def test_two_percentages_or_a_number_joined_to_one_are_unresolved(text):
    """"5% or 10%" and "5%-10%" were 5 (the range rule needs a digit beside the dash or "or"), "10%
    20%" 10, "33 1/3%" 3."""
    assert resolve_percentage(text) is None


def test_a_percentage_beside_another_kind_of_number_is_kept():
    for text, value in (("10% of 200", "10"), ("$100 at 5%", "5"), ("4.5% for 12 months", "4.5")):
        assert resolve_percentage(text) == {"kind": "percentage", "value": value}, text


@pytest.mark.parametrize("text", ["1st and 2nd", "the first or the second", "the 3rd of 5", "a third", "a fifth",
                                  "two thirds", "second to last", "3rd from the end", "the 2nd last", "3.5th",
                                  "1.000th"])
def test_an_ordinal_with_no_one_position_is_unresolved(text):
    """"1st and 2nd" was 1, "a third" (a fraction) 3, "second to last" 2, "3.5th" 5."""
    assert resolve_ordinal(text) is None


@pytest.mark.parametrize("text, value", [("1,000th", "1000"), ("the third", "3"), ("thirty-first", "31"),
                                         ("21st", "21"), ("the 2nd one", "2"), ("the second one", "2"),
                                         ("3rd from the top", "3")])
def test_an_ordinal_is_read_whole(text, value):
    """"1,000th" was 0: the digits after the comma read alone. The "one" of "the second one" is
    no second number."""
    assert resolve_ordinal(text) == {"kind": "ordinal", "value": value}


@pytest.mark.parametrize("text", ["2 ms", "2ms", "ten fifteen years", "fifteen, thirty years", "10 15 minutes",
                                  "2h30", "1 hour 30", "2 days, 3 days", "15 years 30 years", "1 minute 1 second"])
def test_a_duration_with_a_number_that_counts_no_unit_or_two_lengths_is_unresolved(text):
    """"2 ms" was 2 minutes ("ms" read as a plural of "m"), "ten fifteen years" 15 years (the 10
    skipped), "2 days, 3 days" 5 days (every part summed)."""
    assert resolve_duration(text) is None


@pytest.mark.parametrize("text, value", [("2 mins", "PT2M"), ("2 hrs", "PT2H"), ("2 yrs", "P2Y"), ("2 mos", "P2M"),
                                         ("3 secs", "PT3S"), ("1h30m", "PT1H30M"), ("5 years 6 months", "P5Y6M"),
                                         ("a year and 3 months", "P1Y3M"), ("2 and a half hours", "PT2H30M")])
def test_a_duration_of_several_units_is_still_read(text, value):
    assert resolve_duration(text)["value"] == value


def test_a_fractional_duration_is_carried_into_the_next_turn():
    """"a year and a half" resolves to P1.5Y, which the next turn's `filled_slots` refused: the
    loan term was asked for again."""
    resolver = Resolver({"entities": {"term": {"kind": "builtin", "builtin": "duration"}}})
    said = resolve_duration("a year and a half")
    assert said == {"kind": "duration", "value": "P1.5Y", "seconds": 47304000}
    assert resolver.resolve_carried("term", "P1.5Y", 1) == [said]
