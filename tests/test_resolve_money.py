"""Amounts, percentages and durations that were read as a wrong value: currencies in capitals, beside
the model's span or not known, percentages, signs, fractions a currency does not have, and lengths
with no one value. Each is read as meant, or unresolved (the slot's prompt asks), never guessed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from intentd.server import locale as locales
from intentd.server.analysis import RequestOptions
from intentd.server.decode import EntitySpan
from intentd.server.resolve import Resolver
from intentd.server.resolve.duration import resolve_duration
from intentd.server.resolve.money import resolve_money
from intentd.server.resolve.numbers import resolve_number, resolve_percentage

BANKING = Path(__file__).resolve().parents[1] / "models" / "domains" / "banking" / "domain.yaml"
SUNDAY = dt.datetime(2026, 11, 29, 17, 0, tzinfo=dt.timezone.utc)  # Sunday 12:00 in New York


@pytest.fixture(scope="module")
def resolver() -> Resolver:
    return Resolver(yaml.safe_load(BANKING.read_text(encoding="utf-8")))


def resolved(resolver: Resolver, text: str, spans: list[tuple[str, str]]) -> list:
    """The entities of the model's spans `spans` ((type, surface) in `text`), as the request resolves them."""
    tagged = [EntitySpan(etype, text.index(s), text.index(s) + len(s), s, 0.9) for etype, s in spans]
    return resolver.resolve(text, tagged, RequestOptions(reference_time=SUNDAY, time_zone="America/New_York"))


def amounts(resolver: Resolver, text: str, *surfaces: str) -> list[dict | None]:
    """The resolutions of the model's amount spans `surfaces` in `text`, as the request resolves them."""
    return [e.resolution for e in resolved(resolver, text, [("amount", s) for s in surfaces]) if e.type == "amount"]


def money(amount: str, currency: str) -> dict:
    return {"kind": "money", "amount": amount, "currency": currency}


@pytest.mark.parametrize("surface, amount, currency", [
    ("200 AED", "200", "AED"), ("AED 200", "200", "AED"), ("5000 HUF", "5000", "HUF"), ("1000 THB", "1000", "THB"),
    ("50 TRY", "50", "TRY"), ("100 QAR", "100", "QAR"), ("1,234 KWD", "1234", "KWD"), ("HUF500", "500", "HUF"),
])
def test_a_currency_code_in_capitals_beside_digits_is_no_shouting(surface, amount, currency):
    """Every amount span is all capitals (digits have no case): the code was ignored, USD taken."""
    assert resolve_money(surface, "USD") == money(amount, currency)
    assert resolve_money("SEND ALL 300", "USD") == money("300", "USD")  # words in capitals: "ALL" says nothing


@pytest.mark.parametrize("text, surface, expected", [
    ("transfer 5000 HUF from checking to savings", "5000", money("5000", "HUF")),
    ("send 200 AED from checking to savings", "200", money("200", "AED")),
    ("send AED 200 from checking to savings", "200", money("200", "AED")),
    ("send 50 quid to savings", "50", money("50", "GBP")),
    ("send 50 riyals from checking to savings", "50", None),  # a currency, but which riyal?
    ("transfer Rs 500 to savings", "500", None),
    ("send 50 to savings", "50", money("50", "USD")),  # an ordinary word beside the amount
    ("send 50p to savings", "50", money("0.50", "GBP")),  # letters against the digits are the amount's
    ("send 5k to savings", "5", money("5000", "USD")),
    ("send -50 to savings", "50", None),
    ("pay $50-$100 to savings", "$50", None),
    ("pay the bill (50) today", "50", money("50", "USD")),  # parentheses around a span are no sign
    ("I won 500 dollars", "500 dollars", money("500", "USD")),  # a currency's name before the number is a word
    ("SEND ALL 300 NOW", "300", money("300", "USD")),  # as when the span holds it
    ("move two hundred", "hundred", money("200", "USD")),  # a span from its multiplier was 100
    ("send twenty five hundred dollars", "hundred dollars", money("2500", "USD")),
    ("move 2,5 hundred", "hundred", None),  # its count has no one reading: not 100 either
    ("my transfer of 500 won't go through", "500", money("500", "USD")),  # "won" of "won't" was KRW
    ("send 100 Rand for the tickets", "100", money("100", "USD")),  # a name: "send 100 rand" is ZAR
    ("send 50 Mark for dinner", "50", money("50", "USD")),
    ("send $50 real quick to my savings", "$50", money("50", "USD")),  # the span names its currency
    ("pay the 50-dollar fee", "50-dollar", money("50", "USD")),  # a hyphenated word, no trailing minus
    ("a $500-a-month auto transfer", "$500", money("500", "USD")),
])
def test_the_currency_right_beside_the_models_span_counts(resolver, text, surface, expected):
    """The model's span "5000" of "5000 HUF" was $5,000.00."""
    assert amounts(resolver, text, surface) == [expected]


@pytest.mark.parametrize("surface, amount, currency", [
    ("EUR500", "500", "EUR"), ("RMB 100", "100", "CNY"), ("100 rmb", "100", "CNY"), ("100 元", "100", "CNY"),
    ("500 won", "500", "KRW"), ("NT$500", "500", "TWD"), ("MX$100", "100", "MXN"), ("Mex$100", "100", "MXN"),
    ("100 Kč", "100", "CZK"), ("50 bucks", "50", "USD"), ("100 zł", "100", "PLN"),
])
def test_unambiguous_currency_signs_and_abbreviations(surface, amount, currency):
    assert resolve_money(surface, "USD") == money(amount, currency)


@pytest.mark.parametrize("surface", [
    "500 kr", "500 kr.", "Rs 500", "Rs. 500", "R100", "R 100", "100 lei", "Fr. 100",  # several currencies each
    "50 riyals", "300 dinars", "20 lekë", "EC$50", "Z$100", "₸500", "100 лв", "500 ريال",  # not read: never USD
])
def test_a_currency_not_read_leaves_the_amount_unresolved(surface):
    assert resolve_money(surface, "USD") is None


@pytest.mark.parametrize("surface", ["five percent", "fifty percent of my balance", "5 pct", "5 per cent",
                                     "five per cent", "twelve point five percent"])
def test_a_percentage_is_no_amount(surface):
    assert resolve_money(surface, "USD") is None


def test_a_percentage_the_model_reads_in_parts_is_no_amount(resolver):
    """"5 per cent" tagged as "5" and "cent": 5 read alone was $5.00."""
    text = "move 5 per cent of my checking balance to savings"
    assert amounts(resolver, text, "5", "cent") == [None, None]
    assert amounts(resolver, "transfer five percent of my checking to savings", "five") == [None]
    assert resolve_percentage("5 pct") == resolve_percentage("five per cent") == {"kind": "percentage", "value": "5"}


@pytest.mark.parametrize("surface", ["\u201050 dollars", "\u201150 dollars", "\uff0d50 dollars", "\u2012$50",
                                     "$50-", "50- dollars", "($50)", "( 50 € )", "(-50 dollars)",
                                     "50\u2011100 dollars"])
def test_every_dash_trailing_minus_and_accounting_parentheses_are_a_sign(surface):
    """"‐50" (U+2010), "－50", "$50-" and "($50)" were $50.00."""
    assert resolve_money(surface, "USD") is None


def test_a_sign_in_any_dash_is_kept_by_a_number():
    assert resolve_number("\u20105") == resolve_number("\uff0d5") == {"kind": "number", "value": "-5"}
    assert resolve_percentage("\u20115%") == {"kind": "percentage", "value": "-5"}
    assert resolve_number("5\u201010") is None  # a range
    assert resolve_money("€5,-", "USD") == money("5", "EUR")  # ",-": no cents, not a sign
    assert resolve_money("pay the bill ($50 total)", "USD") == money("50", "USD")  # one parenthesis


@pytest.mark.parametrize("surface", ["¥100.50", "₩1000.99", "1000.5 HUF", "¥20 and 50 cents"])
def test_a_fraction_the_currency_does_not_have_is_unresolved(surface):
    """Yen and won have no minor unit: "¥100.50" was 100.50 JPY."""
    assert resolve_money(surface, "USD") is None


def test_a_zero_decimal_currency_keeps_its_whole_amounts():
    assert resolve_money("¥1.5k", "USD") == money("1500", "JPY")
    assert resolve_money("¥1000.00", "USD") == money("1000", "JPY")
    assert resolve_money("1,234.50 KWD", "USD") == money("1234.50", "KWD")


@pytest.mark.parametrize("surface, amount", [("$1.2345k", "1234.50"), ("$1.23456k", "1234.56"), ("$1.5k", "1500")])
def test_an_amount_is_written_in_its_currencys_minor_units(resolver, surface, amount):
    """"$1.2345k" was 1234.5000 USD, which a later turn refused to carry: the customer was asked again."""
    resolution = resolve_money(surface, "USD")
    assert resolution == money(amount, "USD")
    assert resolver.resolve_carried("amount", f"{amount} USD", 1) == [resolution]


def test_a_carried_amount_with_places_its_currency_has_not_is_asked_again(resolver):
    """"5000.50 JPY" carried was read back "5,000 JPY" while slots_used sent 5000.50 on."""
    assert resolver.resolve_carried("amount", "5000.50 JPY", 1) == []
    assert resolver.resolve_carried("amount", "0.50 JPY", 1) == []
    assert resolver.resolve_carried("amount", "5000 JPY", 1) == [money("5000", "JPY")]
    assert resolver.resolve_carried("amount", "5000.5 EUR", 1) == [money("5000.5", "EUR")]


def test_more_digits_than_the_minor_units_after_the_multiplier_are_unresolved():
    assert resolve_money("$1.234567k", "USD") is None
    assert resolve_money("¥1.2345k", "USD") is None


@pytest.mark.parametrize("surface", ["2-3 days", "2\u20133 days", "2 to 3 days", "two to three days", "2 or 3 days",
                                     "a day or two", "an hour or so", "between 2 and 3 hours", "minus 2 hours",
                                     "-5 days", "\u22125 days", "1,5 hours", "1,500 minutes"])
def test_a_duration_with_a_range_or_a_sign_is_unresolved(surface):
    """"1,5 hours" was 5 hours, "2-3 days" 3 days, "a day or two" one day, "minus 2 hours" 2 hours."""
    assert resolve_duration(surface) is None


def test_a_decimal_comma_duration_follows_the_locale():
    resolver = Resolver({"entities": {"length": {"kind": "builtin", "builtin": "duration"}}})
    read = {tag: resolver.resolve_value("length", "1,5 hours", SUNDAY, locale=locales.get(tag))
            for tag in ("en-US", "de-DE")}
    assert read == {"en-US": None, "de-DE": {"kind": "duration", "value": "PT1H30M", "seconds": 5400}}
    assert resolver.resolve_value("length", "1.5 hours", SUNDAY)["value"] == "PT1H30M"


def test_the_words_before_a_span_are_searched_near_it_only(resolver):
    """Searched over the whole text, one 2,000-character word before an amount took 114 ms of
    backtracking, on the event loop that answers every caller."""
    import time

    text = "please transfer " + "x" * 6000 + "; $50 to savings"
    start = time.perf_counter()
    assert amounts(resolver, text, "$50") == [money("50", "USD")]
    assert time.perf_counter() - start < 0.2  # ~0.1 ms here; the fault, quadratic, took ~1 s


@pytest.mark.parametrize("text, surface, expected", [
    ("transfer a buck fifty to savings", "buck fifty", money("1.50", "USD")),
    ("transfer one buck fifty to savings", "buck fifty", money("1.50", "USD")),
    ("send two pounds fifty to savings", "pounds fifty", money("2.50", "GBP")),
    ("pay 1 buck 50", "buck 50", money("1.50", "USD")),
    ("give me 5 dollars", "dollars", money("5", "USD")),
])
def test_a_span_from_its_currency_unit_takes_the_count_before_it(resolver, text, surface, expected):
    """The model's span "buck fifty" of "a buck fifty" was $50: the unit read as its count."""
    assert amounts(resolver, text, surface) == [expected]


@pytest.mark.parametrize("surface", ["buck fifty", "bucks fifty", "dollar fifty", "pound fifty", "quid fifty",
                                     "euro fifty", "dollars 50"])
def test_a_unit_before_its_number_with_no_count_is_unresolved(surface):
    """A buck fifty (1.50) or two bucks fifty (2.50)? Not 50, which it was."""
    assert resolve_money(surface, "USD") is None


@pytest.mark.parametrize("text, surface, expected", [
    ("make it two fifty", "fifty", None),  # 2.50 or 250? asked again, as when the span is "two fifty"
    ("make it 2 fifty", "fifty", None),
    ("make it twelve fifty", "fifty", None),
    ("make it a buck fifty", "fifty", money("1.50", "USD")),
    ("make it two pounds fifty", "fifty", money("2.50", "GBP")),
    ("make it a hundred fifty", "fifty", money("150", "USD")),
    ("send twenty five dollars", "five dollars", money("25", "USD")),
    ("send 50-100 dollars", "100 dollars", None),  # the number before is a range's start
    ("send -50 dollars", "dollars", None),
    ("send a 50 dollar bill", "50 dollar", money("50", "USD")),  # "a" counts a unit or a multiplier only
    ("pay one hundred and fifty dollars", "fifty dollars", money("150", "USD")),  # a multiplier's "and"
    ("pay my rent and 50 dollars", "50 dollars", money("50", "USD")),
    # another number before a span that opens with digits is no part of it (they were 3,000, 1,234,500, 15,200)
    ("schedule rent for december 3 1000 dollars", "1000 dollars", money("1000", "USD")),
    ("pay card ending 1234 500 dollars", "500 dollars", money("500", "USD")),
    ("transfer on May 15 200 dollars", "200 dollars", money("200", "USD")),
    ("pay bill number 2 100 dollars", "100 dollars", money("100", "USD")),
])
def test_a_number_or_unit_right_before_the_span_is_the_amounts(resolver, text, surface, expected):
    """"make it two | fifty" and "a buck | fifty" were $50: the span's last number read alone."""
    assert amounts(resolver, text, surface) == [expected]


@pytest.mark.parametrize("text, surface, expected", [
    ("make it a hundred and one", "hundred", money("101", "USD")),
    ("make it a hundred and one", "a hundred", money("101", "USD")),
    ("send two thousand fifty dollars", "two thousand", money("2050", "USD")),
    ("send a hundred and twenty-five to savings", "a hundred", money("125", "USD")),
    ("send one hundred and one thousand euros", "one hundred", money("101000", "EUR")),
    ("send five hundred to savings", "five hundred", money("500", "USD")),
    # what follows counts a pause or a thing: not the amount's
    ("a hundred and one second please", "a hundred", money("100", "USD")),
    ("pay a hundred and two payments", "a hundred", money("100", "USD")),
    ("make it a hundred and one more", "a hundred", money("100", "USD")),
    ("twenty five hundred", "twenty", money("2500", "USD")),
    ("send twenty five dollars", "twenty", money("25", "USD")),
    ("make it two fifty", "two", None),  # read whole: 2.50 or 250?
    ("split it in twenty two payments", "twenty", money("20", "USD")),
    ("send fifty and the rest later", "fifty", money("50", "USD")),
])
def test_number_words_right_after_a_span_that_ends_in_one_are_the_amounts(resolver, text, surface, expected):
    """"make it a hundred and one" after a $50 transfer, the model's span "hundred", made it
    $100.00, and "twenty five hundred" with the span "twenty" $20.00: the number words after a
    span's last number word belong to it, as those before it do."""
    assert amounts(resolver, text, surface) == [expected]


@pytest.mark.parametrize("surface", ["1h30m", "3h30m", "1h 30m", "2h30", "2x $50"])
def test_a_number_against_letters_before_the_amount_is_a_second_number(surface):
    """"1h30m" was $30,000,000: the "1" of "1h" was no number, so "30m" was the one, 30 million."""
    assert resolve_money(surface, "USD") is None
    assert resolve_number(surface) is None


@pytest.mark.parametrize("surface", ["30m", "30 m", "1.5m", "30M"])
def test_millions_as_m_with_no_currency_are_unresolved(surface):
    """30 million or 30 minutes ("pay my bill in 30m")? Only a currency says which."""
    assert resolve_money(surface, "USD") is None


@pytest.mark.parametrize("surface, amount, currency", [
    ("$5m", "5000000", "USD"), ("5m dollars", "5000000", "USD"), ("30m euros", "30000000", "EUR"),
    ("30 m EUR", "30000000", "EUR"), ("£1.5m", "1500000", "GBP"), ("30mm", "30000000", "USD"),
    ("30 million", "30000000", "USD"), ("5k", "5000", "USD"),
])
def test_millions_with_a_currency_or_a_word_stay_money(surface, amount, currency):
    assert resolve_money(surface, "USD") == money(amount, currency)


def test_a_length_of_time_the_model_tags_as_an_amount_is_none(resolver):
    assert amounts(resolver, "pay my electric bill in 1h30m", "1h30m") == [None]
    assert amounts(resolver, "pay my electric bill in 1h30m", "30m") == [None]
    assert amounts(resolver, "pay my electric bill in 30m", "30m") == [None]


def test_an_amount_looks_for_its_words_no_further_back_than_the_entity_before_it(resolver):
    """"pay on march fifteen | two hundred dollars": "fifteen" is the date's, so the amount is
    $200, not "fifteen two hundred" (unresolved)."""
    text = "pay on march fifteen two hundred dollars"
    date, amount = text.index("march fifteen"), text.index("two hundred dollars")
    spans = [EntitySpan("date", date, date + 13, "march fifteen", 0.9),
             EntitySpan("amount", amount, len(text), "two hundred dollars", 0.9)]
    got = [e.resolution for e in resolver.resolve(text, spans, RequestOptions()) if e.type == "amount"]
    assert got == [money("200", "USD")]


@pytest.mark.parametrize("text, surface", [("transfer 100 dollars, quick thing, to savings", "100 dollars"),
                                           ("send 40 dollars, little bit later today to savings", "40 dollars")])
def test_an_amount_that_ends_in_its_currency_counts_no_pause(resolver, text, surface):
    """The pause rule read "100 dollars, quick thing" as a pause of 100 things: the amount was asked again."""
    assert amounts(resolver, text, surface) == [money(surface.split()[0], "USD")]


def test_an_amount_split_in_two_spans_still_reads_whole(resolver):
    """The entity before an amount bounds where its words are looked for, but not another span of
    the same amount: "fifty | thousand dollars" read $1,000 once the bound took any entity."""
    text = "rate for a fifty thousand dollars car loan"
    fifty, rest = text.index("fifty"), text.index("thousand dollars")
    spans = [EntitySpan("amount", fifty, fifty + 5, "fifty", 0.9),
             EntitySpan("amount", rest, rest + 16, "thousand dollars", 0.9)]
    got = [e.resolution for e in resolver.resolve(text, spans, RequestOptions()) if e.type == "amount"]
    assert money("50000", "USD") in got and money("1000", "USD") not in got


@pytest.mark.parametrize("text, surface, said", [
    ("actually make it a hundred and twenty", "hundred", "a hundred and twenty"),
    ("transfer 5000 HUF", "5000", "5000 HUF"),
    ("make it a buck fifty", "fifty", "a buck fifty"),
    ("send 50 to savings", "50", "50"),
])
def test_the_entity_spans_the_words_its_amount_was_read_from(resolver, text, surface, said):
    """The amount of "a | hundred | and twenty" was read from the words around the model's span,
    but the entity kept the span: a seven-word correction then held words no value covered, and
    went to a person."""
    (e,) = [e for e in resolved(resolver, text, [("amount", surface)]) if e.type == "amount"]
    assert e.resolved and (e.text, text[e.start:e.end]) == (said, said)


@pytest.mark.parametrize("text, spans, expected", [
    ("send a hundred three days from now", [("amount", "a hundred"), ("date", "three days from now")], "100"),
    ("send a hundred three days from now", [("amount", "a hundred")], "100"),
    ("schedule a payment of a thousand one week from today", [("amount", "a thousand")], "1000"),
    ("pay fifty twenty days from now", [("amount", "fifty")], "50"),
    ("I need to move fifty bucks two times", [("amount", "fifty bucks two")], "50"),
    ("schedule a payment of a hundred twenty first of december", [("amount", "a hundred"),
                                                                  ("date", "first of december")], "100"),
    ("schedule a payment of a hundred twenty first of december", [("amount", "a hundred"),
                                                                  ("date", "twenty first of december")], "100"),
    ("pay twenty dollars twenty times", [("amount", "twenty dollars twenty")], "20"),
])
def test_a_number_that_counts_time_or_times_is_no_part_of_the_amount(resolver, text, spans, expected):
    """"send a hundred three days from now" was $103 (and its amount overlapped the date), "a
    thousand one week from today" $1,001, "fifty bucks two times" $50.02: number words after an
    amount that count days or times are no part of it, and an amount never grows over the next
    entity."""
    found = resolved(resolver, text, spans)
    (amount,) = [e for e in found if e.type == "amount"]
    assert amount.resolution["amount"] == expected
    assert all(a.end <= b.start for a, b in zip(found, found[1:]))  # in order, never overlapping


@pytest.mark.parametrize("text, surface, said, amount", [
    ("send a grand to savings", "grand", "a grand", "1000"),
    ("move 200 dollars, 3 times, from checking", "200 dollars, 3", "200 dollars", "200"),
    ("move 200 dollars and 3 times from checking", "200 dollars and 3", "200 dollars", "200"),
])
def test_a_grand_and_a_count_cut_off_read_as_said(resolver, text, surface, said, amount):
    """"a | grand" was unresolved (no "a" before "grand"), and an amount cut before a count kept
    the comma or "and" that joined them ("200 dollars,")."""
    (e,) = [e for e in resolved(resolver, text, [("amount", surface)]) if e.type == "amount"]
    assert (e.text, e.resolution["amount"]) == (said, amount)


def test_a_currency_the_model_tagged_as_another_entity_is_still_the_amounts(resolver):
    """"an initial deposit of 35 | euros", "euros" tagged as an account: the amount is 35 EUR, and
    the stray span it reads over is dropped (an amount never grows over the next entity's number
    words, but its currency is its own)."""
    text = "open a savings account with an initial deposit of 35 euros"
    found = resolved(resolver, text, [("amount", "35"), ("account", "euros")])
    assert [(e.text, e.resolution) for e in found if e.type == "amount"] == [("35 euros", money("35", "EUR"))]
    assert all(a.end <= b.start for a, b in zip(found, found[1:]))


@pytest.mark.parametrize("surface", ["5 pm", "five pm", "at five pm", "sure at 5 pm", "5 p.m.", "five o'clock",
                                     "9am", "tonight at 7", "friday at 8, not tonight", "tomorrow by 5"])
def test_a_time_of_day_is_no_amount(surface):
    """"sure at 5 pm" after a scheduled payment of $80 made it $5.00; "make it tonight at 7",
    tagged as one amount, made it $7.00."""
    assert resolve_money(surface, "USD") is None
    assert resolve_money("5 dollars", "USD") == {"kind": "money", "amount": "5", "currency": "USD"}


@pytest.mark.parametrize("surface, amount", [("$8 tonight", "8"), ("8 dollars tonight", "8"), ("80 tonight", "80"),
                                             ("10 tonight", "10"), ("7 in the evening", "7"),
                                             ("tomorrow at 8.50", "8.50")])
def test_an_amount_beside_a_part_of_the_day_is_still_an_amount(surface, amount):
    """"charged 10 tonight", "send 10 tonight": an amount; only "at" makes a number beside a day a time."""
    assert resolve_money(surface, "USD") == money(amount, "USD")


@pytest.mark.parametrize("text, spans, date, amount", [
    # the example model's readings: the hour after "at" left out of the date, or the hour alone a date
    ("make it at 8 in the evening", [("date", "evening")], ("at 8 in the evening", "20:00"), None),
    ("do it at eight tonight", [("date", "tonight")], ("at eight tonight", "20:00"), None),
    ("9 tonight please", [("date", "9")], ("9 tonight", "21:00"), None),  # was the 9th
    # an amount stays one, tagged or not
    ("make it 7 in the evening", [("amount", "7"), ("date", "in the evening")], ("in the evening", "19:00"), "7"),
    ("I was charged 10 in the evening", [("date", "in the evening")], ("in the evening", "19:00"), None),
    ("pay $7 in the evening", [("amount", "$7"), ("date", "in the evening")], ("in the evening", "19:00"), "7"),
])
def test_an_hour_said_before_a_part_of_the_day_is_the_dates(resolver, text, spans, date, amount):
    """"at 8 | in the evening" was the evening's 19:00, "9 | tonight" the 9th: the hour is the date's."""
    found = resolved(resolver, text, spans)
    dates = [(e.text, e.resolution["value"][11:16]) for e in found if e.type == "date" and e.resolved]
    assert dates == [date]
    assert [e.resolution["amount"] for e in found if e.type == "amount"] == ([amount] if amount else [])


@pytest.mark.parametrize("text, spans, amount, dates", [
    # the example model's readings: the number words around "hundred" tagged as dates
    ("pay verizon a hundred and twenty five on friday", [("amount", "hundred"), ("date", "twenty five on friday")],
     "125", ["friday"]),
    ("schedule a payment of a hundred twenty tomorrow", [("amount", "hundred"), ("date", "twenty tomorrow")],
     "120", ["tomorrow"]),
    ("transfer five hundred two weeks from friday", [("date", "five"), ("amount", "hundred"),
                                                     ("date", "two weeks from friday")], "500", ["two weeks from friday"]),
    ("pay my visa bill of two hundred twenty on the 2nd", [("date", "two"), ("amount", "hundred"),
                                                           ("date", "the 2nd")], "220", ["the 2nd"]),
    # a day of the month said as one stays the date's, and a count of days is no part of the amount
    ("schedule a payment of one hundred twenty first of december",
     [("amount", "one hundred"), ("date", "twenty first of december")], "100", ["twenty first of december"]),
    ("send a hundred three days from now", [("amount", "a hundred"), ("date", "three days from now")], "100",
     ["three days from now"]),
    # the amount's first words untagged: the date still starts after the number words it opens with
    ("a hundred and twenty five tomorrow", [("date", "five tomorrow")], None, ["tomorrow"]),
    ("pay three hundred and forty five on monday", [("date", "forty five on monday")], None, ["monday"]),
    ("send a hundred three days from now", [("date", "three days from now")], None, ["three days from now"]),
    ("schedule it for a hundred twenty first of december", [("date", "twenty first of december")], None,
     ["twenty first of december"]),
])
def test_number_words_the_model_tags_as_a_date_beside_an_amount_are_the_amounts(resolver, text, spans, amount, dates):
    """"a hundred and | twenty five" with "twenty five" tagged as a date was $100; "five | hundred"
    with "five" a date $100 and a payment on the 5th."""
    found = resolved(resolver, text, spans)
    assert [e.resolution["amount"] for e in found if e.type == "amount"] == ([amount] if amount else [])
    assert [e.text for e in found if e.type == "date"] == dates
    assert all(e.resolved for e in found)


@pytest.mark.parametrize("text, spans, amount", [
    ("fifty no sixty dollars", [("amount", "fifty"), ("amount", "sixty dollars")], "60"),
    ("send 50, sorry, 60 to savings", [("amount", "50"), ("amount", "60")], "60"),
    ("make it sixty i mean seventy", [("amount", "sixty"), ("amount", "seventy")], "70"),
])
def test_an_amount_taken_back_in_the_same_breath_is_the_one_said_last(resolver, text, spans, amount):
    """"fifty no sixty dollars" was two amounts, and the slot was asked for again."""
    found = [e for e in resolved(resolver, text, spans) if e.type == "amount"]
    assert [e.resolution["amount"] for e in found] == [amount]
    assert resolver.resolve_value("amount", text, None) == money(amount, "USD")  # read whole, as a follow-up does
    assert resolver.resolve_value("amount", "no, 75", None) == money("75", "USD")  # a repair word first takes nothing


# -- an audit's wrong amounts: the currency said after its unit, a fraction after the amount ----

@pytest.mark.parametrize("surface, expected", [
    ("200 dollars canadian", money("200", "CAD")),  # each was 200 USD (or GBP): the adjective dropped
    ("200 dollars australian", money("200", "AUD")),
    ("200 bucks aussie", money("200", "AUD")),
    ("200 dollars hong kong", money("200", "HKD")),
    ("200 pounds egyptian", money("200", "EGP")),
    ("$50 canadian", money("50", "CAD")),
    ("200 pounds canadian", None),  # a dollar currency named after pounds: which?
    ("50 lbs", None),  # pounds of weight, or sterling?
    ("200 dollars new york", money("200", "USD")),  # words after the unit that name no currency
    ("200 dollars to my son", money("200", "USD")),
    ("50 pounds british gas", money("50", "GBP")),
])
def test_a_currency_named_after_its_unit_is_that_currency(surface, expected):
    assert resolve_money(surface, "USD") == expected


@pytest.mark.parametrize("text, surfaces", [
    ("transfer a million and a half from checking to savings", ("a million", "half")),  # was $1,000,000
    ("transfer 1 and a half k to savings", ("1", "half k")),  # was $1
    ("move a hundred and a half to savings", ("a hundred",)),  # was $100
])
def test_an_amount_that_goes_on_with_a_fraction_is_not_read_from_its_first_part(resolver, text, surfaces):
    assert amounts(resolver, text, *surfaces) == [None] * len(surfaces)


@pytest.mark.parametrize("amount, currency, shown", [("5000", "JPY", "5,000 JPY"), ("1000", "HUF", "1,000 HUF"),
                                                     ("200", "USD", "$200.00"), ("12.5", "EUR", "12.50 EUR")])
def test_an_amount_is_read_back_with_the_places_its_currency_has(amount, currency, shown):
    """"¥5000" was read back "5,000.00 JPY": yen no one has."""
    from intentd.server.resolve.money import format_money

    assert format_money(money(amount, currency)) == shown


@pytest.mark.parametrize("text, spans, date, amount", [
    ("make it tonight at 7", [("amount", "tonight at 7")], ("tonight at 7", "19:00"), None),
    ("friday at 8, not today", [("amount", "friday at 8")], None, None),  # which 8? no amount either
    ("pay verizon 60 tomorrow", [("amount", "60 tomorrow")], ("tomorrow", "00:00"), "60"),
])
def test_an_amount_span_that_says_a_time_or_a_day_is_read_as_said(resolver, text, spans, date, amount):
    """The example model tags "tonight at 7" whole as an amount ($7.00), and "60 tomorrow" (the day dropped)."""
    found = resolved(resolver, text, spans)
    assert [(e.text, e.resolution["value"][11:16]) for e in found if e.type == "date" and e.resolved] == (
        [date] if date else [])
    assert [e.resolution["amount"] for e in found if e.type == "amount" and e.resolved] == ([amount] if amount else [])
