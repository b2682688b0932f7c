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
from ..resolve.dates import DOTTED_DATE, bare_hour, days_refused, names_a_day, time_only
from ..resolve.money import amount_only, says_a_time
from ..resolve.resolver import AMOUNTS, LEADING_ROLE, after_not, other_roles, role_of
from ..resolve.text import fold_catalog
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
        self.dates = timing.AgreedDates(resolver)
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
        # each catalog's names, folded, with its type: a yes may name one the model did not tag ("yes debit")
        self.names = {form: etype for etype, catalog in resolver.catalogs.items() for form in catalog.spoken}
        self.name_words = frozenset(word for form in self.names for word in form.split())  # a sieve
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
        # a long turn follows up only when it says nothing but values ("no, from my joint account to
        # my checking account please"), or is a yes or no that changes them; else it is a request
        # of its own, or a reply to answer as a whole
        changes = long and not said.only and self._changes_only(said, own, unsure, text, words)
        if long and not said.only and not changes:
            return self._long_reply(previous, own, unsure, said, escalation, words, options)
        whole, said = said, edits.settled(said)
        other_roles(text, said.found)  # "no, joint to savings": from joint (read apart, "joint" went nowhere)
        kind = self._kind(said, previous, own, unsure)
        if kind is None:
            return None
        add_to = said.kept | (edits.added(said) if edits.adds(words) else frozenset())
        carried, (options, add_to) = options, edits.role_replaced(said.options, said.found, add_to)
        turn = self._answer(kind, previous, own, said.entities, said.found, escalation, options, add_to)
        if changes and (kind != "update" or edits.unchanged(turn.response, carried)):
            # "yes checking to savings but I'll confirm later": no change, read as a whole
            return self._long_reply(previous, own, unsure, whole, escalation, words, carried)
        if kind == "update" and own in self.confirm and not unsure and self._agreed_again(said, turn, carried, text,
                                                                                              tokens, entities):
            # "yes friday works", "yes checking to savings": the agreed values said again, a yes (read
            # back, the caller was asked to agree to what it had just agreed to)
            turn = self._answer("confirm", previous, own, said.entities, said.found, escalation, options, add_to)
        return turn

    def _agreed_again(self, said: "edits.Said", turn: Turn, carried: RequestOptions, text: str,
                      tokens: list[tuple[int, int, str]], tagged: list[ResolvedEntity]) -> bool:
        """Whether a yes says the agreed values and nothing more: nothing asked, refused, taken
        back or left unread of what the model tagged (`tagged`), and no word but the values' own,
        a yes's, and those that place a value ("yes friday works", "yes, from checking to
        savings"; not "yes 45 canadian", "yes checking to savings double it", "yes 50 to savings
        cancel it", "yes from checking?")."""
        if said.asked or said.negated or "?" in text or not all(e.resolved for e in said.entities):
            return False
        if not all(any(f.start < e.end and e.start < f.end for f in said.found) for e in tagged):
            return False
        if turn.response is None or not all(e.type in turn.response.slots_used for e in said.found):
            return False  # "yes friday the 18th" of a lost card: two dates, the slot left as it was
        return (all(self._plainly_said(e) for e in said.found)
                and phrases.only_values(tokens, said.found, vocab.AGREEING_WORDS, filler=False)
                and edits.unchanged(turn.response, carried))

    def _plainly_said(self, value: ResolvedEntity) -> bool:
        """Whether a value's words are that value and nothing more: a catalog's name, an amount
        ("45", "$45", "forty five dollars"; not "45 canadian", read as $45), a day with no time
        ("friday", "the 11th"; a time read on the agreed day may not be the one said)."""
        kind, said = self._kind_of(value.type), value.text.strip()
        if kind == "catalog":
            return True
        if kind == "money":
            return re.fullmatch(vocab.AN_AMOUNT, said, re.IGNORECASE) is not None
        return kind == "datetime" and vocab.A_TIME_IN.search(said) is None

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
        entities, refused, taken_day, options = self._dated(text, tokens, previous, spec, slots, entities, options)
        found = [e for e in entities if e.type in slots and e.resolved]
        asked, other, options = self._other(text, slots, options)
        asked = asked or taken_day is not None
        if not found and not asked and vocab.SWAP.search(phrase) and (swapped := edits.swapped(options)) is not None:
            options, asked = swapped, True  # "no, the other way around": from checking to savings instead
        refused = [e for e in refused + self.dates.unread(text, entities) if e.type in slots
                   and not any(f.type == e.type for f in found)]
        if refused and self._refused_change(tokens, phrase, refused):
            options, asked = self._without_refused(refused, previous, options), True
        question = edits.slot_asked(spec, slots, options)
        free_asked = question is not None and (self.resolver.specs.get(question) or {}).get("kind") == "free"
        if free_asked:
            entities = [self._grown(text, tokens, e, entities, options) if e.type == question and e.resolved else e
                        for e in entities]
            found = [e for e in entities if e.type in slots and e.resolved]
        # the resolver leaves a catalog value after "not" unresolved: its value is taken back below
        taken = [e for e in self.resolver.taken_back(text, entities) if e.type in slots]
        if other is not None:
            found.append(other)
        elif not asked:
            bares = self._untagged(text, unpaused, phrase, previous, spec, slots, prediction, unsure, long, verbs,
                                   entities, found, taken, question, free_asked, options)
            found, entities, refused, options, asked = self._placed(bares, text, previous, found, entities, refused,
                                                                    options)
        elsewhen = (not found and not asked and not taken and not refused
                    and self._says_another_when(phrase, unpaused, previous, own, free_asked, options))
        if elsewhen:
            # "can you do it the day after", "can you do it sooner" read as a yes: a date no rule
            # reads is no yes to the agreed one (it was confirmed): asked where it has a prompt (else
            # it went unasked), or answered alone (`_kind`)
            dated = self.when.get(previous)
            if dated is not None and dated in (spec.get("prompts") or {}):
                options = edits.without(options, {dated})
                options = replace(options, slots_missing=(dated, *(s for s in options.slots_missing if s != dated)))
                asked = True
        if not found and not asked and not taken and (renamed := self._renamed(text, unpaused, slots, options)):
            found.append(renamed)
        negated = [e for e in found if after_not(text, e.start)] + taken
        only = self._only_values(text, unpaused, phrase, verbs, found, negated, refused, entities, taken_day)
        return edits.Said(entities, found, negated, options, asked, only, phrase, question, elsewhen=elsewhen)

    def _dated(self, text: str, tokens: list[tuple[int, int, str]], previous: str, spec: dict, slots: list[str],
               entities: list[ResolvedEntity], options: RequestOptions
               ) -> tuple[list[ResolvedEntity], list[ResolvedEntity], str | None, RequestOptions]:
        """The turn's dates read against the agreed one (timing.py): its values, the dates it
        refuses, the date slot whose agreed day it refuses ("5pm, not tomorrow"; None when none),
        and the context less that day, asked for again."""
        entities, refused = self.dates.dated_as(text, previous, entities, options)
        entities = self.dates.dotted_amounts(text, entities, previous, spec, slots, options)
        entities = self.dates.spoken_times(text, tokens, entities, previous, spec, slots, options)
        entities = self.dates.days_asked(text, tokens, entities, spec, slots, options)
        refused = [r for r in refused if not any(e.resolved and (e.start, e.end) == (r.start, r.end) for e in entities)]
        # "5pm, not tomorrow" of "tomorrow at five": which day, then? (a day named beside it, "not
        # tomorrow, wednesday at 5pm", replaces it as any value said after another's "not" does)
        taken_day = self.dates.agreed_day_refused(text, previous, slots, options, entities)
        if taken_day is not None:  # asked, even where the slot is optional: no date is "now"
            options = edits.without(options, {taken_day})
            options = replace(options, slots_missing=(taken_day, *(s for s in options.slots_missing if s != taken_day)))
            entities = [replace(e, resolved=False, resolution=None)
                        if e.type == taken_day and e.resolved and time_only(e.text) is not None else e
                        for e in entities]
        entities = self.dates.hours_of_a_part_of_the_day(text, entities, options, previous)
        entities += self.dates.the_date_asked(text, spec, slots, entities, options, previous)
        entities = self.dates.on_the_agreed_day(text, previous, entities, options)  # "at noon" of the day kept
        return entities, refused, taken_day, options

    @staticmethod
    def _refused_change(tokens: list[tuple[int, int, str]], phrase: str, refused: list[ResolvedEntity]) -> bool:
        """Whether the turn changes a slot to values refused: "make it last friday" for a payment
        ahead, "move it to 4:30" (which?); not a turn that merely mentions one."""
        named = phrases.slot_words(e.type for e in refused)  # "change the amount to ..."
        return bool(vocab.CORRECTION.search(phrase) or vocab.POINTED.search(phrase) and phrases.only_values(
            tokens, refused, vocab.PLACING + named + tuple(vocab.VERBS) + ("push", "it", "that"))
            or phrases.only_values(tokens, refused, vocab.PLACING + named))

    def _without_refused(self, refused: list[ResolvedEntity], previous: str, options: RequestOptions) -> RequestOptions:
        """The context less the slots changed to refused values (no date to act on, and not the
        old one either); a time that names no day, refused ("5.30" answering which five?), keeps
        the day kept, and an agreed date's day ("move it to 5.00" after 09:00: which 5.00? asked on
        that day)."""
        gone = {e.type for e in refused}
        kept = tuple((k, v) for k, v in options.filled_slots if k.endswith(f".{DAY}")
                     and not any(e.type == k.removesuffix(f".{DAY}") and names_a_day(e.text) for e in refused))
        kept += self.dates.days_of_times_asked(refused, previous, options)
        options = edits.without(options, gone)
        return replace(options, filled_slots=options.filled_slots + kept)

    def _untagged(self, text: str, unpaused: list[tuple[int, int, str]], phrase: str, previous: str, spec: dict,
                  slots: list[str], prediction: Prediction, unsure: bool, long: bool, verbs: bool,
                  entities: list[ResolvedEntity], found: list[ResolvedEntity], taken: list[ResolvedEntity],
                  question: str | None, free_asked: bool, options: RequestOptions) -> list[ResolvedEntity | None]:
        """The values read from the turn's untagged words (`_bare_value`), in runs between the
        values found and taken back, or the words whole."""
        own = prediction.intent
        order = slots if question is None else [question, *(s for s in slots if s != question)]
        past = previous in self.resolver.past_intents
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
            return [read(run) for run in phrases.runs(unpaused, found + taken, verbs)]
        # the words as one value, unless they name an account or card apart: "take 20 | out of joint"
        # (only a word that sets values apart gives a value a role: without one, one reading)
        apart = ([read(run) for run in phrases.runs(unpaused, [], verbs, None)]
                 if any(w in vocab.APART for _, _, w in unpaused) else [])
        if any(b is not None and b.role and (b.resolution or {}).get("kind") == "catalog" for b in apart):
            return apart
        if (len(unpaused) > 1 and unpaused[-1][2] in vocab.DAY_AT_THE_END and not days_refused(text)
                and not says_a_time(phrase) and not timing.an_hour_of_the_day(text)  # "make it 7 tonight": one date
                and (head := read(unpaused[:-1])) is not None and head.resolved
                and head.resolution.get("kind") != "datetime"):  # "make it 60 tonight": two values
            return [head, read(unpaused[-1:])]
        # a typed value after the words of a request or a correction ("can you do it | tonight"),
        # else the words whole, a name too ("Can Can Bakery"); not while a name is asked ("pay
        # Forever 21", "it's Five Guys" are payees)
        after = (self._after_request_words(text, unpaused, order, options, past, question, spec, previous)
                 if verbs and not free_asked else None)
        return after if after is not None else [read(unpaused)]

    def _placed(self, bares: list[ResolvedEntity | None], text: str, previous: str, found: list[ResolvedEntity],
                entities: list[ResolvedEntity], refused: list[ResolvedEntity], options: RequestOptions
                ) -> tuple[list[ResolvedEntity], list[ResolvedEntity], list[ResolvedEntity], RequestOptions, bool]:
        """The untagged values placed: each one read becomes a value found, one not read a value
        refused and its slot asked. Returns (found, entities, refused, options, asked)."""
        found, refused, asked = list(found), list(refused), False
        tagged = {(e.type, (e.resolution or {}).get("id")) for e in found}
        for bare in bares:
            if bare is not None and phrases.again(bare, tagged):
                continue  # "no, 75 to checking, 80" with 75 tagged: one amount a turn, not two
            if bare is not None:
                tagged.add((bare.type, (bare.resolution or {}).get("id")))
            if bare is not None and bare.resolved:  # a time on the agreed day: none where the clocks skip it
                bare = self.dates.on_the_agreed_day(text, previous, [bare], options)[0]
                if bare.resolved:
                    found.append(bare)
                    continue
            if bare is not None:  # "no, yesterday" untagged: refused as a tagged date is ("2:30am" on a
                entities = [*entities, bare]  # spring-forward night kept the agreed 1:00 AM, the change unsaid)
                refused.append(bare)
                # an hour again for the day kept ("5"): the day stays, asked
                kept = tuple((k, v) for k, v in options.filled_slots
                             if k == day_key(bare.type) and timing.an_hour(bare.text))
                kept += self.dates.days_of_times_asked([bare], previous, options)  # "move it to 12.30": which?
                options = edits.without(options, {bare.type})
                options = replace(options, filled_slots=options.filled_slots + kept)
                asked = True
        return found, entities, refused, options, asked

    def _says_another_when(self, phrase: str, unpaused: list[tuple[int, int, str]], previous: str, own: str,
                           free_asked: bool, options: RequestOptions) -> bool:
        """Whether a turn with no value read says when in words no rule reads, of a request it
        would confirm: "can you do it the day after", "can you do it sooner"."""
        dated = self.when.get(previous)
        now_agrees = dated is None or not {dated, day_key(dated)} & {k for k, _ in options.filled_slots}
        return (own in self.confirm and previous not in self.resolver.past_intents
                and not free_asked and phrases.says_when(phrase, now_agrees)
                # of a request with no time to act, a time said beside its verbs: "can you do it
                # tomorrow" of a bill paid now, not "yes someone used it this afternoon" of a card
                and (dated is not None or any(w in vocab.REQUEST_VERBS for _, _, w in unpaused)))

    def _only_values(self, text: str, unpaused: list[tuple[int, int, str]], phrase: str, verbs: bool,
                     found: list[ResolvedEntity], negated: list[ResolvedEntity], refused: list[ResolvedEntity],
                     entities: list[ResolvedEntity], taken_day: str | None) -> bool:
        """Whether the turn says nothing but its values and the words that place them ("from my
        savings to checking please")."""
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
        return bool(values) and phrases.only_values(unpaused, values, also)

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
                    and (phrases.a_number_unread(said.phrase)
                         or self._named_elsewhere(said.entities, previous, said.phrase))):
                return "repeat"
            return "update" if values else "confirm"  # "sure, 150": read back before anything is confirmed
        if own in self.cancel and not unsure:
            return "update" if values else "cancel"
        if values and continues:
            return "update"  # "hold on, 50 bucks": a pause before the value is no request of its own
        return None

    def _changes_only(self, said: "edits.Said", own: str, unsure: bool, text: str, words: list[str]) -> bool:
        """Whether a long yes or no gives the previous intent's slots values and names nothing
        else ("yes push it back to monday at 4pm please if you can": answered alone, the affirm
        intent's words thanked the caller for confirming, and the payment stayed on Friday); not
        one that stops, pauses or asks ("yes 50 to savings, never mind, cancel it")."""
        return (not unsure and own in self.confirm | self.cancel and bool(said.found) and "?" not in text
                and vocab.STOPPING.isdisjoint(words) and words[0] not in vocab.PAUSING
                and not vocab.MULLING.search(said.phrase) and not vocab.NEVER_MIND.search(said.phrase)
                and all(not e.resolved or e in said.found or e in said.negated for e in said.entities))

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
        date asked when it names no value and says nothing more (`_said`), else answered alone;
        any other yes that names nothing the request has no slot for is a repeat. Anything else is
        answered alone."""
        entities, options = said.entities, said.options
        if unsure:
            return None
        if own in self.pauses:
            return self._answer("hold" if own in self.hold else "repeat", previous, own, entities, [], escalation,
                                options, frozenset())
        if own in self.confirm and said.elsewhen:  # "... but hold off until I get paid": the date asked, where it
            # has a prompt; else the request said again ("yes please can you do it tomorrow" of a bill paid now)
            kind = "update" if said.asked else "repeat"
            return None if entities else self._answer(kind, previous, own, [], [], escalation,
                                                      options if said.asked else carried, frozenset())
        if own in self.confirm | self.cancel and not entities and phrases.plain_reply(words, own in self.confirm):
            return self._answer("confirm" if own in self.confirm else "cancel", previous, own, [], [], escalation,
                                options, frozenset())
        slots = set(self.intents[previous].get("slots") or [])
        if own in self.confirm and all(e.type in slots for e in entities if e.resolved):
            # a yes with a but, naming nothing or only what the request holds ("yes but send it to my
            # mom instead", "yes please go ahead and cancel it", "yes 50 to savings but make it 60"
            # with "60" untagged): the request as it stands said again, nothing confirmed (answered
            # alone, the affirm intent's words thanked the caller for confirming)
            return self._answer("repeat", previous, own, [], [], escalation, carried, frozenset())
        return None

    # -- values for the previous intent's slots ------------------------------------------------

    def _named_elsewhere(self, entities: list[ResolvedEntity], previous: str, phrase: str) -> bool:
        """Whether the turn names an amount the previous intent has no slot for, or a thing, when it
        moves money ("sure, on my visa" of a transfer between accounts; "yes debit", which the model
        does not tag): a yes to something else than what was asked."""
        slots = set(self.intents[previous].get("slots") or [])
        moves_money = any(self._kind_of(s) == "money" for s in slots)  # ("the one on my checking" of a card: the card)
        if any(e.resolved and e.type not in slots and self._kind_of(e.type) in (("catalog", "money") if moves_money
                                                                                else ("money",))
               for e in entities):
            return True
        if not moves_money:
            return False
        if phrase.isascii() and self.name_words.isdisjoint(phrase.split()):
            return False  # most turns: no word of a name
        words = fold_catalog(phrase).split()
        named = (self.names.get(" ".join(words[i:i + n])) for n in (1, 2, 3) for i in range(len(words) - n + 1))
        return any(etype is not None and etype not in slots for etype in named)

    def _kind_of(self, slot: str) -> str:
        """What a slot holds: its builtin ("money", "datetime"), else its kind ("catalog", "free")."""
        spec = self.resolver.specs.get(slot) or {}
        return spec.get("builtin") or spec.get("kind") or slot

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
        read = (self.dates.dotted_time(text, dot.start(), end, previous, intent_spec, slots, options)
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
            if spec.get("builtin") == "datetime" and not past and (self.dates.is_date(surface, reference, locale)
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
