"""Admission: is a request well-formed? Every bad field is INVALID_ARGUMENT with a message that
names it. (Whether it can still be answered in time is the batcher's call: it owns the queue.)"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import zoneinfo

from . import locale as locales
from .analysis import RequestOptions
from .errors import InvalidRequest

MAX_CONTEXT_ITEMS = 64  # filled_slots entries
MAX_CONTEXT_CHARS = 256  # per session id, intent name, slot name or value
_LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$")


# Reference times a calendar can work with: relative dates ("in a fortnight", "next year") are
# resolved against it, and the years 1 and 9999 leave no room on either side.
REFERENCE_YEARS = (1900, 2200)
# What the tokenizer drops: control, format, private-use, unassigned and separator characters,
# combining marks with no base letter (accents are stripped; U+FE0F, U+034F) and U+FFFD
_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp", "Mn", "Me"}
# U+FFFD, and letters and symbols drawn as blank space (Hangul fillers, the blank braille pattern):
# a text of them alone shows nothing, and was answered (out of scope, escalated) as if it said something
_BLANK = {"\ufffd", "\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"}


def has_content(text: str) -> bool:
    """At least one letter, digit, spacing mark, symbol or punctuation: a text of nothing else
    leaves the model an empty sentence ([CLS] [SEP]), whose answer is noise ("greeting", 0.72)."""
    return any(ch not in _BLANK and unicodedata.category(ch) not in _INVISIBLE for ch in text)


def check_text(text: str, max_chars: int, field: str = "text") -> str:
    if not text:
        raise InvalidRequest(f"{field}: must not be empty")
    if len(text) > max_chars:
        raise InvalidRequest(f"{field}: {len(text)} characters is over the limit of {max_chars}")
    if not has_content(text):
        raise InvalidRequest(f"{field}: no visible characters (only whitespace, control, zero-width or "
                             "combining characters)")
    return text


def check_top_k(top_k: int, default: int, maximum: int) -> int:
    if top_k == 0:
        return default
    if not 1 <= top_k <= maximum:
        raise InvalidRequest(f"top_k: {top_k} is out of range (0 for the default, or 1..{maximum})")
    return top_k


# IANA's time zone names (links such as US/Eastern included), read at import rather than by the
# first request that names a zone (a 5-17 ms scan of the zone folder). available_timezones()
# leaves out posix/, right/ and posixrules, which zoneinfo loads too, but not what a host may keep
# beside them that is no place: its own zone ("localtime": answers would change with the machine)
# and tzdb's placeholder for a zone not set ("Factory").
ZONE_NAMES = frozenset(zoneinfo.available_timezones() - {"localtime", "Factory"})


def check_time_zone(name: str) -> str | None:
    if not name:
        return None
    if name not in ZONE_NAMES:
        raise InvalidRequest(f"time_zone: {name[:64]!r} is not a known IANA time zone (e.g. 'Europe/Berlin')")
    return name


def check_locale(locale: str) -> str | None:
    """A supported locale's tag ("en_gb" -> "en-GB"), None for the default; anything else is refused,
    never ignored: its numbers and dates would be read the wrong way."""
    if not locale:
        return None
    if len(locale) > 35 or not _LOCALE.match(locale):
        raise InvalidRequest(f"locale: {locale[:35]!r} is not a BCP-47 tag (supported: {', '.join(locales.SUPPORTED)})")
    tag = locales.canonical(locale)
    if tag is None:
        raise InvalidRequest(f"locale: {locale!r} is not supported (supported: {', '.join(locales.SUPPORTED)})")
    return None if tag == locales.DEFAULT else tag


def _short(field: str, value: str) -> str | None:
    if len(value) > MAX_CONTEXT_CHARS:
        raise InvalidRequest(f"{field}: longer than {MAX_CONTEXT_CHARS} characters")
    return value or None


def _slot_names(field: str, names) -> None:
    """A context field of slot names: at most MAX_CONTEXT_ITEMS, none empty or over MAX_CONTEXT_CHARS."""
    if len(names) > MAX_CONTEXT_ITEMS:
        raise InvalidRequest(f"{field}: {len(names)} items is over {MAX_CONTEXT_ITEMS}")
    for name in names:
        if not name:
            raise InvalidRequest(f"{field}: a slot name is empty")
        _short(field, name)


def check_context(request) -> dict:
    """RequestContext -> the RequestOptions fields it fills."""
    if not request.HasField("context"):
        return {}
    ctx = request.context
    _slot_names("context.filled_slots", ctx.filled_slots)
    slots = tuple(sorted(ctx.filled_slots.items()))
    for key, value in slots:
        _short(f"context.filled_slots[{key[:32]!r}]", value)
    _slot_names("context.slots_missing", ctx.slots_missing)
    return {
        "session_id": _short("context.session_id", ctx.session_id),
        "previous_intent": _short("context.previous_intent", ctx.previous_intent),
        "filled_slots": slots,
        "slots_missing": tuple(dict.fromkeys(ctx.slots_missing)),  # in the order asked; a repeat adds nothing
    }


def check_reference_time(request) -> dt.datetime | None:
    if not request.HasField("reference_time"):
        return None
    ts = request.reference_time
    if not 0 <= ts.nanos < 1_000_000_000:
        raise InvalidRequest("reference_time: nanos out of range")
    lo, hi = REFERENCE_YEARS
    try:
        value = dt.datetime.fromtimestamp(ts.seconds, tz=dt.timezone.utc) + dt.timedelta(microseconds=ts.nanos // 1000)
    except (OverflowError, OSError, ValueError):
        value = None
    if value is None or not lo <= value.year <= hi:
        raise InvalidRequest(f"reference_time: outside the years {lo}..{hi}")
    return value


def admit(request, *, max_chars: int, default_top_k: int, max_top_k: int) -> tuple[str, RequestOptions]:
    """Validate any of the per-utterance request messages; returns the text and its options.

    Request types without a field (DetectIntent has no time zone) get its default.
    """
    names = request.DESCRIPTOR.fields_by_name
    text = check_text(request.text, max_chars)
    options = RequestOptions(
        top_k=check_top_k(request.top_k, default_top_k, max_top_k) if "top_k" in names else default_top_k,
        reference_time=check_reference_time(request) if "reference_time" in names else None,
        time_zone=check_time_zone(request.time_zone) if "time_zone" in names else None,
        locale=check_locale(request.locale) if "locale" in names else None,
        **check_context(request),
    )
    return text, options
