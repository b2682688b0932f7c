"""Redaction of captured text (`--capture-redact-digits`): what could identify a customer or an
account never reaches the review file, and the entity offsets still point at the right text.

- every digit becomes "0" ("4111 1111" -> "0000 0000": one code point for one, offsets unchanged),
  circled, superscript and subscript digits ("①②", "¹²") too;
- a run of spoken numbers ("four one five five five", "oh one two three", "double five nine",
  "forty one eleven eleven", "four fifteen five five five", "vier eins eins eins", as an ASR
  may punctuate it too: "four. one. one.", "four/one/one": at least MIN_SPOKEN_DIGITS number
  words) has each number word replaced by "zero", keeping the shape of a spoken number for
  retraining. The number words are those of each language a supported locale speaks
  (server/locale.py: English and German);
- so has a four-digit number read as two pairs ("nineteen eighty", "eleven eleven", "zwölf
  vierunddreißig"): a year of birth, a card's last four or a PIN, redacted as "1980" is (and with
  them times and amounts said the same way, "ten thirty", "twelve fifty": the price). Other
  runs of one or two number words ("fifty", "one or two", "forty one") stay: amounts and counts,
  which the text needs to stay readable; a German number written as one word counts its parts
  ("einhundertdreiundzwanzig" is three, "neunzehnhundertvierundachtzig" three with two pairs, as
  "one hundred twenty three" and "nineteen eighty four" are: both redacted; "dreihundert" is two),
  and "thousand", "million", "tausend" are number words ("three million four hundred thousand");
- an e-mail address, written ("tom@work.com", "tom＠work.com"), spoken ("tom at work dot com",
  "tom punkt meier at gmx punkt de") or half of each ("tom at gmail.com", "tom (at) gmail (dot)
  com"), becomes EMAIL.

Words and addresses change length, so entity spans are moved with the text: a span before or
after an edit shifts by the edit's change in length; a boundary inside an edited run moves to the
edge of its replacement, so a span that covered an address covers EMAIL (never half a token).
"""

from __future__ import annotations

import re

EMAIL = "<email>"
MIN_SPOKEN_DIGITS = 3
_DIGIT = re.compile(r"[\d\u00b2\u00b3\u00b9\u2070-\u2079\u2080-\u2089\u2460-\u24ff\u2776-\u2793]")
_WRITTEN_EMAIL = re.compile(r"[\w.%+'-]+\s*[@\uff20]\s*[\w-]+(?:\s*\.\s*[\w-]+)+")
_AT = r"\s*[(\[]?\s*at\s*[)\]]?\s*"
_DOT = r"(?:\s*[(\[]?\s*(?:dot|punkt)\s*[)\]]?\s*|\.)"  # a written dot only with no space: "at home. ok" is no address
_SPOKEN_EMAIL = re.compile(r"\b[\w+-]+(?:" + _DOT + r"[\w+-]+)*" + _AT + r"[\w-]+(?:" + _DOT + r"[\w-]+)+\b", re.I)

_DE_UNITS = "eins zwei drei vier fünf sechs sieben acht neun".split()
_DE_TENS = "zwanzig dreißig vierzig fünfzig sechzig siebzig achtzig neunzig".split()
# The number words of each language a supported locale speaks (server/locale.py): (words, pairs),
# the pairs being those that say two digits ("nineteen", "eighty", "vierundvierzig").
NUMBER_WORDS: dict[str, tuple[list[str], list[str]]] = {
    "en": ("zero oh o one two three four five six seven eight nine hundred thousand million billion".split(),
           ("ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen "
            "twenty thirty forty fifty sixty seventy eighty ninety").split()),
    "de": (["null", "zwo", "hundert", "tausend", "million", "millionen", *_DE_UNITS],
           "zehn elf zwölf dreizehn vierzehn fünfzehn sechzehn siebzehn achtzehn neunzehn".split() + _DE_TENS
           + [f"{unit}und{tens}" for unit in ["ein", *_DE_UNITS[1:]] for tens in _DE_TENS]),  # einundzwanzig
}
_ASCII = str.maketrans({"ü": "ue", "ö": "oe", "ß": "ss"})  # German typed without umlauts: "fuenf", "dreissig"


def _spellings(words: list[str]) -> set[str]:
    return {spelling for word in words for spelling in (word, word.translate(_ASCII))}


def _longest_first(words: set[str]) -> str:
    """An alternation trying a whole word before one it begins with ("fourteen" before "four")."""
    return "|".join(sorted(words, key=lambda word: (-len(word), word)))


_PAIRS = _spellings([word for _, pairs in NUMBER_WORDS.values() for word in pairs])
_SINGLES = _spellings([word for words, _ in NUMBER_WORDS.values() for word in words])
# a German number written as one word: two or more of its parts ("ein|hundert|dreiundzwanzig")
_DE_PART = "(?:" + _longest_first(_spellings(["ein", *(w for words in NUMBER_WORDS["de"] for w in words)])
                                   - {"null", "zwo"}) + ")"
_DE_COMPOUND = re.compile(_DE_PART + "{2,}", re.I)
_DE_PARTS = re.compile(_DE_PART, re.I)
_WORD = "(?:" + _DE_COMPOUND.pattern + "|" + _longest_first(_PAIRS | _SINGLES) + r")\b"
_TOKEN = r"(?:(?:double|triple)[\s-]+)?(?:" + _WORD + r"|\d+)"
_SPOKEN_RUN = re.compile(r"\b" + _TOKEN + r"(?:[\s,./-]+" + _TOKEN + r")*\b", re.I)
_TOKEN_RE = re.compile(r"(?:(?P<times>double|triple)[\s-]+)?(?:(?P<word>" + _WORD + r")|(?P<digits>\d+))", re.I)

Edit = tuple[int, int, str]  # [start, end) of the original text -> replacement


def redact(text: str, spans: list[tuple[int, int]]) -> tuple[str, list[tuple[int, int]]]:
    """(redacted text, the spans moved onto it)."""
    edits: list[Edit] = []
    for regex in (_WRITTEN_EMAIL, _SPOKEN_EMAIL):
        for m in regex.finditer(text):
            _add(edits, (m.start(), m.end(), EMAIL))
    for m in _SPOKEN_RUN.finditer(text):
        for edit in _spoken_digits(m):
            _add(edits, edit)
    edits.sort()
    out, last = [], 0
    for start, end, replacement in edits:
        out.append(text[last:start])
        out.append(replacement)
        last = end
    out.append(text[last:])
    redacted = _DIGIT.sub("0", "".join(out))
    moved = [(_move(start, edits, False), _move(end, edits, True)) for start, end in spans]
    return redacted, moved


def _add(edits: list[Edit], edit: Edit) -> None:
    """Keep the first edit of any overlapping pair (addresses are found before digit runs)."""
    if all(edit[1] <= s or e <= edit[0] for s, e, _ in edits):
        edits.append(edit)


def _spoken_digits(run: re.Match) -> list[Edit]:
    """One edit per digit word of a run that says at least MIN_SPOKEN_DIGITS digits, or two pairs
    ("two" alone, "one or two", "forty one" and "five o'clock" are words, not numbers); written
    digits are left to _DIGIT."""
    tokens = list(_TOKEN_RE.finditer(run.group(0)))
    count = pairs = 0
    for t in tokens:
        times = {"double": 2, "triple": 3}.get((t.group("times") or "").lower(), 1)
        word = (t.group("word") or "").lower()
        parts = _DE_PARTS.findall(word) if _DE_COMPOUND.fullmatch(word) else [word] if word else []
        count += times * (len(t.group("digits")) if t.group("digits") else len(parts))
        pairs += sum(part in _PAIRS for part in parts)
    if not any(t.group("word") for t in tokens) or (count < MIN_SPOKEN_DIGITS and pairs < 2):
        return []
    base = run.start()
    return [(base + t.start("word"), base + t.end("word"), "zero") for t in tokens if t.group("word")]


def _move(pos: int, edits: list[Edit], is_end: bool) -> int:
    delta = 0
    for start, end, replacement in edits:
        if pos <= start:
            break
        if pos >= end:
            delta += len(replacement) - (end - start)
            continue
        return start + delta + (len(replacement) if is_end else 0)  # inside: to the replacement's edge
    return pos + delta
