"""Email addresses (email-validator) and phone numbers (phonenumbers, E.164), written or said
the way a caller dictates them ("four one five five five five oh one three four", "john dot smith
at yahoo dot com": what a voice backend's recogniser writes down).

Both libraries cost tens of microseconds a call and load data on first use: calls are cached
per distinct text, and `warm_up` loads their data at start.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email

MAX_INPUT = 254  # RFC 5321's longest address; also far longer than any phone number
_DIGIT_WORDS = {"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
                "seven": "7", "eight": "8", "nine": "9"}
_REPEATS = {"double": 2, "triple": 3}  # "double five": 55
_SPOKEN_TOKEN = re.compile(r"[^\s,.()\-]+")
_WORD = re.compile(r"\S+")
_SPOKEN_MARKS = frozenset({"at", "dot", "underscore", "dash", "hyphen"})
# words said before "at" that are no mailbox: "email me at ...", "i was at home dot com"
_NO_MAILBOX = frozenset({"me", "us", "him", "her", "them", "you", "it", "i", "was", "is", "am", "are", "were", "be"})
_JOINING = _SPOKEN_MARKS - {"at"}  # the words that join a name's parts ("john dot smith")
_SPOKEN_EMAIL = ((re.compile(r"\s+dot\s+"), "."), (re.compile(r"\s+underscore\s+"), "_"),
                 (re.compile(r"\s+(?:dash|hyphen)\s+"), "-"), (re.compile(r"\s+"), ""))
_EXTENSION = re.compile(r"\s*,?\s*(?:ext(?:ension|n)?\.?|x)\s*\d+(?!\w)", re.IGNORECASE)  # " ext. 23", " x23"


@lru_cache(maxsize=4096)
def resolve_email(text: str) -> dict | None:
    found = _checked_email(text)
    if found is None and (spoken := spoken_email(text)) is not None:
        found = _checked_email(spoken)
    return found


def spoken_email(text: str) -> str | None:
    """An address as dictated, written ("john dot smith at yahoo dot com", "t o m at gmail dot
    com"), or None when it says no single "at", or two words side by side ("my email is tom at
    gmail dot com" is no address "myemailistom@gmail.com")."""
    words = text.lower().split()
    while words and words[-1] in _SPOKEN_MARKS:  # "... dot com dot": a dictated full stop
        words.pop()
    if words.count("at") != 1 or len(text) > MAX_INPUT or words[0] in _NO_MAILBOX:
        return None  # "me at john dot smith": "email me at ...", not the mailbox "me"
    if any(a not in _SPOKEN_MARKS and b not in _SPOKEN_MARKS and (len(a) > 1 or len(b) > 1)
           and not (len(a) == 1 and len(b) > 1 and a.isalpha() and a != "i")  # "j smith": an initial
           for a, b in zip(words, words[1:])):
        return None  # two words side by side: "my email is tom at ...", "i was at home dot com"
    said = " ".join(words).replace(" at ", "@")
    for pattern, written in _SPOKEN_EMAIL:
        said = pattern.sub(written, said)
    return said


def spoken_address(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Where the dictated address text[start:end] is part of starts and ends ("john | dot smith at
    yahoo dot com" with only "john" tagged: a model trained on written addresses tags a word or
    two of a said one), or None. The name before "at" is words joined by "dot", "underscore" or
    "dash", or letters spelled one by one; after it, a word and "dot" words."""
    words = [(m.start(), m.end(), m.group().lower().strip(",;:!?")) for m in _WORD.finditer(text)]
    for i, (_, _, word) in enumerate(words):
        if word != "at" or i == 0 or words[i - 1][2] in _SPOKEN_MARKS:
            continue
        last = i + 1
        while last + 2 < len(words) and words[last + 1][2] == "dot" and words[last + 2][2] not in _SPOKEN_MARKS:
            last += 2
        if last == i + 1 or words[last][2] in _SPOKEN_MARKS:
            continue  # "meet at noon": no "dot" after the name
        if last + 1 < len(words) and words[last + 1][2] == "at":
            continue  # "me at john dot smith | at yahoo dot com": the name goes on, the address is the next "at"
        first = i - 1
        while first > 0:
            before = words[first - 1][2]
            if before in _JOINING and first > 1 and words[first - 2][2] not in _SPOKEN_MARKS:
                first -= 2  # "john dot | smith"
            elif len(before) == 1 and len(words[first][2]) == 1:
                first -= 1  # "t o m | h"
            else:
                break
        at, to = words[first][0], words[last][0] + len(words[last][2])
        if at < end and start < to:
            return at, to
    return None


def _checked_email(text: str) -> dict | None:
    candidate = text.strip().strip("<>.,;:()[]\"'")
    if not candidate or len(candidate) > MAX_INPUT:
        return None
    try:
        checked = validate_email(candidate, check_deliverability=False)  # never a DNS query
    except EmailNotValidError:
        return None
    local, _, domain = checked.normalized.rpartition("@")
    return {"kind": "email", "value": f"{local}@{domain.lower()}"}


@lru_cache(maxsize=4096)
def resolve_phone(text: str, region: str | None) -> dict | None:
    if len(text) > 120:
        return None
    found = _parsed_phone(text, region)
    if found is None and (digits := spoken_digits(text)) is not None and digits != text:
        found = _parsed_phone(digits, region)
    return found


def spoken_digits(text: str) -> str | None:
    """A number said digit by digit, as digits ("four one five, five five five, oh one three four",
    "917 five five five 0123", "double five"), or None when a word is no digit (English words)."""
    out: list[str] = []
    repeat = 1
    for token in _SPOKEN_TOKEN.findall(text.lower()):
        digit = token if token.isdigit() else _DIGIT_WORDS.get(token, "0" if token in ("oh", "o") and out else None)
        if digit is not None:
            out.append(digit * repeat if len(digit) == 1 else digit)
            repeat = 1
        elif token in _REPEATS and repeat == 1:
            repeat = _REPEATS[token]
        elif token == "plus" and not out:
            out.append("+")
        elif not (token in ("dash", "hyphen") and out):
            return None
    return "".join(out) if out and repeat == 1 else None


def _parsed_phone(text: str, region: str | None) -> dict | None:
    if len(text) > 40:
        return None
    try:
        number = phonenumbers.parse(text, (region or "US").upper())
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):  # "555-0123" has no area code: unresolved
        return None
    found = {"kind": "phone", "e164": phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)}
    if number.extension:  # "ext. 23": E.164 has no room for it, and a call without it reaches the switchboard
        found["extension"] = number.extension
    return found


def extension_end(text: str, end: int) -> int:
    """Where a phone number ending at `end` ends with the extension said right after it
    ("415-555-0134 | ext. 23"): the model's span often stops before it, and the extension was
    dropped (or read as a second number, "23")."""
    said = _EXTENSION.match(text, end)
    return end if said is None else said.end()


def warm_up(region: str | None) -> None:
    resolve_email("warm.up@example.com")
    resolve_phone("+1 415 555 0134", region)
    resolve_phone("0161 496 0000", "GB")
    resolve_email.cache_clear()
    resolve_phone.cache_clear()


def format_phone(resolution: dict) -> str:
    number = phonenumbers.parse(resolution["e164"], None)
    shown = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return f"{shown} ext. {resolution['extension']}" if resolution.get("extension") else shown


def canonical_phone(resolution: dict) -> str:
    """E.164, with RFC 3966's ";ext=" when the number has an extension (as carried back in a slot)."""
    extension = resolution.get("extension")
    return f"{resolution['e164']};ext={extension}" if extension else resolution["e164"]
