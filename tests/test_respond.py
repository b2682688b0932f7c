"""Constrained responses: every selection branch, value formatting and sanitising, template validation."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import pytest
import yaml

from intentd.errors import IntentdError
from intentd.server.analysis import Escalation, RequestOptions, ResolvedEntity
from intentd.server.respond import MAX_VALUE_CHARS, Responder, TemplateError, validate_templates

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
    assert r.template_id == "schedule_payment.response"
    assert r.text == ("Done: a payment of $200.00 is scheduled for Friday, December 4. "
                      "You can change or cancel it under Payments > Scheduled.")
    assert r.slots_used == {"amount": "200 USD", "date": "2026-12-04T00:00:00-08:00"}
    assert r.slots_missing == []


def test_missing_slot_selects_its_prompt(responder):
    r = responder.respond("schedule_payment", [DATE], OK, OPTS)
    assert (r.template_id, r.text) == ("schedule_payment.prompt.amount", "How much should the payment be?")
    assert r.slots_missing == ["amount"] and r.slots_used == {"date": "2026-12-04T00:00:00-08:00"}
    r = responder.respond("schedule_payment", [], OK, OPTS)
    assert r.template_id == "schedule_payment.prompt.amount" and r.slots_missing == ["amount", "date"]


def test_slot_from_context(responder):
    opts = RequestOptions(reference_time=OPTS.reference_time, time_zone=OPTS.time_zone,
                          filled_slots=(("amount", "50.00 EUR"),))
    r = responder.respond("schedule_payment", [DATE], OK, opts)
    assert r.template_id == "schedule_payment.response"
    assert "50.00 EUR" in r.text and r.slots_used["amount"] == "50.00 EUR"


def test_context_round_trips_slots_used(responder):
    first = responder.respond("schedule_payment", [DATE], OK, OPTS)
    opts = RequestOptions(reference_time=OPTS.reference_time, time_zone=OPTS.time_zone,
                          filled_slots=tuple(first.slots_used.items()))
    second = responder.respond("schedule_payment", [MONEY], OK, opts)
    assert second.template_id == "schedule_payment.response" and "Friday, December 4" in second.text


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
    assert r.template_id == "pay_bill.response"
    inserted = r.text.removeprefix("I can pay your ").removesuffix(" bill now. Please check the amount and confirm it in the app.")
    assert len(inserted) == MAX_VALUE_CHARS and inserted.endswith("…")
    assert not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 or c == "\u202e" for c in r.text)
    assert inserted.startswith("Acme[31m Corp")


def test_context_values_are_cleaned_too(responder):
    opts = RequestOptions(filled_slots=(("merchant", "Evil\r\nCo\x07"),))
    r = responder.respond("pay_bill", [], OK, opts)
    assert r.text.startswith("I can pay your Evil Co bill now")


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
