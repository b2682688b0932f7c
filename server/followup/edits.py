"""What a turn does to the carried slots (`RequestOptions.filled_slots`): a value taken back,
replaced, swapped between roles, or added to a slot of several."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..analysis import SINGLE_VALUED, RequestOptions, ResolvedEntity, Response
from ..respond import DAY, ROLES
from . import vocab


@dataclass(slots=True)
class Said:
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
   elsewhen: bool = False  # a yes that asks for another time than the agreed one, no date read (`phrases.says_when`)


def settled(said: Said) -> Said:
    """The values taken back ("not checking, savings": checking is what the turn takes away, not a
    value) and those said relative to the carried one ("make it 50 more": not 50, and not the
    carried value either: asked again) removed from what the turn says."""
    found, entities, options, asked, kept = said.found, said.entities, said.options, said.asked, said.kept
    if said.negated:
        gone = {e.type for e in said.negated}
        found = in_their_place(options, said.negated, [e for e in found if e not in said.negated])
        entities = [replace(e, resolved=False, resolution=None) if e in said.negated else e for e in entities]
        options, kept = replaced(options, said.negated, found)
        options = without(options, gone - kept)
        asked = asked or not any(e.type in gone for e in found)
    if vocab.RELATIVE.search(said.phrase):
        relative = {e.type for e in found if (e.resolution or {}).get("kind") in SINGLE_VALUED}
        found = [e for e in found if e.type not in relative]
        entities = [replace(e, resolved=False, resolution=None) if e.type in relative else e for e in entities]
        options = without(options, relative)
        asked = asked or bool(relative)
    return replace(said, found=found, entities=entities, options=options, asked=asked, kept=kept)


def without(options: RequestOptions, slots) -> RequestOptions:
    """`options` with the carried values of `slots` dropped (so their prompts ask again)."""
    return replace(options, filled_slots=tuple((k, v) for k, v in options.filled_slots
                                               if k.partition(".")[0] not in slots))  # with its roles


def replaced(options: RequestOptions, negated: list[ResolvedEntity],
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


def swapped(options: RequestOptions) -> RequestOptions | None:
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


def in_their_place(options: RequestOptions, negated: list[ResolvedEntity],
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


def role_replaced(options: RequestOptions, found: list[ResolvedEntity],
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


def adds(words: list[str]) -> bool:
    """Whether the turn adds its values to the carried ones: "and savings", "also the visa",
    "savings too", "my credit card as well please"."""
    said = [w for w in words if w not in ("please", "thanks")] or words
    return words[0] in vocab.ADDITIVE or said[-1] == "too" or said[-2:] == ["as", "well"]


def added(said: Said) -> frozenset[str]:
    """The slots an adding turn adds to. An amount or a date holds one value: a turn of nothing
    but such values changes it ("and at 3 pm" after a transfer on Friday is Friday at 3 pm; added,
    two dates were no date, and the transfer went out today); one that also names another account
    or payee ("and 100 to joint", "and also one to verizon") asks for something more, and the two
    amounts ask again which one."""
    if said.only and all((e.resolution or {}).get("kind") in SINGLE_VALUED for e in said.found):
        return frozenset()
    return frozenset(e.type for e in said.found)


def slot_asked(spec: dict, slots: list[str], options: RequestOptions) -> str | None:
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


def unchanged(response: Response | None, carried: RequestOptions) -> bool:
    """Whether an answer's slots are the carried ones, each slot's values in any order, and it
    asks for none."""
    if response is None or response.slots_missing:
        return False

    def values(slots) -> dict[str, frozenset[str]]:
        return {k: frozenset(v.split(",")) for k, v in slots}
    return values(response.slots_used.items()) == values(carried.filled_slots)
