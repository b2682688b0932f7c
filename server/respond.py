"""Constrained responses: approved template text plus resolved slot values, nothing else.

Selection, per request (template ids in brackets):
1. escalated for any reason but `policy` (out of distribution, low confidence, ambiguous):
   the domain's `escalation.handoff_response` [handoff];
2. an intent without a config entry: no response (None);
3. a required slot still unknown (neither in this utterance nor in `options.filled_slots`): that
   slot's prompt [<intent>.prompt.<slot>] - the first missing one, in `required` order; else an
   optional slot with a prompt that is still unknown and that the caller gave a value the
   resolver could not read ("transfer $50 tomorrow at five": the date, which five?) or that the
   last answer asked for (`options.slots_missing`, which the engine passes only to a follow-up
   that gives no other slot instead: a "yes" to "When should the transfer happen?" is no date).
   Without the prompt the read-back
   went out without the value said, and a backend would act on it today;
4. otherwise the intent's response [<intent>.response]. Policy escalations (`escalate: human`
   intents) land here too: their templates are written as the hand-off ("I'm connecting you ...").
   A list of responses [<intent>.response.<i>, from 0] reads back what it can: the first whose
   every placeholder has a value is said, so "{amount} from your {account.source} to your
   {account.destination} on {date}" is said when the turn gave all of them, and the last, which
   may only name required slots, when it gave no more than those.

Placeholders: `{slot}` is every value of the slot; `{slot.source}` / `{slot.destination}` only
the values said after "from" / "to" (a catalog value's `role`). `slots_used` names them too
(`account.source: checking`), so a caller that sends it back as `filled_slots` carries each
value's role into later turns; a role this turn's words give a value replaces its carried one.

Slot values: the current utterance's resolved entities, else the value carried over from an
earlier turn (`filled_slots`), accepted only in the canonical form `slots_used` returns and only
when it is a valid value of the slot's entity type (resolve/carried.py: a known catalog id, a
well-formed amount, date-time, E.164 number, address...; free text only as a few plain words). A
carried value that fails is ignored: the slot is missing and its prompt is asked. Inserted text
is the value's display form (money "$200.00" / "200.00 EUR", dates "Friday, December 4", a
catalog entry's display value) in the request's locale (server/locale.py: "US$200.00",
"Friday 4 December" in en-GB), stripped of control characters and bounded to MAX_VALUE_CHARS. A
date or week not within YEARLESS_DAYS of the request's day shows its year ("Friday, November 15,
2030", "the week of December 4, 2028"): "November 15" alone is heard as the next one.
An unresolved span never fills a slot (its raw text is user input, not a value); a `free`
entity's text does, cleaned and bounded.

Templates are validated when the artifact is built or loaded (`validate_templates`), never at
request time: only `{slot}` and `{slot.role}` placeholders of the intent's slots (in its only or
last response, of its required slots, without a role), balanced braces, a prompt for every
required slot, only known intents and entity types.
"""

from __future__ import annotations

import datetime as dt
import string
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable

from intentd.errors import IntentdError

from . import locale as locales
from .analysis import SINGLE_VALUED, Escalation, RequestOptions, ResolvedEntity, Response
from .resolve import Resolver
from .resolve.dates import day_of_unclear_hour, format_datetime
from .resolve.duration import ISO_DURATION
from .resolve.money import format_money
from .resolve.numbers import decimal_str
from .resolve.contact import canonical_phone
from .resolve.text import clean_value

HANDOFF_DEFAULT = "Let me connect you with someone who can help."
HANDOFF_ID = "handoff"
MAX_VALUE_CHARS = 64  # per inserted value
MAX_VALUES_PER_SLOT = 3  # "from checking to savings" fills `account` with both
YEARLESS_DAYS = 335  # about 11 months: a date further ahead or back is shown with its year
ROLES = ("source", "destination")  # `{account.source}`: the values of a slot said that way (ResolvedEntity.role)
DAY = "day"  # `date.day`: the day said for a date whose hour is asked (`Responder._days_kept`)


def day_key(slot: str) -> str:
    return f"{slot}.{DAY}"


class TemplateError(IntentdError):
    """The domain's response templates are invalid; lists every problem found."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid response templates: " + "; ".join(problems))


@dataclass(frozen=True, slots=True)
class Template:
    id: str
    parts: tuple[tuple[str, str | None], ...]  # (literal text, slot name or None)

    @property
    def slots(self) -> list[str]:
        """Its placeholders' names: a slot, or a slot and a role (`account.source`)."""
        return [slot for _, slot in self.parts if slot]

    def render(self, values: dict[str, str]) -> str:
        return "".join(literal + (values[slot] if slot else "") for literal, slot in self.parts)


def parse_template(template_id: str, text: object) -> Template:
    """`{slot}` placeholders only; `{{` and `}}` are literal braces. Raises TemplateError."""
    if not isinstance(text, str) or not text.strip():
        raise TemplateError([f"{template_id}: a template must be a non-empty string"])
    try:
        pieces = list(string.Formatter().parse(text))
    except ValueError as exc:  # "Single '}' encountered", "expected '}' before end of string"
        raise TemplateError([f"{template_id}: unbalanced braces in {text!r} ({exc})"]) from None
    parts = []
    for literal, field, spec, conversion in pieces:
        if field is not None and (not _placeholder(field) or spec or conversion):
            raise TemplateError([f"{template_id}: placeholder {{{field}{'!' + conversion if conversion else ''}"
                                 f"{':' + spec if spec else ''}}} is not a plain {{slot}} or "
                                 f"{{slot.{'|'.join(ROLES)}}} name"])
        parts.append((literal, field))
    return Template(template_id, tuple(parts))


def _placeholder(field: str) -> bool:
    slot, _, role = field.partition(".")
    return slot.isidentifier() and (role in ROLES if "." in field else True)


def _response_problems(intent: str, response: object, slots: list[str], required: list[str], entity_specs: object,
                       parse) -> list[str]:
    """What is wrong with an intent's response, one text or a list tried in order: each entry's
    placeholders, the last's (only required slots, no role: it is said when nothing more is
    known) and entries no turn can reach (an earlier one can be said whenever they can)."""
    problems: list[str] = []
    if isinstance(response, list) and not response:
        problems.append(f"{intent}.response: an empty list (give one text, or a list of texts)")
    ids = response_ids(intent, response)
    last_of = "" if len(ids) == 1 else "last "
    entries: list[Template] = []
    for i, (template_id, text) in enumerate(zip(ids, response if isinstance(response, list) else [response])):
        t = parse(template_id, text)
        if t is None:
            continue
        last = i == len(ids) - 1
        for field in t.slots:
            slot, _, role = field.partition(".")
            if slot not in slots:
                problems.append(f"{template_id}: unknown slot {{{field}}}")
            elif last and slot not in required:
                problems.append(f"{template_id}: slot {{{field}}} is not required, so the {last_of}response "
                                f"could be chosen without it")
            elif last and role:
                problems.append(f"{template_id}: {{{field}}} has a value only when the turn says it that way, "
                                f"so the {last_of}response could be chosen without it (use {{{slot}}})")
            elif role and _kind(entity_specs, slot) != "catalog":
                problems.append(f"{template_id}: {{{field}}}: only catalog values have a role "
                                f"({slot!r} is not a catalog)")
        if not last and all(f in required for f in t.slots):
            problems.append(f"{template_id}: names only required slots, so it is always said and the responses "
                            f"after it never are")
            continue
        earlier = next((e.id for e in entries if _covers(e, t)), None)
        if earlier is not None:
            problems.append(f"{template_id}: never said: {earlier} can be said whenever it can "
                            f"(put the entry that says more first)")
        entries.append(t)
    return problems


def _covers(earlier: Template, later: Template) -> bool:
    """Whether `earlier` can be said whenever `later` can: it names no role (which a turn may not
    give) and every slot it names has a value when `later`'s placeholders do."""
    if any("." in f for f in earlier.slots):
        return False
    named = {f.partition(".")[0] for f in later.slots}
    return all(f in named for f in earlier.slots)


def _kind(entity_specs: object, slot: str) -> str | None:
    spec = entity_specs.get(slot) if isinstance(entity_specs, dict) else None
    return spec.get("kind", "free") if isinstance(spec, dict) else None


def response_ids(intent: str, response: object) -> list[str]:
    """Template ids of an intent's response, in the order they are tried: one text is
    `<intent>.response`, a list `<intent>.response.0`, `.1`, ..."""
    if isinstance(response, list):
        return [f"{intent}.response.{i}" for i in range(len(response))]
    return [f"{intent}.response"]


def validate_templates(domain: dict | None, intents: Iterable[str] | None = None) -> dict[str, Template]:
    """Check every template of `domain`; return them parsed, keyed by template id.

    `intents`: the model's intent labels, when known (artifact build and load) - a template for an
    intent the model cannot predict is an error. Raises TemplateError listing all problems.
    """
    domain = domain or {}
    problems: list[str] = []
    templates: dict[str, Template] = {}

    def parse(template_id: str, text: object) -> Template | None:
        try:
            t = parse_template(template_id, text)
        except TemplateError as exc:
            problems.extend(exc.problems)
            return None
        templates[template_id] = t
        return t

    handoff = (domain.get("escalation") or {}).get("handoff_response", HANDOFF_DEFAULT)
    t = parse(HANDOFF_ID, handoff)
    if t is not None and t.slots:
        problems.append(f"{HANDOFF_ID}: the hand-off response cannot use slots ({', '.join(t.slots)})")
    specs = domain.get("intents") or {}
    if not isinstance(specs, dict):
        raise TemplateError(["'intents' must be a mapping of intent name -> spec"])
    entity_specs = domain.get("entities") or {}
    entity_types = set(entity_specs)
    known = set(intents) if intents is not None else None
    for intent, spec in specs.items():
        if known is not None and intent not in known:
            problems.append(f"{intent}: unknown intent (not one of the model's intents)")
        if not isinstance(spec, dict):
            problems.append(f"{intent}: the spec must be a mapping")
            continue
        slots = list(spec.get("slots") or [])
        required = list(spec.get("required") or [])
        prompts = spec.get("prompts") or {}
        for slot in slots:
            if entity_types and slot not in entity_types:
                problems.append(f"{intent}: unknown slot {slot!r} (not an entity type of the domain)")
        for slot in required:
            if slot not in slots:
                problems.append(f"{intent}: required slot {slot!r} is not in its slots")
            if slot not in prompts:
                problems.append(f"{intent}: required slot {slot!r} has no prompt")
        when = spec.get("when")
        if when is not None and when not in slots:
            problems.append(f"{intent}: 'when' names {when!r}, which is not one of its slots")
        elif when is not None and (entity_specs.get(when) or {}).get("builtin") != "datetime":
            problems.append(f"{intent}: 'when' names {when!r}, which is no date (builtin: datetime)")
        if "response" in spec:
            problems.extend(_response_problems(intent, spec["response"], slots, required, entity_specs, parse))
        for slot, prompt in prompts.items():
            if slot not in slots:
                problems.append(f"{intent}.prompt.{slot}: prompt for unknown slot {slot!r}")
            t = parse(f"{intent}.prompt.{slot}", prompt)
            if t is not None and t.slots:
                problems.append(f"{intent}.prompt.{slot}: a prompt cannot use slots ({', '.join(t.slots)})")
    if problems:
        raise TemplateError(problems)
    return templates


class Responder:
    def __init__(self, domain: dict | None):
        domain = domain or {}
        self.templates = validate_templates(domain)
        self.intents: dict[str, dict] = domain.get("intents") or {}
        self.resolver = Resolver(domain)  # checks slot values carried over from earlier turns
        self.handoff = self.templates[HANDOFF_ID]

    def respond(self, intent: str, entities: list[ResolvedEntity], escalation: Escalation,
                options: RequestOptions, add_to: frozenset[str] = frozenset()) -> Response | None:
        """`add_to`: slots whose values from earlier turns are kept and this turn's added after them
        (a follow-up's "and to savings"); for the others this turn's values replace earlier ones."""
        if escalation.escalate and escalation.reason != "policy":
            return Response(self.handoff.render({}), HANDOFF_ID)
        spec = self.intents.get(intent)
        if spec is None:
            return None
        slots = spec.get("slots") or []
        reference = self.resolver.reference_time(options)
        values = self._slot_values(intent, slots, entities, options, reference, add_to)  # slot -> resolutions
        roles = self._roles(intent, entities, values, options, reference, add_to)
        fields = {**values, **roles}  # placeholder -> resolutions
        missing = [s for s in spec.get("required") or [] if s not in values]
        missing += self._optional_asked(intent, slots, entities, values, missing, options)
        if missing:
            template = self.templates.get(f"{intent}.prompt.{missing[0]}")
        else:  # the first response that can say its slots' values (the last always can)
            candidates = (self.templates.get(i) for i in response_ids(intent, spec.get("response")))
            template = next((t for t in candidates if t is not None and _says(t, values, fields)), None)
        if template is None:  # an intent with slots but no response text
            return None
        locale = locales.get(options.locale)
        # each value bounded on its own: a long first value never cuts the ones after it
        text = template.render({field: _joined(fields[field], lambda r: clean_value(display(r, locale, reference),
                                                                                   MAX_VALUE_CHARS), " and ")
                                for field in template.slots})
        used = {s: _joined(values[s], canonical, ",") for s in slots if s in values}
        used.update((field, _joined(found, canonical, ",")) for field, found in roles.items())
        # the day said for a date asked (never for one the intent does not ask: "dispute the charge from
        # yesterday at five")
        used.update(self._days_kept(intent, missing, entities, options, reference))
        return Response(text, template.id, used, missing)

    def _days_kept(self, intent: str, asked: list[str], entities: list[ResolvedEntity], options: RequestOptions,
                   reference: dt.datetime | None) -> dict[str, str]:
        """"<slot>.day" -> the day said for a date asked because its hour was not clear ("tomorrow at
        five": which five?), said now or carried from the turn that said it, so that the answer
        "5pm" falls on that day: read without it, it was today."""
        kept = {}
        carried = dict(options.filled_slots)
        past = intent in self.resolver.past_intents
        for slot in asked:
            if (self.resolver.specs.get(slot) or {}).get("builtin") != "datetime":
                continue
            said = next((d for e in entities if e.type == slot and not e.resolved
                         and (d := day_of_unclear_hour(e.text)) is not None), None)
            day = (self.resolver.resolve_value(slot, said, reference, past, locales.get(options.locale))
                   if said is not None and reference is not None else None)
            if day is None and day_key(slot) in carried:
                day = next(iter(self.resolver.resolve_carried(slot, carried[day_key(slot)], 1, intent, reference)),
                           None)
            if day is not None and day.get("kind") == "datetime" and day.get("grain") == "day":
                kept[day_key(slot)] = canonical(day)
        return kept

    def _optional_asked(self, intent: str, slots: list[str], entities: list[ResolvedEntity],
                        values: dict[str, list[dict]], missing: list[str], options: RequestOptions) -> list[str]:
        """Optional slots still to ask, in the intent's slot order: said and not read (or read as two
        values of a slot that holds one), or asked by the last answer and not said since; only those
        the domain gives a prompt."""
        unread = {e.type for e in entities if not e.resolved}
        said = {e.type for e in entities if e.resolved}  # not in `values`: two of one value ("9:30 | tomorrow")
        carried = {k for k, _ in options.filled_slots}  # a day kept: its date's hour is still asked
        return [s for s in slots if s not in values and s not in missing
                and (s in unread or s in said or s in options.slots_missing or day_key(s) in carried)
                and f"{intent}.prompt.{s}" in self.templates]

    def _roles(self, intent: str, entities: list[ResolvedEntity], values: dict[str, list[dict]],
               options: RequestOptions, reference: dt.datetime | None, add_to: frozenset[str]) -> dict[str, list[dict]]:
        """`slot.role` -> a catalog slot's values said that way: by this turn's words, else by an
        earlier turn's (carried as `slot.role` in `filled_slots`, as `slots_used` returned it), in
        the slot's order. A carried role counts only for a value the slot still holds from before
        (not one this turn's values replaced: "no, savings to checking" after a transfer to savings
        makes savings no destination), and not for one carried with both roles."""
        now = [(e.type, e.resolution, e.role) for e in entities if e.resolution in values.get(e.type, ())]
        replaced = {slot for slot, _, _ in now} - add_to
        carried: list[tuple[str, dict, str]] = []
        for key, raw in options.filled_slots:
            slot, _, role = key.partition(".")
            if role in ROLES and slot in values and slot in self.resolver.catalogs and slot not in replaced:
                carried += [(slot, v, role) for v in self.resolver.resolve_carried(slot, raw, MAX_VALUES_PER_SLOT,
                                                                                   intent, reference)]
        out: dict[str, list[dict]] = {}
        for slot, found in values.items():
            for value in found:
                role = next((r for s, v, r in now if s == slot and v == value and r), None)
                if role is None:
                    given = {r for s, v, r in carried if s == slot and v == value}
                    role = given.pop() if len(given) == 1 else None
                if role is not None:
                    out.setdefault(f"{slot}.{role}", []).append(value)
        return out

    def _slot_values(self, intent: str, slots: list[str], entities: list[ResolvedEntity], options: RequestOptions,
                     reference: dt.datetime | None, add_to: frozenset[str] = frozenset()) -> dict[str, list[dict]]:
        values: dict[str, list[dict]] = {}
        for e in entities:
            if e.type in slots and e.resolved and e.resolution:
                same = values.setdefault(e.type, [])
                if e.resolution not in same and len(same) < MAX_VALUES_PER_SLOT:
                    same.append(e.resolution)
        for slot, raw in options.filled_slots:
            if slot in slots and (slot not in values or slot in add_to):
                carried = self.resolver.resolve_carried(slot, raw, MAX_VALUES_PER_SLOT, intent, reference)
                if carried:  # else the slot is still missing: its prompt asks for it again
                    added = [v for v in values.get(slot, ()) if v not in carried]
                    values[slot] = (carried + added)[:MAX_VALUES_PER_SLOT]
        # which of two amounts (dates, numbers) was meant is a guess, and so is keeping the one
        # carried from before: the slot's prompt asks
        return {slot: found for slot, found in values.items()
                if len(found) == 1 or found[0].get("kind") not in SINGLE_VALUED}


def _says(template: Template, values: dict[str, list[dict]], fields: dict[str, list[dict]]) -> bool:
    """Whether every placeholder of `template` has a value, and a slot it names only by role
    ("from your {account.source} to your {account.destination}") has no value it would leave
    unsaid: a read-back never hides a value the backend acts on (slots_used)."""
    if not all(f in fields for f in template.slots):
        return False
    for slot in {f.partition(".")[0] for f in template.slots} - set(template.slots):
        said = [v for f in template.slots if f.startswith(slot + ".") for v in fields[f]]
        if any(v not in said for v in values[slot]):
            return False
    return True


def _joined(items: list[dict], form, sep: str) -> str:
    return sep.join(form(i) for i in items)


def canonical(resolution: dict) -> str:
    """The value a backend acts on, and sends back as a context slot in later turns."""
    kind = resolution.get("kind")
    if kind == "money":
        return f"{resolution['amount']} {resolution.get('currency', '')}".strip()
    if kind == "catalog":
        return resolution["id"]
    if kind == "phone":
        return canonical_phone(resolution)
    return str(resolution.get("value", ""))


def display(resolution: dict, locale: locales.Locale = locales.EN_US, reference: dt.datetime | None = None) -> str:
    """The form a person reads or hears in a response, in `locale`'s conventions. `reference`: the
    request's instant, for a date to show its year when it is not within YEARLESS_DAYS."""
    kind = resolution.get("kind")
    if kind == "money":
        return format_money(resolution) if locale is locales.EN_US else locales.format_money(resolution, locale)
    if kind == "datetime":
        with_year = reference is not None and not _soon(resolution, reference)
        if locale is locales.EN_US:
            return format_datetime(resolution, with_year)
        return locales.format_datetime(resolution, locale, with_year)
    if kind == "catalog":
        return resolution["value"]
    if kind == "percentage":
        return f"{locales.format_number(resolution['value'], locale)}%"
    if kind == "number":
        return locales.format_number(resolution["value"], locale)
    if kind == "phone":
        from .resolve.contact import format_phone

        return format_phone(resolution)
    if kind == "duration":
        return _duration_words(resolution["value"], locale)
    return str(resolution.get("value", ""))


def _soon(resolution: dict, reference: dt.datetime) -> bool:
    """Whether a date lies within YEARLESS_DAYS of the request's day, either way (in the date's own
    offset): "last Friday" needs no year, a charge disputed from two years ago does."""
    value = dt.datetime.fromisoformat(resolution["value"])
    return abs((value.date() - reference.astimezone(value.tzinfo).date()).days) < YEARLESS_DAYS


_DURATION_UNITS = ("year", "month", "week", "day", "hour", "minute", "second")


def _duration_words(value: str, locale: locales.Locale) -> str:
    """A duration's ISO value in words, in the units said: "P2Y" is "2 years", "P5Y6M" "5 years 6
    months", not the 730 and 2005 days its `seconds` count (months of 30 days, years of 365); each
    count without the zeros its value may end in ("1.25 minutes" is "PT1M15.00S": "15 seconds")."""
    counts = (Decimal(n or 0).normalize() for n in ISO_DURATION.fullmatch(value).groups())
    parts = [f"{locales.format_number(decimal_str(n), locale)} {unit}{'' if n == 1 else 's'}"
             for n, unit in zip(counts, _DURATION_UNITS) if n]
    return " ".join(parts) or "0 seconds"
