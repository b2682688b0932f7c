"""Numbers, ordinals and percentages, digits or words ("two hundred", "1,200.50", "3rd", "15 percent").

Number words go through text2num (`alpha2digit`, a maintained Rust-backed parser, a few
microseconds a call); digit strings are parsed here, with the locale's separators.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from text_to_num import alpha2digit

MAX_INPUT = 80  # code points; longer spans are not numbers anyone says

_ARTICLE_MULT = re.compile(r"\b(?:a|an)\s+(?=(?:hundred|thousand|million|billion|grand|dozen)\b)")
_MULTIPLIER = {"k": 10**3, "thousand": 10**3, "grand": 10**3, "m": 10**6, "mm": 10**6, "mn": 10**6,
               "million": 10**6, "b": 10**9, "bn": 10**9, "billion": 10**9, "1000": 10**3,
               "1000000": 10**6, "1000000000": 10**9, "dozen": 12}
NUMBER = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d{1,3}(?:\.\d{3})+,\d{1,2}|\d+(?:[.,]\d+)?|\.\d+)"
_NUMBER_MULT = re.compile(r"(?P<num>" + NUMBER + r")\s*(?P<mult>k|thousand|grand|mm|mn|m|million|bn|b|billion|1000|1000000|1000000000|dozen)?(?![\w.])")
_ORDINAL = re.compile(r"\b(\d+)\s*(?:st|nd|rd|th)\b")
_PERCENT = re.compile(r"(" + NUMBER + r")\s*(?:%|percent\b|per\s*cent\b|pct\b)")


def words_to_digits(text: str) -> str:
    """Lower-cased text with spelled-out numbers as digits: "a grand" -> "1 grand", "third" -> "3rd"."""
    t = _ARTICLE_MULT.sub("one ", text.lower()[:MAX_INPUT]).replace("-", " ")
    t = re.sub(r"(?<=\d) (?=\d{3}\b)", "", t) if re.search(r"\d \d{3}\b", t) else t  # "10 000"
    return alpha2digit(t, "en", threshold=0)


def parse_decimal(num: str) -> Decimal | None:
    """"1,200.50" / "1.200,50" / "40,5" / "250" -> Decimal, keeping the written scale."""
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+,\d{1,2}", num):  # 1.200,00 (European grouping)
        num = num.replace(".", "").replace(",", ".")
    elif re.fullmatch(r"\d+,\d{1,2}", num):  # 40,50 (decimal comma)
        num = num.replace(",", ".")
    else:
        num = num.replace(",", "")
    try:
        return Decimal(num)
    except InvalidOperation:
        return None


def decimal_str(d: Decimal) -> str:
    """Plain decimal string, never an exponent: Decimal("1.5E+3") -> "1500"."""
    s = format(d, "f")
    if "." in s and d == d.to_integral_value() and d.as_tuple().exponent < -2:
        s = s.rstrip("0").rstrip(".")
    return s


def find_amount(text: str) -> tuple[Decimal, re.Match] | None:
    """The first number in already digit-converted text, with its multiplier applied."""
    m = _NUMBER_MULT.search(text)
    if m is None:
        return None
    value = parse_decimal(m.group("num"))
    if value is None:
        return None
    mult = m.group("mult")
    if mult:
        value = value * _MULTIPLIER[mult]
        if value == value.to_integral_value():
            value = value.quantize(Decimal(1))
    return value, m


def resolve_number(text: str) -> dict | None:
    t = words_to_digits(text)
    found = find_amount(t)
    if found is None:
        return None
    value, m = found
    negative = t[: m.start()].rstrip().endswith(("-", "minus"))
    return {"kind": "number", "value": decimal_str(-value if negative else value)}


def resolve_ordinal(text: str) -> dict | None:
    t = words_to_digits(text)
    m = _ORDINAL.search(t)
    if m is None:
        return None
    return {"kind": "ordinal", "value": str(int(m.group(1)))}


def resolve_percentage(text: str) -> dict | None:
    t = words_to_digits(text)
    m = _PERCENT.search(t)
    if m is None:
        return None
    value = parse_decimal(m.group(1))
    return None if value is None else {"kind": "percentage", "value": decimal_str(value)}
