"""The follow-up rules (the package's docstring says them): `FollowUps` reads a turn
against the previous intent and its carried slots."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace

from .. import locale as locales
from ..analysis import Escalation, FollowUp, RequestOptions, ResolvedEntity, Response
from ..decode import Prediction
from ..escalation import EscalationPolicy
from ..resolve import DomainConfigError, Resolver
from ..resolve.catalog import a_persons_name
from ..resolve.dates import (
    DOTTED_DATE,
    TimeOfDay,
    bare_hour,
    clock_or_count,
    day_named_before,
    day_of_month,
    days_refused,
    names_a_day,
    names_a_month,
    says_tonight,
    time_only,
    wall_time,
    zone_at,
)
from ..resolve.money import amount_only, says_a_time
from ..resolve.numbers import counts_a_pause, words_to_digits
from ..resolve.resolver import AMOUNTS, LEADING_ROLE, after_not, role_of
from ..respond import DAY, Responder, day_key
from . import edits, phrases, timing, vocab

MAX_WORDS = 6
FREE_ANSWER_BELOW = 0.9  # a turn whose own intent is this sure is a request, not a free-text answer
# ... and for an intent the domain sends to a person: "Amazon" answering "Which payee?" read as
# speak_to_agent at 0.43 is the payee; "let me talk to someone" (0.83) is not
POLICY_FREE_ANSWER_BELOW = 0.5
CONFIRM_INTENTS = ("affirm",)  # defaults; a domain may list its own under follow_ups: {confirm, cancel, hold, repeat}
CANCEL_INTENTS = ("deny",)
HOLD_INTENTS = ("hold",)
REPEAT_INTENTS = ("repeat",)
UNSURE = ("out_of_distribution", "low_confidence", "ambiguous")  # escalations that mean "no intent of its own"
# a turn's own intent below this, with a carried value that has a role, takes a request's verbs
# (`vocab.VERBS`) as a correction's ("I need it to go to my joint account")
VERBS_BELOW = 0.8


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
        takes back or makes relative (`edits.settled`), and the kind of follow-up that makes (`_kind`)."""
        previous = options.previous_intent
        if previous is None or previous in self.replies:
            return self._nothing_to_repeat(prediction, entities, escalation, options)
        spec = self.intents.get(previous)
        if spec is None:
            return None
        tokens = [(m.start(), m.end(), m.group().strip(vocab.EDGE_PUNCT).lower()) for m in vocab.TOKEN.finditer(text)]
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
        said = edits.settled(said)
        kind = self._kind(said, previous, own, unsure)
        if kind is None:
            return None
        add_to = said.kept | (edits.added(said) if edits.adds(words) else frozenset())
        options, add_to = edits.role_replaced(said.options, said.found, add_to)
        return self._answer(kind, previous, own, said.entities, said.found, escalation, options, add_to)

    def _said(self, text: str, tokens: list[tuple[int, int, str]], previous: str, spec: dict, prediction: Prediction,
              entities: list[ResolvedEntity], unsure: bool, long: bool, options: RequestOptions) -> "edits.Said":
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
                 or own == previous and vocab.CORRECTION.search(text) is not None)  # "send it to my money market instead"
        pause = phrases.pause_words(text, tokens)  # "one more second": no amount, and no "more" of one either
        pause |= phrases.saying_words(tokens)  # "yes, thanks a million", "I owe you one": no $1,000,000, no $1
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
            options = edits.without(options, {taken_day})
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
        if not found and not asked and vocab.SWAP.search(phrase) and (swapped := edits.swapped(options)) is not None:
            options, asked = swapped, True  # "no, the other way around": from checking to savings instead
        refused = [e for e in refused + self._unread(text, entities) if e.type in slots
                   and not any(f.type == e.type for f in found)]
        named = phrases.slot_words(e.type for e in refused)  # "change the amount to ..."
        if refused and (vocab.CORRECTION.search(phrase) or vocab.POINTED.search(phrase) and phrases.only_values(
                tokens, refused, vocab.PLACING + named + tuple(vocab.VERBS) + ("push", "it", "that"))
                or phrases.only_values(tokens, refused, vocab.PLACING + named)):  # "move it to 4:30" (which?)
            # "make it last friday" for a payment ahead: no date to act on, and not the old one either
            gone = {e.type for e in refused}
            # a time that names no day, refused ("5.30" answering which five?), keeps the day kept,
            # and an agreed date's day ("move it to 5.00" after 09:00: which 5.00? asked on that day)
            kept = tuple((k, v) for k, v in options.filled_slots if k.endswith(f".{DAY}")
                         and not any(e.type == k.removesuffix(f".{DAY}") and names_a_day(e.text) for e in refused))
            kept += self._days_of_times_asked(refused, previous, options)
            options = edits.without(options, gone)
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
                       and not phrases.a_question(text)  # "what is an index fund" answering "Where to?" is no city
                       and (unsure or (own not in self.replies and prediction.confidence < below)))  # a sentence is no name
            def read(run: list[tuple[int, int, str]]) -> ResolvedEntity | None:
                return self._bare_value(text, run, order, options, past, question, free_ok, spec, previous)

            if found or taken or long:  # a long turn in runs of a few words: "yes that's right but make it | seventy"
                bares = [read(run) for run in phrases.runs(unpaused, found + taken, verbs)]
            else:  # the words as one value, unless they name an account or card apart: "take 20 | out of joint"
                # (only a word that sets values apart gives a value a role: without one, one reading)
                apart = ([read(run) for run in phrases.runs(unpaused, [], verbs, None)]
                         if any(w in vocab.APART for _, _, w in unpaused) else [])
                named = any(b is not None and b.role and (b.resolution or {}).get("kind") == "catalog" for b in apart)
                if named:
                    bares = apart
                elif (len(unpaused) > 1 and unpaused[-1][2] in vocab.DAY_AT_THE_END and not days_refused(text)
                      and not says_a_time(phrase) and not timing.an_hour_of_the_day(text)  # "make it 7 tonight": one date
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
                if bare is not None and phrases.again(bare, tagged):
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
                                 if k == day_key(bare.type) and timing.an_hour(bare.text))
                    kept += self._days_of_times_asked([bare], previous, options)  # "move it to 12.30": which?
                    options = edits.without(options, {bare.type})
                    options = replace(options, filled_slots=options.filled_slots + kept)
                    asked = True
        dated = self.when.get(previous)
        now_agrees = dated is None or not {dated, day_key(dated)} & {k for k, _ in options.filled_slots}
        elsewhen = (not found and not asked and not taken and not refused and own in self.confirm and not past
                    and not free_asked and phrases.says_when(phrase, now_agrees)
                    # of a request with no time to act, a time said beside its verbs: "can you do it
                    # tomorrow" of a bill paid now, not "yes someone used it this afternoon" of a card
                    and (dated is not None or any(w in vocab.REQUEST_VERBS for _, _, w in unpaused)))
        if elsewhen:
            # "can you do it the day after", "can you do it sooner" read as a yes: a date no rule
            # reads is no yes to the agreed one (it was confirmed): asked where it has a prompt (else
            # it went unasked), or answered alone (`_kind`)
            if dated is not None and dated in (spec.get("prompts") or {}):
                options = edits.without(options, {dated})
                options = replace(options, slots_missing=(dated, *(s for s in options.slots_missing if s != dated)))
                asked = True
        if not found and not asked and not taken and (renamed := self._renamed(text, unpaused, slots, options)):
            found.append(renamed)
        negated = [e for e in found if after_not(text, e.start)] + taken
        # "move it to the 20th", "push it to friday": the verb moves the pending date or amount
        pointed = bool(found or refused) and vocab.POINTED.search(phrase) is not None and all(
            (self.resolver.specs.get(e.type) or {}).get("builtin") in ("datetime", "money", "number")
            for e in found + refused)  # "move it to 4:30" after 09:00, asked: still the payment's
        also = vocab.PLACING + (vocab.NOT if negated else ()) + (tuple(vocab.VERBS) + ("push",) if verbs or pointed else ())
        values = found + negated + refused
        also += phrases.slot_words(e.type for e in values)  # "make the amount 9.30": its slot's name
        if taken_day is not None:  # "5pm rather than tomorrow": the time and the day refused are said of the date
            also += vocab.REFUSING_WORDS + tuple(w for day in days_refused(text) for w in day.split())
            values += [e for e in entities if e.type == taken_day and not e.resolved]
        only = bool(values) and phrases.only_values(unpaused, values, also)  # "from my savings to checking please"
        return edits.Said(entities, found, negated, options, asked, only, phrase, question, elsewhen=elsewhen)

    def _after_request_words(self, text: str, tokens: list[tuple[int, int, str]], order: list[str],
                             options: RequestOptions, past: bool, question: str | None, spec: dict,
                             previous: str) -> list[ResolvedEntity] | None:
        """The typed value said after the words of a request or a correction the turn opens with
        (`phrases.past_request_words`): "can you do it | tonight" read as a yes, "can you do it | at 5",
        "no I said | tuesday" (read whole, they confirmed the payment on its agreed Friday, made it
        $5, cancelled it). None when no such words open it or no value follows them; no value when
        it says now of a request that goes now anyway ("yes pay it now" of a transfer with no date:
        a yes) or of a date that is no time to act (`when:`: "sure, right away" of a trip, "right away
        I guess" is no day a card was lost); and a date after a request's verbs only for that time
        ("can you do it tomorrow" of a trip on the 20th is no trip tomorrow)."""
        rest = phrases.past_request_words(tokens)
        if not rest or rest == tokens:
            return None
        # after a verb that moves money, a number is its amount before any date asked ("I'd like to
        # pay | 20" answering "When?": $20, not the 20th)
        paid = vocab.MOVES_MONEY.search(text, tokens[0][0], rest[0][0]) is not None
        order = sorted(order, key=lambda slot: self._kind_of(slot) != "money") if paid else order
        value = self._bare_value(text, rest, order, options, past, question, False, spec, previous)
        if value is None:
            return None
        when = self.when.get(previous)
        if past and value.resolved and value.resolution.get("kind") == "datetime":
            reference = self.resolver.reference_time(options)
            if reference is not None and dt.datetime.fromisoformat(value.resolution["value"]) > reference:
                return None  # "yes tomorrow works" is no day a card was lost
        if vocab.NOW_SAID.fullmatch(value.text) and (past or value.type != when or value.type != question and not (
                {value.type, day_key(value.type)} & {k for k, _ in options.filled_slots})):
            return []
        requested = any(w in vocab.ASKING for start, _, w in tokens if start < rest[0][0])
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
        cue = vocab.REPAIR_CUE.match(text)
        if len(free) != 1 or cue is None:
            return None
        said = tokens
        if cue.group().strip(" ,.").lower() == "not":  # "not Walmart, Target": the name after the one taken back
            comma = text.find(",", cue.end())
            said = [t for t in tokens if comma >= 0 and t[0] > comma]
        words = [t for t in said if t[2] and t[2] not in vocab.FILLER and t[2] not in vocab.REPAIR_WORDS]
        if not 1 <= len(words) <= 3 or not all(text[start].isupper() and phrases.names(word) and word not in vocab.NO_NAMES
                                                for start, _, word in words):
            return None
        named = {start for start, _, _ in words}
        if (not any(text[start].islower() for start, _, word in tokens if start not in named)
                or vocab.SENTENCE_END.search(text, 0, words[0][0])):
            return None
        start, end = words[0][0], words[-1][1]
        while end > start and text[end - 1] in vocab.EDGE_PUNCT:
            end -= 1
        if text[start:end] != " ".join(text[s:e].strip(vocab.EDGE_PUNCT) for s, e, _ in words):
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
            return (phrases.names(word) and not any(o.start < end and start < o.end for o in entities)
                    and not self._typed(word, reference, False, locale))

        first, last = inside[0], inside[-1]
        if first > 0 and names(first - 1):  # one word each side: "show atms around | atlanta" stays
            first -= 1
        if last + 1 < len(tokens) and names(last + 1):
            last += 1
        start, end = tokens[first][0], tokens[last][1]
        while end > start and text[end - 1] in vocab.EDGE_PUNCT:
            end -= 1
        if (start, end) == (e.start, e.end):
            return e
        value = self.resolver.resolve_value(e.type, text[start:end], None)
        return e if value is None else replace(e, text=text[start:end], start=start, end=end, resolution=value)

    def _kind(self, said: "edits.Said", previous: str, own: str, unsure: bool) -> str | None:
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
                      and vocab.UNKNOWN.search(said.phrase) is not None
                      and all(w in vocab.FILLER for w in vocab.UNKNOWN.sub(" ", said.phrase).split()))
        if unanswered or values and (said.asked or vocab.CORRECTION.search(said.phrase)) and continues:
            # "make it 75", "the other one": whatever the model guessed; but "actually, what's my
            # savings balance" asks something new, whatever value it names
            return "update"
        if own in self.hold and not unsure and not values:  # "let me check": no yes, and nothing changes
            return "hold"
        if own in self.repeat and not unsure and not values:  # "sorry, what?": the same answer again
            return "repeat"
        if own in self.confirm and not unsure:
            words = said.phrase.split()
            if not values and (words[:1] and words[0] in vocab.PAUSING or vocab.MULLING.search(said.phrase)):
                return "hold"  # "hold it", "I'll think about it" read as a yes: a pause confirms nothing
            if vocab.STOPPING.intersection(words):
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
                    and (phrases.a_number_unread(said.phrase) or self._named_elsewhere(said.entities, previous))):
                return "repeat"
            return "update" if values else "confirm"  # "sure, 150": read back before anything is confirmed
        if own in self.cancel and not unsure:
            return "update" if values else "cancel"
        if values and continues:
            return "update"  # "hold on, 50 bucks": a pause before the value is no request of its own
        return None

    def _long_reply(self, previous: str, own: str, unsure: bool, said: "edits.Said", escalation: Escalation,
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
        if own in self.confirm | self.cancel and not entities and phrases.plain_reply(words, own in self.confirm):
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
                if vocab.DOTTED_NUMBER_IN.fullmatch(e.text.strip()) and vocab.AT_THE_END.search(text, 0, e.start):
                    out.append(e)  # "at | 10.10": a time, or asked (`_dotted_time`); read alone, 10 October
                    continue
                value = self.resolver.resolve_value(e.type, e.text, reference, past, locale)
                if value is None and (e.resolved or not past and self._is_date(e.text, reference, locale)
                                      or vocab.NAMES_A_DAY.search(e.text) and not vocab.EVERY_TIME.search(e.text)):
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
            dotted = vocab.DOTTED_TIME_SAID.match(said)
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
        m = vocab.SPOKEN_TIME.search(text)
        if m is None:
            return entities
        read = self._at_the_agreed_time(vocab.HOURS.index(m.group("h").lower()) + 1, timing.spoken_minutes(m.group("m")), text,
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
        if not phrases.only_values(tokens, [said], (*vocab.PLACING, *vocab.VERBS, "we", *vocab.AMOUNT_WORDS, *phrases.slot_words([read[0]]))):
            return entities
        return [e for e in entities if e.end <= m.start() or e.start >= end] + [said]

    def _amount_named(self, said: str, text: str, previous: str, slots: list[str],
                      options: RequestOptions) -> tuple[str, dict] | None:
        """(the amount slot, `said` read as its value) when the turn names the amount and `said` is a
        number written with a dot ("9.30")."""
        if vocab.DOTTED_TIME_SAID.fullmatch(said) is None or not self._names_the_amount(text, slots, options):
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
        if (self.resolver.specs.get(asked or "") or {}).get("builtin") != "datetime" or vocab.CORRECTION.search(text):
            return entities
        numbers = [e for e in entities if e.source == "model" and e.type in slots
                   and (self.resolver.specs.get(e.type) or {}).get("builtin") in AMOUNTS
                   and vocab.BARE_DAY.fullmatch(words_to_digits(e.text.strip()))]
        if len(numbers) != 1 or not phrases.only_values(tokens, numbers):
            return entities
        return [e for e in entities if e is not numbers[0]]

    def _dotted_time(self, text: str, start: int, end: int, previous: str, spec: dict, slots: list[str],
                     options: RequestOptions) -> tuple[str, dict | None, int] | None:
        """(the date slot, the span text[start:end] as a time of the agreed day) when it is a
        number written as a time with a dot ("9.30", "at 16.30"), alone or with the half of the
        day or a zone after it, inside the span or right after it: `_at_the_agreed_time`. A
        number written as money ("make it 20.00", in a locale whose decimals take a dot) is none,
        unless something says it is a time ("10.00 am", "at 10.00", "move it to 10.00", "20.00 uhr")."""
        m = vocab.DOTTED_TIME_SAID.match(text, start)
        if m is None or m.end() > end:
            return None
        before = text[:start]  # "at 10.00", "move it to 10.00" ("make it" is a correction of anything)
        if vocab.RELATIVE.search(before + m.group(0)):
            return None  # "lower it by 5.00", "reduce it by 10.00": by how much, no time
        led = (m.group(0)[:2].lower() in ("at", "by") or vocab.AT_THE_END.search(before) is not None
               or vocab.POINTED.search(before) is not None and not vocab.CORRECTION.search(before))
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
        the day nearest the agreed time and within timing.NEAR_S of it ("make it 2.30 instead" after 14:00
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
        half = vocab.HALF_OF_DAY.match(text, pos)
        pos = half.end() if half is not None else pos
        named = zone_at(text, pos)  # "make it 9.30 eastern"
        pos = named[1] if named is not None else pos
        clock = vocab.CLOCK_WORD.match(text, pos)  # "20.00 uhr", "nine o'clock"
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
            far = abs(hour * 60 + minute - agreed) > timing.NEAR_S / 60
            if far and (said_hour <= 12 or not locales.get(options.locale).day_first):
                return None
        elif led and not (half or named or clock) and 1 <= hour <= 12 and at.time() != dt.time():
            said = timing.near(TimeOfDay(hour, minute, "minute", None), at)
            if said is None:
                return dated, None, pos  # "move it to 4.30" after 09:00: which 4.30?
            hour = said.hour
        if half is not None:
            if hour == 0 or hour > 12:  # "16.30 pm": which?
                return dated, None, pos
            if says_tonight(half.group(0)) and timing.another_day(at, reference):
                at = reference  # "5.30 tonight" of a payment agreed for Friday: today, as "9:30 tonight" is
            hour = timing.on_the_half(hour, half)
            if hour is None:  # "9.30 in the afternoon"
                return dated, None, pos
        if named is not None and named[0] is None:  # "9.30 ist": which zone?
            return dated, None, pos
        said = TimeOfDay(hour, minute, "minute", named[0] if named is not None else None)
        return dated, self._ahead(timing.at_the_time(at, said, zone), previous, reference), pos

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
        words = set(vocab.WORD.findall(text.lower()))
        amounts = [s for s in slots if (self.resolver.specs.get(s) or {}).get("builtin") in AMOUNTS]
        if words & (vocab.AMOUNT_WORDS | set(phrases.slot_words(amounts))):
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
                    and (kept := timing.the_agreed_time(carried.get(e.type), e.resolution["value"])) is not None):
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
                    and (whole := vocab.WEEKDAY_THEN_TIME.fullmatch(e.text.strip())
                         or vocab.TIME_THEN_WEEKDAY.fullmatch(e.text.strip())) is not None):
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
                    vocab.TONIGHT.sub(" ", text)):  # "tonight at 7pm" (the model's span "7pm") of a payment on Friday
                at = reference  # is today's ("tonight? no, 7pm friday" is Friday's)
            zone = reference.tzinfo if reference is not None else at.tzinfo  # its offset may change that day
            if said is not None:  # on the agreed day, on the clock of the zone it names ("make it 4pm et")
                half = vocab.HALF_OF_DAY.match(text, e.end)  # "make it 9:30 | pm": the model's span without it
                twelve_hour = 1 <= said.hour <= 12 and not vocab.HALF_SAID.search(e.text) and not vocab.ZERO_LED.search(e.text)
                if half is not None and twelve_hour:
                    hour = timing.on_the_half(said.hour, half)
                    said = None if hour is None else said._replace(hour=hour)  # "9:30 in the afternoon": which?
                    read_with.append((e.end, half.end()))
                elif twelve_hour and at.time() != dt.time() and said.zone is None:
                    said = timing.near(said, at)  # "make it 8:30" after 21:00 is 20:30 (it was 08:30)
                resolution = None if said is None else self._ahead(timing.at_the_time(at, said, zone), previous, reference)
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
        if vocab.MOVES_MONEY.search(text):
            return entities
        ordered = sorted(entities, key=lambda e: e.start)
        out: list[ResolvedEntity] = []
        for i, e in enumerate(ordered):
            hour = vocab.HOUR_BEFORE_PART_OF_DAY.search(text, 0, e.start)
            if (hour is None or (self.resolver.specs.get(e.type) or {}).get("builtin") != "datetime"
                    or not vocab.HOUR_THEN_PART_OF_DAY.fullmatch(text, hour.start(), e.end)):
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
        words = [(m.start(), m.end()) for m in vocab.TURN_WORD.finditer(text)]
        if len(words) > vocab.DATE_ASKED_WORDS:
            return []
        # the words whole, then without the fillers around them: "right away please", "do it right away"
        for lo, hi in sorted(((lo, hi) for lo in range(len(words)) for hi in range(lo + 1, len(words) + 1)),
                             key=lambda span: span[0] - span[1]):
            if (not all(phrases.filler(text[a:b]) for a, b in words[:lo] + words[hi:])
                    or all(phrases.filler(text[a:b]) for a, b in words[lo:hi])):
                continue
            start, end = words[lo][0], words[hi - 1][1]
            while end > start and text[end - 1] in vocab.EDGE_PUNCT:
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
                    or not all(timing.a_time_of(e.text.strip(), agreed) for e in refused if e.type == slot)):
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
                if named == day or vocab.WEEKDAY_WORDS.fullmatch(words) and named.weekday() == day.weekday():
                    return slot  # "not friday" of Friday the 18th
        return None

    def _the_agreed_weekday(self, words: str, named: dict, slot: str, previous: str, options: RequestOptions) -> bool:
        """Whether the day named before a time is a weekday, the agreed date's own ("no, friday at
        5pm" for a payment agreed for Friday the 18th: that Friday, it was the 11th; one agreed for
        next Friday said on a Friday was paid today)."""
        if vocab.WEEKDAY_WORDS.fullmatch(words.strip(" ,")) is None:
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
        m = vocab.OTHER.search(text)
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
            return True, None, edits.without(options, {slot})
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
        pointing = vocab.PRONOUN_ONE.search(text) is not None  # "the credit one": "one" picks, it is not 1
        # "right away" is a date ahead of a request with a time to act (`when:`), or part of a name
        # ("Right Away Movers"), "right" alone a filler; "right away? no", "maybe right away" say no date
        doubted = any(w == "right" for _, _, w in tokens) and any(  # (read only where "right" is said)
            m.group().strip(vocab.EDGE_PUNCT).lower() in vocab.DOUBTING_NOW for m in vocab.TOKEN.finditer(text))
        now_said = free_ok or previous is not None and previous in self.when  # a time to act, or a name
        kept = [(start, end) for i, (start, end, word) in enumerate(tokens)
                if word and (word not in vocab.FILLER or not (doubted or past) and now_said and phrases.right_away(tokens, i))
                and not (pointing and word == "one") and not phrases.agreeing_now(tokens, i)]
        if not kept:
            return None
        start, end = kept[0][0], kept[-1][1]
        while end > start and text[end - 1] in vocab.EDGE_PUNCT:
            end -= 1
        while start < end and text[start] in vocab.EDGE_PUNCT:
            start += 1
        surface = text[start:end]
        if not surface:
            return None
        reference = self.resolver.reference_time(options)
        locale = locales.get(options.locale)
        last = start + surface.rfind(" ") + 1  # where the last word starts: "move it to | 8"
        moved = (vocab.MOVES_A_DATE.search(text, 0, last) is not None and not vocab.CURRENCY_SAID.search(surface)
                 and timing.an_hour(text[last:end]))  # "move it to 80" is the amount: no hour
        timed = (surface.split()[0].lower() in vocab.TIME_PREPOSITIONS or moved  # "at 5", "on the 3rd": no amount
                 or timing.an_hour_of_the_day(surface) and not vocab.MOVES_MONEY.search(text)  # "make it 8 tonight": 20:00
                 or vocab.AN_HOUR_PLACED.search(surface) is not None and not vocab.CURRENCY_SAID.search(surface)
                 and not vocab.RELATIVE.search(text))  # "friday but at 5"; not "bring it down by 5"
        counting = phrases.counting(text, kept)  # "two weeks", "account 2": the number counts or names a thing
        # "make it 9.30 instead" after 09:00: 09:30 on the agreed day, not $9.30 (`_dotted_time`)
        # (the time may come after the words that move it: "move it to 10.30", "can you do it at 10.00")
        dot = vocab.DOTTED_NUMBER_IN.search(text, start, end)
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
            if ((timed and spec.get("builtin") in vocab.COUNTED) or ((counting or dated) and spec.get("builtin") in AMOUNTS)
                    or (pointing and spec["kind"] != "catalog")):
                continue  # "at 5", "two weeks" are no amount; "the first one" points at a thing, not a date
            at, said = start, surface
            if spec["kind"] == "catalog" and (lead := LEADING_ROLE.match(surface)) and lead.end() < len(surface):
                at, said = start + lead.end(), surface[lead.end():]  # "no, from joint": joint, the source
            if spec["kind"] == "catalog" and a_persons_name(text, at, end):
                continue  # "to Ira": a person, not the IRA
            if spec["kind"] == "free":
                lead = vocab.NAME_LEAD_IN.match(said).end()
                at, said = (at + lead, said[lead:]) if lead < len(said) else (at, said)
            if spec["kind"] == "free" and (vocab.NO_ANSWER.search(said) or self._typed(said, reference, past, locale)):
                continue  # "eighty bucks", "tomorrow", "my debit card", "not sure" answering "Which city?": no city
            if spec.get("builtin") == "datetime" and day_key(slot) in dict(options.filled_slots) and timing.an_hour(said):
                return ResolvedEntity(slot, surface, start, end, 1.0, "context")  # "5" for "tomorrow at five": which?
            if (spec.get("builtin") == "datetime" and not past and slot in dict(options.filled_slots) and timed
                    and vocab.BY_AN_HOUR.fullmatch(said)):
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
        if vocab.CLOCK_TIME.search(said) or bare_hour(said):
            return True
        if reference is not None and any(self.resolver.dates.resolve(said, reference, back, locale.day_first)
                                         for back in (False, True)):
            return True  # a date, past or ahead: "yesterday" after a bill is no payee (it was "your yesterday bill")
        return any(spec["kind"] != "free" and self.resolver.resolve_value(etype, said, reference, past, locale)
                   and (spec.get("builtin") not in AMOUNTS or amount_only(said) or not phrases.a_name(said))
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


def _unsure(escalation: Escalation) -> bool:
    """Whether the turn has no confident intent of its own (escalated as out of scope, low confidence or ambiguous)."""
    return escalation.escalate and escalation.reason in UNSURE
