"""domain.yaml keys are checked against one declared schema (server/domain_schema.py): a key
intentd does not read is a warning naming the file, the line and the closest known key (`--strict`
refuses it), and a value of the wrong type or out of range is a one-line error naming the file and
line, at import, before training and when the server loads an artifact, never a traceback.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from intentd.cli import main
from intentd.models.data.checks import check_training_data
from intentd.models.data.domain import load_domain
from intentd.models.data.schema import DataError
from intentd.server import domain_schema

REPO = Path(__file__).resolve().parents[1]
BANKING = REPO / "models" / "domains" / "banking"

# line numbers matter: the tests below name them
DOMAIN = """\
name: shop
intents:
  track_order:
    slots: [order_id]
    required: [order_id]
    response: "Order {order_id} is on its way."
    prompts:
      order_id: "What is your order number?"
  greeting:
    response: "Hello!"
entities:
  order_id: {kind: pattern, pattern: '\\bSH\\d{6}\\b'}
  product:
    kind: catalog
    match_without_model: true
    fuzzy_cutoff: 85
    values:
      - id: shoes
        value: Running shoes
        synonyms: [running shoes, trainers]
  amount: {kind: builtin, builtin: money, default_currency: USD}
  phone: {kind: builtin, builtin: phone, default_region: US}
escalation:
  tiers: [frontier_standard, human]
  low_confidence_threshold: 0.5
"""


def rows() -> list[dict]:
    """Examples that fit DOMAIN exactly: no warning of any kind."""
    out = []
    for i in range(10):
        out.append({"text": f"where is order SH{100000 + i} now", "intent": "track_order"})
        text = f"hello {i} I paid $2{i} call me at +1 415 555 01{i:02d}"
        amount, phone = text.index("$"), text.index("+1")
        out.append({"text": text, "intent": "greeting", "entities": [
            {"start": amount, "end": amount + 3, "type": "amount"},
            {"start": phone, "end": len(text), "type": "phone"}]})
        out.append({"text": f"tell me joke number {i}", "ood": True})
    return out


def source(tmp_path: Path, domain: str) -> Path:
    folder = tmp_path / "src"
    folder.mkdir(exist_ok=True)
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows()), encoding="utf-8")
    (folder / "domain.yaml").write_text(domain, encoding="utf-8")
    return folder


def import_(capsys, src: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    code = main(["data", "import", "--format", "jsonl", str(src), "--out", str(out), *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def changed(old: str, new: str) -> str:
    assert old in DOMAIN, old
    return DOMAIN.replace(old, new, 1)


# ------------------------------------------------------------------------------------ no findings


def test_the_test_domain_imports_strictly(tmp_path, capsys):
    code, out, err = import_(capsys, source(tmp_path, DOMAIN), tmp_path / "out", "--strict")
    assert (code, err) == (0, "") and "warning" not in out


@pytest.mark.parametrize("path", [BANKING / "domain.yaml", REPO / "models" / "templates" / "domain.yaml"],
                         ids=["banking", "init-template"])
def test_bundled_domains_have_no_finding(path):
    domain = yaml.safe_load(path.read_text(encoding="utf-8").replace("__NAME__", "shop"))
    assert domain_schema.check(domain) == []


# ------------------------------------------------------------------------------------ unknown keys


TYPOS = [
    (('    response: "Hello!"', '    respnse: "Hello!"'), 10,
     "intents.greeting.respnse: unknown key, ignored (did you mean 'response'?)"),
    (("  low_confidence_threshold: 0.5", "  low_confidence_treshold: 0.9"), 25,
     "escalation.low_confidence_treshold: unknown key, ignored (did you mean 'low_confidence_threshold'?)"),
    (("  order_id: {kind: pattern,", "  order_id: {knd: pattern,"), 12,
     "entities.order_id.knd: unknown key, ignored (did you mean 'kind'?)"),
]


@pytest.mark.parametrize("change, line, message", TYPOS, ids=["respnse", "treshold", "knd"])
def test_a_misspelt_key_is_a_warning_with_the_closest_key(tmp_path, capsys, change, line, message):
    src = source(tmp_path, changed(*change))
    code, out, err = import_(capsys, src, tmp_path / "out")
    assert (code, err) == (0, "")
    assert f"{src / 'domain.yaml'}:{line}: {message}" in out

    code, out, err = import_(capsys, src, tmp_path / "strict", "--strict")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"intentd: error: {src / 'domain.yaml'}:{line}: {message}")
    assert not (tmp_path / "strict").exists()


def test_an_intent_with_no_response_is_a_warning_naming_its_line(tmp_path, capsys):
    """A deleted `response:` line (or `greeting: {}`) was said nowhere, and every answer to the
    intent carried an empty response."""
    src = source(tmp_path, changed('    response: "Hello!"', "    description: says hello"))
    code, out, err = import_(capsys, src, tmp_path / "out")
    assert (code, err) == (0, "")
    assert f"{src / 'domain.yaml'}:9: intent 'greeting' has no response" in out
    code, out, err = import_(capsys, src, tmp_path / "strict", "--strict")
    assert code == 2 and "intent 'greeting' has no response" in err


def test_a_pattern_written_with_knd_is_free_and_its_regex_is_reported_ignored(tmp_path, capsys):
    src = source(tmp_path, changed("  order_id: {kind: pattern,", "  order_id: {knd: pattern,"))
    _, out, _ = import_(capsys, src, tmp_path / "out")
    assert ("entities.order_id.pattern: read only for kind: pattern, and this type has no kind (so it is free): "
            "ignored") in out


def test_an_option_of_another_kind_is_reported_ignored(tmp_path, capsys):
    src = source(tmp_path, changed("default_region: US}", "default_region: US, default_currency: EUR}"))
    code, out, _ = import_(capsys, src, tmp_path / "out")
    assert code == 0
    assert (f"{src / 'domain.yaml'}:22: entities.phone.default_currency: read only for builtin: money, "
            f"not phone: ignored") in out


def test_train_strict_refuses_an_unknown_key(tmp_path, capsys):
    """What `intentd train --strict` runs before training (models/build.py)."""
    from intentd.models.build import load_splits

    src = source(tmp_path, changed('    response: "Hello!"', '    respnse: "Hello!"'))
    assert import_(capsys, src, tmp_path / "data")[0] == 0
    path = tmp_path / "data" / "domain.yaml"
    splits, domain = load_splits(tmp_path / "data"), load_domain(path)
    lines = check_training_data(splits, domain, path)
    assert any("did you mean 'response'?" in line for line in lines)
    with pytest.raises(DataError, match=rf"^{path}:10: intents\.greeting\.respnse: unknown key"):
        check_training_data(splits, domain, path, strict=True)


# ------------------------------------------------------------------------------------ wrong types


WRONG = [
    (("  amount: {kind: builtin, builtin: money, default_currency: USD}", "  amount: money"), 21,
     "entities.amount must be a mapping (kind: catalog, builtin, pattern or free), got 'money'"),
    (("    required: [order_id]", "    required: 5"), 5, "intents.track_order.required must be a list"),
    (('    prompts:\n      order_id: "What is your order number?"', '    prompts: ["What is your order number?"]'), 7,
     "intents.track_order.prompts must be a mapping of slot -> prompt"),
    (("        synonyms: [running shoes, trainers]", "        synonyms: 5"), 20,
     "entities.product.values[0].synonyms must be a list of texts, got 5"),
    (("    fuzzy_cutoff: 85", "    fuzzy_cutoff: high"), 16,
     "entities.product.fuzzy_cutoff must be a number in [0, 100], got 'high'"),
    (("    slots: [order_id]", "    slots: 5"), 4, "intents.track_order.slots must be a list"),
    (("    fuzzy_cutoff: 85", "    fuzzy_cutoff: -5"), 16,
     "entities.product.fuzzy_cutoff must be a number in [0, 100], got -5"),
    (("    match_without_model: true", '    match_without_model: "no"'), 15,
     "entities.product.match_without_model must be true or false, got 'no'"),
    (("escalation:\n  tiers: [frontier_standard, human]\n  low_confidence_threshold: 0.5\n", "escalation: []\n"), 23,
     "escalation must be a mapping"),
    (("name: shop", "name: [a, b]"), 1, "name must be text"),
    (("name: shop", 'name: "shop\\nv2"'), 1, "name must be text on one line"),
    (("default_currency: USD", "default_currency: DOLLARS"), 21,
     "entities.amount.default_currency must be an ISO 4217 currency code (e.g. USD, EUR), got 'DOLLARS'"),
    (("default_region: US", "default_region: XX"), 22, "entities.phone.default_region must be a region code"),
    (("        synonyms: [running shoes, trainers]", "        synonyms: [running shoes, yes]"), 20,
     "entities.product.values[0].synonyms[1] must be text (quote it), got True"),
    (("  low_confidence_threshold: 0.5", "  low_confidence_threshold:"), 25,
     "escalation.low_confidence_threshold must be a number in [0, 1], got nothing"),
    (('    response: "Order {order_id} is on its way."', '    response:\n      - "Order {order_id} is on its way."\n'
                                                         '      -'), 6,
     "intents.track_order.response: entry [1] must be text (a template), got nothing"),
    (('    response: "Order {order_id} is on its way."', "    response: []"), 6,
     "intents.track_order.response: an empty list"),
    # a pasted paragraph: a 2,000-character synonym crashed the checks and the server (RecursionError)
    (("        synonyms: [running shoes, trainers]", f"        synonyms: [running shoes, {'x' * 2000}]"), 20,
     "entities.product.values[0].synonyms[1]: 2,000 characters: a name a caller says is at most 200"),
    # 200 ligatures are 600 characters to the matcher: it crashed as a 2,000-character one did
    (("        synonyms: [running shoes, trainers]", f"        synonyms: [running shoes, {'ﬃ' * 200}]"), 20,
     "entities.product.values[0].synonyms[1]: 600 characters once folded for matching"),
]
WRONG_IDS = ["entity-as-string", "required-int", "prompts-list", "synonyms-int", "cutoff-text", "slots-int",
             "cutoff-negative", "match-string", "escalation-list", "name-list", "name-newline", "currency", "region",
             "synonym-bool", "threshold-empty", "response-entry-empty", "response-empty-list", "synonym-paragraph",
             "synonym-ligatures"]


@pytest.mark.parametrize("change, line, message", WRONG, ids=WRONG_IDS)
def test_a_wrong_type_is_an_error_naming_file_and_line(tmp_path, change, line, message):
    path = tmp_path / "domain.yaml"
    path.write_text(changed(*change), encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_domain(path)
    assert str(info.value).startswith(f"{path}:{line}: {message}")
    assert "\n" not in str(info.value)


def test_every_wrong_value_is_counted(tmp_path):
    path = tmp_path / "domain.yaml"
    text = changed("    fuzzy_cutoff: 85", "    fuzzy_cutoff: high").replace("USD", "DOLLARS")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_domain(path)
    assert str(info.value).startswith(f"{path}:16: entities.product.fuzzy_cutoff must be")
    assert str(info.value).endswith(" (and 1 more problem(s) in this file)")


def test_cli_names_domain_yaml_and_line_in_one_line(tmp_path):
    """The installed command, as a user runs it: exit 2, one line, no traceback."""
    intentd = next((p for p in (Path(sys.executable).parent / "intentd", REPO / ".venv" / "bin" / "intentd")
                    if p.exists()), None)
    if intentd is None:
        pytest.skip("no installed intentd command (pip install -e .)")
    src = source(tmp_path, changed("    fuzzy_cutoff: 85", "    fuzzy_cutoff: high"))
    command = [str(intentd), "data", "import", "--format", "jsonl", str(src), "--out", str(tmp_path / "out")]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    assert proc.stderr == (f"intentd: error: {src / 'domain.yaml'}:16: entities.product.fuzzy_cutoff must be a number "
                           f"in [0, 100], got 'high'\n")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------ read once, meant once


CLASHES = [
    # a second block of an intent would silently replace the first, slots and all
    (("  greeting:\n", '  greeting:\n    response: "Hi"\n  greeting:\n'), 11,
     "invalid YAML: duplicate key 'greeting' (first at line 9; YAML would keep only the last)"),
    (('    response: "Hello!"', '    response: "Hello!"\n    response: "Hi!"'), 11,
     "invalid YAML: duplicate key 'response' (first at line 10"),
    (("        synonyms: [running shoes, trainers]",
      "        synonyms: [running shoes, trainers]\n      - id: shoes\n        value: Sneakers"), 21,
     "entities.product.values[1].id: 'shoes' is also the id of values[0] (each entry needs its own id)"),
    (("        synonyms: [running shoes, trainers]",
      "        synonyms: [running shoes, trainers]\n      - id: sneakers\n        synonyms: [sneakers, Trainers]"),
     22, "entities.product.values[1].synonyms[1]: 'Trainers' also names values[0] (as the resolver compares "
         "names): which entry it means is ambiguous"),
    # an id that is another entry's synonym: "trainers" went to one entry, "Trainers" to the other
    (("        synonyms: [running shoes, trainers]",
      "        synonyms: [running shoes, trainers]\n      - id: trainers\n        value: Training shoes"),
     21, "entities.product.values[1].id: 'trainers' also names values[0] (as the resolver compares names)"),
    # an intent the follow-up rules name that the domain lacks: it stopped a build after its training
    (("escalation:\n", "follow_ups:\n  confirm: [greeting, yes_please]\nescalation:\n"), 24,
     "follow_ups.confirm: unknown intent(s) yes_please"),
]


@pytest.mark.parametrize("change, line, message", CLASHES,
                         ids=["intent-twice", "key-twice", "id-twice", "synonym-twice", "id-is-a-synonym",
                              "follow-up-unknown"])
def test_a_key_id_or_synonym_given_twice_is_an_error_naming_the_line(tmp_path, capsys, change, line, message):
    path = tmp_path / "domain.yaml"
    path.write_text(changed(*change), encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_domain(path)
    assert str(info.value).startswith(f"{path}:{line}: {message}")
    src = source(tmp_path, changed(*change))  # an error at import even without --strict, and nothing written
    code, out, err = import_(capsys, src, tmp_path / "data")
    assert code == 2 and out == "" and err.startswith(f"intentd: error: {src / 'domain.yaml'}:{line}: {message}")
    assert not (tmp_path / "data").exists()


def test_train_refuses_a_duplicate_key_before_training(tmp_path, capsys):
    src = source(tmp_path, DOMAIN)
    assert import_(capsys, src, tmp_path / "data")[0] == 0
    path = tmp_path / "data" / "domain.yaml"
    path.write_text(changed('    response: "Hello!"', '    response: "Hello!"\n    response: "Hi!"'), encoding="utf-8")
    code = main(["train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "art"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and not (tmp_path / "art").exists()
    assert err.startswith(f"intentd: error: {path}:11: invalid YAML: duplicate key 'response'")


def test_merge_keys_may_still_be_overridden():
    assert domain_schema.load_yaml("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  x: 3\n") == {
        "base": {"x": 1, "y": 2}, "d": {"x": 3, "y": 2}}


# ------------------------------------------------------------------------------------ the server


def artifact_with_domain(source: Path, tmp_path: Path, edit) -> Path:
    """The suite's banking artifact with its domain.yaml changed by `edit(text)`, re-hashed as
    `intentd train` writes it. Large files are hard links: only domain.yaml is rewritten, after
    unlinking it, and manifest.json is replaced, so the original artifact is never touched."""
    from intentd.models.build import write_manifest

    def link_or_copy(src, dst):
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    art = tmp_path / "artifact"
    shutil.copytree(source, art, copy_function=link_or_copy)
    text = (art / "domain.yaml").read_text(encoding="utf-8")
    (art / "domain.yaml").unlink()
    (art / "domain.yaml").write_text(edit(text), encoding="utf-8")
    write_manifest(art, json.loads((art / "manifest.json").read_text()))
    return art


def test_an_artifact_with_a_wrong_type_fails_to_load_naming_domain_yaml(banking_artifact, tmp_path):
    from intentd.server.artifact import ArtifactError
    from intentd.server.engine import Engine

    before = (banking_artifact / "domain.yaml").read_bytes()
    art = artifact_with_domain(banking_artifact, tmp_path, lambda t: t.replace("  date: {kind: builtin, builtin: datetime}",
                                                             "  date: datetime", 1))
    line = (art / "domain.yaml").read_text(encoding="utf-8").splitlines().index("  date: datetime") + 1
    with pytest.raises(ArtifactError) as info:
        Engine.load(art)
    assert str(info.value) == (f"{art / 'domain.yaml'}:{line}: entities.date must be a mapping "
                               f"(kind: catalog, builtin, pattern or free), got 'datetime'")
    assert (banking_artifact / "domain.yaml").read_bytes() == before


def test_an_artifact_with_an_unknown_key_loads_with_a_warning(banking_artifact, tmp_path, caplog):
    """An artifact written by a newer intentd may carry keys this one does not read."""
    from intentd.server.engine import Engine

    added = "  cost_per_call: {human: 5}"
    art = artifact_with_domain(banking_artifact, tmp_path, lambda t: t.replace("  budget_confidence: 0.9\n",
                                                             f"  budget_confidence: 0.9\n{added}\n", 1))
    line = (art / "domain.yaml").read_text(encoding="utf-8").splitlines().index(added) + 1
    with caplog.at_level(logging.WARNING, logger="intentd.server.engine"):
        engine = Engine.load(art)
        Engine.load(art)  # a build loads its artifact several times: the warning is said once
    assert engine.escalation.tiers["low_confidence"] == "frontier_standard"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [w for w in warnings if "cost_per_call" in w] == [
        f"{art / 'domain.yaml'}:{line}: escalation.cost_per_call: unknown key, ignored (the keys read here: tiers, "
        f"out_of_distribution, low_confidence, ambiguous, low_confidence_threshold, ambiguity_margin, "
        f"handoff_response, target_false_escalation_rate, budget_confidence)"]


def test_an_artifact_with_a_catalog_id_twice_fails_to_load_naming_the_line(banking_artifact, tmp_path):
    from intentd.server.artifact import ArtifactError
    from intentd.server.engine import Engine

    art = artifact_with_domain(banking_artifact, tmp_path, lambda t: t.replace("      - id: savings", "      - id: checking", 1))
    lines = (art / "domain.yaml").read_text(encoding="utf-8").splitlines()
    line = [i for i, text in enumerate(lines, 1) if text == "      - id: checking"][1]
    with pytest.raises(ArtifactError) as info:
        Engine.load(art)
    assert str(info.value).startswith(f"{art / 'domain.yaml'}:{line}: entities.account.values[")
    assert "'checking' is also the id of values[0]" in str(info.value)


def test_model_info_lists_the_types_found_without_the_model(banking_artifact, tmp_path):
    """A catalog with `match_without_model` needs no training spans: Analyze returns its type, so
    GetModelInfo's entity types must name it, as they name the domain's pattern types."""
    from intentd.server import convert
    from intentd.server.engine import Engine

    branch = ("  branch:\n    kind: catalog\n    match_without_model: true\n    values:\n"
              "      - id: downtown\n        value: Downtown branch\n")
    art = artifact_with_domain(banking_artifact, tmp_path, lambda t: t.replace("entities:\n", "entities:\n" + branch, 1))
    engine = Engine.load(art)
    info = convert.model_info(engine, 2000)
    assert engine.analyze(["is the downtown branch open"])[0].entities[0].type == "branch"
    assert {"branch", "account_number", "reference"} <= set(info.entity_types)
