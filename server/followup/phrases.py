"""Readings of a turn's words (tokens: (start, end, lower-cased word)): fillers, a request's
words, runs beside the values tagged, sayings and pauses, numbers no rule read."""

from __future__ import annotations

from rapidfuzz import process
from rapidfuzz.distance import OSA

from ..analysis import ResolvedEntity
from ..resolve.numbers import pause_end, words_to_digits
from . import vocab

RUN_WORDS = 3  # words beside the tagged values read as one more value ("seventy five dollars")


def filler(word: str) -> bool:
    """Whether `word`, its punctuation aside, is a filler that says nothing of the words beside it
    ("do it right away please"), or "it"."""
    word = word.strip(vocab.EDGE_PUNCT).lower()
    return (word in vocab.FILLER and word not in vocab.DOUBTING) or word == "it"


def a_question(text: str) -> bool:
    """Whether the turn opens as a question ("what is an index fund", "Is my flight delayed", "who
    made you?", "Who"): a question word alone, or with a word in lower case after it, or a question
    mark. "Can Can Bakery", "Will's Pizza", "Which Wich" are names."""
    m = vocab.QUESTION.match(text)
    following = m.group("next") if m is not None else ""
    return m is not None and (not following or following[0].islower() or following.lower() in vocab.FIRST_PERSON
                              or text.rstrip().endswith("?"))


def plain_reply(words: list[str], yes: bool) -> bool:
    """Whether a long yes (`yes`) or no says nothing but that: no word that qualifies or changes
    it, no number, not both a yes and a no ("no wait, I just found it" is a plain no)."""
    said = set(words)
    return (not said & (vocab.YES_QUALIFIERS if yes else vocab.QUALIFIERS) and not any(number_word(w) for w in words)
            and not (said & vocab.YES_WORDS and said & vocab.NO_WORDS))


def runs(tokens: list[tuple[int, int, str]], found: list[ResolvedEntity], verbs: bool,
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
        elif word in vocab.APART:
            runs.append([token])  # kept: it says which way the value after it goes ("from joint")
        else:
            runs[-1].append(token)
    filler = vocab.FILLER | vocab.APART | (vocab.VERBS if verbs else frozenset())
    out = []
    for run in runs:
        while run and run[-1][2] in vocab.PLACING:  # "joint | on friday": "on" places the date
            run = run[:-1]
        while verbs and run and run[0][2] in filler and run[0][2] not in vocab.APART:  # "i want | 20": 20, not "want 20"
            run = run[1:]
        content = content_words(run, filler)
        if content and (limit is None or content <= limit) and (verbs or not any(w in vocab.VERBS for _, _, w in run)):
            out.append(run)
    return out


def says_when(phrase: str, now_agrees: bool) -> bool:
    """Whether a yes's words (`edits.Said.phrase`) ask for a time other than the agreed one; for a
    request that goes now (`now_agrees`: "yes pay it today" of a bill paid now, or of a transfer
    with no date), any but today. Pleasantries say no time ("yes, have a good evening")."""
    if vocab.WHEN_SAID.search(phrase) is None:  # most turns: no word of a time
        return a_misspelt_weekday(phrase)
    said = vocab.PLEASANTRIES.sub(" ", phrase)
    return any(not now_agrees or m.group().lower() != "today" for m in vocab.WHEN_SAID.finditer(said))


def a_misspelt_weekday(phrase: str) -> bool:
    """Whether `phrase` names a weekday misspelt ("can you do it thursdy", "make it wensday"): one
    edit (a swap of two letters counts one) from a weekday's name, two from a name of seven
    letters or more; so "money" and "fridge" (two from six-letter names) are none, nor are the
    words that near (`vocab.NOT_WEEKDAYS`: "sundae", "sturdy")."""
    for word in vocab.WORD.findall(phrase.lower()):
        if (5 <= len(word) <= 11 and word[0] in "mtwfs" and "d" in word  # a sieve: most words are none
                and word not in vocab.NOT_WEEKDAYS):
            match = process.extractOne(word, vocab.WEEKDAY_NAMES, scorer=OSA.distance, score_cutoff=2)
            if match is not None and match[1] <= (2 if len(match[0]) >= 7 else 1):
                return True
    return False


def past_request_words(run: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """`run` less the words of a request or a correction it opens with ("can you do it | tonight",
    "could you make it | 60", "yes pay it | now", "no I said | tuesday"), as `runs` takes them
    off a run beside a value, and those that agree to it after ("yes friday | works")."""
    start, end = 0, len(run)
    while start < end and (run[start][2] in vocab.REQUEST_WORDS and not right_away(run, start) or agreeing_now(run, start)):
        if run[start][2] == "like" and not (start and run[start - 1][2] in ("i'd", "would", "i", "we'd", "id")):
            break  # "yes just like last month": no request
        start += 1
    while end > start and run[end - 1][2] in vocab.AGREEING_AFTER:
        end -= 1  # "yes friday | works", "tomorrow | is better"
    return run[start:end]


def agreeing_now(tokens: list[tuple[int, int, str]], i: int) -> bool:
    """Whether the `i`th word is the "now" after "that's right" ("yes thats right now") or "for"
    ("yes, that's it for now"): no date."""
    return tokens[i][2] == "now" and i >= 1 and (tokens[i - 1][2] == "for" or i >= 2 and tokens[i - 1][2] == "right"
                                                 and tokens[i - 2][2] in vocab.AGREEING)


def right_away(tokens: list[tuple[int, int, str]], i: int) -> bool:
    """Whether the `i`th word is the "right" of "right away" or "right now" (a date), not a filler
    ("that's right, now ..." is one: its token holds the comma)."""
    start, end, word = tokens[i]
    return (word == "right" and end - start == len(word) and i + 1 < len(tokens) and tokens[i + 1][2] in ("away", "now")
            and not (i and tokens[i - 1][2] in vocab.AGREEING))  # "that's right now pay it": "that's right"


def content_words(run: list[tuple[int, int, str]], filler: frozenset[str]) -> int:
    """How many words of a run are no filler, a number said in words counting as one: "a hundred
    and twenty five" is one value, not four words (a run of more than a few is a sentence)."""
    count, number = 0, False
    for _, _, word in run:
        if word in filler:
            continue
        counted = number
        number = word == "a" or number_word(word)
        count += not (number and counted)
    return count


def again(value: ResolvedEntity, tagged: set[tuple[str, str | None]]) -> bool:
    """Whether an untagged value repeats a slot the tagged values fill: any second value of a
    single-valued slot, or the same catalog value twice; another catalog value is one more."""
    kind = (value.resolution or {}).get("kind")
    if kind == "catalog":
        return (value.type, value.resolution["id"]) in tagged
    return any(t == value.type for t, _ in tagged)


def saying_words(tokens: list[tuple[int, int, str]]) -> set[int]:
    """The number words of a saying in the turn ("thanks a million", "I owe you one", "yes, 4
    sure"): no amount (they were read back as $1,000,000.00, $1.00 and $4.00)."""
    words = [w for _, _, w in tokens]
    out: set[int] = set()
    if vocab.SAYING_NUMBERS.isdisjoint(words):
        return out
    for i in range(len(words)):
        for saying, at in vocab.SAYINGS:
            if tuple(words[i:i + len(saying)]) == saying:
                out.update(i + j for j in at)
    return out


def pause_words(text: str, tokens: list[tuple[int, int, str]]) -> set[int]:
    """The tokens of each pause in the turn, a number counting time or a thing ("one moment", "two
    um seconds", "One. Moment.", "one more thing", "a sec"): no amount or number of 1 or 2 (said alone,
    "one moment" after a $500 transfer made it $1)."""
    pause: set[int] = set()
    for i, (_, end, word) in enumerate(tokens):
        counts = word in ("a", "an") or word.isdigit() or words_to_digits(word).isdigit()
        if not counts or (i and tokens[i - 1][2] == "in"):
            continue  # "in 5 minutes" is a time
        stop = pause_end(text, end)
        if stop is not None and not vocab.FROM_THEN.match(text, stop):  # "an hour from now", "a minute ago": a time
            pause.update(j for j in range(i, len(tokens)) if tokens[j][0] < stop)
    return pause


def counting(text: str, kept: list[tuple[int, int]]) -> bool:
    """Whether a number of the turn (`kept`: fillers left out) counts or names a thing and is no
    amount: the noun right after it ("two weeks", "2 times", "3 payments"), or after "per", "a",
    "each" ("75 per month", "50 each time": a rate), or the word right before it names one ("option
    2", "the account ending 4321"); "75 next week" and "hold on a sec, 50" are amounts."""
    # "one-time", "two-week": the number and its noun
    words = [w for start, end in kept for w in text[start:end].strip(vocab.EDGE_PUNCT).lower().split("-") if w]
    def counts(i: int) -> bool:  # "2 weeks", "75 per month", "50 each time"
        after = words[i + 1:i + 3]
        return bool(after) and (counted(after[0]) or after[0] in vocab.EVERY and len(after) > 1 and counted(after[1]))

    return any(number_word(word) and (counts(i) or i > 0 and words[i - 1] in vocab.NAMING) for i, word in enumerate(words))


def a_name(said: str) -> bool:
    """Whether words holding a number may be a name ("five guys", "century 21"): none of them places,
    moves or counts ("20 to joint", "fifty three days", "send 50")."""
    words = [w.strip(vocab.EDGE_PUNCT).lower() for w in said.split()]
    return not any(w in vocab.MOVING or counted(w) for w in words)


def names(word: str) -> bool:
    """Whether `word` may be part of a name said beside one ("downtown", "city"): no filler, no word
    that places or moves a value, no "not sure" and no number."""
    return bool(word) and not (word in vocab.FILLER or word in vocab.MOVING or word in vocab.LOCATING or word in vocab.COPULAS
                               or vocab.NO_ANSWER.fullmatch(word) or number_word(word))


def a_number_unread(phrase: str) -> bool:
    """Whether a turn's words (`edits.Said.phrase`) hold a number: in a yes with no value read from it
    ("sure thing, the 15th", "that works, one fifty"), a change no rule read. Not "one" that points
    ("yes, that one", "the first one"), a share ("yes, 100 percent"), nor a number that counts or
    names a thing ("for two weeks", "option 2": `counting`'s words)."""
    if vocab.NUMBERISH.search(phrase) is None:  # most yeses: no word of a number to read (~20 us a turn)
        return False
    words = phrase.replace("-", " ").split()  # "one-time": "one time", counted
    pointing = vocab.PRONOUN_ONE.search(phrase) is not None
    i = 0
    while i < len(words):
        end = i
        while end < len(words) and (number_word(words[end]) or end > i and words[end] == "and"):
            end += 1  # a number in words: "one hundred", "a hundred and twenty"
        run, after, before = words[i:end], words[end:end + 1], words[i - 1:i]
        chosen = after in (["one"], ["option"], ["choice"]) or run[-1:] == ["one"] and (
            pointing or len(run) > 1 and vocab.ORDINAL.fullmatch(run[-2]) is not None)
        said = (run in (["10", "4"], ["ten", "four"]) or after in (["off"], ["thumbs"], ["stars"], ["more"], ["%"])
                or set(words[max(i - 3, 0):i]) & vocab.ENDING)  # "10-4", "a one-off", "one more question", "ending in 4321"
        if run and not (chosen or said or run[-1].endswith("%") or after == ["percent"] or after and counted(after[0])
                        or set(before) & vocab.NAMING):
            return True  # not "the first one", "yes first one", "100 percent", "for two weeks", "option 2"
        i = end + 1 if run else i + 1
    return False


def number_word(word: str) -> bool:
    return any(c.isdigit() for c in words_to_digits(word))  # "fifty", "$20", "1.5k", "twenty-five"


def counted(word: str) -> bool:
    return word in vocab.COUNTED_NOUNS or word.rstrip("s") in vocab.COUNTED_NOUNS


def only_values(tokens: list[tuple[int, int, str]], found: list[ResolvedEntity], also=(), filler: bool = True) -> bool:
    """The turn is its values and filler words only ("the debit card", "my checking account"): an
    answer to the previous intent's question, not a request of its own ("block my debit card").
    `also`: more words that count as filler: "from", "into", ... beside a value ("from savings to
    checking"), and "not" where it takes a value back ("not savings, my credit card account");
    neither is filler for a bare value: "not now" is no date, "from 5" a time). `filler`: whether
    `vocab.FILLER` counts too (it holds words that doubt or change: "wait", "but", "instead")."""
    return all(not word or (filler and word in vocab.FILLER) or word in also
               or any(e.start < end and start < e.end for e in found)
               for start, end, word in tokens)


def slot_words(slots) -> tuple[str, ...]:
    """The words of slots' names ("amount", "pay_from" -> "pay", "from"): a turn that says them
    speaks of the slot ("change the amount to 9.30")."""
    return tuple(w for slot in slots for w in slot.lower().split("_"))
