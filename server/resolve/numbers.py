"""Numbers, ordinals and percentages, digits or words ("two hundred", "1,200.50", "3rd", "15 percent").

Number words go through text2num (`alpha2digit`, a maintained Rust-backed parser, a few
microseconds a call); digit strings are parsed here.

A written number is read whole: the run of digits with "," or "." between them ("1,2,3,4" is one
token, never "1,2" plus leftovers), and only in a form with one reading (docs/resolution.md):
plain "1200", decimal point "40.50", decimal comma with one or two digits "40,50", thousands
groups "1,200.50" / "1.200,50" / "1.200.000", Indian groups "1,00,000". "1.200" (1.2 or 1200?),
groups that are not of three ("1,2,3,4", "12,34,5") and mixed forms ("1.234,5.6") have no
reading; neither has scientific notation ("1e3", "1e308"): the whole text is then not a number.
Nor has a text with two numbers ("2 x 50", "31m 20"): an amount or a number is one number, an
ordinal one position ("1st and 2nd"), a percentage one percentage ("5% or 10%"; "10% of 200" is 10).
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

from text_to_num import alpha2digit

MAX_INPUT = 80  # code points; longer spans are not numbers anyone says
MAX_NUMBER = Decimal(10) ** 15  # before a multiplier (at most 10**12): products stay within Decimal's 28 digits

_ARTICLE_MULT = re.compile(r"\b(?:a|an)\s+(?=(?:hundred|thousand|million|billion|trillion|grand|dozen)\b)")
_MULTIPLIER = {"k": 10**3, "thousand": 10**3, "grand": 10**3, "m": 10**6, "mm": 10**6, "mn": 10**6,
               "million": 10**6, "b": 10**9, "bn": 10**9, "billion": 10**9, "trillion": 10**12, "1000": 10**3,
               "1000000": 10**6, "1000000000": 10**9, "dozen": 12}
# One written number, taken whole: not preceded by a digit (or a digit and a separator), and
# atomic, so a form check that fails is never retried on a shorter prefix ("1,2" of "1,2,3,4").
NUMBER = r"(?<!\d)(?<!\d[.,])(?>\d+(?:[.,]\d+)*|\.\d+)"
_NUMBER_MULT = re.compile(r"(?P<num>" + NUMBER + r")(?:\s*(?P<mult>k|thousand|grand|mm|mn|m|million|bn|b|billion"
                          r"|trillion|1000|1000000|1000000000|dozen))?(?!\w)")
_DIGIT = re.compile(r"\d")
_WORD_HYPHEN = re.compile(r"(?<=[^\W\d_])-(?=[^\W\d_])")
# Quantities with no one value: fractions and vague counts ("half a million", "a couple hundred",
# "hundreds of dollars", "200-odd"), a digit said twice or a doubling ("double five": 55 or 10?), ranges
# and signs ("50-100", "-50", "minus 20"): unresolved, never the number text2num or the digits happen to
# leave ("half a million" read as 1,000,000, "double five" as 5)
_SYMBOLS = "$€£¥₹₩₽₺₪₱₫฿₦₴¢"


def category_class(category: str, extra: str = "") -> str:
    """A regex character class of every character (of the BMP) in a Unicode category, and `extra`:
    `re` has no \\p{...}."""
    return "[" + re.escape("".join(c for c in map(chr, range(0x10000)) if unicodedata.category(c) == category)
                           + extra) + "]"


# every dash a keyboard or a phone may put before a number ("‐", "‑", "–", "－": Unicode's Pd), and
# the minus sign
DASH = category_class("Pd", "\u2212")
_VAGUE_COUNT = (r"\b(?:half|halves|quarters?|thirds?|couple|few|several|dozens|hundreds|thousands|millions|billions"
                r"|odd|double|triple)\b")
RANGE = rf"\d\s*{DASH}\s*\d|\bbetween\b.*\d.*\band\b|\d\s*(?:to|or)\s+\d"
# a minus before the digits, not after a word, the currency symbol between them or not ("-50", "-$50",
# "$-50", "(−€50)"), one right after them ("$50-"; not the ",-" of "€5,-", no cents, nor the "-" of "50-dollar"), or an
# accountant's parentheses ("($50)")
SIGN = (rf"(?<![\w.,]){DASH}\s*[{_SYMBOLS}]?\s*\d|\b(?:minus|negative)\b"
        rf"|\d{DASH}(?!\s*\d)(?![^\W\d_])|\(\s*[{_SYMBOLS}]?\s*\d[\d.,]*\s*[{_SYMBOLS}]?\s*\)")
PERCENT_SIGN = r"(?:%|percent\b|per\s*cent\b|pct\b)"
VAGUE = re.compile(rf"{_VAGUE_COUNT}|{RANGE}|{SIGN}|\d\s*{PERCENT_SIGN}", re.IGNORECASE)
# a number may be negative ("minus 5"), but never a vague count or a range
_NOT_ONE_NUMBER = re.compile(rf"{_VAGUE_COUNT}|{RANGE}", re.IGNORECASE)
_NEGATIVE = re.compile(rf"(?:{DASH}|\bminus|\bnegative)\s*$", re.IGNORECASE)
_ORDINAL = re.compile(r"(?P<num>" + NUMBER + r")\s*(?:st|nd|rd|th)\b")  # "3rd", "1,000th", "3.5th" (no ordinal)
# an ordinal that names no position: a fraction ("a third"; "two thirds" has two numbers) or a count
# from the end ("second to last", "3rd from the bottom")
_FRACTION = re.compile(r"\ban?\s+$")
_FROM_THE_END = re.compile(r"\s*(?:(?:to|from)\s+(?:the\s+)?)?(?:last|end|bottom)\b")
_PRONOUN_ONE = re.compile(r"(?<=st|nd|rd|th)\s+ones?\b", re.IGNORECASE)  # "the second one": a thing, no 1
_PERCENT = re.compile(r"(?P<num>" + NUMBER + r")\s*" + PERCENT_SIGN)
_NUMBER_BEFORE = re.compile(r"\d[\s/,]*$")  # part of the percentage's number, or a list: "33 1/3%", "10, 20%"
# "point" before a number is its decimal point: text2num reads "two point five" but leaves "2 point
# five" and "point five" (then read as 5); not the noun of "at this point 5 dollars"
_POINT = re.compile(r"(?:(?<=\d)\s*|(?<!this )(?<!that )(?<!the )\b)point\s+(?=\d)")
_SCIENTIFIC = re.compile(r"\d(?:[.,]\d+)*e[+-]? ?\d")  # after words_to_digits: "1e308", "2.5e-3" (now "2.5e 3")
# The forms with one reading (see the module docstring), in the order they are tried.
_PLAIN = re.compile(r"\d+|\d*\.\d+")  # "1200", "40.50", ".5" (after _AMBIGUOUS_DOT)
_AMBIGUOUS_DOT = re.compile(r"[1-9]\d{0,2}\.\d{3}")  # "1.200": 1.2, or 1200 with a European group
_DECIMAL_COMMA = re.compile(r"\d+,\d{1,2}")  # "40,50", "40,5"
_COMMA_GROUPS = re.compile(r"[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?|[1-9]\d?(?:,\d{2})+,\d{3}(?:\.\d+)?")  # en, Indian
_DOT_GROUPS = re.compile(r"[1-9]\d{0,2}(?:\.\d{3})+(?:,\d+)?")  # "1.200,50", "1.200.000"


# what a number counts in a pause, not an amount or a count ("one moment", "two seconds", "one more thing"),
# and what may come between the two ("one um moment", "one more thing", "One. Moment.")
PAUSE_UNITS = frozenset("second seconds sec secs moment moments minute minutes min mins hour hours hr hrs "
                        "thing things bit".split())
_PAUSE_BETWEEN = "um+ uh+ er+m? ah+ oh more last other extra little quick".split()
_MARKS = r"[\s,.!?;:]+"
_PAUSE = re.compile(rf"(?:{_MARKS}(?:{'|'.join(_PAUSE_BETWEEN)})\b)*{_MARKS}(?:{'|'.join(sorted(PAUSE_UNITS))})\b",
                    re.IGNORECASE)


def pause_end(text: str, end: int) -> int | None:
    """Where the pause ends when the number ending at text[end] counts one ("one | um moment": the
    model's amount "one" of "one second, 50 dollars" is no $1, and neither is a follow-up's bare
    "one moment"); None when the number counts no pause."""
    m = _PAUSE.match(text, end)
    return m.end() if m else None


def counts_a_pause(text: str, span: str, end: int) -> bool:
    """Whether an amount or number span ending at text[end] is a pause's count ("one | second, 50
    dollars": no amount of 1): it ends in a number, and what follows counts time or a thing ("100
    dollars, quick thing" is $100)."""
    return words_to_digits(span.split()[-1]).isdigit() and pause_end(text, end) is not None


def words_to_digits(text: str) -> str:
    """Lower-cased text with spelled-out numbers as digits: "a grand" -> "1 grand", "third" -> "3rd",
    "point five" -> ".5"."""
    t = _WORD_HYPHEN.sub(" ", _ARTICLE_MULT.sub("one ", text.lower()[:MAX_INPUT]))  # "twenty-five", not "50-100"
    t = re.sub(r"(?<=\d) (?=\d{3}\b)", "", t) if re.search(r"\d \d{3}\b", t) else t  # "10 000"
    t = alpha2digit(t, "en", threshold=0)
    return _POINT.sub(".", t) if "point" in t else t


def parse_decimal(num: str) -> Decimal | None:
    """A written number (one NUMBER token) -> Decimal keeping its written scale; None when the
    token has no single reading ("1.200", "1,2,3,4")."""
    if _AMBIGUOUS_DOT.fullmatch(num):
        return None
    if _PLAIN.fullmatch(num):
        pass
    elif _DECIMAL_COMMA.fullmatch(num):
        num = num.replace(",", ".")
    elif _COMMA_GROUPS.fullmatch(num):
        num = num.replace(",", "")
    elif _DOT_GROUPS.fullmatch(num):
        num = num.replace(".", "").replace(",", ".")
    else:
        return None
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
    """The one number in already digit-converted text, with its multiplier applied; None when
    there is none, when it has no single reading, or when another digit lies before or after it
    ("2 x $50", "31m $20", "1h30m": which one is the amount is a guess, and a wrong amount is worse
    than none)."""
    if "e" in text and _SCIENTIFIC.search(text):
        return None
    m = _NUMBER_MULT.search(text)
    if m is None or _DIGIT.search(text, 0, m.start()) or _DIGIT.search(text, m.end()):
        return None
    value = parse_decimal(m.group("num"))
    if value is None or value > MAX_NUMBER:
        return None
    mult = m.group("mult")
    if mult:
        value = value * _MULTIPLIER[mult]
        if value == value.to_integral_value():
            value = value.quantize(Decimal(1))
    return value, m


def resolve_number(text: str) -> dict | None:
    if _NOT_ONE_NUMBER.search(text[:MAX_INPUT]):  # "half a million", "a couple hundred", "5 to 10"
        return None
    t = words_to_digits(text)
    found = find_amount(t)
    if found is None:
        return None
    value, m = found
    negative = _NEGATIVE.search(t[: m.start()].rstrip()) is not None
    return {"kind": "number", "value": decimal_str(-value if negative else value)}


def resolve_ordinal(text: str) -> dict | None:
    """The one position said ("the third", "21st", "1,000th"); None beside another number ("1st and
    2nd", "the 3rd of 5"), for a fraction ("a third") or a count from the end ("second to last")."""
    t = words_to_digits(_PRONOUN_ONE.sub("", text))
    m = _ORDINAL.search(t)
    if m is None or _DIGIT.search(t, 0, m.start()) or _DIGIT.search(t, m.end()):
        return None
    if _FRACTION.search(t, 0, m.start()) or _FROM_THE_END.match(t, m.end()):
        return None
    value = parse_decimal(m.group("num"))
    if value is None or value != value.to_integral_value():  # "3.5th", "1.000th"
        return None
    return {"kind": "ordinal", "value": str(int(value))}


def resolve_percentage(text: str) -> dict | None:
    """The one percentage said ("12.5 percent"; "10% of 200" is 10); None for two ("5% or 10%",
    "10% 20%"), a range ("5-10%", "between 5 and 10 percent") or a number joined to it ("33 1/3%")."""
    t = words_to_digits(text)
    if "e" in t and _SCIENTIFIC.search(t):
        return None
    found = list(_PERCENT.finditer(t))
    if len(found) != 1 or _NOT_ONE_NUMBER.search(t) or _NUMBER_BEFORE.search(t, 0, found[0].start()):
        return None
    m = found[0]
    value = parse_decimal(m.group("num"))
    if value is None:
        return None
    negative = _NEGATIVE.search(t[: m.start()].rstrip()) is not None
    return {"kind": "percentage", "value": decimal_str(-value if negative else value)}
