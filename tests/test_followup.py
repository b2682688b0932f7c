"""Conversation context: multi-turn scripts in the banking example, over gRPC, driven as a chat
backend drives intentd (each turn sends back the intent and the slots the previous answer gave, and
the slots it asked for)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import grpc
import pytest
import yaml

from intentd.models.build import write_manifest
from intentd.server.analysis import RequestOptions
from intentd.server.engine import Engine
from servers import ThreadServer, copy_artifact, pb2

UPDATE, CONFIRM, CANCEL = pb2.FOLLOW_UP_KIND_UPDATE, pb2.FOLLOW_UP_KIND_CONFIRM, pb2.FOLLOW_UP_KIND_CANCEL
HOLD, REPEAT = pb2.FOLLOW_UP_KIND_HOLD, pb2.FOLLOW_UP_KIND_REPEAT


@pytest.fixture(scope="module")
def server(banking_artifact):
    with ThreadServer(model=banking_artifact) as srv:
        yield srv


class Conversation:
    """The backend's side: it keeps the intent, the slots and the slots asked, and sends them with
    the next turn."""

    def __init__(self, stub, session: str = "test-session"):
        self.stub = stub
        self.session = session
        self.intent = ""
        self.slots: dict[str, str] = {}
        self.missing: list[str] = []

    def say(self, text: str):
        reply = self.stub.Analyze(pb2.AnalyzeRequest(text=text, context=pb2.RequestContext(
            session_id=self.session, previous_intent=self.intent, filled_slots=self.slots,
            slots_missing=self.missing)), timeout=30)
        self.intent = reply.follow_up.intent if reply.follow_up.kind else reply.intents[0].name
        self.slots = dict(reply.response.slots_used)
        self.missing = list(reply.response.slots_missing)
        return reply


def test_transfer_script(server):
    chat = Conversation(server.stub)
    first = chat.say("move 200 dollars from checking")
    assert first.intents[0].name == "transfer_money" and not first.follow_up.kind
    assert chat.slots == {"amount": "200 USD", "account": "checking", "account.source": "checking"}

    more = chat.say("and to savings")  # "and": added to the account, not replacing it
    assert (more.follow_up.kind, more.follow_up.intent) == (UPDATE, "transfer_money")
    assert not more.escalation.escalate
    both = {"account": "checking,savings", "account.source": "checking", "account.destination": "savings"}
    assert chat.slots == {"amount": "200 USD", **both}
    # the source said in the first turn, carried back in filled_slots, and the destination said now
    assert more.response.template_id == "transfer_money.response.1"
    assert "$200.00 from your Checking account to your Savings account." in more.response.text

    smaller = chat.say("make it 50")  # a bare number is the previous intent's amount
    assert smaller.follow_up.kind == UPDATE
    assert chat.slots == {"amount": "50 USD", **both}
    fifty = [e for e in smaller.entities if e.type == "amount"]
    assert fifty and fifty[0].text == "50" and fifty[0].source == pb2.ENTITY_SOURCE_CONTEXT

    yes = chat.say("yes")
    assert (yes.follow_up.kind, yes.follow_up.intent) == (CONFIRM, "transfer_money")
    assert yes.intents[0].name == "affirm"  # the utterance's own ranking is kept
    assert yes.response.template_id == "affirm.response"
    assert dict(yes.response.slots_used) == {"amount": "50 USD", **both}


def test_an_optional_date_said_and_not_read_is_asked_and_the_answer_read_as_a_date(server):
    """"move 50 dollars from checking to savings tomorrow at five" (which five?) was read back
    without its date, and a backend acting on it moved the money today. The date is asked, the day
    said kept; "5" answering it is no amount only with the answer's `slots_missing` sent back (else
    $5, the old reading), and the cache never answers one request with the other's answer."""
    chat = Conversation(server.stub)
    asked = chat.say("move 50 dollars from checking to savings tomorrow at five")
    assert asked.response.template_id == "transfer_money.prompt.date" and chat.missing == ["date"]
    assert chat.slots["amount"] == "50 USD" and "date" not in chat.slots
    yes = chat.say("yes")  # no date: asked again, nothing confirmed
    assert yes.follow_up.kind == CONFIRM and yes.response.template_id == "transfer_money.prompt.date"
    assert chat.missing == ["date"]

    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)  # one instant: the second round is a cache hit

    def five(missing):
        request = pb2.AnalyzeRequest(text="5", context=pb2.RequestContext(
            previous_intent="transfer_money", filled_slots=chat.slots, slots_missing=missing))
        request.reference_time.FromDatetime(now)
        return dict(server.stub.Analyze(request, timeout=30).response.slots_used)

    hits = server.metric("intentd_cache_hits_total")
    for _ in range(2):  # the second round from the cache
        # the hour of the day kept, which five? asked again; also from a backend that does not send
        # slots_missing back (the day kept says the date is asked: it was $5)
        older = five([])
        assert older["amount"] == "50 USD" and "date" not in older, older
        hour = five(["date"])
        assert hour["amount"] == "50 USD" and "date" not in hour and hour["date.day"] == chat.slots["date.day"], hour
    assert server.metric("intentd_cache_hits_total") == hits + 2
    day = chat.slots["date.day"]  # the day said is kept while its hour is asked
    assert asked.response.slots_used["date.day"] == day and day[10:19] == "T00:00:00", day
    again = chat.say("5")  # which five? asked again, the day kept
    assert again.response.template_id == "transfer_money.prompt.date" and chat.slots["date.day"] == day
    told = chat.say("five pm")
    told_at = dt.datetime.fromisoformat(chat.slots["date"])
    assert told.follow_up.kind == UPDATE and chat.missing == []
    assert told_at.date() == dt.datetime.fromisoformat(day).date() and (told_at.hour, told_at.minute) == (17, 0)
    assert "at 5:00 PM" in told.response.text and "date.day" not in chat.slots
    done = chat.say("yes")
    assert done.response.template_id == "affirm.response" and dict(done.response.slots_used)["date"] == chat.slots["date"]


@pytest.mark.parametrize("when", ["next friday at five", "at five next friday", "at 5 on friday"])
@pytest.mark.parametrize("missing", [["date"], []], ids=["slots_missing sent back", "an older client"])
def test_the_day_of_a_date_whose_hour_is_asked_is_kept_for_the_answer(engine, missing, when):
    """"next friday at five" asked the date (which five?), and the answer "5pm" fell on today: the
    day said is kept meanwhile ("date.day" in slots_used, sent back with them) and the time said
    next falls on it; a bare "5" is the hour again, asked, never the 5th (January 5 on December 7).
    The hour may come first: "at five next friday" kept no day, "at 5 on friday" was read back as
    all day Friday."""
    first = engine.analyze([f"schedule a payment of $45 to verizon {when}"],
                           RequestOptions(time_zone="America/New_York", reference_time=AT_TEN))[0]
    used = first.response.slots_used
    assert first.response.slots_missing == ["date"] and used["date.day"] == "2030-12-06T00:00:00-05:00", used
    carried = list(used.items())
    for text, tags, date in (("5pm", [("date", "5pm")], "2030-12-06T17:00:00-05:00"),
                             ("make it five pm", [], "2030-12-06T17:00:00-05:00"),
                             ("5", [("amount", "5")], None), ("the 9th", [("date", "the 9th")], "2030-12-09T00:00:00-05:00")):
        turn = _turn(engine, text, "schedule_payment", "goodbye", 0.3, "low_confidence", tags, carried,
                     zone="America/New_York", at=AT_TEN, missing=missing)
        got = dict(turn.response.slots_used)
        if date is None:
            assert turn.response.slots_missing == ["date"] and got["date.day"] == used["date.day"], (text, got)
        else:
            assert got.get("date") == date and "date.day" not in got, (text, got)


def test_a_pause_keeps_the_pending_transfer_and_confirms_nothing(server):
    """"um let me think" after a $200 transfer was a CONFIRM of it (the example model read fillers
    as affirm): a pause changes nothing, and the next "yes" confirms what was asked."""
    chat = Conversation(server.stub)
    chat.say("move 200 dollars from checking to savings")
    pause = chat.say("um let me think")
    assert (pause.follow_up.kind, pause.follow_up.intent) == (HOLD, "transfer_money")
    assert pause.response.template_id == "hold.response" and not pause.escalation.escalate
    transfer = {"amount": "200 USD", "account": "checking,savings", "account.source": "checking",
                "account.destination": "savings"}
    assert chat.slots == transfer
    yes = chat.say("yes")
    assert (yes.follow_up.kind, yes.follow_up.intent) == (CONFIRM, "transfer_money")
    assert dict(yes.response.slots_used) == transfer


def test_sorry_what_says_the_last_answer_again(server):
    """"sorry what" after a question read as goodbye (ending the call), "huh" as a CONFIRM."""
    chat = Conversation(server.stub)
    ask = chat.say("i want to send money to my savings account")
    again = chat.say("sorry what")
    assert (again.follow_up.kind, again.follow_up.intent) == (REPEAT, "transfer_money")
    assert (again.response.text, list(again.response.slots_missing)) == (ask.response.text, ["amount"])
    assert chat.slots == {"account": "savings", "account.destination": "savings"}


def test_sorry_what_after_a_read_back_says_it_again(server):
    """The roles of a read-back ("from your Checking account to your Savings account") come back
    in filled_slots, so the repeat is the same sentence, not the plain one."""
    chat = Conversation(server.stub)
    said = chat.say("move 200 dollars from checking to savings")
    again = chat.say("sorry what")
    assert (again.follow_up.kind, again.follow_up.intent) == (REPEAT, "transfer_money")
    assert said.response.template_id == again.response.template_id == "transfer_money.response.1"
    assert again.response.text == said.response.text


@pytest.mark.parametrize("previous", ["", "affirm"])
def test_sorry_what_after_a_decided_turn_is_a_repeat_of_nothing(server, previous):
    """A backend clears the context after a confirmation or a cancel; "sorry what" then came back
    as a plain `repeat` answer ("How can I help you...?"), no follow-up: the caller never heard the
    confirmation again. A REPEAT with no intent tells the backend to say its own last answer."""
    again = server.stub.Analyze(pb2.AnalyzeRequest(text="sorry what", context=pb2.RequestContext(
        previous_intent=previous)), timeout=30)
    assert (again.follow_up.kind, again.follow_up.intent) == (REPEAT, "")
    assert again.intents[0].name == "repeat" and not again.escalation.escalate
    alone = server.stub.Analyze(pb2.AnalyzeRequest(text="what is my balance"), timeout=30)
    assert not alone.follow_up.kind  # a request of its own, with no context, is no follow-up


def test_a_missing_slot_is_asked_then_filled_by_a_fragment(server):
    chat = Conversation(server.stub)
    ask = chat.say("i want to send money to my savings account")
    assert ask.response.template_id == "transfer_money.prompt.amount"
    answer = chat.say("fifty dollars")
    assert (answer.follow_up.kind, answer.follow_up.intent) == (UPDATE, "transfer_money")
    assert chat.slots == {"amount": "50 USD", "account": "savings", "account.destination": "savings"}
    assert answer.response.template_id == "transfer_money.response.3"


def test_yes_before_the_slots_are_known_asks_for_them(server):
    chat = Conversation(server.stub)
    chat.say("i want to send money to my savings account")
    yes = chat.say("yes")
    assert yes.follow_up.kind == CONFIRM
    assert yes.response.template_id == "transfer_money.prompt.amount"
    assert list(yes.response.slots_missing) == ["amount"]


def test_no_cancels(server):
    chat = Conversation(server.stub)
    chat.say("move 200 dollars from checking to savings")
    no = chat.say("no")
    assert (no.follow_up.kind, no.follow_up.intent) == (CANCEL, "transfer_money")
    assert no.response.template_id == "deny.response" and not no.response.slots_used
    assert not no.escalation.escalate


def test_no_with_a_value_corrects(server):
    chat = Conversation(server.stub)
    chat.say("please freeze my credit card")
    assert chat.slots == {"card": "credit_card"}
    fix = chat.say("no, the debit card")
    assert (fix.follow_up.kind, fix.follow_up.intent) == (UPDATE, "block_card")
    assert chat.slots == {"card": "debit_card"}
    assert "Debit card" in fix.response.text


def test_the_other_card_among_many_asks_again(server):
    chat = Conversation(server.stub)
    chat.say("please freeze my credit card")
    other = chat.say("no, the other card")  # the banking catalog has seven cards: which one?
    assert (other.follow_up.kind, other.follow_up.intent) == (UPDATE, "block_card")
    assert other.response.template_id == "block_card.prompt.card"
    assert not other.response.slots_used


def test_a_new_request_is_not_a_follow_up(server):
    chat = Conversation(server.stub)
    chat.say("move 200 dollars from checking to savings")
    new = chat.say("what is the balance of my savings account")
    assert not new.follow_up.kind and new.intents[0].name == "check_balance"
    assert dict(new.response.slots_used) == {"account": "savings"}


def test_a_follow_up_keeps_the_previous_intents_policy(server):
    chat = Conversation(server.stub)
    chat.say("i want to close my savings account")
    yes = chat.say("yes")
    assert (yes.follow_up.kind, yes.follow_up.intent) == (CONFIRM, "close_account")
    assert yes.escalation.escalate and yes.escalation.target_tier == "human"
    assert yes.escalation.reason == pb2.ESCALATION_REASON_POLICY


def test_follow_ups_on_respond_and_detect_intent(server):
    ctx = pb2.RequestContext(previous_intent="transfer_money", filled_slots={"amount": "20 USD", "account": "checking"})
    respond = server.stub.Respond(pb2.RespondRequest(text="make it 75", context=ctx), timeout=30)
    assert respond.follow_up.kind == UPDATE and respond.response.slots_used["amount"] == "75 USD"
    detect = server.stub.DetectIntent(pb2.DetectIntentRequest(text="yes", context=ctx), timeout=30)
    assert (detect.follow_up.kind, detect.follow_up.intent) == (CONFIRM, "transfer_money")


def test_an_unknown_previous_intent_is_ignored(server):
    reply = server.stub.Analyze(pb2.AnalyzeRequest(text="yes", context=pb2.RequestContext(
        previous_intent="order_pizza")), timeout=30)
    assert not reply.follow_up.kind and reply.response.template_id == "affirm.response"


def test_session_id_is_in_the_access_log(banking_artifact, caplog):
    caplog.set_level("INFO", logger="intentd.access")
    with ThreadServer(model=banking_artifact, access_log=True) as srv:
        Conversation(srv.stub, session="call-9").say("and to savings")
        forged = "x\u2028INFO intentd.server.app: FORGED LINE\u0085\u202e"
        Conversation(srv.stub, session=forged).say("and to savings")
    records = [r.getMessage() for r in caplog.records if r.name == "intentd.access"]
    lines = [json.loads(record) for record in records]
    assert [line["session_id"] for line in lines if line["rpc"] == "Analyze"] == ["call-9", forged]
    assert all(record.isascii() and record.isprintable() for record in records)  # one line, whatever it holds


def test_a_refused_request_is_access_logged_with_why_and_its_session(banking_artifact, caplog):
    """An INVALID_ARGUMENT's line said neither which field was wrong nor the session (set only once
    a request was admitted): an SRE chasing a spike of them could not tell which check fired."""
    caplog.set_level("INFO", logger="intentd.access")
    with ThreadServer(model=banking_artifact, access_log=True) as srv:
        for request in (pb2.AnalyzeRequest(text="", context=pb2.RequestContext(session_id="call-7")),
                        pb2.AnalyzeRequest(text="my balance", locale="xx-YY",
                                           context=pb2.RequestContext(session_id="call-8"))):
            with pytest.raises(grpc.RpcError):
                srv.stub.Analyze(request, timeout=30)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "intentd.access"]
    assert [(line["code"], line.get("session_id"), line.get("error", "").split(":")[0]) for line in lines] == [
        ("INVALID_ARGUMENT", "call-7", "text"), ("INVALID_ARGUMENT", "call-8", "locale")]
    assert "my balance" not in caplog.text  # what was asked stays out of the log


# -- "the other" when the catalog has two values: an artifact whose card catalog has two --------


@pytest.fixture(scope="module")
def two_cards(banking_artifact, tmp_path_factory) -> Engine:
    root = copy_artifact(banking_artifact, tmp_path_factory.mktemp("two-cards") / "artifact")
    domain = yaml.safe_load((root / "domain.yaml").read_text(encoding="utf-8"))
    cards = domain["entities"]["card"]["values"]
    domain["entities"]["card"]["values"] = [v for v in cards if v["id"] in ("debit_card", "credit_card")]
    (root / "domain.yaml").write_text(yaml.safe_dump(domain, sort_keys=False), encoding="utf-8")
    write_manifest(root, json.loads((root / "manifest.json").read_text()))
    return Engine.load(root)


@pytest.mark.parametrize("text", ["no, the other card", "the other one"])
def test_the_other_card_of_two_is_picked(two_cards, text):
    options = RequestOptions(previous_intent="block_card", filled_slots=(("card", "debit_card"),))
    analysis = two_cards.analyze([text], options)[0]
    assert analysis.follow_up is not None and analysis.follow_up.intent == "block_card"
    assert analysis.response.slots_used == {"card": "credit_card"}
    other = [e for e in analysis.entities if e.source == "context"]
    assert [e.resolution["id"] for e in other] == ["credit_card"] and text[other[0].start:other[0].end] == other[0].text


def test_a_domain_may_name_its_confirmation_intents(banking_artifact, tmp_path):
    root = copy_artifact(banking_artifact, tmp_path / "artifact")
    path = Path(root) / "domain.yaml"
    domain = yaml.safe_load(path.read_text(encoding="utf-8"))
    domain["follow_ups"] = {"confirm": ["affirm", "no_such_intent"]}
    path.write_text(yaml.safe_dump(domain, sort_keys=False), encoding="utf-8")
    write_manifest(root, json.loads((root / "manifest.json").read_text()))
    with pytest.raises(Exception, match="follow_ups.confirm: unknown intent"):
        Engine.load(root)


def test_context_with_a_bad_previous_intent_is_still_validated(server):
    with pytest.raises(grpc.RpcError) as err:
        server.stub.Analyze(pb2.AnalyzeRequest(text="yes", context=pb2.RequestContext(
            previous_intent="x" * 300)), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith("context.previous_intent")


# -- the rule on a given reading of the turn (the model's reading of two words varies by model) ------

def _turn(engine: Engine, text: str, previous: str, intent: str, confidence: float, unsure: str | None,
          spans=(), slots=(), zone: str | None = None, at: dt.datetime | None = None, missing=(),
          locale: str | None = None):
    from intentd.server.analysis import Escalation
    from intentd.server.decode import EntitySpan, Prediction

    options = RequestOptions(previous_intent=previous, filled_slots=tuple(sorted(slots)), time_zone=zone,
                             reference_time=at, slots_missing=tuple(missing), locale=locale)
    found = [EntitySpan(etype, text.index(surface), text.index(surface) + len(surface), surface, 0.9)
             for etype, surface in spans]
    prediction = Prediction([(intent, confidence), ("greeting", 0.1)], found, 0.0)
    entities = engine.resolver.resolve(text, found, options, intent)
    escalation = Escalation(unsure is not None, unsure, "frontier_standard" if unsure else None, {}, "")
    return engine.follow_ups.resolve(text, prediction, entities, escalation, options)


@pytest.fixture(scope="module")
def engine(banking_artifact) -> Engine:
    return Engine.load(banking_artifact)


@pytest.mark.parametrize("text", ["that one", "this one", "the first one", "yes that one", "the joint one",
                                  "which one", "a new one", "another one", "thanks, have a good one"])
def test_one_as_a_pronoun_is_never_an_amount(engine, text):
    """"that one" once confirmed a $5,000 transfer as $1.00, and "Thanks, have a good one." (the
    example's test split) made it $1.00: "one" after that/this/which/the/a ... points."""
    carried = [("amount", "5000 USD"), ("account", "checking")]
    yes = _turn(engine, text, "transfer_money", "affirm", 0.9, None, slots=carried)  # read as a yes: confirm as is
    assert dict(yes.response.slots_used)["amount"] == "5000 USD"
    unsure = _turn(engine, text, "transfer_money", "greeting", 0.3, "low_confidence", slots=carried)
    if text == "the joint one":  # it points at the joint account, never at an amount of 1
        assert dict(unsure.response.slots_used) == {"amount": "5000 USD", "account": "joint"}
    else:
        assert unsure is None
    turn = _turn(engine, "make it one", "transfer_money", "deny", 0.4, "low_confidence", slots=carried)
    assert dict(turn.response.slots_used)["amount"] == "1 USD"  # a number where a number is asked for
    for text, amount in (("that one hundred", "100 USD"), ("make it a grand", "1000 USD"),
                         ("make it a hundred one", "101 USD")):
        turn = _turn(engine, text, "transfer_money", "greeting", 0.3, "low_confidence", slots=carried)
        assert dict(turn.response.slots_used)["amount"] == amount, text


def test_an_unsure_yes_or_no_is_neither_a_confirmation_nor_a_cancellation(engine):
    carried = [("amount", "5000 USD")]
    spans = [("account", "savings")]
    turn = _turn(engine, "the savings one", "transfer_money", "affirm", 0.24, "low_confidence", spans, carried)
    assert turn.follow_up.kind == "update" and dict(turn.response.slots_used)["account"] == "savings"
    assert _turn(engine, "yes", "transfer_money", "affirm", 0.97, None, slots=carried).follow_up.kind == "confirm"
    assert _turn(engine, "no", "transfer_money", "deny", 0.3, "ambiguous", slots=carried) is None
    assert _turn(engine, "no", "transfer_money", "deny", 0.97, None, slots=carried).follow_up.kind == "cancel"


def test_a_bare_answer_to_the_question_continues_the_previous_intent(engine):
    """"the debit card" answering "Which card?" once went to block_card, which the model read into it."""
    for previous in ("activate_card", "report_lost_card", "replace_card"):
        turn = _turn(engine, "the debit card", previous, "block_card", 0.55, None, [("card", "debit card")])
        assert (turn.follow_up.kind, turn.follow_up.intent) == ("update", previous)
        assert dict(turn.response.slots_used) == {"card": "debit_card"}
    own = _turn(engine, "block my debit card", "activate_card", "block_card", 0.99, None, [("card", "debit card")])
    assert own is None  # a request of its own, not an answer


def test_a_confident_request_the_domain_sends_to_a_person_is_never_a_follow_up(engine):
    """"actually fraud on my checking account" was an update of the transfer: no escalation."""
    carried = [("amount", "200 USD"), ("account", "checking")]
    spans = [("account", "checking")]
    assert _turn(engine, "actually fraud on my checking account", "transfer_money", "report_fraud", 0.99, None,
                 spans, carried) is None
    turn = _turn(engine, "actually my checking account", "transfer_money", "report_fraud", 0.3, "low_confidence",
                 spans, carried)  # not confident: the correction it reads as
    assert turn.follow_up.kind == "update"
    # nothing but a value answers the question asked, whatever policy intent the model reads into it:
    # "my main account" answering "Which account?" went to a person to close the checking account
    turn = _turn(engine, "my main account", "check_balance", "close_account", 0.52, None, [("account", "main account")])
    assert (turn.follow_up.kind, turn.follow_up.intent) == ("update", "check_balance")
    assert dict(turn.response.slots_used) == {"account": "checking"} and not turn.escalation.escalate


def test_a_bare_answer_fills_the_slot_that_was_asked(engine):
    """"the 15" answering "When should the payment go out?" set the amount to $15 and asked for the
    date again; "make it at 5" made a $60 payment $5."""
    turn = _turn(engine, "the 15", "schedule_payment", "greeting", 0.85, None, slots=[("amount", "60 USD")])
    used = dict(turn.response.slots_used)
    assert used["amount"] == "60 USD" and used["date"][8:10] == "15"
    carried = [("amount", "60 USD"), ("date", "2026-12-04T00:00:00-05:00")]
    turn = _turn(engine, "make it at 5", "schedule_payment", "goodbye", 0.37, "low_confidence", slots=carried)
    assert turn is None or dict(turn.response.slots_used).get("amount") == "60 USD"
    turn = _turn(engine, "make it 75", "schedule_payment", "goodbye", 0.37, "low_confidence", slots=carried)
    assert dict(turn.response.slots_used)["amount"] == "75 USD"  # nothing asked: the first slot it reads as


def test_an_answer_to_the_question_asked_is_read_as_that_slot(engine):
    """"Amazon" answering "Which bill or payee?" and "the credit one" answering "your debit card or
    your credit card?" went to the hand-off, losing the dialogue."""
    turn = _turn(engine, "Amazon", "pay_bill", "greeting", 0.71, None)
    assert turn.follow_up.kind == "update" and dict(turn.response.slots_used) == {"merchant": "Amazon"}
    turn = _turn(engine, "the credit one", "report_lost_card", "deny", 0.74, "out_of_distribution")
    assert dict(turn.response.slots_used) == {"card": "credit_card"}  # "credit card", not "business credit card"
    # free text only where it was asked: a merchant is not read into a turn that answers nothing
    assert _turn(engine, "Amazon", "pay_bill", "greeting", 0.71, None, slots=[("merchant", "Netflix")]) is None
    # nor into a turn with a clear intent of its own: a request, a cancellation, a policy intent
    assert _turn(engine, "what's my balance", "pay_bill", "check_balance", 0.99, None) is None
    assert _turn(engine, "never mind", "pay_bill", "deny", 0.99, None).follow_up.kind == "cancel"
    assert _turn(engine, "someone stole my identity", "pay_bill", "report_fraud", 0.92, None) is None
    assert _turn(engine, "the card one", "report_lost_card", "deny", 0.74, "out_of_distribution") is None


def test_a_follow_up_date_is_read_in_the_direction_of_the_intent_it_continues(engine):
    """The model's reading of a few words ("on the 20th": travel_notice, "last friday":
    recent_transactions) set the direction: a lost card was lost in the future, a payment was
    scheduled in the past."""
    turn = _turn(engine, "on the 20th", "report_lost_card", "travel_notice", 0.24, "low_confidence",
                 [("date", "the 20th")], [("card", "debit_card")])
    lost = dt.datetime.fromisoformat(dict(turn.response.slots_used)["date"])
    assert lost <= dt.datetime.now(dt.timezone.utc) and lost.day == 20
    carried = [("amount", "60 USD"), ("date", "2030-12-06T00:00:00-05:00")]
    turn = _turn(engine, "make it last friday", "schedule_payment", "recent_transactions", 0.21, "low_confidence",
                 [("date", "last friday")], carried)
    assert turn.follow_up.kind == "update" and turn.response.template_id == "schedule_payment.prompt.date"
    assert dict(turn.response.slots_used) == {"amount": "60 USD"}  # neither the past date nor the old one


@pytest.mark.parametrize("text, spans, at", [("make it 3pm", [("date", "3pm")], "15:00"), ("3pm instead", [], "15:00"),
                                             ("at 9:30am", [("date", "9:30am")], "09:30"),
                                             ("actually at 9 in the morning", [("date", "at 9 in the morning")], "09:00"),
                                             # a zone named, or a dotted time: the day of the turn's own reading
                                             # (today, Monday), where the agreed day was kept without them
                                             ("make it 4pm et", [("date", "4pm")], "16:00"),
                                             ("make it 4pm pst", [("date", "4pm")], "19:00"),
                                             ("make it 4.30pm", [("date", "4.30pm")], "16:30"),
                                             ("make it at 4.15", [("date", "4.15")], "04:15")])
def test_a_time_alone_keeps_the_agreed_day(engine, text, spans, at):
    """"make it 3pm" for a payment agreed for Friday scheduled it for today (or Monday) at 3pm."""
    carried = [("amount", "60 USD"), ("date", "2030-12-06T00:00:00-05:00")]  # a Friday
    turn = _turn(engine, text, "schedule_payment", "goodbye", 0.28, "low_confidence", spans, carried,
                 zone="America/New_York")
    date = dict(turn.response.slots_used)["date"]
    assert date.startswith("2030-12-06T") and date.endswith("-05:00") and date[11:16] == at


def test_a_dotted_number_the_dates_do_not_read_is_no_agreed_time_kept(engine):
    """"make it 9.30 instead", tagged as a date the dates do not read, left the agreed 09:00 in
    place without a word: after a time of day it is a time, on the agreed day (below); "make it
    4.12", no hour, is asked."""
    carried = [("amount", "60 USD"), ("date", "2030-12-06T09:00:00-05:00")]
    turn = _turn(engine, "make it 4.72", "schedule_payment", "goodbye", 0.28, "low_confidence",
                 [("date", "4.72")], carried, zone="America/New_York")
    assert "date" not in dict(turn.response.slots_used) and turn.response.slots_missing == ["date"]


@pytest.mark.parametrize("tags", [[("amount", "9.30")], [("date", "9.30")], []],
                         ids=["tagged as an amount", "tagged as a date", "untagged"])
def test_a_dotted_time_after_an_agreed_time_is_that_time_on_the_agreed_day(engine, tags):
    """"make it 9.30 instead" after a payment agreed for 09:00, the model's amount or nothing,
    replaced the agreed $60 with $9.30 and kept 09:00 unsaid; asked instead, it dropped the agreed
    day, and the answer "9.30am" fell on today. It is 09:30 that day, read back."""
    carried = [("amount", "60 USD"), ("date", "2030-12-06T09:00:00-05:00")]
    turn = _turn(engine, "make it 9.30 instead", "schedule_payment", "goodbye", 0.28, "low_confidence", tags, carried,
                 zone="America/New_York")
    used = dict(turn.response.slots_used)
    assert used == {"amount": "60 USD", "date": "2030-12-06T09:30:00-05:00"}, used
    assert turn.response.slots_missing == [] and "9:30 AM" in turn.response.text, turn.response


@pytest.mark.parametrize("text, amount", [("make it 45.50", "45.50"), ("make it 12.50", "12.50"),
                                          ("actually 9.30", "9.30")])
def test_a_dotted_amount_after_a_day_with_no_time_is_the_amount(engine, text, amount):
    """The rule above read "make it 45.50" (no hour 45) and "make it 12.50" after a payment agreed
    for a day, no time, as a time: it asked the date, dropped the agreed day, and kept $45."""
    carried = [("amount", "45 USD"), ("date", "2030-12-06T00:00:00-05:00")]
    said = text.split()[-1]
    turn = _turn(engine, text, "schedule_payment", "goodbye", 0.28, "low_confidence", [("amount", said)], carried,
                 zone="America/New_York")
    used = dict(turn.response.slots_used)
    assert used["amount"] == f"{amount} USD" and used["date"] == "2030-12-06T00:00:00-05:00", used


AGREED_9AM = [("amount", "45 USD"), ("merchant", "verizon"), ("date", "2026-12-11T09:00:00-05:00")]
FRIDAY_10AM = dt.datetime(2026, 12, 4, 15, tzinfo=dt.timezone.utc)  # Friday 10:00 in New York


@pytest.mark.parametrize("text, own, tags", [
    ("change the amount to 9.30", "transfer_money", [("amount", "9.30")]),
    ("make the amount 9.30", "transfer_money", [("amount", "9.30")]),
    ("no not 45 make it 9.30", "deny", [("date", "9.30")]),
    ("no not 45, 9.30", "deny", [("amount", "9.30")]),
])
def test_a_dotted_number_in_a_turn_that_names_the_amount_is_the_amount(engine, text, own, tags):
    """"change the amount to 9.30" after a payment of $45 agreed for 09:00 kept $45 and moved the
    payment to 09:30; "make the amount 9.30" lost the payment altogether (a new request, a transfer)."""
    turn = _turn(engine, text, "schedule_payment", own, 0.72, None, tags, AGREED_9AM,
                 zone="America/New_York", at=FRIDAY_10AM)
    assert turn is not None and turn.follow_up.intent == "schedule_payment"
    used = dict(turn.response.slots_used)
    assert used["amount"] == "9.30 USD" and used["date"] == "2026-12-11T09:00:00-05:00", used


@pytest.mark.parametrize("text, hour", [("make it 9.30 pm", 21), ("make it 9.30 p.m.", 21), ("make it 9.30 PM", 21),
                                        ("make it 9.30 in the evening", 21), ("make it 9.30 a.m.", 9),
                                        ("make it 12.30 am", 0), ("make it 12.30 pm", 12)])
def test_a_dotted_time_keeps_the_half_of_the_day_said_after_it(engine, text, hour):
    """"make it 9.30 pm" (the model's span "9.30", the "pm" after it) was 09:30, 12 hours off."""
    turn = _turn(engine, text, "schedule_payment", "goodbye", 0.3, "low_confidence", [("amount", "9.30" if "9.30" in text
                                                                                        else "12.30")],
                 AGREED_9AM, zone="America/New_York", at=FRIDAY_10AM)
    used = dict(turn.response.slots_used)
    assert used["amount"] == "45 USD" and used["date"] == f"2026-12-11T{hour:02d}:30:00-05:00", used


@pytest.mark.parametrize("text, tags, at", [
    ("make it 9.30 eastern", [("date", "9.30 eastern")], "09:30"),
    ("make it 9.30 pacific", [("amount", "9.30")], "12:30"),
    ("make it 9.30 pst", [], "12:30"),
    ("make it 9.30 pm eastern", [("amount", "9.30")], "21:30"),
    ("make it nine thirty eastern", [("date", "nine thirty eastern")], "09:30"),
    ("make it 9.30 ist", [("date", "9.30 ist")], None),
])
def test_a_dotted_time_keeps_the_zone_said_after_it(engine, text, tags, at):
    """"make it 9.30 eastern" (the caller's own zone) dropped the agreed day and asked the date; a
    zone of several ("ist": India, Ireland, Israel) is asked, the model's 02:30 in India not taken."""
    turn = _turn(engine, text, "schedule_payment", "goodbye", 0.3, "low_confidence", tags, AGREED_9AM,
                 zone="America/New_York", at=FRIDAY_10AM)
    used = dict(turn.response.slots_used)
    if at is None:
        assert turn.response.slots_missing == ["date"] and used["amount"] == "45 USD", turn.response
    else:
        assert used["amount"] == "45 USD" and used["date"] == f"2026-12-11T{at}:00-05:00", used


def test_a_dotted_time_with_an_impossible_half_of_the_day_is_asked(engine):
    turn = _turn(engine, "make it 16.30 pm", "schedule_payment", "goodbye", 0.3, "low_confidence",
                 [("amount", "16.30")], AGREED_9AM, zone="America/New_York", at=FRIDAY_10AM)
    assert turn.response.slots_missing == ["date"] and dict(turn.response.slots_used)["amount"] == "45 USD"


@pytest.mark.parametrize("text, tags, locale, at", [
    ("make it 10.00 am", [("amount", "10.00")], None, "10:00"),
    ("make it 10.00 in the morning", [("amount", "10.00"), ("date", "in the morning")], None, "10:00"),
    ("move it to 10.00", [("amount", "10.00")], None, "10:00"),
    ("make it 20.00 uhr", [("amount", "20.00")], None, "20:00"),
    ("make it 9.00 pm", [("amount", "9.00")], None, "21:00"),
    ("make it 16.00", [("amount", "16.00")], "en-GB", "16:00"),  # how a British caller writes 4 pm
    ("make it 16.00", [("amount", "16.00")], "de-DE", "16:00"),
])
def test_a_time_written_with_00_is_a_time_where_something_says_so(engine, text, tags, locale, at):
    """"make it 10.00 am", "move it to 10.00" and "make it 20.00 uhr" after a payment agreed for
    09:00 became $10.00 or $20.00 with 09:00 kept: the ".00 is money" rule came before the words
    that make it a time. In a locale that writes decimals with a comma, "16.00" is a time."""
    turn = _turn(engine, text, "schedule_payment", "goodbye", 0.3, "low_confidence", tags, AGREED_9AM,
                 zone="America/New_York", at=FRIDAY_10AM, locale=locale)
    used = dict(turn.response.slots_used)
    assert used["amount"] == "45 USD" and used["date"] == f"2026-12-11T{at}:00-05:00", used


@pytest.mark.parametrize("text, tags", [("make it one fifty", [("amount", "one fifty")]),
                                        ("make it two fifty", []), ("make it 12.50", [("amount", "12.50")])])
def test_a_time_far_from_the_agreed_one_with_nothing_saying_it_is_a_time_is_no_time(engine, text, tags):
    """"make it one fifty" after a payment of $45 agreed for 09:00 was 01:50 that night: a
    correction moves a time a little, and $1.50 or $150 is as likely. Not read as a time (an
    amount, or asked when it could be several)."""
    turn = _turn(engine, text, "schedule_payment", "goodbye", 0.3, "low_confidence", tags, AGREED_9AM,
                 zone="America/New_York", at=FRIDAY_10AM)
    used = dict(turn.response.slots_used)
    assert used["date"] == "2026-12-11T09:00:00-05:00" and used.get("amount") != "45 USD", turn.response


def test_a_time_without_its_half_of_the_day_is_the_half_nearest_the_agreed_time(engine):
    """"make it 2.30 instead" after a payment agreed for 14:00 was 02:30 that night."""
    two_pm = [("amount", "45 USD"), ("merchant", "verizon"), ("date", "2026-12-11T14:00:00-05:00")]
    for text, tags in (("make it 2.30 instead", [("amount", "2.30")]), ("make it two thirty", [])):
        turn = _turn(engine, text, "schedule_payment", "goodbye", 0.3, "low_confidence", tags, two_pm,
                     zone="America/New_York", at=FRIDAY_10AM)
        assert dict(turn.response.slots_used)["date"] == "2026-12-11T14:30:00-05:00", (text, turn.response)


@pytest.mark.parametrize("previous, carried", [
    ("schedule_payment", [("amount", "45 USD"), ("merchant", "verizon"), ("date", "2026-12-11T00:00:00-05:00")]),
    ("transfer_money", [("amount", "45 USD"), ("account", "savings"), ("date", "2026-12-11T00:00:00-05:00")]),
])
def test_a_dotted_time_with_its_half_of_the_day_is_a_time_on_any_agreed_day(engine, previous, carried):
    """"make it 9.30 pm" after "next friday" (no time agreed), or after a transfer, dropped the agreed
    day and asked; the answer "9.30pm" then fell on today."""
    turn = _turn(engine, "make it 9.30 pm", previous, "goodbye", 0.3, "low_confidence", [("amount", "9.30")], carried,
                 zone="America/New_York", at=FRIDAY_10AM)
    used = dict(turn.response.slots_used)
    assert used["amount"] == "45 USD" and used["date"] == "2026-12-11T21:30:00-05:00", used


@pytest.mark.parametrize("text, tags, locale, at", [
    ("make it 9:30 pm", [("date", "9:30")], None, "2026-12-11T21:30"),  # the model's span without the "pm"
    ("make it 12.00 at night", [("amount", "12.00")], None, "2026-12-11T00:00"),
    ("move it to 10.30", [], None, "2026-12-11T10:30"),  # the words that move it before the time, untagged
    ("can you do it at 10.00", [], None, "2026-12-11T10:00"),
    ("at 10.00 instead", [("amount", "10.00")], None, "2026-12-11T10:00"),  # "at" outside the model's span
    ("no, thursday at 5pm", [("date", "5pm")], None, "2026-12-10T17:00"),  # the day named, not the agreed one
    ("no, friday at 5pm", [("date", "5pm")], None, "2026-12-11T17:00"),  # the agreed Friday's weekday: that day
    ("make it 19.50", [("amount", "19.50")], "en-GB", "2026-12-11T19:50"),  # how a British caller writes it
])
def test_what_a_follow_up_says_around_a_time_is_read_with_it(engine, text, tags, locale, at):
    """"make it 9:30 pm" (the model's span "9:30") was 09:30; "move it to 10.30" was $10.30; "no,
    thursday at 5pm" (span "5pm") fell on the agreed day, and "no, friday at 5pm", said on a Friday
    of a payment agreed for next Friday, then fell on today."""
    turn = _turn(engine, text, "schedule_payment", "goodbye", 0.3, "low_confidence", tags, AGREED_9AM,
                 zone="America/New_York", at=FRIDAY_10AM, locale=locale)
    used = dict(turn.response.slots_used)
    assert used["amount"] == "45 USD" and used["date"] == f"{at}:00-05:00", used


AGREED_8PM = [("amount", "45 USD"), ("merchant", "verizon"), ("date", "2026-12-11T20:00:00-05:00")]
AGREED_TODAY_9PM = [("amount", "45 USD"), ("merchant", "verizon"), ("date", "2026-12-04T21:00:00-05:00")]


@pytest.mark.parametrize("text, tags, locale, agreed, amount, at", [
    # the half of the day said after a time: the hours it holds, else asked
    ("make it 5.30 tonight", [("amount", "5.30")], None, AGREED_TODAY_9PM, "45 USD", "2026-12-04T17:30"),  # 05:30
    # "tonight" is today's, whatever day was agreed (a dotted time was put on the agreed day, a colon one on today)
    ("make it 5.30 tonight", [("amount", "5.30")], None, AGREED_9AM, "45 USD", "2026-12-04T17:30"),
    ("make it 9:30 tonight", [("date", "9:30 tonight")], None, AGREED_9AM, "45 USD", "2026-12-04T21:30"),
    ("8 tonight", [("date", "8 tonight")], None, AGREED_9AM, "45 USD", "2026-12-04T20:00"),  # it was $8
    ("make it 4.30 at night", [("amount", "4.30")], None, AGREED_9AM, "45 USD", None),  # was 04:30: which?
    ("make it 9.30 in the afternoon", [("amount", "9.30")], None, AGREED_9AM, "45 USD", None),  # was 21:30
    ("9:30 in the evening", [("date", "9:30"), ("date", "in the evening")], None, AGREED_9AM, "45 USD",
     "2026-12-11T21:30"),  # the agreed day was dropped, the date asked
    ("make it 9:30 at night", [("date", "9:30 at night")], None, AGREED_9AM, "45 USD", "2026-12-11T21:30"),  # today
    # a time led by "at" or a verb, on a 12-hour clock: the half nearest the agreed time, else asked
    ("move it to 4.30", [("amount", "4.30")], None, AGREED_9AM, "45 USD", None),  # was 04:30
    ("move it to 11.15", [], None, AGREED_9AM, "45 USD", "2026-12-11T11:15"),
    ("move it to 12.30", [], None, AGREED_9AM, "45 USD", None),  # 00:30 or 12:30, both far
    ("make it 8:30", [("date", "8:30")], None, AGREED_8PM, "45 USD", "2026-12-11T20:30"),  # was 08:30
    ("make it 3:15", [("date", "3:15")], None, AGREED_9AM, "45 USD", None),  # was 03:15
    # a number that may be a date ("18.12" in en-GB: 18 December), or a change by an amount: asked
    ("move it to 18.12", [("amount", "18.12")], "en-GB", AGREED_9AM, "45 USD", None),  # was 18:12
    ("lower it by 5.00", [("amount", "5.00")], None, AGREED_9AM, None, "2026-12-11T09:00"),  # was 05:00, $45 kept
    ("reduce the payment by 5", [("amount", "5")], None, AGREED_9AM, None, "2026-12-11T09:00"),  # was $5.00
    ("bump it up by 10", [("amount", "10")], None, AGREED_9AM, None, "2026-12-11T09:00"),  # was $10.00
    ("reduce it by 10.00", [("amount", "10.00")], "en-GB", AGREED_9AM, None, "2026-12-11T09:00"),  # the date asked
    ("add 5", [], None, AGREED_9AM, None, "2026-12-11T09:00"),  # each was $5.00
    ("add $5 to it", [("amount", "$5")], None, AGREED_9AM, None, "2026-12-11T09:00"),
    ("take 5 off", [], None, AGREED_9AM, None, "2026-12-11T09:00"),
    ("bring it down by 5", [], None, AGREED_9AM, None, "2026-12-11T09:00"),
    ("up it by 5", [], None, AGREED_9AM, None, "2026-12-11T09:00"),
    ("at 10.10", [("date", "10.10")], "en-GB", AGREED_9AM, "45 USD", None),  # was 10 October 2027
    ("at 10.10", [("date", "10.10")], None, AGREED_9AM, "45 USD", "2026-12-11T10:10"),
    # a time moved far is asked inside the follow-up (it became a new $5 transfer, or a hand-off)
    ("move it to 5.00", [("amount", "5.00")], None, AGREED_9AM, "45 USD", None),
    ("move it to 4:30", [("date", "4:30")], None, AGREED_9AM, "45 USD", None),
    # far from an agreed evening time, a 12-hour number is the amount in every locale (was 14:30 in en-GB)
    ("make it 2.30", [("amount", "2.30")], "en-GB", AGREED_8PM, "2.30 USD", "2026-12-11T20:00"),
])
def test_the_time_a_follow_up_says_is_read_as_said_or_asked(engine, text, tags, locale, agreed, amount, at):
    """What a re-audit of the follow-up times found: a half of the day read into hours it does not
    hold, a time led by "move it to" taken on the morning's clock wherever the agreed time lay, a
    dotted date or a change by an amount read as a time."""
    turn = _turn(engine, text, "schedule_payment", "goodbye", 0.3, "low_confidence", tags, agreed,
                 zone="America/New_York", at=FRIDAY_10AM, locale=locale)
    used = dict(turn.response.slots_used)
    assert used.get("amount") == amount, used
    if at is None:
        assert "date" not in used and "date" in turn.response.slots_missing, used
    else:
        assert used.get("date") == f"{at}:00-05:00", used


MONDAY_10AM = dt.datetime(2026, 12, 7, 15, tzinfo=dt.timezone.utc)  # 10:00 in New York
KEPT_TUESDAY = [("account", "savings"), ("account.destination", "savings"), ("amount", "50 USD"),
                ("date.day", "2026-12-08T00:00:00-05:00")]  # "tomorrow at five": which five?


@pytest.mark.parametrize("missing", [["date"], []], ids=["slots_missing sent back", "an older client"])
@pytest.mark.parametrize("text, tags, at", [
    ("5pm, not today", [("date", "5pm")], "2026-12-08T17:00"),  # a day refused is no day named (it was today)
    # the day kept refused: which day, then? (it was read back on the day refused)
    ("5pm, not tomorrow", [("date", "5pm"), ("date", "tomorrow")], None),
    ("not tomorrow, 5pm", [("date", "5pm")], None),
    ("5pm rather than tomorrow", [("date", "5pm"), ("date", "tomorrow")], None),
    ("5:30 tonight", [("date", "5:30 tonight")], "2026-12-07T17:30"),  # today's, as said
    ("5.30 tonight", [("amount", "5.30")], "2026-12-07T17:30"),  # the same (it was the day kept's)
    ("not today, at 5pm", [("date", "5pm")], "2026-12-08T17:00"),
    ("5pm not friday", [("date", "5pm")], "2026-12-08T17:00"),
    ("17.00", [("amount", "17.00")], "2026-12-08T17:00"),  # a 24-hour time: it replaced the $50
    ("5.30", [("amount", "5.30")], None),  # which 5.30? asked again, the day kept
])
def test_the_answer_to_a_date_asked_falls_on_the_day_kept(engine, missing, text, tags, at):
    turn = _turn(engine, text, "transfer_money", "goodbye", 0.3, "low_confidence", tags, KEPT_TUESDAY,
                 zone="America/New_York", at=MONDAY_10AM, missing=missing)
    used = dict(turn.response.slots_used)
    assert used["amount"] == "50 USD", used
    if at is None and ("tomorrow" in text or "tonight" in text):  # another day said, or the day refused: none kept
        assert "date" not in used and "date.day" not in used and turn.response.slots_missing == ["date"], used
    elif at is None:
        assert used["date.day"] == "2026-12-08T00:00:00-05:00" and turn.response.slots_missing == ["date"], used
    else:
        assert used.get("date") == f"{at}:00-05:00" and "date.day" not in used, used


def test_a_number_answering_how_much_is_the_amount_with_a_day_kept(engine):
    """An older client (no slots_missing): "20" answering "How much should the payment be?", asked
    first while the day of "tomorrow at five" was kept, was read as the date asked (December 20,
    and the amount asked again; "5" was dropped): the slot asked is the one the responder asks
    first, the required amount, then the date."""
    carried = [("merchant", "verizon"), ("date.day", "2026-12-08T00:00:00-05:00")]
    for said in ("20", "5"):
        turn = _turn(engine, said, "schedule_payment", "goodbye", 0.3, "low_confidence", [("amount", said)], carried,
                     zone="America/New_York", at=MONDAY_10AM)
        used = dict(turn.response.slots_used)
        assert used["amount"] == f"{said} USD" and "date" not in used, used
        assert used["date.day"] == "2026-12-08T00:00:00-05:00" and turn.response.slots_missing == ["date"], used


def test_the_weekday_of_the_agreed_date_named_again_is_that_date(engine):
    """"no, friday at 5pm" for a payment agreed for Friday the 18th moved it to Friday the 11th, a
    week early, read back as "Friday"."""
    agreed = [("amount", "45 USD"), ("merchant", "verizon"), ("date", "2026-12-18T09:00:00-05:00")]
    turn = _turn(engine, "no, friday at 5pm", "schedule_payment", "deny", 0.9, None, [("date", "5pm")], agreed,
                 zone="America/New_York", at=MONDAY_10AM)
    assert dict(turn.response.slots_used)["date"] == "2026-12-18T17:00:00-05:00"
    other = _turn(engine, "no, thursday at 5pm", "schedule_payment", "deny", 0.9, None, [("date", "5pm")], agreed,
                  zone="America/New_York", at=MONDAY_10AM)
    assert dict(other.response.slots_used)["date"] == "2026-12-10T17:00:00-05:00"
    whole = _turn(engine, "make it friday at 5pm", "schedule_payment", "goodbye", 0.3, "low_confidence",
                  [("date", "friday at 5pm")], agreed, zone="America/New_York", at=MONDAY_10AM)  # all one span
    assert dict(whole.response.slots_used)["date"] == "2026-12-18T17:00:00-05:00"
    refused = _turn(engine, "5pm, not friday", "schedule_payment", "goodbye", 0.3, "low_confidence",
                    [("date", "5pm")], agreed, zone="America/New_York", at=MONDAY_10AM)  # the agreed day refused
    assert "date" not in dict(refused.response.slots_used) and refused.response.slots_missing == ["date"]


def test_a_far_24_hour_time_in_en_us_is_the_amount(engine):
    """"make it 19.50" after 09:00 was 7:50 PM in en-US, where it is $19.50."""
    turn = _turn(engine, "make it 19.50", "schedule_payment", "goodbye", 0.3, "low_confidence", [("amount", "19.50")],
                 AGREED_9AM, zone="America/New_York", at=FRIDAY_10AM)
    assert dict(turn.response.slots_used) == {**dict(AGREED_9AM), "amount": "19.50 USD"}


@pytest.mark.parametrize("said", ["20.00", "10.00"])
def test_a_number_written_as_money_is_the_amount_after_an_agreed_time(engine, said):
    """"make it 20.00" after 09:00 moved the payment to 8 PM and kept $45."""
    turn = _turn(engine, f"make it {said}", "schedule_payment", "goodbye", 0.3, "low_confidence", [("amount", said)],
                 AGREED_9AM, zone="America/New_York", at=FRIDAY_10AM)
    used = dict(turn.response.slots_used)
    assert used["amount"] == f"{said} USD" and used["date"] == "2026-12-11T09:00:00-05:00", used


@pytest.mark.parametrize("tags", [[("date", "2:30am")], []], ids=["tagged", "untagged"])
def test_a_time_the_clocks_skip_on_the_agreed_day_is_asked(engine, tags):
    """"make it 2:30am instead" for a payment agreed for 1:00 AM on the spring-forward night: with
    the model's span, the date was asked; read from the untagged words, the agreed 1:00 AM was kept
    and read back, the change unsaid."""
    night = [("amount", "45 USD"), ("merchant", "verizon"), ("date", "2027-03-14T01:00:00-05:00")]
    turn = _turn(engine, "make it 2:30am instead", "schedule_payment", "branch_hours", 0.23, "out_of_distribution",
                 tags, night, zone="America/New_York", at=FRIDAY_10AM)
    assert turn.response.slots_missing == ["date"], turn.response


def test_an_optional_slot_asked_and_answered_with_another_is_asked_no_more(engine):
    """"pay my verizon bill with my amex card" (no such card) asked "Which card should the payment
    go on?"; "from checking instead" filled the account and asked the card again, and so did every
    "yes" after it: no way on but a cancel. A turn that gives another slot instead is read back."""
    carried = [("merchant", "verizon")]
    turn = _turn(engine, "from checking instead", "pay_bill", "transfer_money", 0.5, "low_confidence",
                 [("account", "checking")], carried, missing=["card"])
    assert turn.follow_up.kind == "update" and turn.response.slots_missing == [], turn.response
    assert dict(turn.response.slots_used)["account"] == "checking"
    # another kind of value leaves the question standing: "make it 60" answering "When?" (the date,
    # said and not read, was dropped, and the day kept for it with it)
    changed = _turn(engine, "make it 60", "transfer_money", "transfer_money", 0.95, None, [("amount", "60")],
                    [*CARRIED_TRANSFER, ("date.day", "2030-12-03T00:00:00-05:00")], zone="America/New_York",
                    at=AT_TEN, missing=["date"])
    assert changed.response.slots_missing == ["date"] and dict(changed.response.slots_used)["amount"] == "60 USD"
    assert dict(changed.response.slots_used)["date.day"] == "2030-12-03T00:00:00-05:00"
    card = _turn(engine, "make it $60", "pay_bill", "pay_bill", 0.9, None, [("amount", "$60")], carried,
                 missing=["card"])
    assert card.response.slots_missing == ["card"], card.response


@pytest.mark.parametrize("text, tags", [("make it 9.30 instead", [("amount", "9.30")]),
                                        ("make it 9:30am instead", [("date", "9:30am")]), ("make it 9am", [("date", "9am")]),
                                        ("make it 9am", [])])
def test_a_time_already_past_on_the_agreed_day_is_asked(engine, text, tags):
    """At 10:00, "make it 9.30 instead" for a payment agreed for 11:00 today was read back as 9:30 AM
    today: a backend would pay at once. The date is asked; a later time that day is read."""
    today = [("amount", "45 USD"), ("merchant", "verizon"), ("date", "2026-12-04T11:00:00-05:00")]
    turn = _turn(engine, text, "schedule_payment", "goodbye", 0.3, "low_confidence", tags, today,
                 zone="America/New_York", at=FRIDAY_10AM)
    assert turn.response.slots_missing == ["date"], turn.response
    later = _turn(engine, "make it 4pm", "schedule_payment", "goodbye", 0.3, "low_confidence", [("date", "4pm")], today,
                  zone="America/New_York", at=FRIDAY_10AM)
    assert dict(later.response.slots_used)["date"] == "2026-12-04T16:00:00-05:00"


@pytest.mark.parametrize("text, tags, at", [
    ("make it nine thirty instead", [("date", "nine"), ("amount", "thirty")], "09:30"),
    ("nine thirty", [("date", "nine"), ("amount", "thirty")], "09:30"),
    ("make it ten oh five", [], "10:05"),
    ("make it eleven forty-five", [("amount", "forty-five")], "11:45"),
    ("make it nine thirty pm", [("date", "nine"), ("amount", "thirty")], "21:30"),
    ("can you do nine thirty", [("date", "nine"), ("amount", "thirty")], "09:30"),
])
def test_a_time_said_in_words_after_an_agreed_time_is_that_time_on_the_agreed_day(engine, text, tags, at):
    """"make it nine thirty instead" after a payment of $45 agreed for 09:00 was a payment of $30 on
    Wednesday the 9th: the model's "nine" a date, its "thirty" an amount. It is said as "9.30" is."""
    turn = _turn(engine, text, "schedule_payment", "deny", 0.45, "low_confidence", tags, AGREED_9AM,
                 zone="America/New_York", at=FRIDAY_10AM)
    used = dict(turn.response.slots_used)
    assert used["amount"] == "45 USD" and used["date"] == f"2026-12-11T{at}:00-05:00", used


def test_a_time_said_in_words_beside_other_words_is_no_time(engine):
    """Only a turn that says the time alone (and the words of a correction) is read so: "the card
    ending one twenty" names no time."""
    turn = _turn(engine, "no the card ending one twenty", "schedule_payment", "goodbye", 0.3, "low_confidence", [],
                 AGREED_9AM, zone="America/New_York", at=FRIDAY_10AM)
    assert turn is None or dict(turn.response.slots_used).get("date") in (None, "2026-12-11T09:00:00-05:00")


@pytest.mark.parametrize("text", ["make it nine thirty", "change the amount to nine thirty"])
def test_a_time_said_in_words_that_is_no_time_asks_the_amount(engine, text):
    """After a day agreed with no time of day (or in a turn that names the amount) "nine thirty" is
    no time: $9.30 or $930? The amount is asked, as for "two fifty"; the agreed day stays."""
    day = [("amount", "45 USD"), ("merchant", "verizon"), ("date", "2026-12-11T00:00:00-05:00")]
    turn = _turn(engine, text, "schedule_payment", "deny", 0.45, "low_confidence",
                 [("date", "nine"), ("amount", "thirty")], day if "amount" not in text else AGREED_9AM,
                 zone="America/New_York", at=FRIDAY_10AM)
    assert turn.response.slots_missing == ["amount"], turn.response
    assert dict(turn.response.slots_used)["date"].startswith("2026-12-11T")


def test_a_dotted_number_to_an_optional_date_keeps_the_agreed_date(engine):
    """A transfer's date is optional: refused, it was dropped, and a "yes" then moved the money
    now. The number is the amount, read back (a known gap: README)."""
    carried = [("amount", "60 USD"), ("account", "savings"), ("date", "2030-12-06T09:00:00-05:00")]
    turn = _turn(engine, "make it 9.30 instead", "transfer_money", "goodbye", 0.28, "low_confidence",
                 [("amount", "9.30")], carried, zone="America/New_York")
    assert dict(turn.response.slots_used)["date"] == "2030-12-06T09:00:00-05:00"


CARRIED_TRANSFER = [("account", "savings"), ("account.destination", "savings"), ("amount", "50 USD")]
AT_TEN = dt.datetime(2030, 12, 2, 15, tzinfo=dt.timezone.utc)  # 10:00 in New York, a Monday


@pytest.mark.parametrize("tags", [[("amount", "5")], []], ids=["tagged as an amount", "untagged"])
def test_a_bare_number_answering_an_optional_date_asked_is_no_amount(engine, tags):
    """"5" answering "When should the transfer happen?" (asked: "tomorrow at five" could not be
    read) became $5 where the next turn could not know the date was asked. With the last answer's
    `slots_missing` sent back, it is read as the date (the 5th, read back), never the amount."""
    turn = _turn(engine, "5", "transfer_money", "goodbye", 0.3, "low_confidence", tags, CARRIED_TRANSFER,
                 zone="America/New_York", at=AT_TEN, missing=["date"])
    used = dict(turn.response.slots_used)
    assert used["amount"] == "50 USD" and used["date"].startswith("2030-12-05T00:00"), used
    # without it (a backend that does not send slots_missing back) the number is the amount, read back
    old = _turn(engine, "5", "transfer_money", "goodbye", 0.3, "low_confidence", tags, CARRIED_TRANSFER,
                zone="America/New_York", at=AT_TEN)
    assert dict(old.response.slots_used)["amount"] == "5 USD"


@pytest.mark.parametrize("text, day", [("5", 5), ("the 15", 15), ("the 15th", 15), ("twenty one", 21), ("ok 5", 5)])
@pytest.mark.parametrize("missing", [[], ["date"]], ids=["inferred", "sent back"])
def test_a_bare_number_the_model_tags_as_an_amount_answering_when_is_the_day(engine, text, day, missing):
    """"the 15" answering "When should the payment go out?" (a required date) replaced the agreed $50
    with $15 when the model tagged the number as an amount; untagged, it was the 15th."""
    number = text.removeprefix("ok ").removeprefix("the ")
    turn = _turn(engine, text, "schedule_payment", "goodbye", 0.3, "low_confidence", [("amount", number)],
                 [("amount", "50 USD")], zone="America/New_York", at=AT_TEN, missing=missing)
    used = dict(turn.response.slots_used)
    assert used["amount"] == "50 USD" and used["date"].startswith(f"2030-12-{day:02d}T00:00"), used


@pytest.mark.parametrize("text, said", [("make it 5", "5"), ("$5", "$5"), ("5 dollars", "5 dollars")])
def test_an_amount_said_as_one_answering_when_is_the_amount(engine, text, said):
    """A correction or a number said as money stays the amount, read back with the date still asked."""
    turn = _turn(engine, text, "schedule_payment", "goodbye", 0.3, "low_confidence", [("amount", said)],
                 [("amount", "50 USD")], zone="America/New_York", at=AT_TEN, missing=["date"])
    assert dict(turn.response.slots_used)["amount"] == "5 USD" and turn.response.slots_missing == ["date"]


@pytest.mark.parametrize("text, intent, kind", [("yes", "affirm", "confirm"), ("hold on", "hold", "hold"),
                                                ("sorry what", "repeat", "repeat")])
def test_an_optional_date_asked_is_asked_until_said(engine, text, intent, kind):
    """A "yes" to "When should the transfer happen?" confirmed the transfer without its date, now.
    A yes, a pause or a repeat asks it again, with the agreed values kept."""
    turn = _turn(engine, text, "transfer_money", intent, 0.95, None, (), CARRIED_TRANSFER,
                 zone="America/New_York", at=AT_TEN, missing=["date"])
    assert turn.follow_up.kind == kind
    assert turn.response.slots_missing == ["date"], turn.response
    if kind != "hold":  # a pause says its own words; the question still stands in slots_missing
        assert turn.response.template_id == "transfer_money.prompt.date", turn.response
    assert dict(turn.response.slots_used)["amount"] == "50 USD"
    said = _turn(engine, "tomorrow at 5pm", "transfer_money", "transfer_money", 0.5, "low_confidence",
                 [("date", "tomorrow at 5pm")], CARRIED_TRANSFER, zone="America/New_York", at=AT_TEN, missing=["date"])
    assert said.response.slots_missing == [] and dict(said.response.slots_used)["date"].startswith("2030-12-03T17:00")
    no = _turn(engine, "no", "transfer_money", "deny", 0.95, None, (), CARRIED_TRANSFER, zone="America/New_York",
               at=AT_TEN, missing=["date"])
    assert no.follow_up.kind == "cancel" and no.response.slots_missing == []


def test_a_dotted_number_answering_how_much_is_the_amount(engine):
    carried = [("date", "2030-12-06T09:00:00-05:00")]  # the amount asked for
    turn = _turn(engine, "9.30", "schedule_payment", "goodbye", 0.28, "low_confidence", [("amount", "9.30")], carried,
                 zone="America/New_York")
    assert dict(turn.response.slots_used)["amount"] == "9.30 USD"


def test_a_time_alone_on_a_day_the_clocks_change_keeps_the_zones_offset(engine):
    """The agreed day's offset is midnight's: 3pm on 2030-03-10 in New York is -04:00 (it was
    written -05:00, an hour off)."""
    carried = [("amount", "60 USD"), ("date", "2030-03-10T00:00:00-05:00")]
    turn = _turn(engine, "make it 3pm", "schedule_payment", "goodbye", 0.28, "low_confidence", [("date", "3pm")],
                 carried, zone="America/New_York")
    assert dict(turn.response.slots_used)["date"] == "2030-03-10T15:00:00-04:00"


def test_a_time_alone_after_the_agreed_day_has_passed_is_no_time_on_that_day(engine):
    """A payment agreed for a day now past: "make it 3pm" scheduled it for 3pm on that past day."""
    at = dt.datetime(2030, 12, 9, 10, tzinfo=ZoneInfo("America/New_York"))  # the Monday after
    carried = [("amount", "60 USD"), ("date", "2030-12-06T00:00:00-05:00")]
    turn = _turn(engine, "make it 3pm", "schedule_payment", "goodbye", 0.28, "low_confidence", [("date", "3pm")],
                 carried, zone="America/New_York", at=at)
    assert dict(turn.response.slots_used)["date"] == "2030-12-09T15:00:00-05:00"  # today's 3pm, as said alone


@pytest.mark.parametrize("accounts, text, replacement, expected", [
    # "not checking, savings" after a transfer from checking set the accounts to checking and savings
    ("checking", "not checking, savings", "savings", "savings"),
    # after a transfer from checking to savings, "not checking, my joint account" dropped savings
    # too (the transfer became "joint account" alone): the replacement takes checking's place
    ("checking,savings", "not checking, my joint account", "joint account", "joint,savings"),
])
def test_a_negated_value_is_taken_away_and_replaced_in_its_place(engine, accounts, text, replacement, expected):
    carried = [("amount", "100 USD"), ("account", accounts)]
    turn = _turn(engine, text, "transfer_money", "deny", 0.93, None,
                 [("account", "checking"), ("account", replacement)], carried)
    assert turn.follow_up.kind == "update"
    assert dict(turn.response.slots_used) == {"amount": "100 USD", "account": expected}
    turn = _turn(engine, "not checking", "transfer_money", "deny", 0.99, None, [("account", "checking")], carried)
    assert turn.response.template_id == "transfer_money.prompt.account"  # no replacement: which one, then?
    assert dict(turn.response.slots_used) == {"amount": "100 USD"}


def test_a_replacement_takes_the_role_of_the_value_it_replaces(engine):
    """Carried roles follow the replacement: after "from checking to savings", "not checking, my
    joint account" is a transfer from joint to savings, read back so (a role key left naming
    checking gave joint none, and the read-back fell back to "(Joint account and Savings account)")."""
    carried = [("account", "checking,savings"), ("account.destination", "savings"), ("account.source", "checking"),
               ("amount", "100 USD")]
    turn = _turn(engine, "not checking, my joint account", "transfer_money", "deny", 0.93, None,
                 [("account", "checking"), ("account", "joint account")], carried)
    assert dict(turn.response.slots_used) == {"amount": "100 USD", "account": "joint,savings",
                                              "account.source": "joint", "account.destination": "savings"}
    assert turn.response.template_id == "transfer_money.response.1"
    assert "from your Joint account to your Savings account" in turn.response.text
    # "not savings" alone asks which account: its roles go with it
    turn = _turn(engine, "not savings", "transfer_money", "deny", 0.99, None, [("account", "savings")], carried)
    assert dict(turn.response.slots_used) == {"amount": "100 USD"}


TRANSFER = [("account", "checking,savings"), ("account.destination", "savings"), ("account.source", "checking"),
            ("amount", "100 USD")]


@pytest.mark.parametrize("text, own, spans, expected", [
    # a value taken back by "rather than" / "instead of" and its replacement answer the transfer,
    # as "not checking, my joint account" does (read as close_account, they went to a person)
    ("my joint account rather than checking", "close_account", [("account", "joint account"), ("account", "checking")],
     {"account": "joint,savings", "account.source": "joint", "account.destination": "savings"}),
    ("my joint account instead of checking", "close_account", [("account", "joint account"), ("account", "checking")],
     {"account": "joint,savings", "account.source": "joint", "account.destination": "savings"}),
    # the words that say which way a value goes are no request of their own ("to" was filler, "from" not)
    # ... and one said with a role replaces only the carried value of that role (the whole slot
    # went: "no, to my joint account" lost the source, checking)
    ("from my joint account", "check_balance", [("account", "joint account")],
     {"account": "savings,joint", "account.source": "joint", "account.destination": "savings"}),
    ("no, to my joint account", "deny", [("account", "joint account")],
     {"account": "checking,joint", "account.source": "checking", "account.destination": "joint"}),
    ("no, from savings to checking", "check_balance", [("account", "savings"), ("account", "checking")],
     {"account": "savings,checking", "account.source": "savings", "account.destination": "checking"}),
])
def test_a_correction_of_a_transfer_by_its_accounts_answers_it(engine, text, own, spans, expected):
    turn = _turn(engine, text, "transfer_money", own, 0.82, None, spans, TRANSFER)
    assert (turn.follow_up.kind, turn.follow_up.intent) == ("update", "transfer_money")
    assert dict(turn.response.slots_used) == {"amount": "100 USD", **expected}
    assert turn.response.template_id == "transfer_money.response.1"  # read back from one to the other
    assert not turn.escalation.escalate


@pytest.mark.parametrize("text", ["no, from joint", "actually from joint", "no, out of joint"])
def test_a_bare_value_after_a_role_word_is_read(engine, text):
    """"joint" alone, untagged, is read as the account the turn names; with "from" before it the
    turn read as nothing and "no" cancelled the transfer the caller was correcting."""
    turn = _turn(engine, text, "transfer_money", "deny", 0.9, None, (), TRANSFER)
    assert (turn.follow_up.kind, turn.follow_up.intent) == ("update", "transfer_money")
    assert dict(turn.response.slots_used) == {"amount": "100 USD", "account": "savings,joint",
                                              "account.source": "joint", "account.destination": "savings"}


def test_a_role_said_keeps_a_carried_value_without_one(engine):
    """"checking" answering "Which account?", then "to savings": checking stays (it was lost)."""
    carried = [("account", "checking"), ("amount", "50 USD")]
    turn = _turn(engine, "to savings", "transfer_money", "transfer_money", 0.9, None, [("account", "savings")], carried)
    assert dict(turn.response.slots_used) == {"amount": "50 USD", "account": "checking,savings",
                                              "account.destination": "savings"}


def test_a_value_said_again_without_a_role_loses_its_carried_one(engine):
    """"no, savings to checking" after a transfer from checking to savings: savings came back as a
    second destination beside checking (its carried role), so a backend read two destinations;
    then with no role at all (only "to" was read): it is the source."""
    turn = _turn(engine, "no, savings to checking", "transfer_money", "transfer_money", 0.9, None,
                 [("account", "savings"), ("account", "checking")], TRANSFER)
    assert dict(turn.response.slots_used) == {"amount": "100 USD", "account": "savings,checking",
                                              "account.source": "savings", "account.destination": "checking"}


def test_a_taken_back_value_with_its_replacement_is_no_request_of_its_own(engine):
    """"not savings, my credit card account" read as close_account went to a person, promising to
    close the savings and credit card accounts: it corrects the transfer."""
    carried = [("amount", "50 USD"), ("account", "checking,savings")]
    turn = _turn(engine, "not savings, my credit card account", "transfer_money", "close_account", 0.55, None,
                 [("account", "savings"), ("account", "credit card account")], carried)
    assert (turn.follow_up.kind, turn.follow_up.intent) == ("update", "transfer_money")
    assert dict(turn.response.slots_used) == {"amount": "50 USD", "account": "checking,credit_card_account"}
    assert not turn.escalation.escalate


@pytest.mark.parametrize("text", ["not now", "not today", "no, not now"])
def test_not_now_declines_and_is_no_date(engine, text):
    """Reading "not" as filler made "now" a date the turn took back: "not now" after a transfer
    answered with the prepared transfer instead of declining it."""
    carried = [("amount", "50 USD"), ("account", "checking,savings")]
    turn = _turn(engine, text, "transfer_money", "deny", 0.99, None, [], carried)
    assert turn.follow_up.kind == "cancel"


def test_a_new_request_does_not_take_the_previous_intents_slots(engine):
    """"I want to close my account" after a checking-to-savings transfer said it would close both
    accounts, asking nothing: what was collected for the transfer is not the new request's."""
    from intentd.server.analysis import Escalation
    from intentd.server.decode import Prediction

    options = RequestOptions(previous_intent="transfer_money",
                             filled_slots=(("account", "checking,savings"), ("amount", "200 USD")))
    prediction = Prediction([("close_account", 0.95), ("greeting", 0.01)], [], 0.0)
    answer = engine.conclude("I want to close my account", prediction, [], options)
    assert answer.follow_up is None and answer.response.template_id == "close_account.prompt.account"
    assert answer.response.slots_used == {}
    # the same intent asked again keeps what was collected for it
    prediction = Prediction([("transfer_money", 0.95), ("greeting", 0.01)], [], 0.0)
    again = engine.conclude("I want to send some money", prediction, [], options)
    assert again.response.slots_used == {"account": "checking,savings", "amount": "200 USD"}
    assert isinstance(again.escalation, Escalation)


@pytest.mark.parametrize("text", ["make it 50 more", "add another 50", "make it 10 less"])
def test_a_relative_correction_asks_for_the_amount(engine, text):
    """"make it 50 more" once set a $200 transfer to $50: neither 50 nor the old 200 is the amount."""
    carried = [("amount", "200 USD"), ("account", "checking")]
    number = text.split()[-2] if text.endswith(("more", "less")) else text.split()[-1]
    turn = _turn(engine, text, "transfer_money", "greeting", 0.3, "low_confidence", [("amount", number)], carried)
    assert turn.follow_up.kind == "update" and turn.response.template_id == "transfer_money.prompt.amount"
    assert "amount" not in turn.response.slots_used and turn.response.slots_used["account"] == "checking"


@pytest.mark.parametrize("text, said", [("make it last friday", "last friday"), ("make it yesterday", "yesterday"),
                                        ("make it today at 9am", "today at 9am")])
def test_a_past_date_for_a_payment_ahead_is_asked_for_whatever_the_models_intent(engine, text, said):
    """Read as travel_notice, whose dates also lie ahead, "make it last friday" (or "today at 9am"
    said at noon) after a scheduled payment was never counted as a refused date: no follow-up, and
    the answer asked where the customer was travelling to."""
    carried = [("amount", "40 USD"), ("date", "2026-12-04T00:00:00-05:00")]
    noon = dt.datetime(2026, 11, 29, 17, tzinfo=dt.timezone.utc)  # Sunday noon in New York
    for own in ("travel_notice", "schedule_payment"):
        turn = _turn(engine, text, "schedule_payment", own, 0.45, None, [("date", said)], carried,
                     zone="America/New_York", at=noon)
        assert (turn.follow_up.kind, turn.follow_up.intent) == ("update", "schedule_payment"), own
        assert turn.response.template_id == "schedule_payment.prompt.date"
        assert dict(turn.response.slots_used) == {"amount": "40 USD"}  # neither the past date nor the old one
    # a date ahead is the new date; words that are no date at all change nothing
    turn = _turn(engine, "make it tomorrow", "schedule_payment", "travel_notice", 0.45, None, [("date", "tomorrow")],
                 carried, zone="America/New_York", at=noon)
    assert dict(turn.response.slots_used)["date"] == "2026-11-30T00:00:00-05:00"
    assert _turn(engine, "make it blue", "schedule_payment", "travel_notice", 0.45, None, [("date", "blue")],
                 carried, zone="America/New_York", at=noon) is None


@pytest.mark.parametrize("text, own, confidence", [("no, yesterday", "deny", 0.97), ("make it yesterday", "greeting", 0.56),
                                                   ("make it this morning", "greeting", 0.76)])
def test_an_untagged_past_date_for_a_payment_ahead_is_asked_for(engine, text, own, confidence):
    """With no date tagged, the words were read as a date ahead and gave none: "no, yesterday"
    after a scheduled payment cancelled it, and "make it yesterday" (or "this morning" said at
    noon) was no follow-up at all."""
    noon = dt.datetime(2026, 11, 29, 17, tzinfo=dt.timezone.utc)  # Sunday noon in New York
    for carried in ([("amount", "40 USD")], [("amount", "40 USD"), ("date", "2026-12-04T00:00:00-05:00")]):
        turn = _turn(engine, text, "schedule_payment", own, confidence, None, [], carried, zone="America/New_York",
                     at=noon)
        assert (turn.follow_up.kind, turn.follow_up.intent) == ("update", "schedule_payment"), carried
        assert turn.response.template_id == "schedule_payment.prompt.date"
        assert dict(turn.response.slots_used) == {"amount": "40 USD"}  # neither the past date nor the old one
    # a date ahead is the new date; "no" with no value still cancels
    turn = _turn(engine, "no, tomorrow", "schedule_payment", "deny", 0.97, None, [], carried, zone="America/New_York",
                 at=noon)
    assert dict(turn.response.slots_used)["date"] == "2026-11-30T00:00:00-05:00"
    for text in ("no", "no thanks", "not now"):
        turn = _turn(engine, text, "schedule_payment", "deny", 0.97, None, [], carried, zone="America/New_York", at=noon)
        assert turn.follow_up.kind == "cancel", text


@pytest.mark.parametrize("text, day", [("friday", "2026-11-27"), ("on the 20th", "2026-11-20"),
                                       ("no, yesterday", "2026-11-28")])
def test_an_untagged_date_is_read_in_the_direction_of_the_intent_it_continues(engine, text, day):
    """Untagged, "friday" after a lost card was read forward: a card lost next Friday (and
    "yesterday" was no date at all)."""
    noon = dt.datetime(2026, 11, 29, 17, tzinfo=dt.timezone.utc)  # Sunday noon in New York
    turn = _turn(engine, text, "report_lost_card", "greeting", 0.3, "low_confidence", [], [("card", "debit_card")],
                 zone="America/New_York", at=noon)
    assert (turn.follow_up.kind, turn.follow_up.intent) == ("update", "report_lost_card")
    assert dict(turn.response.slots_used) == {"card": "debit_card", "date": f"{day}T00:00:00-05:00"}


@pytest.mark.parametrize("text, role", [("and to savings", "destination"), ("from savings", "source"),
                                        ("savings", None), ("and to savngs", "destination")])  # read as a bare value
def test_a_bare_account_in_a_follow_up_says_which_way_it_goes(engine, text, role):
    """"and to savings" untagged after "move $200 from checking": the account read from the turn's
    words (by the catalog's verbatim matcher, or, misspelt, as the turn's bare value) carries its
    role; the carried checking is no entity of this turn."""
    turn = _turn(engine, text, "transfer_money", "greeting", 0.4, "low_confidence",
                 slots=[("amount", "200 USD"), ("account", "checking")])
    assert turn is not None and turn.follow_up.kind == "update"
    assert [(e.resolution["id"], e.role) for e in turn.entities if e.type == "account"] == [("savings", role)]


@pytest.mark.parametrize("text", ["one moment", "one sec", "two seconds", "give me 5 minutes", "one thing", "a",
                                  "hold on a second", "one um moment", "One. Moment.", "two, uh, seconds"])
def test_a_pause_is_no_value_of_the_slots(engine, text):
    """"one moment" after a $500 transfer made it $1, "two seconds" $2, "a" dated it January: a
    number followed by a word that is no currency is no amount, and a date must be one."""
    carried = [("account", "checking,savings"), ("amount", "500 USD")]
    for unsure in ("out_of_distribution", "low_confidence"):
        turn = _turn(engine, text, "transfer_money", "goodbye", 0.39, unsure, slots=carried)
        assert turn is None or dict(turn.response.slots_used) == dict(carried), (text, turn)
    assert _turn(engine, "date", "schedule_payment", "greeting", 0.3, "low_confidence", slots=carried) is None


@pytest.mark.parametrize("text, amount", [("fifty bucks", "50 USD"), ("a hundred", "100 USD"), ("75", "75 USD"),
                                          ("two hundred and fifty", "250 USD"), ("make it 1.5k", "1500 USD"),
                                          ("$20 and 50 cents", "20.50 USD"), ("hmm make it 50", "50 USD"),
                                          ("fifty please", "50 USD"), ("fifty only", "50 USD"),
                                          ("50 each", "50 USD"), ("umm 50", "50 USD"), ("10 grand", "10000 USD"),
                                          ("two point five", "2.5 USD"), ("50 cents", "0.50 USD"),
                                          ("20 euros", "20 EUR"), ("500 HUF", "500 HUF")])
def test_an_amount_alone_still_updates(engine, text, amount):
    """The check for a pause refused every word after the number but a currency: "no, fifty only"
    cancelled the transfer and "yes 50 right" confirmed the old $500."""
    turn = _turn(engine, text, "transfer_money", "goodbye", 0.39, "low_confidence",
                 slots=[("account", "checking,savings"), ("amount", "500 USD")])
    assert turn.follow_up.kind == "update" and dict(turn.response.slots_used)["amount"] == amount


def test_a_pause_keeps_the_question_asked(engine):
    carried = [("account", "savings")]
    turn = _turn(engine, "hold on", "transfer_money", "hold", 0.95, None, slots=carried)
    assert (turn.follow_up.kind, turn.follow_up.intent) == ("hold", "transfer_money")
    assert turn.response.template_id == "hold.response" and turn.response.text == "Sure, take your time."
    assert dict(turn.response.slots_used) == {"account": "savings"} and turn.response.slots_missing == ["amount"]
    correction = _turn(engine, "hold on, make it 50", "transfer_money", "hold", 0.95, None, slots=carried)
    assert correction.follow_up.kind == "update" and dict(correction.response.slots_used)["amount"] == "50 USD"
    assert _turn(engine, "hmm", "transfer_money", "hold", 0.4, "low_confidence", slots=carried) is None
    assert _turn(engine, "hold on", "hold", "hold", 0.95, None, slots=carried) is None  # no pause of a pause


def test_a_request_to_repeat_gives_the_previous_answer_again(engine):
    carried = [("account", "savings"), ("amount", "50 USD")]
    turn = _turn(engine, "say that again", "transfer_money", "repeat", 0.97, None, slots=carried)
    assert (turn.follow_up.kind, turn.follow_up.intent) == ("repeat", "transfer_money")
    update = _turn(engine, "savings", "transfer_money", "transfer_money", 0.9, None, [("account", "savings")],
                   slots=[("amount", "50 USD")])
    assert turn.response == update.response  # what the previous turn said
    assert _turn(engine, "huh", "transfer_money", "repeat", 0.4, "low_confidence", slots=carried) is None


@pytest.mark.parametrize("previous, text", [
    *(("transfer_money", text) for text in ("for two weeks", "the account ending 4321", "three days",
                                            "make it three days", "number 2", "option 2", "account 2", "2 times",
                                            "3 payments")),
    ("schedule_payment", "for 3 months"), ("increase_credit_limit", "two years")])
def test_a_number_that_counts_or_names_a_thing_is_no_amount(engine, previous, text):
    """"for two weeks" made a $50 transfer $2, "the account ending 4321" $4,321, "for 3 months" scheduled
    a $3 payment: the turn's words were read as money whatever word stood beside the number."""
    carried = [("amount", "50 USD")] + ([("account", "checking")] if previous == "transfer_money" else [])
    unsure = _turn(engine, text, previous, "greeting", 0.3, "low_confidence", slots=carried)
    assert unsure is None or dict(unsure.response.slots_used).get("amount") == "50 USD"
    yes = _turn(engine, text, previous, "affirm", 0.9, None, slots=carried)  # read as a yes: the amount agreed
    assert yes.follow_up.kind == "confirm" and dict(yes.response.slots_used)["amount"] == "50 USD"


@pytest.mark.parametrize("text, own, kind", [("yes 50 right", "affirm", "update"), ("no, fifty only", "deny", "update")])
def test_a_yes_or_no_with_a_new_amount_takes_it(engine, text, own, kind):
    """A yes with a new amount takes it and reads it back (an UPDATE): it was a CONFIRM of an
    amount nobody had read back."""
    carried = [("account", "checking,savings"), ("amount", "500 USD")]
    turn = _turn(engine, text, "transfer_money", own, 0.95, None, slots=carried)
    assert turn.follow_up.kind == kind and dict(turn.response.slots_used)["amount"] == "50 USD"


def test_a_pause_is_no_number_either(banking_artifact, tmp_path):
    """The check once covered money only: "one moment" set a number slot to 1 ("2 times" to 2)."""
    art = copy_artifact(banking_artifact, tmp_path / "art")
    domain = yaml.safe_load((art / "domain.yaml").read_text(encoding="utf-8"))
    domain["entities"]["count"] = {"kind": "builtin", "builtin": "number"}
    domain["intents"]["replace_card"]["slots"].insert(1, "count")  # before date: "two" is no 2nd of the month here
    (art / "domain.yaml").write_text(yaml.safe_dump(domain, sort_keys=False), encoding="utf-8")
    write_manifest(art, json.loads((art / "manifest.json").read_text()))
    engine = Engine.load(art)
    for text, expected in (("one moment", None), ("two um seconds", None), ("2 times", None), ("two", "2")):
        turn = _turn(engine, text, "replace_card", "greeting", 0.3, "low_confidence", slots=[("card", "debit_card")])
        got = [e.resolution["value"] for e in (turn.entities if turn else []) if e.type == "count" and e.resolved]
        assert got == ([expected] if expected else []), text


def test_a_pause_with_a_value_takes_the_value_and_a_long_pause_keeps_the_context(engine):
    """"one moment, make it 50" was a HOLD (the next "yes" confirmed $500); "hold on, 50 bucks",
    read as hold, and a pause over six words were no follow-ups at all (the context was lost)."""
    carried = [("account", "checking,savings"), ("amount", "500 USD")]
    turn = _turn(engine, "one moment, make it 50", "transfer_money", "hold", 0.99, None, slots=carried)
    assert turn.follow_up.kind == "update" and dict(turn.response.slots_used)["amount"] == "50 USD"
    turn = _turn(engine, "hold on, 50 bucks", "transfer_money", "hold", 0.7, None, [("amount", "50 bucks")], carried)
    assert turn.follow_up.kind == "update" and dict(turn.response.slots_used)["amount"] == "50 USD"
    for text in ("hold on, 50", "hang on, 50"):  # untagged: a hold before the amount is no noun it counts
        turn = _turn(engine, text, "transfer_money", "hold", 0.7, None, slots=carried)
        assert turn.follow_up.kind == "update" and dict(turn.response.slots_used)["amount"] == "50 USD", text
    for text, own in (("hold on a second let me grab my card", "hold"),
                      ("sorry I didn't catch that, could you repeat", "repeat"), ("one more thing", "repeat")):
        turn = _turn(engine, text, "transfer_money", own, 0.95, None, slots=carried)
        assert (turn.follow_up.kind, dict(turn.response.slots_used)) == (own, dict(carried)), text
    turn = _turn(engine, "in 5 minutes", "schedule_payment", "goodbye", 0.3, "low_confidence",
                 slots=[("amount", "60 USD")], at=dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.timezone.utc))
    assert dict(turn.response.slots_used)["date"] == "2026-11-29T07:05:00-05:00"  # a time, no pause (New York)


def test_a_long_yes_or_no_that_names_nothing_confirms_or_cancels(engine):
    """"yes that's correct thank you so much" (seven words) was answered alone: no CONFIRM, and a
    backend that carries only a follow-up's slots dropped the pending transfer. A confident yes or
    no over six words that names nothing decides, as a short one does; one that names something,
    or that the model reads as another request, is still answered alone."""
    carried = [("account", "checking,savings"), ("amount", "200 USD")]
    for text, own, kind in (("yes that's correct thank you so much", "affirm", "confirm"),
                            ("no thank you I changed my mind about it", "deny", "cancel")):
        turn = _turn(engine, text, "transfer_money", own, 0.95, None, slots=carried)
        assert (turn.follow_up.kind, turn.follow_up.intent) == (kind, "transfer_money"), text
        assert dict(turn.response.slots_used) == ({} if kind == "cancel" else dict(carried)), text
    # unsure of its own reading: a guess confirms nothing
    assert _turn(engine, "yes that's correct thank you so much", "transfer_money", "affirm", 0.4,
                 "low_confidence", slots=carried) is None
    # a long yes that qualifies or corrects what it agrees to, or that says no as well, confirms
    # nothing: "yes that's right but it's sixty not fifty" confirmed $200. A yes naming nothing the
    # model tagged says the request again (answered alone, the affirm intent's template thanked the
    # caller for confirming); a no is answered alone (the backend asks again)
    for text in ("yes that's right but it's sixty not fifty", "yes that's right but send it to my mom instead",
                 "yes please go ahead and cancel the transfer"):
        turn = _turn(engine, text, "transfer_money", "affirm", 0.95, None, slots=carried)
        assert (turn.follow_up.kind, turn.follow_up.intent) == ("repeat", "transfer_money"), text
        assert dict(turn.response.slots_used) == dict(carried), text
        assert turn.response.template_id.startswith("transfer_money.response"), text
    # ... and one that says when in words no rule reads asks the date
    turn = _turn(engine, "yes sounds good but hold off until I get paid", "transfer_money", "affirm", 0.95, None,
                 slots=carried)
    assert turn.follow_up.kind == "update" and turn.response.slots_missing == ["date"]
    assert dict(turn.response.slots_used) == dict(carried)
    for text in ("no sorry I meant yes that's right go ahead", "no just freeze it for now I might find it later"):
        assert _turn(engine, text, "transfer_money", "deny", 0.95, None, slots=carried) is None, text
    # a long yes naming what is not the transfer's ("my verizon bill") is a request of its own
    assert _turn(engine, "yes please and also pay my verizon bill", "transfer_money", "affirm", 0.9, None,
                 [("merchant", "verizon")], carried) is None
    assert _turn(engine, "yes please and also pay my verizon bill", "transfer_money", "pay_bill", 0.9, None,
                 [("merchant", "verizon")], carried) is None


def test_an_amount_in_words_before_a_new_day_changes_both(engine):
    """"a hundred and twenty five tomorrow" after a transfer on Friday, with only "five tomorrow"
    tagged (a date, unread): the amount was read and the transfer kept Friday. The date starts
    after the number words, and an amount said in five words is one value, not a sentence."""
    carried = [("account", "checking,savings"), ("amount", "200 USD"), ("date", "2026-11-13T00:00:00-05:00")]
    at = dt.datetime(2026, 11, 10, 12, 0, tzinfo=dt.timezone.utc)
    turn = _turn(engine, "a hundred and twenty five tomorrow", "transfer_money", "schedule_payment", 0.48, None,
                 [("date", "five tomorrow")], carried, zone="America/New_York", at=at)
    slots = dict(turn.response.slots_used)
    assert (turn.follow_up.kind, slots["amount"], slots["date"]) == ("update", "125 USD", "2026-11-11T00:00:00-05:00")


@pytest.mark.parametrize("previous, carried, text, expected", [
    ("dispute_transaction", "2026-10-05T00:00:00-04:00", "no, the 8th", "2026-10-08T00:00:00-04:00"),
    ("dispute_transaction", "2026-10-05T00:00:00-04:00", "no, the thirty first", "2026-10-31T00:00:00-04:00"),
    ("travel_notice", "2026-12-03T00:00:00-05:00", "the 13th", "2026-12-13T00:00:00-05:00"),
    ("schedule_payment", "2026-12-03T15:00:00-05:00", "make it the 8th", "2026-12-08T15:00:00-05:00"),
    # that month's day has passed for a payment ahead, or the month has none: the day's own reading
    ("schedule_payment", "2026-11-20T00:00:00-05:00", "make it the 5th", "2026-12-05T00:00:00-05:00"),
    ("travel_notice", "2026-11-20T00:00:00-05:00", "the 31st", "2026-12-31T00:00:00-05:00"),
])
def test_a_day_of_the_month_alone_keeps_the_agreed_month(engine, previous, carried, text, expected):
    """"no, the 8th" for a charge disputed on October 5th made it November 8th (a dispute whose
    read-back never says the date), and "the 13th" for a trip on December 3rd November 13th."""
    at = dt.datetime(2026, 11, 10, 17, 0, tzinfo=dt.timezone.utc)
    turn = _turn(engine, text, previous, "deny", 0.9, None, [("date", text.split(", ")[-1].removeprefix("make it "))],
                 [("date", carried)], zone="America/New_York", at=at)
    assert turn.follow_up.kind == "update" and dict(turn.response.slots_used)["date"] == expected
    # a month named beside the day is that month's (the model tags "the 8th" alone): never the agreed one
    for said in ("the 8th this month", "this month on the 8th", "the 8th of november"):
        turn = _turn(engine, f"no, {said}", "dispute_transaction", "deny", 0.9, None, [("date", "the 8th")],
                     [("date", "2026-10-05T00:00:00-04:00")], zone="America/New_York", at=at)
        assert dict(turn.response.slots_used)["date"] == "2026-11-08T00:00:00-05:00", said


@pytest.mark.parametrize("text", ["one second, 50 dollars", "one uh second, 50 dollars", "one. More. Second, 50 dollars"])
def test_an_amount_the_model_reads_into_a_pause_is_none(engine, text):
    """"one second, 50 dollars": the model tagged "one" as an amount too, and two amounts asked again.
    The resolver reads a pause as the follow-up's bare value does, past fillers and marks."""
    turn = _turn(engine, text, "transfer_money", "hold", 0.73, "out_of_distribution",
                 [("amount", "one"), ("amount", "50 dollars")], [("account", "checking,savings"), ("amount", "500 USD")])
    assert turn.follow_up.kind == "update" and dict(turn.response.slots_used)["amount"] == "50 USD"
    (one,) = [e for e in turn.entities if e.text == "one"]
    assert not one.resolved


@pytest.mark.parametrize("text, amount", [("make it two fifty", None), ("make it 2 fifty", None),
                                          ("make it twelve fifty", None), ("make it a buck fifty", "1.50 USD")])
def test_the_number_before_the_models_amount_is_part_of_it(engine, text, amount):
    """"make it two fifty", the model's span "fifty", made a $500 transfer $50.00: "two fifty" (2.50
    or 250?) is no value, as when the span holds it, and the amount is asked again (the turn was
    then answered alone, as out of scope, and handed to a person); "a buck | fifty" is $1.50."""
    carried = [("account", "savings"), ("amount", "500 USD")]
    for own, unsure in (("transfer_money", None), ("greeting", "out_of_distribution")):
        turn = _turn(engine, text, "transfer_money", own, 0.9 if unsure is None else 0.3, unsure,
                     [("amount", "fifty")], carried)
        assert turn.follow_up.kind == "update" and dict(turn.response.slots_used).get("amount") == amount
        assert turn.response.slots_missing == ([] if amount else ["amount"]) and not turn.escalation.escalate


def test_a_time_the_clocks_skip_on_the_agreed_day_is_asked_again(engine):
    """"make it 2:30am" for a payment agreed for New York's spring-forward day was confirmed for
    3:30 AM, a time nobody said."""
    carried = [("amount", "60 USD"), ("date", "2026-03-08T09:00:00-04:00")]
    at = dt.datetime(2026, 3, 5, 12, 0, tzinfo=dt.timezone.utc)
    turn = _turn(engine, "make it 2:30am", "schedule_payment", "schedule_payment", 0.9, None,
                 [("date", "2:30am")], carried, zone="America/New_York", at=at)
    assert turn.follow_up.kind == "update" and "date" not in dict(turn.response.slots_used)
    assert turn.response.slots_missing == ["date"]
    later = _turn(engine, "make it 3:30am", "schedule_payment", "schedule_payment", 0.9, None,
                  [("date", "3:30am")], carried, zone="America/New_York", at=at)
    assert dict(later.response.slots_used)["date"] == "2026-03-08T03:30:00-04:00"


@pytest.mark.parametrize("text", ["actually, one second", "actually hold on one sec", "wait, one moment, actually"])
def test_a_pause_the_model_tags_as_an_amount_is_still_a_hold(engine, text):
    """An amount the model tags and nothing reads is asked again, but a pause's "one" is none: these
    holds became updates that dropped the $500 and asked "How much would you like to transfer?"."""
    carried = [("account", "savings"), ("amount", "500 USD")]
    turn = _turn(engine, text, "transfer_money", "hold", 0.95, None, [("amount", "one")], carried)
    assert turn.follow_up.kind == "hold" and dict(turn.response.slots_used) == dict(carried)


@pytest.mark.parametrize("text", ["make it 5m", "make it 1h30m"])
def test_a_length_written_short_is_no_new_date(engine, text):
    """"make it 5m" is no amount (30m: millions or minutes?), and it moved the date instead: to five
    minutes from now. The amount and the date stay as they were."""
    carried = [("account", "savings"), ("amount", "500 USD"), ("date", "2026-12-04T00:00:00+00:00")]
    turn = _turn(engine, text, "schedule_payment", "schedule_payment", 0.9, None, slots=carried,
                 at=dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.timezone.utc))
    assert turn is None or dict(turn.response.slots_used).get("date") in (None, "2026-12-04T00:00:00+00:00")


def test_a_value_taken_back_untagged_is_found_without_the_model(engine):
    """"not checking, savings" with nothing tagged: the catalog matcher found "checking" only after
    my/the/a preposition, so the turn took nothing back and read as a no (CANCEL of the transfer).
    Untagged "savings" after a comma is left to the model: the account is asked again."""
    turn = _turn(engine, "not checking, savings", "transfer_money", "deny", 0.9, None,
                 slots=[("amount", "50 USD"), ("account", "checking")])
    assert turn.follow_up.kind == "update" and dict(turn.response.slots_used).get("account") in (None, "savings")


@pytest.mark.parametrize("text, amount", [("send 75", "75 USD"), ("transfer 75", "75 USD"), ("i said 50", "50 USD"),
                                          ("make it 50 thanks", "50 USD"), ("50 is fine", "50 USD"),
                                          ("75 would be great", "75 USD"), ("it's 50", "50 USD"), ("75 pls", "75 USD"),
                                          ("fifty for rent", "50 USD")])
def test_an_amount_beside_ordinary_words_is_still_the_amount(engine, text, amount):
    """Only a noun the number counts or names makes it no amount: a rule that took any word but a
    currency or a number for one answered "send 75" and "make it 50 thanks" with the old $500."""
    carried = [("account", "savings"), ("amount", "500 USD")]
    turn = _turn(engine, text, "transfer_money", "greeting", 0.39, "low_confidence", slots=carried)
    assert turn.follow_up.kind == "update" and dict(turn.response.slots_used)["amount"] == amount


def test_a_date_form_answering_when_is_no_amount(engine):
    """"12.25" answering "When should the payment go out?" (en-US leaves a dotted date unresolved)
    replaced the carried $50 with $12.25: an answer to the date question is a date or nothing."""
    carried = [("amount", "50 USD"), ("merchant", "comcast")]
    turn = _turn(engine, "12.25", "schedule_payment", "greeting", 0.3, "low_confidence", slots=carried)
    assert turn is None or dict(turn.response.slots_used).get("amount") == "50 USD"


@pytest.mark.parametrize("text, amount", [("hold on a sec, 50", "50 USD"), ("wait a second, 75", "75 USD")])
def test_a_pause_before_the_amount_counts_nothing(engine, text, amount):
    """The counted noun must follow the number: "a sec" before "50" made it no amount."""
    turn = _turn(engine, text, "transfer_money", "hold", 0.7, None, slots=[("account", "savings"), ("amount", "500 USD")])
    assert turn.follow_up.kind == "update" and dict(turn.response.slots_used)["amount"] == amount


@pytest.mark.parametrize("text", ["to Ira", "for Ira"])
def test_a_persons_name_answers_no_account_question(engine, text):
    """"to Ira" answering "Which account?" became a transfer to the retirement account (IRA)."""
    turn = _turn(engine, text, "transfer_money", "greeting", 0.3, "low_confidence", slots=[("amount", "50 USD")])
    assert turn is None or "account" not in dict(turn.response.slots_used)


@pytest.mark.parametrize("text", ["no, 75 dollars", "no, 75"])
def test_a_no_with_an_amount_answering_when_is_no_cancel(engine, text):
    """Reading a bare answer to "When?" as a date only made "no, 75 dollars" a CANCEL of the payment."""
    turn = _turn(engine, text, "schedule_payment", "deny", 0.9, None, slots=[("amount", "50 USD"), ("merchant", "comcast")])
    assert turn.follow_up.kind == "update" and dict(turn.response.slots_used)["amount"] == "75 USD"


@pytest.mark.parametrize("text, hours", [("an hour from now", 1), ("in an hour", 1)])
def test_a_count_of_time_from_now_is_no_pause(engine, text, hours):
    """"a"/"an" counting a pause ("a sec") made "an hour from now" a pause and the date noon."""
    at = dt.datetime(2026, 11, 29, 17, 0, tzinfo=dt.timezone.utc)
    turn = _turn(engine, text, "schedule_payment", "greeting", 0.3, "low_confidence",
                 slots=[("amount", "50 USD"), ("merchant", "comcast")], at=at)
    assert dict(turn.response.slots_used)["date"] == (at + dt.timedelta(hours=hours)).astimezone(
        dt.timezone(dt.timedelta(hours=-5))).isoformat()


@pytest.mark.parametrize("text", ["75 per month", "75 a month", "75 every week", "50 each time"])
def test_a_rate_is_no_amount_of_one_transfer(engine, text):
    """"75 per month" became a one-off transfer of $75: a rate, not one amount."""
    carried = [("account", "savings"), ("amount", "500 USD")]
    turn = _turn(engine, text, "transfer_money", "greeting", 0.39, "low_confidence", slots=carried)
    assert turn is None or dict(turn.response.slots_used).get("amount") != "75 USD"


SAVINGS_TO_CHECKING = [("account", "savings,checking"), ("account.destination", "checking"), ("account.source", "savings"),
            ("amount", "50 USD")]


@pytest.mark.parametrize("text, own, spans, expected", [
    ("no, from my joint account to checking", "check_balance",
     [("account", "joint account"), ("account", "checking")], {"account": "joint,checking", "amount": "50 USD"}),
    ("no sorry I meant from my joint account to my checking account", "check_balance",
     [("account", "joint account"), ("account", "checking account")], {"account": "joint,checking"}),
    ("no, make it seventy five dollars from my joint account", "transfer_money",
     [("amount", "seventy five dollars"), ("account", "joint account")], {"account": "checking,joint", "amount": "75 USD"}),
    ("actually make it 75 dollars and do it on friday", "schedule_payment",
     [("amount", "75 dollars"), ("date", "friday")], {"account": "savings,checking", "amount": "75 USD"}),
])
def test_a_long_correction_of_values_only_follows_up(engine, text, own, spans, expected):
    """A turn over six words was never a follow-up: "no, from my joint account to checking" after
    a transfer from savings to checking was a balance question, and "no, make it seventy five
    dollars from my joint account" a new transfer without its destination. A long turn of nothing
    but values, fillers and the words that place them corrects the transfer like a short one."""
    turn = _turn(engine, text, "transfer_money", own, 0.8, None, spans, SAVINGS_TO_CHECKING)
    assert turn is not None and turn.follow_up.kind == "update", text
    assert turn.follow_up.intent == "transfer_money"
    used = dict(turn.response.slots_used)
    assert {k: used.get(k) for k in expected} == expected, used
    if "joint" in used["account"]:
        assert (used["account.source"], used["account.destination"]) == ("joint", "checking")


@pytest.mark.parametrize("text, own, spans", [
    ("actually I'd like to check my balance on my savings account", "check_balance", [("account", "savings account")]),
    ("can you tell me the balance of my joint account", "check_balance", [("account", "joint account")]),
    ("and what is the balance on my savings account", "check_balance", [("account", "savings account")]),
])
def test_a_long_turn_with_a_request_of_its_own_is_answered_alone(engine, text, own, spans):
    """A long turn that says more than values is a request of its own, whatever values it names."""
    assert _turn(engine, text, "transfer_money", own, 0.99, None, spans, SAVINGS_TO_CHECKING) is None
    # the words beside a tagged value are read as a value only when they are few: "is expiring,
    # send me one by friday" holds a number, and is no amount of the bill being paid
    text = "my travel card is expiring, send me one by friday"
    assert _turn(engine, text, "pay_bill", "replace_card", 0.8, None, [("card", "travel card")],
                 [("merchant", "Comcast")]) is None


@pytest.mark.parametrize("text, spans, expected", [
    ("no, from joint to checking", [("account", "checking")],
     {"account": "joint,checking", "account.source": "joint", "account.destination": "checking", "amount": "50 USD"}),
    ("no, 75 to checking", [("account", "checking")], {"amount": "75 USD", "account.source": "savings"}),
    ("from joint, to checking", [("account", "checking")], {"account.source": "joint"}),
])
def test_a_value_the_model_left_untagged_beside_a_tagged_one_is_read(engine, text, spans, expected):
    """"no, from joint to checking" with only "checking" tagged kept the transfer from savings (the
    untagged "joint" was read only when the model tagged nothing): the words between the tagged
    values are read as values too, for a slot the tagged values do not fill or one more catalog value."""
    turn = _turn(engine, text, "transfer_money", "deny", 0.55, None, spans, SAVINGS_TO_CHECKING)
    assert turn.follow_up.kind == "update", text
    used = dict(turn.response.slots_used)
    assert {k: used.get(k) for k in expected} == expected, used


@pytest.mark.parametrize("text, previous, own, spans, slots", [
    ("actually what's my savings balance", "transfer_money", "check_balance", [("account", "savings")],
     SAVINGS_TO_CHECKING),
    ("actually open a savings account", "transfer_money", "open_account", [("account", "savings account")],
     SAVINGS_TO_CHECKING),
    ("actually activate my credit card", "report_lost_card", "activate_card", [("card", "credit card")],
     [("card", "debit_card")]),
    ("instead freeze the credit card", "report_lost_card", "block_card", [("card", "credit card")],
     [("card", "debit_card")]),
    ("actually dispute the comcast charge", "schedule_payment", "dispute_transaction", [("merchant", "comcast")],
     [("amount", "80 USD"), ("date", "2026-12-04T00:00:00-08:00"), ("merchant", "comcast")]),
])
def test_a_new_request_that_opens_with_a_correction_word_is_answered_alone(engine, text, previous, own, spans,
                                                                          slots):
    """"actually what's my savings balance" after a transfer was an update of the transfer, read
    back as "a transfer of $50.00 (Savings account)", and "actually activate my credit card" after
    a lost debit card offered to block the credit card: "actually" or "instead" corrects only a turn
    whose own intent does not ask something else."""
    assert _turn(engine, text, previous, own, 0.99, None, spans, slots) is None
    # a correction the model reads as another intent is still one when it says nothing but values
    turn = _turn(engine, "actually make it 75", "transfer_money", "affirm", 0.9, None, [("amount", "75")],
                 SAVINGS_TO_CHECKING)
    assert turn.follow_up.kind == "update" and dict(turn.response.slots_used)["amount"] == "75 USD"


@pytest.mark.parametrize("text, own, spans, source", [
    ("not savings my money market account please", "close_account",
     [("account", "savings"), ("account", "money market account")], "money_market"),
    ("not from savings from my joint account", "check_balance", [("account", "savings"), ("account", "joint account")],
     "joint"),
    ("no sorry move it from the joint account please", "deny", [("account", "joint account")], "joint"),
    ("take it out of my checking", "close_account", [("account", "checking")], "checking"),
])
def test_a_correction_that_takes_a_value_back_or_says_how_it_moves_answers_the_transfer(engine, text, own, spans,
                                                                                       source):
    """A long "not savings, my money market account please" went to close_account (a hand-off),
    "take it out of my checking" too, and "not from savings from my joint account" was a balance
    question: the value taken back counts as a value of the turn, and "take it", "move it", "send
    it" say how a value moves, not a request of their own."""
    carried = [("account", "savings,checking"), ("account.destination", "checking"), ("account.source", "savings"),
               ("amount", "50 USD")] if "checking" not in text else [("account", "savings"),
                                                                     ("account.destination", "savings"),
                                                                     ("amount", "200 USD")]
    turn = _turn(engine, text, "transfer_money", own, 0.6, None, spans, carried)
    assert turn is not None and turn.follow_up.kind == "update", text
    assert dict(turn.response.slots_used)["account.source"] == source


@pytest.mark.parametrize("text, previous, own, spans, slots, slot, value", [
    ("um my debit card i think", "report_lost_card", "replace_card", [("card", "debit card")], [], "card",
     "debit_card"),
    ("sorry i need it to go to my joint account", "transfer_money", "open_account", [("account", "joint account")],
     [("account", "savings"), ("account.source", "savings"), ("amount", "50 USD")], "account.destination", "joint"),
    ("not savings checking", "transfer_money", "close_account", [("account", "savings")],
     [("account", "savings"), ("account.destination", "savings"), ("amount", "200 USD")], "account", "checking"),
])
def test_hedges_and_the_verbs_of_a_correction_are_no_request_of_their_own(engine, text, previous, own, spans, slots,
                                                                        slot, value):
    """"um my debit card i think" answering "Which card?" after a lost card was a replace_card
    request (the next "yes" ordered a replacement and never blocked the lost card); "not savings
    checking" (no comma, as speech is transcribed) went to close_account."""
    turn = _turn(engine, text, previous, own, 0.72, None, spans, slots)
    assert turn is not None and turn.follow_up.kind == "update", text
    assert dict(turn.response.slots_used)[slot] == value


def test_a_long_repeat_changes_nothing_whatever_values_it_names(engine):
    """"sorry can you repeat that i think you said savings" was a REPEAT whose answer dropped the
    transfer's destination (the turn's "savings" filled the slot): a pause fills no slot."""
    turn = _turn(engine, "sorry can you repeat that i think you said savings", "transfer_money", "repeat", 0.9, None,
                 [("account", "savings")], SAVINGS_TO_CHECKING)
    assert turn.follow_up.kind == "repeat" and dict(turn.response.slots_used) == dict(SAVINGS_TO_CHECKING)


@pytest.mark.parametrize("text, previous, own, confidence, spans, expected", [
    ("eighty bucks", "find_atm", "transfer_money", 0.61, [("amount", "eighty bucks")], None),
    ("my debit card", "branch_hours", "replace_card", 0.76, [], None),
    ("um tomorrow", "branch_hours", "branch_hours", 0.37, [], {"date": "2026-11-30T00:00:00-08:00"}),
    ("amazon", "pay_bill", "speak_to_agent", 0.43, [], {"merchant": "amazon"}),
    ("let me talk to someone", "pay_bill", "speak_to_agent", 0.83, [], None),
    ("i'm not sure", "find_atm", "deny", 0.47, [], {}),  # was "the nearest fee-free ATMs in not sure"
    ("near me", "find_atm", "greeting", 0.3, [], {}),  # no city: the question is asked again
    ("i don't know", "pay_bill", "greeting", 0.3, [], {}),
])
def test_free_text_answers_only_with_words_of_no_other_type(engine, text, previous, own, confidence, spans, expected):
    """"eighty bucks" answering "Which city?" was "the nearest fee-free ATMs in eighty bucks", and
    "my debit card" the opening hours "of our debit card branches": words that read as an amount,
    a date or a catalog value are no free text. "Amazon" answering "Which payee?", read as
    speak_to_agent at 0.43, is the payee; a sure request for a person is not."""
    at = dt.datetime(2026, 11, 29, 20, tzinfo=dt.timezone.utc)
    turn = _turn(engine, text, previous, own, confidence, None, spans, [], "America/Los_Angeles", at)
    used = None if turn is None or turn.follow_up.kind != "update" else dict(turn.response.slots_used)
    assert used == expected


def test_a_date_span_holding_an_amount_or_a_repetition_changes_the_payment(engine):
    """"make it eighty five on the 15th" after a payment of $80 on Friday, all tagged as one date
    that did not resolve, read back the $80 payment on Friday as it was: the span's date is the
    15th and the words before it the amount; "the 15th of every month" starts on the 15th (a
    repeating date is its first day, as the example's data has it)."""
    carried = [("amount", "80 USD"), ("date", "2026-12-04T00:00:00-08:00"), ("merchant", "comcast")]
    at = dt.datetime(2026, 11, 29, 20, tzinfo=dt.timezone.utc)
    text = "make it eighty five on the 15th"
    turn = _turn(engine, text, "schedule_payment", "schedule_payment", 0.72, None, [("date", "eighty five on the 15th")],
                 carried, "America/Los_Angeles", at)
    assert turn.follow_up.kind == "update"
    assert dict(turn.response.slots_used) == {"amount": "85 USD", "date": "2026-12-15T00:00:00-08:00",
                                             "merchant": "comcast"}
    for text in ("the 15th of every month", "every month on the 15th"):
        turn = _turn(engine, text, "schedule_payment", "schedule_payment", 0.86, None,
                     [("date", text.removeprefix("make it "))], carried, "America/Los_Angeles", at)
        assert dict(turn.response.slots_used)["date"] == "2026-12-15T00:00:00-08:00", text


def test_a_long_correction_of_an_amount_read_past_its_span_follows_up(engine):
    """"actually make it a hundred and twenty" (seven words, the model's span "hundred") went to a
    person while the six-word "make it a hundred and twenty" was $120."""
    turn = _turn(engine, "actually make it a hundred and twenty", "transfer_money", "transfer_money", 0.46, None,
                 [("amount", "hundred")], SAVINGS_TO_CHECKING)
    assert turn.follow_up.kind == "update" and dict(turn.response.slots_used)["amount"] == "120 USD"


@pytest.mark.parametrize("text, spans", [("not savings checking", [("account", "savings")]),
                                         ("not savings but checking", [("account", "savings"), ("account", "checking")])])
def test_a_value_in_place_of_one_taken_back_takes_its_role(engine, text, spans):
    """"not savings checking" after a transfer to savings was a transfer with checking and no
    direction: the value said in place of the one taken back goes the same way."""
    carried = [("account", "savings"), ("account.destination", "savings"), ("amount", "200 USD")]
    turn = _turn(engine, text, "transfer_money", "close_account", 0.34, None, spans, carried)
    assert dict(turn.response.slots_used) == {"account": "checking", "account.destination": "checking",
                                              "amount": "200 USD"}


def test_a_correction_with_id_rather_names_the_new_source(engine):
    """"um i'd rather take it out of my money market" (the model's span "money") read back the
    transfer from savings as it was."""
    turn = _turn(engine, "um i'd rather take it out of my money market", "transfer_money", "transfer_money", 0.74,
                 None, [("account", "money")], SAVINGS_TO_CHECKING)
    used = dict(turn.response.slots_used)
    assert turn.follow_up.kind == "update"
    assert (used["account.source"], used["account.destination"]) == ("money_market", "checking")


@pytest.mark.parametrize("text", ["no the other way around", "it's the opposite", "other way round", "reverse it"])
def test_the_other_way_around_swaps_the_roles_of_a_transfer(engine, text):
    """"no the other way around" after a transfer from savings to checking cancelled it: the caller
    wanted the money to go the other way."""
    turn = _turn(engine, text, "transfer_money", "deny", 0.99, None, [], SAVINGS_TO_CHECKING)
    assert turn.follow_up.kind == "update", text
    assert dict(turn.response.slots_used) == {"account": "checking,savings", "account.source": "checking",
                                              "account.destination": "savings", "amount": "50 USD"}
    assert "from your Checking account to your Savings account" in turn.response.text
    # one role said: it becomes the other
    turn = _turn(engine, text, "transfer_money", "deny", 0.99, None, [],
                 [("account", "savings"), ("account.destination", "savings"), ("amount", "50 USD")])
    assert dict(turn.response.slots_used) == {"account": "savings", "account.source": "savings", "amount": "50 USD"}
    # nothing said with a role: a plain "no"
    turn = _turn(engine, text, "check_balance", "deny", 0.99, None, [], [("account", "savings")])
    assert turn.follow_up.kind == "cancel"


@pytest.mark.parametrize("previous, slots, text, own, confidence, spans", [
    ("close_account", [("account", "checking")], "i'd like to move it to my savings", "transfer_money", 0.95,
     [("account", "savings")]),
    ("report_fraud", [("card", "debit_card")], "can you move 500 from savings to checking", "transfer_money", 0.99,
     [("amount", "500"), ("account", "savings"), ("account", "checking")]),
    ("pay_bill", [("merchant", "amazon")], "i need to move 200 from savings to checking", "transfer_money", 0.99,
     [("amount", "200"), ("account", "savings"), ("account", "checking")]),
    ("check_balance", [("account", "savings")], "i need to send it to my joint account", "transfer_money", 0.75,
     [("account", "joint account")]),
    ("block_card", [("card", "debit_card")], "i need to use my credit card", "activate_card", 0.75,
     [("card", "credit card")]),
    ("find_atm", [("city", "boston")], "i want to go to chicago", "travel_notice", 0.99, [("city", "chicago")]),
    ("transfer_money", SAVINGS_TO_CHECKING, "i also need to send 100 to my joint account", "transfer_money", 0.97,
     [("amount", "100"), ("account", "joint account")]),
])
def test_the_verbs_of_a_request_the_model_is_sure_of_make_it_a_new_one(engine, previous, slots, text, own, confidence,
                                                                        spans):
    """"can you move 500 from savings to checking" after a fraud report was an update of the
    report (no transfer made), and "i'd like to move it to my savings" after closing checking
    closed two accounts: "move", "send", "use", "go", "need", "can you" are a correction's words
    only where the model is not sure of a request of its own, or a carried value has a role and
    the model reads another intent below 0.8 ("sorry i need it to go to my joint account")."""
    assert _turn(engine, text, previous, own, confidence, None, spans, slots) is None
    turn = _turn(engine, "sorry i need it to go to my joint account", "transfer_money", "open_account", 0.74, None,
                 [("account", "joint account")], SAVINGS_TO_CHECKING)
    assert dict(turn.response.slots_used)["account.destination"] == "joint"


@pytest.mark.parametrize("text, own, confidence, expected", [
    ("take 20 out of joint", "transfer_money", 0.64, {"amount": "20 USD", "account.source": "joint",
                                                     "account.destination": "checking"}),
    ("make it 20 to joint", "deny", 0.5, {"amount": "20 USD", "account.destination": "joint",
                                          "account.source": "savings"}),
])
def test_an_untagged_amount_and_account_are_two_values(engine, text, own, confidence, expected):
    """"take 20 out of joint", nothing tagged, was read whole as the amount 20: joint was lost and
    the transfer read back from savings. Words that name an account or card after "out of", "to",
    "from" are a value of their own."""
    turn = _turn(engine, text, "transfer_money", own, confidence, None, [], SAVINGS_TO_CHECKING)
    used = dict(turn.response.slots_used)
    assert {k: used.get(k) for k in expected} == expected, used
    # a time counted from now stays one date: "an hour | from now" names no account
    at = dt.datetime(2026, 11, 29, 17, 0, tzinfo=dt.timezone.utc)
    turn = _turn(engine, "an hour from now", "schedule_payment", "greeting", 0.3, "low_confidence",
                 slots=[("amount", "50 USD"), ("merchant", "comcast")], at=at)
    assert dict(turn.response.slots_used)["date"] == "2026-11-29T13:00:00-05:00"


def test_a_count_the_model_tags_as_a_date_stays_no_date_in_a_follow_up(engine):
    """"a hundred three days" after a transfer, "three" tagged as a date, was $100 on December 3:
    the follow-up read the span again alone, past the resolver's rule that a count is no day."""
    turn = _turn(engine, "a hundred three days", "transfer_money", "recent_transactions", 0.2, "low_confidence",
                 [("amount", "a hundred"), ("date", "three")], SAVINGS_TO_CHECKING)
    assert "date" not in dict(turn.response.slots_used)


def test_a_correction_of_the_same_intent_with_instead_keeps_the_other_role(engine):
    """"send it to my money market instead" (seven words, read as transfer_money at 0.95) after a
    transfer from checking to savings was answered alone: a transfer to the money market with no
    source. "instead" makes the verbs a correction's."""
    carried = [("account", "checking,savings"), ("account.destination", "savings"), ("account.source", "checking"),
               ("amount", "200 USD")]
    turn = _turn(engine, "send it to my money market instead", "transfer_money", "transfer_money", 0.95, None,
                 [("account", "money market")], carried)
    used = dict(turn.response.slots_used)
    assert (used["account.source"], used["account.destination"]) == ("checking", "money_market")


@pytest.mark.parametrize("text, own, confidence", [("near me", "greeting", 0.78), ("i'm not sure", "deny", 0.47),
                                                   ("no idea", "deny", 0.69)])
def test_no_answer_to_a_free_text_question_asks_it_again(engine, text, own, confidence):
    """"near me" answering "Which city or neighbourhood are you in?" was read as a greeting ("Hello!
    How can I help you?") and the ATM search was lost; "not sure" and "no idea" as a no, a cancel.
    A turn that only says the caller has no answer keeps the question; a plain "no" still cancels."""
    turn = _turn(engine, text, "find_atm", own, confidence, None, [], [])
    assert (turn.follow_up.kind, turn.response.slots_missing) == ("update", ["city"])
    assert _turn(engine, "no", "find_atm", "deny", 0.99, None, [], []).follow_up.kind == "cancel"


@pytest.mark.parametrize("text, own, spans, amount", [("no sorry 125", "affirm", [("amount", "125")], "125 USD"),
                                                      ("sure, 150", "affirm", [("amount", "150")], "150 USD")])
def test_a_yes_that_changes_a_value_is_read_back_not_confirmed(engine, text, own, spans, amount):
    """"no sorry 125", read as a yes at 0.70, was a CONFIRM of a $125 transfer nobody had read back
    (a backend acting on CONFIRM sends it): a turn that changes a value is an UPDATE."""
    carried = [("account", "checking,savings"), ("account.destination", "savings"), ("account.source", "checking"),
               ("amount", "300 USD")]
    turn = _turn(engine, text, "transfer_money", own, 0.7, None, spans, carried)
    assert turn.follow_up.kind == "update" and dict(turn.response.slots_used)["amount"] == amount
    assert _turn(engine, "yes", "transfer_money", "affirm", 0.9, None, [], carried).follow_up.kind == "confirm"


def test_voice_corrections_with_a_verb_a_thanks_or_a_later(engine):
    """"no, take it from joint" (nothing tagged) was a CANCEL; a long correction ending "thank you"
    a balance question; "move it to the 20th" after a scheduled payment a travel notice; "a week
    later" a week from today, not from the payment's date."""
    carried = [("account", "checking,savings"), ("account.destination", "savings"), ("account.source", "checking"),
               ("amount", "300 USD")]
    turn = _turn(engine, "no, take it from joint", "transfer_money", "deny", 0.98, None, [], carried)
    assert turn.follow_up.kind == "update" and dict(turn.response.slots_used)["account.source"] == "joint"
    turn = _turn(engine, "no sorry I meant from my joint account to my checking account thank you", "transfer_money",
                 "check_balance", 0.68, None, [("account", "joint account"), ("account", "checking account")], carried)
    assert turn.follow_up.kind == "update" and dict(turn.response.slots_used)["account.source"] == "joint"
    payment = [("amount", "85 USD"), ("date", "2026-12-15T00:00:00-08:00"), ("merchant", "comcast")]
    at = dt.datetime(2026, 11, 29, 20, tzinfo=dt.timezone.utc)
    turn = _turn(engine, "move it to the 20th", "schedule_payment", "travel_notice", 0.8, None, [("date", "the 20th")],
                 payment, "America/Los_Angeles", at)
    assert turn.follow_up.kind == "update" and dict(turn.response.slots_used)["date"] == "2026-12-20T00:00:00-08:00"
    turn = _turn(engine, "a week later", "schedule_payment", "deny", 0.49, None, [("date", "a week later")], payment,
                 "America/Los_Angeles", at)
    assert turn.follow_up.kind == "update" and turn.response.slots_missing == ["date"]
    # and the verbs still make a request of its own where the value is an account the intent does not move
    assert _turn(engine, "i'd like to move it to my savings", "close_account", "transfer_money", 0.95, None,
                 [("account", "savings")], [("account", "checking")]) is None


PAYMENT_ON_THE_15TH = [("amount", "80 USD"), ("date", "2026-11-15T00:00:00-05:00"), ("merchant", "comcast")]
TUESDAY_NOON = dt.datetime(2026, 11, 10, 17, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("text, own, confidence, date", [
    ("5 pm", "branch_hours", 0.26, "2026-11-15T17:00:00-05:00"),
    ("five pm", "greeting", 0.51, "2026-11-15T17:00:00-05:00"),
    ("sure at 5 pm", "affirm", 0.48, "2026-11-15T17:00:00-05:00"),
    ("fine but at 9 am", "travel_notice", 0.73, "2026-11-15T09:00:00-05:00"),
    ("at five pm", "branch_hours", 0.64, "2026-11-15T17:00:00-05:00"),
    ("in the evening", "branch_hours", 0.67, "2026-11-15T19:00:00-05:00"),
    ("and at 5pm please", "travel_notice", 0.47, "2026-11-15T17:00:00-05:00"),
])
def test_a_time_of_day_moves_the_agreed_day_and_is_never_the_amount(engine, text, own, confidence, date):
    """After a payment of $80 on the 15th, "5 pm" made it $5.00, "five pm" and "in the evening" today,
    and "and at 5pm please" (two dates: none) asked for the date again."""
    turn = _turn(engine, text, "schedule_payment", own, confidence, None, [], PAYMENT_ON_THE_15TH, "America/New_York",
                 TUESDAY_NOON)
    assert turn.follow_up.kind == "update"
    assert dict(turn.response.slots_used) == {"amount": "80 USD", "date": date, "merchant": "comcast"}


def test_an_hour_without_am_or_pm_asks_for_the_date_again(engine):
    """"at five" was Saturday, December 5. Which five? is asked, the agreed day kept for the answer."""
    turn = _turn(engine, "at five", "schedule_payment", "greeting", 0.37, None, [], PAYMENT_ON_THE_15TH,
                 "America/New_York", TUESDAY_NOON)
    assert turn.follow_up.kind == "update" and turn.response.slots_missing == ["date"]
    assert dict(turn.response.slots_used) == {"amount": "80 USD", "merchant": "comcast",
                                              "date.day": "2026-11-15T00:00:00-05:00"}


def test_and_with_an_amount_or_a_time_replaces_it_and_adds_an_account(engine):
    """"and at 3 pm" after a transfer on Friday added a second date, so the transfer had none and a
    yes sent it today; "and make it ninety" asked for the amount again. An account is still added,
    also when said last ("savings too"), and a second amount beside another account asks again."""
    friday = [("account", "savings,checking"), ("account.destination", "checking"), ("account.source", "savings"),
              ("amount", "50 USD"), ("date", "2026-11-13T00:00:00-05:00")]
    turn = _turn(engine, "and at 3 pm", "transfer_money", "deny", 0.55, None, [], friday, "America/New_York",
                 TUESDAY_NOON)
    assert turn.follow_up.kind == "update"
    assert dict(turn.response.slots_used)["date"] == "2026-11-13T15:00:00-05:00"
    assert dict(turn.response.slots_used)["amount"] == "50 USD"
    turn = _turn(engine, "and make it ninety", "schedule_payment", "deny", 0.35, None, [], PAYMENT_ON_THE_15TH,
                 "America/New_York", TUESDAY_NOON)
    assert dict(turn.response.slots_used) == {"amount": "90 USD", "date": "2026-11-15T00:00:00-05:00",
                                              "merchant": "comcast"}
    turn = _turn(engine, "and 100 to joint", "transfer_money", "deny", 0.5, None, [], friday, "America/New_York",
                 TUESDAY_NOON)
    assert turn.response.slots_missing == ["amount"]  # $50 and $100: which one?
    for text in ("savings too", "and savings", "my savings as well please"):
        turn = _turn(engine, text, "check_balance", "check_balance", 0.87, None, [("account", "savings")],
                     [("account", "checking")])
        assert dict(turn.response.slots_used) == {"account": "checking,savings"}, text


def test_a_yes_but_with_a_new_date_changes_it(engine):
    """"yeah but on monday" (nothing tagged, read as a no) cancelled the payment."""
    turn = _turn(engine, "yeah but on monday", "schedule_payment", "deny", 0.76, None, [], PAYMENT_ON_THE_15TH,
                 "America/New_York", TUESDAY_NOON)
    assert turn.follow_up.kind == "update"
    assert dict(turn.response.slots_used)["date"] == "2026-11-16T00:00:00-05:00"


@pytest.mark.parametrize("text", ["at 5 o'clock", "5pm", "at five"])
def test_a_time_is_no_city(engine, text):
    """"at 5 o'clock" answering "Which city?" was the city once money stopped reading it as $5."""
    turn = _turn(engine, text, "find_atm", "greeting", 0.3, "low_confidence", [], [])
    assert turn is None or "city" not in dict(turn.response.slots_used)


@pytest.mark.parametrize("text", ["yesterday", "make it yesterday", "make it this morning", "last friday"])
def test_a_date_is_never_a_payee(engine, text):
    """"make it yesterday" after a bill was the payee: "I can pay $20.00 on your yesterday bill now"."""
    turn = _turn(engine, text, "pay_bill", "greeting", 0.4, "low_confidence", [], [("amount", "20 USD")],
                 "America/New_York", TUESDAY_NOON)
    assert turn is None or "merchant" not in dict(turn.response.slots_used)


def test_a_value_repaired_in_the_same_breath_is_the_one_said_last(engine):
    """"fifty no sixty dollars" asked for the amount again (two amounts), "on monday sorry tuesday"
    for the date, and "sixty no seventy" (nothing tagged) was handed to a person."""
    turn = _turn(engine, "fifty no sixty dollars", "schedule_payment", "transfer_money", 0.61, None,
                 [("amount", "fifty"), ("amount", "sixty dollars")], PAYMENT_ON_THE_15TH, "America/New_York",
                 TUESDAY_NOON)
    assert turn.follow_up.kind == "update" and dict(turn.response.slots_used)["amount"] == "60 USD"
    turn = _turn(engine, "on monday sorry tuesday", "schedule_payment", "travel_notice", 0.52, None,
                 [("date", "monday"), ("date", "tuesday")], PAYMENT_ON_THE_15TH, "America/New_York", TUESDAY_NOON)
    assert turn.follow_up.kind == "update"
    assert dict(turn.response.slots_used)["date"] == "2026-11-10T00:00:00-05:00"  # said on a Tuesday: today
    transfer = [("account", "savings,checking"), ("account.destination", "checking"), ("account.source", "savings"),
                ("amount", "50 USD")]
    turn = _turn(engine, "sixty no seventy", "transfer_money", "speak_to_agent", 0.31, "out_of_distribution", [],
                 transfer)
    assert turn.follow_up.kind == "update" and dict(turn.response.slots_used)["amount"] == "70 USD"


def test_a_date_no_rule_reads_asks_for_the_date_again(engine):
    """"the first monday of next month" answering "When should the payment go out?" was answered
    alone (a travel notice, or handed to a person) and the payment was lost; "the last day of the
    month" was no date at all."""
    asked = [("amount", "80 USD"), ("merchant", "comcast")]
    turn = _turn(engine, "the first monday of next month", "schedule_payment", "travel_notice", 0.52, None,
                 [("date", "first monday of next month")], asked, "America/New_York", TUESDAY_NOON)
    assert turn.follow_up.kind == "update" and turn.response.slots_missing == ["date"]
    turn = _turn(engine, "on the last day of the month", "schedule_payment", "travel_notice", 0.52, None,
                 [("date", "last day of the month")], asked, "America/New_York", TUESDAY_NOON)
    assert dict(turn.response.slots_used)["date"] == "2026-11-30T00:00:00-05:00"


def test_a_long_turn_with_nothing_tagged_is_read_in_runs_of_a_few_words(engine):
    """"yes that's right but make it seventy" (seven words, nothing tagged) was a yes answered
    alone ("Great, thanks for confirming.") and the $70 was lost; "uh can you move it to the
    fifteenth please" was handed to a person. A long question is still no city."""
    turn = _turn(engine, "yes that's right but make it seventy", "schedule_payment", "affirm", 0.91, None, [],
                 PAYMENT_ON_THE_15TH, "America/New_York", TUESDAY_NOON)
    assert turn.follow_up.kind == "update" and dict(turn.response.slots_used)["amount"] == "70 USD"
    turn = _turn(engine, "uh can you move it to the fifteenth please", "schedule_payment", "greeting", 0.3,
                 "low_confidence", [], [("amount", "80 USD"), ("merchant", "comcast")], "America/New_York",
                 TUESDAY_NOON)
    assert dict(turn.response.slots_used)["date"] == "2026-11-15T00:00:00-05:00"
    amount = next(e for e in _turn(engine, "i want 20 to go to joint", "transfer_money", "greeting", 0.3,
                                   "out_of_distribution", [], [("amount", "50 USD")]).entities if e.type == "amount")
    assert amount.text == "20"  # the value's words, not "want 20"
    assert _turn(engine, "how do I improve my credit score", "find_atm", "greeting", 0.3, "out_of_distribution",
                 [], []) is None


@pytest.mark.parametrize("text, own, tagged, city", [("i'm in downtown boston", "travel_notice", "boston", "downtown boston"),
                                                     ("new york city", "travel_notice", "york", "new york city"),
                                                     ("downtown seattle please", "branch_hours", "seattle",
                                                      "downtown seattle")])
def test_a_free_text_answer_takes_the_name_words_beside_the_tagged_ones(engine, text, own, tagged, city):
    """"i'm in downtown boston" answering "Which city?" was a travel notice ("downtown" made the turn
    more than a value), and "new york city" the city "york"."""
    turn = _turn(engine, text, "find_atm", own, 0.77, None, [("city", tagged)], [])
    assert turn.follow_up.kind == "update" and dict(turn.response.slots_used) == {"city": city}
    around = _turn(engine, "show atms around Atlanta", "find_atm", "find_atm", 0.9, None, [("city", "Atlanta")], [])
    assert dict(around.response.slots_used) == {"city": "Atlanta"}  # one word a side, never over "around"


def test_a_free_text_answer_never_takes_a_date_or_an_adverb_beside_it(engine):
    """"paris tomorrow" answering "Where are you travelling to?" was the city "paris tomorrow"; "boston
    as well" the city "boston as"."""
    turn = _turn(engine, "paris tomorrow", "travel_notice", "travel_notice", 0.78, None,
                 [("city", "paris"), ("date", "tomorrow")], [("date", "2026-11-16T00:00:00-05:00")],
                 "America/New_York", TUESDAY_NOON)
    assert dict(turn.response.slots_used)["city"] == "paris"
    for text in ("boston as well", "boston now", "boston again"):
        turn = _turn(engine, text, "find_atm", "travel_notice", 0.48, "low_confidence", [("city", "boston")], [])
        assert dict(turn.response.slots_used) == {"city": "boston"}, text


@pytest.mark.parametrize("text, slots", [("five guys", {"merchant": "five guys"}),
                                         ("century 21", {"merchant": "century 21"}),
                                         ("fifty bucks", {"amount": "50 USD"}), ("a hundred", {"amount": "100 USD"})])
def test_a_name_with_a_number_answers_which_payee(engine, text, slots):
    """"five guys" and "century 21" answering "Which bill or payee?" were $5 and $21: words with a
    number are an amount only when they say nothing else."""
    turn = _turn(engine, text, "pay_bill", "branch_hours", 0.35, "low_confidence", [], [])
    assert dict(turn.response.slots_used) == slots


@pytest.mark.parametrize("text, tagged, merchant", [
    ("it was at Starbucks", [], "Starbucks"), ("the merchant is Home Depot", [], "Home Depot"),
    ("it's from Amazon", [], "Amazon"), ("it was Target", [], "Target"),
    ("the payee is Comcast", [("merchant", "Comcast")], "Comcast"),
    # a name that opens with those words, capitalised, is the name: a first try cut "AT and T" to "and T"
    ("AT and T", [], "AT and T"), ("In and Out Burger", [], "In and Out Burger"), ("At Home", [], "At Home"),
])
def test_a_free_text_answer_leaves_out_the_words_that_say_what_it_is(engine, text, tagged, merchant):
    """"it was at Starbucks" answering "Which merchant is the charge from?" was the merchant "was at
    Starbucks" ("I can open a dispute for the was at Starbucks charge"), and "it's from Best Buy"
    after a refund question "Refunds from from Best Buy"."""
    turn = _turn(engine, text, "dispute_transaction", "greeting", 0.3, "low_confidence", tagged, [])
    assert turn.follow_up.kind == "update" and dict(turn.response.slots_used) == {"merchant": merchant}


@pytest.mark.parametrize("text", ["Can Can Bakery", "Will's Pizza", "Which Wich", "When Pigs Fly Bakery"])
def test_a_name_that_opens_with_a_question_word_is_a_name(engine, text):
    """A first try at "a question is no answer" handed "Can Can Bakery" answering "Which bill or
    payee?" to a person, the name lost: a question word followed by a capitalised word is a name."""
    turn = _turn(engine, text, "pay_bill", "greeting", 0.3, "out_of_distribution", [], [])
    assert dict(turn.response.slots_used) == {"merchant": text}


@pytest.mark.parametrize("text", ["what's the meaning of life", "how humid is it outside", "is my flight delayed",
                                  "who sings this song", "can you keep a secret", "What's the meaning of life",
                                  "Can I deduct my home office", "Who", "Where?"])
def test_a_question_is_no_free_text_answer(engine, text):
    """"what's the meaning of life" answering "Which bill or payee would you like to pay?" was the
    payee ("I can pay your what's the meaning of life bill"), as were 37 more of the example's
    out-of-scope questions: a turn that opens as a question names nothing; it is answered alone."""
    assert _turn(engine, text, "pay_bill", "greeting", 0.3, "out_of_distribution", [], []) is None


@pytest.mark.parametrize("text, spans, previous, carried, slot, value", [
    ("actually it was two days ago", [], "dispute_transaction", [("merchant", "Uber")], "date",
     "2026-11-08T00:00:00-05:00"),
    ("no wait it was forty nine dollars", [("amount", "forty nine dollars")], "dispute_transaction",
     [("amount", "23 USD")], "amount", "49 USD"),
    ("no wait it was on friday", [("date", "friday")], "report_lost_card", [("card", "debit_card")], "date",
     "2026-11-06T00:00:00-05:00"),
])
def test_it_was_introduces_a_correction(engine, text, spans, previous, carried, slot, value):
    """"actually it was two days ago" after a dispute cancelled it (read as a no, "was two days
    ago" no date), and "no wait it was forty nine dollars" (seven words) was answered alone: "I
    won't go ahead with that", the $49 lost. "it was", "is", "were" say nothing of the value."""
    turn = _turn(engine, text, previous, "deny", 0.9, None, spans, carried, "America/New_York", TUESDAY_NOON)
    assert turn.follow_up.kind == "update" and dict(turn.response.slots_used)[slot] == value


@pytest.mark.parametrize("text, own, merchant", [
    ("actually Target", "deny", "Target"), ("no, Target", "deny", "Target"), ("no, Home Depot", "deny", "Home Depot"),
    ("sorry I meant Target", "repeat", "Target"), ("not Walmart, Target", "deny", "Target"),
    ("no, never mind", "deny", None), ("No, Thanks", "deny", None), ("No, I changed my mind", "deny", None),
    # capitals that say nothing: a sentence's first word, a title-cased or shouted turn; words of leaving
    ("No. Cancel it.", "deny", None), ("No, Never Mind", "deny", None), ("NO CANCEL IT", "deny", None),
    ("No, Target", "deny", None), ("no, Stop", "deny", None), ("no, Agent", "deny", None),
])
def test_a_name_after_a_no_corrects_the_carried_one(engine, text, own, merchant):
    """"actually Target", "no, Target" after a dispute of a Walmart charge cancelled the dispute, and
    "sorry I meant Target" handed it to a person: free text answered only a question asked. A name
    written as one after a no or a correction replaces the one free-text value carried; a no with
    no name stays a no ("No. Cancel it." made a payment to "Cancel" of a first try at this rule)."""
    carried = [("amount", "45 USD"), ("merchant", "Walmart")]
    turn = _turn(engine, text, "dispute_transaction", own, 0.9, None, [], carried)
    if merchant is None:
        assert turn.follow_up.kind == "cancel"
    else:
        assert turn.follow_up.kind == "update" and dict(turn.response.slots_used) == {"amount": "45 USD",
                                                                                      "merchant": merchant}


@pytest.mark.parametrize("text", ["hold it", "wait ok", "hang on a second", "I'll think about it",
                                  "let me sleep on it"])
def test_a_pause_the_model_reads_as_a_yes_confirms_nothing(engine, text):
    """"hold it" after a transfer, which the example model read as a yes, confirmed the transfer: a
    turn that opens with "hold", "wait" or "hang" is a pause, whatever intent the model reads."""
    carried = [("account", "checking,savings"), ("amount", "50 USD")]
    turn = _turn(engine, text, "transfer_money", "affirm", 0.9, None, slots=carried)
    assert turn.follow_up.kind == "hold" and dict(turn.response.slots_used) == dict(carried)


@pytest.mark.parametrize("text", ["go ahead and cancel it", "ok stop it", "yes don't send it"])
def test_a_yes_that_says_to_stop_confirms_nothing(engine, text):
    """"go ahead and cancel it" after a pending payment, read by the example model as a yes,
    confirmed the payment; answered alone, it was thanked for confirming. A turn read as a yes that
    says cancel, stop or don't is neither: the request as it stands is said again (REPEAT)."""
    carried = [("amount", "100 USD"), ("merchant", "verizon"), ("date", "2026-12-11T09:00:00-05:00")]
    turn = _turn(engine, text, "schedule_payment", "affirm", 0.9, None, slots=carried)
    assert (turn.follow_up.kind, turn.follow_up.intent) == ("repeat", "schedule_payment")
    assert dict(turn.response.slots_used) == dict(carried)
    assert turn.response.template_id.startswith("schedule_payment.response") and "$100.00" in turn.response.text


AGREED_TUESDAY_5PM = [("account", "savings"), ("account.destination", "savings"), ("amount", "50 USD"),
                      ("date", "2026-12-08T17:00:00-05:00")]


@pytest.mark.parametrize("text, tags, date", [
    # a refused day with no day beside it is asked, even for a transfer's optional date (no date is "now")
    ("not tomorrow", [("date", "tomorrow")], None),
    ("not tomorrow", [], None),
    ("not tomorrow, make it $60", [("date", "tomorrow"), ("amount", "$60")], None),
    # a day beside the refused one replaces it, with the time said
    ("not tomorrow, wednesday at 5pm", [("date", "wednesday at 5pm")], "2026-12-09T17:00:00-05:00"),
    ("not tomorrow, the 9th at 5pm", [("date", "9th at 5pm")], "2026-12-09T17:00:00-05:00"),
    ("not tomorrow, wednesday", [], None),  # a day no rule reads: asked (it cancelled the transfer)
    ("tomorrow at 6pm not tonight", [("date", "tomorrow at 6pm")], "2026-12-08T18:00:00-05:00"),
    # a change to an amount by a time is both, no change by an amount
    ("raise it to 60 by 11am", [("amount", "60"), ("date", "11am")], "2026-12-08T11:00:00-05:00"),
])
def test_a_refused_day_is_asked_and_a_day_said_beside_it_replaces_it(engine, text, tags, date):
    """A re-audit of the refused days: "not tomorrow" dropped the transfer's date and read it back
    with none (a backend acting on it moved the money at once); "tomorrow at 6pm not tonight" was a
    new request; "raise it to 60 by 11am" was read as a change by an amount, and lost both."""
    turn = _turn(engine, text, "transfer_money", "deny", 0.6, None, tags, AGREED_TUESDAY_5PM,
                 zone="America/New_York", at=MONDAY_10AM)
    used = dict(turn.response.slots_used)
    if date is None:
        assert "date" not in used and "date" in turn.response.slots_missing, used
    else:
        assert used["date"] == date and not turn.response.slots_missing, used
    if "60" in text:
        assert used["amount"] == "60 USD", used


@pytest.mark.parametrize("text, tags", [("make it 60 tonight", [("amount", "60")]),
                                        ("use checking tonight", [("account", "checking")]),
                                        ("make it $60 tonight", [("amount", "$60"), ("date", "tonight")])])
def test_tonight_beside_another_value_is_answered(engine, text, tags):
    """"tonight" beside an amount or an account failed the request (the check for a time said
    "tonight" read the amount carried as a date)."""
    turn = _turn(engine, text, "schedule_payment", "goodbye", 0.3, "low_confidence", tags, AGREED_9AM,
                 zone="America/New_York", at=FRIDAY_10AM)
    assert turn is not None and turn.response.text


def test_a_time_moved_far_is_asked_on_the_agreed_day(engine):
    """"move it to 5.00" after 09:00 on Friday the 11th asks which 5.00, and the answer "5pm" fell on
    today: the agreed day is kept while the time is asked."""
    first = _turn(engine, "move it to 5.00", "schedule_payment", "goodbye", 0.3, "low_confidence",
                  [("amount", "5.00")], AGREED_9AM, zone="America/New_York", at=FRIDAY_10AM)
    used = dict(first.response.slots_used)
    assert used["date.day"] == "2026-12-11T00:00:00-05:00" and first.response.slots_missing == ["date"], used
    answer = _turn(engine, "5pm", "schedule_payment", "goodbye", 0.3, "low_confidence", [("date", "5pm")],
                   list(used.items()), zone="America/New_York", at=FRIDAY_10AM, missing=["date"])
    assert dict(answer.response.slots_used)["date"] == "2026-12-11T17:00:00-05:00"
    spaced = _turn(engine, "5:00 pm", "schedule_payment", "goodbye", 0.3, "low_confidence", [("date", "5:00")],
                   list(used.items()), zone="America/New_York", at=FRIDAY_10AM, missing=["date"])
    assert dict(spaced.response.slots_used)["date"] == "2026-12-11T17:00:00-05:00"  # "pm" beside the span: 05:00


@pytest.mark.parametrize("text", ["right away", "straight away"])
def test_now_said_in_words_answers_a_date_asked(engine, text):
    """"right away" answering "When should the transfer happen?" (its day refused) was read as a yes,
    and the date asked again, and again: its words, a date of their own, answer it."""
    asked = [("account", "savings"), ("account.destination", "savings"), ("amount", "50 USD")]
    turn = _turn(engine, text, "transfer_money", "affirm", 0.94, None, [], asked, zone="America/New_York",
                 at=MONDAY_10AM, missing=["date"])
    assert dict(turn.response.slots_used)["date"] == "2026-12-07T10:00:00-05:00" and not turn.response.slots_missing


def test_a_time_asked_of_the_agreed_weekday_keeps_that_day(engine):
    """"make it friday at 4.30" of a payment on Friday the 18th asks which 4.30, and the answer
    "4:30pm" fell on today: the agreed Friday is kept."""
    agreed = [("amount", "45 USD"), ("merchant", "verizon"), ("date", "2026-12-18T09:00:00-05:00")]
    turn = _turn(engine, "make it friday at 4.30", "schedule_payment", "goodbye", 0.3, "low_confidence",
                 [("date", "friday at 4.30")], agreed, zone="America/New_York", at=MONDAY_10AM)
    used = dict(turn.response.slots_used)
    assert used["date.day"] == "2026-12-18T00:00:00-05:00" and turn.response.slots_missing == ["date"], used


MONDAY_8PM = dt.datetime(2026, 12, 8, 1, tzinfo=dt.timezone.utc)  # Monday 20:00 in New York
MONDAY_1130PM = dt.datetime(2026, 12, 8, 4, 30, tzinfo=dt.timezone.utc)
ON_FRIDAY_9AM = [("amount", "45 USD"), ("merchant", "verizon"), ("date", "2026-12-11T09:00:00-05:00")]


@pytest.mark.parametrize("text, spans, at, amount, date", [
    # the example model's readings: the hour alone tagged, or nothing
    ("make it tonight at 7", [("date", "7")], MONDAY_10AM, "45 USD", "2026-12-07T19:00:00-05:00"),
    ("make it tonight at 7", [], MONDAY_10AM, "45 USD", "2026-12-07T19:00:00-05:00"),
    ("make it 60 tonight", [], MONDAY_10AM, "60 USD", "2026-12-07T20:00:00-05:00"),
    ("make it 8 tonight", [("amount", "8"), ("date", "tonight")], MONDAY_10AM, "45 USD", "2026-12-07T20:00:00-05:00"),
    ("make it 8 tonight", [], MONDAY_10AM, "45 USD", "2026-12-07T20:00:00-05:00"),
    ("make it 7 in the evening", [("date", "the evening")], MONDAY_10AM, "45 USD", "2026-12-11T19:00:00-05:00"),
    # money moved, or a currency: an amount and a day
    ("send 10 tonight", [], MONDAY_10AM, "10 USD", "2026-12-07T20:00:00-05:00"),
    ("make it $8 tonight", [("amount", "$8"), ("date", "tonight")], MONDAY_10AM, "8 USD", "2026-12-07T20:00:00-05:00"),
    ("change the amount to 8 tonight", [], MONDAY_10AM, "8 USD", "2026-12-07T20:00:00-05:00"),
    ("make it 10.5 tonight", [], MONDAY_10AM, "10.5 USD", "2026-12-07T20:00:00-05:00"),  # was "5 tonight": handed off
    ("friday at 8, not tonight", [("date", "friday"), ("date", "8"), ("date", "tonight")], MONDAY_1130PM,
     "45 USD", None),
])
def test_a_time_said_with_a_day_is_no_amount(engine, text, spans, at, amount, date):
    """"make it tonight at 7" of a payment on Friday made it $7.00, on Friday, and "make it 8
    tonight" $8.00; "make it 60 tonight" made it $60.00 and dropped the day; "friday at 8, not
    tonight" made it $8.00."""
    turn = _turn(engine, text, "schedule_payment", "goodbye", 0.3, "low_confidence", spans, ON_FRIDAY_9AM,
                 zone="America/New_York", at=at)
    used = dict(turn.response.slots_used)
    assert used["amount"] == amount, used
    if date is None:  # which 8? asked, on the Friday said
        assert turn.response.slots_missing == ["date"] and used["date.day"] == "2026-12-11T00:00:00-05:00", used
    else:
        assert used["date"] == date and not turn.response.slots_missing, used


@pytest.mark.parametrize("text, value", [("at noon", "2026-12-11T12:00:00-05:00"),
                                         ("in the afternoon", "2026-12-11T15:00:00-05:00")])
def test_a_time_in_words_answering_the_date_asked_falls_on_the_day_kept(engine, text, value):
    """"at noon" answering "which five?" of "next friday at five" fell on today (the turn's words,
    read whole as the date asked, skipped the day kept)."""
    kept = [("amount", "45 USD"), ("merchant", "verizon"), ("date.day", "2026-12-11T00:00:00-05:00")]
    turn = _turn(engine, text, "schedule_payment", "goodbye", 0.3, "low_confidence", [], kept,
                 zone="America/New_York", at=MONDAY_10AM, missing=["date"])
    assert dict(turn.response.slots_used)["date"] == value and not turn.response.slots_missing


@pytest.mark.parametrize("locale, zone", [("en-GB", "Europe/London"), ("de-DE", "Europe/Berlin")])
def test_a_weekday_and_a_dotted_date_is_that_date_not_a_time_of_the_agreed_weekday(engine, locale, zone):
    """"friday 18.12" of a payment agreed for Friday the 11th at 09:00 moved it to 18:12 on the 11th."""
    agreed = [("amount", "45 USD"), ("merchant", "verizon"), ("date", "2026-12-11T09:00:00+00:00")]
    turn = _turn(engine, "make it friday 18.12", "schedule_payment", "goodbye", 0.3, "low_confidence",
                 [("date", "friday 18.12")], agreed, zone=zone, at=MONDAY_10AM, locale=locale)
    assert dict(turn.response.slots_used)["date"].startswith("2026-12-18T00:00")


def test_tonight_at_an_hour_already_past_is_asked_not_moved_to_the_agreed_day(engine):
    """"tonight at 7pm" at 20:00, the model's span "7pm", moved a payment on Friday to Friday at 19:00."""
    turn = _turn(engine, "tonight at 7pm", "schedule_payment", "goodbye", 0.3, "low_confidence", [("date", "7pm")],
                 ON_FRIDAY_9AM, zone="America/New_York", at=MONDAY_8PM)
    assert turn.response.slots_missing == ["date"] and "date" not in dict(turn.response.slots_used)
    later = _turn(engine, "tonight at 9pm", "schedule_payment", "goodbye", 0.3, "low_confidence", [("date", "9pm")],
                  ON_FRIDAY_9AM, zone="America/New_York", at=MONDAY_8PM)
    assert dict(later.response.slots_used)["date"] == "2026-12-07T21:00:00-05:00"


@pytest.mark.parametrize("text, spans, value", [
    ("9:30 a.m. tomorrow", [("date", "9:30 a.m"), ("date", "tomorrow")], "2026-12-08T09:30:00-05:00"),
    ("at 4:30 p.m. on the 21st", [("date", "4:30 p.m"), ("date", "the 21st")], "2026-12-21T16:30:00-05:00"),
    ("right away please", [], "2026-12-07T10:00:00-05:00"),
    ("do it right away", [], "2026-12-07T10:00:00-05:00"),
])
def test_a_date_in_the_words_callers_say_answers_the_date_asked(engine, text, spans, value):
    """The model's "9:30 a.m" (its last dot left out) and "tomorrow" were two dates, and "right away
    please" no date: the date was asked again, every time."""
    asked = [("amount", "45 USD"), ("merchant", "verizon")]
    turn = _turn(engine, text, "schedule_payment", "goodbye", 0.3, "low_confidence", spans, asked,
                 zone="America/New_York", at=MONDAY_10AM, missing=["date"])
    assert dict(turn.response.slots_used).get("date") == value and not turn.response.slots_missing


@pytest.mark.parametrize("text", ["move it to 8", "push it back to 6", "change the time to 5", "reschedule it to 7"])
def test_a_number_a_date_is_moved_to_is_an_hour_asked_not_an_amount(engine, text):
    """"move it to 8" of a payment on Friday at 16:00 made it $8.00, on Friday at 16:00: which 8 is
    asked, the Friday kept."""
    agreed = [("amount", "45 USD"), ("merchant", "verizon"), ("date", "2026-12-11T16:00:00-05:00")]
    turn = _turn(engine, text, "schedule_payment", "goodbye", 0.3, "low_confidence", [], agreed,
                 zone="America/New_York", at=MONDAY_10AM)
    used = dict(turn.response.slots_used)
    assert used["amount"] == "45 USD" and used["date.day"] == "2026-12-11T00:00:00-05:00", used
    assert turn.response.slots_missing == ["date"]
    amount = _turn(engine, "change the amount to 8", "schedule_payment", "goodbye", 0.3, "low_confidence", [],
                   agreed, zone="America/New_York", at=MONDAY_10AM)
    assert dict(amount.response.slots_used)["amount"] == "8 USD"


@pytest.mark.parametrize("text, amount", [("move 50 instead", "50 USD"), ("actually move 8", "8 USD"),
                                          ("just move 5", "5 USD"), ("move it to 8 dollars", "8 USD")])
def test_money_moved_is_still_an_amount(engine, text, amount):
    """A transfer moves money: "move" before a number is a date's only with a date to move ("move it
    to 8") and no currency."""
    agreed = [("account", "checking,savings"), ("account.destination", "savings"), ("account.source", "checking"),
              ("amount", "200 USD")]
    turn = _turn(engine, text, "transfer_money", "goodbye", 0.3, "low_confidence", [], agreed,
                 zone="America/New_York", at=MONDAY_10AM)
    assert dict(turn.response.slots_used)["amount"] == amount


@pytest.mark.parametrize("text", ["7pm, tonight is busy", "at 7pm, but tonight's no good", "tonight? no, 7pm"])
def test_tonight_turned_down_leaves_the_time_on_the_agreed_day(engine, text):
    """"7pm, tonight is busy" (the model's span "7pm") moved a payment on Friday to tonight."""
    turn = _turn(engine, text, "schedule_payment", "goodbye", 0.3, "low_confidence", [("date", "7pm")],
                 ON_FRIDAY_9AM, zone="America/New_York", at=MONDAY_10AM)
    assert dict(turn.response.slots_used)["date"] == "2026-12-11T19:00:00-05:00"


@pytest.mark.parametrize("text", ["right away? no", "maybe right away", "right away, no"])
def test_words_that_doubt_a_date_are_no_answer_to_it(engine, text):
    """"right away? no" answering "When should the payment go out?" was now."""
    asked = [("amount", "45 USD"), ("merchant", "verizon")]
    turn = _turn(engine, text, "schedule_payment", "goodbye", 0.3, "low_confidence", [], asked,
                 zone="America/New_York", at=MONDAY_10AM, missing=["date"])
    assert turn is None or "date" not in dict(turn.response.slots_used)  # answered alone, or asked again


@pytest.mark.parametrize("text, amount", [("move it to 80", "80 USD"), ("push it up to 10", "10 USD"),
                                          ("move the payment to 60", "60 USD")])
def test_an_amount_no_clock_shows_is_the_amount_whatever_moves_it(engine, text, amount):
    """"move it to 80" was handed off, "move the payment to 60" read back unchanged."""
    turn = _turn(engine, text, "schedule_payment", "goodbye", 0.3, "low_confidence", [], ON_FRIDAY_9AM,
                 zone="America/New_York", at=MONDAY_10AM)
    assert dict(turn.response.slots_used)["amount"] == amount


@pytest.mark.parametrize("text, day", [("change it to frıday at 4.30", "frıday at 4.30"),
                                       ("make it on ſunday at 4.30", "ſunday at 4.30")])
def test_a_weekday_typed_with_a_letter_outside_ascii_is_no_server_error(engine, text, day):
    """"frıday" (a Turkish keyboard's dotless i) matched the weekday pattern and failed the request (KeyError)."""
    turn = _turn(engine, text, "schedule_payment", "goodbye", 0.3, "low_confidence", [("date", day)],
                 ON_FRIDAY_9AM, zone="America/New_York", at=MONDAY_10AM)
    assert turn is None or turn.response is not None  # an answer, whatever it reads (it raised)


ON_FRIDAY = [("amount", "45 USD"), ("merchant", "verizon"), ("date", "2026-12-11T00:00:00-05:00")]


@pytest.mark.parametrize("text, date", [
    ("can you do it tonight", "2026-12-07T20:00:00-05:00"),
    ("can you do it tomorrow", "2026-12-08T00:00:00-05:00"),
    ("could you do it on wednesday please", "2026-12-09T00:00:00-05:00"),
    ("yes pay it now", "2026-12-07T10:00:00-05:00"),
    ("can you pay it right away", "2026-12-07T10:00:00-05:00"),
    ("ok pay it the 15th", "2026-12-15T00:00:00-05:00"),
])
def test_a_yes_asking_for_another_day_is_no_yes_to_the_agreed_one(engine, text, date):
    """"can you do it tonight", "yes pay it now", read as a yes with nothing tagged, confirmed the
    payment on its agreed Friday: the day after the request's words is read, and read back."""
    turn = _turn(engine, text, "schedule_payment", "affirm", 0.9, None, [], ON_FRIDAY,
                 zone="America/New_York", at=MONDAY_10AM)
    assert turn.follow_up.kind == "update" and dict(turn.response.slots_used)["date"] == date
    assert dict(turn.response.slots_used)["amount"] == "45 USD"


@pytest.mark.parametrize("text", ["can you do it the day after", "can you do it sooner", "could we do it later"])
def test_a_yes_asking_for_a_date_no_rule_reads_asks_the_date(engine, text):
    """"can you do it sooner" (and the day after, seven words: a long yes) confirmed the agreed
    Friday: the date is asked instead, the rest kept."""
    turn = _turn(engine, text, "schedule_payment", "affirm", 0.9, None, [], ON_FRIDAY,
                 zone="America/New_York", at=MONDAY_10AM)
    assert turn.follow_up.kind == "update" and turn.response.slots_missing == ["date"]
    assert dict(turn.response.slots_used) == {"amount": "45 USD", "merchant": "verizon"}
    plain = _turn(engine, "yes please do it", "schedule_payment", "affirm", 0.9, None, [], ON_FRIDAY,
                  zone="America/New_York", at=MONDAY_10AM)
    assert plain.follow_up.kind == "confirm" and dict(plain.response.slots_used) == dict(ON_FRIDAY)


def test_a_yes_asking_for_another_day_of_a_request_with_no_date_confirms_nothing(engine):
    """A bill paid now has no date to move: "can you do it tomorrow" is no yes to paying it now; what
    stands is said again (a REPEAT of the bill's read-back, not "thanks for confirming")."""
    turn = _turn(engine, "can you do it tomorrow", "pay_bill", "affirm", 0.9, None, [], [("merchant", "verizon")],
                 zone="America/New_York", at=MONDAY_10AM)
    assert turn.follow_up.kind == "repeat" and turn.response.template_id.startswith("pay_bill.response")
    assert dict(turn.response.slots_used) == {"merchant": "verizon"}
    for text in ("yes please", "yes pay it now", "ok pay it right away"):  # paid now: a yes
        yes = _turn(engine, text, "pay_bill", "affirm", 0.9, None, [], [("merchant", "verizon")],
                    zone="America/New_York", at=MONDAY_10AM)
        assert yes.follow_up.kind == "confirm" and dict(yes.response.slots_used) == {"merchant": "verizon"}, text


def test_an_hour_after_the_words_of_a_request_is_no_amount(engine):
    """"can you do it at 5" made the payment $5.00 (its words were read whole as an amount): which
    five is asked, the Friday kept; "could you make it 60" is still $60."""
    turn = _turn(engine, "can you do it at 5", "schedule_payment", "affirm", 0.9, None, [], ON_FRIDAY,
                 zone="America/New_York", at=MONDAY_10AM)
    used = dict(turn.response.slots_used)
    assert used["amount"] == "45 USD" and used["date.day"] == "2026-12-11T00:00:00-05:00", used
    assert turn.response.slots_missing == ["date"]
    sixty = _turn(engine, "could you make it 60", "schedule_payment", "affirm", 0.9, None, [], ON_FRIDAY,
                  zone="America/New_York", at=MONDAY_10AM)
    assert dict(sixty.response.slots_used)["amount"] == "60 USD"


@pytest.mark.parametrize("text, previous, slots, spans", [
    ("sure thing, the 15th", "schedule_payment", ON_FRIDAY, []),
    ("that works, one fifty", "schedule_payment", ON_FRIDAY, []),
    ("sure, on my visa", "transfer_money", [("amount", "200 USD"), ("account", "checking")], [("card", "visa")]),
])
def test_a_yes_that_names_what_no_rule_reads_confirms_nothing(engine, text, previous, slots, spans):
    """Each, read as a yes with nothing read for the intent's slots, confirmed what the caller
    objected to (the Friday, the $45, a transfer the caller wanted on a card): what stands is read
    back again (a REPEAT), nothing confirmed."""
    turn = _turn(engine, text, previous, "affirm", 0.9, None, spans, slots, zone="America/New_York", at=MONDAY_10AM)
    assert turn.follow_up.kind == "repeat" and turn.response.template_id.startswith(f"{previous}.response")
    assert dict(turn.response.slots_used) == dict(slots)


@pytest.mark.parametrize("text", ["yes, that one", "yes 100 percent", "yes, one hundred percent", "yes 100%",
                                  "yes, one sec"])
def test_a_yes_with_a_number_that_changes_nothing_confirms(engine, text):
    turn = _turn(engine, text, "schedule_payment", "affirm", 0.9, None, [], ON_FRIDAY,
                 zone="America/New_York", at=MONDAY_10AM)
    assert turn.follow_up.kind == "confirm" and dict(turn.response.slots_used) == dict(ON_FRIDAY)


@pytest.mark.parametrize("text, date", [
    ("no I said tuesday", "2026-12-08T00:00:00-05:00"),
    ("no it should be tomorrow instead", "2026-12-08T00:00:00-05:00"),
    ("that's wrong, the 15th", "2026-12-15T00:00:00-05:00"),
])
def test_a_no_that_says_the_right_day_in_words_is_a_correction(engine, text, date):
    """Each, read as a no with nothing tagged, cancelled the payment: the day after the words of the
    correction is read, and read back. "no I said not tuesday" still takes Tuesday back."""
    turn = _turn(engine, text, "schedule_payment", "deny", 0.9, None, [], ON_FRIDAY,
                 zone="America/New_York", at=MONDAY_10AM)
    assert turn.follow_up.kind == "update" and dict(turn.response.slots_used)["date"] == date
    refused = _turn(engine, "no I said not tuesday", "schedule_payment", "deny", 0.9, None, [], ON_FRIDAY,
                    zone="America/New_York", at=MONDAY_10AM)
    assert refused.follow_up.kind == "cancel"


@pytest.mark.parametrize("text", ["pay Forever 21", "it's Five Guys", "to One Medical"])
def test_a_payee_with_a_number_in_its_name_after_a_lead_in_is_the_payee(engine, text):
    """Read after the words that open it, "pay Forever 21" answering "Which payee?" was $21."""
    turn = _turn(engine, text, "pay_bill", "greeting", 0.3, "low_confidence", [], [("amount", "80 USD")],
                 zone="America/New_York", at=MONDAY_10AM, missing=["merchant"])
    used = dict(turn.response.slots_used)
    assert used["amount"] == "80 USD" and used.get("merchant"), used


@pytest.mark.parametrize("text", ["yes thanks, have a good evening", "good morning, yes", "yes see you later",
                                  "yes thanks, I'll check later", "yes that's all for today", "yes, first one",
                                  "yes, one-time", "yes thats right now"])
def test_a_yes_said_politely_still_confirms(engine, text):
    """Words of time or number in what a caller says to be polite asked the date again, or
    answered the yes alone ("have a good evening": evening; "thats right now": now)."""
    turn = _turn(engine, text, "schedule_payment", "affirm", 0.9, None, [], ON_FRIDAY,
                 zone="America/New_York", at=MONDAY_10AM)
    assert turn.follow_up.kind == "confirm" and dict(turn.response.slots_used) == dict(ON_FRIDAY), text


def test_a_yes_that_agrees_with_how_a_request_goes_confirms_it(engine):
    """A bill paid now ("yes pay it today"), a transfer with no date ("yes pay it now", "yes
    asap"), a lost card's date ("yes later", "right away I guess"): nothing to change."""
    for text in ("yes pay it today", "yes asap"):
        bill = _turn(engine, text, "pay_bill", "affirm", 0.9, None, [], [("merchant", "verizon")],
                     zone="America/New_York", at=MONDAY_10AM)
        assert bill.follow_up.kind == "confirm", text
    for text in ("yes pay it now", "yes asap please"):
        now = _turn(engine, text, "transfer_money", "affirm", 0.9, None, [], [("amount", "200 USD"), ("account", "checking")],
                    zone="America/New_York", at=MONDAY_10AM)
        assert now.follow_up.kind == "confirm" and "date" not in dict(now.response.slots_used), text
    lost = [("card", "debit_card"), ("date", "2026-12-05T00:00:00-05:00")]
    for text in ("yes later", "right away I guess"):
        turn = _turn(engine, text, "report_lost_card", "affirm", 0.9, None, [], lost,
                     zone="America/New_York", at=MONDAY_10AM)
        assert turn.follow_up.kind == "confirm" and dict(turn.response.slots_used) == dict(lost), text


def test_the_agreed_day_said_again_keeps_its_time(engine):
    """"yes friday" of a payment on Friday at 9am was Friday at midnight."""
    agreed = [("amount", "45 USD"), ("merchant", "verizon"), ("date", "2026-12-11T09:00:00-05:00")]
    for text, spans in (("yes friday", [("date", "friday")]), ("yes friday works", [])):
        turn = _turn(engine, text, "schedule_payment", "affirm", 0.9, None, spans, agreed,
                     zone="America/New_York", at=MONDAY_10AM)
        assert dict(turn.response.slots_used)["date"] == "2026-12-11T09:00:00-05:00", text


def test_a_number_after_a_verb_that_moves_money_is_its_amount_while_the_date_is_asked(engine):
    """"I'd like to pay 20" answering "When?" was the 20th; "no I said 15" still is the 15th."""
    asked = [("amount", "45 USD"), ("merchant", "verizon")]
    paid = _turn(engine, "I'd like to pay 20", "schedule_payment", "affirm", 0.9, None, [], asked,
                 zone="America/New_York", at=MONDAY_10AM, missing=["date"])
    assert dict(paid.response.slots_used)["amount"] == "20 USD" and paid.response.slots_missing == ["date"]
    day = _turn(engine, "no I said 15", "schedule_payment", "deny", 0.9, None, [], asked,
                zone="America/New_York", at=MONDAY_10AM, missing=["date"])
    assert dict(day.response.slots_used)["date"] == "2026-12-15T00:00:00-05:00"


@pytest.mark.parametrize("text", ["yes, thanks a million", "yes a million thanks"])
def test_thanks_a_million_is_no_amount(engine, text):
    """It made the payment $1,000,000.00, read back; "make it a million" still is."""
    turn = _turn(engine, text, "schedule_payment", "affirm", 0.9, None, [], ON_FRIDAY,
                 zone="America/New_York", at=MONDAY_10AM)
    assert turn.follow_up.kind == "confirm" and dict(turn.response.slots_used) == dict(ON_FRIDAY)
    million = _turn(engine, "make it a million", "schedule_payment", "affirm", 0.9, None, [], ON_FRIDAY,
                    zone="America/New_York", at=MONDAY_10AM)
    assert dict(million.response.slots_used)["amount"] == "1000000 USD"


TRIP = [("city", "paris"), ("card", "visa_card"), ("date", "2026-12-20T00:00:00-05:00")]


@pytest.mark.parametrize("text", ["sure, right away", "can you do it now", "yes submit it now", "can you do it today"])
def test_a_time_to_act_is_no_date_of_a_fact(engine, text):
    """A trip's date is no time to act (the domain names a request's own with `when:`): "sure,
    right away" made the trip today's."""
    turn = _turn(engine, text, "travel_notice", "affirm", 0.9, None, [], TRIP, zone="America/New_York", at=MONDAY_10AM)
    assert turn.follow_up.kind == "confirm" and dict(turn.response.slots_used) == dict(TRIP), text
    said = _turn(engine, "no I said the 22nd", "travel_notice", "deny", 0.9, None, [], TRIP,
                 zone="America/New_York", at=MONDAY_10AM)  # a correction of the trip's date still is one
    assert dict(said.response.slots_used)["date"] == "2026-12-22T00:00:00-05:00"


def test_a_yes_asking_another_time_of_a_request_with_no_time_to_act_confirms_nothing(engine):
    """"can you do it sooner" of an account closed on the 31st dropped the date, which no prompt
    asks: the request is said again, its date kept."""
    closing = [("account", "savings"), ("date", "2026-12-31T00:00:00-05:00")]
    turn = _turn(engine, "can you do it sooner", "close_account", "affirm", 0.9, None, [], closing,
                 zone="America/New_York", at=MONDAY_10AM)
    assert turn.follow_up.kind == "repeat" and dict(turn.response.slots_used) == dict(closing)


@pytest.mark.parametrize("text, date", [("it's right now", "2026-12-07T10:00:00-05:00"),
                                        ("yes thanks that's it for now", "2026-12-11T00:00:00-05:00"),
                                        ("yes, 10-4", "2026-12-11T00:00:00-05:00"),
                                        ("yes thanks, enjoy your evening", "2026-12-11T00:00:00-05:00")])
def test_now_and_for_now(engine, text, date):
    """"it's right now" is now; "that's it for now" was now too (it is a yes)."""
    turn = _turn(engine, text, "schedule_payment", "affirm", 0.9, None, [], ON_FRIDAY,
                 zone="America/New_York", at=MONDAY_10AM)
    assert dict(turn.response.slots_used)["date"] == date


def test_the_agreed_day_said_again_is_read_in_its_own_zone(engine):
    """An agreed 03:00 UTC on the 11th is Thursday evening in New York: "yes friday" is Friday."""
    agreed = [("amount", "45 USD"), ("merchant", "verizon"), ("date", "2026-12-11T03:00:00+00:00")]
    turn = _turn(engine, "yes friday", "schedule_payment", "affirm", 0.9, None, [("date", "friday")], agreed,
                 zone="America/New_York", at=MONDAY_10AM)
    assert dict(turn.response.slots_used)["date"] == "2026-12-11T00:00:00-05:00"


def test_a_domain_that_names_no_time_to_act_reads_each_date_ahead_as_one(engine):
    """Without `when:` (a domain written before it), "yes now" of a payment on Friday moves it to
    now, as it did, and is never a CONFIRM of Friday."""
    from intentd.server.escalation import EscalationPolicy
    from intentd.server.followup import FollowUps

    domain = yaml.safe_load((Path(__file__).resolve().parents[1] / "models/domains/banking/domain.yaml").read_text())
    for spec in domain["intents"].values():
        spec.pop("when", None)
    follow_ups = FollowUps(domain, engine.resolver, engine.responder, EscalationPolicy(domain))
    from intentd.server.analysis import Escalation
    from intentd.server.decode import Prediction

    options = RequestOptions(previous_intent="schedule_payment", filled_slots=tuple(sorted(ON_FRIDAY)),
                             time_zone="America/New_York", reference_time=MONDAY_10AM)
    for text in ("yes now", "yes do it now", "can you do it tomorrow"):
        entities = engine.resolver.resolve(text, [], options, "affirm")
        turn = follow_ups.resolve(text, Prediction([("affirm", 0.9)], [], 0.0), entities, Escalation(), options)
        assert turn.follow_up.kind == "update" and dict(turn.response.slots_used)["date"] != dict(ON_FRIDAY)["date"], text


@pytest.mark.parametrize("previous, slots, text", [
    ("block_card", [("card", "debit_card")], "yes the card ending in 4321"),
    ("block_card", [("card", "debit_card")], "yes the one on my checking"),
    ("block_card", [("card", "debit_card")], "yes someone used it this afternoon"),
    ("block_card", [("card", "debit_card")], "yes and one more question"),
    ("report_lost_card", [("card", "debit_card"), ("date", "2026-12-05T00:00:00-05:00")], "yes tomorrow works"),
    ("schedule_payment", ON_FRIDAY, "yes just like last month"),
    ("schedule_payment", ON_FRIDAY, "yes I'll check the app tomorrow"),
    ("schedule_payment", ON_FRIDAY, "yes 100 %"),
])
def test_a_yes_that_says_something_else_beside_it_confirms(engine, previous, slots, text):
    """Each was answered alone (or read a lost card's date tomorrow, a payment's last month): a
    card's last digits, the account a card is on, when it was used, what the caller will do."""
    turn = _turn(engine, text, previous, "affirm", 0.9, None, [], slots, zone="America/New_York", at=MONDAY_10AM)
    assert turn.follow_up.kind == "confirm" and dict(turn.response.slots_used) == dict(slots), text


@pytest.mark.parametrize("text", ["yes after thanksgiving", "yes the soonest you can", "yes push it back a day",
                                  "yes next business day"])
def test_more_ways_to_ask_another_time(engine, text):
    turn = _turn(engine, text, "schedule_payment", "affirm", 0.9, None, [], ON_FRIDAY,
                 zone="America/New_York", at=MONDAY_10AM)
    assert turn.follow_up.kind == "update" and turn.response.slots_missing == ["date"], text


@pytest.mark.parametrize("text, own, tags, kind, date, day", [
    # a weekday misspelt in a yes that asks another day: the date asked (each confirmed the agreed Friday)
    ("can you do it thursdy", "affirm", [], "update", None, None),
    ("make it thrusday", "affirm", [], "update", None, None),
    ("could you do it wensday", "affirm", [], "update", None, None),
    # ... but no word two edits from a six-letter weekday: "money" is no Monday
    ("yes send the money", "affirm", [], "confirm", "2026-12-11T09:00:00-05:00", None),
    # an hour after "at" or "by" is no amount (it was $5.00), and "by 5" of a date agreed no 5th (it
    # was Saturday the 5th): which five? asked, the agreed day kept for the answer
    ("yes friday but at 5", "affirm", [], "update", None, "2026-12-11T00:00:00-05:00"),
    ("can you do it by 5", "affirm", [], "update", None, "2026-12-11T00:00:00-05:00"),
    ("can you do it by the 15th", "affirm", [], "update", "2026-12-15T09:00:00-05:00", None),
    # a time with no half of the day before the agreed weekday, far from the agreed 9am: asked, the
    # day kept (it was 04:30); near it, that time
    ("make it 4.30 friday", "schedule_payment", [("date", "4.30 friday")], "update", None,
     "2026-12-11T00:00:00-05:00"),
    ("make it 10.30 friday", "schedule_payment", [("date", "10.30 friday")], "update", "2026-12-11T10:30:00-05:00",
     None),
    # a saying counts nothing (read back as $1.00), nor does a word one edit from a weekday's name
    ("yep I owe you one", "affirm", [], "confirm", "2026-12-11T09:00:00-05:00", None),
    ("yes the sundae one", "affirm", [], "confirm", "2026-12-11T09:00:00-05:00", None),
    # another weekday with an hour asked: that day kept (the agreed Friday was, for the answer "5pm")
    ("yes monday but at 5", "affirm", [], "update", None, "2026-12-07T00:00:00-05:00"),
])
def test_a_yes_reads_misspelt_days_hours_and_sayings_as_said(engine, text, own, tags, kind, date, day):
    """What the last audits left: yeses that confirmed the agreed day, or read an hour or a saying
    as an amount or a day."""
    turn = _turn(engine, text, "schedule_payment", own, 0.9, None, tags, AGREED_9AM, zone="America/New_York",
                 at=FRIDAY_10AM)
    used = dict(turn.response.slots_used)
    assert (turn.follow_up.kind, used["amount"], used.get("date"), used.get("date.day")) == (kind, "45 USD", date, day)
    assert list(turn.response.slots_missing) == ([] if date else ["date"])


def test_what_the_audit_of_those_rules_found(engine):
    """A first version of the rules above: "make it 4, sure" confirmed $45 (its "4 sure" read as a
    transcript's "for sure"); a long yes saying when of a request with no date asked ("yes please
    can you do it tomorrow for me" of a bill paid now) confirmed it; a change by an amount with
    the hour asked ("make it cheaper by 5") confirmed the amount kept."""
    turn = _turn(engine, "make it 4, sure", "schedule_payment", "affirm", 0.99, None, (), AGREED_9AM,
                 zone="America/New_York", at=FRIDAY_10AM)
    assert turn.follow_up.kind == "update" and dict(turn.response.slots_used)["amount"] == "4 USD"
    bill = [("amount", "45 USD"), ("merchant", "verizon"), ("account", "checking")]
    for text, previous, carried in (("yes please can you do it tomorrow for me", "pay_bill", bill),
                                    ("yes please go ahead and freeze it tomorrow morning", "block_card",
                                     [("card", "credit_card")])):
        turn = _turn(engine, text, previous, "affirm", 0.95, None, (), carried, zone="America/New_York",
                     at=FRIDAY_10AM)
        assert (turn.follow_up.kind, dict(turn.response.slots_used)) == ("repeat", dict(carried)), text
        assert turn.response.template_id.startswith(f"{previous}.response"), text
    day_kept = [("amount", "45 USD"), ("merchant", "verizon"), ("date.day", "2026-12-11T00:00:00-05:00")]
    for text in ("make it cheaper by 5", "yes but go over by 5"):  # how much? asked (it was $5.00, then a confirm)
        turn = _turn(engine, text, "schedule_payment", "affirm", 0.95, None, (), day_kept, zone="America/New_York",
                     at=FRIDAY_10AM, missing=["date"])
        assert turn.follow_up.kind == "update" and turn.response.template_id == "schedule_payment.prompt.amount", text
        assert dict(turn.response.slots_used)["date.day"] == "2026-12-11T00:00:00-05:00", text


def test_a_yes_naming_a_card_the_model_did_not_tag_of_a_transfer_confirms_nothing(engine):
    """"yes debit" after a transfer between accounts, "debit" untagged (a word the resolver reads
    as a card only after "my", "the" ...), confirmed the transfer: a card is no part of it, so the
    transfer is said again (REPEAT). Of a bill, whose card is a slot, it is the card."""
    transfer = [("account", "checking,savings"), ("account.destination", "savings"), ("account.source", "checking"),
                ("amount", "50 USD")]
    for text in ("yes debit", "yes the bank card", "ok visa"):
        turn = _turn(engine, text, "transfer_money", "affirm", 0.95, None, (), transfer)
        assert (turn.follow_up.kind, dict(turn.response.slots_used)) == ("repeat", dict(transfer)), text
    for text in ("yes please", "yes savings is right", "sure, checking to savings"):  # the transfer's own words
        turn = _turn(engine, text, "transfer_money", "affirm", 0.95, None, (), transfer)
        assert turn.follow_up.kind in ("confirm", "update") and turn.follow_up.kind != "repeat", text
    bill = [("amount", "45 USD"), ("merchant", "verizon")]
    turn = _turn(engine, "yes debit", "pay_bill", "affirm", 0.95, None, (), bill)
    assert turn.follow_up.kind == "update" and dict(turn.response.slots_used)["card"] == "debit_card"


@pytest.mark.parametrize("text, own, tags", [
    ("yes push it back to monday at 4pm please if you can", "affirm", [("date", "monday at 4pm")]),
    ("no I want it to go on monday at 4pm if you can", "deny", [("date", "monday at 4pm")]),
])
def test_a_long_yes_or_no_that_changes_a_value_is_read_back(engine, text, own, tags):
    """A turn over six words that is more than values ("... if you can") was answered alone: the
    affirm intent's words thanked the caller for confirming, and the payment stayed on Friday. A
    confident yes or no whose values are all the previous intent's changes them (read back,
    nothing confirmed)."""
    turn = _turn(engine, text, "schedule_payment", own, 0.95, None, tags, AGREED_9AM, zone="America/New_York",
                 at=FRIDAY_10AM)
    assert turn.follow_up.kind == "update"
    assert dict(turn.response.slots_used) == {"amount": "45 USD", "merchant": "verizon",
                                              "date": "2026-12-07T16:00:00-05:00"}



def test_a_yes_saying_the_agreed_values_again_confirms_them(engine):
    """"yes checking to savings" after a transfer from checking to savings, and "yes friday works"
    of a payment on Friday at 9am, were read back (UPDATE) with nothing changed: the caller was
    asked to agree to what it had just agreed to; "yes checking to savings" also lost its source
    ("checking" had no word before it). A yes that changes a value is still read back."""
    transfer = [("account", "checking,savings"), ("account.destination", "savings"), ("account.source", "checking"),
                ("amount", "50 USD")]
    turn = _turn(engine, "yes checking to savings", "transfer_money", "affirm", 0.95, None,
                 [("account", "checking"), ("account", "savings")], transfer)
    assert turn.follow_up.kind == "confirm" and dict(turn.response.slots_used) == dict(transfer)
    turn = _turn(engine, "no, joint to savings", "transfer_money", "deny", 0.95, None,
                 [("account", "joint"), ("account", "savings")], transfer)
    assert turn.follow_up.kind == "update" and dict(turn.response.slots_used) == {
        "amount": "50 USD", "account": "joint,savings", "account.source": "joint", "account.destination": "savings"}
    wednesday = dt.datetime(2026, 12, 9, 15, tzinfo=dt.timezone.utc)  # the agreed Friday is that week's
    turn = _turn(engine, "yes friday works", "schedule_payment", "affirm", 0.95, None, [("date", "friday")],
                 AGREED_9AM, zone="America/New_York", at=wednesday)
    assert turn.follow_up.kind == "confirm" and dict(turn.response.slots_used) == dict(AGREED_9AM)
    turn = _turn(engine, "yes but make it 60", "schedule_payment", "affirm", 0.95, None, [("amount", "60")],
                 AGREED_9AM, zone="America/New_York", at=FRIDAY_10AM)
    assert turn.follow_up.kind == "update" and dict(turn.response.slots_used)["amount"] == "60 USD"


@pytest.mark.parametrize("text, previous, tags", [
    ("yes 50 to savings cancel it", "transfer_money", [("amount", "50"), ("account", "savings")]),
    ("yes checking to savings double it", "transfer_money", [("account", "checking"), ("account", "savings")]),
    ("yes from checking?", "transfer_money", [("account", "checking")]),
    ("yes from checking the whole balance", "transfer_money", [("account", "checking")]),
    ("yes checking to savings but I'll confirm later", "transfer_money", [("account", "checking"),
                                                                          ("account", "savings")]),
    ("yes 50 to savings, never mind", "transfer_money", [("amount", "50"), ("account", "savings")]),
    ("yes debit, to savings", "transfer_money", [("account", "savings")]),
    ("yes 45 canadian", "schedule_payment", []),
    ("yes 45 on friday hold on", "schedule_payment", [("amount", "45"), ("date", "friday")]),
    ("sure 45 to verizon and att", "schedule_payment", [("amount", "45"), ("merchant", "verizon")]),
    ("yes friday the 18th", "report_lost_card", [("date", "friday"), ("date", "18th")]),
])
def test_a_yes_that_says_more_than_the_agreed_values_confirms_nothing(engine, text, previous, tags):
    """What an audit of the rule above found (each was a CONFIRM of the agreed request): a yes
    that says the agreed values and also cancels, asks, adds, or says what no rule reads."""
    carried = {"transfer_money": [("account", "checking,savings"), ("account.destination", "savings"),
                                  ("account.source", "checking"), ("amount", "50 USD")],
               "schedule_payment": AGREED_9AM,
               "report_lost_card": [("card", "debit_card")]}[previous]
    turn = _turn(engine, text, previous, "affirm", 0.95, None, tags, carried, zone="America/New_York",
                 at=FRIDAY_10AM)
    assert turn is None or turn.follow_up.kind != "confirm", (turn.follow_up, dict(turn.response.slots_used))


def test_a_long_yes_naming_only_the_requests_values_and_more_is_said_again(engine):
    """"yes 50 to savings but make it 60" with "60" untagged, after a transfer of $50 to savings:
    answered alone, the affirm intent's words thanked the caller for confirming (the backend got
    no follow-up). The request is said again (REPEAT); a yes naming what the request has no slot
    for ("... and also pay my verizon bill") is still a request of its own."""
    carried = [("account", "checking,savings"), ("account.destination", "savings"), ("account.source", "checking"),
               ("amount", "50 USD")]
    turn = _turn(engine, "yes 50 to savings but make it 60", "transfer_money", "affirm", 0.9, None,
                 [("amount", "50"), ("account", "savings")], carried)
    assert (turn.follow_up.kind, dict(turn.response.slots_used)) == ("repeat", dict(carried))
    assert _turn(engine, "yes please and also pay my verizon bill", "transfer_money", "affirm", 0.9, None,
                 [("merchant", "verizon")], carried) is None
