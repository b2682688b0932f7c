"""Every resolution kind the resolver emits reaches the wire (server/convert.py)."""

import pytest

from intentd.server.analysis import ResolvedEntity
from intentd.server.convert import resolution

CASES = [
    ({"kind": "money", "amount": "200", "currency": "USD"}, "money", lambda m: (m.money.amount, m.money.currency) == ("200", "USD")),
    ({"kind": "datetime", "value": "2026-12-04T00:00:00-05:00", "grain": "day"}, "datetime",
     lambda m: m.datetime.value.startswith("2026-12-04") and m.datetime.grain != 0),
    ({"kind": "catalog", "id": "savings", "value": "Savings account", "score": 0.9}, "catalog",
     lambda m: m.catalog.id == "savings"),
    ({"kind": "number", "value": "3"}, "number", lambda m: m.number.value == "3"),
    ({"kind": "ordinal", "value": "3"}, "ordinal", lambda m: m.ordinal.value == "3"),
    ({"kind": "percentage", "value": "15"}, "percentage", lambda m: m.percentage.value == "15"),
    ({"kind": "duration", "value": "PT1H30M", "seconds": 5400}, "duration", lambda m: m.duration.seconds == 5400),
    ({"kind": "email", "value": "a@b.com"}, "email", lambda m: m.email == "a@b.com"),
    ({"kind": "phone", "e164": "+14155550134"}, "phone_e164", lambda m: m.phone_e164 == "+14155550134"),
    ({"kind": "phone", "e164": "+14155550134", "extension": "23"}, "phone_e164",
     lambda m: (m.phone_e164, m.phone_extension) == ("+14155550134", "23")),
    ({"kind": "pattern", "value": "12345678"}, "pattern", lambda m: m.pattern == "12345678"),
    ({"kind": "text", "value": "Boston"}, "text", lambda m: m.text == "Boston"),
]


@pytest.mark.parametrize("res, field, check", CASES, ids=[c[1] for c in CASES])
def test_every_kind_maps(res, field, check):
    msg = resolution(ResolvedEntity("t", "x", 0, 1, 1.0, resolved=True, resolution=res))
    assert msg.resolved and msg.WhichOneof("value") == field and check(msg)


def test_unresolved_and_unknown_kinds_are_sent_unresolved():
    assert not resolution(ResolvedEntity("t", "x", 0, 1, 1.0)).resolved
    assert not resolution(ResolvedEntity("t", "x", 0, 1, 1.0, resolved=True, resolution={"kind": "weird"})).resolved
