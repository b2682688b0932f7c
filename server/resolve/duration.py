"""Durations: "90 minutes", "two and a half hours", "an hour and a half", "3 days", "1h30m", "PT2H"
-> {"kind": "duration", "value": ISO 8601 duration, "seconds": total seconds (a JSON number)}.

Months and years count 30 and 365 days in `seconds` (the ISO value keeps them exact: "P1M").
A length with no one value is unresolved: vague ("a couple of hours"), a range ("2-3 days", "a day
or two", "ten fifteen years"), a unit said twice ("2 days, 3 days"), a sign ("minus 2 hours") or a
number with no one reading ("1,5 hours" outside a decimal-comma locale) or no unit ("2h30": every
number counts a unit).
"""

from __future__ import annotations

import re
from decimal import Decimal

from .numbers import MAX_INPUT, RANGE, SIGN, decimal_str, words_to_digits

_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hr": 3600, "hour": 3600,
          "d": 86400, "day": 86400, "w": 604800, "wk": 604800, "week": 604800, "fortnight": 1209600,
          "mo": 2592000, "month": 2592000, "y": 31536000, "yr": 31536000, "year": 31536000}
# a count, then its unit: "a" and "an" only as words ("and" is no "an" of days, "days" no "a" year), a
# plural "s" only after a unit of two letters or more ("2 mins"; "2 ms" is no 2 minutes)
_PART = re.compile(r"(?P<n>(?<![\d.,:])(?:\d+(?:\.\d+)?|\.\d+)\s*|(?<![a-z])(?:half an?|half a|an?)\s+)"
                   r"(?P<unit>fortnight|month|mo|minute|min|m|second|sec|s|hour|hr|h|day|d|week|wk|w|year|yr|y)"
                   r"(?:(?<=[a-z]{2})s)?(?![a-z])(?P<half>\s+and\s+a\s+half)?")
_DIGIT = re.compile(r"\d")
_CLOCK = re.compile(r"(?P<h>\d{1,3}):(?P<m>[0-5]\d)\s*(?:hours?|hrs?|h)(?![a-z])")  # "1:30 hours"
_VAGUE = re.compile(r"\b(?:several|few|couple|some|many|quarters?|thirds?)\b")  # no one length
_NOT_ONE = re.compile(rf"{RANGE}|{SIGN}|\bor\b", re.IGNORECASE)  # "2-3 days", "a day or two", "-5 days"
_HALF_BEFORE = re.compile(r"(?P<n>\d+)\s+and\s+a\s+half\s+(?P<unit>[a-z]+?)s?\b")
# with a decimal fraction ("P1.5Y", what "a year and a half" resolves to)
_ISO_NUMBER = r"(\d+(?:\.\d+)?)"
ISO_DURATION = re.compile(rf"P(?!$)(?:{_ISO_NUMBER}Y)?(?:{_ISO_NUMBER}M)?(?:{_ISO_NUMBER}W)?(?:{_ISO_NUMBER}D)?"
                          rf"(?:T(?=\d)(?:{_ISO_NUMBER}H)?(?:{_ISO_NUMBER}M)?(?:{_ISO_NUMBER}S)?)?")


def resolve_duration(text: str) -> dict | None:
    raw = text.strip()
    if ISO_DURATION.fullmatch(raw.upper()):
        y, mo, w, d, h, mi, s = (Decimal(g) if g else Decimal(0) for g in ISO_DURATION.fullmatch(raw.upper()).groups())
        seconds = y * 31536000 + mo * 2592000 + w * 604800 + d * 86400 + h * 3600 + mi * 60 + s
        return {"kind": "duration", "value": raw.upper(), "seconds": _number(seconds)}
    if _VAGUE.search(raw.lower()):
        return None
    t = words_to_digits(raw[:MAX_INPUT])
    if _NOT_ONE.search(t):  # after the number words: "two to three days" is "2 to 3 days"
        return None
    t = _CLOCK.sub(lambda m: f"{m.group('h')} hours {m.group('m')} minutes", t)
    t = _HALF_BEFORE.sub(lambda m: f"{m.group('n')}.5 {m.group('unit')}", t)
    parts = list(_PART.finditer(t))
    units = [_UNITS[m.group("unit")] for m in parts]
    if not parts or len(set(units)) < len(units) or _DIGIT.search(_PART.sub(" ", t)):
        return None  # "2 ms", "2 days 3 days", "10 15 minutes": no unit, or two lengths
    seconds = Decimal(0)
    years = months = Decimal(0)
    for m in parts:
        n = m.group("n").strip()
        count = Decimal("0.5") if n.startswith("half") else Decimal(1) if n in ("a", "an") else Decimal(n)
        unit = m.group("unit")
        step = _UNITS[unit]
        if m.group("half"):
            count += Decimal("0.5")
        if unit in ("mo", "month"):
            months += count
        elif unit in ("y", "yr", "year"):
            years += count
        else:
            seconds += count * step
    total = seconds + months * 2592000 + years * 31536000
    return {"kind": "duration", "value": _iso(years, months, seconds), "seconds": _number(total)}


def _number(d: Decimal) -> int | float:
    return int(d) if d == d.to_integral_value() else float(d)


def _iso(years: Decimal, months: Decimal, seconds: Decimal) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    date = "".join(f"{decimal_str(v)}{u}" for v, u in ((years, "Y"), (months, "M"), (days, "D")) if v)
    time = "".join(f"{decimal_str(v)}{u}" for v, u in ((hours, "H"), (minutes, "M"), (secs, "S")) if v)
    return "P" + date + ("T" + time if time else "") if (date or time) else "PT0S"
