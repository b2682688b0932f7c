"""Resolution + response per request on typical utterances (budget: <= 0.3 ms p95).

    .venv/bin/pytest bench/bench_resolve.py --benchmark-only

Each round runs one request: `Resolver.resolve` on the model's spans, then `Responder.respond`;
for a follow-up turn (`test_follow_up`), `FollowUps.resolve` against the previous turn's slots.
`warm`: reference times repeat within a minute, so date resolutions come from the LRU cache (the
server's steady state); `cold`: the date cache is cleared before every round (worst case for the
fast path; dateparser is never reached by these utterances). `test_p95_budget` measures p95 over
rounds of the whole mix directly and fails above the budget.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from intentd.server.analysis import Escalation, RequestOptions
from intentd.server.decode import EntitySpan, Prediction
from intentd.server.escalation import EscalationPolicy
from intentd.server.followup import FollowUps
from intentd.server.resolve import Resolver
from intentd.server.resolve.dates import _resolve_cached
from intentd.server.respond import Responder

BUDGET_S = 0.3e-3
DOMAIN = yaml.safe_load((Path(__file__).resolve().parents[1] / "models/domains/banking/domain.yaml").read_text())
OPTS = RequestOptions(reference_time=dt.datetime(2026, 11, 29, 20, tzinfo=dt.timezone.utc),
                      time_zone="America/Los_Angeles")

# (intent, text, [(type, surface)]) - what the model hands over for typical banking utterances.
REQUESTS = [
    ("transfer_money", "move two hundred bucks from checking to my savings next friday",
     [("amount", "two hundred bucks"), ("account", "checking"), ("account", "savings"), ("date", "next friday")]),
    ("schedule_payment", "pay $45.99 to Comcast on the 3rd", [("amount", "$45.99"), ("merchant", "Comcast"),
                                                              ("date", "the 3rd")]),
    ("check_balance", "what's the balance on my savngs account", [("account", "savngs account")]),
    ("report_lost_card", "I lost my debit card in Madrid yesterday", [("card", "debit card"), ("city", "Madrid"),
                                                                      ("date", "yesterday")]),
    ("update_contact_info", "change my number to (415) 555-0134 and email to jane.doe@gmail.com",
     [("phone", "(415) 555-0134"), ("email", "jane.doe@gmail.com")]),
    ("travel_notice", "I'll be in Tokyo from March 5", [("city", "Tokyo"), ("date", "March 5")]),
    ("dispute_transaction", "I was charged twice by Uber, ref TXN-00123456", [("merchant", "Uber")]),
    ("greeting", "hi there", []),
]


def spans_of(text: str, pairs) -> list[EntitySpan]:
    out = []
    for etype, surface in pairs:
        start = text.index(surface)
        out.append(EntitySpan(etype, start, start + len(surface), surface, 0.95))
    return out


PREPARED = [(intent, text, spans_of(text, pairs)) for intent, text, pairs in REQUESTS]


@pytest.fixture(scope="module")
def parts():
    resolver, responder = Resolver(DOMAIN), Responder(DOMAIN)
    resolver.warm_up()
    return resolver, responder


@pytest.fixture(scope="module")
def post(parts):
    resolver, responder = parts

    def run(intent, text, spans):
        entities = resolver.resolve(text, spans, OPTS)
        return responder.respond(intent, entities, Escalation(), OPTS)

    for request in PREPARED:
        run(*request)
    return run


@pytest.mark.parametrize("request_", PREPARED, ids=[r[0] for r in PREPARED])
def test_warm(benchmark, post, request_):
    assert benchmark(post, *request_) is not None


def test_cold_dates(benchmark, post):
    def cold():
        _resolve_cached.cache_clear()
        return post(*PREPARED[0])

    assert benchmark(cold) is not None


ON_FRIDAY = {"amount": "45 USD", "merchant": "verizon", "date": "2026-12-04T00:00:00-08:00"}
TRANSFER = {"amount": "200 USD", "account": "checking,savings", "account.source": "checking",
            "account.destination": "savings"}
# (previous intent, its slots, the slots it asked for, the turn, the turn's own intent, the model's spans)
FOLLOW_UPS = [
    ("schedule_payment", ON_FRIDAY, (), "yes please", "affirm", []),
    ("schedule_payment", ON_FRIDAY, (), "can you do it tonight", "affirm", []),
    ("schedule_payment", ON_FRIDAY, (), "no I said tuesday at 5pm", "deny", [("date", "tuesday at 5pm")]),
    ("transfer_money", TRANSFER, (), "no, make it seventy five from joint", "deny",
     [("amount", "seventy five"), ("account", "joint")]),
    ("schedule_payment", {"amount": "45 USD"}, ("merchant",), "it's Five Guys", "greeting", []),
]


@pytest.fixture(scope="module")
def follow_up(parts):
    resolver, responder = parts
    follow_ups = FollowUps(DOMAIN, resolver, responder, EscalationPolicy(DOMAIN))

    def run(previous, slots, missing, text, own, pairs):
        options = replace(OPTS, previous_intent=previous, filled_slots=tuple(sorted(slots.items())),
                          slots_missing=missing)
        spans = spans_of(text, pairs)
        entities = resolver.resolve(text, spans, options, own)
        return follow_ups.resolve(text, Prediction([(own, 0.95)], spans, 0.0), entities, Escalation(), options)

    for turn in FOLLOW_UPS:
        assert run(*turn) is not None, turn
    return run


@pytest.mark.parametrize("turn", FOLLOW_UPS, ids=[t[3] for t in FOLLOW_UPS])
def test_follow_up(benchmark, follow_up, turn):
    assert benchmark(follow_up, *turn) is not None


def test_p95_budget(post):
    for mode in ("warm", "cold"):
        samples = []
        for _ in range(300):
            for request in PREPARED:
                if mode == "cold":
                    _resolve_cached.cache_clear()
                t0 = time.perf_counter()
                post(*request)
                samples.append(time.perf_counter() - t0)
        samples.sort()
        p95 = samples[int(0.95 * len(samples))]
        print(f"\n{mode}: p50 {samples[len(samples) // 2] * 1e6:.0f} us, p95 {p95 * 1e6:.0f} us, "
              f"p99 {samples[int(0.99 * len(samples))] * 1e6:.0f} us per request")
        assert p95 <= BUDGET_S, f"{mode} p95 {p95 * 1e6:.0f} us over the {BUDGET_S * 1e6:.0f} us budget"
