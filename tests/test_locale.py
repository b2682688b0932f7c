"""Locales: en-US, en-GB and de-DE change how numbers, money and dates are read and shown; any
other locale is refused, never ignored. Resolver cases by hand, then the real server."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import grpc
import pytest
import yaml
from google.protobuf.timestamp_pb2 import Timestamp

from intentd.server import locale as locales
from intentd.server.admission import check_locale
from intentd.server.errors import InvalidRequest
from intentd.server.respond import display
from intentd.server.resolve import Resolver
from servers import ThreadServer, pb2

BANKING = Path(__file__).resolve().parents[1] / "models" / "domains" / "banking" / "domain.yaml"
SUNDAY = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.timezone.utc)
US, GB, DE = (locales.get(tag) for tag in ("en-US", "en-GB", "de-DE"))


@pytest.fixture(scope="module")
def resolver() -> Resolver:
    r = Resolver(yaml.safe_load(BANKING.read_text(encoding="utf-8")))
    r.warm_up()
    return r


@pytest.mark.parametrize("written, us, de", [
    ("12,50 euros", "12.50", "12.50"),  # a decimal comma reads the same everywhere
    ("1.200 euros", None, "1200"),  # no single reading in en-US; a thousands group in de-DE
    ("1.200,50 €", "1200.50", "1200.50"),
    ("€1.250.000", "1250000", "1250000"),
    ("1,200 dollars", "1200", None),  # a thousands group in en-US; three decimals (not money) in de-DE
    ("1,5 euros", "1.5", "1.5"),
    ("two hundred bucks", "200", "200"),  # words are English in every locale
])
def test_money_by_locale(resolver, written, us, de):
    for locale, expected in ((US, us), (GB, us), (DE, de)):
        got = resolver.resolve_value("amount", written, SUNDAY, locale=locale)
        assert (got and got["amount"]) == expected, (locale.tag, written, got)


@pytest.mark.parametrize("written, us, day_first", [
    ("4/12", "2027-04-12", "2026-12-04"),
    ("04.12.2027", None, "2027-12-04"),  # an explicit year is kept; en-US: no reading is safe (was April 12)
    ("4.12.", None, "2026-12-04"),  # German day.month. without a year
    ("05.04.2027", None, "2027-04-05"),  # was May 4 in en-US
    ("1.4.", None, "2027-04-01"),  # was 2027-01-04 in en-US
    ("on 4.12.2027 at 3pm", None, "2027-12-04T15:00"),  # never handed to dateparser's month-first reading
    ("13/12", "2026-12-13", "2026-12-13"),  # 13 cannot be a month: one reading
    ("12/13", "2026-12-13", "2026-12-13"),
    ("13.12.", None, "2026-12-13"),  # one reading, but a dotted date all the same ("it was for 12.30": an amount)
    ("monday 1/11", "2027-01-11", "2027-11-01"),  # both readings a Monday: the weekday agrees
])
def test_numeric_dates_are_day_first_in_en_gb_and_de_de(resolver, written, us, day_first):
    """A dotted date is day first where it is written (en-GB, de-DE); en-US writes none, and one
    written to it came from a day-first writer as often as not: it is unresolved, the slot asks."""
    for locale, expected in ((US, us), (GB, day_first), (DE, day_first)):
        got = resolver.resolve_value("date", written, SUNDAY, locale=locale)
        if expected is None:
            assert got is None, (locale.tag, written, got)
        else:
            assert got is not None and got["value"].startswith(expected), (locale.tag, written, got)


def test_words_and_iso_dates_do_not_depend_on_the_locale(resolver):
    for text in ("next friday", "2026-12-04", "december 4th"):
        values = {resolver.resolve_value("date", text, SUNDAY, locale=loc)["value"] for loc in (US, GB, DE)}
        assert len(values) == 1, text


@pytest.mark.parametrize("resolution, us, gb, de", [
    ({"kind": "money", "amount": "1200.50", "currency": "USD"}, "$1,200.50", "US$1,200.50", "1.200,50\xa0$"),
    ({"kind": "money", "amount": "40", "currency": "EUR"}, "40.00 EUR", "€40.00", "40,00\xa0€"),
    ({"kind": "money", "amount": "40", "currency": ""}, "40.00", "40.00", "40,00"),
    ({"kind": "datetime", "value": "2026-12-04T00:00:00+01:00", "grain": "day"},
     "Friday, December 4", "Friday 4 December", "Freitag, 4. Dezember"),
    ({"kind": "datetime", "value": "2026-12-04T15:30:00+01:00", "grain": "minute"},
     "Friday, December 4 at 3:30 PM", "Friday 4 December at 15:30", "Freitag, 4. Dezember um 15:30"),
    ({"kind": "datetime", "value": "2026-12-01T00:00:00+01:00", "grain": "month"},
     "December 2026", "December 2026", "Dezember 2026"),
    ({"kind": "percentage", "value": "2.5"}, "2.5%", "2.5%", "2,5%"),
])
def test_display_forms(resolution, us, gb, de):
    assert [display(resolution, loc) for loc in (US, GB, DE)] == [us, gb, de]


@pytest.mark.parametrize("given, tag", [
    ("", None), ("en-US", None), ("en", None), ("en_us", None),
    ("en-GB", "en-GB"), ("en_gb", "en-GB"), ("EN-gb", "en-GB"), ("de-DE", "de-DE"), ("de", "de-DE"),
])
def test_supported_locales_and_their_spellings(given, tag):
    assert check_locale(given) == tag


@pytest.mark.parametrize("given", ["fr-FR", "de-AT", "en-AU", "ja", "en-GB-oxendict"])
def test_other_locales_are_refused_naming_the_supported_ones(given):
    with pytest.raises(InvalidRequest) as err:
        check_locale(given)
    assert str(err.value) == f"locale: {given!r} is not supported (supported: en-US, en-GB, de-DE)"


# -- over gRPC -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(banking_artifact):
    with ThreadServer(model=banking_artifact) as srv:
        yield srv


def test_de_de_request_reads_and_writes_german_numbers(server):
    ts = Timestamp()
    ts.FromDatetime(SUNDAY)
    reply = server.stub.Analyze(pb2.AnalyzeRequest(
        # a full date: the test model tags a year-less "4.12." as a date or an amount by a hair
        # (FP32 and INT8 differ), and the resolver's reading of that form is checked above
        text="schedule a payment of 1.200,50 euros on 4.12.2026", locale="de-DE", reference_time=ts,
        time_zone="Europe/Berlin"), timeout=30)
    values = {e.type: e.resolution for e in reply.entities if e.resolution.resolved}
    assert values["amount"].money.amount == "1200.50" and values["amount"].money.currency == "EUR"
    assert values["date"].datetime.value == "2026-12-04T00:00:00+01:00"
    assert reply.response.template_id == "schedule_payment.response.7"
    assert "1.200,50 € for Freitag, 4. Dezember" in reply.response.text
    assert reply.response.slots_used["amount"] == "1200.50 EUR"  # canonical values never change


def test_en_gb_response_shows_british_forms(server):
    reply = server.stub.Respond(pb2.RespondRequest(
        text="i want to transfer money from my checking account", locale="en-GB",
        context=pb2.RequestContext(filled_slots={"amount": "250 USD"})), timeout=30)
    assert reply.response.template_id == "transfer_money.response.3"
    assert "US$250.00" in reply.response.text


@pytest.mark.parametrize("rpc, request_", [
    ("Analyze", pb2.AnalyzeRequest(text="pay 5 euros", locale="fr-FR")),
    ("DetectIntent", pb2.DetectIntentRequest(text="pay 5 euros", locale="it")),
    ("ExtractEntities", pb2.ExtractEntitiesRequest(text="pay 5 euros", locale="es-ES")),
    ("Respond", pb2.RespondRequest(text="pay 5 euros", locale="pt-BR")),
])
def test_unsupported_locale_is_invalid_argument_on_every_rpc(server, rpc, request_):
    with pytest.raises(grpc.RpcError) as err:
        getattr(server.stub, rpc)(request_, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith("locale:") and "supported: en-US, en-GB, de-DE" in err.value.details()
