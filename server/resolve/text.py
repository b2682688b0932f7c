"""Text folding shared by the resolvers: one definition of "the same words"."""

from __future__ import annotations

import re
import unicodedata

_WS = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w\s&+@.'/-]")
# Leading words that never change which catalog entry is meant ("my savings" = "savings").
_DETERMINERS = re.compile(r"^(?:(?:my|our|your|the|a|an|this|that)\s+)+")
_POSSESSIVE = re.compile(r"(?<=\w)['’]s\b")
# C0/C1 controls, zero-width and bidi marks, embeddings, overrides and isolates, BOM, annotations.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]")
# characters that take no width inside a word: pasted with a number ("5\u200b0"), they split it in two
_ZERO_WIDTH = re.compile(r"[\u00ad\u200b-\u200d\u2060\ufeff]")


def without_zero_width(text: str) -> str:
    """"5\u200b0 dollars" as 50 dollars: a value copied from a web page or a PDF carries them."""
    return _ZERO_WIDTH.sub("", text) if not text.isascii() else text


def strip_accents(text: str) -> str:
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fold(text: str) -> str:
    """Casefold, strip accents, hyphens and punctuation to spaces, collapse whitespace."""
    t = strip_accents(text).casefold().replace("’", "'")
    t = _PUNCT.sub(" ", t).replace("-", " ")
    return _WS.sub(" ", t).strip(" .'")


def fold_catalog(text: str) -> str:
    """`fold` plus dropping determiners/possessive pronouns and possessive 's: "my savings" -> "savings"."""
    t = _POSSESSIVE.sub("", fold(text))
    return _DETERMINERS.sub("", t)


def fold_same_length(text: str) -> str:
    """Lower-case, accent-free text with the same code-point offsets as `text` (for matching spans)."""
    if text.isascii():
        return text.lower()
    out = []
    for c in text:
        base = unicodedata.normalize("NFKD", c)[0].lower()
        out.append(base if len(base) == 1 else c)
    return "".join(out)


def clean_value(text: str, limit: int) -> str:
    """A value safe to insert into a response: no control/format characters, one line, bounded."""
    t = _WS.sub(" ", _CONTROL.sub("", _WS.sub(" ", text))).strip()  # line breaks -> spaces, then drop controls
    if len(t) > limit:
        t = t[: limit - 1].rstrip() + "…"
    return t
