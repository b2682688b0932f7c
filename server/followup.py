"""Conversation context: a short follow-up turn resolved against the previous one.

The caller sends what it knows of the conversation (`previous_intent`, `filled_slots`); the server
keeps no state. The rule (docs/resolution.md, "Follow-ups"): a turn is a follow-up when
`previous_intent` is an intent of the domain (other than the confirmation, denial, hold and repeat
intents themselves), the turn has at most MAX_WORDS words or is nothing but values of the
previous intent's slots, fillers and the words that place them ("no, sorry, I meant from my joint
account to my checking account"), and

0. its own top intent is a confident intent that the domain escalates by policy (`escalate:`,
   e.g. report_fraud) and not the previous one, and the turn is more than a value of the previous
   intent's slots -> not a follow-up: "actually, fraud on my checking account" goes to a person;
1. it carries a value for the previous intent's slots and says it corrects ("make it", "change
   it", "actually", "instead", "rather") or points at a carried value ("the other card"), and its
   own top intent asks nothing else (rule 4's condition, or a confirmation or denial intent: "make
   it 75" read as a yes) -> update; "actually, what's my savings balance" is a request of its own;
2. its own top intent is a confident confirmation intent ("yes") -> confirm; or update when the turn also
   carries a value ("sure, 150": read back before anything is confirmed), or says when in words no
   rule reads ("can you do it sooner": the date asked); a turn with a number no rule read or a
   value the intent has no slot for ("sure thing, the 15th", "sure, on my visa" of a transfer), or
   asking another time of an intent with none to change, is a repeat (nothing confirmed);
3. its own top intent is a confident denial intent ("no") -> cancel; or update when the turn also
   carries a value for the previous intent's slots ("no, the debit card", "no, the other card",
   "nope, 75"); 2 and 3 at any length when the turn names nothing ("yes that's correct thank you
   so much");
3a. its own top intent is a confident hold intent ("hold on", "um, let me think") and it carries no
   value -> hold: nothing changes, and the question or confirmation asked still stands;
3b. its own top intent is a confident repeat intent ("sorry, what?", "say that again") and it
   carries no value -> repeat: nothing changes, and the previous answer is given again (3a and 3b
   at any length: "hold on a second let me grab my card", whatever values a long one names);
4. it carries a value for the previous intent's slots and either has no confident intent of its
   own (escalated as out of distribution, low confidence or ambiguous), or its own intent is the
   previous one or a hold or repeat intent ("hold on, 50 bucks"), or it is nothing but that value
   and filler words ("the debit card" answering "Which card?", whatever intent the model reads
   into two words; "take it out of my checking", "my debit card I think") -> update.

"Confident" is not escalated as out of distribution, low confidence or ambiguous: a reply the
model reads as "yes" at 0.24 ("the savings one") is no confirmation.

Values for the previous intent's slots: this turn's resolved entities of those types (dates read in
the previous intent's direction: "make it last friday" is no date for a payment ahead, and the slot
is asked again), and the words between them read as below for a slot they do not fill or one more
catalog value ("no, from joint to checking", "checking" tagged); when there are none, the turn's
words less cue and filler words, read as a value of the slot the previous answer asked for (the
first of the `slots_missing` the caller sent back, else its first required slot not carried:
"the 15" answering "When?" is the 15th, also when the model tagged it as an amount), else of each non-free slot
type in `slots` order ("make it 50": amount, "friday instead": date; dates in that direction too:
"no, yesterday" untagged is refused for a payment ahead, a correction, not a cancel), never as an
amount after "at", "on", "by"... ("make it at 5"), nor as an amount or a number beside a noun it
counts or names ("two weeks", "3 payments", "option 2", "the account ending 4321");
"the other <type>" ("the other card", or "the other one" when a single catalog slot is carried) is
the catalog's one value that is not the carried one, and when the catalog has more than two values
the slot is asked for again. "the other way around" gives each value carried with a role the other
role (from checking to savings instead). "one" after "that", "this", "which", "another", "the ..."
or "a ..." ("that one", "the first one", "the joint one", "a new one") points at something and is
never read as the number 1.

The answer: `follow_up` {kind, intent}; the escalation hint is the previous intent's policy (an
`escalate:` intent still goes to its tier, except on cancel), else none; the response is built for
the previous intent from the merged slots: this turn's values replace the carried ones, or, for a
slot of several values (accounts, cards), are added after them when the turn opens with "and",
"also" or "plus" or ends with "too" or "as well" (an amount or a date is replaced: "and at 3 pm"
is the agreed day at 3 pm). Confirm: once every required slot is known, and every optional one
the last answer asked for, the confirmation intent's own template with the merged slots in
`slots_used` (else the prompt for the first missing slot). Cancel: the denial intent's template, no slots. Hold: the
hold intent's template with the previous intent's `slots_used` and `slots_missing`, so a backend
carries them to the next turn as after any other follow-up. Repeat: the previous intent's response
from the carried slots, the one the caller did not catch. A confident repeat intent with no intent to continue
(none given, or a confirmation, denial, hold or repeat intent) is a repeat of no intent (`intent`
empty): the backend, which cleared the context after a decided turn, says its own last answer again.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from rapidfuzz import process
from rapidfuzz.distance import OSA

from . import locale as locales
from .analysis import SINGLE_VALUED, Escalation, FollowUp, RequestOptions, ResolvedEntity, Response
from .decode import Prediction
from .escalation import EscalationPolicy
from .resolve import DomainConfigError, Resolver
from .resolve.catalog import a_persons_name
from .resolve.dates import (A_CLOCK_HOUR, DOTTED_DATE, HOUR_WORDS, WEEKDAYS, TimeOfDay, bare_hour, clock_or_count,
                             day_named_before, day_of_month, days_refused, hour_in, names_a_day, names_a_month,
                             says_tonight, time_only, wall_time, zone_at)
from .resolve.money import amount_only, says_a_time
from .resolve.numbers import counts_a_pause, pause_end, words_to_digits
from .resolve.resolver import AMOUNTS, LEADING_ROLE, after_not, role_of
from .respond import DAY, ROLES, Responder, day_key

MAX_WORDS = 6
RUN_WORDS = 3  # words beside the tagged values read as one more value ("seventy five dollars")
FREE_ANSWER_BELOW = 0.9  # a turn whose own intent is this sure is a request, not a free-text answer
# ... and for an intent the domain sends to a person: "Amazon" answering "Which payee?" read as
# speak_to_agent at 0.43 is the payee; "let me talk to someone" (0.83) is not
POLICY_FREE_ANSWER_BELOW = 0.5
CONFIRM_INTENTS = ("affirm",)  # defaults; a domain may list its own under follow_ups: {confirm, cancel, hold, repeat}
CANCEL_INTENTS = ("deny",)
HOLD_INTENTS = ("hold",)
REPEAT_INTENTS = ("repeat",)
UNSURE = ("out_of_distribution", "low_confidence", "ambiguous")  # escalations that mean "no intent of its own"
_TOKEN = re.compile(r"\S+")
_CORRECTION = re.compile(r"\b(?:make it|change it|switch it|actually|instead|rather)\b", re.IGNORECASE)
_ADDITIVE = ("and", "also", "plus")
# how a turn that corrects a carried name opens: "no, Target", "actually Target", "sorry I meant Target"
_REPAIR_CUES = ("no", "nope", "nah", "actually", "sorry", "oops", "wait", "i meant", "i mean", "not")
_REPAIR_CUE = re.compile(r"\W*(?:%s)\b" % "|".join(c.replace(" ", r"\s+") for c in _REPAIR_CUES), re.IGNORECASE)
_REPAIR_WORDS = frozenset(c.split()[-1] for c in _REPAIR_CUES)  # the cue's words a name is not made of
# words that make a no conditional or partial ("no, only the first one", "no, maybe later"), and
# more that make a yes a correction ("yes but ...", "yes, actually ...", "yes it's wrong ...")
_QUALIFIERS = frozenset("""
but though although however except instead rather change only until unless if more less half twice double
different another other maybe might perhaps probably later think
""".split())
_YES_QUALIFIERS = _QUALIFIERS | {"not", "actually", "wrong", "wait", "hold", "mean", "meant", "just"}
_YES_WORDS = frozenset({"yes", "yeah", "yep", "yup", "sure", "ok", "okay", "correct", "right", "go", "absolutely"})
_NO_WORDS = frozenset({"no", "nope", "nah", "don't", "not", "never", "cancel", "stop"})
# in a turn the model reads as a yes: a pause ("hold it", "I'll think about it"), or no yes at all
# ("go ahead and cancel it"), whatever the model reads
_PAUSING = frozenset({"hold", "wait", "hang"})  # the turn's first word
_MULLING = re.compile(r"\bthink (?:about it|it over|on it)\b|\bsleep on it\b")
_STOPPING = frozenset({"cancel", "stop", "scrap", "don't", "dont", "never"})
_SENTENCE_END = re.compile(r"[.!?]\s+$")  # a capital after it opens a sentence, it names nothing
# words that stop, leave, ask for help or judge, capitalised or not: never a name after a no
_NO_NAMES = frozenset("""
cancel stop quit exit end abort drop skip leave forget never mind help agent representative human person operator
customer service nothing none both whatever good fine ok okay later continue proceed done wrong keep who why what how
when where bye goodbye hello hi yes yeah please thanks thank bad mistake anyway all it that this one
""".split())
# ... and that say only that ("no" alone is a no, a cancel)
_UNKNOWN = re.compile(r"\b(?:(?:i'?m\s+)?not\s+(?:sure|certain)|(?:i\s+)?(?:don'?t|do\s+not)\s+know|dunno|no\s+idea"
                      r"|near\s+me|nearby|around\s+here)\b", re.IGNORECASE)
# words that say the caller has no answer, or one the service cannot know: never free text
_NO_ANSWER = re.compile(r"\b(?:not|no|don'?t|dunno|idea|sure|know|near me|nearby|around here|here|where)\b",
                        re.IGNORECASE)
_SWAP = re.compile(r"\b(?:(?:the\s+)?other\s+way\s+a?round|(?:the\s+)?(?:reverse|opposite)(?:\s+way)?"
                   r"|swap\s+them|switch\s+them(?:\s+a?round)?)\b")
_POINTED = re.compile(r"\b(?:move|push|put|send|take|change|switch|make|do)\s+(?:it|that)\b", re.IGNORECASE)
_NUMBER_NEXT = (r"(?:[$€£]|\d|(?:a|an|one|two|three|four|five|six|seven|eight|nine|ten|twenty|thirty"
                r"|forty|fifty|sixty|seventy|eighty|ninety|hundred)\b)")
_AN_AMOUNT = (r"(?:[$€£]\s*)?(?:\d[\d.,]*|(?:one|two|three|four|five|six|seven|eight|nine|ten|twenty|thirty|forty"
              r"|fifty|sixty|seventy|eighty|ninety|hundred)\b)(?:\s*(?:dollars?|bucks?|euros?|pounds?))?")
_RELATIVE = re.compile(r"\b(?:more|less|fewer|extra|another|additional|on top|double|half|later|earlier)\b"
                       # a change by an amount: "lower it by 5", "reduce the payment by $20", "bump it up by ten"
                       r"|\b(?:lower|rais|increas|decreas|reduc|cut|bump|knock|drop|trim|add)\w*"
                       rf"(?:\s+(?!to\b)[\w']+){{0,4}}\s+by(?=\s*{_NUMBER_NEXT})"
                       rf"|\b(?:up|down)\s+(?:it\s+)?by(?=\s*{_NUMBER_NEXT})"  # "bring it down by 5", "up it by 5"
                       # "add 5", "add $5 to it", "take 5 off": (was $5)
                       rf"|\badd(?:ed)?\s+{_AN_AMOUNT}\s*(?:(?:to|onto)\s+(?:it|that|the\s+(?:payment|amount|transfer))"
                       r"\b|[.!?]*$)"
                       rf"|\b(?:take|knock|shave)\s+{_AN_AMOUNT}\s+off\b", re.IGNORECASE)
_OTHER = re.compile(r"\b(?:the\s+)?other\s+(?P<what>[a-z_]+)\b", re.IGNORECASE)
_EDGE_PUNCT = ".,!?;:\"'()"
# a turn that opens as a question asks, and names nothing ("how humid is it outside", "is anyone there")
_QUESTION = re.compile(r"\W*(?:what's|whats|what|how's|how|when|why|who|where|which|is|are|do|does|did|can|could"
                       r"|will|would|should)(?=[\s?,.!]|$)[\s?,.!]*(?P<next>[\w'’]*)", re.IGNORECASE)
_COPULAS = frozenset({"is", "was", "were", "are", "called", "named"})  # "the payee is | Comcast": no part of it
# the words a free-text answer opens with that say what it is, not its name ("it was | at
# Starbucks", "the merchant is | Home Depot", "it's | from Amazon"; "it", "the", "it's" are fillers),
# in lower case only: "At Home", "In and Out Burger", "AT and T" are the names themselves
_NAME_LEAD_IN = re.compile(r"(?:(?:[a-z]+\s+)?(?:is|was|were)\s+)?(?:(?:at|from|for|with|in|called|named)\s+)?")
_CLOCK_TIME = re.compile(r"\b(?:o['’]?\s?clock|\d\s*[ap]\.?m\.?)(?!\w)", re.IGNORECASE)  # "5 o'clock", "5pm"
# Words that carry no value: what is left of "no, make it 50 please" is "50".
_FILLER = frozenset("""
make it change switch to actually instead rather no nope nah yes yeah yep and also plus please the then ok
okay so um uh er just let's lets do how about what for that sorry i mean meant oh wait go ahead with
my hmm think guess probably maybe say it's i'm thanks thank cheers great perfect right correct that's sure
fine but too well was is were
""".split())
_TURN_WORD = re.compile(r"\S+")
_DATE_ASKED_WORDS = 6  # the most words a turn read whole as the date asked has ("yes, right away please")


# fillers that take back or doubt the words beside them: "right away? no", "maybe right away"
_DOUBTING = frozenset("no nope nah not maybe wait probably hmm think guess but".split())
_DOUBTING_NOW = _DOUBTING - {"but", "think", "guess", "hmm"}  # "yes but pay it right away" is now


def _an_hour_of_the_day(said: str) -> bool:
    """Whether `said` holds an hour before a part of the day, no currency and no verb that moves
    money with it ("make it 8 tonight"; not "send 10 tonight", "$8 tonight")."""
    return (_HOUR_THEN_PART_OF_DAY.search(said) is not None and not _CURRENCY_SAID.search(said)
            and not _MOVES_MONEY.search(said))


def _filler(word: str) -> bool:
    """Whether `word`, its punctuation aside, is a filler that says nothing of the words beside it
    ("do it right away please"), or "it"."""
    word = word.strip(_EDGE_PUNCT).lower()
    return (word in _FILLER and word not in _DOUBTING) or word == "it"


# ... and the words of a request ("can you send it", "I'd like to move it", "I need it to go to"):
# fillers of a correction only when the turn's own intent is unsure or a reply, or below VERBS_BELOW
# where a carried value has a role; else the request they make is the turn's own ("I need to move
# 200 from savings to checking" after a bill)
_VERBS = frozenset("use take put send move go come want need can could would you should i'd i'll like "
                   "prefer".split())
VERBS_BELOW = 0.8
# ... and the verbs of the action a request is for, before its value: "yes pay it | now", "ok
# schedule it | the 15th" (each confirmed the payment on its agreed Friday)
_ACTING = frozenset("pay schedule transfer process submit".split())
# ... and the words of a correction before its value: "no I said | tuesday", "no it should be |
# tomorrow", "that's wrong, | today" (each cancelled the payment)
_CORRECTING = frozenset("i said say be wrong that's thats".split())
_REQUEST_WORDS = _FILLER | _VERBS | _ACTING | _CORRECTING  # what `_past_request_words` takes off a value
_ASKING = _VERBS | _ACTING | {"do", "make"}  # the words of a request before its value ("can you do it | tomorrow")
# ... of them, those that make a time said the time to carry a request out ("can you do it
# tomorrow"; not "yes I'll be back tomorrow")
_REQUEST_VERBS = _ASKING - {"you", "i'd", "i'll", "like"}
_AGREEING_AFTER = frozenset("works work is fine good ok okay perfect great better sounds suits me".split())  # "friday | works"
_AGREEING = frozenset("that's thats that you're youre exactly alright".split())  # "that's | right"
_NOT = ("not", "of", "than", "but")  # "not checking", "rather than checking", "not savings but checking"
# the words that say which way a value goes ("from savings to checking" answers a pending transfer);
# "to" is filler already. Not filler for a bare value: "from 5" is a time
_ROLE_WORDS = ("from", "out", "of", "off", "into", "onto")
# words that place a value: "no, from my joint account to checking", "make it 75 on friday", "on monday"
_PLACING = (*_ROLE_WORDS, "on", "at", "by", "in", "next", "this", "said")
# a day said after the turn's other words, a value of its own ("make it 60 | tonight": $60 was kept, the day dropped)
_DAY_AT_THE_END = frozenset(("tonight", "today", "tomorrow"))
_APART = frozenset({"to", "from", "out", "off", "into", "onto"})  # words between two values: "20 | to joint"
# the words that place, set apart or move a value: no part of a name ("20 | to joint", "send | 50")
_MOVING = frozenset(_PLACING) | _APART | _VERBS
_DOTTED_TIME_SAID = re.compile(r"(?:(?:at|by)\s+)?(?P<h>[01]?\d|2[0-3])\.(?P<m>[0-5]\d)", re.IGNORECASE)  # "9.30", "at 16.30"
_BARE_DAY = re.compile(r"(?:the\s+)?\d{1,2}(?:st|nd|rd|th)?")  # "5", "the 15th": a day or an hour, or an amount
# a half of the day named after a dotted time: "9.30 pm", "9.30 p.m.", "9.30 in the evening"
_HALF_OF_DAY = re.compile(r"\s*(?:(?P<am>a\.?\s?m\b\.?)|(?P<pm>p\.?\s?m\b\.?)"
                          r"|(?:in\s+the\s+|at\s+)?(?P<pod>morning|afternoon|evening|night|tonight)\b)", re.IGNORECASE)
# a time said in words: "nine thirty", "ten oh five", "eleven forty-five" (an hour of a 12-hour
# clock, then its minutes)
_HOURS = HOUR_WORDS
_UNITS = _HOURS[:9]
_TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_TENS = ("twenty", "thirty", "forty", "fifty")
_SPOKEN_TIME = re.compile(r"\b(?P<h>%s)\s+(?P<m>(?:oh|o)\s+(?:%s)|%s|(?:%s)(?:[\s-]+(?:%s))?)\b"
                          % ("|".join(_HOURS), "|".join(_UNITS), "|".join(_TEENS), "|".join(_TENS), "|".join(_UNITS)),
                          re.IGNORECASE)
_DOTTED_NUMBER_IN = re.compile(r"(?<![\d.])\d{1,2}\.\d\d(?![\d.])")
_AT_THE_END = re.compile(r"\b(?:at|by)\s*$", re.IGNORECASE)  # "at | 10.00": the model's span without "at"
# a weekday and a time, one span: "friday at 5pm", "on friday, 17:00"
_A_WEEKDAY = r"(?:mon|tues|wednes|thurs|fri|satur|sun)days?"
_WEEKDAY_THEN_TIME = re.compile(r"(?:on\s+)?(?P<day>%s)\s*,?\s*(?:at\s+)?(?P<time>\S.*)" % _A_WEEKDAY, re.IGNORECASE)
# ... and the other way round: "4.30 friday", "at 5pm on friday"
_TIME_THEN_WEEKDAY = re.compile(r"(?:at\s+)?(?P<time>\d{1,2}(?:[:.][0-5]\d)?(?:\s*[ap]\.?\s?m\b\.?)?)\s*,?\s+(?:on\s+)?"
                                r"(?P<day>%s)" % _A_WEEKDAY, re.IGNORECASE)
_REFUSING_WORDS = ("not", "instead", "of", "rather", "than", "but")
_ZERO_LED = re.compile(r"(?<!\d)0\d")  # "04:30": a 24-hour clock's hour
# a weekday and nothing else, maybe after "no" or "on", before "at": "no, friday at"
_WEEKDAY_WORDS = re.compile(r"(?:(?:no|on)[\s,]+)*%s(?:\s+at)?" % _A_WEEKDAY, re.IGNORECASE)
_HALF_SAID = re.compile(r"[ap]\.?\s?m\b|morning|afternoon|evening|night|noon|midnight", re.IGNORECASE)
_CLOCK_WORD = re.compile(r"\s*(?:uhr|o'?\s?clock|h)\b", re.IGNORECASE)  # "20.00 uhr", "nine o'clock"
# a time of the agreed day said without its half of the day or a zone is one only this close to the
# agreed time (a correction moves a time a little; "make it one fifty" after 09:00 is an amount)
NEAR_S = 3 * 3600
_WEEKDAY_NAMES = tuple(calendar.day_name[i].lower() for i in range(7))
_AMOUNT_WORDS = frozenset({"amount", "sum", "total", "price", "cost"})
_WORD = re.compile(r"[a-z]+")
_TIME_PREPOSITIONS = frozenset({"at", "on", "by", "until", "till", "before", "after", "from", "in"})
# words before a number that move a date or name it, which no amount is: "move it to 8", "push it
# back to 6", "change the time to 5" (each made the payment $8, $6, $5)
_MOVES_A_DATE = re.compile(r"\b(?:(?:move[sd]?|push(?:ed)?|postponed?|delay(?:ed)?)\s+(?:it|that|the\s+(?:date|time))"
                           r"(?:\s+(?:back|forward|out))?\s+(?:to|till|until)"
                           r"|reschedul\w*(?:\s+(?:it|that))?\s+(?:to|for)"
                           r"|(?:time|date|day|hour)\s+(?:to|is)(?:\s+be)?)\s+$", re.IGNORECASE)
# an hour of a 12-hour clock, alone ("8", "eight", "8:30"), and a part of the day said after one
_HOUR_SAID = re.compile(A_CLOCK_HOUR, re.IGNORECASE)
# an hour alone after "at" or "by" ("yes friday but at 5", "can you do it by 5"): a time, no amount;
# and "by 5" of a date agreed is 5 o'clock as often as the 5th ("by 15" is the 15th)
_AN_HOUR_PLACED = re.compile(rf"\b(?:at|by)\s+(?:{A_CLOCK_HOUR})(?![\w.,%])", re.IGNORECASE)
_BY_AN_HOUR = re.compile(r"(?:(?:at|by)\s+)?(?:[1-9]|1[0-2])", re.IGNORECASE)
_PART_OF_DAY_SAID = re.compile(r"(?:tonight|(?:this|in\s+the|tomorrow)\s+(?:morning|afternoon|evening|night)|at\s+night)\b",
                               re.IGNORECASE)
_HOUR_BEFORE_PART_OF_DAY = re.compile(rf"(?<![\w$£€¥.,]){_HOUR_SAID.pattern}\s+(?:(?:in\s+the|this|at)\s+)?$",
                                      re.IGNORECASE)
_HOUR_THEN_PART_OF_DAY = re.compile(rf"(?<![\w$£€¥.,:]){_HOUR_SAID.pattern}\s+{_PART_OF_DAY_SAID.pattern}",
                                    re.IGNORECASE)  # not "20.10 tonight", "10.5 tonight": amounts
# verbs that move money: the number beside them is an amount ("send 10 tonight", "pay 7 tonight")
_MOVES_MONEY = re.compile(r"\b(?:send(?:s|ing)?|sent|pay(?:s|ing)?|paid|transfer\w*|charg\w*|deposit\w*|withdr[ae]w\w*"
                          r"|spen[dt]|owe|amount\s+(?:is|to|of|should\s+be|will\s+be))\b", re.IGNORECASE)
_TONIGHT = re.compile(r"\btonight\b", re.IGNORECASE)
_NOW_SAID = re.compile(r"(?:right\s+)?now|immediately|asap|(?:right|straight)\s+away", re.IGNORECASE)
# words that say when: in a turn read as a yes with no date read from it ("can you do it the day
# after", "sooner"), they ask for another time than the one agreed, and confirm nothing
_WHEN_SAID = re.compile(r"\b(?:today|tonight|tomorrow|weekend|week|month|(?:mon|tues|wednes|thurs|fri|satur|sun)day"
                        r"|morning|afternoon|evening|noon|midnight|sooner|earlier|early|later|payday|paycheck|(?:get|gets|getting)\s+paid"
                        r"|tmrw?|tmw|tomoz|tonite|2nite|lunchtime|(?:at|over|after)\s+lunch"
                        r"|(?:before|after|on|over)\s+(?:the\s+)?(?:christmas|holidays?|new\s+years?|thanksgiving)"
                        r"|few\s+days|couple\s+(?:of\s+)?days|push\w*\s+(?:it\s+)?back|soonest|pay\s+day|salary"
                        r"|boxing\s+day|(?:working|business)\s+day|eod|close\s+of\s+business|due\s+date|overnight"
                        r"|in\s+(?:half\s+)?an?\s+(?:hour|minute|bit|while)|not\s+(?:yet|now)"
                        r"|after\s+work|end\s+of\s+(?:the\s+)?day|o['’]?\s?clock|day\s+(?:after|before))\b"
                        r"|\d\s*[ap]\.?m\b", re.IGNORECASE)
# ... but not in what a caller says to be polite: "good evening", "have a nice weekend", "see you
# later", "I'll check later", "that's all for today", "same as every month", "like I said earlier"
_PLEASANTRIES = re.compile(r"\bgood\s+(?:morning|afternoon|evening|night|day)\b"
                           r"|\b(?:have|enjoy)\s+(?:an?|your|the)\s+(?:\w+\s+)?(?:day|evening|night|weekend|week|morning|afternoon)\b"
                           r"|\ball\b(?:\s+[\w']+){0,3}\s+today\b|\bthis\s+(?:month|week)'?s\b|\b(?:it'?s|bit|little|too)\s+early\b"
                           r"|\b(?:see|talk\s+to|speak\s+to|catch)\s+(?:you|ya)\s+(?:later|soon|tomorrow)\b"
                           r"|\bfor\s+today\b|\b(?:every|each|last|this\s+past)\s+(?:day|week|month|year|weekend"
                           r"|(?:mon|tues|wednes|thurs|fri|satur|sun)day)\b"
                           r"|\b(?:said|mentioned|told\s+(?:you|me)|asked|discussed|agreed)\s+(?:\w+\s+)?(?:earlier|before)\b"
                           r"|\blong\s+(?:day|week|month)\b"
                           r"|\b(?:(?:i'?ll|i\s+will|we'?ll)\s+(?:check|call|look|talk|get\s+back|be\s+back|come\s+back|log\s+in"
                           r"|do\s+the\s+rest|finish|confirm|sort|pop|drop|stop)"
                           r"|talk|speak|chat|catch)\b(?:\s+[\w']+){0,4}\s+(?:later|tomorrow|tonight|today"
                           r"|(?:in\s+the\s+|this\s+)?(?:morning|afternoon|evening))\b",
                           re.IGNORECASE)
_CURRENCY_SAID = re.compile(r"[$£€¥]|\b(?:dollars?|bucks?|euros?|pounds?|cents?)\b", re.IGNORECASE)
_COUNTED = frozenset({"money", "number", "ordinal", "percentage"})
# what a bare number counts or names when it is no amount: "two weeks", "2 times", "3 payments", "option 2",
# "the account ending 4321" (singular: a plural's "s" is dropped before the look-up)
_COUNTED_NOUNS = frozenset("""second sec minute min hour hr day week wk fortnight month year yr time payment installment
instalment transaction charge item people person digit""".split())
_EVERY = frozenset("per a an each every".split())  # "75 per month", "50 each time": a rate, no one amount
# words that name a day, so a date span holding one and read as no date is a date not understood ("the
# first monday of next month"), not a word the model took for one ("blue"); a repeating date ("every
# friday") is not refused for the one-off day the slot holds
_NAMES_A_DAY = re.compile(r"\b(?:today|tomorrow|tonight|day|week|month|year|weekend"
                          r"|(?:mon|tues|wednes|thurs|fri|satur|sun)day|jan(?:uary)?|feb(?:ruary)?|march|april|may"
                          r"|june|july|aug(?:ust)?|sep(?:tember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|\d+(?:st|nd|rd|th)?|first|second|third|fourth"
                          r"|fifth|\w+teenth|\w+tieth)\b", re.IGNORECASE)
# words beside a name that are no part of it: "atms around | boston", "boston | now", "boston | area"
_LOCATING = frozenset("""around near close within outside inside now again currently definitely obviously
area as""".split())
_EVERY_TIME = re.compile(r"\b(?:every|each)\b", re.IGNORECASE)
_FROM_THEN = re.compile(r"[\s,]*(?:from|later|after|before|ago|earlier)\b", re.IGNORECASE)  # "an hour from now"
_NAMING = frozenset("option number account ending no # press".split())  # "option 2", "account ending 4321"
# "one" as a pronoun: "that one", "which one", "the first one", "the joint one", "a new one", "also one to
# verizon" (not "make it one")
_PRONOUN_ONE = re.compile(r"\b(?:that|this|which|another|also|the(?:\s+\w+)?"
                          r"|an?\s+(?!hundred|thousand|million|billion|grand)\w+)\s+one\b"
                          r"(?!\s+(?:hundred|thousand|million|billion|grand|\d))", re.IGNORECASE)


@dataclass(slots=True)
class Turn:
    """A follow-up turn, ready for the answer."""

    follow_up: FollowUp
    entities: list[ResolvedEntity]
    escalation: Escalation
    response: Response | None


class FollowUps:
    """Built once per loaded domain; `resolve` per request."""

    def __init__(self, domain: dict | None, resolver: Resolver, responder: Responder, policy: EscalationPolicy):
        domain = domain or {}
        self.resolver = resolver
        self.responder = responder
        self.policy = policy
        self.intents: dict[str, dict] = {k: v for k, v in (domain.get("intents") or {}).items() if isinstance(v, dict)}
        # the date slot that says when each request is carried out (`when:`): "can you do it tonight",
        # "yes pay it now" change a payment's; a trip's or a lost card's date is a fact, which they do not
        self.when: dict[str, str] = {k: v["when"] for k, v in self.intents.items() if isinstance(v.get("when"), str)}
        if not self.when:  # a domain that names none: each intent's first date ahead, as before `when:`
            dates = {k: next((s for s in v.get("slots") or [] if self._kind_of(s) == "datetime"), None)
                     for k, v in self.intents.items() if k not in resolver.past_intents}
            self.when = {k: slot for k, slot in dates.items() if slot is not None}
        section = domain.get("follow_ups") or {}
        if not isinstance(section, dict):
            raise DomainConfigError("'follow_ups' must be a mapping with 'confirm', 'cancel', 'hold' and/or 'repeat' "
                                    "lists of intents")
        self.confirm = self._intents(section, "confirm", CONFIRM_INTENTS)
        self.cancel = self._intents(section, "cancel", CANCEL_INTENTS)
        self.hold = self._intents(section, "hold", HOLD_INTENTS)
        self.repeat = self._intents(section, "repeat", REPEAT_INTENTS)
        self.pauses = self.hold | self.repeat  # turns that change nothing
        self.replies = self.confirm | self.cancel | self.pauses  # turns that are no request of their own

    def _intents(self, section: dict, key: str, default: tuple[str, ...]) -> frozenset[str]:
        names = section.get(key, default)
        if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
            raise DomainConfigError(f"follow_ups.{key}: expected a list of intent names")
        if key in section:
            unknown = [n for n in names if n not in self.intents]
            if unknown:
                raise DomainConfigError(f"follow_ups.{key}: unknown intent(s) {', '.join(unknown)}")
        return frozenset(names)

    def resolve(self, text: str, prediction: Prediction, entities: list[ResolvedEntity], escalation: Escalation,
                options: RequestOptions) -> Turn | None:
        """The follow-up reading of this turn, or None when it is not one (then it is answered alone).
        Three steps: what the turn says for the previous intent's slots (`_said`), the values it
        takes back or makes relative (`_settled`), and the kind of follow-up that makes (`_kind`)."""
        previous = options.previous_intent
        if previous is None or previous in self.replies:
            return self._nothing_to_repeat(prediction, entities, escalation, options)
        spec = self.intents.get(previous)
        if spec is None:
            return None
        tokens = [(m.start(), m.end(), m.group().strip(_EDGE_PUNCT).lower()) for m in _TOKEN.finditer(text)]
        words = [w for _, _, w in tokens if w]
        if not words:
            return None
        own, unsure = prediction.intent, _unsure(escalation)
        long = len(words) > MAX_WORDS
        said = self._said(text, tokens, previous, spec, prediction, entities, unsure, long, options)
        if long and not said.only:
            # a long turn follows up only when it says nothing but values ("no, from my joint account
            # to my checking account please"); else it is a request of its own
            return self._long_reply(previous, own, unsure, said, escalation, words, options)
        said = _settled(said)
        kind = self._kind(said, previous, own, unsure)
        if kind is None:
            return None
        add_to = said.kept | (_added(said) if _adds(words) else frozenset())
        options, add_to = _role_replaced(said.options, said.found, add_to)
        return self._answer(kind, previous, own, said.entities, said.found, escalation, options, add_to)

    def _said(self, text: str, tokens: list[tuple[int, int, str]], previous: str, spec: dict, prediction: Prediction,
              entities: list[ResolvedEntity], unsure: bool, long: bool, options: RequestOptions) -> "_Said":
        """The values the turn gives the previous intent's slots: tagged, pointed at ("the other
        card", "the other way around"), refused (a date behind a payment ahead), taken back ("not
        checking") or read from its untagged words; and whether it says nothing else."""
        slots = list(spec.get("slots") or [])
        own = prediction.intent
        # the verbs of a request are a correction's ("I need it to go to my joint account") only
        # where a value carried has a role to move, and when the turn's own intent is not sure of
        # a request of its own: "can you move 500 from savings" (0.99) and "I need to use my credit
        # card" after blocking the debit card (no role) ask what they say
        moving = any("." in k for k, _ in options.filled_slots)
        verbs = (unsure or own in self.replies or moving and prediction.confidence < VERBS_BELOW
                 or own == previous and _CORRECTION.search(text) is not None)  # "send it to my money market instead"
        pause = _pause_words(text, tokens)  # "one more second": no amount, and no "more" of one either
        pause |= _saying_words(tokens)  # "yes, thanks a million", "I owe you one": no $1,000,000, no $1
        unpaused = [t for i, t in enumerate(tokens) if i not in pause]
        phrase = " ".join(w for _, _, w in unpaused if w)
        entities, refused = self._dated_as(text, previous, entities, options)
        entities = self._dotted_amounts(text, entities, previous, spec, slots, options)
        entities = self._spoken_times(text, tokens, entities, previous, spec, slots, options)
        entities = self._days_asked(text, tokens, entities, spec, slots, options)
        refused = [r for r in refused if not any(e.resolved and (e.start, e.end) == (r.start, r.end) for e in entities)]
        # "5pm, not tomorrow" of "tomorrow at five": which day, then? (a day named beside it, "not
        # tomorrow, wednesday at 5pm", replaces it as any value said after another's "not" does)
        taken_day = self._agreed_day_refused(text, previous, slots, options, entities)
        if taken_day is not None:  # asked, even where the slot is optional: no date is "now"
            options = _without(options, {taken_day})
            options = replace(options, slots_missing=(taken_day, *(s for s in options.slots_missing if s != taken_day)))
            entities = [replace(e, resolved=False, resolution=None)
                        if e.type == taken_day and e.resolved and time_only(e.text) is not None else e
                        for e in entities]
        entities = self._hours_of_a_part_of_the_day(text, entities, options, previous)
        entities += self._the_date_asked(text, spec, slots, entities, options, previous)
        entities = self._on_the_agreed_day(text, previous, entities, options)  # "at noon" of the day kept
        found = [e for e in entities if e.type in slots and e.resolved]
        asked, other, options = self._other(text, slots, options)
        asked = asked or taken_day is not None
        if not found and not asked and _SWAP.search(phrase) and (swapped := _swapped(options)) is not None:
            options, asked = swapped, True  # "no, the other way around": from checking to savings instead
        refused = [e for e in refused + self._unread(text, entities) if e.type in slots
                   and not any(f.type == e.type for f in found)]
        named = _slot_words(e.type for e in refused)  # "change the amount to ..."
        if refused and (_CORRECTION.search(phrase) or _POINTED.search(phrase) and _only_values(
                tokens, refused, _PLACING + named + tuple(_VERBS) + ("push", "it", "that"))
                or _only_values(tokens, refused, _PLACING + named)):  # "move it to 4:30" (which?)
            # "make it last friday" for a payment ahead: no date to act on, and not the old one either
            gone = {e.type for e in refused}
            # a time that names no day, refused ("5.30" answering which five?), keeps the day kept,
            # and an agreed date's day ("move it to 5.00" after 09:00: which 5.00? asked on that day)
            kept = tuple((k, v) for k, v in options.filled_slots if k.endswith(f".{DAY}")
                         and not any(e.type == k.removesuffix(f".{DAY}") and names_a_day(e.text) for e in refused))
            kept += self._days_of_times_asked(refused, previous, options)
            options = _without(options, gone)
            options = replace(options, filled_slots=options.filled_slots + kept)
            asked = True
        question = self._asked(spec, slots, options)
        free_asked = question is not None and (self.resolver.specs.get(question) or {}).get("kind") == "free"
        if free_asked:
            entities = [self._grown(text, tokens, e, entities, options) if e.type == question and e.resolved else e
                        for e in entities]
            found = [e for e in entities if e.type in slots and e.resolved]
        order = slots if question is None else [question, *(s for s in slots if s != question)]
        past = previous in self.resolver.past_intents
        # the resolver leaves a catalog value after "not" unresolved: its value is taken back below
        taken = [e for e in self.resolver.taken_back(text, entities) if e.type in slots]
        if other is not None:
            found.append(other)
        elif not asked:
            # free text answers the question asked only from a turn with no clear intent of its own:
            # "what's my balance", "cancel" or "talk to a human" are no payee; and never beside a value
            # the model tagged: "no, from joint to checking" with checking tagged has joint left to read
            below = POLICY_FREE_ANSWER_BELOW if own in self.policy.policy else FREE_ANSWER_BELOW
            free_ok = (not found and not long and not any(e.resolved for e in entities)
                       and not _a_question(text)  # "what is an index fund" answering "Where to?" is no city
                       and (unsure or (own not in self.replies and prediction.confidence < below)))  # a sentence is no name
            def read(run: list[tuple[int, int, str]]) -> ResolvedEntity | None:
                return self._bare_value(text, run, order, options, past, question, free_ok, spec, previous)

            if found or taken or long:  # a long turn in runs of a few words: "yes that's right but make it | seventy"
                bares = [read(run) for run in _runs(unpaused, found + taken, verbs)]
            else:  # the words as one value, unless they name an account or card apart: "take 20 | out of joint"
                # (only a word that sets values apart gives a value a role: without one, one reading)
                apart = ([read(run) for run in _runs(unpaused, [], verbs, None)]
                         if any(w in _APART for _, _, w in unpaused) else [])
                named = any(b is not None and b.role and (b.resolution or {}).get("kind") == "catalog" for b in apart)
                if named:
                    bares = apart
                elif (len(unpaused) > 1 and unpaused[-1][2] in _DAY_AT_THE_END and not days_refused(text)
                      and not says_a_time(phrase) and not _an_hour_of_the_day(text)  # "make it 7 tonight": one date
                      and (head := read(unpaused[:-1])) is not None and head.resolved
                      and head.resolution.get("kind") != "datetime"):  # "make it 60 tonight": two values
                    bares = [head, read(unpaused[-1:])]
                else:
                    # a typed value after the words of a request or a correction ("can you do it |
                    # tonight"), else the words whole, a name too ("Can Can Bakery"); not while a name
                    # is asked ("pay Forever 21", "it's Five Guys" are payees)
                    after = (self._after_request_words(text, unpaused, order, options, past, question, spec, previous)
                             if verbs and not free_asked else None)
                    bares = after if after is not None else [read(unpaused)]
            tagged = {(e.type, (e.resolution or {}).get("id")) for e in found}
            for bare in bares:
                if bare is not None and _again(bare, tagged):
                    continue  # "no, 75 to checking, 80" with 75 tagged: one amount a turn, not two
                if bare is not None:
                    tagged.add((bare.type, (bare.resolution or {}).get("id")))
                if bare is not None and bare.resolved:  # a time on the agreed day: none where the clocks skip it
                    bare = self._on_the_agreed_day(text, previous, [bare], options)[0]
                    if bare.resolved:
                        found.append(bare)
                        continue
                if bare is not None:  # "no, yesterday" untagged: refused as a tagged date is ("2:30am" on a
                    entities = [*entities, bare]  # spring-forward night kept the agreed 1:00 AM, the change unsaid)
                    refused.append(bare)
                    # an hour again for the day kept ("5"): the day stays, asked
                    kept = tuple((k, v) for k, v in options.filled_slots
                                 if k == day_key(bare.type) and _an_hour(bare.text))
                    kept += self._days_of_times_asked([bare], previous, options)  # "move it to 12.30": which?
                    options = _without(options, {bare.type})
                    options = replace(options, filled_slots=options.filled_slots + kept)
                    asked = True
        dated = self.when.get(previous)
        now_agrees = dated is None or not {dated, day_key(dated)} & {k for k, _ in options.filled_slots}
        elsewhen = (not found and not asked and not taken and not refused and own in self.confirm and not past
                    and not free_asked and _says_when(phrase, now_agrees)
                    # of a request with no time to act, a time said beside its verbs: "can you do it
                    # tomorrow" of a bill paid now, not "yes someone used it this afternoon" of a card
                    and (dated is not None or any(w in _REQUEST_VERBS for _, _, w in unpaused)))
        if elsewhen:
            # "can you do it the day after", "can you do it sooner" read as a yes: a date no rule
            # reads is no yes to the agreed one (it was confirmed): asked where it has a prompt (else
            # it went unasked), or answered alone (`_kind`)
            if dated is not None and dated in (spec.get("prompts") or {}):
                options = _without(options, {dated})
                options = replace(options, slots_missing=(dated, *(s for s in options.slots_missing if s != dated)))
                asked = True
        if not found and not asked and not taken and (renamed := self._renamed(text, unpaused, slots, options)):
            found.append(renamed)
        negated = [e for e in found if after_not(text, e.start)] + taken
        # "move it to the 20th", "push it to friday": the verb moves the pending date or amount
        pointed = bool(found or refused) and _POINTED.search(phrase) is not None and all(
            (self.resolver.specs.get(e.type) or {}).get("builtin") in ("datetime", "money", "number")
            for e in found + refused)  # "move it to 4:30" after 09:00, asked: still the payment's
        also = _PLACING + (_NOT if negated else ()) + (tuple(_VERBS) + ("push",) if verbs or pointed else ())
        values = found + negated + refused
        also += _slot_words(e.type for e in values)  # "make the amount 9.30": its slot's name
        if taken_day is not None:  # "5pm rather than tomorrow": the time and the day refused are said of the date
            also += _REFUSING_WORDS + tuple(w for day in days_refused(text) for w in day.split())
            values += [e for e in entities if e.type == taken_day and not e.resolved]
        only = bool(values) and _only_values(unpaused, values, also)  # "from my savings to checking please"
        return _Said(entities, found, negated, options, asked, only, phrase, question, elsewhen=elsewhen)

    def _after_request_words(self, text: str, tokens: list[tuple[int, int, str]], order: list[str],
                             options: RequestOptions, past: bool, question: str | None, spec: dict,
                             previous: str) -> list[ResolvedEntity] | None:
        """The typed value said after the words of a request or a correction the turn opens with
        (`_past_request_words`): "can you do it | tonight" read as a yes, "can you do it | at 5",
        "no I said | tuesday" (read whole, they confirmed the payment on its agreed Friday, made it
        $5, cancelled it). None when no such words open it or no value follows them; no value when
        it says now of a request that goes now anyway ("yes pay it now" of a transfer with no date:
        a yes) or of a date that is no time to act (`when:`: "sure, right away" of a trip, "right away
        I guess" is no day a card was lost); and a date after a request's verbs only for that time
        ("can you do it tomorrow" of a trip on the 20th is no trip tomorrow)."""
        rest = _past_request_words(tokens)
        if not rest or rest == tokens:
            return None
        # after a verb that moves money, a number is its amount before any date asked ("I'd like to
        # pay | 20" answering "When?": $20, not the 20th)
        paid = _MOVES_MONEY.search(text, tokens[0][0], rest[0][0]) is not None
        order = sorted(order, key=lambda slot: self._kind_of(slot) != "money") if paid else order
        value = self._bare_value(text, rest, order, options, past, question, False, spec, previous)
        if value is None:
            return None
        when = self.when.get(previous)
        if past and value.resolved and value.resolution.get("kind") == "datetime":
            reference = self.resolver.reference_time(options)
            if reference is not None and dt.datetime.fromisoformat(value.resolution["value"]) > reference:
                return None  # "yes tomorrow works" is no day a card was lost
        if _NOW_SAID.fullmatch(value.text) and (past or value.type != when or value.type != question and not (
                {value.type, day_key(value.type)} & {k for k, _ in options.filled_slots})):
            return []
        requested = any(w in _ASKING for start, _, w in tokens if start < rest[0][0])
        if requested and self._kind_of(value.type) == "datetime" and value.type != when:
            return None  # "can you do it tomorrow" of a trip on the 20th: when to act, not the trip's date
        return [value]

    def _renamed(self, text: str, tokens: list[tuple[int, int, str]], slots: list[str],
                 options: RequestOptions) -> ResolvedEntity | None:
        """A name said after a correction or a no ("no, Target", "actually Target", "sorry I meant
        Home Depot") for the one free-text slot the previous answer carries: the merchant of a
        dispute was corrected by a CANCEL of the dispute, or a hand-off. Only a name written as one:
        each word capitalised in a turn that writes another word in lower case ("no, Target"; in
        "No, Never Mind", "NO CANCEL IT" capitals say nothing), not opening a sentence ("No.
        Cancel it."), and no word a caller says to stop, leave or be helped ("No, Stop", "No,
        Agent"): "no, never mind" and "no thanks" stay a no."""
        carried = dict(options.filled_slots)
        free = [s for s in slots if s in carried and (self.resolver.specs.get(s) or {}).get("kind") == "free"]
        cue = _REPAIR_CUE.match(text)
        if len(free) != 1 or cue is None:
            return None
        said = tokens
        if cue.group().strip(" ,.").lower() == "not":  # "not Walmart, Target": the name after the one taken back
            comma = text.find(",", cue.end())
            said = [t for t in tokens if comma >= 0 and t[0] > comma]
        words = [t for t in said if t[2] and t[2] not in _FILLER and t[2] not in _REPAIR_WORDS]
        if not 1 <= len(words) <= 3 or not all(text[start].isupper() and _names(word) and word not in _NO_NAMES
                                                for start, _, word in words):
            return None
        named = {start for start, _, _ in words}
        if (not any(text[start].islower() for start, _, word in tokens if start not in named)
                or _SENTENCE_END.search(text, 0, words[0][0])):
            return None
        start, end = words[0][0], words[-1][1]
        while end > start and text[end - 1] in _EDGE_PUNCT:
            end -= 1
        if text[start:end] != " ".join(text[s:e].strip(_EDGE_PUNCT) for s, e, _ in words):
            return None  # the name's words apart ("no, Target, sorry"): no one name
        value = self.resolver.resolve_value(free[0], text[start:end], None)
        return None if value is None else ResolvedEntity(free[0], text[start:end], start, end, 1.0, "context", True,
                                                         value)

    def _grown(self, text: str, tokens: list[tuple[int, int, str]], e: ResolvedEntity,
               entities: list[ResolvedEntity], options: RequestOptions) -> ResolvedEntity:
        """A free-text value of the slot asked with the untagged word right before and after it
        when neither is filler, a word that places it, an adverb or a value of another type:
        "i'm in downtown | boston", "new | york | city" (the model tagged "boston" and "york":
        "downtown" made the answer a travel notice); "paris | tomorrow", "boston | now" stay."""
        inside = [i for i, (start, end, _) in enumerate(tokens) if start < e.end and e.start < end]
        if not inside:
            return e
        reference, locale = self.resolver.reference_time(options), locales.get(options.locale)

        def names(i: int) -> bool:
            start, end, word = tokens[i]
            return (_names(word) and not any(o.start < end and start < o.end for o in entities)
                    and not self._typed(word, reference, False, locale))

        first, last = inside[0], inside[-1]
        if first > 0 and names(first - 1):  # one word each side: "show atms around | atlanta" stays
            first -= 1
        if last + 1 < len(tokens) and names(last + 1):
            last += 1
        start, end = tokens[first][0], tokens[last][1]
        while end > start and text[end - 1] in _EDGE_PUNCT:
            end -= 1
        if (start, end) == (e.start, e.end):
            return e
        value = self.resolver.resolve_value(e.type, text[start:end], None)
        return e if value is None else replace(e, text=text[start:end], start=start, end=end, resolution=value)

    def _kind(self, said: "_Said", previous: str, own: str, unsure: bool) -> str | None:
        """update, confirm, cancel, hold or repeat; None when the turn is a request of its own."""
        values = bool(said.found) or said.asked  # "the other card" with no single answer still changes the slot
        # the turn's own intent does not say it asks something else: "make it 75" read as a yes
        continues = unsure or own == previous or own in self.replies or said.only
        if not unsure and own != previous and own in self.policy.policy and not (said.found and said.only):
            # "actually, fraud on my checking account": a confident request the domain sends to a
            # person; but "my main account", nothing but a value, answers the question asked, and
            # so does "not savings, my credit card account" (a value taken back and its replacement)
            return None
        # "near me", "not sure" answering "Which city?": no answer, and no request either: asked again
        question = self.resolver.specs.get(said.question or "", {})
        unanswered = (not values and said.question is not None and question.get("kind") == "free"
                      and _UNKNOWN.search(said.phrase) is not None
                      and all(w in _FILLER for w in _UNKNOWN.sub(" ", said.phrase).split()))
        if unanswered or values and (said.asked or _CORRECTION.search(said.phrase)) and continues:
            # "make it 75", "the other one": whatever the model guessed; but "actually, what's my
            # savings balance" asks something new, whatever value it names
            return "update"
        if own in self.hold and not unsure and not values:  # "let me check": no yes, and nothing changes
            return "hold"
        if own in self.repeat and not unsure and not values:  # "sorry, what?": the same answer again
            return "repeat"
        if own in self.confirm and not unsure:
            words = said.phrase.split()
            if not values and (words[:1] and words[0] in _PAUSING or _MULLING.search(said.phrase)):
                return "hold"  # "hold it", "I'll think about it" read as a yes: a pause confirms nothing
            if _STOPPING.intersection(words):
                # "go ahead and cancel it" read as a yes: neither a yes nor a no for sure (it confirmed
                # the payment; answered alone, the affirm intent's words thanked the caller for confirming)
                return "repeat"
            # a yes to something else than what was agreed, which no rule reads: "can you do it
            # tomorrow" of a bill paid now, "sure thing, the 15th", "sure, on my visa" (a transfer has
            # no card). Nothing is confirmed, and what stands is said again (answered alone, the
            # affirm intent's own words said "thanks for confirming")
            if not values and said.elsewhen:
                return "repeat"
            if (not values and said.question is None  # (with a slot asked, a yes asks it again)
                    and (_a_number_unread(said.phrase) or self._named_elsewhere(said.entities, previous))):
                return "repeat"
            return "update" if values else "confirm"  # "sure, 150": read back before anything is confirmed
        if own in self.cancel and not unsure:
            return "update" if values else "cancel"
        if values and continues:
            return "update"  # "hold on, 50 bucks": a pause before the value is no request of its own
        return None

    def _long_reply(self, previous: str, own: str, unsure: bool, said: "_Said", escalation: Escalation,
                    words: list[str], carried: RequestOptions) -> Turn | None:
        """A turn over MAX_WORDS that is no string of values: a hold or repeat keeps the context
        ("hold on a second let me grab my card") and changes nothing, whatever values it names
        ("sorry can you repeat that, I think you said savings"); a confident yes or no that names
        nothing ("yes that's correct thank you so much", "no thank you I changed my mind about
        it") confirms or cancels, as a short one does: answered alone, the caller's yes confirmed
        nothing and the backend dropped the pending request. Names nothing: no entity, no number,
        no word that qualifies it ("yes that's right but it's sixty not fifty", "yes but send it to
        my mom instead" confirmed the $50 objected to), and not both a yes and a no ("no sorry I
        meant yes"). A yes that says when ("can you do it the day after") confirms nothing: the
        date asked when it names no value and says nothing more (`_said`), else answered alone.
        Anything else is answered alone."""
        entities, options = said.entities, said.options
        if unsure:
            return None
        if own in self.pauses:
            return self._answer("hold" if own in self.hold else "repeat", previous, own, entities, [], escalation,
                                options, frozenset())
        if own in self.confirm and said.elsewhen and said.asked and not entities:  # "... but hold off until I get paid"
            return self._answer("update", previous, own, [], [], escalation, options, frozenset())
        if own in self.confirm | self.cancel and not entities and _plain_reply(words, own in self.confirm):
            return self._answer("confirm" if own in self.confirm else "cancel", previous, own, [], [], escalation,
                                options, frozenset())
        if own in self.confirm and not entities:
            # a yes with a but, naming nothing ("yes but send it to my mom instead", "... hold off until
            # I get paid", "yes please go ahead and cancel it"): the request as it stands said again,
            # nothing confirmed (answered alone, the affirm intent's words thanked the caller for confirming)
            return self._answer("repeat", previous, own, [], [], escalation, carried, frozenset())
        return None

    # -- values for the previous intent's slots ------------------------------------------------

    def _dated_as(self, text: str, previous: str, entities: list[ResolvedEntity],
                  options: RequestOptions) -> tuple[list[ResolvedEntity], list[ResolvedEntity]]:
        """Dates read in the direction of the intent the turn continues, not of the intent the
        model read into its few words: "make it last friday" for a scheduled payment is no date
        to act on; "on the 20th" for a lost card is the last 20th, not the next. Also returns the
        dates refused for the previous one: every model date that does not resolve for it, those
        an intent whose dates lie ahead drops for lying in the past ("make it last friday" read as
        travel_notice, whose dates lie ahead too) and those no rule reads ("the first monday of
        next month": the payment was lost to a travel notice)."""
        past = previous in self.resolver.past_intents
        reference = self.resolver.reference_time(options)
        locale = locales.get(options.locale)
        out, refused = [], []
        for e in entities:
            if (e.source == "model" and (self.resolver.specs.get(e.type) or {}).get("builtin") == "datetime"
                    and not clock_or_count(text, e.start, e.end)):  # "a hundred | three | days": no 3rd
                if _DOTTED_NUMBER_IN.fullmatch(e.text.strip()) and _AT_THE_END.search(text, 0, e.start):
                    out.append(e)  # "at | 10.10": a time, or asked (`_dotted_time`); read alone, 10 October
                    continue
                value = self.resolver.resolve_value(e.type, e.text, reference, past, locale)
                if value is None and (e.resolved or not past and self._is_date(e.text, reference, locale)
                                      or _NAMES_A_DAY.search(e.text) and not _EVERY_TIME.search(e.text)):
                    refused.append(e)  # "the first monday of next month": no date read is no date kept either
                e = replace(e, resolved=value is not None, resolution=value)
            out.append(e)
        return out, refused

    def _is_date(self, text: str, reference: dt.datetime | None, locale: locales.Locale) -> bool:
        """Whether `text` reads as a date looking ahead, before it is checked against today: an
        unresolved one ("yesterday", "today at 9am" said at noon) was dropped for lying in the past,
        and is refused; "blue" is no date at all."""
        return (reference is not None
                and self.resolver.dates.resolve(text, reference, False, locale.day_first) is not None)

    def _dotted_amounts(self, text: str, entities: list[ResolvedEntity], previous: str, spec: dict,
                        slots: list[str], options: RequestOptions) -> list[ResolvedEntity]:
        """The model's "9.30" in "make it 9.30 instead", tagged as an amount or a date, where
        `_dotted_time` reads it as a time: that time on the agreed day (the agreed $75 became $9.30;
        tagged as a date, it was refused, the agreed day dropped, and the answer to the question
        asked then, "9.30am", fell on today). A dotted number the model tagged as a date in a turn
        that names the amount ("no, not 45, make it 9.30") is the amount."""
        out, read_past = [], []  # (where a span ended, where the time read from it ended): "10.00 | in the morning"
        for e in entities:
            builtin = (self.resolver.specs.get(e.type) or {}).get("builtin")
            if e.source != "model" or builtin not in (*AMOUNTS, "datetime"):
                out.append(e)  # (a date "9.30" read no date: refused by _dated_as, taken back by the caller)
                continue
            said = e.text.strip()
            start = e.start + len(e.text) - len(e.text.lstrip())
            dotted = _DOTTED_TIME_SAID.match(said)
            if builtin == "datetime" and e.resolved and (dotted is None or dotted.end() == len(said)):
                out.append(e)  # a date read ("18.12" in en-GB: 18 December); but "9.30 ist" is no 02:30 in India
                continue
            read = self._dotted_time(text, start, start + len(said), previous, spec, slots, options)
            if read is not None:
                read_past.append((start + len(said), read[2]))
            elif builtin == "datetime":
                read = self._amount_named(said, text, previous, slots, options)
            out.append(e if read is None else replace(e, type=read[0], resolved=read[1] is not None,
                                                      resolution=read[1]))
        # what the model made of the words read with the time ("in the morning": a second date)
        return [e for e in out if not any(after <= e.start and e.end <= upto for after, upto in read_past)]

    def _spoken_times(self, text: str, tokens: list[tuple[int, int, str]], entities: list[ResolvedEntity],
                      previous: str, spec: dict, slots: list[str], options: RequestOptions) -> list[ResolvedEntity]:
        """"make it nine thirty instead", a time said in words and all the turn says, read as "9.30"
        is, in place of what the model made of its words ("nine" the 9th and "thirty" $30: a
        payment of $30 on Wednesday, read back): where `_dotted_time` reads it as a time, that time
        on the agreed day; else an amount not read, which asks for it (9.30 or 930? as "make it two
        fifty" is). Not beside other words ("the card ending one twenty")."""
        m = _SPOKEN_TIME.search(text)
        if m is None:
            return entities
        read = self._at_the_agreed_time(_HOURS.index(m.group("h").lower()) + 1, _spoken_minutes(m.group("m")), text,
                                        m.end(), previous, spec, slots, options)
        end = m.end() if read is None else read[2]  # with the half of the day or the zone said after it
        if read is None:
            read = next(((slot, None) for slot in slots
                         if (self.resolver.specs.get(slot) or {}).get("builtin") == "money"), None)
        if read is None:
            return entities
        source = "context" if read[1] is not None else "model"  # an amount not read: refused, so asked (`_unread`)
        said = ResolvedEntity(read[0], text[m.start():end], m.start(), end, 1.0, source, read[1] is not None, read[1])
        # "can you do nine thirty", "change the amount to nine thirty"
        if not _only_values(tokens, [said], (*_PLACING, *_VERBS, "we", *_AMOUNT_WORDS, *_slot_words([read[0]]))):
            return entities
        return [e for e in entities if e.end <= m.start() or e.start >= end] + [said]

    def _amount_named(self, said: str, text: str, previous: str, slots: list[str],
                      options: RequestOptions) -> tuple[str, dict] | None:
        """(the amount slot, `said` read as its value) when the turn names the amount and `said` is a
        number written with a dot ("9.30")."""
        if _DOTTED_TIME_SAID.fullmatch(said) is None or not self._names_the_amount(text, slots, options):
            return None
        reference = self.resolver.reference_time(options)
        past = previous in self.resolver.past_intents
        for slot in slots:
            if (self.resolver.specs.get(slot) or {}).get("builtin") in AMOUNTS and (
                    value := self.resolver.resolve_value(slot, said, reference, past, locales.get(options.locale))):
                return slot, value
        return None

    def _named_elsewhere(self, entities: list[ResolvedEntity], previous: str) -> bool:
        """Whether the turn names an amount the previous intent has no slot for, or a thing, when it
        moves money ("sure, on my visa" of a transfer between accounts): a yes to something else
        than what was asked."""
        slots = set(self.intents[previous].get("slots") or [])
        moves_money = any(self._kind_of(s) == "money" for s in slots)  # ("the one on my checking" of a card: the card)
        return any(e.resolved and e.type not in slots and self._kind_of(e.type) in (("catalog", "money") if moves_money
                                                                                     else ("money",))
                   for e in entities)

    def _kind_of(self, slot: str) -> str:
        """What a slot holds: its builtin ("money", "datetime"), else its kind ("catalog", "free")."""
        spec = self.resolver.specs.get(slot) or {}
        return spec.get("builtin") or spec.get("kind") or slot

    def _days_asked(self, text: str, tokens: list[tuple[int, int, str]], entities: list[ResolvedEntity], spec: dict,
                    slots: list[str], options: RequestOptions) -> list[ResolvedEntity]:
        """The turn without the model's amount when it is a bare number ("5", "the 15th", "twenty
        one") and all the turn says, answering a date the last answer asked for: its words are read
        as that date below ("the 15" answering "When should the payment go out?" replaced the
        agreed $50 with $15). A correction ("make it 5") keeps the amount, read back."""
        asked = self._asked(spec, slots, options)
        if (self.resolver.specs.get(asked or "") or {}).get("builtin") != "datetime" or _CORRECTION.search(text):
            return entities
        numbers = [e for e in entities if e.source == "model" and e.type in slots
                   and (self.resolver.specs.get(e.type) or {}).get("builtin") in AMOUNTS
                   and _BARE_DAY.fullmatch(words_to_digits(e.text.strip()))]
        if len(numbers) != 1 or not _only_values(tokens, numbers):
            return entities
        return [e for e in entities if e is not numbers[0]]

    def _dotted_time(self, text: str, start: int, end: int, previous: str, spec: dict, slots: list[str],
                     options: RequestOptions) -> tuple[str, dict | None, int] | None:
        """(the date slot, the span text[start:end] as a time of the agreed day) when it is a
        number written as a time with a dot ("9.30", "at 16.30"), alone or with the half of the
        day or a zone after it, inside the span or right after it: `_at_the_agreed_time`. A
        number written as money ("make it 20.00", in a locale whose decimals take a dot) is none,
        unless something says it is a time ("10.00 am", "at 10.00", "move it to 10.00", "20.00 uhr")."""
        m = _DOTTED_TIME_SAID.match(text, start)
        if m is None or m.end() > end:
            return None
        before = text[:start]  # "at 10.00", "move it to 10.00" ("make it" is a correction of anything)
        if _RELATIVE.search(before + m.group(0)):
            return None  # "lower it by 5.00", "reduce it by 10.00": by how much, no time
        led = (m.group(0)[:2].lower() in ("at", "by") or _AT_THE_END.search(before) is not None
               or _POINTED.search(before) is not None and not _CORRECTION.search(before))
        day_first = locales.get(options.locale).day_first
        money_like = m.group("m") == "00" and not day_first
        read = self._at_the_agreed_time(int(m.group("h")), int(m.group("m")), text, m.end(), previous, spec, slots,
                                        options, led, money_like, a_date=day_first and 1 <= int(m.group("m")) <= 12)
        if read is None or read[2] < end:  # more in the span than a time ("9.30 dollars")
            return None
        return read

    def _at_the_agreed_time(self, hour: int, minute: int, text: str, pos: int, previous: str, spec: dict,
                            slots: list[str], options: RequestOptions, led: bool = False,
                            money_like: bool = False, a_date: bool = False) -> tuple[str, dict | None, int] | None:
        """(the date slot, `hour`:`minute` on the agreed day, where what was read of `text` ends)
        for a time said ending at `pos` ("make it 9.30 instead" after 09:00 is 09:30 that day, read
        back; it was $9.30), to an intent with a date agreed. The half of the day, a zone or "uhr"
        / "o'clock" said after it (`led`: "at" or a verb that moves it before it) make it a time
        whatever was agreed ("9.30 pm": 21:30, it was 09:30; "9.30 eastern": New York's 09:30).
        Without them it is one only to a required date agreed with a time of day, on the half of
        the day nearest the agreed time and within NEAR_S of it ("make it 2.30 instead" after 14:00
        is 14:30; "make it one fifty" after 09:00, $1.50 or $150, is no 01:50 but an amount asked),
        and not when it is written as money (`money_like`: "make it 20.00"). A time led by "at"
        or a verb, said on a 12-hour clock, falls on the half nearest the agreed time, and is
        asked when both lie far from it ("move it to 4.30" after 09:00: 04:30 or 16:30?); so is
        one that may as well be a date (`a_date`: "move it to 18.12" in en-GB, 18 December?). A
        date asked while its day is kept ("tomorrow at five": which five?) takes a 24-hour time on
        that day ("17.00": it was $17.00) and asks a 12-hour one again. None for a time the clocks
        skip that day, an impossible half of the day ("16.30 pm", "9.30 in the afternoon"), a zone
        of several ("ist") or a time already past. Not where the last answer asked for the amount
        or the turn names it ("change the amount to 9.30", "no not 45 make it 9.30")."""
        if self._names_the_amount(text, slots, options):
            return None
        dated = next((s for s in slots if (self.resolver.specs.get(s) or {}).get("builtin") == "datetime"), None)
        asked = self._asked(spec, slots, options)
        if dated is None or (self.resolver.specs.get(asked or "") or {}).get("builtin") in AMOUNTS:
            return None
        reference = self.resolver.reference_time(options)
        carried = dict(options.filled_slots)
        kept_day = asked == dated and dated not in carried and day_key(dated) in carried
        day = self.resolver.resolve_carried(dated, carried.get(dated) or carried.get(day_key(dated), "")
                                            if kept_day else carried.get(dated, ""), 1, previous, reference)
        if len(day) != 1 or day[0].get("kind") != "datetime":
            return None
        at = dt.datetime.fromisoformat(day[0]["value"])
        zone = reference.tzinfo if reference is not None else at.tzinfo
        half = _HALF_OF_DAY.match(text, pos)
        pos = half.end() if half is not None else pos
        named = zone_at(text, pos)  # "make it 9.30 eastern"
        pos = named[1] if named is not None else pos
        clock = _CLOCK_WORD.match(text, pos)  # "20.00 uhr", "nine o'clock"
        pos = clock.end() if clock is not None else pos
        if kept_day and not half and 1 <= hour <= 12:
            return dated, None, pos  # "5.30" answering "which five?": which, again
        if a_date and not (half or named or clock):
            return dated, None, pos  # "18.12": 18:12, or 18 December?
        agreed = at.hour * 60 + at.minute
        if not (led or half or named or clock or kept_day):
            if money_like or dated not in (spec.get("required") or ()) or at.time() == dt.time():
                return None  # an amount: "make it 12.50" after "next friday", a transfer's "9.30"
            said_hour = hour
            if 1 <= hour <= 12:
                hour = min((hour % 12, hour % 12 + 12), key=lambda h: abs(h * 60 + minute - agreed))
            # a 24-hour time far from the agreed one is one only where clocks are written so ("16.30"
            # in en-GB); in en-US "make it 19.50" is $19.50, and "make it 2.30" after 20:00 is $2.30
            far = abs(hour * 60 + minute - agreed) > NEAR_S / 60
            if far and (said_hour <= 12 or not locales.get(options.locale).day_first):
                return None
        elif led and not (half or named or clock) and 1 <= hour <= 12 and at.time() != dt.time():
            said = _near(TimeOfDay(hour, minute, "minute", None), at)
            if said is None:
                return dated, None, pos  # "move it to 4.30" after 09:00: which 4.30?
            hour = said.hour
        if half is not None:
            if hour == 0 or hour > 12:  # "16.30 pm": which?
                return dated, None, pos
            if says_tonight(half.group(0)) and _another_day(at, reference):
                at = reference  # "5.30 tonight" of a payment agreed for Friday: today, as "9:30 tonight" is
            hour = _on_the_half(hour, half)
            if hour is None:  # "9.30 in the afternoon"
                return dated, None, pos
        if named is not None and named[0] is None:  # "9.30 ist": which zone?
            return dated, None, pos
        said = TimeOfDay(hour, minute, "minute", named[0] if named is not None else None)
        return dated, self._ahead(_at_the_time(at, said, zone), previous, reference), pos

    def _ahead(self, resolution: dict | None, previous: str, reference: dt.datetime | None) -> dict | None:
        """`resolution`, a time on the agreed day, unless it has passed and `previous`'s dates lie
        ahead: "make it 9.30" at 10:00 for a payment agreed for 11:00 today is no time to pay at
        (read back as 9:30 AM today, a backend would have paid at once); the date is asked."""
        if resolution is None or reference is None or previous in self.resolver.past_intents:
            return resolution
        return resolution if dt.datetime.fromisoformat(resolution["value"]) >= reference else None

    def _names_the_amount(self, text: str, slots: list[str], options: RequestOptions) -> bool:
        """Whether the turn speaks of the amount: names an amount slot ("change the amount to ...")
        or says the agreed amount's number ("no not 45, make it ...")."""
        words = set(_WORD.findall(text.lower()))
        amounts = [s for s in slots if (self.resolver.specs.get(s) or {}).get("builtin") in AMOUNTS]
        if words & (_AMOUNT_WORDS | set(_slot_words(amounts))):
            return True
        carried = dict(options.filled_slots)
        numbers = [carried.get(slot, "").split(" ")[0] for slot in amounts]  # "45 USD" -> "45"
        return any(re.search(rf"(?<![\d.,]){re.escape(n)}(?:\.0+)?(?!\d|[.,]\d)", text) for n in numbers if n)

    def _unread(self, text: str, entities: list[ResolvedEntity]) -> list[ResolvedEntity]:
        """The model's amounts, numbers and clock times that did not resolve: "make it two fifty"
        (2.50 or 250?), "make it 2:30am" on a night the clocks skip it. Refused like a date that lies
        behind: not the carried value either, so the slot is asked again (the turn was answered
        alone, as out of scope, and handed to a person)."""
        return [e for e in entities if e.source == "model" and not e.resolved
                and ((self.resolver.specs.get(e.type) or {}).get("builtin") in AMOUNTS
                     and not counts_a_pause(text, e.text, e.end)  # "actually, one | second": a pause, not an amount
                     or time_only(e.text) is not None
                     or DOTTED_DATE.search(e.text) is not None)]  # "make it 9.30 instead" kept the agreed 09:00

    def _on_the_agreed_day(self, text: str, previous: str, entities: list[ResolvedEntity],
                           options: RequestOptions) -> list[ResolvedEntity]:
        """"make it 3pm" for a payment agreed for Friday is Friday at 3pm, not today (or Monday); a
        time the clocks skip that day ("make it 2:30am" on a spring-forward night) is unresolved.
        "no, the 8th" for a charge on October 5th is October 8th, not November's (a day of the
        month alone keeps the agreed month, where that day lies in the intent's direction). A day
        that has passed since is no agreed day (for `previous`, whose dates lie ahead)."""
        carried = dict(options.filled_slots)
        reference = self.resolver.reference_time(options)
        out, read_with = [], []  # (where a span ended, where the half of the day read with it ended)
        for e in entities:
            if (e.resolved and e.resolution.get("grain") == "day"
                    and (kept := _the_agreed_time(carried.get(e.type), e.resolution["value"])) is not None):
                out.append(replace(e, resolution={"kind": "datetime", "value": kept, "grain": "minute"}))
                continue  # "yes friday" of a payment on Friday at 9am: Friday at 9am (it was midnight)
            its_day = False  # the day named is the agreed one
            if e.resolved and time_only(e.text) is not None and (day := day_named_before(text, e.start)) is not None:
                # "no, friday at 5pm" with the model's span "5pm": friday, not the agreed day
                named = self.resolver.resolve_value(e.type, text[day:e.end], reference, previous in
                                                    self.resolver.past_intents, locales.get(options.locale))
                its_day = named is not None and self._the_agreed_weekday(text[day:e.start], named, e.type, previous,
                                                                         options)
                if named is not None and not its_day:
                    out.append(replace(e, text=text[day:e.end], start=day, resolution=named))
                    continue
            time_said = e.text
            if (e.resolved and e.resolution.get("grain") != "day"  # "friday 18.12" in en-GB: Friday 18 December
                    and (whole := _WEEKDAY_THEN_TIME.fullmatch(e.text.strip())
                         or _TIME_THEN_WEEKDAY.fullmatch(e.text.strip())) is not None):
                # "make it friday at 5pm", all one span: the agreed Friday's weekday is that day too
                its_day = self._the_agreed_weekday(whole.group("day"), e.resolution, e.type, previous, options)
                time_said = ("" if whole.group("time").lower().startswith(("at ", "by ")) else "at ") + whole.group(
                    "time") if its_day else time_said  # "at 4.30": a time (alone, "4.30" is left to the date rules)
            # the agreed date, or the day said while its hour is asked ("tomorrow at five": "5pm" is
            # then), unless the turn names another ("no, today at 5pm" with the model's span "5pm")
            agreed = carried.get(e.type) or (carried.get(day_key(e.type)) if its_day or not names_a_day(text) else None)
            said = time_only(time_said) if agreed and e.resolved else None
            day_said = (day_of_month(e.text) if e.type in carried and e.resolved and said is None
                        and not names_a_month(text) else None)  # "no, the 8th this month": that month
            day = (self.resolver.resolve_carried(e.type, agreed, 1, previous, reference)
                   if said is not None or day_said is not None else [])
            if len(day) != 1 or day[0].get("kind") != "datetime":
                out.append(e)
                continue
            at = dt.datetime.fromisoformat(day[0]["value"])
            if said is not None and reference is not None and says_tonight(text) and not names_a_day(
                    _TONIGHT.sub(" ", text)):  # "tonight at 7pm" (the model's span "7pm") of a payment on Friday
                at = reference  # is today's ("tonight? no, 7pm friday" is Friday's)
            zone = reference.tzinfo if reference is not None else at.tzinfo  # its offset may change that day
            if said is not None:  # on the agreed day, on the clock of the zone it names ("make it 4pm et")
                half = _HALF_OF_DAY.match(text, e.end)  # "make it 9:30 | pm": the model's span without it
                twelve_hour = 1 <= said.hour <= 12 and not _HALF_SAID.search(e.text) and not _ZERO_LED.search(e.text)
                if half is not None and twelve_hour:
                    hour = _on_the_half(said.hour, half)
                    said = None if hour is None else said._replace(hour=hour)  # "9:30 in the afternoon": which?
                    read_with.append((e.end, half.end()))
                elif twelve_hour and at.time() != dt.time() and said.zone is None:
                    said = _near(said, at)  # "make it 8:30" after 21:00 is 20:30 (it was 08:30)
                resolution = None if said is None else self._ahead(_at_the_time(at, said, zone), previous, reference)
                e = replace(e, resolved=resolution is not None, resolution=resolution)  # None: the clocks skip it
                if read_with and read_with[-1][0] == e.end:  # the time's words, with the half of the day
                    e = replace(e, end=read_with[-1][1], text=text[e.start:read_with[-1][1]])
            elif (value := self._that_month(at, day_said, zone, previous, reference)) is not None:
                grain = "day" if value.time() == dt.time() else "minute"  # the agreed time of day stays
                e = replace(e, resolution={"kind": "datetime", "value": value.isoformat(), "grain": grain})
            out.append(e)
        # what the model made of the half of the day read with a time ("9:30 | in the evening": a second date)
        return [e for e in out if not any(after <= e.start and e.end <= upto and e.start < upto
                                          for after, upto in read_with)]

    def _hours_of_a_part_of_the_day(self, text: str, entities: list[ResolvedEntity], options: RequestOptions,
                                    previous: str) -> list[ResolvedEntity]:
        """The hour said right before a part of the day the model tagged, as an amount or not at all,
        in a turn that moves no money: "make it 8 | tonight", "make it 7 in the | evening" are 20:00
        and 19:00 (they were $8.00 tonight and $7.00 at the evening's 19:00). In a first turn it
        stays an amount ("I was charged 10 tonight"), as with a verb that moves money ("send 10
        tonight") or a currency ("make it $8 tonight")."""
        if _MOVES_MONEY.search(text):
            return entities
        ordered = sorted(entities, key=lambda e: e.start)
        out: list[ResolvedEntity] = []
        for i, e in enumerate(ordered):
            hour = _HOUR_BEFORE_PART_OF_DAY.search(text, 0, e.start)
            if (hour is None or (self.resolver.specs.get(e.type) or {}).get("builtin") != "datetime"
                    or not _HOUR_THEN_PART_OF_DAY.fullmatch(text, hour.start(), e.end)):
                out.append(e)
                continue
            before = [o for o in ordered[:i] if o.end > hour.start()]  # what the model made of the hour
            if any((self.resolver.specs.get(o.type) or {}).get("builtin") not in AMOUNTS for o in before):
                out.append(e)
                continue
            said = text[hour.start():e.end]
            value = self.resolver.resolve_value(e.type, said, self.resolver.reference_time(options),
                                                previous in self.resolver.past_intents, locales.get(options.locale))
            if value is None:
                out.append(e)
                continue
            out = [o for o in out if o not in before]
            out.append(ResolvedEntity(e.type, said, hour.start(), e.end, e.confidence, e.source, True, value))
        return out

    def _the_date_asked(self, text: str, spec: dict, slots: list[str], entities: list[ResolvedEntity],
                        options: RequestOptions, previous: str) -> list[ResolvedEntity]:
        """The turn's words, none a number, read whole as the date asked when the model tagged none:
        "right away" answering "When should the transfer happen?" (read as a yes, it was asked
        again, and again)."""
        asked = self._asked(spec, slots, options)
        if ((self.resolver.specs.get(asked or "") or {}).get("builtin") != "datetime"
                or any(e.type == asked for e in entities)):
            return []
        if any(c.isdigit() for c in words_to_digits(text.lower())) or days_refused(text):
            return []  # "5" answering which five? is asked again, never the 5th (numbers have rules of their own)
        reference = self.resolver.reference_time(options)
        past, locale = previous in self.resolver.past_intents, locales.get(options.locale)
        words = [(m.start(), m.end()) for m in _TURN_WORD.finditer(text)]
        if len(words) > _DATE_ASKED_WORDS:
            return []
        # the words whole, then without the fillers around them: "right away please", "do it right away"
        for lo, hi in sorted(((lo, hi) for lo in range(len(words)) for hi in range(lo + 1, len(words) + 1)),
                             key=lambda span: span[0] - span[1]):
            if (not all(_filler(text[a:b]) for a, b in words[:lo] + words[hi:])
                    or all(_filler(text[a:b]) for a, b in words[lo:hi])):
                continue
            start, end = words[lo][0], words[hi - 1][1]
            while end > start and text[end - 1] in _EDGE_PUNCT:
                end -= 1
            value = self.resolver.resolve_value(asked, text[start:end], reference, past, locale)
            if value is not None:
                return [ResolvedEntity(asked, text[start:end], start, end, 1.0, "context", True, value)]
        return []

    def _days_of_times_asked(self, refused: list[ResolvedEntity], previous: str,
                             options: RequestOptions) -> tuple[tuple[str, str], ...]:
        """("<slot>.day", the agreed date's day) for each agreed date whose new time is asked, the
        turn naming no day ("move it to 5.00" after 09:00: 05:00 or 17:00?): the answer "5pm" falls
        on that day (it fell on today)."""
        carried = dict(options.filled_slots)
        reference = self.resolver.reference_time(options)
        out = []
        for slot in dict.fromkeys(e.type for e in refused):
            agreed = self._agreed(slot, carried.get(slot), previous, options)
            if ((self.resolver.specs.get(slot) or {}).get("builtin") != "datetime" or agreed is None
                    or reference is None or day_key(slot) in carried
                    or not all(_a_time_of(e.text.strip(), agreed) for e in refused if e.type == slot)):
                continue  # "make it yesterday", "this morning" at noon: no day to keep
            at = agreed.astimezone(reference.tzinfo)
            midnight = wall_time(dt.datetime(at.year, at.month, at.day), reference.tzinfo, "day")
            if midnight is not None:
                out.append((day_key(slot), midnight.isoformat()))
        return tuple(out)

    def _agreed(self, slot: str, carried: str | None, previous: str, options: RequestOptions) -> dt.datetime | None:
        """A date carried for `slot` (agreed, or a day kept) read back; None when it reads as no date."""
        day = self.resolver.resolve_carried(slot, carried or "", 1, previous, self.resolver.reference_time(options))
        if len(day) != 1 or day[0].get("kind") != "datetime":
            return None
        return dt.datetime.fromisoformat(day[0]["value"])

    def _agreed_day_refused(self, text: str, previous: str, slots: list[str], options: RequestOptions,
                            entities: list[ResolvedEntity]) -> str | None:
        """The date slot whose agreed day, or day kept, the turn refuses ("5pm, not tomorrow" after
        "tomorrow at five"; "5pm, not friday" of a payment agreed for Friday): that day is then no
        day to put a time on (the money moved on the day refused). Not when a date the turn gives
        names another day ("not tomorrow, wednesday at 5pm"): that one replaces it, as any value
        said beside another's "not" does; one the model did not tag ("not tomorrow, wednesday")
        is read by no rule, and the date is asked."""
        refused = days_refused(text)
        if not refused:
            return None
        if any(e.type in slots and e.resolved and time_only(e.text) is None and not after_not(text, e.start)
               and (self.resolver.specs.get(e.type) or {}).get("builtin") == "datetime" for e in entities):
            return None
        reference = self.resolver.reference_time(options)
        carried = dict(options.filled_slots)
        past = previous in self.resolver.past_intents
        locale = locales.get(options.locale)
        for slot in slots:
            if (self.resolver.specs.get(slot) or {}).get("builtin") != "datetime":
                continue
            agreed = self._agreed(slot, carried.get(slot) or carried.get(day_key(slot)), previous, options)
            if agreed is None:
                continue
            day = agreed.date()
            for words in refused:
                said = self.resolver.resolve_value(slot, words, reference, past, locale)
                if said is None or said.get("kind") != "datetime":
                    continue
                named = dt.datetime.fromisoformat(said["value"]).date()
                if named == day or _WEEKDAY_WORDS.fullmatch(words) and named.weekday() == day.weekday():
                    return slot  # "not friday" of Friday the 18th
        return None

    def _the_agreed_weekday(self, words: str, named: dict, slot: str, previous: str, options: RequestOptions) -> bool:
        """Whether the day named before a time is a weekday, the agreed date's own ("no, friday at
        5pm" for a payment agreed for Friday the 18th: that Friday, it was the 11th; one agreed for
        next Friday said on a Friday was paid today)."""
        if _WEEKDAY_WORDS.fullmatch(words.strip(" ,")) is None:
            return False
        carried = dict(options.filled_slots)
        agreed = self._agreed(slot, carried.get(slot) or carried.get(day_key(slot)), previous, options)
        if agreed is None or named.get("kind") != "datetime":
            return False
        return agreed.weekday() == dt.datetime.fromisoformat(named["value"]).weekday()

    def _that_month(self, at: dt.datetime, day: int, zone, previous: str,
                    reference: dt.datetime | None) -> dt.datetime | None:
        """The `day`th of the agreed date's month, at its time of day, when that month has one and it
        lies in `previous`'s direction from today (else None: the day's own reading stands)."""
        try:
            naive = at.replace(tzinfo=None, day=day)
        except ValueError:  # "the 31st" of November
            return None
        value = wall_time(naive, zone, "minute")
        if value is None or reference is None:
            return None
        past = previous in self.resolver.past_intents
        today = reference.date()
        return value if (value.date() <= today if past else value.date() >= today) else None

    @staticmethod
    def _asked(spec: dict, slots: list[str], options: RequestOptions) -> str | None:
        """The slot the previous answer asked for: the first of its `slots_missing` the caller sent
        back, else what the responder asks first: the intent's first required slot not carried,
        then a date whose hour is asked (its day kept). A bare answer is read as it first: "the 15"
        answering "When should the payment go out?" is the 15th, not $15, and "5" answering "When
        should the transfer happen?" (an optional date, asked because "tomorrow at five" could not
        be read) is no amount; "20" answering "How much should the payment be?" is $20 even with
        a day kept (it was the 20th)."""
        carried = {k for k, _ in options.filled_slots}
        day_kept = [k.removesuffix(f".{DAY}") for k in carried if k.endswith(f".{DAY}")]  # a date whose hour is asked
        return next((s for s in (*options.slots_missing, *(spec.get("required") or ()), *day_kept)
                     if s not in carried and s in slots), None)

    def _other(self, text: str, slots: list[str],
               options: RequestOptions) -> tuple[bool, ResolvedEntity | None, RequestOptions]:
        """"the other card" -> (True, the catalog's other value, options) when there is exactly one,
        else (True, None, options without the carried value, so the slot is asked for again);
        (False, None, options) when the turn names no catalog slot of the intent that way."""
        m = _OTHER.search(text)
        if m is None:
            return False, None, options
        carried = dict(options.filled_slots)
        catalogs = [s for s in slots if s in self.resolver.catalogs]
        what = m.group("what").lower()
        if what == "one":
            named = [s for s in catalogs if s in carried]
        else:
            named = [s for s in catalogs if what in (s, s + "s", s.replace("_", ""))]
        if len(named) != 1:
            return False, None, options
        slot = named[0]
        catalog = self.resolver.catalogs[slot]
        current = {v.strip() for v in carried.get(slot, "").split(",")}
        others = [e for e in catalog.entries if e.id not in current]
        if slot not in carried or len(others) != 1:
            return True, None, _without(options, {slot})
        entry = others[0]
        return True, ResolvedEntity(slot, text[m.start():m.end()], m.start(), m.end(), 1.0, "context", True,
                                    {"kind": "catalog", "id": entry.id, "value": entry.value, "score": 1.0},
                                    role_of(text, m.start())), options

    def _bare_value(self, text: str, tokens: list[tuple[int, int, str]], slots: list[str], options: RequestOptions,
                    past: bool, asked: str | None = None, free_ok: bool = False,
                    intent_spec: dict | None = None, previous: str | None = None) -> ResolvedEntity | None:
        """The turn's words (`tokens`, its pauses left out) less fillers, read as the first of the
        intent's slots they are a value of; as free text only for the slot that was asked ("Amazon"
        answering "Which payee?").
        `past`: the intent's dates lie behind ("friday" after a lost card is the last one); when
        they lie ahead, a date dropped for lying in the past ("yesterday") comes back unresolved,
        a refused date."""
        pointing = _PRONOUN_ONE.search(text) is not None  # "the credit one": "one" picks, it is not 1
        # "right away" is a date ahead of a request with a time to act (`when:`), or part of a name
        # ("Right Away Movers"), "right" alone a filler; "right away? no", "maybe right away" say no date
        doubted = any(w == "right" for _, _, w in tokens) and any(  # (read only where "right" is said)
            m.group().strip(_EDGE_PUNCT).lower() in _DOUBTING_NOW for m in _TOKEN.finditer(text))
        now_said = free_ok or previous is not None and previous in self.when  # a time to act, or a name
        kept = [(start, end) for i, (start, end, word) in enumerate(tokens)
                if word and (word not in _FILLER or not (doubted or past) and now_said and _right_away(tokens, i))
                and not (pointing and word == "one") and not _agreeing_now(tokens, i)]
        if not kept:
            return None
        start, end = kept[0][0], kept[-1][1]
        while end > start and text[end - 1] in _EDGE_PUNCT:
            end -= 1
        while start < end and text[start] in _EDGE_PUNCT:
            start += 1
        surface = text[start:end]
        if not surface:
            return None
        reference = self.resolver.reference_time(options)
        locale = locales.get(options.locale)
        last = start + surface.rfind(" ") + 1  # where the last word starts: "move it to | 8"
        moved = (_MOVES_A_DATE.search(text, 0, last) is not None and not _CURRENCY_SAID.search(surface)
                 and _an_hour(text[last:end]))  # "move it to 80" is the amount: no hour
        timed = (surface.split()[0].lower() in _TIME_PREPOSITIONS or moved  # "at 5", "on the 3rd": no amount
                 or _an_hour_of_the_day(surface) and not _MOVES_MONEY.search(text)  # "make it 8 tonight": 20:00
                 or _AN_HOUR_PLACED.search(surface) is not None and not _CURRENCY_SAID.search(surface)
                 and not _RELATIVE.search(text))  # "friday but at 5"; not "bring it down by 5"
        counting = _counting(text, kept)  # "two weeks", "account 2": the number counts or names a thing
        # "make it 9.30 instead" after 09:00: 09:30 on the agreed day, not $9.30 (`_dotted_time`)
        # (the time may come after the words that move it: "move it to 10.30", "can you do it at 10.00")
        dot = _DOTTED_NUMBER_IN.search(text, start, end)
        read = (self._dotted_time(text, dot.start(), end, previous, intent_spec, slots, options)
                if intent_spec is not None and previous is not None and dot is not None else None)
        if read is not None:
            return ResolvedEntity(read[0], text[dot.start():read[2]], dot.start(), read[2], 1.0, "context",
                                  read[1] is not None, read[1])
        # "12.25" answering "When?": a date written with a dot (unresolved in en-US), never the amount
        dated = ((self.resolver.specs.get(asked or "") or {}).get("builtin") == "datetime"
                 and DOTTED_DATE.fullmatch(surface))
        for slot in slots:
            spec = self.resolver.specs.get(slot)
            if spec is None or (spec["kind"] == "free" and not (slot == asked and free_ok)):  # free text takes any words
                continue
            if ((timed and spec.get("builtin") in _COUNTED) or ((counting or dated) and spec.get("builtin") in AMOUNTS)
                    or (pointing and spec["kind"] != "catalog")):
                continue  # "at 5", "two weeks" are no amount; "the first one" points at a thing, not a date
            at, said = start, surface
            if spec["kind"] == "catalog" and (lead := LEADING_ROLE.match(surface)) and lead.end() < len(surface):
                at, said = start + lead.end(), surface[lead.end():]  # "no, from joint": joint, the source
            if spec["kind"] == "catalog" and a_persons_name(text, at, end):
                continue  # "to Ira": a person, not the IRA
            if spec["kind"] == "free":
                lead = _NAME_LEAD_IN.match(said).end()
                at, said = (at + lead, said[lead:]) if lead < len(said) else (at, said)
            if spec["kind"] == "free" and (_NO_ANSWER.search(said) or self._typed(said, reference, past, locale)):
                continue  # "eighty bucks", "tomorrow", "my debit card", "not sure" answering "Which city?": no city
            if spec.get("builtin") == "datetime" and day_key(slot) in dict(options.filled_slots) and _an_hour(said):
                return ResolvedEntity(slot, surface, start, end, 1.0, "context")  # "5" for "tomorrow at five": which?
            if (spec.get("builtin") == "datetime" and not past and slot in dict(options.filled_slots) and timed
                    and _BY_AN_HOUR.fullmatch(said)):
                return ResolvedEntity(slot, surface, start, end, 1.0, "context")  # "by 5" of a date agreed: 5 o'clock, or the 5th?
            if spec.get("builtin") == "datetime" and moved and not past:  # "move it to 8": which 8? (not the 8th)
                return ResolvedEntity(slot, text[last:end], last, end, 1.0, "context")
            value = self.resolver.resolve_value(slot, said, reference, past, locale)
            if value is None and slot == asked and slot in self.resolver.catalogs:
                entry = self.resolver.catalogs[slot].narrowed(said)  # "the credit one": the credit card
                if entry is not None:
                    value = {"kind": "catalog", "id": entry.id, "value": entry.value, "score": 1.0}
            if value is not None:
                role = role_of(text, at) if value["kind"] == "catalog" else None  # "and to savings"
                return ResolvedEntity(slot, said, at, end, 1.0, "context", True, value, role)
            if spec.get("builtin") == "datetime" and not past and (self._is_date(surface, reference, locale)
                                                                   or bare_hour(surface)):
                return ResolvedEntity(slot, surface, start, end, 1.0, "context")  # refused: asked again
        return None

    def _typed(self, said: str, reference: dt.datetime | None, past: bool, locale: locales.Locale) -> bool:
        """Whether `said` reads as a value of a type of the domain other than free text, or as a
        time of day ("at 5 o'clock" is no city) or a date, whatever the intent's dates. An amount
        counts only when the words say nothing else: "five guys", "century 21" are payees."""
        if _CLOCK_TIME.search(said) or bare_hour(said):
            return True
        if reference is not None and any(self.resolver.dates.resolve(said, reference, back, locale.day_first)
                                         for back in (False, True)):
            return True  # a date, past or ahead: "yesterday" after a bill is no payee (it was "your yesterday bill")
        return any(spec["kind"] != "free" and self.resolver.resolve_value(etype, said, reference, past, locale)
                   and (spec.get("builtin") not in AMOUNTS or amount_only(said) or not _a_name(said))
                   for etype, spec in self.resolver.specs.items())

    # -- the answer ------------------------------------------------------------------------------

    def _nothing_to_repeat(self, prediction: Prediction, entities: list[ResolvedEntity], escalation: Escalation,
                           options: RequestOptions) -> Turn | None:
        """"sorry, what?" with no intent to continue (a backend clears the context after a decided
        turn: a confirmation, a cancel): a REPEAT of no intent, so that the backend says its own
        last answer again; the server has none to rebuild."""
        if prediction.intent not in self.repeat or _unsure(escalation):
            return None
        return Turn(FollowUp("repeat", ""), entities, escalation,
                    self.responder.respond(prediction.intent, entities, escalation, options))

    def _answer(self, kind: str, previous: str, own: str, entities: list[ResolvedEntity],
                found: list[ResolvedEntity], escalation: Escalation, options: RequestOptions,
                add_to: frozenset[str]) -> Turn:
        merged = entities + [e for e in found if e not in entities]
        merged.sort(key=lambda e: e.start)
        if kind == "update" and options.slots_missing:
            # an optional slot the last answer asked for, answered with another of its kind ("Which
            # card?" | "from checking instead"): read back what there is, not asked again and again;
            # another kind of value ("make it 60" answering "When?") leaves the question standing
            given = {self._kind_of(e.type) for e in found if e.resolved and e.type not in options.slots_missing}
            options = replace(options, slots_missing=tuple(s for s in options.slots_missing
                                                           if self._kind_of(s) not in given))
        tier = self.policy.policy.get(previous)
        if tier and kind != "cancel":
            hint = Escalation(True, "policy", tier, escalation.scores,
                              f"follow-up of {previous!r}, which the domain sends to {tier}")
        else:
            hint = Escalation(False, None, None, escalation.scores, "")
        follow_up = FollowUp(kind, previous)
        if kind == "cancel":
            return Turn(follow_up, merged, hint, self.responder.respond(own, [], hint, options))
        # a pause changes nothing: the values it names ("did you say savings?") fill no slot
        response = self.responder.respond(previous, [] if kind in ("hold", "repeat") else merged, hint, options,
                                          add_to)
        # the turn's own words ("Sure, take your time.", "Great, thanks for confirming.") with the previous
        # intent's slots: a pause keeps the question asked; a confirmation once nothing is missing
        if response is not None and (kind == "hold" or (kind == "confirm" and not response.slots_missing
                                                         and not hint.escalate)):
            said = self.responder.respond(own, [], hint, options)
            if said is not None:
                response = Response(said.text, said.template_id, response.slots_used, response.slots_missing)
        return Turn(follow_up, merged, hint, response)


@dataclass(slots=True)
class _Said:
    """What a turn says for the previous intent's slots, before the kind of follow-up is decided."""

    entities: list[ResolvedEntity]  # the turn's, dates read for the previous intent, untagged values added
    found: list[ResolvedEntity]  # values for the previous intent's slots
    negated: list[ResolvedEntity]  # values the turn takes back ("not checking")
    options: RequestOptions  # the carried slots, less those the turn asks again
    asked: bool  # a slot changes without a value to put in it ("the other card" of three): it is asked again
    only: bool  # the turn is nothing but values and the words that place them
    phrase: str  # the turn's words, lower case, its pauses left out
    question: str | None  # the slot the previous answer asked for
    kept: frozenset[str] = frozenset()  # slots whose other carried values stay beside a replaced one
    elsewhen: bool = False  # a yes that asks for another time than the agreed one, no date read (`_says_when`)


def _settled(said: _Said) -> _Said:
    """The values taken back ("not checking, savings": checking is what the turn takes away, not a
    value) and those said relative to the carried one ("make it 50 more": not 50, and not the
    carried value either: asked again) removed from what the turn says."""
    found, entities, options, asked, kept = said.found, said.entities, said.options, said.asked, said.kept
    if said.negated:
        gone = {e.type for e in said.negated}
        found = _in_their_place(options, said.negated, [e for e in found if e not in said.negated])
        entities = [replace(e, resolved=False, resolution=None) if e in said.negated else e for e in entities]
        options, kept = _replaced(options, said.negated, found)
        options = _without(options, gone - kept)
        asked = asked or not any(e.type in gone for e in found)
    if _RELATIVE.search(said.phrase):
        relative = {e.type for e in found if (e.resolution or {}).get("kind") in SINGLE_VALUED}
        found = [e for e in found if e.type not in relative]
        entities = [replace(e, resolved=False, resolution=None) if e.type in relative else e for e in entities]
        options = _without(options, relative)
        asked = asked or bool(relative)
    return replace(said, found=found, entities=entities, options=options, asked=asked, kept=kept)


def _without(options: RequestOptions, slots) -> RequestOptions:
    """`options` with the carried values of `slots` dropped (so their prompts ask again)."""
    return replace(options, filled_slots=tuple((k, v) for k, v in options.filled_slots
                                               if k.partition(".")[0] not in slots))  # with its roles


def _replaced(options: RequestOptions, negated: list[ResolvedEntity],
              found: list[ResolvedEntity]) -> tuple[RequestOptions, frozenset[str]]:
    """A carried catalog slot of several values loses only the one the turn takes back, when the
    turn names its replacement, which takes its place: "not checking, my joint account" after a
    transfer from checking to savings is joint and savings, in that order (dropping the slot lost
    savings), and joint is the source, as checking was (its `account.source` key). Returns the
    options with that change and the slots whose carried values stay."""
    def ids(entities, etype):
        return [e.resolution["id"] for e in entities
                if e.type == etype and (e.resolution or {}).get("kind") == "catalog"]

    slots, kept, swapped = [], set(), {}
    for slot, raw in options.filled_slots:
        if "." in slot:  # a role key (`account.source`): follows its slot, below
            continue
        carried = [v.strip() for v in raw.split(",")]
        taken = [v for v in ids(negated, slot) if v in carried]
        new = ids(found, slot)
        if len(carried) < 2 or not taken or not new or len(taken) == len(carried):
            slots.append((slot, raw))
            continue
        if len(taken) == 1 and len(new) == 1 and new[0] not in carried:
            carried = [new[0] if v == taken[0] else v for v in carried]
            swapped[slot] = (taken[0], new[0])
        else:
            carried = [v for v in carried if v not in taken]
        slots.append((slot, ",".join(carried)))
        kept.add(slot)
    for key, raw in options.filled_slots:
        if "." in key:
            was, now = swapped.get(key.partition(".")[0], (None, None))
            slots.append((key, ",".join(now if v.strip() == was else v.strip() for v in raw.split(","))))
    return replace(options, filled_slots=tuple(slots)), frozenset(kept)


def _swapped(options: RequestOptions) -> RequestOptions | None:
    """The carried values said with a role, each given the other role ("no, the other way around"
    after a transfer from savings to checking: from checking to savings; after one to savings:
    from savings); None unless exactly one slot carries roles."""
    carried = dict(options.filled_slots)
    slots = {k.partition(".")[0] for k in carried if "." in k}
    if len(slots) != 1:
        return None
    (slot,) = slots
    source, destination = carried.get(f"{slot}.source", ""), carried.get(f"{slot}.destination", "")
    turned = {source: destination, destination: source} if source and destination else {}
    values = ",".join(turned.get(v, v) for v in carried.get(slot, "").split(","))
    kept = [(k, v) for k, v in options.filled_slots if k.partition(".")[0] != slot]
    roles = [(f"{slot}.source", destination), (f"{slot}.destination", source)]
    return replace(options, filled_slots=tuple(kept + [(slot, values)] + [(k, v) for k, v in roles if v]))


def _in_their_place(options: RequestOptions, negated: list[ResolvedEntity],
                    found: list[ResolvedEntity]) -> list[ResolvedEntity]:
    """`found`, where one value said without a role replaces one value taken back that was carried
    with a role, with that role: "not savings, checking" after a transfer to savings is a transfer
    to checking (the role was lost, and the answer could not say which way the money goes)."""
    carried = dict(options.filled_slots)
    out = list(found)
    for slot in {e.type for e in negated}:
        taken = [e for e in negated if e.type == slot]
        new = [i for i, e in enumerate(out) if e.type == slot and e.role is None]
        if len(taken) != 1 or len(new) != 1 or (taken[0].resolution or {}).get("kind") != "catalog":
            continue
        value = taken[0].resolution["id"]
        roles = [role for role in ROLES if value in carried.get(f"{slot}.{role}", "").split(",")]
        if len(roles) == 1:
            out[new[0]] = replace(out[new[0]], role=roles[0])
    return out


def _role_replaced(options: RequestOptions, found: list[ResolvedEntity],
                   add_to: frozenset[str]) -> tuple[RequestOptions, frozenset[str]]:
    """A carried slot loses only the values of the roles the turn says: "no, to my joint account"
    after a transfer from checking to savings is from checking to joint (replacing the whole slot
    lost the source), and "to savings" after "checking" answered "Which account?" keeps checking.
    A turn that says both roles replaces the slot. Returns the options with those values dropped
    and the slots now added to."""
    carried = dict(options.filled_slots)
    changed: dict[str, str] = {}
    for slot in {e.type for e in found} - add_to:
        said = [e for e in found if e.type == slot]
        if not all(e.role and e.resolved for e in said):
            continue
        roles = {e.role for e in said}
        if roles >= set(ROLES):
            continue
        gone = {v for key, raw in carried.items() if key.partition(".")[0] == slot
                and key.partition(".")[2] in roles for v in raw.split(",")}
        kept = [v for v in carried.get(slot, "").split(",") if v and v not in gone]
        if kept:
            changed[slot] = ",".join(kept)
            changed.update({f"{slot}.{role}": "" for role in roles})
    if not changed:
        return options, add_to
    slots = [(k, changed.get(k, v)) for k, v in options.filled_slots]
    return replace(options, filled_slots=tuple((k, v) for k, v in slots if v)), add_to | {
        k for k in changed if "." not in k}


def _adds(words: list[str]) -> bool:
    """Whether the turn adds its values to the carried ones: "and savings", "also the visa",
    "savings too", "my credit card as well please"."""
    said = [w for w in words if w not in ("please", "thanks")] or words
    return words[0] in _ADDITIVE or said[-1] == "too" or said[-2:] == ["as", "well"]


def _added(said: _Said) -> frozenset[str]:
    """The slots an adding turn adds to. An amount or a date holds one value: a turn of nothing
    but such values changes it ("and at 3 pm" after a transfer on Friday is Friday at 3 pm; added,
    two dates were no date, and the transfer went out today); one that also names another account
    or payee ("and 100 to joint", "and also one to verizon") asks for something more, and the two
    amounts ask again which one."""
    if said.only and all((e.resolution or {}).get("kind") in SINGLE_VALUED for e in said.found):
        return frozenset()
    return frozenset(e.type for e in said.found)


_I = frozenset({"i", "i'm", "i've", "i'd", "i'll", "i’m", "i’ve", "i’d", "i’ll"})  # always capitalised


def _a_question(text: str) -> bool:
    """Whether the turn opens as a question ("what is an index fund", "Is my flight delayed", "who
    made you?", "Who"): a question word alone, or with a word in lower case after it, or a question
    mark. "Can Can Bakery", "Will's Pizza", "Which Wich" are names."""
    m = _QUESTION.match(text)
    following = m.group("next") if m is not None else ""
    return m is not None and (not following or following[0].islower() or following.lower() in _I
                              or text.rstrip().endswith("?"))


def _plain_reply(words: list[str], yes: bool) -> bool:
    """Whether a long yes (`yes`) or no says nothing but that: no word that qualifies or changes
    it, no number, not both a yes and a no ("no wait, I just found it" is a plain no)."""
    said = set(words)
    return (not said & (_YES_QUALIFIERS if yes else _QUALIFIERS) and not any(_number_word(w) for w in words)
            and not (said & _YES_WORDS and said & _NO_WORDS))


def _unsure(escalation: Escalation) -> bool:
    """Whether the turn has no confident intent of its own (escalated as out of scope, low confidence or ambiguous)."""
    return escalation.escalate and escalation.reason in UNSURE


def _runs(tokens: list[tuple[int, int, str]], found: list[ResolvedEntity], verbs: bool,
          limit: int | None = RUN_WORDS) -> list[list[tuple[int, int, str]]]:
    """The turn's word runs between the values found and the words that set values apart ("no,
    from | joint | to" around a tagged "checking"; "20 | to joint | on friday"): each may hold one
    more value the model did not tag, in a few words; more are a sentence ("is expiring, send me
    a new one"), no value (`limit`: None for a turn with no value tagged, whose words may be one
    name). `verbs`: the verbs of a request are a correction's fillers; else a run holding one is a
    sentence ("can you send 20", a request). "take 20 | out of joint" are two runs: 20 and joint,
    never one amount read from the whole."""
    runs: list[list[tuple[int, int, str]]] = [[]]
    for token in tokens:
        start, end, word = token
        if any(e.start < end and start < e.end for e in found):
            runs.append([])
        elif word in _APART:
            runs.append([token])  # kept: it says which way the value after it goes ("from joint")
        else:
            runs[-1].append(token)
    filler = _FILLER | _APART | (_VERBS if verbs else frozenset())
    out = []
    for run in runs:
        while run and run[-1][2] in _PLACING:  # "joint | on friday": "on" places the date
            run = run[:-1]
        while verbs and run and run[0][2] in filler and run[0][2] not in _APART:  # "i want | 20": 20, not "want 20"
            run = run[1:]
        content = _content_words(run, filler)
        if content and (limit is None or content <= limit) and (verbs or not any(w in _VERBS for _, _, w in run)):
            out.append(run)
    return out


def _says_when(phrase: str, now_agrees: bool) -> bool:
    """Whether a yes's words (`_Said.phrase`) ask for a time other than the agreed one; for a
    request that goes now (`now_agrees`: "yes pay it today" of a bill paid now, or of a transfer
    with no date), any but today. Pleasantries say no time ("yes, have a good evening")."""
    if _WHEN_SAID.search(phrase) is None:  # most turns: no word of a time
        return _a_misspelt_weekday(phrase)
    said = _PLEASANTRIES.sub(" ", phrase)
    return any(not now_agrees or m.group().lower() != "today" for m in _WHEN_SAID.finditer(said))


def _a_misspelt_weekday(phrase: str) -> bool:
    """Whether `phrase` names a weekday misspelt ("can you do it thursdy", "make it wensday"): one
    edit (a swap of two letters counts one) from a weekday's name, two from a name of seven
    letters or more; so "money", "fridge" or "sundae" (two from six-letter names) are none."""
    for word in _WORD.findall(phrase.lower()):
        if 5 <= len(word) <= 11 and word[0] in "mtwfs" and "d" in word:  # a sieve: most words are none
            match = process.extractOne(word, _WEEKDAY_NAMES, scorer=OSA.distance, score_cutoff=2)
            if match is not None and match[1] <= (2 if len(match[0]) >= 7 else 1):
                return True
    return False


def _past_request_words(run: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """`run` less the words of a request or a correction it opens with ("can you do it | tonight",
    "could you make it | 60", "yes pay it | now", "no I said | tuesday"), as `_runs` takes them
    off a run beside a value, and those that agree to it after ("yes friday | works")."""
    start, end = 0, len(run)
    while start < end and (run[start][2] in _REQUEST_WORDS and not _right_away(run, start) or _agreeing_now(run, start)):
        if run[start][2] == "like" and not (start and run[start - 1][2] in ("i'd", "would", "i", "we'd", "id")):
            break  # "yes just like last month": no request
        start += 1
    while end > start and run[end - 1][2] in _AGREEING_AFTER:
        end -= 1  # "yes friday | works", "tomorrow | is better"
    return run[start:end]


def _agreeing_now(tokens: list[tuple[int, int, str]], i: int) -> bool:
    """Whether the `i`th word is the "now" after "that's right" ("yes thats right now") or "for"
    ("yes, that's it for now"): no date."""
    return tokens[i][2] == "now" and i >= 1 and (tokens[i - 1][2] == "for" or i >= 2 and tokens[i - 1][2] == "right"
                                                 and tokens[i - 2][2] in _AGREEING)


def _right_away(tokens: list[tuple[int, int, str]], i: int) -> bool:
    """Whether the `i`th word is the "right" of "right away" or "right now" (a date), not a filler
    ("that's right, now ..." is one: its token holds the comma)."""
    start, end, word = tokens[i]
    return (word == "right" and end - start == len(word) and i + 1 < len(tokens) and tokens[i + 1][2] in ("away", "now")
            and not (i and tokens[i - 1][2] in _AGREEING))  # "that's right now pay it": "that's right"


def _content_words(run: list[tuple[int, int, str]], filler: frozenset[str]) -> int:
    """How many words of a run are no filler, a number said in words counting as one: "a hundred
    and twenty five" is one value, not four words (a run of more than a few is a sentence)."""
    count, number = 0, False
    for _, _, word in run:
        if word in filler:
            continue
        counted = number
        number = word == "a" or _number_word(word)
        count += not (number and counted)
    return count


def _again(value: ResolvedEntity, tagged: set[tuple[str, str | None]]) -> bool:
    """Whether an untagged value repeats a slot the tagged values fill: any second value of a
    single-valued slot, or the same catalog value twice; another catalog value is one more."""
    kind = (value.resolution or {}).get("kind")
    if kind == "catalog":
        return (value.type, value.resolution["id"]) in tagged
    return any(t == value.type for t, _ in tagged)


# sayings whose numbers count nothing: (their words, the positions of the numbers in them)
_SAYINGS = ((("thanks", "a", "million"), (1, 2)), (("you", "a", "million"), (1, 2)),
            (("a", "million", "thanks"), (0, 1)), (("owe", "you", "one"), (2,)), (("owe", "ya", "one"), (2,)),
            (("owe", "u", "one"), (2,)), (("4", "sure"), (0,)), (("4", "real"), (0,)))  # "4 sure": a transcript's "for sure"
_SAYING_NUMBERS = frozenset(saying[i] for saying, at in _SAYINGS for i in at)


def _saying_words(tokens: list[tuple[int, int, str]]) -> set[int]:
    """The number words of a saying in the turn ("thanks a million", "I owe you one", "yes, 4
    sure"): no amount (they were read back as $1,000,000.00, $1.00 and $4.00)."""
    words = [w for _, _, w in tokens]
    out: set[int] = set()
    if _SAYING_NUMBERS.isdisjoint(words):
        return out
    for i in range(len(words)):
        for saying, at in _SAYINGS:
            if tuple(words[i:i + len(saying)]) == saying:
                out.update(i + j for j in at)
    return out


def _pause_words(text: str, tokens: list[tuple[int, int, str]]) -> set[int]:
    """The tokens of each pause in the turn, a number counting time or a thing ("one moment", "two
    um seconds", "One. Moment.", "one more thing", "a sec"): no amount or number of 1 or 2 (said alone,
    "one moment" after a $500 transfer made it $1)."""
    pause: set[int] = set()
    for i, (_, end, word) in enumerate(tokens):
        counts = word in ("a", "an") or word.isdigit() or words_to_digits(word).isdigit()
        if not counts or (i and tokens[i - 1][2] == "in"):
            continue  # "in 5 minutes" is a time
        stop = pause_end(text, end)
        if stop is not None and not _FROM_THEN.match(text, stop):  # "an hour from now", "a minute ago": a time
            pause.update(j for j in range(i, len(tokens)) if tokens[j][0] < stop)
    return pause


def _counting(text: str, kept: list[tuple[int, int]]) -> bool:
    """Whether a number of the turn (`kept`: fillers left out) counts or names a thing and is no
    amount: the noun right after it ("two weeks", "2 times", "3 payments"), or after "per", "a",
    "each" ("75 per month", "50 each time": a rate), or the word right before it names one ("option
    2", "the account ending 4321"); "75 next week" and "hold on a sec, 50" are amounts."""
    # "one-time", "two-week": the number and its noun
    words = [w for start, end in kept for w in text[start:end].strip(_EDGE_PUNCT).lower().split("-") if w]
    def counts(i: int) -> bool:  # "2 weeks", "75 per month", "50 each time"
        after = words[i + 1:i + 3]
        return bool(after) and (_counted(after[0]) or after[0] in _EVERY and len(after) > 1 and _counted(after[1]))

    return any(_number_word(word) and (counts(i) or i > 0 and words[i - 1] in _NAMING) for i, word in enumerate(words))


def _a_name(said: str) -> bool:
    """Whether words holding a number may be a name ("five guys", "century 21"): none of them places,
    moves or counts ("20 to joint", "fifty three days", "send 50")."""
    words = [w.strip(_EDGE_PUNCT).lower() for w in said.split()]
    return not any(w in _MOVING or _counted(w) for w in words)


def _names(word: str) -> bool:
    """Whether `word` may be part of a name said beside one ("downtown", "city"): no filler, no word
    that places or moves a value, no "not sure" and no number."""
    return bool(word) and not (word in _FILLER or word in _MOVING or word in _LOCATING or word in _COPULAS
                               or _NO_ANSWER.fullmatch(word) or _number_word(word))


_ENDING = frozenset("ending ends digits last".split())  # "the card ending in 4321", "the last 4 are 4321"
_ORDINAL = re.compile(r"\d+(?:st|nd|rd|th)|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth")
# what every number said holds: a digit, or a word of one (more words match than are numbers: a sieve)
_NUMBERISH = re.compile(r"\d|\b(?:zero|oh|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|\w+teen|\w+ty"
                        r"|hundred|thousand|million|billion|grand|dozen|first|second|third|fifth|\w+th|\w+tieth"
                        r"|half|quarter)\b", re.IGNORECASE)


def _a_number_unread(phrase: str) -> bool:
    """Whether a turn's words (`_Said.phrase`) hold a number: in a yes with no value read from it
    ("sure thing, the 15th", "that works, one fifty"), a change no rule read. Not "one" that points
    ("yes, that one", "the first one"), a share ("yes, 100 percent"), nor a number that counts or
    names a thing ("for two weeks", "option 2": `_counting`'s words)."""
    if _NUMBERISH.search(phrase) is None:  # most yeses: no word of a number to read (~20 us a turn)
        return False
    words = phrase.replace("-", " ").split()  # "one-time": "one time", counted
    pointing = _PRONOUN_ONE.search(phrase) is not None
    i = 0
    while i < len(words):
        end = i
        while end < len(words) and (_number_word(words[end]) or end > i and words[end] == "and"):
            end += 1  # a number in words: "one hundred", "a hundred and twenty"
        run, after, before = words[i:end], words[end:end + 1], words[i - 1:i]
        chosen = after in (["one"], ["option"], ["choice"]) or run[-1:] == ["one"] and (
            pointing or len(run) > 1 and _ORDINAL.fullmatch(run[-2]) is not None)
        said = (run in (["10", "4"], ["ten", "four"]) or after in (["off"], ["thumbs"], ["stars"], ["more"], ["%"])
                or set(words[max(i - 3, 0):i]) & _ENDING)  # "10-4", "a one-off", "one more question", "ending in 4321"
        if run and not (chosen or said or run[-1].endswith("%") or after == ["percent"] or after and _counted(after[0])
                        or set(before) & _NAMING):
            return True  # not "the first one", "yes first one", "100 percent", "for two weeks", "option 2"
        i = end + 1 if run else i + 1
    return False


def _number_word(word: str) -> bool:
    return any(c.isdigit() for c in words_to_digits(word))  # "fifty", "$20", "1.5k", "twenty-five"


def _counted(word: str) -> bool:
    return word in _COUNTED_NOUNS or word.rstrip("s") in _COUNTED_NOUNS


def _only_values(tokens: list[tuple[int, int, str]], found: list[ResolvedEntity], also=()) -> bool:
    """The turn is its values and filler words only ("the debit card", "my checking account"): an
    answer to the previous intent's question, not a request of its own ("block my debit card").
    `also`: more words that count as filler: "from", "into", ... beside a value ("from savings to
    checking"), and "not" where it takes a value back ("not savings, my credit card account");
    neither is filler for a bare value: "not now" is no date, "from 5" a time)."""
    return all(not word or word in _FILLER or word in also or any(e.start < end and start < e.end for e in found)
               for start, end, word in tokens)


def _slot_words(slots) -> tuple[str, ...]:
    """The words of slots' names ("amount", "pay_from" -> "pay", "from"): a turn that says them
    speaks of the slot ("change the amount to 9.30")."""
    return tuple(w for slot in slots for w in slot.lower().split("_"))


def _on_the_half(hour: int, half: re.Match) -> int | None:
    """An hour of a 12-hour clock (1-12) on the half of the day `_HALF_OF_DAY` matched: "9 pm" 21,
    "12 am" 0, "12 at night" 0, "10 at night" 22, "5 tonight" 17; None where the part of the day
    holds no such hour ("9.30 in the afternoon", "4.30 at night": which?)."""
    pod = half.group("pod")
    if pod is None:
        return hour % 12 + (12 if half.group("pm") else 0)
    if hour == 12 and pod.lower() in ("night", "tonight"):
        return 0
    return hour_in(pod.lower(), hour)


def _a_time_of(said: str, agreed: dt.datetime) -> bool:
    """Whether `said` is a time alone ("5.00", "4:30", "at five"), maybe beside the agreed date's
    own weekday ("friday at 4.30", "4.30 friday" of a Friday): a new time of the agreed day."""
    whole = _WEEKDAY_THEN_TIME.fullmatch(said) or _TIME_THEN_WEEKDAY.fullmatch(said)
    if whole is not None and WEEKDAYS.get(whole.group("day").lower().removesuffix("s")) == agreed.weekday():
        said = whole.group("time")
    return time_only(said) is not None or _an_hour(said) or _DOTTED_NUMBER_IN.fullmatch(said) is not None


def _the_agreed_time(agreed: str | None, day: str) -> str | None:
    """The agreed date (ISO), when `day` (a day said, ISO at midnight) is its day and it has a
    time of day: the day said again keeps its time."""
    try:
        at, said = dt.datetime.fromisoformat(agreed or ""), dt.datetime.fromisoformat(day)
    except ValueError:
        return None
    if at.tzinfo is not None and said.tzinfo is not None:
        at = at.astimezone(said.tzinfo)  # "...T03:00:00+00:00" is Thursday evening in New York
    return agreed if at.time() != dt.time() and at.date() == said.date() else None


def _another_day(at: dt.datetime | None, reference: dt.datetime | None) -> bool:
    """Whether `at` (a date agreed, or a day kept) falls on another day than today ("tonight" said
    of it is today's)."""
    return at is not None and reference is not None and at.astimezone(reference.tzinfo).date() != reference.date()


def _near(said: TimeOfDay, at: dt.datetime) -> TimeOfDay | None:
    """`said`, a time said as one ("at 4.30", "make it 8:30") on a 12-hour clock without its half of
    the day, on the half nearest the agreed time `at` when that lies within NEAR_S of it ("make it
    8:30" after 21:00 is 20:30, it was 08:30); None when both halves lie far ("move it to 4.30"
    after 09:00: which?)."""
    agreed = at.hour * 60 + at.minute
    hour = min((said.hour % 12, said.hour % 12 + 12), key=lambda h: abs(h * 60 + said.minute - agreed))
    return said._replace(hour=hour) if abs(hour * 60 + said.minute - agreed) <= NEAR_S / 60 else None


def _an_hour(said: str) -> bool:
    """An hour and nothing else, said without am/pm: "5", "at five", "five o'clock"."""
    return bare_hour(said) or _BY_AN_HOUR.fullmatch(words_to_digits(said.strip())) is not None


def _spoken_minutes(said: str) -> int:
    """The minutes of `_SPOKEN_TIME`'s second part: "oh five" 5, "fifteen" 15, "forty-five" 45."""
    words = re.split(r"[\s-]+", said.lower())
    if words[0] in ("oh", "o"):
        return _UNITS.index(words[1]) + 1
    if words[0] in _TEENS:
        return 10 + _TEENS.index(words[0])
    return 20 + 10 * _TENS.index(words[0]) + (_UNITS.index(words[1]) + 1 if len(words) > 1 else 0)


def _at_the_time(at: dt.datetime, said: TimeOfDay, zone) -> dict | None:
    """The datetime resolution of the day of `at` at the time `said`, on the clock of the zone it
    names, else `zone`'s, given in `zone`; None for a time the clocks skip that day."""
    value = wall_time(at.replace(tzinfo=None, hour=said.hour, minute=said.minute, second=0),
                      ZoneInfo(said.zone) if said.zone else zone, said.grain)
    return None if value is None else {"kind": "datetime", "value": value.astimezone(zone).isoformat(),
                                       "grain": said.grain}
