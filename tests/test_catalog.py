"""Catalog names that are also other words: acronyms written as names ("Ira"), shortened names
that are ordinary words ("just checking", "a direct debit"), and real words one letter from a
name ("debt")."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from intentd.server.analysis import RequestOptions
from intentd.server.decode import EntitySpan
from intentd.server.engine import Engine
from intentd.server.resolve import Resolver

BANKING = Path(__file__).resolve().parents[1] / "models" / "domains" / "banking" / "domain.yaml"
SUNDAY = dt.datetime(2026, 11, 29, 20, 0, tzinfo=dt.timezone.utc)
OPTIONS = RequestOptions(reference_time=SUNDAY, time_zone="America/Los_Angeles")


@pytest.fixture(scope="module")
def resolver() -> Resolver:
    return Resolver(yaml.safe_load(BANKING.read_text(encoding="utf-8")))


def span(text: str, etype: str, surface: str) -> EntitySpan:
    start = text.index(surface)
    return EntitySpan(etype, start, start + len(surface), surface, 0.9)


def catalog_ids(resolver: Resolver, text: str, spans=()) -> list[tuple[str, str | None]]:
    """(type, id) of each catalog entity of `text`, the model's `spans` (type, surface) given."""
    found = resolver.resolve(text, [span(text, etype, surface) for etype, surface in spans], OPTIONS)
    return [(e.type, e.resolution["id"] if e.resolved else None) for e in found if e.type in resolver.catalogs]


# -- acronyms --------------------------------------------------------------------------------

@pytest.mark.parametrize("surface, expected", [
    ("IRA", "retirement"), ("ira", "retirement"), ("my ira", "retirement"), ("IRA's", "retirement"),
    ("Roth IRA", "retirement"), ("roth ira", "retirement"), ("Roth Ira", "retirement"),  # "Roth" says which
    ("CD", "certificate_of_deposit"), ("cd", "certificate_of_deposit"), ("MMA", "money_market"),
    ("Ira", None), ("my Ira", None), ("Ira's", None), ("Cd", None), ("Mma", None), ("iRA", None),
])
def test_an_acronym_counts_in_capitals_or_lower_case_never_written_as_a_name(resolver, surface, expected):
    """"send 50 to Ira" moved the money to the retirement account: "Ira" is a person."""
    found = resolver.resolve_value("account", surface, SUNDAY)
    assert (found and found["id"]) == expected


@pytest.mark.parametrize("text, spans, expected", [
    ("send 50 to Ira", [("account", "Ira")], [("account", None)]),
    ("transfer 200 from checking to Ira Johnson", [("account", "checking"), ("account", "Ira")],
     [("account", "checking"), ("account", None)]),
    ("send 50 to Cd", [], []),  # the verbatim matcher took it for the certificate of deposit
    ("I want to open a CD", [], [("account", "certificate_of_deposit")]),
    ("what's in my ira", [], [("account", "retirement")]),
])
def test_a_persons_name_is_no_account(resolver, text, spans, expected):
    assert catalog_ids(resolver, text, spans) == expected


@pytest.mark.parametrize("answer, expected", [("Ira", None), ("the Ira", None), ("Cd", None),
                                             ("IRA", "retirement"), ("the ira", "retirement")])
def test_an_acronym_written_as_a_name_answers_no_question(resolver, answer, expected):
    """"Ira" answering "Which account?" was read as a word of "Retirement account (IRA)"."""
    entry = resolver.catalogs["account"].narrowed(answer)
    assert (entry and entry.id) == expected


@pytest.mark.parametrize("surface", ["Mira", "Emma", "mama", "Iran", "kira"])
def test_a_word_is_no_typo_of_an_acronym(resolver, surface):
    """A few letters from "ira" or "mma" (85.7 as whole strings): names and words, never a misspelling."""
    assert resolver.resolve_value("account", surface, SUNDAY) is None


# -- shortened names found without the model -----------------------------------------------------

@pytest.mark.parametrize("text, spans, expected", [
    ("I'm checking if I can move 50 to savings", [("account", "savings")], [("account", "savings")]),
    ("just checking, can you move 50 to savings", [("account", "savings")], [("account", "savings")]),
    ("i am still checking", [], []),
    ("cancel the direct debit from my checking", [("account", "checking")], [("account", "checking")]),
    ("there's a direct debit on my savings I don't recognise", [], [("account", "savings")]),
    ("I need a visa for my trip to Paris", [], []),
])
def test_a_shortened_name_is_an_ordinary_word_without_the_words_that_make_it_a_name(resolver, text, spans, expected):
    """"just checking, can you move 50 to savings" was a transfer between checking and savings;
    "cancel the direct debit" offered to freeze the debit card."""
    assert catalog_ids(resolver, text, spans) == expected


@pytest.mark.parametrize("text, expected", [
    ("move 50 from checking to savings", [("account", "checking"), ("account", "savings")]),
    ("move 50 out of savings into checking", [("account", "savings"), ("account", "checking")]),
    ("freeze my debit", [("card", "debit_card")]),
    ("freeze the visa", [("card", "visa_card")]),
    ("Recent activity on savings.", [("account", "savings")]),
    ("transfer 20 to my IRA", [("account", "retirement")]),
    ("how do I get my new mastercard working", [("card", "mastercard")]),  # a whole name, not shortened
    ("open a checking account", [("account", "checking")]),
    ("freeze the debit card", [("card", "debit_card")]),
])
def test_a_name_is_still_found_without_the_model(resolver, text, expected):
    assert catalog_ids(resolver, text) == expected


def test_a_shortened_name_is_one_word_of_its_entrys_name(resolver):
    assert resolver.catalogs["account"].shortened == {"checking", "savings", "ira"}
    assert resolver.catalogs["card"].shortened == {"debit", "visa"}


# -- typos ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("etype, surface", [("card", "debt"), ("card", "Debt"), ("account", "join"),
                                            ("card", "vista"), ("card", "visas")])
def test_a_short_word_one_letter_from_a_name_is_another_word(resolver, etype, surface):
    """"debt" answering "Which card would you like to freeze?" froze the debit card (0.889)."""
    assert resolver.resolve_value(etype, surface, SUNDAY) is None


@pytest.mark.parametrize("etype, surface, expected", [
    ("account", "savngs", "savings"), ("card", "mastercad", "mastercard"), ("account", "chekcing", "checking"),
    ("account", "jiont account", "joint"), ("card", "viza card", "visa_card"), ("card", "debit crad", "debit_card"),
])
def test_typos_still_resolve(resolver, etype, surface, expected):
    found = resolver.resolve_value(etype, surface, SUNDAY)
    assert found["id"] == expected and found["score"] < 1.0


# -- end to end ------------------------------------------------------------------------------------

def test_no_value_the_caller_never_named_reaches_the_response(banking_artifact):
    engine = Engine.load(banking_artifact)
    debt, ira, answer = engine.analyze(["debt", "send 50 to Ira", "Ira"], [
        RequestOptions(previous_intent="block_card"), RequestOptions(), RequestOptions(previous_intent="check_balance")])
    assert "card" not in (dict(debt.response.slots_used) if debt.response else {})
    assert "retirement" not in dict(ira.response.slots_used).get("account", "")
    assert "account" not in (dict(answer.response.slots_used) if answer.response else {})
