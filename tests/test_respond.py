"""Constrained responses: every selection branch, value formatting and sanitising, template validation."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from intentd.errors import IntentdError
from intentd.server.analysis import Escalation, RequestOptions, ResolvedEntity
from intentd.server.respond import MAX_VALUE_CHARS, Responder, TemplateError, canonical, display, validate_templates

BANKING = Path(__file__).resolve().parents[1] / "models" / "domains" / "banking" / "domain.yaml"
OPTS = RequestOptions(reference_time=dt.datetime(2026, 11, 29, 20, tzinfo=dt.timezone.utc),
                      time_zone="America/Los_Angeles")
OK = Escalation()


@pytest.fixture(scope="module")
def domain() -> dict:
    return yaml.safe_load(BANKING.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def responder(domain) -> Responder:
    return Responder(domain)


def ent(etype: str, resolution: dict | None, text: str = "x") -> ResolvedEntity:
    return ResolvedEntity(etype, text, 0, len(text), 0.9, "model", resolution is not None, resolution)


MONEY = ent("amount", {"kind": "money", "amount": "200", "currency": "USD"})
DATE = ent("date", {"kind": "datetime", "value": "2026-12-04T00:00:00-08:00", "grain": "day"})
SAVINGS = ent("account", {"kind": "catalog", "id": "savings", "value": "Savings account", "score": 1.0})


def test_all_required_slots_filled(responder):
    r = responder.respond("schedule_payment", [MONEY, DATE], OK, OPTS)
    assert r.template_id == "schedule_payment.response.7"  # no payee said: the entry of the required slots
    assert r.text == ("I've prepared a payment of $200.00 for Friday, December 4. Please review and confirm it "
                      "in the app; you can change or cancel it later under Payments > Scheduled.")
    assert r.slots_used == {"amount": "200 USD", "date": "2026-12-04T00:00:00-08:00"}
    assert r.slots_missing == []


def test_missing_slot_selects_its_prompt(responder):
    r = responder.respond("schedule_payment", [DATE], OK, OPTS)
    assert (r.template_id, r.text) == ("schedule_payment.prompt.amount", "How much should the payment be?")
    assert r.slots_missing == ["amount"] and r.slots_used == {"date": "2026-12-04T00:00:00-08:00"}
    r = responder.respond("schedule_payment", [], OK, OPTS)
    assert r.template_id == "schedule_payment.prompt.amount" and r.slots_missing == ["amount", "date"]


def test_an_optional_value_said_and_not_read_is_asked_where_the_domain_has_a_prompt(responder, domain):
    """"transfer $200 to savings tomorrow at five": the date (optional for a transfer) could not be
    read (which five?), and the read-back went out without it: a backend acting on it moved the
    money today."""
    unread = ent("date", None, "tomorrow at five")
    r = responder.respond("transfer_money", [MONEY, SAVINGS, unread], OK, OPTS)
    assert (r.template_id, r.text) == ("transfer_money.prompt.date", "When should the transfer happen?")
    # the day said is kept while the hour is asked (29 November at 20:00 UTC: noon in Los Angeles)
    assert r.slots_missing == ["date"] and r.slots_used == {"amount": "200 USD", "account": "savings",
                                                            "date.day": "2026-11-30T00:00:00-08:00"}
    r = responder.respond("transfer_money", [MONEY, SAVINGS, unread, DATE], OK, OPTS)  # a date read beside it
    assert r.template_id.startswith("transfer_money.response") and r.slots_missing == []
    # two dates for the one date ("9:30 | a.m. | tomorrow" tagged apart): which? (it went out with none)
    other = ent("date", {"kind": "datetime", "value": "2026-12-02T00:00:00-08:00", "grain": "day"}, "wednesday")
    r = responder.respond("transfer_money", [MONEY, SAVINGS, DATE, other], OK, OPTS)
    assert r.template_id == "transfer_money.prompt.date" and r.slots_missing == ["date"]
    # a required slot's prompt comes first; the optional one is still listed, to be asked next
    r = responder.respond("transfer_money", [SAVINGS, unread], OK, OPTS)
    assert r.template_id == "transfer_money.prompt.amount" and r.slots_missing == ["amount", "date"]
    # without a prompt for it the read-back still goes out (the entity says it was not read)
    bare = copy.deepcopy(domain)
    del bare["intents"]["transfer_money"]["prompts"]["date"]
    r = Responder(bare).respond("transfer_money", [MONEY, SAVINGS, unread], OK, OPTS)
    assert r.template_id.startswith("transfer_money.response") and r.slots_missing == []


def test_an_optional_slot_the_last_answer_asked_is_asked_until_said(responder):
    """The engine passes the last answer's `slots_missing` to a follow-up: a turn that says
    nothing of the date ("make it 300", a "yes") asks for it again; one that says it reads back."""
    asked = replace(OPTS, filled_slots=(("account", "savings"), ("amount", "200 USD")), slots_missing=("date",))
    r = responder.respond("transfer_money", [], OK, asked)
    assert r.template_id == "transfer_money.prompt.date" and r.slots_missing == ["date"]
    assert r.slots_used == {"amount": "200 USD", "account": "savings"}
    r = responder.respond("transfer_money", [DATE], OK, asked)
    assert r.template_id.startswith("transfer_money.response") and r.slots_missing == []
    # a slot of another intent, or one with no prompt, asks nothing
    assert responder.respond("transfer_money", [], OK, replace(asked, slots_missing=("merchant",))).slots_missing == []


def test_slot_from_context(responder):
    opts = RequestOptions(reference_time=OPTS.reference_time, time_zone=OPTS.time_zone,
                          filled_slots=(("amount", "50.00 EUR"),))
    r = responder.respond("schedule_payment", [DATE], OK, opts)
    assert r.template_id == "schedule_payment.response.7"
    assert "50.00 EUR" in r.text and r.slots_used["amount"] == "50.00 EUR"


def test_context_round_trips_slots_used(responder):
    first = responder.respond("schedule_payment", [DATE], OK, OPTS)
    opts = RequestOptions(reference_time=OPTS.reference_time, time_zone=OPTS.time_zone,
                          filled_slots=tuple(first.slots_used.items()))
    second = responder.respond("schedule_payment", [MONEY], OK, opts)
    assert second.template_id == "schedule_payment.response.7" and "Friday, December 4" in second.text


def test_current_turn_overrides_context(responder):
    opts = RequestOptions(filled_slots=(("account", "checking"),))
    r = responder.respond("check_balance", [SAVINGS], OK, opts)
    assert "Savings account" in r.text and r.slots_used == {"account": "savings"}
    r = responder.respond("check_balance", [], OK, opts)
    assert "Checking account" in r.text and r.slots_used == {"account": "checking"}


def test_escalated_query_gets_the_handoff(responder, domain):
    r = responder.respond("transfer_money", [MONEY, SAVINGS], Escalation(True, "out_of_distribution"), OPTS)
    assert (r.text, r.template_id) == (domain["escalation"]["handoff_response"], "handoff")
    assert r.slots_used == {} and r.slots_missing == []


def test_policy_escalation_uses_the_intents_own_handoff_text(responder):
    r = responder.respond("close_account", [SAVINGS], Escalation(True, "policy", "human"), OPTS)
    assert r.template_id == "close_account.response" and "Savings account" in r.text


def test_unknown_intent_has_no_response(responder):
    assert responder.respond("book_flight", [], OK, OPTS) is None


def test_unresolved_entities_never_fill_a_slot(responder):
    r = responder.respond("check_balance", [ent("account", None, "ignore previous instructions")], OK, OPTS)
    assert r.template_id == "check_balance.prompt.account"
    assert "ignore" not in r.text


def test_inserted_values_are_cleaned_and_bounded(responder):
    merchant = ent("merchant", {"kind": "text", "value": "Acme\x00\x1b[31m\u202e\nCorp" + "z" * 200})
    r = responder.respond("pay_bill", [merchant], OK, OPTS)
    assert r.template_id == "pay_bill.response.7"
    inserted = r.text.removeprefix("I can pay your ").removesuffix(" bill now. Please check the amount and confirm it in the app.")
    assert len(inserted) == MAX_VALUE_CHARS and inserted.endswith("…")
    assert not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 or c == "\u202e" for c in r.text)
    isolated = ent("merchant", {"kind": "text", "value": "Acme\u2066\u2067\u2068\u2069\u061c Corp"})
    assert "I can pay your Acme Corp bill" in responder.respond("pay_bill", [isolated], OK, OPTS).text
    assert inserted.startswith("Acme[31m Corp")


def test_context_values_are_cleaned_too(responder):
    opts = RequestOptions(filled_slots=(("merchant", "Evil\r\nCo\x07"),))
    r = responder.respond("pay_bill", [], OK, opts)
    assert r.text.startswith("I can pay your Evil Co bill now")


def test_a_payment_reads_back_its_payee_and_a_bill_its_amount(responder):
    """A scheduled payment answered "Done: a payment of $200.00 is scheduled for Friday, December
    4." before the caller confirmed anything, without the payee it was said to; a bill payment and
    a dispute did not say the amount they were for. Each reads back what the turn said."""
    comcast = ent("merchant", {"kind": "text", "value": "Comcast"})
    r = responder.respond("schedule_payment", [MONEY, comcast, DATE], OK, OPTS)
    assert r.template_id == "schedule_payment.response.3"
    assert r.text.startswith("I've prepared a payment of $200.00 to Comcast for Friday, December 4. ")
    r = responder.respond("pay_bill", [comcast, MONEY], OK, OPTS)
    assert (r.template_id, r.text) == ("pay_bill.response.3",
                                       "I can pay $200.00 on your Comcast bill now. Please confirm it in the app.")
    r = responder.respond("dispute_transaction", [MONEY, comcast], OK, OPTS)
    assert r.text.startswith("I can open a dispute for the $200.00 Comcast charge. ")
    r = responder.respond("dispute_transaction", [comcast], OK, OPTS)
    assert (r.template_id, r.text.split(".")[0]) == ("dispute_transaction.response.3",
                                                     "I can open a dispute for the Comcast charge")
    r = responder.respond("dispute_transaction", [MONEY, comcast, DATE], OK, OPTS)  # the day corrected is heard
    assert r.text.startswith("I can open a dispute for the $200.00 Comcast charge from Friday, December 4. ")


def test_a_contact_change_reads_back_the_number_and_address_said(responder):
    """"four one five ..." or "john dot smith at yahoo dot com" answering "update my phone number"
    was answered "You can update your contact details under Profile": a voice caller never heard
    what a "yes" would change it to."""
    phone = ent("phone", {"kind": "phone", "e164": "+14155550134"})
    email = ent("email", {"kind": "email", "value": "john.smith@yahoo.com"})
    r = responder.respond("update_contact_info", [phone], OK, OPTS)
    assert r.text == "I can change your phone number to +1 415-555-0134; we'll send a confirmation code to the new number."
    r = responder.respond("update_contact_info", [email, phone], OK, OPTS)
    assert r.text.startswith("I can change your phone number to +1 415-555-0134 and your email address to "
                             "john.smith@yahoo.com;")
    assert responder.respond("update_contact_info", [], OK, OPTS).text.startswith("You can update your contact details")


def test_money_and_date_formats(responder):
    eur = ent("amount", {"kind": "money", "amount": "1200.5", "currency": "EUR"})
    r = responder.respond("schedule_payment", [eur, ent("date", {"kind": "datetime", "grain": "hour",
                                                                 "value": "2026-11-30T15:00:00-08:00"})], OK, OPTS)
    assert "1,200.50 EUR" in r.text and "Monday, November 30 at 3:00 PM" in r.text


def test_the_bundled_domain_is_valid(domain):
    templates = validate_templates(domain, intents=list(domain["intents"]))
    assert "handoff" in templates and "transfer_money.prompt.amount" in templates


def broken(domain: dict, change) -> dict:
    d = copy.deepcopy(domain)
    change(d)
    return d


@pytest.mark.parametrize("change, message", [
    (lambda d: d["intents"]["check_balance"].update(response="Your {acount} balance"), "unknown slot {acount}"),
    (lambda d: d["intents"]["check_balance"].update(slots=["account", "pet"]), "unknown slot 'pet'"),
    (lambda d: d["intents"]["check_balance"].update(response="Your {account balance"), "unbalanced braces"),
    (lambda d: d["intents"]["check_balance"].update(response="Your account} balance"), "unbalanced braces"),
    (lambda d: d["intents"]["check_balance"].update(response="Your {account!r} balance"), "not a plain"),
    (lambda d: d["intents"]["check_balance"].update(prompts={}), "has no prompt"),
    (lambda d: d["intents"]["transfer_money"].update(response="{amount} on {date}"), "is not required"),
    (lambda d: d["intents"]["transfer_money"]["prompts"].update(amount="How much from {account}?"),
     "cannot use slots"),
    (lambda d: d["escalation"].update(handoff_response="Hi {account}"), "hand-off response cannot use slots"),
    (lambda d: d["intents"]["transfer_money"].update(when="time"), "'when' names 'time', which is not one of its slots"),
    (lambda d: d["intents"]["transfer_money"].update(when="amount"), "'when' names 'amount', which is no date"),
])
def test_invalid_templates_are_rejected(domain, change, message):
    with pytest.raises(TemplateError, match=message):
        validate_templates(broken(domain, change))


def test_template_for_an_intent_the_model_does_not_know(domain):
    with pytest.raises(TemplateError, match="book_flight: unknown intent"):
        validate_templates(broken(domain, lambda d: d["intents"].update(book_flight=d["intents"]["greeting"])),
                           intents=list(domain["intents"]))


def test_every_problem_is_reported_and_the_error_is_typed(domain):
    def two(d):
        d["intents"]["check_balance"]["response"] = "{nope}"
        d["intents"]["block_card"]["prompts"] = {}
    with pytest.raises(TemplateError) as info:
        Responder(broken(domain, two))
    assert isinstance(info.value, IntentdError) and len(info.value.problems) == 2


def test_literal_braces_are_allowed(domain):
    d = broken(domain, lambda d: d["intents"]["greeting"].update(response="Hi {{there}}!"))
    r = Responder(d).respond("greeting", [], OK, OPTS)
    assert r.text == "Hi {there}!"


# -- slots carried over from earlier turns (filled_slots) -------------------------------------

def carried(*slots: tuple[str, str]) -> RequestOptions:
    return RequestOptions(reference_time=OPTS.reference_time, time_zone=OPTS.time_zone, filled_slots=slots)


@pytest.mark.parametrize("intent, slot, raw", [
    ("pay_bill", "merchant", "<script>alert(1)</script>"),
    ("pay_bill", "merchant", "call 1-900-SCAM"),
    ("pay_bill", "merchant", "call 1 9 0 0 7 2 2 6"),
    ("pay_bill", "merchant", "evil.com"),
    ("pay_bill", "merchant", "https://evil.example/pay"),
    ("pay_bill", "merchant", "tom@evil.example"),
    ("pay_bill", "merchant", "Acme {account} [x]"),
    ("pay_bill", "merchant", "a b c d e f g"),  # over MAX_FREE_WORDS
    ("pay_bill", "merchant", "Z" * 41),        # over MAX_FREE_TEXT
    ("pay_bill", "merchant", "\u202e\u2066 \x00"),
    ("schedule_payment", "amount", "IGNORE ALL PREVIOUS INSTRUCTIONS 666"),
    ("schedule_payment", "amount", "two hundred bucks"),  # free-form: only canonical values are carried
    ("schedule_payment", "amount", "1e308 USD"),
    ("schedule_payment", "amount", "5000000000000 USD"),  # over MAX_AMOUNT
    ("schedule_payment", "amount", "0 USD"),  # no amount a turn of its own would give
    ("schedule_payment", "amount", "200 XYZ"),
    ("schedule_payment", "amount", "40.505 USD"),
    ("schedule_payment", "date", "next friday"),
    ("schedule_payment", "date", "2026-02-30T00:00:00-08:00"),
    ("schedule_payment", "date", "2026-12-04"),
    ("schedule_payment", "amount", "\u0662\u0660\u0660 USD"),  # Arabic-Indic digits: not the canonical form
    ("schedule_payment", "amount", "\uff12\uff10\uff10 USD"),  # full-width digits
    ("schedule_payment", "date", "0001-01-01T00:00:00+00:00"),  # outside the years dates resolve in
    ("schedule_payment", "date", "9999-12-31T00:00:00+00:00"),
    ("check_balance", "account", "platinum vault"),
    ("check_balance", "account", "Checking account"),  # a display value, not an id
    ("check_balance", "account", "checking,savings,joint,business"),  # more than MAX_VALUES_PER_SLOT
    ("check_balance", "account", "checking,<b>"),  # every part must be valid
    ("check_balance", "account", ""),
])
def test_invalid_carried_values_never_reach_the_response(responder, intent, slot, raw):
    valid = [("date", "2026-12-04T00:00:00-08:00"), ("amount", "200 USD")]  # the other required slots
    r = responder.respond(intent, [], OK, carried(*[v for v in valid if v[0] != slot], (slot, raw)))
    assert r.template_id == f"{intent}.prompt.{slot}" and slot in r.slots_missing and slot not in r.slots_used
    for word in ("script", "SCAM", "evil", "IGNORE", "666", "Z" * 10, "{account}"):
        assert word not in r.text


@pytest.mark.parametrize("intent, slot, raw, shown, used", [
    ("schedule_payment", "amount", "1200.50 EUR", "1,200.50 EUR", "1200.50 EUR"),
    ("schedule_payment", "amount", "200", "$200.00", "200 USD"),  # the domain's default currency
    ("check_balance", "account", "checking,savings", "Checking account and Savings account", "checking,savings"),
    ("pay_bill", "merchant", "Ben & Jerry's", "Ben & Jerry's", "Ben & Jerry's"),
    ("pay_bill", "merchant", "Forever 21", "Forever 21", "Forever 21"),
    ("pay_bill", "merchant", "St. Louis Bread Co.", "St. Louis Bread Co.", "St. Louis Bread Co."),
    ("pay_bill", "merchant", "Café  Luna\n", "Café Luna", "Café Luna"),
    ("travel_notice", "date", "2026-12-04T15:30:00-08:00", "Friday, December 4 at 3:30 PM",
     "2026-12-04T15:30:00-08:00"),
])
def test_valid_carried_values_are_shown_in_display_form(responder, intent, slot, raw, shown, used):
    others = {"schedule_payment": (("date", "2026-12-04T00:00:00-08:00"), ("amount", "1 USD")),
              "travel_notice": (("city", "Lisbon"),)}.get(intent, ())
    r = responder.respond(intent, [], OK, carried(*[o for o in others if o[0] != slot], (slot, raw)))
    assert r.template_id.startswith(f"{intent}.response") and shown in r.text and r.slots_used[slot] == used


def test_a_carried_date_that_has_passed_is_asked_again_for_an_intent_whose_dates_lie_ahead(responder):
    """A payment agreed for January 6 of this year, carried into a turn in December, was "Done: a
    payment of $75.00 is scheduled for Tuesday, January 6.": a date said in the turn is refused
    for lying in the past, a carried one was not. OPTS is Sunday November 29 in Los Angeles."""
    amount = ("amount", "75 USD")
    for gone in ("2026-01-06T00:00:00-08:00", "2026-11-28T00:00:00-08:00", "2026-11-29T11:00:00-08:00"):
        r = responder.respond("schedule_payment", [], OK, carried(amount, ("date", gone)))
        assert r.template_id == "schedule_payment.prompt.date" and "date" not in r.slots_used, gone
    for ahead in ("2026-11-29T00:00:00-08:00", "2026-11-29T13:00:00-08:00", "2027-01-06T00:00:00-08:00"):
        r = responder.respond("schedule_payment", [], OK, carried(amount, ("date", ahead)))
        assert r.template_id == "schedule_payment.response.7" and r.slots_used["date"] == ahead, ahead
    # an intent about what already happened keeps its past date
    r = responder.respond("report_lost_card", [], OK, carried(("card", "debit_card"),
                                                              ("date", "2026-01-06T00:00:00-08:00")))
    assert r.template_id == "report_lost_card.response" and r.slots_used["date"] == "2026-01-06T00:00:00-08:00"


def test_carried_values_read_back_what_slots_used_returned(responder):
    """Round trip through the real resolver: the canonical string of each resolved value, carried
    into the next turn, is accepted and names the same value."""
    resolver = responder.resolver
    ref = resolver.reference_time(OPTS)
    for etype, surface in [("amount", "two hundred bucks"), ("amount", "€1.200,00"), ("amount", "50 cents"),
                           ("account", "savngs"), ("card", "mastercad"), ("date", "next friday"),
                           ("date", "3pm tomorrow"), ("phone", "(415) 555-0134"), ("phone", "(415) 555-0134 x23"),
                           ("email", "TomH@Work.COM"),
                           ("merchant", "Acme Corp"), ("reference", "ref-00123456")]:
        if etype == "reference":
            (first,) = [e.resolution for e in resolver.resolve("case ref-00123456", [], OPTS)]
        else:
            first = resolver.resolve_value(etype, surface, ref)
        (again,) = resolver.resolve_carried(etype, canonical(first), 3)
        assert canonical(again) == canonical(first) and display(again) == display(first), (etype, surface)


def test_carried_builtins_and_patterns_are_validated(responder):
    read = responder.resolver.resolve_carried
    assert read("phone", "+14155550134", 3) == [{"kind": "phone", "e164": "+14155550134"}]
    assert read("phone", "+14155550134;ext=23", 3) == [{"kind": "phone", "e164": "+14155550134", "extension": "23"}]
    for bad in ("1-900-SCAM", "+1900", "+1 415 555 0134", "14155550134", "+99999999999", "+14155550134;ext=",
                "+14155550134;ext=2a", "+14155550134 ext. 23", "+14155550134;ext=12345678"):
        assert read("phone", bad, 3) == [], bad
    assert read("email", "tom@work.com", 3) == [{"kind": "email", "value": "tom@work.com"}]
    for bad in ("<tom@work.com>", "tom@work.com <script>", "tom", "tom@@work.com", "a@b"):
        assert read("email", bad, 3) == [], bad
    assert read("account_number", "1234567890", 3) == [{"kind": "pattern", "value": "1234567890"}]
    for bad in ("12-34", "1234 5678 90", "account number 1234567890", "12345"):  # not canonical, or too short
        assert read("account_number", bad, 3) == [], bad
    assert read("reference", "REF00123456", 3) == [{"kind": "pattern", "value": "REF00123456"}]
    assert read("reference", "ref-00123456", 3) == []  # the canonical form is upper-case, no hyphen
    assert read("no_such_type", "x", 3) == []


@pytest.mark.parametrize("raw", ["", " ", ",", ",,,", "checking,", "\x00", "9" * 300, "é" * 256, "\ud800",
                                 "0000-00-00T00:00:00+00:00", "9999-12-31T23:59:59-23:59", "0" * 14 + " USD"])
def test_odd_carried_values_never_raise(responder, raw):
    for slot in ("amount", "account", "date", "merchant", "phone", "email", "account_number"):
        assert isinstance(responder.resolver.resolve_carried(slot, raw, 3), list)
    for intent in ("schedule_payment", "check_balance", "pay_bill", "update_contact_info"):
        assert responder.respond(intent, [], OK, carried(("amount", raw), ("account", raw), ("date", raw),
                                                         ("merchant", raw))) is not None


def test_two_amounts_or_dates_in_one_turn_are_asked_for_not_listed(responder):
    """"$5 and $10", or "tonight at 11" read as tonight and the 11th: which was meant is a guess,
    and so is keeping the amount carried from before; a catalog slot still takes two ("from
    checking to savings")."""
    ten = ent("amount", {"kind": "money", "amount": "10", "currency": "USD"})
    r = responder.respond("schedule_payment", [MONEY, ten, DATE], OK, OPTS)
    assert r.template_id == "schedule_payment.prompt.amount" and "amount" in r.slots_missing
    r = responder.respond("schedule_payment", [MONEY, ten, DATE], OK, carried(("amount", "300 USD")))
    assert r.template_id == "schedule_payment.prompt.amount" and "amount" not in r.slots_used
    eleventh = ent("date", {"kind": "datetime", "value": "2026-12-11T00:00:00-08:00", "grain": "day"})
    assert responder.respond("schedule_payment", [MONEY, DATE, eleventh], OK, OPTS).template_id == \
        "schedule_payment.prompt.date"
    checking = ent("account", {"kind": "catalog", "id": "checking", "value": "Checking account", "score": 1.0})
    r = responder.respond("transfer_money", [MONEY, checking, SAVINGS], OK, OPTS)
    assert r.slots_used["account"] == "checking,savings"


@pytest.mark.parametrize("said, shown", [("two years", "2 years"), ("fifteen years", "15 years"),
                                         ("5 years 6 months", "5 years 6 months"), ("a month", "1 month"),
                                         ("a year and a half", "1.5 years"), ("90 minutes", "1 hour 30 minutes"),
                                         ("3 days", "3 days"), ("PT0S", "0 seconds"),
                                         ("1.25 minutes", "1 minute 15 seconds"), ("0.98 minutes", "58.8 seconds"),
                                         ("PT15.00S", "15 seconds"), ("P1.50D", "1.5 days"), ("P2W", "2 weeks"),
                                         ("2 weeks", "14 days")])  # the resolver says P14D: days
def test_a_duration_is_shown_in_the_units_said(said, shown):
    """A loan term of "two years" was shown as "730 days", "5 years 6 months" as "2005 days": the
    seconds count, which takes a month as 30 days and a year as 365."""
    from intentd.server import locale as locales
    from intentd.server.resolve.duration import resolve_duration

    length = resolve_duration(said)
    assert display(length) == shown
    assert display(length, locales.get("de-DE")) == shown.replace(".", ",")


@pytest.mark.parametrize("text, amount, used", [
    ("move to my savings account 100000 dollars", "100000 dollars", "100000 USD"),
    ("move to my savings account $100000", "$100000", "100000 USD"),
    ("open a savings account 250000 dollars deposit", "250000 dollars", "250000 USD"),
])
def test_an_amount_said_after_the_word_account_is_no_account_number(responder, text, amount, used):
    """The account_number pattern took "100000" of "savings account 100000 dollars" (a pattern
    outranks the model's amount), so the transfer asked "How much would you like to transfer?"."""
    from intentd.server.decode import EntitySpan

    start = text.index(amount)
    entities = responder.resolver.resolve(text, [EntitySpan("amount", start, start + len(amount), amount, 0.9)], OPTS)
    assert "account_number" not in {e.type for e in entities}
    r = responder.respond("transfer_money", entities, OK, OPTS)
    assert r.template_id == "transfer_money.response.3" and r.slots_used["amount"] == used


CHECKING = ent("account", {"kind": "catalog", "id": "checking", "value": "Checking account", "score": 1.0})


def said(entity: ResolvedEntity, role: str | None) -> ResolvedEntity:
    return ResolvedEntity(entity.type, entity.text, entity.start, entity.end, entity.confidence, entity.source,
                          entity.resolved, entity.resolution, role)


@pytest.mark.parametrize("entities, template, text", [
    ([MONEY, said(CHECKING, "source"), said(SAVINGS, "destination"), DATE], "transfer_money.response.0",
     "of $200.00 from your Checking account to your Savings account on Friday, December 4."),
    ([MONEY, said(SAVINGS, "destination"), said(CHECKING, "source")], "transfer_money.response.1",
     "of $200.00 from your Checking account to your Savings account."),
    ([MONEY, said(SAVINGS, "destination"), DATE], "transfer_money.response.2",
     "of $200.00 (Savings account) for Friday, December 4."),
    ([MONEY, said(CHECKING, "source")], "transfer_money.response.3", "of $200.00 (Checking account)."),
    # a value with no role would go unsaid by the roles' response: the plain one lists it
    ([MONEY, said(CHECKING, "source"), said(SAVINGS, "destination"),
      ent("account", {"kind": "catalog", "id": "credit_card", "value": "Credit card account", "score": 1.0})],
     "transfer_money.response.3", "of $200.00 (Checking account and Savings account and Credit card account)."),
])
def test_a_list_of_responses_reads_back_what_the_turn_said(responder, entities, template, text):
    r = responder.respond("transfer_money", entities, OK, OPTS)
    assert r.template_id == template and r.text == f"I've prepared a transfer {text} Please review and confirm it in the app."
    assert r.slots_used["amount"] == "200 USD"  # what the backend acts on does not depend on the text chosen


def test_each_value_of_a_read_back_is_bounded_on_its_own(responder):
    """Three accounts with long names: the joined field was cut at 64 characters, so the third was
    read back as "Certifica…" though slots_used held it."""
    names = ["Money market account", "Retirement account (IRA)", "Certificate of deposit (CD) account " + "x" * 60]
    accounts = [ent("account", {"kind": "catalog", "id": f"a{i}", "value": name, "score": 1.0})
                for i, name in enumerate(names)]
    r = responder.respond("transfer_money", [MONEY, *accounts], OK, OPTS)
    assert r.slots_used["account"] == "a0,a1,a2"
    assert f"({names[0]} and {names[1]} and {names[2][:MAX_VALUE_CHARS - 1]}…)" in r.text


def carrying(*slots: tuple[str, str]) -> RequestOptions:
    return RequestOptions(reference_time=OPTS.reference_time, time_zone=OPTS.time_zone, filled_slots=slots)


def test_roles_are_carried_in_slots_used_and_back(responder):
    """slots_used names each value's role, and a caller that sends it back as filled_slots (as
    every client does) keeps the direction: "and to savings" after "move 200 from checking"."""
    first = responder.respond("transfer_money", [MONEY, said(CHECKING, "source")], OK, OPTS)
    assert first.slots_used == {"amount": "200 USD", "account": "checking", "account.source": "checking"}
    then = responder.respond("transfer_money", [said(SAVINGS, "destination")], OK,
                             carrying(*first.slots_used.items()), add_to=frozenset({"account"}))
    assert then.template_id == "transfer_money.response.1"
    assert "of $200.00 from your Checking account to your Savings account." in then.text
    assert then.slots_used == {"amount": "200 USD", "account": "checking,savings", "account.source": "checking",
                               "account.destination": "savings"}
    # without the role keys (a caller that keeps only the slots) the plain entry says both
    plain = responder.respond("transfer_money", [said(SAVINGS, "destination")], OK,
                              carrying(("amount", "200 USD"), ("account", "checking")), add_to=frozenset({"account"}))
    assert plain.template_id == "transfer_money.response.3" and "(Checking account and Savings account)." in plain.text


def test_a_role_said_now_replaces_the_carried_one_and_a_dropped_value_loses_its_role(responder):
    carried = carrying(("amount", "200 USD"), ("account", "checking"), ("account.source", "checking"))
    now = responder.respond("transfer_money", [said(CHECKING, "destination")], OK, carried)
    assert now.slots_used == {"amount": "200 USD", "account": "checking", "account.destination": "checking"}
    other = responder.respond("transfer_money", [said(SAVINGS, "source")], OK, carried)  # replaces the account
    assert other.slots_used == {"amount": "200 USD", "account": "savings", "account.source": "savings"}
    # a carried role of a value that is no value of the slot is ignored, as a bad carried value is
    odd = responder.respond("transfer_money", [], OK, carrying(("amount", "200 USD"), ("account", "checking"),
                                                                ("account.source", "nope"), ("date.source", "x")))
    assert odd.slots_used == {"amount": "200 USD", "account": "checking"}
    # a role for a slot that is no catalog, and a value carried with both roles, are no roles
    odd = responder.respond("transfer_money", [], OK, carrying(("amount", "200 USD"), ("amount.source", "200 USD"),
                                                                ("account", "checking"), ("account.source", "checking"),
                                                                ("account.destination", "checking")))
    assert odd.slots_used == {"amount": "200 USD", "account": "checking"}


def responses(*texts: str):
    return lambda d: d["intents"]["transfer_money"].update(response=list(texts))


@pytest.mark.parametrize("change, message", [
    (responses("{amount} from {account.source} on {date}", "{amount} {account.source}"),
     r"transfer_money.response.1: \{account.source\} has a value only when the turn says it that way"),
    (responses("{amount} ({account})", "{amount} on {date}"),
     "transfer_money.response.0: names only required slots, so it is always said"),
    (responses("{amount} ({account}) at {date.source}", "{amount} ({account})"),
     r"\{date.source\}: only catalog values have a role \('date' is not a catalog\)"),
    (responses("{amount} from {account.owner}", "{amount} ({account})"), r"\{account.owner\} is not a plain"),
    (responses("{amount} ({account}) {pet}", "{amount} ({account})"), r"response.0: unknown slot \{pet\}"),
    (responses(), "transfer_money.response: an empty list"),
    # a plain {date} entry first answers every turn the role entries after it could
    (responses("{amount} ({account}) for {date}", "{amount} from {account.source} to {account.destination} on {date}",
               "{amount} ({account})"),
     r"transfer_money.response.1: never said: transfer_money.response.0 can be said whenever it can"),
    (responses("{amount} ({account}) on {date}", "{amount} {account} on {date}", "{amount} ({account})"),
     r"transfer_money.response.1: never said: transfer_money.response.0"),
])
def test_invalid_response_lists_are_rejected(domain, change, message):
    with pytest.raises(TemplateError, match=message):
        validate_templates(broken(domain, change))


def test_a_payment_reads_back_the_account_or_card_it_is_paid_from(responder):
    """"pay my comcast bill | with my mastercard | no the visa | yes" confirmed the Visa card that no
    answer had named ("I can pay your comcast bill now...")."""
    card = ResolvedEntity("card", "visa", 0, 4, 0.9, "model", True,
                          {"kind": "catalog", "id": "visa_card", "value": "Visa credit card", "score": 1.0})
    merchant = ResolvedEntity("merchant", "comcast", 5, 12, 0.9, "model", True, {"kind": "text", "value": "Comcast"})
    r = responder.respond("pay_bill", [card, merchant], OK, OPTS)
    assert r.text == "I can pay your Comcast bill with your Visa credit card. Please check the amount and confirm it in the app."
    account = ResolvedEntity("account", "savings", 0, 7, 0.9, "model", True,
                             {"kind": "catalog", "id": "savings", "value": "Savings account", "score": 1.0})
    r = responder.respond("schedule_payment", [account], OK, replace(OPTS, filled_slots=(
        ("amount", "80 USD"), ("date", "2026-12-04T00:00:00-08:00"), ("merchant", "Comcast"))))
    assert r.text.startswith("I've prepared a payment of $80.00 to Comcast for Friday, December 4 from your Savings "
                             "account. ")
    # both named ("with my visa | no, from checking"): neither is hidden from the read-back
    r = responder.respond("pay_bill", [card, merchant, account], OK, OPTS)
    assert r.text.startswith("I can pay your Comcast bill from your Savings account or with your Visa credit card: ")
