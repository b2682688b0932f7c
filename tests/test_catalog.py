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

@pytest.mark.parametrize("text, surface, expected", [
    ("move it to IRA", "IRA", "retirement"), ("to my ira", "ira", "retirement"), ("Roth Ira", "Roth Ira", "retirement"),
    ("open a CD", "CD", "certificate_of_deposit"), ("close my Cd", "Cd", "certificate_of_deposit"),  # autocorrect
    ("Ira balance please", "Ira", "retirement"),  # a sentence's capital
    ("send 50 to Ira", "Ira", None), ("pay Cd for the gig", "Cd", None), ("ask Mma", "Mma", None),  # people
])
def test_an_acronym_the_model_tags_is_a_person_only_where_a_name_stands(resolver, text, surface, expected):
    """"send 50 to Ira" moved the money to the retirement account: "Ira" is a person. A capital
    first in the text or after my/our/your/the is no name ("close my Cd", "Ira balance please")."""
    (found,) = resolver.resolve(text, [span(text, "account", surface)], OPTIONS)
    assert (found.resolution or {}).get("id") == expected


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


@pytest.mark.parametrize("text, expected", [
    ("close my Cd", [("account", "certificate_of_deposit")]), ("Cd rates today", [("account", "certificate_of_deposit")]),
    ("what's my Ira balance", [("account", "retirement")]), ("Ira balance please", [("account", "retirement")]),
    ("move 50 to our Ira", [("account", "retirement")]),
    ("send 50 to Ira", []), ("transfer 200 from checking to Ira Johnson", [("account", "checking")]),
])
def test_an_acronym_in_title_case_first_or_after_my_is_the_account(resolver, text, expected):
    """A capital at the start of a text or from the phone's autocorrect ("close my Cd") is no
    person's name: the verbatim matcher passed these over."""
    found = [(cat.name, cat.lookup(text[start:end].upper())[0].id) for cat, start, end in resolver.verbatim.find(text)]
    assert found == expected


@pytest.mark.parametrize("answer, expected", [("Ira", "retirement"), ("the Ira", "retirement"),
                                             ("Cd", "certificate_of_deposit"), ("to Ira", None), ("for Ira", None),
                                             ("IRA", "retirement"), ("the ira", "retirement")])
def test_an_acronym_written_as_a_name_answers_no_question(resolver, answer, expected):
    """"to Ira" answering "Which account?" was read as a word of "Retirement account (IRA)"; "Ira"
    alone, like any first word, may be capitalised."""
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
    ("just checking", [], []), ("a direct debit from comcast", [], []), ("he's checking if it went through", [], []),
    # where a clause starts, "checking" is the verb when an object or a particle follows it
    ("checking my balance", [], []), ("hi, checking in", [], []), ("checking the status of my card", [], []),
    ("thanks for checking", [], []), ("and checking my email", [], []), ("checking out the new app", [], []),
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
    ("not checking, savings", [("account", None), ("account", "savings")]),  # "not checking" is taken back
    ("not checking but savings", [("account", None), ("account", "savings")]),
    ("not credit; visa", [("card", "visa_card")]),
    ("checking balance", [("account", "checking")]), ("balance for checking", [("account", "checking")]),
    ("show monday's checking transactions", [("account", "checking")]),
    ("show last night\u2019s checking transactions", [("account", "checking")]),
    ("pay with debit", [("card", "debit_card")]), ("use visa for the comcast bill", [("card", "visa_card")]),
    ("checking or savings, which has more", [("account", "checking"), ("account", "savings")]),
    ("move money between checking and savings", [("account", "checking"), ("account", "savings")]),
    ("checking to savings", [("account", "checking"), ("account", "savings")]),  # "to" is no verb's particle
    ("savings if possible", [("account", "savings")]), ("checking for now", [("account", "checking")]),
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
    debt, ira = engine.analyze(["debt", "send 50 to Ira"], [RequestOptions(previous_intent="block_card"),
                                                            RequestOptions()])
    assert "card" not in (dict(debt.response.slots_used) if debt.response else {})
    assert "retirement" not in dict(ira.response.slots_used).get("account", "")


def test_an_acronym_alone_answers_which_account(banking_artifact):
    """"Ira" answering "Which account?" is the retirement account: a first word may be capitalised."""
    answer = Engine.load(banking_artifact).analyze(["Ira"], [RequestOptions(previous_intent="check_balance")])[0]
    assert dict(answer.response.slots_used)["account"] == "retirement"
