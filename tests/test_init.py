"""`intentd init DIR`: the template it writes is accepted as it is by `intentd data import --strict`
and by the checks `intentd train` makes before training, and it never overwrites a file."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import yaml

from intentd.cli import main
from intentd.models.data.checks import check_training_data
from intentd.models.data.domain import load_domain


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_init_writes_a_commented_domain_and_sample_data(tmp_path, capsys):
    folder = tmp_path / "Pet Shop"
    code, out, err = cli(capsys, "init", folder)
    assert (code, err) == (0, "")
    assert sorted(p.name for p in folder.iterdir()) == ["domain.yaml", "train.jsonl"]
    assert f"wrote {folder / 'domain.yaml'}" in out and "intentd data import --format jsonl" in out
    text = (folder / "domain.yaml").read_text(encoding="utf-8")
    assert sum(line.lstrip().startswith("#") for line in text.splitlines()) >= 10  # commented
    domain = yaml.safe_load(text)
    assert domain["name"] == "pet_shop"
    assert {"intents", "entities", "escalation"} <= set(domain)
    kinds = {spec["kind"] for spec in domain["entities"].values()}
    assert {"catalog", "builtin", "pattern"} <= kinds
    assert any(spec.get("escalate") for spec in domain["intents"].values())

    cli(capsys, "init", tmp_path / "other", "--name", "support")
    assert yaml.safe_load((tmp_path / "other" / "domain.yaml").read_text(encoding="utf-8"))["name"] == "support"


def test_template_imports_strictly_and_passes_the_checks_train_makes(tmp_path, capsys):
    """What `intentd train` runs on the domain before training (models/build.py `load_splits`,
    `_check_domain`: the server's template and resolver validation, against the model's intents)."""
    from intentd.models.build import _check_domain, load_splits

    cli(capsys, "init", tmp_path / "shop")
    code, out, err = cli(capsys, "data", "import", "--format", "jsonl", tmp_path / "shop", "--out", tmp_path / "data",
                         "--strict")
    assert (code, err) == (0, "") and "warning" not in out
    assert "domain.yaml: copied" in out

    data = tmp_path / "data"
    splits = load_splits(data)
    domain = load_domain(data / "domain.yaml")
    intents = {ex.intent for ex in splits["train"] if not ex.ood}
    assert intents == set(domain["intents"])
    assert sum(ex.ood for ex in splits["train"]) >= 5  # out-of-scope examples to calibrate on
    _check_domain(domain, data / "domain.yaml", intents)
    assert check_training_data(splits, domain, data / "domain.yaml", strict=True) == []


def test_template_domain_resolves_and_responds(tmp_path, capsys):
    """The sample's entity types resolve, and a request that names its order gets the response."""
    from intentd.server.analysis import Escalation, RequestOptions
    from intentd.server.respond import Responder

    cli(capsys, "init", tmp_path / "shop")
    domain = load_domain(tmp_path / "shop" / "domain.yaml")
    responder = Responder(domain)
    options = RequestOptions(reference_time=dt.datetime(2026, 11, 29, 12, tzinfo=dt.timezone.utc))
    text = "where is my order sh-204817"
    entities = responder.resolver.resolve(text, [], options, intent="track_order")
    assert [(e.type, e.resolution) for e in entities] == [("order_id", {"kind": "pattern", "value": "SH204817"})]
    reply = responder.respond("track_order", entities, Escalation(False, None, None, {}, ""), options)
    assert reply.text.startswith("Order SH204817 is on its way")
    reply = responder.respond("track_order", [], Escalation(False, None, None, {}, ""), options)
    assert reply.template_id == "track_order.prompt.order_id"

    entities = responder.resolver.resolve("can I send back the Trainers", [], options, intent="return_item")
    assert [(e.type, e.resolution["id"]) for e in entities] == [("product", "running_shoes")]
    reply = responder.respond("return_item", entities, Escalation(False, None, None, {}, ""), options)
    assert reply.template_id == "return_item.response.1" and "order" not in reply.text
    text = "can I send back the Trainers from sh-204817"  # the optional order read back when said
    entities = responder.resolver.resolve(text, [], options, intent="return_item")
    reply = responder.respond("return_item", entities, Escalation(False, None, None, {}, ""), options)
    assert (reply.template_id, reply.text.split(" within")[0]) == (
        "return_item.response.0", "You can return your Running shoes from order SH204817")


def test_init_never_overwrites(tmp_path, capsys):
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "train.jsonl").write_text("mine\n", encoding="utf-8")
    code, out, err = cli(capsys, "init", folder)
    assert code == 2 and out == ""
    assert err == f"intentd: error: {folder / 'train.jsonl'}: already exists; intentd init never overwrites a file " \
                  f"(choose another folder or move it away)\n"
    assert (folder / "train.jsonl").read_text(encoding="utf-8") == "mine\n"
    assert not (folder / "domain.yaml").exists()  # nothing written when anything is in the way

    (tmp_path / "file").write_text("x", encoding="utf-8")
    code, _, err = cli(capsys, "init", tmp_path / "file")
    assert code == 2 and "is not a folder" in err


def test_the_next_commands_can_be_pasted_into_a_shell(tmp_path, capsys):
    import shlex

    folder = tmp_path / "My Shop!"
    code, out, _ = cli(capsys, "init", folder)
    assert code == 0
    commands = [shlex.split(line) for line in out.splitlines() if line.startswith("  intentd ")]
    assert commands[0] == ["intentd", "data", "import", "--format", "jsonl", str(folder), "--out", str(folder / "data")]
    assert commands[1] == ["intentd", "train", "--data", str(folder / "data"), "--out", str(folder / "artifact")]


def test_a_yes_no_question_no_intent_answers_is_warned_of_and_a_short_valid_split_noted(tmp_path, capsys):
    """The starter's cancel_order asked "Shall I go ahead?" with no affirm or deny in its data: a
    caller's "yes" came back as a greeting at confidence 1.000. The starter now teaches both; a
    domain without them is warned, naming the intent's line (an open question is not)."""
    src = tmp_path / "shop"
    cli(capsys, "init", src)
    code, out, _ = cli(capsys, "data", "import", "--format", "jsonl", src, "--out", tmp_path / "data")
    assert code == 0
    # 10 % of 92 examples: too few to hold a 5 % budget at 90 % confidence, said as a note
    assert ("note: the valid split has 8 in-scope example(s); holding a 5 % escalation budget with 90 % confidence "
            "needs at least 45") in out

    lines = (src / "train.jsonl").read_text(encoding="utf-8").splitlines()
    (src / "train.jsonl").write_text("".join(line + "\n" for line in lines
                                             if '"affirm"' not in line and '"deny"' not in line), encoding="utf-8")
    domain = yaml.safe_load((src / "domain.yaml").read_text(encoding="utf-8"))
    del domain["intents"]["affirm"], domain["intents"]["deny"]
    (src / "domain.yaml").write_text(yaml.safe_dump(domain, sort_keys=False), encoding="utf-8")
    code, out, err = cli(capsys, "data", "import", "--format", "jsonl", src, "--out", tmp_path / "data2", "--strict")
    assert code == 2
    assert re.search(r"domain\.yaml:\d+: intent 'cancel_order''s response asks 'Shall I go ahead\?' but the data "
                     r"teaches no reply: follow_ups confirm \(affirm\) and cancel \(deny\) need training examples",
                     err), err
    assert "greeting" not in err  # "How can I help with your order today?" is answered by a request


def test_a_name_on_two_lines_is_refused(tmp_path, capsys):
    """A name goes into every log line and version string: a newline in it split log records."""
    code, _, err = cli(capsys, "init", tmp_path / "shop", "--name", "shop\nv2")
    assert code == 2 and "--name 'shop\\nv2': must be non-blank text on one line" in err
    assert not (tmp_path / "shop").exists()


@pytest.mark.parametrize("response, asks", [
    ("I can cancel it if it has not shipped yet. Shall I go ahead?", "Shall I go ahead?"),
    ("Shall I go ahead？", "Shall I go ahead？"),  # full-width
    ("Shall I cancel it? Reply YES or NO.", "Shall I cancel it?"),
    ('Would you like me to go ahead? 🙂', "Would you like me to go ahead?"),
    ("Hello! How can I help with your order today?", None),  # open: answered by a request
    ("Could you tell me your order number?", None),  # asks for a value
    ("Is it for your checking or your savings account?", None),  # a choice
    ("Wie kann ich Ihnen helfen?", None),  # other languages are not read: --strict must not fail on them
    ("¿En qué puedo ayudarle?", None),
])
def test_a_yes_no_question_is_told_from_an_open_one(response, asks):
    from intentd.models.data.checks import _yes_no_question

    assert _yes_no_question(response) == asks
