"""Entity resolution on hand-computed cases: catalogs, builtins, patterns, overlaps, time zones."""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo
from pathlib import Path

import pytest
import yaml

from intentd.server.analysis import RequestOptions
from intentd.server.decode import EntitySpan, Prediction
from intentd.server.engine import Engine
from intentd.server.resolve import DomainConfigError, Resolver
from intentd.server.resolve.dates import DateResolver, day_of_unclear_hour
from intentd.server.resolve.duration import resolve_duration
from intentd.server.resolve.money import resolve_money
from intentd.server.resolve.numbers import resolve_number, resolve_ordinal, resolve_percentage

BANKING = Path(__file__).resolve().parents[1] / "models" / "domains" / "banking" / "domain.yaml"
UTC = dt.timezone.utc
SUNDAY = dt.datetime(2026, 11, 29, 20, 0, tzinfo=UTC)  # Sunday 12:00 in Los Angeles


@pytest.fixture(scope="module")
def domain() -> dict:
    return yaml.safe_load(BANKING.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def resolver(domain) -> Resolver:
    r = Resolver(domain)
    r.warm_up()
    return r


def span(text: str, etype: str, surface: str, confidence: float = 0.9) -> EntitySpan:
    start = text.index(surface)
    return EntitySpan(etype, start, start + len(surface), surface, confidence)


def options(reference: dt.datetime = SUNDAY, tz: str = "America/Los_Angeles") -> RequestOptions:
    return RequestOptions(reference_time=reference, time_zone=tz)


def test_issue_example_end_to_end(resolver):
    text = "move two hundred bucks from checking to my savings next friday"
    spans = [span(text, "amount", "two hundred bucks"), span(text, "account", "checking"),
             span(text, "account", "savings"), span(text, "date", "next friday")]
    got = {(e.type, e.text): e.resolution for e in resolver.resolve(text, spans, options())}
    assert got[("amount", "two hundred bucks")] == {"kind": "money", "amount": "200", "currency": "USD"}
    assert got[("account", "checking")]["id"] == "checking"
    assert got[("account", "savings")]["id"] == "savings"
    assert got[("date", "next friday")] == {"kind": "datetime", "value": "2026-12-04T00:00:00-08:00", "grain": "day"}


@pytest.mark.parametrize("text, surface, said, value", [
    ("pay 50 to verizon at 5pm on friday", "friday", "at 5pm on friday", "2026-12-04T17:00:00-08:00"),
    ("pay 50 to verizon at noon on friday", "friday", "at noon on friday", "2026-12-04T12:00:00-08:00"),
    ("pay 50 to verizon at 5 on friday", "friday", "at 5 on friday", None),  # which 5? asked
    ("pay 50 to verizon at 5 on friday", "at 5 on friday", "at 5 on friday", None),
    ("pay 50 to verizon at five tomorrow", "five tomorrow", "at five tomorrow", None),
    ("pay 50 to verizon in two days at five", "two days at five", "in two days at five", None),
    ("pay 50 to verizon next friday at six", "friday at six", "next friday at six", None),
    ("pay 50 to verizon by 3 on the 15th", "the 15th", "by 3 on the 15th", None),  # was the 15th, the 3 dropped
    ("pay 50 to verizon at 3pm tomorrow", "3pm tomorrow", "3pm tomorrow", "2026-11-30T15:00:00-08:00"),
    ("pay 50 to verizon by friday", "friday", "friday", "2026-12-04T00:00:00-08:00"),
])
def test_the_time_said_before_a_day_belongs_to_the_date(resolver, text, surface, said, value):
    """"at 5pm on | friday", the model's span "friday", was read back as all day Friday, and "at 5 on
    friday" (which 5?) narrowed to Friday: the hour said was dropped. A day with an hour that has no
    am/pm ("at five tomorrow", "next friday at six") is left unread, to be asked, with its whole
    words: the day said is kept from them meanwhile (`day_of_unclear_hour`). The "at" alone is taken
    only when it changes the reading ("at | 3pm tomorrow" stays as tagged)."""
    (e,) = [e for e in resolver.resolve(text, [span(text, "date", surface)], options(), "schedule_payment")
            if e.type == "date"]
    assert e.text == said and text[e.start:e.end] == said
    assert (e.resolution or {}).get("value") == value and e.resolved == (value is not None)
    if value is None:
        day = day_of_unclear_hour(e.text)
        assert resolver.resolve_value("date", day, SUNDAY, False)["grain"] == "day", day


def test_a_time_its_half_of_the_day_and_a_day_tagged_apart_are_one_date(resolver):
    """"at 9:30 | a.m. | tomorrow", the model's spans "9:30" and "tomorrow": two dates for the one
    date, and a transfer read back with none (a backend moved the money at once)."""
    text = "transfer $50 to savings at 9:30 a.m. tomorrow"
    (e,) = [e for e in resolver.resolve(text, [span(text, "date", "9:30"), span(text, "date", "tomorrow")],
                                        options(), "transfer_money") if e.type == "date"]
    assert e.text == "9:30 a.m. tomorrow" and e.resolution["value"] == "2026-11-30T09:30:00-08:00"


def test_an_hour_and_a_count_of_days_tagged_apart_are_one_date(resolver):
    """"at 10 | in | two days", the model's spans "10" and "two days": the transfer was read back for
    the day with the 10 dropped; one date, whose hour is asked, its day kept."""
    text = "transfer $50 to savings at 10 in two days"
    (e,) = [e for e in resolver.resolve(text, [span(text, "date", "10"), span(text, "date", "two days")], options(),
                                        "transfer_money") if e.type == "date"]
    assert e.text == "at 10 in two days" and not e.resolved
    assert resolver.resolve_value("date", day_of_unclear_hour(e.text), SUNDAY, False)["grain"] == "day"


@pytest.mark.parametrize("text, surface, said, value", [
    ("next sunday", "sunday", "next sunday", "2026-12-06T00:00:00-08:00"),  # said on a Sunday: not today
    ("pay it this friday", "friday", "this friday", "2026-12-04T00:00:00-08:00"),
    ("uh next week", "week", "next week", None),
    ("schedule it for the coming monday", "monday", "coming monday", "2026-11-30T00:00:00-08:00"),
    ("pay it on sunday", "sunday", "sunday", "2026-11-29T00:00:00-08:00"),  # no word says which one: the nearest
    ("actually the first of next month", "next month", "the first of next month", "2026-12-01T00:00:00-08:00"),
    ("on the 15th of next month", "next month", "the 15th of next month", "2026-12-15T00:00:00-08:00"),
    ("the twenty-first of december", "december", "the twenty-first of december", "2026-12-21T00:00:00-08:00"),
    ("pay 50 to amazon the following monday", "monday", "monday", "2026-11-30T00:00:00-08:00"),  # unread: the span
])
def test_the_word_that_says_which_day_belongs_to_the_date(resolver, text, surface, said, value):
    """"next | tuesday", the model's span "tuesday", was read as the nearest Tuesday (said on a
    Tuesday: today) and answered a payment "for Tuesday, November 10", a week early; "the first of |
    next month" was the month, "December 2026"."""
    (e,) = resolver.resolve(text, [span(text, "date", surface)], options(), "schedule_payment")
    assert e.text == said and text[e.start:e.end] == said
    if value is not None:
        assert e.resolution["value"] == value


@pytest.mark.parametrize("text, surface, said, value", [
    ("make it eighty five on the 15th", "eighty five on the 15th", "the 15th", "2026-12-15T00:00:00-08:00"),
    ("ok so by next friday", "ok so by next friday", "next friday", "2026-12-04T00:00:00-08:00"),
    # a repeating date is its first day; more than one date, or a date in the other direction: none
    ("every month on the 15th", "every month on the 15th", "the 15th", "2026-12-15T00:00:00-08:00"),
    ("the 15th of every month", "the 15th of every month", "the 15th", "2026-12-15T00:00:00-08:00"),
    ("for 3 months starting june 1", "for 3 months starting june 1", "june 1", "2027-06-01T00:00:00-07:00"),
    ("from friday until sunday", "from friday until sunday", "from friday until sunday", None),
    ("make it last friday at 9", "last friday at 9", "last friday at 9", None),
    ("the blue one", "blue one", "blue one", None),
])
def test_a_date_span_that_is_no_date_is_narrowed_to_the_date_it_ends_with(resolver, text, surface, said, value):
    """"make it eighty five on the 15th", all tagged as one date, was no date at all, and a
    follow-up kept the payment's old date and amount."""
    (e,) = resolver.resolve(text, [span(text, "date", surface)], options(), "schedule_payment")
    assert (e.text, text[e.start:e.end]) == (said, said)
    assert (e.resolution or {}).get("value") == value


@pytest.mark.parametrize("text, spans, said, value", [
    ("pay 25 to spotify two weeks from today", ["two weeks", "today"], "two weeks from today", "2026-12-13"),
    ("pay 30 dollars to netflix a week from friday", ["week", "friday"], "a week from friday", "2026-12-11"),
    ("pay it a week from friday", ["friday"], "a week from friday", "2026-12-11"),
    ("schedule it in three days", ["three days"], "in three days", "2026-12-02"),
    ("transfer it in a week", ["week"], "in a week", "2026-12-06"),
    ("schedule it 3 days from now", ["3 days"], "3 days from now", "2026-12-02"),
    ("the day after tomorrow", ["tomorrow"], "the day after tomorrow", "2026-12-01"),
    # a repeating date is its first day, as the example's data has it
    ("pay 60 every friday to comcast", ["friday"], "friday", "2026-12-04"),
    ("transfer 100 to savings weekly starting tomorrow", ["tomorrow"], "tomorrow", "2026-11-30"),
])
def test_a_date_said_around_the_models_span_is_read_whole(resolver, text, spans, said, value):
    """"two weeks | from | today", tagged in two pieces, was today; "in | three days" and "3 days |
    from now" were no date."""
    found = resolver.resolve(text, [span(text, "date", w) for w in spans], options(), "schedule_payment")
    (e,) = [e for e in found if e.type == "date"]
    assert e.text == said
    assert ((e.resolution or {}).get("value") or "")[:10] == (value or "")


def test_a_day_and_its_month_tagged_apart_are_one_date(resolver):
    """"pay 300 on the twentieth of next month", tagged "twentieth" and "next month", was two
    dates (the 20th of this month, and December) that overlapped once the month took the day."""
    text = "pay 300 on the twentieth of next month"
    (e,) = resolver.resolve(text, [span(text, "date", "twentieth"), span(text, "date", "next month")], options(),
                            "schedule_payment")
    assert (e.text, e.resolution["value"]) == ("twentieth of next month", "2026-12-20T00:00:00-08:00")


# -- catalogs -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, surface, said, value", [
    ("take it out of my money market", "money", "money market", "money_market"),
    ("from my joint checking please", "joint", "joint checking", "joint"),
    ("from my checking", "checking", "checking", "checking"),
])
def test_a_catalog_name_holding_the_models_span_is_the_value(resolver, text, surface, said, value):
    """"my money | market", the model's span "money", was no account, and a correction of a
    transfer's source kept the old one."""
    (e,) = resolver.resolve(text, [span(text, "account", surface)], options())
    assert (e.text, e.resolution["id"]) == (said, value)


@pytest.mark.parametrize("text, surface, value", [
    ("transfer 100 from my joint checking account to savings", "joint checking account", "joint"),
    ("move $20 to my business checking account", "business checking account", "business"),
    ("shift 200 from savings intto checking account", "savings intto checking account", None),  # two names
    ("transfer 50 to my son's savings account", "son's savings account", None),  # someone else's
    ("from my moms checking account to savings", "moms checking account", None),
    ("out of my business savings account", "business savings account", None),  # another account
    ("transfer 100 from savings checking", "savings checking", None),  # two accounts, no "to"
])
def test_a_catalog_span_holding_a_listed_name_is_that_value(resolver, text, surface, value):
    """"my joint checking account" was no account (the catalog lists "joint checking"), and the
    transfer's source was lost without a question."""
    (e,) = [e for e in resolver.resolve(text, [span(text, "account", surface)], options()) if e.text == surface]
    assert (e.resolution or {}).get("id") == value


@pytest.mark.parametrize("text, spans, expected", [
    ("book a payment to geico from my business checking", [("merchant", "business"), ("account", "checking")],
     [("merchant", "business"), ("account", "checking")]),
    ("strange withdrawals from my credit card account", [("card", "credit"), ("account", "card account")],
     [("card", "credit"), ("account", "card account")]),
])
def test_a_catalog_name_never_takes_the_words_of_a_span_of_another_type(resolver, text, spans, expected):
    """The catalog's "business checking" held the model's "checking" (an account) and its
    "business" (a payee): the account was dropped with it."""
    found = resolver.resolve(text, [span(text, t, w) for t, w in spans], options())
    assert [(e.type, e.text) for e in found] == expected


def test_two_spans_of_one_amount_are_one_entity(resolver):
    """"a fifty | thousand | dollars car loan", tagged "fifty" and "dollars", was two entities
    with the same words (each read over the other's): entities never overlap."""
    text = "the rate for a fifty thousand dollars car loan"
    found = resolver.resolve(text, [span(text, "amount", "fifty"), span(text, "amount", "dollars")], options())
    assert [(e.text, e.resolution["amount"]) for e in found] == [("fifty thousand dollars", "50000")]


@pytest.mark.parametrize("surface, expected_id, exact", [
    ("savings", "savings", True),
    ("Savings Account", "savings", True),
    ("my savings", "savings", True),
    ("the High-Yield  savings account", "savings", True),
    ("chequing", "checking", True),
    ("savngs", "savings", False),
    ("cheking account", "checking", False),
    ("money markt", "money_market", False),
    ("credit_card_account", "credit_card_account", True),  # the canonical id itself
])
def test_catalog_exact_then_fuzzy(resolver, surface, expected_id, exact):
    resolution = resolver.resolve_value("account", surface, SUNDAY)
    assert resolution["kind"] == "catalog" and resolution["id"] == expected_id
    assert (resolution["score"] == 1.0) is exact
    assert 0.85 <= resolution["score"] <= 1.0


def test_catalog_accents_and_card_typos(resolver):
    assert resolver.resolve_value("card", "débit card", SUNDAY)["id"] == "debit_card"
    assert resolver.resolve_value("card", "viza card", SUNDAY)["id"] == "visa_card"
    assert resolver.resolve_value("card", "MASTERCAD", SUNDAY)["id"] == "mastercard"


@pytest.mark.parametrize("etype, surface", [
    ("account", "dad's account"),  # was the credit card account (87 against "card account")
    ("account", "mom's checking account"),  # someone else's account is not the customer's
    ("account", "debit card account"),  # was the credit card account
    ("card", "business debit card"),  # was the business credit card
    ("card", "kids credit card"),  # was the Visa credit card
])
def test_a_fuzzy_match_never_swaps_a_whole_word(resolver, etype, surface):
    assert resolver.resolve_value(etype, surface, SUNDAY) is None


@pytest.mark.parametrize("text, surface", [
    ("move 50 from my mom's checking account to my savings", "checking account"),  # was the customer's checking
    ("what's the balance of my mom's checking account", "checking account"),
    ("send 100 to my son’s checking account", "checking account"),
    ("send 100 from checking to my wife's savings", "savings"),
    ("move 50 from my parents' savings", "savings"),
    ("pay it from her checking", "checking"),
])
def test_someone_elses_account_is_no_value(resolver, text, surface):
    """The model's span leaves the possessor out ("mom's | checking account"): the account was
    taken for the customer's own. It is unresolved (the slot asks), from whichever source."""
    (e,) = [e for e in resolver.resolve(text, [span(text, "account", surface)], options()) if e.text == surface]
    assert not e.resolved and e.resolution is None
    untagged = resolver.resolve(text, [], options())  # the catalog matcher's span
    assert not any(e.resolved for e in untagged if e.start == text.index(surface))


@pytest.mark.parametrize("text, surface", [
    ("what's checking at", "checking"), ("let's use savings", "savings"), ("it's savings I mean", "savings"),
    ("what's today's checking balance", "checking"),
    ("show this month's checking statement", "checking"),
    ("what was friday's savings balance", "savings"), ("show this morning's savings deposits", "savings"),
    ("what is the bank's checking fee", "checking"),
])
def test_a_word_in_s_that_says_nothing_of_whose_keeps_the_value(resolver, text, surface):
    (e,) = resolver.resolve(text, [span(text, "account", surface)], options())
    assert e.resolved and e.resolution["id"] == surface


@pytest.mark.parametrize("text, kept", [
    ("move 50 not from checking but from savings", ["savings"]),  # money came out of checking
    ("move 50 not checking but savings", ["savings"]),
    ("move 50 not from my checking but to savings", ["savings"]),
    ("move 50 not only from checking but also from savings", ["checking", "savings"]),  # both meant
    ("move 50 to savings instead of to checking", ["savings"]),  # was read back "to your Savings account and
    ("move 50 to savings rather than checking", ["savings"]),  # Checking account", both in slots_used
])
def test_a_value_after_not_is_no_value_of_the_turn(resolver, text, kept):
    spans = [span(text, "account", "checking"), span(text, "account", "savings")]
    out = resolver.resolve(text, spans, options())
    assert [e.resolution["id"] for e in out if e.resolved] == kept
    taken = resolver.taken_back(text, out)  # what a follow-up takes out of the slot it carries
    assert [(e.text, e.resolution["id"]) for e in taken] == ([] if "checking" in kept else [("checking", "checking")])


@pytest.mark.parametrize("etype, text, surface, expected", [
    ("account", "what's the balance of my student loan", "student", None),  # was the Student account
    ("account", "what's the balance of my business loan", "business", None),
    ("account", "transfer 50 to my business partner", "business", None),  # a person, no Business account
    ("account", "what's my joint balance", "joint", "joint"),  # any word but another thing's noun
    ("account", "transfer 100 to joint right now", "joint", "joint"),
    ("card", "my business card is lost", "business card", "business_card"),
    ("account", "transfer 200 to my retirement tomorrow", "retirement", "retirement"),
    ("account", "move 100 from savings to joint tonight", "joint", "joint"),
    ("account", "what's the balance of my student account", "student", "student"),  # the catalog's own noun
    ("account", "move 50 from joint to savings", "joint", "joint"),
    ("account", "what's the balance of my joint, thanks", "joint", "joint"),
    ("account", "what is my savings balance", "savings", "savings"),  # a listed name: its own balance
    ("account", "what's the balance of my savings, thanks", "savings", "savings"),
    ("account", "what's the balance of my checking acct", "checking", "checking"),
    ("account", "what's the balance of my savings account", "savings account", "savings"),
    ("card", "freeze my debit card please", "debit card", "debit_card"),
    ("card", "my dbit card went through the wash", "dbit card", "debit_card"),  # a listed name, misspelt
])
def test_a_word_of_a_name_before_another_noun_is_no_value(resolver, etype, text, surface, expected):
    """The model cut "student loan" to "student", which is the Student account's id: a word of its
    names ("student account") followed by a noun none of them ends with is another thing."""
    at = text.index(surface)  # the entity holding the span: the catalog's name when it holds it ("student account")
    (e,) = [e for e in resolver.resolve(text, [span(text, etype, surface)], options()) if e.start <= at < e.end]
    assert (e.resolution or {}).get("id") == expected


def test_catalog_no_match_is_unresolved(resolver):
    text = "what is in my platinum vault"
    out = resolver.resolve(text, [span(text, "account", "platinum vault")], options())
    assert len(out) == 1 and not out[0].resolved and out[0].resolution is None


def test_short_text_is_never_fuzzy_matched(resolver):
    assert resolver.resolve_value("account", "ca", SUNDAY) is None
    assert resolver.resolve_value("account", "cd", SUNDAY)["id"] == "certificate_of_deposit"


def test_catalog_found_without_the_model(resolver):
    text = "Move it to my Savings Account and freeze the debit card"
    out = resolver.resolve(text, [], options())
    assert [(e.type, e.text, e.source, e.resolution["id"]) for e in out] == [
        ("account", "Savings Account", "catalog", "savings"),
        ("card", "debit card", "catalog", "debit_card"),
    ]
    assert all(e.confidence == 1.0 for e in out)


def test_verbatim_matcher_needs_word_boundaries(resolver):
    assert resolver.resolve("the cdrom is broken and my ira-fund", [], options())[0].text == "ira"
    assert resolver.resolve("Mmma decided", [], options()) == []


def test_match_without_model_is_configurable(domain):
    changed = {**domain, "entities": {**domain["entities"], "card": {**domain["entities"]["card"],
                                                                     "match_without_model": False}}}
    out = Resolver(changed).resolve("freeze the debit card", [], options())
    assert out == []


def test_catalog_update_works_before_retraining(domain):
    card = domain["entities"]["card"]
    extra = {**card, "values": card["values"] + [{"id": "metal_card", "value": "Metal card",
                                                  "synonyms": ["titanium card"]}]}
    r = Resolver({**domain, "entities": {**domain["entities"], "card": extra}})
    (e,) = r.resolve("I lost my titanium card", [], options())
    assert (e.type, e.resolution["id"], e.source) == ("card", "metal_card", "catalog")


def test_fuzzy_cutoff_is_configurable(domain):
    strict = {**domain["entities"]["account"], "fuzzy_cutoff": 95}
    r = Resolver({**domain, "entities": {**domain["entities"], "account": strict}})
    assert r.resolve_value("account", "savngs", SUNDAY) is None


# -- money, numbers -------------------------------------------------------------------------

@pytest.mark.parametrize("surface, amount, currency", [
    ("$250", "250", "USD"),
    ("€40.50", "40.50", "EUR"),
    ("1,200.00 USD", "1200.00", "USD"),
    ("250 dollars", "250", "USD"),
    ("two hundred bucks", "200", "USD"),
    ("fifty quid", "50", "GBP"),
    ("a grand", "1000", "USD"),
    ("ten grand", "10000", "USD"),
    ("$12k", "12000", "USD"),
    ("€1.200,00", "1200.00", "EUR"),
    ("¥10,000", "10000", "JPY"),
    ("CAD 300", "300", "CAD"),
    ("usd 500", "500", "USD"),
    ("£75", "75", "GBP"),
    ("a hundred dollars", "100", "USD"),
    ("twenty five dollars and fifty cents", "25.50", "USD"),
    ("$20 and 50 cents", "20.50", "USD"),  # "and ... cents": the one second number an amount may have
    ("a hundred and five dollars", "105", "USD"),  # one amount as said, "and" inside it
    ("twelve hundred and fifty dollars", "1250", "USD"),
    ("two hundred and fifty dollars and twenty cents", "250.20", "USD"),
    ("500 canadian dollars", "500", "CAD"),  # the adjective names the currency
    ("100 argentine pesos", "100", "ARS"),
    ("$50 CAD", "50", "CAD"),  # a written-out ISO code decides over a symbol
    ("50 euro cents", "0.50", "EUR"),
    ("100 rubles", "100", "RUB"),
    ("20 and 50 cents", "20.50", "USD"),
    ("50 cents", "0.50", "USD"),
    ("1.5 million euros", "1500000", "EUR"),
    ("350", "350", "USD"),  # the domain's default currency
    # as spoken: a unit then its minor units ("a buck fifty" is not $50), a letter for pence or
    # cents ("50 p" is not 50 in the default currency), slang for a note
    ("a buck fifty", "1.50", "USD"),
    ("a dollar fifty", "1.50", "USD"),
    ("two pounds fifty", "2.50", "GBP"),
    ("2 pounds and 50", "2.50", "GBP"),
    ("five dollars five", "5.05", "USD"),
    ("a euro", "1", "EUR"),
    ("50p", "0.50", "GBP"),
    ("50 p", "0.50", "GBP"),
    ("twenty p", "0.20", "GBP"),
    ("75c", "0.75", "USD"),
    ("a fiver", "5", "USD"),
    ("a tenner", "10", "USD"),
    ("two fivers", "10", "USD"),  # was 2
    # ... without breaking what was read before: "one" may end a number, "c$" is no cent
    ("twenty-one dollars", "21", "USD"),
    ("twenty one dollars", "21", "USD"),
    ("a hundred and one dollars", "101", "USD"),
    ("sixty-one pounds fifty", "61.50", "GBP"),
    ("one dollar fifty", "1.50", "USD"),
    ("100 C$", "100", "CAD"),
])
def test_money(surface, amount, currency):
    assert resolve_money(surface, "USD") == {"kind": "money", "amount": amount, "currency": currency}


@pytest.mark.parametrize("surface, amount, currency", [
    ("12,34", "12.34", "USD"),                 # a decimal comma: one or two digits after one comma
    ("1,23 dollars", "1.23", "USD"),
    ("40,5 euros", "40.5", "EUR"),
    ("€1.200.000", "1200000", "EUR"),          # two European groups: one reading
    ("₹1,00,000", "100000", "INR"),            # Indian grouping
    ("$1,200.5", "1200.5", "USD"),
    ("$999,999,999,999.99", "999999999999.99", "USD"),  # just under the bound
    ("$50.", "50", "USD"),                     # a full stop is not a decimal point
    ("usd500", "500", "USD"),
])
def test_money_forms_with_one_reading(surface, amount, currency):
    assert resolve_money(surface, "USD") == {"kind": "money", "amount": amount, "currency": currency}


@pytest.mark.parametrize("surface", [
    "1e308", "1e3 dollars", "1E+5", "2.5e-3 euros",   # scientific notation: never the digits after the "e"
    "1,2,3,4 dollars", "12,34,5", "1.234,5.6", "0,500", "1,234,5",  # groups that are not groups
    "1.200", "€100.000",                               # 1.2 or 1200?
    "$40.505", "50.5 cents", "$1234.567",               # fractions of a cent
    "$1,000,000,000,001", "2 trillion dollars",         # over MAX_AMOUNT
    "9" * 70 + " billion", "999999999999999999 billion dollars and 50 cents",  # no Decimal overflow
    "12kg",
    "2 x $50", "31m $20", "2m 20 dollars", "$5 5",      # two numbers: which is the amount is a guess
    "50-100 dollars", "$1-100", "-50 dollars", "minus 200 dollars", "negative fifty",  # ranges and signs
    "half a million", "half a grand", "quarter million", "a couple hundred bucks", "a few hundred dollars",
    "hundreds of dollars", "several thousand", "50%",   # fractions and vague counts: no one amount
    "100 kroner", "100 pesos", "50 bitcoin",            # currencies with no one ISO code
    "200 odd pounds", "two hundred-odd dollars",        # more than 200: no one amount
    "a buck fifty and 20 cents", "20 dollars 500",      # minor units twice, or more than 99 of them
    "pay \x07\x1b[31m $20 \x7f",                       # an escape code's digits are a number too
])
def test_ambiguous_or_absurd_money_is_unresolved(surface):
    assert resolve_money(surface, "USD") is None


def test_ambiguous_numbers_are_unresolved_for_every_numeric_type(resolver):
    assert resolve_number("1e3") is None and resolve_number("1.200") is None
    assert resolve_number("1,2,3") is None and resolve_percentage("1e2%") is None
    assert resolve_number("3 4") is None and resolve_number("2 x 50") is None  # two numbers, no guess
    assert resolve_number("3.14159") == {"kind": "number", "value": "3.14159"}
    assert resolve_number("0.125") == {"kind": "number", "value": "0.125"}  # a leading 0 is never a group
    assert resolve_number("1.5 trillion") == {"kind": "number", "value": "1500000000000"}
    assert resolve_percentage("2,5%") == {"kind": "percentage", "value": "2.5"}
    text = "send 1e308 to savings"
    (amount, _account) = resolver.resolve(text, [span(text, "amount", "1e308")], options())
    assert (amount.type, amount.resolved, amount.resolution) == ("amount", False, None)


def test_money_words_that_look_like_codes_are_not_currencies():
    assert resolve_money("all 300", "USD")["currency"] == "USD"  # "all" is not Albanian lek
    assert resolve_money("send 300 ALL", "USD")["currency"] == "ALL"  # capitals in mixed case
    assert resolve_money("SEND ALL 300", "USD")["currency"] == "USD"  # an all-caps message proves nothing
    assert resolve_money("300", None)["currency"] == ""
    assert resolve_money("$300", "CAD")["currency"] == "CAD"  # a dollar domain keeps its dollar
    assert resolve_money("no amount here", "USD") is None


def test_numbers_ordinals_percentages():
    assert resolve_number("three") == {"kind": "number", "value": "3"}
    assert resolve_number("2.5") == {"kind": "number", "value": "2.5"}
    assert resolve_number("one thousand two hundred and fifty") == {"kind": "number", "value": "1250"}
    assert resolve_ordinal("the third") == {"kind": "ordinal", "value": "3"}
    assert resolve_ordinal("21st") == {"kind": "ordinal", "value": "21"}
    assert resolve_percentage("15%") == {"kind": "percentage", "value": "15"}
    assert resolve_percentage("twenty five per cent") == {"kind": "percentage", "value": "25"}
    assert resolve_percentage("fifteen") is None


@pytest.mark.parametrize("text", ["-$50", "$-50", "-€50", "€-50", "\u221250 dollars", "50\u2013100 dollars",
                                  "0", "$0.00", "zero dollars"])
def test_a_sign_or_range_next_to_a_currency_symbol_leaves_the_amount_unresolved(text):
    """"transfer -$50" prepared a $50.00 transfer: the sign was read only before a bare number; "make
    it 0" prepared a $0.00 one."""
    assert resolve_money(text, "USD") is None


def test_a_number_or_percentage_keeps_its_sign_and_is_never_a_vague_count_or_a_range():
    """"half a million" was 1,000,000, "a couple hundred" 100, "-5%" 5 and "5-10%" 10."""
    for text in ("half a million", "a couple hundred", "several thousand", "5 to 10", "between 5 and 10"):
        assert resolve_number(text) is None, text
    assert resolve_number("minus 5") == resolve_number("\u22125") == {"kind": "number", "value": "-5"}
    for text in ("5-10%", "between 5 and 10 percent", "5 to 10 percent"):
        assert resolve_percentage(text) is None, text
    assert resolve_percentage("-5%") == resolve_percentage("minus 5 percent") == {"kind": "percentage", "value": "-5"}
    assert resolve_percentage("12.5 percent") == {"kind": "percentage", "value": "12.5"}
    for text, value in (("10% of 200", "10"), ("4.5% for 12 months", "4.5"), ("$100 at 5%", "5")):
        assert resolve_percentage(text) == {"kind": "percentage", "value": value}, text  # another number is no range


@pytest.mark.parametrize("surface, value, seconds", [
    ("90 minutes", "PT1H30M", 5400),
    ("two and a half hours", "PT2H30M", 9000),
    ("an hour and a half", "PT1H30M", 5400),
    ("3 days", "P3D", 259200),
    ("1h30m", "PT1H30M", 5400),
    ("PT2H", "PT2H", 7200),
    ("a month", "P1M", 2592000),
    ("2 hours and 30 minutes", "PT2H30M", 9000),  # "and" was read as "an d": one more day
    ("1:30 hours", "PT1H30M", 5400),  # was 30 hours
    ("half an hour", "PT30M", 1800),
])
def test_duration(surface, value, seconds):
    assert resolve_duration(surface) == {"kind": "duration", "value": value, "seconds": seconds}


@pytest.mark.parametrize("surface", ["days", "several days", "a couple of hours", "quarter of an hour", "and"])
def test_a_duration_with_no_one_length_is_unresolved(surface):
    """"days" was a year ("a" + "ys"), "quarter of an hour" an hour."""
    assert resolve_duration(surface) is None


# -- dates ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dates(resolver) -> DateResolver:
    return resolver.dates


def local(y, mo, d, h=12, mi=0, tz="America/Los_Angeles") -> dt.datetime:
    from zoneinfo import ZoneInfo

    return dt.datetime(y, mo, d, h, mi, tzinfo=ZoneInfo(tz))


@pytest.mark.parametrize("surface, value, grain", [
    ("today", "2026-11-29T00:00:00-08:00", "day"),
    ("tomorrow", "2026-11-30T00:00:00-08:00", "day"),
    ("next friday", "2026-12-04T00:00:00-08:00", "day"),
    ("friday", "2026-12-04T00:00:00-08:00", "day"),
    ("this sunday", "2026-11-29T00:00:00-08:00", "day"),  # today is Sunday
    ("next sunday", "2026-12-06T00:00:00-08:00", "day"),
    ("last friday", "2026-11-27T00:00:00-08:00", "day"),
    ("in two weeks", "2026-12-13T00:00:00-08:00", "day"),
    ("in 3 days", "2026-12-02T00:00:00-08:00", "day"),
    ("two days ago", "2026-11-27T00:00:00-08:00", "day"),
    ("end of the month", "2026-11-30T00:00:00-08:00", "day"),
    ("3pm tomorrow", "2026-11-30T15:00:00-08:00", "hour"),
    ("tomorrow at 3:30 pm", "2026-11-30T15:30:00-08:00", "minute"),
    ("March 5", "2027-03-05T00:00:00-08:00", "day"),  # past this year: next year
    ("Dec 4th", "2026-12-04T00:00:00-08:00", "day"),
    ("the 3rd", "2026-12-03T00:00:00-08:00", "day"),
    ("the 30th", "2026-11-30T00:00:00-08:00", "day"),
    ("2026-12-25", "2026-12-25T00:00:00-08:00", "day"),
    ("12/20", "2026-12-20T00:00:00-08:00", "day"),
    ("28/02/2027", "2027-02-28T00:00:00-08:00", "day"),
    ("next week", "2026-11-30T00:00:00-08:00", "week"),
    ("next month", "2026-12-01T00:00:00-08:00", "month"),
    ("January", "2027-01-01T00:00:00-08:00", "month"),
    ("christmas eve", "2026-12-24T00:00:00-08:00", "day"),
    ("thanksgiving", "2027-11-25T00:00:00-08:00", "day"),  # 2026's was on the 26th
    ("noon on friday", "2026-12-04T12:00:00-08:00", "hour"),
    ("June 1st", "2027-06-01T00:00:00-07:00", "day"),  # daylight saving time offset
])
def test_dates_relative_to_a_sunday(dates, surface, value, grain):
    assert dates.resolve(surface, local(2026, 11, 29)) == {"kind": "datetime", "value": value, "grain": grain}


def test_relative_dates_cross_month_and_year_ends(dates):
    ref = local(2026, 12, 30)
    assert dates.resolve("in three days", ref)["value"] == "2027-01-02T00:00:00-08:00"
    assert dates.resolve("tomorrow", local(2026, 12, 31))["value"] == "2027-01-01T00:00:00-08:00"
    assert dates.resolve("next month", ref)["value"] == "2027-01-01T00:00:00-08:00"
    assert dates.resolve("in a month", local(2027, 1, 31))["value"] == "2027-02-28T00:00:00-08:00"
    assert dates.resolve("the 1st", ref)["value"] == "2027-01-01T00:00:00-08:00"
    assert dates.resolve("end of the month", local(2028, 2, 10))["value"] == "2028-02-29T00:00:00-08:00"


def test_tomorrow_depends_on_the_request_time_zone(resolver):
    ref = dt.datetime(2026, 11, 29, 23, 30, tzinfo=UTC)  # Sunday 15:30 in LA, Monday 08:30 in Tokyo
    text = "tomorrow"
    spans = [span(text, "date", "tomorrow")]
    (la,) = resolver.resolve(text, spans, options(ref, "America/Los_Angeles"))
    (tokyo,) = resolver.resolve(text, spans, options(ref, "Asia/Tokyo"))
    (default,) = resolver.resolve(text, spans, RequestOptions(reference_time=ref))  # the domain's zone
    assert la.resolution["value"] == "2026-11-30T00:00:00-08:00"
    assert tokyo.resolution["value"] == "2026-12-01T00:00:00+09:00"
    assert default.resolution["value"] == "2026-11-30T00:00:00-05:00"  # the banking example's: New York


@pytest.mark.parametrize("text, value", [
    ("tomorrow at 2:30am", None),  # 2:30 does not exist that night (was 03:30, a time nobody said): asked again
    ("tomorrow at 1:30am", "2026-03-08T01:30:00-05:00"),
    ("2026-03-08T02:30:00", None),
])
def test_a_local_time_the_clocks_skip_names_no_time(resolver, text, value):
    ref = dt.datetime(2026, 3, 7, 17, 0, tzinfo=UTC)  # noon in New York, the day before clocks go forward
    (date,) = resolver.resolve(text, [span(text, "date", text)], options(ref, "America/New_York"))
    assert (date.resolution and date.resolution["value"]) == value


def test_dateparser_fallback_and_bounds(dates):
    ref = local(2026, 11, 29)
    assert dates.resolve("a fortnight from now", ref)["value"].startswith("2026-12-13")
    assert dates.resolve("x" * 500, ref) is None  # never handed to dateparser
    assert dates.resolve("not a date at all", ref) is None


def test_canonical_datetime_round_trips(dates):
    ref = local(2026, 11, 29)
    got = dates.resolve("2026-12-04T00:00:00-08:00", ref)
    assert got == {"kind": "datetime", "value": "2026-12-04T00:00:00-08:00", "grain": "day"}


def test_fast_path_agrees_with_dateparser(dates):
    """Where both read an expression the same way, the fast path must give dateparser's day."""
    from intentd.server.resolve.dates import fast_path

    ref = dt.datetime(2026, 11, 29, 12, 0)
    for text in ("tomorrow", "next friday", "friday", "in three days", "in two weeks", "dec 4th",
                 "3pm tomorrow", "day after tomorrow", "12/25", "2026-12-25"):
        mine = fast_path(text, ref)
        theirs = dates._dateparser(text, ref, "America/Los_Angeles")
        assert mine[0].date() == theirs[0].date(), text


# -- email, phone ---------------------------------------------------------------------------

def test_email_and_phone(resolver):
    assert resolver.resolve_value("email", "TomH@Work.COM", SUNDAY) == {"kind": "email", "value": "TomH@work.com"}
    assert resolver.resolve_value("email", "not-an-email@", SUNDAY) is None
    assert resolver.resolve_value("phone", "(415) 555-0134", SUNDAY) == {"kind": "phone", "e164": "+14155550134"}
    assert resolver.resolve_value("phone", "+44 20 7946 0958", SUNDAY) == {"kind": "phone", "e164": "+442079460958"}
    assert resolver.resolve_value("phone", "555-0123", SUNDAY) is None  # no area code
    # an extension is kept beside the E.164 number (it was dropped: the call reached the switchboard)
    for said in ("(415) 555-0134 ext. 23", "415-555-0134 x23", "+1 415 555 0134 extension 23"):
        assert resolver.resolve_value("phone", said, SUNDAY) == {"kind": "phone", "e164": "+14155550134",
                                                                  "extension": "23"}, said


@pytest.mark.parametrize("text, spans, e164, extension", [
    ("change my phone number to 415-555-0134 ext 23", ["415-555-0134"], "+14155550134", "23"),
    ("change my phone number to 415-555-0134 ext. 23", ["415-555-0134", "23"], "+14155550134", "23"),
    ("change my phone number to 415-555-0134 extension 23", ["415-555-0134", "23"], "+14155550134", "23"),
    ("please call me at 212 555 0187 extension 4", ["212 555 0187"], "+12125550187", "4"),
    ("my number is 415-555-0134, x7 works too", ["415-555-0134"], "+14155550134", "7"),
])
def test_an_extension_after_the_models_span_is_the_numbers(resolver, text, spans, e164, extension):
    """The model's span stopped before "ext. 23": the extension was dropped, or read as a second,
    unresolved number "23"."""
    out = resolver.resolve(text, [span(text, "phone", s) for s in spans], options())
    assert [e.resolution for e in out] == [{"kind": "phone", "e164": e164, "extension": extension}]
    assert out[0].text.startswith(spans[0]) and out[0].text.endswith(extension)


def test_a_number_after_a_phone_number_is_no_extension(resolver):
    text = "call 415-555-0134 between 2 and 5"
    (e,) = resolver.resolve(text, [span(text, "phone", "415-555-0134")], options())
    assert e.text == "415-555-0134" and e.resolution == {"kind": "phone", "e164": "+14155550134"}


@pytest.mark.parametrize("said, e164", [
    ("four one five five five five zero one three four", "+14155550134"),
    ("four one five, five five five, oh one three four", "+14155550134"),
    ("917 five five five 0 1 2 3", "+19175550123"),
    ("plus four four two zero seven nine four six zero nine five eight", "+442079460958"),
    ("four one five double five five oh one three four", "+14155550134"),
    ("oh four one five five five five zero one three", None),  # "oh" first is no zero: nine digits
    ("four one five five five five zero one three for", None),  # a word no digit
])
def test_a_phone_number_said_digit_by_digit(resolver, said, e164):
    """A voice caller's number, as the recogniser writes it ("four one five ..."), never resolved:
    "update my phone number" then confirmed nothing."""
    found = resolver.resolve_value("phone", said, SUNDAY)
    assert (found and found["e164"]) == e164


@pytest.mark.parametrize("text, spans, email", [
    ("it's john dot smith at yahoo dot com", ["john", "smith"], "john.smith@yahoo.com"),
    ("change my email to tom at gmail dot com", ["tom"], "tom@gmail.com"),
    ("my email is t o m h at gmail dot co dot uk", ["h at gmail"], "tomh@gmail.co.uk"),
    ("my email is jane underscore doe at example dot com", ["jane underscore doe"], "jane_doe@example.com"),
    ("meet me at noon", ["me"], None),
    # a first "at" whose name goes on to a second is no address; a dictated full stop is none of it
    ("email me at john dot smith at yahoo dot com", ["me at john dot smith"], "john.smith@yahoo.com"),
    ("contact me at john dot smith", ["me at john dot smith"], None),
    ("it's tom at gmail dot com dot", ["tom"], "tom@gmail.com"),
    ("i was at home dot com", ["i was at home dot com"], None),
])
def test_a_dictated_email_address_is_read_whole(resolver, text, spans, email):
    """"john dot smith at yahoo dot com": the model (trained on written addresses) tagged "john" and
    "smith", and the address was never read; "my email is tom at ..." is no "myemailistom@"."""
    out = resolver.resolve(text, [span(text, "email", s) for s in spans], options())
    assert [e.resolution["value"] for e in out if e.resolved] == ([email] if email else [])
    assert resolver.resolve_value("email", "my email is tom at gmail dot com", SUNDAY) is None


@pytest.mark.parametrize("said, value", [("5\u200b0 dollars", "50"), ("1\u200b,000 dollars", "1000"),
                                         ("\ufeff75 bucks", "75"), ("2\u00ad00 USD", "200")])
def test_a_zero_width_character_inside_an_amount_is_read_past(resolver, said, value):
    """"send 5\u200b0 dollars" (a value pasted from a web page) asked "How much?" again: the
    zero-width space split the number, and the amount the caller gave was lost."""
    assert resolver.resolve_value("amount", said, SUNDAY)["amount"] == value


def test_free_text_is_its_own_value(resolver):
    text = "pay Café\u200b Luna"
    (e,) = resolver.resolve(text, [span(text, "merchant", "Café\u200b Luna")], options())
    assert e.resolved and e.resolution == {"kind": "text", "value": "Café Luna"}


# -- patterns and overlaps ------------------------------------------------------------------

def test_pattern_found_without_the_model(resolver):
    text = "charge on acct # 1234 5678 90, case ref-00123456"
    out = resolver.resolve(text, [], options())
    assert [(e.type, e.text, e.source, e.resolution["value"]) for e in out] == [
        ("account_number", "1234 5678 90", "pattern", "1234567890"),
        ("reference", "ref-00123456", "pattern", "REF00123456"),
    ]


@pytest.mark.parametrize("written", ["１２３４ ５６７８ ９０", "١٢٣٤ ٥٦٧٨ ٩٠"])
def test_a_pattern_value_in_other_digits_is_ascii(resolver, written):
    """Full-width and Arabic-Indic digits (which the regex's \\d matches) were kept as the
    canonical value: a backend looking up account "１２３４５６７８９０" found none."""
    reference = "ref-００１２３４５６" if "１" in written else "ref-٠٠١٢٣٤٥٦"
    text = f"charge on acct # {written}, case {reference}"
    out = resolver.resolve(text, [], options())
    assert [(e.type, e.resolution["value"]) for e in out] == [("account_number", "1234567890"),
                                                              ("reference", "REF00123456")]
    carried = resolver.resolve_carried("account_number", written.replace(" ", ""), 1)
    assert carried == []  # a carried value is canonical only in ASCII


def test_pattern_wins_over_an_overlapping_model_span(resolver):
    text = "account number 12345678 please"
    out = resolver.resolve(text, [span(text, "amount", "12345678", 0.6)], options())
    assert [(e.type, e.source) for e in out] == [("account_number", "pattern")]


def test_model_span_wins_over_catalog_without_model(resolver):
    text = "my debit card fee"
    out = resolver.resolve(text, [span(text, "merchant", "debit card fee")], options())
    assert [(e.type, e.text, e.source) for e in out] == [("merchant", "debit card fee", "model")]


def test_longest_catalog_match_wins(resolver):
    out = resolver.resolve("open a credit card account", [], options())
    assert [(e.type, e.text) for e in out] == [("account", "credit card account")]


def test_spans_never_overlap_and_are_sorted(resolver):
    text = "send $50 from checking account 123456789 to savings tomorrow"
    spans = [span(text, "amount", "$50"), span(text, "account", "checking"), span(text, "date", "tomorrow")]
    out = resolver.resolve(text, spans, options())
    assert [e.start for e in out] == sorted(e.start for e in out)
    assert all(a.end <= b.start for a, b in zip(out, out[1:]))
    assert {e.type for e in out} == {"amount", "account", "account_number", "date"}


def test_unknown_type_passes_through_unresolved(resolver):
    text = "fly to boston"
    (e,) = resolver.resolve(text, [span(text, "destination", "boston")], options())
    assert (e.type, e.resolved, e.resolution) == ("destination", False, None)


# -- config errors --------------------------------------------------------------------------

@pytest.mark.parametrize("spec, message", [
    ({"kind": "magic"}, "unknown kind"),
    ({"kind": "builtin", "builtin": "colour"}, "unknown builtin"),
    ({"kind": "pattern", "pattern": "(unclosed"}, "invalid regex"),
    ({"kind": "pattern", "pattern": "a*"}, "empty string"),
    ({"kind": "pattern", "pattern": "(a)b", "group": 2}, "no group"),
    ({"kind": "catalog", "values": []}, "non-empty"),
])
def test_invalid_entity_config_is_rejected(spec, message):
    with pytest.raises(DomainConfigError, match=message):
        Resolver({"intents": {}, "entities": {"x": spec}})


def test_no_domain_passes_spans_through():
    text = "hello there"
    (e,) = Resolver(None).resolve(text, [span(text, "thing", "there")], RequestOptions())
    assert not e.resolved


def test_docs_table_is_true(resolver):
    """Every row of docs/resolution.md's table of tricky cases is what the resolver returns."""
    import json
    import re
    from zoneinfo import ZoneInfo

    doc = (Path(__file__).resolve().parents[1] / "docs" / "resolution.md").read_text(encoding="utf-8")
    table = doc[doc.index("| type | text | reference (local) | intentd returns |"):].split("\n\n")[0]
    rows = re.findall(r"^\| (\w+) \| `([^`]+)` \| ([^|]*) \| (.+) \|$", table, re.M)
    assert len(rows) >= 20
    for etype, text, ref, expected in rows:
        reference = SUNDAY
        if ref.strip():
            _, day, hm, tz = ref.split()
            reference = dt.datetime.fromisoformat(f"{day}T{hm}").replace(tzinfo=ZoneInfo(tz))
        got = resolver.resolve_value(etype, text, reference)
        want = None if expected.startswith("unresolved") else json.loads(expected.strip("`"))
        assert got == want, (etype, text)


# -- intents about the past (`dates: past`) ---------------------------------------------------

@pytest.mark.parametrize("text, past, expected", [
    ("friday", True, "2026-11-27"),           # Sunday 2026-11-29: the latest friday
    ("friday", False, "2026-12-04"),
    ("next friday", True, "2026-12-04"),      # says its own direction
    ("the 12th", True, "2026-11-12"),
    ("March 5", True, "2026-03-05"),
    ("January", True, "2026-01-01"),
    ("in 3 days", True, "2026-12-02"),
    ("the weekend", True, "2026-11-28"),      # said on a Sunday: this weekend's Saturday
    ("2027-01-15", True, "2027-01-15"),       # explicit dates never move
])
def test_past_intents_resolve_undirected_dates_backwards(text, past, expected):
    ref = dt.datetime(2026, 11, 29, 12, 0, tzinfo=ZoneInfo("America/New_York"))
    assert DateResolver().resolve(text, ref, past=past)["value"][:10] == expected


def test_last_night_is_yesterday_evening():
    ref = dt.datetime(2026, 11, 29, 12, 0, tzinfo=ZoneInfo("America/New_York"))
    assert DateResolver().resolve("last night", ref) == {
        "kind": "datetime", "value": "2026-11-28T20:00:00-05:00", "grain": "hour"}


def test_unknown_date_direction_is_a_config_error():
    with pytest.raises(DomainConfigError, match="dates must be"):
        Resolver({"intents": {"x": {"dates": "sideways"}}, "entities": {}})


# -- the edges of the calendar ----------------------------------------------------------------

EDGE_DATES = ["today", "tomorrow", "yesterday", "next friday", "last friday", "next year", "in 3 days",
              "two days ago", "in 9999 years", "end of the month", "christmas", "March 5", "12/31", "the 31st",
              "a fortnight from now", "3pm tomorrow", "9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00"]


@pytest.mark.parametrize("reference", [dt.datetime(1, 1, 1, tzinfo=UTC), dt.datetime(9999, 12, 31, 23, 59, tzinfo=UTC)])
@pytest.mark.parametrize("tz", ["America/Los_Angeles", "UTC", "Asia/Tokyo"])
def test_reference_time_at_the_calendars_edges_never_raises(resolver, reference, tz):
    """Year 1 in Los Angeles has no local time; the day after 9999-12-31 does not exist: unresolved."""
    text = "pay $50 " + " ".join(EDGE_DATES)
    spans = [span(text, "amount", "$50")] + [span(text, "date", d) for d in EDGE_DATES]
    for past in (None, "dispute_transaction"):
        out = resolver.resolve(text, spans, options(reference, tz), intent=past)
        assert out[0].resolution == {"kind": "money", "amount": "50", "currency": "USD"}
        for e in out[1:]:
            assert e.resolution is None or 1 <= dt.datetime.fromisoformat(e.resolution["value"]).year <= 9999


def test_dates_at_the_calendars_edges():
    last = dt.datetime(9999, 12, 31, 12, 0, tzinfo=UTC)
    dates = DateResolver()
    assert dates.resolve("today", last)["value"] == "9999-12-31T00:00:00+00:00"
    assert dates.resolve("tomorrow", last) is None and dates.resolve("next year", last) is None
    first = dt.datetime(1, 1, 1, 12, 0, tzinfo=UTC)
    assert dates.resolve("tomorrow", first)["value"] == "0001-01-02T00:00:00+00:00"
    assert dates.resolve("yesterday", first) is None
    r = Resolver(None)
    assert r.reference_time(options(dt.datetime(1, 1, 1, tzinfo=UTC), "America/Los_Angeles")) is None


# -- pattern types: the group alone (what a value carried from an earlier turn must match) ---------

@pytest.mark.parametrize("source, group, value_regex", [
    (r"(?i)\bacct\s*(\d{6,})\b", 1, r"\d{6,}"),
    (r"[()\]](a(b)c)[^]()]+(?P<x>[(]d\))", "x", r"[(]d\)"),  # parentheses inside classes are not groups
    (r"\\(a)(b)", 2, "b"),                                  # an escaped backslash before a group
    (r"(a)(?P<n>\1b)", "n", r"(a)(?P<n>\1b)"),               # a back-reference cannot stand alone: whole regex
    (r"REF-(\d+)", 0, r"REF-(\d+)"),
])
def test_pattern_group_regex(source, group, value_regex):
    from intentd.server.resolve.patterns import PatternType

    p = PatternType.from_config("t", {"pattern": source, "group": group})
    assert p.value_regex.pattern == value_regex and p.value_regex.flags == p.regex.flags


def test_a_pattern_that_backtracks_without_end_is_refused_or_bounded():
    """A domain's regex runs on every caller's text: "ref" and 27 digits against a nested
    repetition froze the server for 5 s (each digit doubling it). One that backtracks on the
    stress texts is refused at load; one that does so only on some request's text finds nothing
    there, within the bound, and finds what it should elsewhere."""
    from intentd.server.resolve.patterns import MATCH_TIMEOUT_S, PatternType

    with pytest.raises(DomainConfigError, match="'ref'.*backtracks"):
        PatternType.from_config("ref", {"pattern": r"(a|aa)+$"})
    with pytest.raises(DomainConfigError, match="'ref'.*backtracks"):  # on its own letter: it loaded
        PatternType.from_config("ref", {"pattern": r"(x+x+)+y"})
    with pytest.raises(DomainConfigError, match="'ref'.*backtracks"):  # its letter past the first 8 it names
        PatternType.from_config("ref", {"pattern": r"(?:card|debit)?(w+w+)+y"})
    slow = PatternType.from_config("ref", {"pattern": r"\bref((?:1|11)+)\b", "group": 1})
    started = time.perf_counter()
    assert slow.find("ref" + "1" * 60 + "x") == [] and slow.resolve("ref" + "1" * 60 + "x") is None
    assert time.perf_counter() - started < 100 * MATCH_TIMEOUT_S  # unbounded: hours
    assert slow.find("ref111 ok") == [(3, 6, "111")]


def test_an_amount_the_model_reads_in_two_parts_is_one_amount(resolver):
    """The model splits "a hundred and five dollars" at "and": each part alone was an amount."""
    text = "transfer a hundred and five dollars to savings"
    spans = [span(text, "amount", "a hundred"), span(text, "amount", "five dollars"), span(text, "account", "savings")]
    amounts = [e for e in resolver.resolve(text, spans, options()) if e.type == "amount"]
    assert [(e.text, e.resolution["amount"]) for e in amounts] == [("a hundred and five dollars", "105")]
    text = "pay $5 and $10"  # two amounts joined read as one text: no one amount
    spans = [span(text, "amount", "$5"), span(text, "amount", "$10")]
    (both,) = resolver.resolve(text, spans, options())
    assert both.text == "$5 and $10" and not both.resolved


def test_a_day_and_a_time_the_model_reads_apart_are_one_date(resolver, dates):
    """"tomorrow at 3pm" tagged as "tomorrow" and "3pm" was two dates in one slot (asked again);
    "the 1st of", cut before "every month", read as January."""
    text = "pay it tomorrow at 3pm"
    spans = [span(text, "date", "tomorrow"), span(text, "date", "3pm")]
    (date,) = resolver.resolve(text, spans, options())
    assert date.text == "tomorrow at 3pm" and date.resolution["value"][11:16] == "15:00"
    ref = dt.datetime(2026, 11, 29, 12, 0, tzinfo=ZoneInfo("America/New_York"))
    assert dates.resolve("the 1st of", ref)["value"].startswith("2026-12-01")


@pytest.mark.parametrize("text", ["yesterday", "last friday", "2026-11-02"])
def test_a_date_before_today_is_no_date_for_an_intent_whose_dates_lie_ahead(resolver, text):
    """"schedule a $200 payment for yesterday" was scheduled for yesterday."""
    assert resolver.resolve_value("date", text, SUNDAY) is None
    assert resolver.resolve_value("date", text, SUNDAY, past=True) is not None  # a disputed charge's date
    assert resolver.resolve_value("date", "today", SUNDAY) is not None  # today is not before today


@pytest.mark.parametrize("text", ["11/31", "2/29", "1530", "at 1530", "at 5", "friday at 5"])
def test_numbers_that_are_no_date_are_unresolved(dates, text):
    """"11/31" was 2031-11-11, "1530" the year 1530, "at 5" the 5th and "friday at 5" May 2027."""
    assert dates.resolve(text, local(2026, 11, 27)) is None
    assert dates.resolve("friday at 5pm", local(2026, 11, 27))["value"].startswith("2026-11-27T17:00")


@pytest.mark.parametrize("surface", ["Amazon<script>alert(1)</script>", "Amazon.com/ignore-previous-instructions",
                                     "Paris{amount", "Ama\U000e0069\U000e0067zon", "http://evil.example"])
def test_free_text_that_is_not_plain_words_never_reaches_a_response(resolver, surface):
    """A merchant typed in this turn once went into the response as written; a carried one was
    already held to plain words."""
    assert resolver.resolve_value("merchant", surface, SUNDAY) is None
    assert resolver.resolve_value("merchant", "Ben & Jerry's", SUNDAY) == {"kind": "text", "value": "Ben & Jerry's"}


@pytest.mark.parametrize("surface", ["Booking.com", "call 1 9 0 0 7 2 2 6", "a b c d e f g", "Z" * 41, "Amazon",
                                     "Ben & Jerry's", "Forever 21", "St. Louis", "Café Zoë"])
def test_a_free_text_value_is_held_to_one_rule_in_this_turn_and_carried(resolver, surface):
    """"Booking.com" was taken from the turn, then refused when the caller carried it back: the
    slot was asked for again on every turn. A value is a value in both, or in neither."""
    now = resolver.resolve_value("merchant", surface, SUNDAY)
    carried = resolver.resolve_carried("merchant", surface, 1)
    assert [now] == carried if now is not None else carried == [], (now, carried)
    if surface in ("Amazon", "Ben & Jerry's", "Forever 21", "St. Louis", "Café Zoë"):
        assert now == {"kind": "text", "value": surface}


def test_a_time_already_past_is_no_time_for_an_intent_whose_dates_lie_ahead(resolver):
    noon = local(2026, 11, 27, 12)
    assert resolver.resolve_value("date", "today at 9:30am", noon) is None
    assert resolver.resolve_value("date", "today at 3:30pm", noon)["value"].startswith("2026-11-27T15:30")
    assert resolver.resolve_value("date", "today at 9:30am", noon, past=True) is not None


@pytest.mark.parametrize("text, value", [
    ("8 tonight", "2026-12-03T20:00:00-05:00"),  # was 8 am, the reference time
    ("at 8 tonight", "2026-12-03T20:00:00-05:00"),
    ("9 tomorrow morning", "2026-12-04T09:00:00-05:00"),  # was tomorrow at 08:00
    ("friday 7 in the evening", "2026-12-04T19:00:00-05:00"),  # was Monday the 7th
    ("11 at night", "2026-12-03T23:00:00-05:00"),  # was the 11th at 20:00
    ("friday night at 9", "2026-12-04T21:00:00-05:00"),
    ("last night at 11", "2026-12-02T23:00:00-05:00"),  # was 08:00 the day before (the clock's hour)
    ("at 7:30 tonight", "2026-12-03T19:30:00-05:00"),  # was 07:30
    ("tonight at 7:30", "2026-12-03T19:30:00-05:00"),
    ("2 in the evening", None),  # no such hour: asked, not guessed
    ("friday at 5", None),  # still no am/pm to go by
])
def test_a_bare_hour_beside_a_part_of_the_day_takes_its_half_of_the_day(dates, text, value):
    ref = dt.datetime(2026, 12, 3, 8, 0, tzinfo=ZoneInfo("America/New_York"))
    found = dates.resolve(text, ref)
    assert (found or {}).get("value") == value


def test_the_day_of_next_month_and_the_last_february_29th(dates):
    mid_november = dt.datetime(2026, 11, 15, 8, 0, tzinfo=ZoneInfo("America/New_York"))
    assert dates.resolve("the 20th of next month", mid_november)["value"].startswith("2026-12-20")  # was Nov 20
    assert dates.resolve("the 31st of next month", mid_november)["value"].startswith("2026-12-31")
    assert dates.resolve("the 31st of this month", mid_november) is None  # November has 30 days
    june_2028 = dt.datetime(2028, 6, 1, 8, 0, tzinfo=ZoneInfo("America/New_York"))
    assert dates.resolve("february 29", june_2028, past=True)["value"].startswith("2028-02-29")  # was 2032


def test_hours_from_now_count_real_time_across_a_daylight_saving_change(dates):
    """01:30 on a spring-forward night in New York: two hours later the clocks show 04:30."""
    spring = dt.datetime(2026, 3, 8, 1, 30, tzinfo=ZoneInfo("America/New_York"))
    assert dates.resolve("in 2 hours", spring)["value"] == "2026-03-08T04:30:00-04:00"
    assert dates.resolve("90 minutes ago", spring)["value"] == "2026-03-08T00:00:00-05:00"
    assert dates.resolve("in 3 days", spring)["value"] == "2026-03-11T00:00:00-04:00"  # days stay calendar days


def test_the_two_readings_of_a_repeated_hour_are_not_one_cache_entry(dates):
    """01:30 comes twice when New York's clocks go back; the date cache's key compared them equal,
    so "now" said at 01:30 EST could come back as 01:30 EDT, an hour in the past."""
    tz = ZoneInfo("America/New_York")
    first, second = dt.datetime(2026, 11, 1, 1, 30, tzinfo=tz), dt.datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=tz)
    for ref, offset in ((first, "-04:00"), (second, "-05:00"), (first, "-04:00")):
        assert dates.resolve("now", ref)["value"] == f"2026-11-01T01:30:00{offset}"
        assert dates.resolve("20 minutes ago", ref)["value"] == f"2026-11-01T01:10:00{offset}"


@pytest.mark.parametrize("text, roles", [
    ("move 50 from checking to my savings", {"checking": "source", "savings": "destination"}),
    ("transfer $20 to my savings from my checking", {"savings": "destination", "checking": "source"}),
    ("take 40 out of savings", {"savings": "source"}),
    ("put 100 into the savings", {"savings": "destination"}),
    ("what is my savings balance", {"savings": None}),  # no word says which way
    ("pay the gas bill from checking on the 5th", {"checking": "source"}),
    # someone else's account (unresolved) goes the way the words before its owner say, as when the
    # model's span holds "mom's"
    ("move 50 from my mom's checking account to my savings", {"checking account": "source", "savings": "destination"}),
    ("move 50 from my mom's checking account to savings", {"mom's checking account": "source",
                                                            "savings": "destination"}),
    ("take 100 off my savings and put it into checking", {"savings": "source", "checking": "destination"}),
    # two values with only the words that send one of them a way between them go the two ways
    # (a transfer read back "to your Savings account" from none)
    ("transfer 50 dollars checking to savings", {"checking": "source", "savings": "destination"}),
    ("send 100 savings from my checking", {"savings": "destination", "checking": "source"}),
    # what the money is for, not where it comes from: a read-back said "from your Credit card account"
    ("move 200 into checking to pay off my credit card account", {"checking": "destination",
                                                                  "credit card account": None}),
    ("move 150 from savings into checking once I've paid off my credit card",
     {"savings": "source", "checking": "destination", "credit card": None}),
])
def test_a_catalog_value_says_which_way_it_goes(resolver, text, roles):
    """slots_used lists two accounts in text order: "to savings from checking" read as a transfer
    out of savings. Each value now carries its role, from the words right before it."""
    spans = [span(text, "account", surface) for surface in roles]
    entities = resolver.resolve(text, spans, options())
    assert {e.text: e.role for e in entities if e.type == "account"} == roles


@pytest.fixture(scope="module")
def engine(banking_artifact) -> Engine:
    return Engine.load(banking_artifact)


@pytest.mark.parametrize("text, intent, spans, previous, template, slots", [
    # the example model's spans: "mom's" left out; the balance was read out for the customer's checking
    ("what's the balance of my mom's checking account", "check_balance", [("account", "checking account")], None,
     "check_balance.prompt.account", {}),
    # money came out of checking too: "checking,savings"
    ("move 50 not from checking but from savings", "transfer_money",
     [("amount", "50"), ("account", "checking"), ("account", "savings")], None,
     "transfer_money.response.3", {"amount": "50 USD", "account": "savings", "account.source": "savings"}),
    ("move 50 not from checking but from savings", "transfer_money",  # a new request, no follow-up
     [("amount", "50"), ("account", "checking"), ("account", "savings")], "check_balance",
     "transfer_money.response.3", {"amount": "50 USD", "account": "savings", "account.source": "savings"}),
])
def test_the_answer_holds_only_the_customers_own_values_said(engine, text, intent, spans, previous, template, slots):
    """Through the engine (follow-up rule and response): someone else's account and one taken back
    never reach `slots_used`, what the backend acts on."""
    prediction = Prediction([(intent, 0.99), ("greeting", 0.01)], [span(text, t, s) for t, s in spans], 0.0)
    opts = RequestOptions(reference_time=SUNDAY, previous_intent=previous)
    analysis = engine.conclude(text, prediction, engine.resolver.resolve(text, prediction.entities, opts, intent), opts)
    assert (analysis.response.template_id, analysis.response.slots_used) == (template, slots)
