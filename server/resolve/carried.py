"""Slot values carried over from earlier turns (`filled_slots` in the request's context).

The caller sends back the canonical strings `slots_used` returned, but anyone who can shape the
caller's context can write them, and they go into a response that must hold approved text and
values only. So a carried value is read only in its type's canonical form and checked against
the domain: a known catalog id, a well-formed amount / ISO date-time / E.164 number / address, a
pattern type's group, free text only as a few plain words (FREE_TEXT). Anything else is not a
value: the slot counts as missing and its prompt is asked. The table of forms is in
docs/resolution.md ("Slots from earlier turns").
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import Decimal

from ..admission import REFERENCE_YEARS
from . import contact
from .catalog import Catalog
from .duration import ISO_DURATION, resolve_duration
from .money import ISO_4217, MAX_AMOUNT, minor_unit
from .patterns import PatternType
from .text import clean_value

MAX_CARRIED_CHARS = 256  # the admission layer's bound on a context value, checked again here
MAX_FREE_TEXT = 40  # code points of a carried free-text value
MAX_FREE_WORDS = 6
MAX_FREE_DIGITS = 2  # "Forever 21", "7-Eleven"; never a phone, card or account number

# Canonical forms are ASCII: `\d` alone would also take "٢٠٠" or "２００", which no caller's parser
# outside Python reads as 200 (re.ASCII)
_MONEY = re.compile(r"(?P<amount>\d{1,13}(?:\.\d{1,2})?)(?: (?P<currency>[A-Z]{3}))?", re.ASCII)
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:[+-]\d{2}:\d{2}|Z)", re.ASCII)
_E164 = re.compile(r"\+[1-9]\d{6,14}", re.ASCII)
_EXTENSION = re.compile(r"\d{1,7}", re.ASCII)
_EMAIL_NOISE = re.compile(r"[\s<>()\[\],;:\"']")  # what resolve_email would strip or reject
_NUMBER = re.compile(r"-?\d{1,15}(?:\.\d{1,6})?", re.ASCII)
_ORDINAL = re.compile(r"\d{1,6}", re.ASCII)
# Plain words: letters and digits of any script, single spaces, and ' ’ & - . , inside a name
# ("Ben & Jerry's", "Coca-Cola", "St. Louis"); nothing that makes markup, a URL or an address.
FREE_TEXT = re.compile(r"[^\W_]+(?:(?:[ &'’.,-]| & |[.,] )[^\W_]+)*\.?")
_DOTTED_WORD = re.compile(r"\.[^\W\d_]{2,}")  # "evil.com", "www.x.io"
_DIGIT = re.compile(r"\d")


def read_carried(kind: str, spec: dict, raw: str, catalog: Catalog | None, pattern: PatternType | None,
                 limit: int) -> list[dict]:
    """The resolutions of one carried slot value (empty when it is not a valid value of its type).
    `kind`/`spec`: the slot's entity type from the domain; `limit`: values kept per slot."""
    if not raw or len(raw) > MAX_CARRIED_CHARS:
        return []
    if kind == "free":
        value = _free_text(raw)
        return [value] if value else []
    parts = [p.strip() for p in raw.split(",")] if "," in raw else [raw.strip()]
    if len(parts) > limit:
        return []
    values = []
    for part in parts:
        value = _one(kind, spec, part, catalog, pattern)
        if value is None:
            return []
        if value not in values:
            values.append(value)
    return values


def _one(kind: str, spec: dict, raw: str, catalog: Catalog | None, pattern: PatternType | None) -> dict | None:
    if kind == "catalog":
        entry = catalog.by_id.get(raw) if catalog is not None else None
        return None if entry is None else {"kind": "catalog", "id": entry.id, "value": entry.value, "score": 1.0}
    if kind == "pattern":
        return {"kind": "pattern", "value": raw} if pattern is not None and pattern.accepts(raw) else None
    builtin = spec.get("builtin")
    if builtin == "money":
        return _money(raw, spec.get("default_currency"))
    if builtin == "datetime":
        return _datetime(raw)
    if builtin == "phone":  # E.164, or RFC 3966's "+14155550100;ext=23" for a number with an extension
        number, _, extension = raw.partition(";ext=")
        if not _E164.fullmatch(number) or (extension and not _EXTENSION.fullmatch(extension)):
            return None
        found = contact.resolve_phone(f"{number} ext. {extension}" if extension else number, None)
        return found if found is not None and contact.canonical_phone(found) == raw else None
    if builtin == "email":
        return None if _EMAIL_NOISE.search(raw) else contact.resolve_email(raw)
    if builtin in ("number", "percentage"):
        return {"kind": builtin, "value": raw} if _NUMBER.fullmatch(raw) else None
    if builtin == "ordinal":
        return {"kind": "ordinal", "value": str(int(raw))} if _ORDINAL.fullmatch(raw) else None
    if builtin == "duration":
        return resolve_duration(raw) if len(raw) <= 32 and ISO_DURATION.fullmatch(raw) else None
    return None


def _money(raw: str, default_currency: str | None) -> dict | None:
    m = _MONEY.fullmatch(raw)
    if m is None or not 0 < Decimal(m.group("amount")) <= MAX_AMOUNT:  # as a turn's own amount is read
        return None
    currency = m.group("currency") or (default_currency or "").upper()
    if currency and currency not in ISO_4217:
        return None
    if currency and Decimal(m.group("amount")) % minor_unit(currency):
        return None  # "5000.50 JPY": yen no one has (read back "5,000 JPY" while 5000.50 was sent on)
    return {"kind": "money", "amount": m.group("amount"), "currency": currency}


def _datetime(raw: str) -> dict | None:
    """Kept in its own offset: the day the customer meant when it was said, whatever the zone now."""
    if not _DATETIME.fullmatch(raw):
        return None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:  # "2026-02-30T..."
        return None
    if not REFERENCE_YEARS[0] <= value.year <= REFERENCE_YEARS[1]:  # the years a date is resolved in
        return None
    grain = "day" if (value.hour, value.minute, value.second) == (0, 0, 0) else (
        "second" if value.second else "minute")
    return {"kind": "datetime", "value": value.isoformat(), "grain": grain}


def plain_words(raw: str) -> str | None:
    """`raw` as a free-text value (NFC, line breaks and controls cleaned), or None when it is not
    a few plain words. One rule for a value typed in this turn and one carried from an earlier
    turn: a value accepted in one and refused in the other was asked for again on every turn."""
    text = clean_value(unicodedata.normalize("NFC", raw), MAX_CARRIED_CHARS)
    if (not text or len(text) > MAX_FREE_TEXT or not FREE_TEXT.fullmatch(text) or text.count(" ") >= MAX_FREE_WORDS
            or _DOTTED_WORD.search(text) or len(_DIGIT.findall(text)) > MAX_FREE_DIGITS):
        return None
    return text


def _free_text(raw: str) -> dict | None:
    text = plain_words(raw)
    return None if text is None else {"kind": "text", "value": text}
