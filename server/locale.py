"""Locales: how a request writes numbers and dates, and how values are shown back to it.

A request's `locale` is one of SUPPORTED (en-US when empty) or it is refused with
INVALID_ARGUMENT naming them (admission.py): a locale the server cannot honour is never ignored.
What a locale changes (docs/resolution.md, "Locales"):

- Numbers and money: the separators come from CLDR (babel). Where "," is the decimal separator
  and "." groups thousands (de-DE), digit runs are read with the two swapped, so "12,50" is 12.50,
  "1.200" is 1200 and "1.200,50" is 1200.50; the number rules themselves are the English ones
  (resolve/numbers.py). Number and currency words stay English: the model reads English.
- Dates: numeric dates are day first where CLDR's short date pattern puts the day first (en-GB
  "4/12" and de-DE "4.12." are 4 December; en-US "4/12" is April 12).
- Display forms in responses: money through babel's currency format ("US$1,200.50",
  "1.200,50 $"), dates with the locale's month and weekday names and order ("Friday 4 December",
  "Freitag, 4. Dezember um 15:00"). en-US keeps the forms the service has always returned
  ("$1,200.50", "1,200.50 EUR", "Friday, December 4 at 3:00 PM"), without calling babel.

The currency is never the locale's: an amount without one takes the domain's default currency.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

DEFAULT = "en-US"
SUPPORTED = ("en-US", "en-GB", "de-DE")
_ALIASES = {"en": "en-US", "de": "de-DE"}
_DIGIT_RUN = re.compile(r"\d[\d.,]*\d")
_SWAP = str.maketrans(",.", ".,")


@dataclass(frozen=True, slots=True)
class Locale:
    tag: str  # "de-DE"
    cldr: str  # babel's name, "de_DE"
    decimal_comma: bool  # "," is the decimal separator and "." groups thousands
    day_first: bool  # numeric dates are day/month
    day_format: str  # babel date pattern of a day: "EEEE d MMMM"
    time_joiner: str  # between a day and its time: "at", "um"
    week_format: str  # "the week of {}"


def _from_cldr(tag: str, day_format: str, time_joiner: str, week_format: str) -> Locale:
    from babel.dates import get_date_format
    from babel.numbers import get_decimal_symbol

    cldr = tag.replace("-", "_")
    short = get_date_format("short", locale=cldr).pattern
    return Locale(tag, cldr, get_decimal_symbol(cldr) == ",", short.find("d") < short.find("M"),
                  day_format, time_joiner, week_format)


# en-US needs no CLDR data: its forms are the service's historical ones (resolve/money.py, dates.py).
EN_US = Locale("en-US", "en_US", False, False, "EEEE, MMMM d", "at", "the week of {}")
_LOCALES: dict[str, Locale] = {"en-US": EN_US}


def _load() -> None:
    if len(_LOCALES) == 1:
        _LOCALES["en-GB"] = _from_cldr("en-GB", "EEEE d MMMM", "at", "the week of {}")
        _LOCALES["de-DE"] = _from_cldr("de-DE", "EEEE, d. MMMM", "um", "die Woche vom {}")


def canonical(tag: str) -> str | None:
    """The supported tag `tag` names ("en_gb" -> "en-GB"), or None."""
    t = tag.replace("_", "-")
    lang, _, region = t.partition("-")
    if not region:
        return _ALIASES.get(lang.lower())
    name = f"{lang.lower()}-{region.upper()}"
    return name if name in SUPPORTED else None


def get(tag: str | None) -> Locale:
    """A supported tag's Locale (admission has checked it); None is the default."""
    if tag is None or tag == DEFAULT:
        return EN_US
    _load()
    return _LOCALES[tag]


def warm_up() -> None:
    """Load babel's CLDR data for every supported locale, so no request pays for it."""
    _load()
    moment = dt.datetime(2026, 12, 4, 15, 0, tzinfo=dt.timezone.utc)
    for tag in SUPPORTED:
        loc = get(tag)
        format_money({"amount": "1200.50", "currency": "EUR"}, loc)
        format_datetime({"value": moment.isoformat(), "grain": "minute"}, loc)


def read_numbers(text: str, locale: Locale) -> str:
    """`text` with its digit runs written the English way ("1.200,50" -> "1,200.50" in de-DE)."""
    if not locale.decimal_comma or ("," not in text and "." not in text):
        return text
    return _DIGIT_RUN.sub(lambda m: m.group(0).translate(_SWAP), text)


def format_money(resolution: dict, locale: Locale) -> str:
    from babel.numbers import format_currency, format_decimal

    amount = Decimal(resolution["amount"])
    currency = resolution.get("currency") or ""
    if not currency:
        return format_decimal(amount, format="#,##0.00", locale=locale.cldr)
    return format_currency(amount, currency, locale=locale.cldr)


def format_number(value: str, locale: Locale) -> str:
    """A canonical decimal string ("2.5") with the locale's decimal separator ("2,5" in de-DE);
    no grouping: numbers in answers are read back, not admired."""
    return value.replace(".", ",") if locale.decimal_comma else value


def format_datetime(resolution: dict, locale: Locale, with_year: bool = False) -> str:
    """`with_year`: a day in CLDR's full date form, which has the year ("Friday, 15 November 2030"),
    a week with its year ("the week of 4 December 2028")."""
    from babel.dates import format_date, format_skeleton, format_time

    value = dt.datetime.fromisoformat(resolution["value"])
    grain = resolution.get("grain", "day")
    if grain == "year":
        return str(value.year)
    if grain == "month":
        return format_skeleton("yMMMM", value, locale=locale.cldr)
    if grain == "week":
        monday = format_skeleton("yMMMMd" if with_year else "MMMMd", value, locale=locale.cldr)
        return locale.week_format.format(monday)
    day = format_date(value, "full" if with_year else locale.day_format, locale=locale.cldr)
    if grain == "day":
        return day
    return f"{day} {locale.time_joiner} {format_time(value, 'short', locale=locale.cldr)}"
