"""The default load: banking-support chat turns, none repeated, from a seed.

A handful of fixed texts against a server with an exact-match cache measures the cache, not
the model. These are drawn from templates over the banking example's intents (and a few
out-of-scope asks), filled with amounts, dates, names, merchants, account and card words and
digits, so every text differs (as the server's cache compares texts) while their length and
vocabulary stay those of real support traffic. Same seed, same texts.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Iterator

#: More tries than this in a row without a new text means the templates ran dry (a bug).
MAX_COLLISIONS = 1000

FIRST = (
    "john", "maria", "wei", "fatima", "james", "ana", "david", "priya", "michael", "sofia",
    "ahmed", "emma", "carlos", "olivia", "kenji", "grace", "luis", "chloe", "omar", "hannah",
    "daniel", "aisha", "peter", "lucy", "raj", "nina", "tom", "sara", "ivan", "mei",
)  # fmt: skip
LAST = (
    "smith", "garcia", "chen", "khan", "brown", "silva", "miller", "patel", "nguyen", "rossi",
    "jones", "kim", "lopez", "wilson", "taylor", "cohen", "murphy", "novak", "sato", "walker",
    "clark", "ali", "moore", "young", "fischer", "dubois", "hall", "evans", "reyes", "ward",
)  # fmt: skip
CITIES = (
    "boston", "seattle", "chicago", "denver", "austin", "miami", "portland", "atlanta",
    "phoenix", "dallas", "san diego", "new york", "los angeles", "london", "paris", "berlin",
    "madrid", "rome", "lisbon", "tokyo", "toronto", "mexico city", "dublin", "amsterdam",
    "istanbul", "bangkok", "sydney", "cancun", "vancouver", "prague",
)  # fmt: skip
MERCHANTS = (
    "verizon", "comcast", "netflix", "spotify", "amazon", "state farm", "pg&e", "at&t",
    "planet fitness", "geico", "t-mobile", "con edison", "xfinity", "hulu", "apple", "walmart",
    "target", "starbucks", "uber", "whole foods", "costco", "airbnb", "delta", "shell",
    "home depot", "duke energy", "progressive", "allstate", "sprint", "best buy",
)  # fmt: skip
ACCOUNTS = (
    "checking", "savings", "checking account", "savings account", "joint account",
    "business account", "student account", "money market account", "high-yield savings",
    "main account", "credit card account", "retirement account", "everyday account",
)  # fmt: skip
CARDS = (
    "debit card", "credit card", "visa", "mastercard", "amex", "virtual card", "bank card",
    "visa debit", "business card", "travel card", "platinum card",
)  # fmt: skip
MONTHS = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
)  # fmt: skip
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
RELATIVE_DAYS = ("today", "tomorrow", "yesterday", "next week", "the end of the month")
CURRENCIES = (
    ("${n}", 4), ("{n} dollars", 3), ("{n} usd", 1), ("{n} euros", 2), ("€{n}", 1),
    ("£{n}", 1), ("{n} pounds", 1), ("{n} bucks", 1),
)  # fmt: skip
OPENERS = ("", "", "", "", "", "hi, ", "hello, ", "hey, ", "quick question, ", "um, ")
CLOSERS = ("", "", "", "", " please", " thanks", " asap", "?", " thank you", " right now")
EMAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "proton.me")
STREETS = (
    "main street", "oak avenue", "maple road", "park avenue", "elm street", "lake drive",
    "pine street", "cedar boulevard", "hill road", "market street",
)  # fmt: skip

# One template a line: "{slot}" names a filler below. Each template has tens of thousands of
# fillings at least (times 60 opener and closer pairs), so collisions stay rare and two seeds
# share almost no text.
TEMPLATES = """\
what is my {account} balance, account ending {last4}
how much money is in my {account} ending {last4} as of {day}
check the balance on account number {digits8}
transfer {amount} from my {account} to my {account2}
send {amount} to {name} {date}
i want to move {amount} into {account} ending in {last4}
wire {amount} to {name} at account {digits8}
pay my {merchant} bill of {amount}
pay {amount} to {merchant} with my {card}
i need to pay the {merchant} invoice {ref} today
set up a monthly payment of {amount} to {merchant} starting {day}
schedule {amount} to {name} every {weekday}
autopay {merchant} {amount} on the {ordinal} of each month
my {card} ending {last4} was declined at {merchant}
why did my card ending in {last4} get declined for {amount}
activate my new {card} ending {last4}
i just got my {card}, the last four digits are {last4}, how do i activate it
i lost my {card} in {city} {date}
my {card} ending {last4} is missing, i think it was stolen
block my {card} ending in {last4} right away
freeze card {last4}, i can't find it since {day}
i see a charge of {amount} from {merchant} that i didn't make
someone used my {card} for {amount} in {city}
i want to dispute the {amount} charge from {merchant} {date}
i was charged twice by {merchant}, {amount} each, reference {ref}
where is my refund of {amount} from {merchant}
has the {amount} refund from {merchant} posted yet
show my last {count} transactions on my {account} ending {last4}
how much did i spend at {merchant} on my {card} since {day}
list transactions over {amount} in {month}
i need a replacement for my damaged {card} ending {last4}
send a new {card} to my address, the old one ending {last4} is broken
change the pin on my {card} ending in {last4}
i forgot the pin for my {card} ending {last4}
i'm traveling to {city} from {day} to {day2}, please note it on my {card}
going to {city} {date}, will my card ending {last4} work there
update my phone number to {phone}
change my email to {email}
my new number is {phone}, please update my profile
i'd like to open a {account} with {amount}
can i open a joint account with {name} and deposit {amount}
close my {account} ending {last4} and move the rest to {account2}
please close account {digits8}
can you raise my credit limit to {amount}
i need a higher limit on my {card}, at least {amount}
what's the rate on a {loanyears} year mortgage of {amount}
car loan rates for {amount} over {loanmonths} months
where's the nearest atm to {street} in {city}
is there an atm near {zip}
what time does the {city} branch on {street} close on {weekday}
is the branch at {street} open {date}
i need to talk to someone about case {ref}
agent please, it's about my {card} ending {last4}
can i speak to a real person, my reference is {ref}
this is {name}, account ending {last4}
hello, {name} here, i have a question about my {account} ending {last4}
yes, the {amount} to {name} is correct
yes please go ahead with the {merchant} payment of {amount}
no, don't send {amount} to {name}
no that's not right, cancel the {amount} transfer
thanks {firstname}, that's all for today, my case number is {ref}
that's everything, goodbye, ref {ref}
what's the weather in {city} {date} around {clock}
book a table for {people} in {city} at {clock}
remind me to call {name} at {clock} {date}
book a flight to {city} {date} for {people} people
"""


Draw = Callable[[], float]  # random.Random.random of the run's generator
Filler = Callable[[Draw], str]


def _below(draw: Draw, n: int) -> int:
    """0 <= k < n (randrange costs ten times more, and this runs per text)."""
    return int(draw() * n)


def _pick(values: tuple[str, ...]) -> Filler:
    return lambda draw: values[int(draw() * len(values))]


def _digits(count: int) -> Filler:
    """``count`` digits, leading zeros kept (an f-string with a width is slower)."""
    base = 10**count
    return lambda draw: str(base + int(draw() * base))[1:]


def _between(low: int, high: int) -> Filler:
    return lambda draw: str(low + int(draw() * (high - low)))


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


_TWO_DIGITS, _FOUR_DIGITS, _SIX_DIGITS = _digits(2), _digits(4), _digits(6)
_ORDINALS = tuple(_ordinal(n) for n in range(1, 29))
_CURRENCY_PATTERNS = tuple(
    tuple(pattern.split("{n}")) for pattern, weight in CURRENCIES for _ in range(weight)
)


def _amount(draw: Draw) -> str:
    # Mostly figures under a few hundred, log-uniform from 5 to 8,000; now and then cents.
    value = str(int(10 ** (0.7 + draw() * 3.2)))
    if draw() < 0.3:
        value += "." + _TWO_DIGITS(draw)
    before, after = _CURRENCY_PATTERNS[_below(draw, len(_CURRENCY_PATTERNS))]
    return before + value + after


def _day(draw: Draw) -> str:
    """A date as people write it: march 3rd, 3/14, 14 march, next friday, tomorrow."""
    kind = draw()
    if kind < 0.35:
        return MONTHS[_below(draw, 12)] + " " + _ORDINALS[_below(draw, 28)]
    if kind < 0.55:
        return f"{1 + _below(draw, 12)}/{1 + _below(draw, 28)}"
    if kind < 0.75:
        return f"{1 + _below(draw, 28)} {MONTHS[_below(draw, 12)]}"
    if kind < 0.9:
        return "next " + WEEKDAYS[_below(draw, 7)]
    return RELATIVE_DAYS[_below(draw, len(RELATIVE_DAYS))]


def _date(draw: Draw) -> str:
    """A date after a clause: on march 3rd, next friday, tomorrow."""
    day = _day(draw)
    return day if day.startswith("next") or day in RELATIVE_DAYS else "on " + day


def _name(draw: Draw) -> str:
    return FIRST[_below(draw, len(FIRST))] + " " + LAST[_below(draw, len(LAST))]


def _phone(draw: Draw) -> str:
    return f"+1 {201 + _below(draw, 789)} {200 + _below(draw, 800)} {_FOUR_DIGITS(draw)}"


def _email(draw: Draw) -> str:
    first, last = FIRST[_below(draw, len(FIRST))], LAST[_below(draw, len(LAST))]
    return f"{first}.{last}{_below(draw, 100)}@{EMAIL_DOMAINS[_below(draw, len(EMAIL_DOMAINS))]}"


def _ref(draw: Draw) -> str:
    letters = string.ascii_lowercase
    return letters[_below(draw, 26)] + letters[_below(draw, 26)] + "-" + _SIX_DIGITS(draw)


def _street(draw: Draw) -> str:
    return f"{1 + _below(draw, 1999)} {STREETS[_below(draw, len(STREETS))]}"


_CLOCK_MINUTES = tuple(f"{minute:02d}" for minute in range(0, 60, 5))


def _clock(draw: Draw) -> str:
    half = "am" if draw() < 0.5 else "pm"
    return f"{1 + _below(draw, 12)}:{_CLOCK_MINUTES[_below(draw, 12)]} {half}"


FILLERS: dict[str, Filler] = {
    "account": _pick(ACCOUNTS),
    "account2": _pick(ACCOUNTS),
    "card": _pick(CARDS),
    "merchant": _pick(MERCHANTS),
    "city": _pick(CITIES),
    "month": _pick(MONTHS),
    "weekday": _pick(WEEKDAYS),
    "firstname": _pick(FIRST),
    "name": _name,
    "amount": _amount,
    "date": _date,
    "day": _day,
    "day2": _day,
    "last4": _digits(4),
    "digits8": _digits(8),
    "zip": _digits(5),
    "phone": _phone,
    "email": _email,
    "ref": _ref,
    "street": _street,
    "clock": _clock,
    "count": _between(2, 400),
    "people": _between(2, 13),
    "ordinal": lambda draw: _ORDINALS[_below(draw, 28)],
    "loanyears": _pick(("10", "15", "20", "25", "30")),
    "loanmonths": _pick(("24", "36", "48", "60", "72", "84")),
}


def _parse(templates: str) -> list[tuple[str, tuple[Filler, ...]]]:
    """Each template as a positional format string and its fillers in order, built once."""
    parsed = []
    for line in templates.splitlines():
        pieces = list(string.Formatter().parse(line))
        unknown = {name for _, name, _, _ in pieces if name and name not in FILLERS}
        if unknown:
            raise ValueError(f"template {line!r} names unknown fillers {sorted(unknown)}")
        fmt = "".join(
            literal.replace("{", "{{").replace("}", "}}") + ("{}" if name else "")
            for literal, name, _, _ in pieces
        )
        parsed.append((fmt, tuple(FILLERS[name] for _, name, _, _ in pieces if name)))
    return parsed


_TEMPLATES = _parse(TEMPLATES)


def unique_utterances(seed: int = 0) -> Iterator[str]:
    """An endless stream of distinct utterances, the same stream for the same seed. Every
    text is already in the form intentd's cache compares (lower case, single spaces, NFKC),
    so distinct texts are distinct cache keys. Memory grows with the texts drawn (a set)."""
    draw = random.Random(seed).random
    seen: set[str] = set()
    collisions = 0
    count = len(_TEMPLATES)
    while True:
        template, fillers = _TEMPLATES[int(draw() * count)]
        text = (
            OPENERS[int(draw() * len(OPENERS))]
            + template.format(*[fill(draw) for fill in fillers])
            + CLOSERS[int(draw() * len(CLOSERS))]
        )
        if text in seen:
            collisions += 1
            if collisions > MAX_COLLISIONS:
                raise RuntimeError("the utterance templates ran out of distinct texts")
            continue
        collisions = 0
        seen.add(text)
        yield text
