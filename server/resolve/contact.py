"""Email addresses (email-validator) and phone numbers (phonenumbers, E.164).

Both libraries cost tens of microseconds a call and load data on first use: calls are cached
per distinct text, and `warm_up` loads their data at start.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email

MAX_INPUT = 254  # RFC 5321's longest address; also far longer than any phone number
_EXTENSION = re.compile(r"\s*,?\s*(?:ext(?:ension|n)?\.?|x)\s*\d+(?!\w)", re.IGNORECASE)  # " ext. 23", " x23"


@lru_cache(maxsize=4096)
def resolve_email(text: str) -> dict | None:
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
