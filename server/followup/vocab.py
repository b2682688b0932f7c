"""The words follow-up rules read a turn by: word sets and patterns, each commented with
what it tells apart."""

from __future__ import annotations

import re

from ..resolve.dates import A_CLOCK_HOUR, HOUR_WORDS, WEEKDAYS

TOKEN = re.compile(r"\S+")
CORRECTION = re.compile(r"\b(?:make it|change it|switch it|actually|instead|rather)\b", re.IGNORECASE)
ADDITIVE = ("and", "also", "plus")
# how a turn that corrects a carried name opens: "no, Target", "actually Target", "sorry I meant Target"
REPAIR_CUES = ("no", "nope", "nah", "actually", "sorry", "oops", "wait", "i meant", "i mean", "not")
REPAIR_CUE = re.compile(r"\W*(?:%s)\b" % "|".join(c.replace(" ", r"\s+") for c in REPAIR_CUES), re.IGNORECASE)
REPAIR_WORDS = frozenset(c.split()[-1] for c in REPAIR_CUES)  # the cue's words a name is not made of
# words that make a no conditional or partial ("no, only the first one", "no, maybe later"), and
# more that make a yes a correction ("yes but ...", "yes, actually ...", "yes it's wrong ...")
QUALIFIERS = frozenset("""
but though although however except instead rather change only until unless if more less half twice double
different another other maybe might perhaps probably later think
""".split())
YES_QUALIFIERS = QUALIFIERS | {"not", "actually", "wrong", "wait", "hold", "mean", "meant", "just"}
YES_WORDS = frozenset({"yes", "yeah", "yep", "yup", "sure", "ok", "okay", "correct", "right", "go", "absolutely"})
NO_WORDS = frozenset({"no", "nope", "nah", "don't", "not", "never", "cancel", "stop"})
# in a turn the model reads as a yes: a pause ("hold it", "I'll think about it"), or no yes at all
# ("go ahead and cancel it"), whatever the model reads
PAUSING = frozenset({"hold", "wait", "hang"})  # the turn's first word
MULLING = re.compile(r"\bthink (?:about it|it over|on it)\b|\bsleep on it\b")
STOPPING = frozenset({"cancel", "stop", "scrap", "don't", "dont", "never"})
SENTENCE_END = re.compile(r"[.!?]\s+$")  # a capital after it opens a sentence, it names nothing
# words that stop, leave, ask for help or judge, capitalised or not: never a name after a no
NO_NAMES = frozenset("""
cancel stop quit exit end abort drop skip leave forget never mind help agent representative human person operator
customer service nothing none both whatever good fine ok okay later continue proceed done wrong keep who why what how
when where bye goodbye hello hi yes yeah please thanks thank bad mistake anyway all it that this one
""".split())
# ... and that say only that ("no" alone is a no, a cancel)
UNKNOWN = re.compile(r"\b(?:(?:i'?m\s+)?not\s+(?:sure|certain)|(?:i\s+)?(?:don'?t|do\s+not)\s+know|dunno|no\s+idea"
                     r"|near\s+me|nearby|around\s+here)\b", re.IGNORECASE)
# words that say the caller has no answer, or one the service cannot know: never free text
NO_ANSWER = re.compile(r"\b(?:not|no|don'?t|dunno|idea|sure|know|near me|nearby|around here|here|where)\b",
                       re.IGNORECASE)
SWAP = re.compile(r"\b(?:(?:the\s+)?other\s+way\s+a?round|(?:the\s+)?(?:reverse|opposite)(?:\s+way)?"
                  r"|swap\s+them|switch\s+them(?:\s+a?round)?)\b")
POINTED = re.compile(r"\b(?:move|push|put|send|take|change|switch|make|do)\s+(?:it|that)\b", re.IGNORECASE)
NUMBER_NEXT = (r"(?:[$€£]|\d|(?:a|an|one|two|three|four|five|six|seven|eight|nine|ten|twenty|thirty"
               r"|forty|fifty|sixty|seventy|eighty|ninety|hundred)\b)")
AN_AMOUNT = (r"(?:[$€£]\s*)?(?:\d[\d.,]*|(?:one|two|three|four|five|six|seven|eight|nine|ten|twenty|thirty|forty"
             r"|fifty|sixty|seventy|eighty|ninety|hundred)\b)(?:\s*(?:dollars?|bucks?|euros?|pounds?))?")
RELATIVE = re.compile(r"\b(?:more|less|fewer|extra|another|additional|on top|double|half|later|earlier)\b"
                      # a change by an amount: "lower it by 5", "reduce the payment by $20", "bump it up by ten"
                      r"|\b(?:lower|rais|increas|decreas|reduc|cut|bump|knock|drop|trim|add)\w*"
                      rf"(?:\s+(?!to\b)[\w']+){{0,4}}\s+by(?=\s*{NUMBER_NEXT})"
                      # "bring it down by 5", "up it by 5", "make it cheaper by 5", "it's off by 5"
                      rf"|\b(?:up|down|cheaper|smaller|bigger|higher|over|under|off)\s+(?:it\s+)?by(?=\s*{NUMBER_NEXT})"
                      # "add 5", "add $5 to it", "take 5 off": (was $5)
                      rf"|\badd(?:ed)?\s+{AN_AMOUNT}\s*(?:(?:to|onto)\s+(?:it|that|the\s+(?:payment|amount|transfer))"
                      r"\b|[.!?]*$)"
                      rf"|\b(?:take|knock|shave)\s+{AN_AMOUNT}\s+off\b", re.IGNORECASE)
OTHER = re.compile(r"\b(?:the\s+)?other\s+(?P<what>[a-z_]+)\b", re.IGNORECASE)
EDGE_PUNCT = ".,!?;:\"'()"
# a turn that opens as a question asks, and names nothing ("how humid is it outside", "is anyone there")
QUESTION = re.compile(r"\W*(?:what's|whats|what|how's|how|when|why|who|where|which|is|are|do|does|did|can|could"
                      r"|will|would|should)(?=[\s?,.!]|$)[\s?,.!]*(?P<next>[\w'’]*)", re.IGNORECASE)
COPULAS = frozenset({"is", "was", "were", "are", "called", "named"})  # "the payee is | Comcast": no part of it
# the words a free-text answer opens with that say what it is, not its name ("it was | at
# Starbucks", "the merchant is | Home Depot", "it's | from Amazon"; "it", "the", "it's" are fillers),
# in lower case only: "At Home", "In and Out Burger", "AT and T" are the names themselves
NAME_LEAD_IN = re.compile(r"(?:(?:[a-z]+\s+)?(?:is|was|were)\s+)?(?:(?:at|from|for|with|in|called|named)\s+)?")
CLOCK_TIME = re.compile(r"\b(?:o['’]?\s?clock|\d\s*[ap]\.?m\.?)(?!\w)", re.IGNORECASE)  # "5 o'clock", "5pm"
# Words that carry no value: what is left of "no, make it 50 please" is "50".
FILLER = frozenset("""
make it change switch to actually instead rather no nope nah yes yeah yep and also plus please the then ok
okay so um uh er just let's lets do how about what for that sorry i mean meant oh wait go ahead with
my hmm think guess probably maybe say it's i'm thanks thank cheers great perfect right correct that's sure
fine but too well was is were
""".split())
TURN_WORD = re.compile(r"\S+")
DATE_ASKED_WORDS = 6  # the most words a turn read whole as the date asked has ("yes, right away please")


# fillers that take back or doubt the words beside them: "right away? no", "maybe right away"
DOUBTING = frozenset("no nope nah not maybe wait probably hmm think guess but".split())
DOUBTING_NOW = DOUBTING - {"but", "think", "guess", "hmm"}  # "yes but pay it right away" is now


# ... and the words of a request ("can you send it", "I'd like to move it", "I need it to go to"):
# fillers of a correction only when the turn's own intent is unsure or a reply, or below VERBS_BELOW
# where a carried value has a role; else the request they make is the turn's own ("I need to move
# 200 from savings to checking" after a bill)
VERBS = frozenset("use take put send move go come want need can could would you should i'd i'll like "
                  "prefer".split())
# ... and the verbs of the action a request is for, before its value: "yes pay it | now", "ok
# schedule it | the 15th" (each confirmed the payment on its agreed Friday)
ACTING = frozenset("pay schedule transfer process submit".split())
# ... and the words of a correction before its value: "no I said | tuesday", "no it should be |
# tomorrow", "that's wrong, | today" (each cancelled the payment)
CORRECTING = frozenset("i said say be wrong that's thats".split())
REQUEST_WORDS = FILLER | VERBS | ACTING | CORRECTING  # what `phrases.past_request_words` takes off a value
ASKING = VERBS | ACTING | {"do", "make"}  # the words of a request before its value ("can you do it | tomorrow")
# ... of them, those that make a time said the time to carry a request out ("can you do it
# tomorrow"; not "yes I'll be back tomorrow")
REQUEST_VERBS = ASKING - {"you", "i'd", "i'll", "like"}
AGREEING_AFTER = frozenset("works work is fine good ok okay perfect great better sounds suits me".split())  # "friday | works"
AGREEING = frozenset("that's thats that you're youre exactly alright".split())  # "that's | right"
# all a yes that says the agreed values again may hold besides them: "yes friday works", "yes,
# from checking to savings please" (not "yes 45 canadian", "yes from checking, the whole balance")
AGREEING_WORDS = (YES_WORDS | AGREEING_AFTER | AGREEING
                  | frozenset("yeah yep yup ok okay right correct exactly is it's it that the my to from into out of "
                              "on at by please thanks thank you go ahead do one".split()))
# a time of day in a date's words: "at 5", "9.30", "5pm", "noon", "tonight", "in the morning"
A_TIME_IN = re.compile(r"\d\s*[:.]\s*\d|\d\s*[ap]\.?m\b|\b(?:at|by)\s+\w|noon|midnight|night|morning|afternoon|evening"
                       r"|o['’]?\s?clock", re.IGNORECASE)
# "never mind", "forget it", "scratch that": a turn that takes back all it says
NEVER_MIND = re.compile(r"(?:never\s*mind|forget\s+(?:it|that|about\s+it)|scratch\s+that)")
NOT = ("not", "of", "than", "but")  # "not checking", "rather than checking", "not savings but checking"
# the words that say which way a value goes ("from savings to checking" answers a pending transfer);
# "to" is filler already. Not filler for a bare value: "from 5" is a time
ROLE_WORDS = ("from", "out", "of", "off", "into", "onto")
# words that place a value: "no, from my joint account to checking", "make it 75 on friday", "on monday"
PLACING = (*ROLE_WORDS, "on", "at", "by", "in", "next", "this", "said")
# a day said after the turn's other words, a value of its own ("make it 60 | tonight": $60 was kept, the day dropped)
DAY_AT_THE_END = frozenset(("tonight", "today", "tomorrow"))
APART = frozenset({"to", "from", "out", "off", "into", "onto"})  # words between two values: "20 | to joint"
# the words that place, set apart or move a value: no part of a name ("20 | to joint", "send | 50")
MOVING = frozenset(PLACING) | APART | VERBS
DOTTED_TIME_SAID = re.compile(r"(?:(?:at|by)\s+)?(?P<h>[01]?\d|2[0-3])\.(?P<m>[0-5]\d)", re.IGNORECASE)  # "9.30", "at 16.30"
BARE_DAY = re.compile(r"(?:the\s+)?\d{1,2}(?:st|nd|rd|th)?")  # "5", "the 15th": a day or an hour, or an amount
# a half of the day named after a dotted time: "9.30 pm", "9.30 p.m.", "9.30 in the evening"
HALF_OF_DAY = re.compile(r"\s*(?:(?P<am>a\.?\s?m\b\.?)|(?P<pm>p\.?\s?m\b\.?)"
                         r"|(?:in\s+the\s+|at\s+)?(?P<pod>morning|afternoon|evening|night|tonight)\b)", re.IGNORECASE)
# a time said in words: "nine thirty", "ten oh five", "eleven forty-five" (an hour of a 12-hour
# clock, then its minutes)
HOURS = HOUR_WORDS
UNITS = HOURS[:9]
TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
TENS = ("twenty", "thirty", "forty", "fifty")
SPOKEN_TIME = re.compile(r"\b(?P<h>%s)\s+(?P<m>(?:oh|o)\s+(?:%s)|%s|(?:%s)(?:[\s-]+(?:%s))?)\b"
                         % ("|".join(HOURS), "|".join(UNITS), "|".join(TEENS), "|".join(TENS), "|".join(UNITS)),
                         re.IGNORECASE)
DOTTED_NUMBER_IN = re.compile(r"(?<![\d.])\d{1,2}\.\d\d(?![\d.])")
AT_THE_END = re.compile(r"\b(?:at|by)\s*$", re.IGNORECASE)  # "at | 10.00": the model's span without "at"
# a weekday and a time, one span: "friday at 5pm", "on friday, 17:00"
A_WEEKDAY = r"(?:mon|tues|wednes|thurs|fri|satur|sun)days?"
WEEKDAY_THEN_TIME = re.compile(r"(?:on\s+)?(?P<day>%s)\s*,?\s*(?:at\s+)?(?P<time>\S.*)" % A_WEEKDAY, re.IGNORECASE)
# ... and the other way round: "4.30 friday", "at 5pm on friday"
TIME_THEN_WEEKDAY = re.compile(r"(?:at\s+)?(?P<time>\d{1,2}(?:[:.][0-5]\d)?(?:\s*[ap]\.?\s?m\b\.?)?)\s*,?\s+(?:on\s+)?"
                               r"(?P<day>%s)" % A_WEEKDAY, re.IGNORECASE)
REFUSING_WORDS = ("not", "instead", "of", "rather", "than", "but")
ZERO_LED = re.compile(r"(?<!\d)0\d")  # "04:30": a 24-hour clock's hour
# a weekday and nothing else, maybe after "no" or "on", before "at": "no, friday at"
WEEKDAY_WORDS = re.compile(r"(?:(?:no|on)[\s,]+)*%s(?:\s+at)?" % A_WEEKDAY, re.IGNORECASE)
HALF_SAID = re.compile(r"[ap]\.?\s?m\b|morning|afternoon|evening|night|noon|midnight", re.IGNORECASE)
CLOCK_WORD = re.compile(r"\s*(?:uhr|o'?\s?clock|h)\b", re.IGNORECASE)  # "20.00 uhr", "nine o'clock"
WEEKDAY_NAMES = tuple(name for name in WEEKDAYS if name.endswith("day"))  # "monday" ... "sunday"
# words as near a weekday's name as its misspellings are ("sundae" is one edit from "sunday")
NOT_WEEKDAYS = frozenset("sundae sundaes sundry sundries sturdy sundar".split())
AMOUNT_WORDS = frozenset({"amount", "sum", "total", "price", "cost"})
WORD = re.compile(r"[a-z]+")
TIME_PREPOSITIONS = frozenset({"at", "on", "by", "until", "till", "before", "after", "from", "in"})
# words before a number that move a date or name it, which no amount is: "move it to 8", "push it
# back to 6", "change the time to 5" (each made the payment $8, $6, $5)
MOVES_A_DATE = re.compile(r"\b(?:(?:move[sd]?|push(?:ed)?|postponed?|delay(?:ed)?)\s+(?:it|that|the\s+(?:date|time))"
                          r"(?:\s+(?:back|forward|out))?\s+(?:to|till|until)"
                          r"|reschedul\w*(?:\s+(?:it|that))?\s+(?:to|for)"
                          r"|(?:time|date|day|hour)\s+(?:to|is)(?:\s+be)?)\s+$", re.IGNORECASE)
# an hour of a 12-hour clock, alone ("8", "eight", "8:30"), and a part of the day said after one
HOUR_SAID = re.compile(A_CLOCK_HOUR, re.IGNORECASE)
# an hour alone after "at" or "by" ("yes friday but at 5", "can you do it by 5"): a time, no amount;
# and "by 5" of a date agreed is 5 o'clock as often as the 5th ("by 15" is the 15th)
AN_HOUR_PLACED = re.compile(rf"\b(?:at|by)\s+(?:{A_CLOCK_HOUR})(?![\w.,%])", re.IGNORECASE)
BY_AN_HOUR = re.compile(r"(?:(?:at|by)\s+)?(?:[1-9]|1[0-2])", re.IGNORECASE)
PART_OF_DAY_SAID = re.compile(r"(?:tonight|(?:this|in\s+the|tomorrow)\s+(?:morning|afternoon|evening|night)|at\s+night)\b",
                              re.IGNORECASE)
HOUR_BEFORE_PART_OF_DAY = re.compile(rf"(?<![\w$£€¥.,]){HOUR_SAID.pattern}\s+(?:(?:in\s+the|this|at)\s+)?$",
                                     re.IGNORECASE)
HOUR_THEN_PART_OF_DAY = re.compile(rf"(?<![\w$£€¥.,:]){HOUR_SAID.pattern}\s+{PART_OF_DAY_SAID.pattern}",
                                   re.IGNORECASE)  # not "20.10 tonight", "10.5 tonight": amounts
# verbs that move money: the number beside them is an amount ("send 10 tonight", "pay 7 tonight")
MOVES_MONEY = re.compile(r"\b(?:send(?:s|ing)?|sent|pay(?:s|ing)?|paid|transfer\w*|charg\w*|deposit\w*|withdr[ae]w\w*"
                         r"|spen[dt]|owe|amount\s+(?:is|to|of|should\s+be|will\s+be))\b", re.IGNORECASE)
TONIGHT = re.compile(r"\btonight\b", re.IGNORECASE)
NOW_SAID = re.compile(r"(?:right\s+)?now|immediately|asap|(?:right|straight)\s+away", re.IGNORECASE)
# words that say when: in a turn read as a yes with no date read from it ("can you do it the day
# after", "sooner"), they ask for another time than the one agreed, and confirm nothing
WHEN_SAID = re.compile(r"\b(?:today|tonight|tomorrow|weekend|week|month|(?:mon|tues|wednes|thurs|fri|satur|sun)day"
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
PLEASANTRIES = re.compile(r"\bgood\s+(?:morning|afternoon|evening|night|day)\b"
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
CURRENCY_SAID = re.compile(r"[$£€¥]|\b(?:dollars?|bucks?|euros?|pounds?|cents?)\b", re.IGNORECASE)
COUNTED = frozenset({"money", "number", "ordinal", "percentage"})
# what a bare number counts or names when it is no amount: "two weeks", "2 times", "3 payments", "option 2",
# "the account ending 4321" (singular: a plural's "s" is dropped before the look-up)
COUNTED_NOUNS = frozenset("""second sec minute min hour hr day week wk fortnight month year yr time payment installment
instalment transaction charge item people person digit""".split())
EVERY = frozenset("per a an each every".split())  # "75 per month", "50 each time": a rate, no one amount
# words that name a day, so a date span holding one and read as no date is a date not understood ("the
# first monday of next month"), not a word the model took for one ("blue"); a repeating date ("every
# friday") is not refused for the one-off day the slot holds
NAMES_A_DAY = re.compile(r"\b(?:today|tomorrow|tonight|day|week|month|year|weekend"
                         r"|(?:mon|tues|wednes|thurs|fri|satur|sun)day|jan(?:uary)?|feb(?:ruary)?|march|april|may"
                         r"|june|july|aug(?:ust)?|sep(?:tember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|\d+(?:st|nd|rd|th)?|first|second|third|fourth"
                         r"|fifth|\w+teenth|\w+tieth)\b", re.IGNORECASE)
# words beside a name that are no part of it: "atms around | boston", "boston | now", "boston | area"
LOCATING = frozenset("""around near close within outside inside now again currently definitely obviously
area as""".split())
EVERY_TIME = re.compile(r"\b(?:every|each)\b", re.IGNORECASE)
FROM_THEN = re.compile(r"[\s,]*(?:from|later|after|before|ago|earlier)\b", re.IGNORECASE)  # "an hour from now"
NAMING = frozenset("option number account ending no # press".split())  # "option 2", "account ending 4321"
# "one" as a pronoun: "that one", "which one", "the first one", "the joint one", "a new one", "also one to
# verizon" (not "make it one")
PRONOUN_ONE = re.compile(r"\b(?:that|this|which|another|also|the(?:\s+\w+)?"
                         r"|an?\s+(?!hundred|thousand|million|billion|grand)\w+)\s+one\b"
                         r"(?!\s+(?:hundred|thousand|million|billion|grand|\d))", re.IGNORECASE)


FIRST_PERSON = frozenset({"i", "i'm", "i've", "i'd", "i'll", "i’m", "i’ve", "i’d", "i’ll"})  # always capitalised


# sayings whose numbers count nothing: (their words, the positions of the numbers in them)
SAYINGS = ((("thanks", "a", "million"), (1, 2)), (("you", "a", "million"), (1, 2)),
           (("a", "million", "thanks"), (0, 1)), (("owe", "you", "one"), (2,)), (("owe", "ya", "one"), (2,)),
           (("owe", "u", "one"), (2,)))
SAYING_NUMBERS = frozenset(saying[i] for saying, at in SAYINGS for i in at)


ENDING = frozenset("ending ends digits last".split())  # "the card ending in 4321", "the last 4 are 4321"
ORDINAL = re.compile(r"\d+(?:st|nd|rd|th)|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth")
# what every number said holds: a digit, or a word of one (more words match than are numbers: a sieve)
NUMBERISH = re.compile(r"\d|\b(?:zero|oh|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|\w+teen|\w+ty"
                       r"|hundred|thousand|million|billion|grand|dozen|first|second|third|fifth|\w+th|\w+tieth"
                       r"|half|quarter)\b", re.IGNORECASE)
