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
   carries a value other than the agreed one ("sure, 150": read back before anything is confirmed;
   "yes friday works" of a payment agreed for Friday confirms), or says when in words no
   rule reads ("can you do it sooner", "make it thrusday": the date asked); a turn with a number no
   rule read or a value the intent has no slot for ("sure thing, the 15th", "sure, on my visa" of a
   transfer), asking another time of an intent with none to change, or saying cancel, stop or
   don't ("go ahead and cancel it"), is a repeat (nothing confirmed);
3. its own top intent is a confident denial intent ("no") -> cancel; or update when the turn also
   carries a value for the previous intent's slots ("no, the debit card", "no, the other card",
   "nope, 75"); 2 and 3 at any length when the turn names nothing ("yes that's correct thank you
   so much"), a long yes that qualifies what it agrees to and names nothing tagged is a repeat
   ("yes that's right but it's sixty not fifty"), or asks the date when it says when, and a long
   yes or no whose values are all the previous intent's is an update ("yes push it back to monday
   at 4pm please if you can");
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

from .rules import CANCEL_INTENTS, CONFIRM_INTENTS, HOLD_INTENTS, MAX_WORDS, REPEAT_INTENTS, UNSURE, FollowUps, Turn

__all__ = ["CANCEL_INTENTS", "CONFIRM_INTENTS", "HOLD_INTENTS", "MAX_WORDS", "REPEAT_INTENTS", "UNSURE",
           "FollowUps", "Turn"]
