"""Importers: hand-written edge cases, plus the real public data sets when ../shared is present.

Every error test checks that the message names the file and the line (or JSON key and index),
because that is what a person needs to fix the data.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intentd.models.data.importers import (
    FORMATS,
    ImportResult,
    bio_to_spans,
    format_summary,
    import_data,
    write_splits,
)
from intentd.models.data.checks import check_examples
from intentd.models.data.schema import SPLITS, DataError, Example, Span, read_jsonl
from intentd.models.data.splits import stratified_split

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


# ------------------------------------------------------------------------------------ helpers


def write_bio(folder: Path, rows: list[tuple[str, str, str]], newline: str = "\n") -> Path:
    """rows: (seq.in line, seq.out line, label line)."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(("seq.in", "seq.out", "label")):
        text = "".join(row[index] + newline for row in rows)
        (folder / name).write_bytes(text.encode("utf-8"))
    return folder


def bio_corpus(root: Path, train, dev=None, test=None, dev_name: str = "dev") -> Path:
    write_bio(root / "train", train)
    if dev is not None:
        write_bio(root / dev_name, dev)
    if test is not None:
        write_bio(root / "test", test)
    return root


ROW = ("play jazz", "O B-genre", "PlayMusic")


def error_of(fn, *args, **kwargs) -> DataError:
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    return info.value


def many(intents: dict[str, int], ood: int = 0) -> list[Example]:
    out = [Example(f"{name} utterance {i}", name) for name, n in intents.items() for i in range(n)]
    out += [Example(f"something else {i}", None, ood=True) for i in range(ood)]
    return out


# ------------------------------------------------------------------------------------ bio


def test_bio_unicode_offsets_are_code_points(tmp_path):
    cafe = "cafe\u0301"  # combining acute accent: 5 code points
    rows = [
        (f"play 😀 {cafe} 東京 tower", "O B-emoji B-place I-place I-place", "Play"),
        ("ab cd ef", "B-x I-x O", "Other"),
        ("10\u00a0€ now", "B-amount O", "Pay"),  # a no-break space stays inside its token
    ]
    result = import_data("bio", bio_corpus(tmp_path, rows, dev=rows, test=rows))
    first, second, third = result.splits["train"]
    assert first.text == f"play 😀 {cafe} 東京 tower"
    assert first.entities == (Span(5, 6, "emoji"), Span(7, 21, "place"))
    assert [first.span_text(s) for s in first.entities] == ["😀", f"{cafe} 東京 tower"]
    assert second.entities == (Span(0, 5, "x"),) and second.span_text(second.entities[0]) == "ab cd"
    assert third.span_text(third.entities[0]) == "10\u00a0€"
    assert result.carved == []


def test_bio_trailing_spaces_crlf_and_bom(tmp_path):
    folder = tmp_path / "train"
    write_bio(folder, [("  play   jazz ", "O B-genre ", "PlayMusic ")], newline="\r\n")
    (folder / "seq.in").write_bytes(b"\xef\xbb\xbf" + (folder / "seq.in").read_bytes())
    ex = import_data("bio", folder).splits["train"]
    assert len(ex) == 1 and ex[0].text == "play jazz" and ex[0].intent == "PlayMusic"
    assert ex[0].span_text(ex[0].entities[0]) == "jazz"


def test_bio_ood_label(tmp_path):
    rows = [ROW, ("tell me a joke", "O O O O", "oos"), ("what now", "O O", "none")]
    result = import_data("bio", bio_corpus(tmp_path, rows, dev=rows, test=rows))
    assert [ex.ood for ex in result.splits["train"]] == [False, True, False]
    custom = import_data("bio", tmp_path, ood_label="none").splits["test"]
    assert [ex.ood for ex in custom] == [False, False, True]
    assert custom[1].intent == "oos"


def test_bio_misaligned_line_counts(tmp_path):
    folder = write_bio(tmp_path / "train", [ROW, ROW, ROW])
    (folder / "seq.out").write_text("O B-genre\nO B-genre\n", encoding="utf-8")
    err = error_of(import_data, "bio", folder)
    assert err.path == str(folder / "seq.out") and err.line == 3
    assert "seq.out:3:" in str(err) and "seq.in 3" in str(err) and "seq.out 2" in str(err)


def test_bio_blank_lines_mismatched_are_an_error(tmp_path):
    folder = write_bio(tmp_path / "train", [ROW, ("", "", "PlayMusic"), ROW])
    err = error_of(import_data, "bio", folder)
    assert err.path == str(folder / "seq.in") and err.line == 2


def test_bio_blank_lines_everywhere_are_skipped_and_reported(tmp_path):
    folder = write_bio(tmp_path / "train", [ROW, ("", "", ""), ROW])
    result = import_data("bio", folder)
    assert sum(len(v) for v in result.splits.values()) == 2
    assert any("skipped 1 line" in note for note in result.notes)
    assert "skipped 1 line" in format_summary(result)


def test_bio_blank_lines_at_the_end_of_one_file_are_no_line(tmp_path):
    """An editor's blank line at the end of one of the three files was "line counts differ"."""
    folder = write_bio(tmp_path / "train", [ROW, ROW])
    with (folder / "label").open("a", encoding="utf-8") as f:
        f.write("\n\n")
    assert sum(len(split) for split in import_data("bio", folder).splits.values()) == 2


def test_bio_token_tag_count_mismatch(tmp_path):
    folder = write_bio(tmp_path / "train", [ROW, ("play some jazz", "O B-genre", "PlayMusic")])
    err = error_of(import_data, "bio", folder)
    assert err.path == str(folder / "seq.out") and err.line == 2
    assert "2 tag(s) for 3 token(s)" in str(err)


@pytest.mark.parametrize("bad", ["X-genre", "B-", "b-genre", "B_genre", "E-genre", "o"])
def test_bio_malformed_tag(tmp_path, bad):
    folder = write_bio(tmp_path / "train", [ROW, ROW, ("play jazz", f"O {bad}", "PlayMusic")])
    err = error_of(import_data, "bio", folder)
    assert err.path == str(folder / "seq.out") and err.line == 3
    assert "malformed tag" in str(err) and repr(bad) in str(err)


@pytest.mark.parametrize(
    "tags, spans",
    [
        ("O I-genre", (Span(5, 9, "genre"),)),
        ("B-artist I-genre", (Span(0, 4, "artist"), Span(5, 9, "genre"))),
        ("I-genre I-genre", (Span(0, 9, "genre"),)),
    ],
)
def test_bio_invalid_inside_tag_strict_and_repaired(tmp_path, tags, spans):
    folder = write_bio(tmp_path / "train", [ROW, ("play jazz", tags, "PlayMusic")])
    err = error_of(import_data, "bio", folder)
    assert err.path == str(folder / "seq.out") and err.line == 2
    assert "'I-genre'" in str(err) and "an entity starts with B-genre: fix the tag in the file" in str(err)
    assert "strict=False" not in str(err)  # no flag of `intentd data import` says that

    result = import_data("bio", folder, strict=False)  # two examples: too few to carve any
    assert [ex.entities for ex in result.splits["train"]] == [(Span(5, 9, "genre"),), spans]
    assert any("1 I- tag(s) on 1 line(s)" in note for note in result.notes)


def test_bio_bad_utf8_names_the_line(tmp_path):
    folder = write_bio(tmp_path / "train", [ROW, ROW])
    (folder / "seq.in").write_bytes(b"play jazz\nplay \xff\n")
    err = error_of(import_data, "bio", folder)
    assert err.path == str(folder / "seq.in") and err.line == 2 and "UTF-8" in str(err)


def test_bio_missing_file_and_ambiguous_valid(tmp_path):
    bio_corpus(tmp_path / "a", [ROW], dev=[ROW])
    write_bio(tmp_path / "a" / "valid", [ROW])
    err = error_of(import_data, "bio", tmp_path / "a")
    assert "valid" in str(err) and "dev" in str(err)

    folder = write_bio(tmp_path / "b" / "train", [ROW])
    (folder / "label").unlink()
    err = error_of(import_data, "bio", tmp_path / "b")
    assert err.path == str(folder / "label")

    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "notes.txt").write_text("x")
    err = error_of(import_data, "bio", tmp_path / "c")
    assert "train/" in str(err) and "notes.txt" in str(err)


def test_bio_val_alias_and_single_split_folder_carves(tmp_path):
    rows = [(f"play song{i}", "O B-track", "PlayMusic" if i % 2 else "AddToPlaylist") for i in range(40)]
    result = import_data("bio", bio_corpus(tmp_path / "a", rows, dev=rows[:4], test=rows[:4], dev_name="val"))
    assert result.sources["valid"] == str(tmp_path / "a" / "val") and result.carved == []

    result = import_data("bio", write_bio(tmp_path / "b", rows))
    assert [len(result.splits[s]) for s in SPLITS] == [32, 4, 4]
    assert len(result.carved) == 2 and all("seed 13" in note for note in result.carved)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=" \t\r\n"), min_size=1, max_size=4),
            st.sampled_from(["O", "B-a", "I-a", "B-b", "I-b"]),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_bio_to_spans_recovers_the_tagged_tokens(pairs):
    """Any valid tag sequence over any tokens: each span is exactly its tokens, joined by spaces."""
    tokens = [tok for tok, _ in pairs]
    tags, previous = [], "O"
    for _, tag in pairs:  # make the sequence valid: an I- must continue the same type
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            tag = "B-" + tag[2:]
        tags.append(tag)
        previous = tag
    spans, repairs = bio_to_spans(tokens, tags)
    assert repairs == 0
    text = " ".join(tokens)
    expected, current = [], None
    for tok, tag in zip(tokens, tags):
        if tag.startswith("I-"):
            current[1].append(tok)
        else:
            current = [tag[2:], [tok]] if tag != "O" else None
            if current:
                expected.append(current)
    assert [(s.type, text[s.start : s.end]) for s in spans] == [(t, " ".join(toks)) for t, toks in expected]


# ------------------------------------------------------------------------------------ clinc


def write_clinc(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


CLINC = {
    "train": [["set an alarm", "alarm"], ["wake me at 7", "alarm"], ["what's the weather ☀", "weather"]],
    "oos_train": [["how do i bake bread", "oos"]],
    "val": [["alarm please", "alarm"], ["is it raining", "weather"]],
    "oos_val": [["sing a song", "oos"]],
    "test": [["alarm for 6", "alarm"], ["weather today", "weather"]],
    "oos_test": [["who won the game", "oos"], ["buy stocks", "oos"]],
}


def test_clinc_maps_oos_to_ood(tmp_path):
    path = write_clinc(tmp_path / "clinc" / "data_full.json", CLINC)
    result = import_data("clinc", tmp_path / "clinc")  # the folder works too
    assert [len(result.splits[s]) for s in SPLITS] == [4, 3, 4]
    assert [sum(ex.ood for ex in result.splits[s]) for s in SPLITS] == [1, 1, 2]
    ood = result.splits["train"][-1]
    assert ood.ood and ood.intent is None and ood.to_json() == {"text": "how do i bake bread", "ood": True}
    assert result.sources == {s: str(path) for s in SPLITS} and result.carved == []


def test_clinc_without_oos_keys_and_without_val(tmp_path):
    data = {"train": [[f"alarm {i}", "alarm"] for i in range(20)] + [[f"rain {i}", "weather"] for i in range(20)]}
    data["test"] = [["alarm now", "alarm"]]
    result = import_data("clinc", write_clinc(tmp_path / "d.json", data))
    assert [len(result.splits[s]) for s in SPLITS] == [36, 4, 1]
    assert Counter(ex.intent for ex in result.splits["valid"]) == {"alarm": 2, "weather": 2}
    assert len(result.carved) == 1 and result.carved[0].startswith("valid carved from train (10%, seed 13")


@pytest.mark.parametrize(
    "data, needle",
    [
        ([1, 2], "expected a JSON object"),
        ({"val": []}, 'no key "train"'),
        ({"train": {"a": 1}}, 'key "train": expected a list'),
        ({"train": [["ok", "alarm"], ["no intent"]]}, 'key "train" index 1'),
        ({"train": [["ok", "alarm"], ["  ", "alarm"]]}, 'key "train" index 1'),
        ({"train": [["ok", "alarm"]], "oos_train": [["x", "alarm"]]}, 'key "oos_train" index 0'),
        ({"train": [["ok", "alarm"]], "oos_val": [["x", "oos"]]}, '"oos_val" without "val"'),
    ],
)
def test_clinc_bad_structure(tmp_path, data, needle):
    path = write_clinc(tmp_path / "data_full.json", data)
    err = error_of(import_data, "clinc", path)
    assert needle in str(err) and err.path == str(path)


def test_clinc_key_written_twice_is_an_error_at_its_second_line(tmp_path):
    """json keeps the last of two equal keys: a "train" list written twice lost the first without a
    word (JSONL lines and domain.yaml already refuse a repeated key)."""
    path = tmp_path / "data_full.json"
    path.write_text('{"train": [["hi", "greeting"]],\n "val": [["hey", "greeting"]],\n "train": []}', encoding="utf-8")
    err = error_of(import_data, "clinc", path)
    assert err.line == 3 and "the key 'train' appears twice" in str(err)


def test_clinc_blank_intent_names_the_clinc_way_to_say_out_of_scope(tmp_path):
    path = write_clinc(tmp_path / "data_full.json", {"train": [["hi", "greeting"], ["what now", "  "]]})
    err = error_of(import_data, "clinc", path)
    assert 'key "train" index 1: blank intent (an out-of-scope example is labelled \'oos\'' in str(err)
    assert '"ood": true' not in str(err)


def test_clinc_invalid_json_and_missing_file(tmp_path):
    path = tmp_path / "data_full.json"
    path.write_text('{"train": [\n["a", "b"],\n["c" "d"]]}', encoding="utf-8")
    err = error_of(import_data, "clinc", path)
    assert err.line == 3 and "data_full.json:3:" in str(err)
    err = error_of(import_data, "clinc", tmp_path / "nowhere")
    assert "nowhere" in str(err)
    (tmp_path / "empty").mkdir()
    assert "no data_full.json" in str(error_of(import_data, "clinc", tmp_path / "empty"))


# ------------------------------------------------------------------------------------ csv


def test_csv_custom_columns_quoted_newline_and_ood(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text(
        "id,utterance,label\n"
        '1,"book a table\nfor two, please",book\n'  # a record spanning lines 2-3
        "2,hi there 👋,greet\n"
        "3,what is love,OOD\n"
        "4,tell me a joke,OOD\n"
        "\n"
        "5,café au lait,order\n",
        encoding="utf-8",
    )
    result = import_data("csv", path, text_column="utterance", intent_column="label", ood_label="OOD", test_fraction=0.0)
    rows = result.splits["train"] + result.splits["valid"]
    assert sorted(ex.text for ex in rows) == sorted(
        ["book a table\nfor two, please", "hi there 👋", "what is love", "tell me a joke", "café au lait"]
    )
    assert sum(ex.ood for ex in rows) == 2 and result.splits["test"] == []
    assert sorted(ex.origin.line for ex in rows) == [2, 4, 5, 6, 8]  # each record's first physical line

    # line numbers after a quoted newline are physical lines, not record numbers
    path.write_text('text,intent\n"a\nb",x\n"c\nd",x\n,x\n', encoding="utf-8")
    err = error_of(import_data, "csv", path)
    assert err.line == 6 and "data.csv:6:" in str(err) and "empty text" in str(err)


def test_csv_bio_and_clinc_read_the_ood_label_in_any_case(tmp_path):
    """"OOS" and "Oos" rows with --ood-label oos became in-scope intents, and the check then gave
    JSONL advice ("ood": true) a CSV user cannot follow."""
    path = tmp_path / "data.csv"
    path.write_text("text,intent\nhello,greet\nweather in rome,OOS\nweather in nice, Oos\n", encoding="utf-8")
    rows = import_data("csv", path, valid_fraction=0.5, test_fraction=0.0).splits
    assert sorted((ex.text, ex.ood, ex.intent) for split in rows.values() for ex in split) == [
        ("hello", False, "greet"), ("weather in nice", True, None), ("weather in rome", True, None)]
    bio = import_data("bio", bio_corpus(tmp_path / "bio", [ROW, ("tell me a joke", "O O O O", "OOS")]))
    assert sum(ex.ood for split in bio.splits.values() for ex in split) == 1
    data = dict(CLINC, oos_train=[["how do i bake bread", "OOS"]])
    clinc = import_data("clinc", write_clinc(tmp_path / "clinc.json", data))
    assert clinc.splits["train"][-1].ood


def test_blank_lines_of_jsonl_and_csv_are_skipped_and_reported(tmp_path):
    """The module says skipped blank lines are listed in the notes; JSONL and CSV skipped them
    without a word."""
    path = tmp_path / "train.jsonl"
    rows = [json.dumps({"text": f"hello {i}", "intent": "greet"}) for i in range(10)]
    path.write_text("\n".join(rows[:3] + ["", "   "] + rows[3:] + [""] * 6) + "\n", encoding="utf-8")
    result = import_data("jsonl", path)
    assert sum(len(result.splits[s]) for s in SPLITS) == 10
    assert result.notes == [f"train: skipped 8 blank line(s) (line(s) 4, 5, 13, 14, 15 and 3 more) in {path}"]
    assert "note: train: skipped 8 blank line(s)" in format_summary(result)

    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "train.csv").write_text("text,intent\nhello,greet\n\nbye,leave\n", encoding="utf-8")
    (tmp_path / "csv" / "test.csv").write_text("text,intent\nhi,greet\n", encoding="utf-8")
    result = import_data("csv", tmp_path / "csv", valid_fraction=0.5)
    assert result.notes == [f"train: skipped 1 blank line(s) (line(s) 3) in {tmp_path / 'csv' / 'train.csv'}"]


def test_csv_missing_column_names_the_columns_present(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("sentence,intent\nhello,greet\n", encoding="utf-8")
    err = error_of(import_data, "csv", path)
    assert err.path == str(path) and err.line == 1
    assert "'text'" in str(err) and "'sentence', 'intent'" in str(err)


@pytest.mark.parametrize(
    "body, line, needle",
    [
        ("text,intent\nhello,greet\nhi,there,extra\n", 3, "3 field(s)"),
        ('text,intent\nhello,greet\n"never closed,x\nmore,y\n', 3, "bad CSV"),
        ("", 1, "header"),
    ],
)
def test_csv_bad_records(tmp_path, body, line, needle):
    path = tmp_path / "bad.csv"
    path.write_text(body, encoding="utf-8")
    err = error_of(import_data, "csv", path)
    assert err.line == line and needle in str(err) and "bad.csv" in str(err)


def test_csv_bom_bad_utf8_and_folder(tmp_path):
    (tmp_path / "train.csv").write_bytes("\ufefftext,intent\nhello,greet\nbye,leave\n".encode("utf-8"))
    (tmp_path / "val.csv").write_bytes(b"text,intent\nhey,greet\n")
    (tmp_path / "test.csv").write_bytes(b"text,intent\nhello there,greet\nciao \xe9,leave\n")
    err = error_of(import_data, "csv", tmp_path)
    assert err.path == str(tmp_path / "test.csv") and err.line == 3 and "UTF-8" in str(err)
    (tmp_path / "test.csv").write_bytes(b"text,intent\nhello there,greet\n")
    result = import_data("csv", tmp_path)
    assert [len(result.splits[s]) for s in SPLITS] == [2, 1, 1] and result.carved == []
    assert result.sources["valid"] == str(tmp_path / "val.csv")


# ------------------------------------------------------------------------------------ jsonl


def test_jsonl_folder_with_dev_alias(tmp_path):
    for name, text in (("train", "a"), ("dev", "b"), ("test", "c")):
        (tmp_path / f"{name}.jsonl").write_text(json.dumps({"text": text, "intent": "x"}) + "\n", encoding="utf-8")
    result = import_data("jsonl", tmp_path)
    assert {s: [ex.text for ex in result.splits[s]] for s in SPLITS} == {"train": ["a"], "valid": ["b"], "test": ["c"]}
    assert result.sources["valid"] == str(tmp_path / "dev.jsonl")


def test_jsonl_file_is_train_and_errors_name_the_line(tmp_path):
    path = tmp_path / "all.jsonl"
    lines = [json.dumps({"text": f"u {i}", "intent": "a" if i % 2 else "b"}) for i in range(20)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = import_data("jsonl", path)
    assert [len(result.splits[s]) for s in SPLITS] == [16, 2, 2]
    assert [n.split(" (")[0] for n in result.carved] == ["test carved from train", "valid carved from train"]

    path.write_text(lines[0] + "\n" + '{"text": "x", "intent": "a", "entities": [{"start": 0, "end": 9, "type": "t"}]}\n')
    err = error_of(import_data, "jsonl", path)
    assert err.line == 2 and "all.jsonl:2:" in str(err)

    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "dev.jsonl").write_text(lines[0] + "\n")
    assert "train.jsonl" in str(error_of(import_data, "jsonl", tmp_path / "folder"))


@pytest.mark.parametrize("line, needle", [
    ('{"text": "pay bob", "intent": "pay", "entities": [{"start": 4, "end": 7, "label": "x", "type": "p"}]}',
     "entity #0: unknown key(s) ['label']"),
    ('{"text": "pay bob", "intent": "pay", "entities": [{"start": 5, "end": 5, "type": "p"}]}', "is empty"),
    ('{"text": "pay bob", "intent": "pay", "entities": [{"start": 6, "end": 2, "type": "p"}]}', "is empty"),
    ('{"text": "\\u200b\\u200b", "intent": "pay"}', "no visible characters"),
    ('{"text": "x", "intent": "pay", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ('{"text": "pay bob", "intent": "pay", "intent": "greet"}',
     "the key 'intent' appears twice in one object (JSON keeps only the last)"),
    ('{"text": "pay bob", "intent": "pay", "entities": [{"start": 4, "end": 7, "type": "p", "type": "q"}]}',
     "the key 'type' appears twice"),
])
def test_a_bad_example_is_one_error_naming_its_line(tmp_path, line, needle):
    path = tmp_path / "train.jsonl"
    path.write_text('{"text": "hello", "intent": "greet"}\n' + line + "\n", encoding="utf-8")
    err = error_of(import_data, "jsonl", path)
    assert err.line == 2 and needle in str(err), str(err)


def test_unknown_format_missing_src_and_bad_fractions(tmp_path):
    err = error_of(import_data, "xml", tmp_path)
    assert all(fmt in str(err) for fmt in FORMATS)
    err = error_of(import_data, "jsonl", tmp_path / "absent.jsonl")
    assert "absent.jsonl" in str(err)
    (tmp_path / "e.jsonl").write_text("\n")
    assert "no training examples" in str(error_of(import_data, "jsonl", tmp_path / "e.jsonl"))
    assert "valid_fraction" in str(error_of(import_data, "jsonl", tmp_path, valid_fraction=1.5))
    assert "below 1" in str(error_of(import_data, "jsonl", tmp_path, valid_fraction=0.5, test_fraction=0.5))


# ------------------------------------------------------------------------------------ carving


def test_stratified_split_is_deterministic_and_stratified():
    data = many({"a": 50, "b": 30, "c": 10, "d": 2, "e": 1}, ood=20)
    kept, carved = stratified_split(data, 0.2, seed=13)
    assert (kept, carved) == stratified_split(list(data), 0.2, seed=13)
    assert stratified_split(data, 0.2, seed=14) != (kept, carved)
    assert len(carved) == round(len(data) * 0.2) and len(kept) + len(carved) == len(data)
    by = Counter("<ood>" if ex.ood else ex.intent for ex in carved)
    assert by["a"] == 10 and by["b"] == 6 and by["<ood>"] == 4 and by["c"] == 2
    assert by["e"] == 0  # a single example stays in train
    assert {ex.intent for ex in kept if not ex.ood} == {"a", "b", "c", "d", "e"}
    # both lists keep input order
    assert kept == [ex for ex in data if ex in kept] and carved == [ex for ex in data if ex in carved]


def test_stratified_split_many_small_intents_still_carves():
    """Rounding each intent on its own would carve nothing from 3-example intents."""
    data = many({f"i{k}": 3 for k in range(50)})
    kept, carved = stratified_split(data, 0.1, seed=13)
    assert len(carved) == 15 and max(Counter(ex.intent for ex in carved).values()) == 1
    assert len({ex.intent for ex in kept}) == 50


def test_stratified_split_keeps_one_per_intent_and_moves_duplicates_together():
    kept, carved = stratified_split(many({"a": 2, "b": 2}), 0.9, seed=1)
    assert Counter(ex.intent for ex in kept) == {"a": 1, "b": 1}
    dupes = [Example("same text", "a")] * 6 + [Example(f"other {i}", "a") for i in range(14)]
    for seed in range(10):
        kept, carved = stratified_split(dupes, 0.3, seed=seed)
        assert ("same text" in {e.text for e in kept}) != ("same text" in {e.text for e in carved})
    assert stratified_split([], 0.1, 0) == ([], [])


def test_stratified_split_keeps_copies_with_different_labels_together():
    """A text labelled twice must stay in one split, where the conflict is reported, not become a
    train copy and a test copy that disagree."""
    data = many({"greet": 10, "bye": 10}) + [Example("greet utterance 1", "bye")]
    for seed in range(20):
        kept, carved = stratified_split(data, 0.3, seed=seed)
        assert sum(ex.text == "greet utterance 1" for ex in kept) in (0, 2), seed
        assert {ex.intent for ex in kept} == {"greet", "bye"}
    lone = many({"greet": 10}) + [Example("greet utterance 1", "bye")]  # the only 'bye' never leaves train
    for seed in range(20):
        assert Example("greet utterance 1", "bye") in stratified_split(lone, 0.5, seed=seed)[0]


# ------------------------------------------------------------------------------------ output


def test_write_splits_round_trip(tmp_path):
    train = [
        Example("play 😀 café", "Play", (Span(5, 6, "emoji"), Span(7, 11, "drink"))),
        Example("play 😀 café", "Play", (Span(5, 6, "emoji"),)),
        Example("東京 weather", "Weather", (Span(0, 2, "city"),)),
        Example("no idea", None, ood=True),
    ]
    result = ImportResult(
        splits={"train": train, "valid": train[:1], "test": []}, carved=[], sources={s: "mem" for s in SPLITS}
    )
    paths = write_splits(result, tmp_path / "out")
    assert paths == {s: tmp_path / "out" / f"{s}.jsonl" for s in SPLITS}
    assert {s: read_jsonl(p) for s, p in paths.items()} == result.splits
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["test.jsonl", "train.jsonl", "valid.jsonl"]
    assert "😀" in paths["train"].read_text(encoding="utf-8")  # written as UTF-8, not \\u escapes

    (tmp_path / "file").write_text("x")
    assert "not a folder" in str(error_of(write_splits, result, tmp_path / "file"))


def test_format_summary_reports_counts_duplicates_and_leakage():
    train = many({"book": 3, "greet": 2}, ood=1) + [Example("book 0", "greet"), Example("dup", "book", (Span(0, 3, "t"),))]
    test = [Example("book utterance 0", "book"), Example("new thing", "cancel"), Example("zz", "book", (Span(0, 2, "u"),))]
    splits = {"train": train, "valid": [], "test": test}
    result = ImportResult(
        splits=splits,
        carved=["valid carved from train (10%, seed 13, stratified by intent): 0 of 8 examples"],
        sources={"train": "t.jsonl", "valid": "carved from t.jsonl", "test": "x.jsonl"},
        notes=["a note"],
        findings=check_examples(splits),
    )
    text = format_summary(result)
    assert re.search(r"^train\s+8\s+7\s+1\s+1\s+t\.jsonl$", text, re.M)
    assert re.search(r"^\s+book\s+4\s+0\s+2$", text, re.M)
    assert re.search(r"^\s+t\s+1\s+0\s+0$", text, re.M)
    assert "carved: valid carved from train (10%, seed 13" in text and "note: a note" in text
    assert "duplicate texts within train (case, spacing and accents aside): 0" in text
    assert "test texts also in train: 1 (leakage" in text
    assert "warning: test text 'book utterance 0' is also in train" in text
    assert "warning: test intent 'cancel' (1 example(s)) is never seen in train" in text
    assert "warning: test entity type 'u' (1 span(s)) is never seen in train" in text
    assert "(--strict makes warnings errors)" in text

    train.append(Example("book utterance 1", "book"))
    assert "duplicate texts within train (case, spacing and accents aside): 1" in format_summary(result)
    test.append(Example("Book  Utterance 0 ", "book"))  # one text to an uncased model: leaked as well
    again = format_summary(dataclasses.replace(result, findings=check_examples(splits)))
    assert "test texts also in train: 2 (leakage" in again
    assert sum(f.kind == "leakage" for f in check_examples(splits)) == 2


# ------------------------------------------------------------------------------------ real data


def shared(name: str) -> Path:
    path = DATASETS / name
    if not path.exists():
        pytest.skip(f"../shared/datasets not found: {path}")
    return path


@pytest.mark.datasets
def test_snips_imports_strictly_with_exact_spans():
    root = shared("snips")
    result = import_data("bio", root)
    assert [len(result.splits[s]) for s in SPLITS] == [13084, 700, 700]
    assert result.carved == [] and result.notes == []
    assert {ex.intent for ex in result.splits["train"]} == {
        "AddToPlaylist", "BookRestaurant", "GetWeather", "PlayMusic", "RateBook",
        "SearchCreativeWork", "SearchScreeningEvent",
    }  # fmt: skip
    for split, folder in (("train", "train"), ("valid", "dev"), ("test", "test")):
        lines_in = (root / folder / "seq.in").read_text(encoding="utf-8").splitlines()
        lines_out = (root / folder / "seq.out").read_text(encoding="utf-8").splitlines()
        assert len(lines_in) == len(result.splits[split])
        for ex, line_in, line_out in zip(result.splits[split], lines_in, lines_out):
            tokens, tags = line_in.split(), line_out.split()
            assert ex.text == " ".join(tokens)
            expected = []
            for token, tag in zip(tokens, tags):
                if tag.startswith("B-"):
                    expected.append((tag[2:], [token]))
                elif tag.startswith("I-"):
                    expected[-1][1].append(token)
            assert [(s.type, ex.span_text(s)) for s in ex.entities] == [(t, " ".join(toks)) for t, toks in expected]


@pytest.mark.datasets
def test_clinc150_full_counts():
    result = import_data("clinc", shared("clinc150") / "data_full.json")
    assert [len(result.splits[s]) for s in SPLITS] == [15100, 3100, 5500]
    assert [sum(ex.ood for ex in result.splits[s]) for s in SPLITS] == [100, 100, 1000]
    assert len({ex.intent for ex in result.splits["train"] if not ex.ood}) == 150
    assert result.carved == []


def test_import_never_writes_over_its_own_source_files(tmp_path):
    from intentd.models.data.importers import import_into

    src = tmp_path / "d"
    src.mkdir()
    lines = [json.dumps({"text": f"book a table {i}", "intent": "book"}) for i in range(30)]
    lines += [json.dumps({"text": f"hello there {i}", "intent": "greet"}) for i in range(30)]
    (src / "train.jsonl").write_text("\n".join(lines) + "\n")
    before = (src / "train.jsonl").read_text()
    with pytest.raises(DataError, match="would overwrite"):
        import_into(src, "jsonl", src)
    assert (src / "train.jsonl").read_text() == before and not (src / "valid.jsonl").exists()
    _, written = import_into(tmp_path / "out", "jsonl", src)  # another folder: fine
    assert sum(len(read_jsonl(p)) for p in written.values()) == 60


def test_an_import_that_fails_part_way_leaves_the_last_import_whole(tmp_path):
    """Each split was written and renamed in turn: stopped (a SIGTERM, a full disk) at valid.jsonl,
    the folder held the new train.jsonl beside the last import's valid and test, which training
    read as one data set (old test rows possibly in the new train). All are written, then renamed."""
    from intentd.models.data.importers import import_into

    src = tmp_path / "d"
    src.mkdir()
    rows = [json.dumps({"text": f"book a table {i}", "intent": "book"}) for i in range(30)]
    rows += [json.dumps({"text": f"hello there {i}", "intent": "greet"}) for i in range(30)]
    (src / "train.jsonl").write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    import_into(out, "jsonl", src)
    before = {split: (out / f"{split}.jsonl").read_text() for split in SPLITS}
    (src / "train.jsonl").write_text("\n".join(rows + [json.dumps({"text": "bye now", "intent": "greet"})]) + "\n")
    (out / ".valid.jsonl.partial").mkdir()  # the second split's write fails
    with pytest.raises(DataError, match="cannot write"):
        import_into(out, "jsonl", src)
    assert {split: (out / f"{split}.jsonl").read_text() for split in SPLITS} == before
    assert sorted(p.name for p in out.iterdir()) == [".valid.jsonl.partial", "test.jsonl", "train.jsonl",
                                                      "valid.jsonl"]


def test_import_flags_that_cannot_work_are_one_line(tmp_path):
    import subprocess
    import sys

    (tmp_path / "d.csv").write_text("text,intent\nhello,greet\n", encoding="utf-8")
    for flags, needle in ((["--ood-label", " "], "--ood-label: empty"),
                          (["--text-column", "intent"], "must differ")):
        proc = subprocess.run([sys.executable, "-m", "intentd", "data", "import", "--format", "csv",
                               str(tmp_path / "d.csv"), "--out", str(tmp_path / "out"), *flags],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_a_jsonl_file_may_start_with_a_bom_as_a_csv_file_may(tmp_path):
    path = tmp_path / "train.jsonl"
    rows = [json.dumps({"text": f"hello {i}", "intent": "greet"}) for i in range(10)]
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(rows).encode() + b"\n")
    assert read_jsonl(path)[0].text == "hello 0"


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_a_json_error_names_the_column_on_its_own_line(tmp_path, ending):
    """An object left open was reported at column 1 (of the line after it), not where it ends."""
    bad = '{"text": "x", "intent": "check_balance"'
    path = tmp_path / "bad.jsonl"
    path.write_bytes(('{"text": "hi", "intent": "greeting"}' + ending + bad + ending).encode())
    with pytest.raises(DataError) as err:
        read_jsonl(path)
    assert f"{path}:2" in str(err.value) and f"(column {len(bad) + 1})" in str(err.value), err.value
