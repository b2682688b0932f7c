"""Money: amount (decimal string) + ISO 4217 currency, from digits, symbols, codes and words.

"$250", "€40.50", "1,200.00 USD", "250 dollars", "two hundred bucks", "fifty quid", "a grand",
"$12k", "€1.200,00"; as spoken: "a buck fifty" (1.50), "two pounds fifty" (2.50), "50p", "a fiver". The currency is the one the text names; else the domain's default_currency.

Unresolved rather than guessed: a number with no single reading (numbers.py: "1.200", "1,2,3,4",
"1e3"), two numbers ("2 x $50", "two fifty", "1h30m"; "$20 and 50 cents" is one amount), a spoken
unit before its number with no count ("buck fifty": a buck fifty or two bucks fifty?), millions as
"m" with no currency ("30m": or 30 minutes?), an amount over MAX_AMOUNT, one with more decimal
places than its currency's minor units ("$40.505", "¥100.50": the smallest unit a customer moves;
two at most), and one in a currency not read ("50 riyals", "500 kr", "Rs 500").
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal
from functools import cache

from .numbers import DASH, MAX_INPUT, PERCENT_SIGN, VAGUE, decimal_str, find_amount, pause_end, words_to_digits

# Active ISO 4217 codes a customer may type (upper- or lower-case) next to an amount.
ISO_4217 = frozenset("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD
CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD
GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT
LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR
NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP
STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF
XPF YER ZAR ZMW ZWL
""".split())
MAX_AMOUNT = Decimal(10) ** 12  # one trillion: beyond it, a misread number, not a payment
CENT = Decimal("0.01")
DOLLAR_CURRENCIES = frozenset({"USD", "CAD", "AUD", "NZD", "SGD", "HKD", "TWD", "JMD", "BSD", "BBD", "TTD"})
_PREFIXED_DOLLAR = {"us$": "USD", "c$": "CAD", "ca$": "CAD", "a$": "AUD", "au$": "AUD", "nz$": "NZD",
                    "s$": "SGD", "hk$": "HKD", "nt$": "TWD"}
_SYMBOLS = {"€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "₩": "KRW", "₽": "RUB", "₺": "TRY", "₪": "ILS",
            "₱": "PHP", "₫": "VND", "฿": "THB", "₦": "NGN", "₴": "UAH", "zł": "PLN", "r$": "BRL",
            "mx$": "MXN", "mex$": "MXN", "rmb": "CNY", "元": "CNY", "kč": "CZK"}
_WORDS = {"dollar": "$", "dollars": "$", "buck": "$", "bucks": "$", "euro": "EUR", "euros": "EUR",
          "pound": "GBP", "pounds": "GBP", "quid": "GBP", "sterling": "GBP", "yen": "JPY", "rupee": "INR",
          "rupees": "INR", "franc": "CHF", "francs": "CHF", "yuan": "CNY",
          "renminbi": "CNY", "zloty": "PLN", "kronor": "SEK", "krona": "SEK",
          "ruble": "RUB", "rubles": "RUB", "rouble": "RUB", "roubles": "RUB", "rand": "ZAR",
          "reais": "BRL", "rupiah": "IDR", "baht": "THB", "shekel": "ILS", "shekels": "ILS",
          "forint": "HUF", "forints": "HUF", "lira": "TRY", "naira": "NGN", "hryvnia": "UAH",
          "dirham": "AED", "dirhams": "AED", "won": "KRW", "cents": "¢", "cent": "¢", "pence": "p"}
# "canadian dollars", "argentine pesos", "danish kroner": the adjective names the currency
_ADJECTIVES = {"canadian": "CAD", "australian": "AUD", "aussie": "AUD", "singapore": "SGD", "kiwi": "NZD",
               "zealand": "NZD", "kong": "HKD", "american": "USD", "us": "USD", "jamaican": "JMD", "taiwan": "TWD",
               "taiwanese": "TWD", "mexican": "MXN", "argentine": "ARS", "argentinian": "ARS", "chilean": "CLP",
               "colombian": "COP", "philippine": "PHP", "swiss": "CHF", "danish": "DKK", "norwegian": "NOK",
               "swedish": "SEK", "icelandic": "ISK", "czech": "CZK", "hungarian": "HUF", "indian": "INR",
               "pakistani": "PKR"}
# Currency words and signs with no one ISO code alone ("kroner": Danish or Norwegian? "pesos": which
# country's? "kr", "Rs", "R", "Fr.": Swedish or Danish crowns, Indian or Pakistani rupees, rand or
# real, Swiss or CFA francs) or none at all (crypto): unresolved without such an adjective, never
# read in the domain's default currency. So is any other currency's name (_currency_names) or sign.
_NO_ONE_CODE = frozenset("kroner krone krona peso pesos dinar dinars bitcoin bitcoins btc eth ether crypto "
                         "kr rs r fr lbs".split())
# Lower-case codes accepted as currencies; any other ISO code only when written in capitals
# ("all", "top", "try" and "cup" are English words).
_COMMON_CODES = frozenset("usd eur gbp cad aud nzd jpy chf cny inr mxn sek nok dkk pln sgd hkd zar brl".split())
# a sign with letters before "$" ("us$", "nt$", "mex$"), a word (letters of any script: "eur" of
# "eur500", "kč", "元"), or one other character ("$", "€", "₸")
_TOKEN = re.compile(r"[^\W\d_]{1,3}\$|[^\W\d_]+|[^\w\s]")
_CAPITALS = re.compile(r"(?<![^\W\d_])[A-Z]{3}(?![^\W\d_])")  # "AED", "HUF" of "HUF500"
_LETTERS = re.compile(r"[^\W\d_]+")
# what may follow an amount the model tagged without it: "5000 | HUF", "5 | per cent", "$50|-100"
# (a whole word: "won" of "won't" is none; a dash before letters joins words: "50-dollar fee")
_AFTER = re.compile(rf"\s*({PERCENT_SIGN}|[^\W\d_]{{1,3}}\$|[^\W\d_]+(?![\w'’])|[^\w\s](?![^\W\d_]))",
                    re.IGNORECASE)
# searched in the few characters before the span only: over a whole long text it backtracked
# through every word (114 ms for a 2,000-character one, on the event loop)
_BEFORE = re.compile(r"(?<![^\W\d_])([^\W\d_]{1,3}\$|[^\W\d_]+|[^\w\s])\.?\s*$")  # "AED | 200", "Rs. | 500"
_BESIDE_CHARS = 24
# currency names that are also English words or names ("send 50 Mark for dinner", "pay 20 Sol
# back"): beside an amount they count as currencies only written in lower case
_HOMOGRAPHS = frozenset("won rand real reals mark marks sol soles kip dong lei tala kina pula taka dram lev".split())
_DASH = re.compile(DASH)
_MAJOR = r"(?:bucks?|dollars?|pounds?|quid|euros?)"  # a spoken unit, with its minor units after it
# the words of an amount a model's span may leave out right before it: a number, a multiplier (with
# its "and": "one hundred and | fifty") or a spoken unit ("move two | hundred": 100; "two | fifty",
# "a buck | fifty": 50), and the article of a unit or a multiplier ("a | buck fifty")
_SAID_BEFORE = re.compile(r"(?<![\w.,])(?:\d[\d.,]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"
                          r"|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty"
                          rf"|fifty|sixty|seventy|eighty|ninety|(?:hundred|thousand|million|billion)(?:\s+and)?"
                          rf"|{_MAJOR}|(?P<article>a))[\s-]+$", re.IGNORECASE)
_COUNTED = re.compile(rf"(?:hundred|thousand|million|billion|grand|{_MAJOR})\b", re.IGNORECASE)
# ... and the number words a span that ends in one may leave out right after it: "a hundred |
# and one", "twenty | five hundred" (not a count: "a hundred | and two payments" is read as said)
_NUMBER_WORDS = frozenset("""one two three four five six seven eight nine ten eleven twelve thirteen fourteen
fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand
million billion""".split())
_NEXT_WORD = re.compile(r"\s+([^\W\d_]+(?:-[^\W\d_]+)*)")
_COUNTED_AFTER = "time|payment|installment|transfer|second|minute|hour|day|week|month|year"  # a number after an amount counts
_COUNTS_MANY = re.compile(rf"\s+(?:{_COUNTED_AFTER})s\b", re.IGNORECASE)  # "fifty bucks two | times" ("a usd 500 | payment": $500)
_TRAILING_JOINER = re.compile(r"(?:[\s,]|\band\b)+$", re.IGNORECASE)  # "200 dollars, | 3 times"
_WORD_AND_SPACE = re.compile(r"(\S+)\s*")
_AMOUNT_GLUE = frozenset("and a an k m bn grand".split())  # words of an amount that are no number or currency
_TENS = frozenset("twenty thirty forty fifty sixty seventy eighty ninety".split())
_ORDINAL_NEXT = re.compile(r"[\s-]+(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth)\b", re.IGNORECASE)
_LAST_TOKEN = re.compile(r"(\w+(?:-\w+)*)$")
_LAST_WORD = re.compile(r"([^\W\d_]+(?:-[^\W\d_]+)*)$")
_COUNTS_A_THING = re.compile(rf"\s+(?:more|people|persons?|items?|fortnights?|(?:{_COUNTED_AFTER})s?)\b", re.IGNORECASE)
_PERCENT = re.compile(PERCENT_SIGN)
_HOUR = r"(?:1[0-2]|0?[1-9])(?::[0-5]\d)?"  # an hour of a 12-hour clock
_CLOCK = re.compile(r"\d\s*(?:[ap]\.?m\.?|o['’]?\s?clock)(?!\w)"
                    # an hour after a day and "at": "tonight at 7", "friday at 8" ("10 tonight" may be $10)
                    r"|\b(?:tonight|today|tomorrow|morning|afternoon|evening|night|"
                    r"(?:mon|tues|wednes|thurs|fri|satur|sun)day)"
                    rf"\s*,?\s+(?:at|by)\s+{_HOUR}(?![\d:]|[.,]\d)", re.IGNORECASE)
_CENTS = re.compile(r"\band\s+(\d{1,2})\s*(?:cents?|pence|p)\b")
# Spoken forms, read before the number words: "a buck", "a fiver" (one unit, five of them)
# (only "a": "one" may end a number, "twenty-one dollars", which the number words read whole)
_ONE_MAJOR = re.compile(rf"\ba\s+(?={_MAJOR}\b)")
_SLANG = re.compile(r"\b(?:a\s+)?(fiver|tenner)\b")
_SLANG_VALUE = {"fiver": 5, "tenner": 10}
_SLANG_COUNTED = re.compile(r"(?<![\d.,])(\d+)\s+(fiver|tenner)s\b")  # "two fivers", after the number words
# ... and after them: "1 buck 50", "2 pounds and 50" (the minor units end the text, with no
# unit of their own), "50p", "50 c"
_MAJOR_MINOR = re.compile(rf"(?<![\d.,])(\d+)\s*({_MAJOR})\s+(?:and\s+)?(\d{{1,2}})\s*[.!?]?\s*$")
_MINOR_LETTER = re.compile(r"(?<=\d)\s*(p|c)\b(?!\$)")  # not the c of "100 c$" (Canadian dollars)
_UNIT_FIRST = re.compile(rf"\D*?\b{_MAJOR}\b")  # a spoken unit before any digit: "buck 50", "dollars 50"


def resolve_money(text: str, default_currency: str | None) -> dict | None:
    t = words_to_digits(_spoken(text[:MAX_INPUT]))
    if VAGUE.search(text[:MAX_INPUT]) or VAGUE.search(t):  # "half a million", "-50", "five percent": no one amount
        return None
    if _CLOCK.search(t):  # "5 pm", "five o'clock", "tonight at 7": a time of day ("sure at 5 pm" made a payment $5)
        return None
    t = _SLANG_COUNTED.sub(lambda m: str(int(m.group(1)) * _SLANG_VALUE[m.group(2)]), t)
    t = _MAJOR_MINOR.sub(lambda m: f"{m.group(1)}.{int(m.group(3)):02d} {m.group(2)}", t)
    if _UNIT_FIRST.match(t):  # "buck fifty": a buck fifty or two bucks fifty? its count is not said
        return None
    t = _MINOR_LETTER.sub(lambda m: " pence" if m.group(1) == "p" else " cents", t)
    cents = _CENTS.search(t)  # "and 50 cents": the one second number an amount may have
    if cents is not None:
        t = t[: cents.start()] + t[cents.end():]
    found = find_amount(t)
    if found is None:
        return None
    amount, m = found
    if amount > MAX_AMOUNT or amount == 0:  # "make it 0": no amount anyone pays or moves
        return None
    default = (default_currency or "").upper()
    currency = explicit = ""
    minor = False  # "50 cents", "20p", "50 euro cents"
    capitals = _capitals(text)
    tokens = _TOKEN.findall(t)
    for i, tok in enumerate(tokens):
        adjective = _ADJECTIVES.get(tokens[i - 1], "") if i else ""
        unreadable = _unreadable(tok)
        if unreadable and not adjective:
            return None
        code = _currency_of(tok, default, capitals)
        if code == "¢" or code == "p":
            minor = True
            continue
        if adjective and (unreadable or _WORDS.get(tok) or tok == "$"):
            code = adjective
        if code and tok.upper() == code:  # an ISO code written out ("$50 CAD"): it decides over a symbol
            explicit = explicit or code
        if code and not adjective:
            after = _said_after(tokens, i)
            if after is None:  # "200 pounds canadian": which?
                return None
            code = after or code
            explicit = explicit or after
        currency = currency or code
    currency = explicit or currency
    if not currency and m.group("mult") == "m":  # "30m": 30 million or 30 minutes? only a currency says
        return None
    if cents is not None and m.end() > cents.start():  # "and 5 cents, $20": cents before the amount
        return None
    if cents is not None:
        amount += Decimal(cents.group(1)) / 100
        currency = currency or default
        amount = amount.quantize(CENT)
    elif minor:
        amount = amount / 100
        if amount != amount.quantize(CENT):  # "50.5 cents"
            return None
        amount = amount.quantize(CENT)
        currency = currency or ("GBP" if "pence" in t else (default if default in DOLLAR_CURRENCIES else "USD"))
    currency = currency or default
    unit = minor_unit(currency)
    if amount > MAX_AMOUNT or amount != amount.quantize(unit):  # "$40.505", "¥100.50"
        return None
    if amount.as_tuple().exponent < unit.as_tuple().exponent:  # "$1.2345k": 1234.5000 is 1234.50
        amount = amount.quantize(unit)
    return {"kind": "money", "amount": decimal_str(amount), "currency": currency}


def says_a_time(said: str) -> bool:
    """Whether `said` holds a time of day, which no amount does: "5pm", "tonight at 7"."""
    return _CLOCK.search(words_to_digits(_spoken(said[:MAX_INPUT]))) is not None


# "a million | and a half", "1 | and a half k": the amount goes on (read alone, it was $1,000,000 and $1)
_FRACTION_AFTER = re.compile(r"\s*,?\s*(?:and\s+)?(?:a\s+)?(?:half|quarter|three\s+quarters)\b", re.IGNORECASE)


def fraction_after(text: str, end: int) -> bool:
    """Whether the amount ending at `end` goes on with a fraction: then it is unresolved (asked)."""
    return _FRACTION_AFTER.match(text, end) is not None


_UNITS = {"$": "dollar", "buck": "dollar", "bucks": "dollars", "quid": "pound"}  # what CLDR calls them


def _said_after(tokens: list[str], i: int) -> str | None:
    """The currency the words after the unit tokens[i] name ("200 dollars | canadian", "pounds |
    egyptian", "dollars | hong kong"): its code, "" when they name none, None when they name one of
    another unit ("200 pounds canadian"). Said after its unit, the adjective was dropped: 200
    dollars canadian was 200 USD."""
    names = _post_posed()
    unit = _UNITS.get(tokens[i], tokens[i])
    for k in (3, 2, 1):
        units = names.get(" ".join(tokens[i + 1:i + 1 + k])) if i + k < len(tokens) else None
        if units is not None:
            return units.get(unit)
    return ""


@cache
def _post_posed() -> dict[str, dict[str, str]]:
    """The words before the unit in each currency's English name (CLDR: "canadian" of "Canadian
    dollar", "hong kong" of "Hong Kong dollars"), and the adjectives above, each with its units."""
    from babel.numbers import get_currency_name

    out: dict[str, dict[str, str]] = {}
    for code in ISO_4217:
        for count in (1, 2):
            words = get_currency_name(code, count, "en").lower().split()
            if len(words) > 1:
                out.setdefault(" ".join(words[:-1]), {})[words[-1]] = code
    for adjective, code in _ADJECTIVES.items():
        if adjective not in out:
            units = next((u for u in out.values() if code in u.values()), {})
            out[adjective] = {unit: c for unit, c in units.items() if c == code}
    return out


def beside(text: str, start: int, end: int, floor: int = 0, ceiling: int | None = None) -> tuple[int, int]:
    """Where the amount of the model's span text[start:end] lies: with what says what it is when
    that lies just outside it: the word after it, or the code or sign before it, that names a currency
    ("transfer 5000 HUF", the span "5000"; "send 50 riyals": unresolved), a percent ("5 per
    cent"), or what is written against its digits ("50k", "-50"). A currency's name before the
    number is a word of the sentence ("I won 500 dollars"). The numbers and spoken units right
    before a span that opens with a word are the amount's ("move two | hundred" is 200, "a buck |
    fifty" 1.50, never 100 or 50; "two | fifty" is read whole, unresolved); "a" only before a unit
    or a multiplier; after a span that ends in a number word, the number words it left out ("a
    hundred | and one" is 101, "twenty | five hundred" 2,500). Never before digits ("december 3 | 1000 dollars", "card ending 1234 | 500
    dollars": $1,000 and $500, not 3,000 and 1,234,500), nor before `floor` (the end of another
    entity the model found: "march fifteen | two hundred dollars"), nor number words after `ceiling`
    (where the next entity starts: "a hundred | three days from now" is 100). A number the span
    ends with that counts what follows is no part of it: "fifty bucks two | times" is 50."""
    while not text[start:start + 1].isdigit() and (
            said := _SAID_BEFORE.search(text, max(floor, start - _BESIDE_CHARS), start)) is not None:
        if said.group("article") is not None and not _COUNTED.match(text, start):
            break
        start = said.start()
    ceiling = len(text) if ceiling is None else max(ceiling, end)
    end = _uncounted_end(text, start, end)
    longer = number_words_after(text, start, end)
    end = longer if longer <= ceiling else end  # never into the next entity: "one hundred | twenty first of december"
    capitals = _capitals(text)
    named = _names_currency(text[start:end], capitals)  # "$50 real quick": the span says it already
    after = _AFTER.match(text, end)
    if after and _belongs(after.group(1), capitals, after.start(1) == end, named):  # "35 | euros": over a stray span
        end = after.end()
    before = _BEFORE.search(text, max(0, start - _BESIDE_CHARS), start)
    if (before and not _is_name(before.group(1).lower())
            and _belongs(before.group(1), capitals, before.end(1) == start, named)):
        start = before.start()
    return start, end


def number_words_after(text: str, start: int, end: int) -> int:
    """Where the amount ends when the span text[start:end] ends in a number word and more follow
    ("and" between them: "a hundred | and one"); `end` when they count a pause or a thing ("a
    hundred | and one second", "twenty | two payments")."""
    last = _LAST_WORD.search(text, start, end)
    if last is None or not _number_word(last.group(1)):
        return end
    pos = out = end
    while (m := _NEXT_WORD.match(text, pos)) is not None:
        word = m.group(1).lower()
        if word in _TENS and _ORDINAL_NEXT.match(text, m.end()):
            break  # "a hundred | twenty first of december": the twenty-first, a date
        if _number_word(word):
            out = m.end()
        elif word != "and" or out != pos:
            break
        pos = m.end()
    if out == end or pause_end(text, out) is not None or _COUNTS_A_THING.match(text, out):
        return end
    return out


def _uncounted_end(text: str, start: int, end: int) -> int:
    """`end`, or where the span's words end before its last one when that is a number counting
    what follows it ("fifty bucks two | times", "twenty dollars twenty | times": not $50.02)."""
    last = _LAST_TOKEN.search(text, start, end)
    if last is None or last.start() == start or not _COUNTS_MANY.match(text, end):
        return end
    if not (last.group(1).isdigit() or _number_word(last.group(1))):
        return end
    return len(_TRAILING_JOINER.sub("", text[start:last.start()])) + start


def amount_only(text: str) -> bool:
    """Whether the words of `text` are an amount's alone (numbers, currencies, "and", "a"): "fifty
    bucks", "$20", "a hundred and five"; not "five guys" or "century 21", names with a number."""
    return all(w in _NUMBER_WORDS or w in _WORDS or w in _ADJECTIVES or w in _AMOUNT_GLUE
               or w.upper() in ISO_4217 for w in _LETTERS.findall(text.lower()))


def leading_number_words(text: str) -> int:
    """How many characters of `text` its opening cardinal number words take: "twenty five on
    friday" -> 11; "the 25th", "twenty-fifth" -> 0."""
    end = 0
    for m in _WORD_AND_SPACE.finditer(text):
        if m.start() != end or not _number_word(m.group(1)):
            break
        end = m.end()
    return len(text[:end].rstrip())


def _number_word(word: str) -> bool:
    return all(part in _NUMBER_WORDS for part in word.lower().split("-"))


def _belongs(token: str, capitals: set[str], touching: bool, named: bool) -> bool:
    """Whether a word beside an amount is part of it: letters or a dash written against it ("50k",
    "50p", "EUR500", "-50", "$50-100"), a percent, or a currency, read or not, when the span names
    none (an ISO code in capitals always: "$50 CAD" is CAD). A currency name that is also an
    English word or a name counts only in lower case ("send 50 Mark for dinner")."""
    word = token.lower()
    if touching and (word.isalpha() or _DASH.fullmatch(word)):
        return True
    if _PERCENT.fullmatch(word) or token in capitals:
        return True
    if named or (word in _HOMOGRAPHS and not token.islower()):
        return False
    return bool(_currency_of(word, "", capitals)) or _unreadable(word)


def _names_currency(span: str, capitals: set[str]) -> bool:
    return any(_currency_of(tok, "", capitals) not in ("", "¢", "p") or _unreadable(tok)
               for tok in _TOKEN.findall(span.lower()))


def _is_name(word: str) -> bool:
    """A currency's name ("dollars", "won", "riyals"): a word, which before a number may be the
    sentence's own ("I won 500")."""
    return word in _WORDS or word in _currency_names()


def _capitals(text: str) -> set[str]:
    """ISO codes written in capitals ("200 AED"), unless the whole text is in capitals with other
    words ("SEND ALL 300": shouting says nothing of what a word is; digits and a code are no shouting)."""
    if text.isupper() and any(word not in ISO_4217 for word in _LETTERS.findall(text)):
        return set()
    return set(_CAPITALS.findall(text))


def _unreadable(token: str) -> bool:
    """A currency these tables do not read, so the amount is not read either ("kroner", "riyals",
    "kr", "EC$", "₸", "лв"), never taken for the domain's default currency."""
    if token in _NO_ONE_CODE:
        return True
    if token in _WORDS or token in _SYMBOLS or token in _PREFIXED_DOLLAR or token in ("$", "¢"):
        return False
    if token.endswith("$") or token in _currency_names():
        return True
    if len(token) == 1 and not token.isalnum():
        return unicodedata.category(token) == "Sc"  # a currency sign
    # a word in another script beside an amount the model read in English: its currency
    return token.isalpha() and not any(unicodedata.name(c, "").startswith("LATIN") for c in token)


@cache
def _currency_names() -> frozenset[str]:
    """The last word of each active currency's English name, singular and plural, from CLDR
    ("riyals", "lei", "dinars", "marks")."""
    from babel.numbers import get_currency_name

    names = (get_currency_name(code, count, "en") for code in ISO_4217 for count in (1, 2))
    return frozenset(word for word in (name.split()[-1].lower() for name in names) if word.isalpha())


@cache
def minor_unit(currency: str) -> Decimal:
    """The smallest amount of `currency` a customer moves: its minor unit as CLDR counts it (0.01;
    1 for JPY, KRW, HUF), at most two places (a carried amount has at most two: carried.py)."""
    from babel.numbers import get_currency_precision

    return Decimal(1).scaleb(-min(2, get_currency_precision(currency))) if currency else CENT


def _spoken(text: str) -> str:
    text = _ONE_MAJOR.sub("1 ", text.lower())
    return _SLANG.sub(lambda m: str(_SLANG_VALUE[m.group(1)]), text)


def _currency_of(token: str, default: str, capitals: set[str]) -> str:
    if token in _PREFIXED_DOLLAR:
        return _PREFIXED_DOLLAR[token]
    if token == "$":
        return default if default in DOLLAR_CURRENCIES else "USD"
    if token in _SYMBOLS:
        return _SYMBOLS[token]
    if token == "¢":
        return "¢"
    word = _WORDS.get(token)
    if word == "$":
        return default if default in DOLLAR_CURRENCIES else "USD"
    if word:
        return word
    upper = token.upper()
    if len(token) == 3 and upper in ISO_4217 and (token in _COMMON_CODES or upper in capitals):
        return upper
    return ""


def format_money(resolution: dict) -> str:
    """Display form for responses: "$200.00" for USD, "200.00 EUR" otherwise, with the places the
    currency has ("5,000 JPY": "5,000.00 JPY" read back yen no one has)."""
    amount = Decimal(resolution["amount"])
    currency = resolution.get("currency") or ""
    places = -minor_unit(currency).as_tuple().exponent if currency else 2
    shown = f"{amount:,.{places}f}"
    if currency == "USD":
        return f"${shown}"
    return f"{shown} {currency}".strip()
