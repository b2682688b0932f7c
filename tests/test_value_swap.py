"""`--value-swap P`: each pass trains some entity mentions with another value of their type."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from intentd.models.augment import ValueSwap
from intentd.models.data.schema import Example, Span, read_jsonl

from conftest import BANKING
from test_build import intentd, tiny_base, train_tiny  # noqa: F401 - the fixture


def _examples() -> list[Example]:
    return [
        Example("play thunder road by bruce springsteen", "play",
                (Span(5, 17, "track"), Span(21, 38, "artist", "bruce-springsteen"))),
        Example("play hey jude", "play", (Span(5, 13, "track"),)),
        Example("add it to my evening chill playlist now", "add", (Span(13, 26, "playlist"),)),
        Example("play something by the national", "play", (Span(18, 30, "artist"),)),
        Example("what is the weather", "weather"),
        Example("no idea what this is", None, ood=True),
    ]


def _snips_like() -> list[Example]:
    """An open type (every mention its own name) beside a closed one (two words, many mentions)."""
    names = ["thunder road", "hey jude", "blue in green", "so what", "naima", "take five", "river man"]
    out = []
    for i in range(140):
        name, sort = names[i % len(names)] + f" {i}", ("top" if i % 2 else "latest")
        text = f"play the {sort} version of {name} please"
        start = text.index(name)
        out.append(Example(text, "play", (Span(9, 9 + len(sort), "sort"), Span(start, start + len(name), "track"))))
    return out


def test_every_swapped_mention_is_an_open_types_value_in_its_new_place():
    examples = _snips_like()
    swap = ValueSwap(examples, 0.5, seed=13)
    assert sorted(swap.values) == ["track"]  # "sort" is closed: 2 values for 140 mentions
    seen = set(swap.values["track"])
    out = swap.epoch(examples, 1)
    assert len(out) == len(examples)
    swapped = 0
    for before, after in zip(examples, out):
        assert (after.intent, after.ood) == (before.intent, before.ood)
        assert [s.type for s in after.entities] == ["sort", "track"]
        assert after.span_text(after.entities[0]) == before.span_text(before.entities[0])  # closed: never swapped
        value = after.span_text(after.entities[1])
        assert value in seen
        swapped += value != before.span_text(before.entities[1])
        assert _outside(after) == _outside(before)  # the words between mentions are the example's own
    assert 0.35 < swapped / len(examples) < 0.65  # about the rate


def test_a_swapped_value_drops_its_gold_canonical_form():
    examples = list(read_jsonl(BANKING / "train.jsonl"))
    out = ValueSwap(examples, 1.0, seed=13).epoch(examples, 1)
    changed = [(b, a) for b, a in zip(examples, out) if a.text != b.text]
    assert changed
    for before, after in changed:
        old = {(s.type, before.span_text(s)): s.value for s in before.entities}
        for span in after.entities:
            key = (span.type, after.span_text(span))
            assert span.value == old[key] if key in old else span.value is None


def _outside(example: Example) -> list[str]:
    cuts, cursor = [], 0
    for span in sorted(example.entities, key=lambda s: s.start):
        cuts.append(example.text[cursor:span.start])
        cursor = span.end
    return [*cuts, example.text[cursor:]]


def test_the_draw_follows_the_seed_and_the_pass():
    examples = _snips_like()
    swap = ValueSwap(examples, 0.5, seed=13)
    first = [ex.text for ex in swap.epoch(examples, 1)]
    assert first == [ex.text for ex in ValueSwap(examples, 0.5, seed=13).epoch(examples, 1)]
    assert first != [ex.text for ex in swap.epoch(examples, 2)]
    assert first != [ex.text for ex in ValueSwap(examples, 0.5, seed=14).epoch(examples, 1)]


def test_examples_without_entities_and_types_with_one_value_stay_as_they_are():
    examples = _examples()
    swap = ValueSwap(examples, 1.0, seed=13)
    assert "playlist" not in swap.values  # one value: nothing to swap it with
    out = swap.epoch(examples, 1)
    assert out[2] is examples[2] and out[4] is examples[4] and out[5] is examples[5]
    texts = Counter(ex.text for ex in swap.epoch(examples * 40, 3)[::6])
    assert len(texts) > 1  # the first example drew other tracks and artists
    assert ValueSwap(examples, 0.0, seed=13).epoch(examples, 1) == examples


def test_a_build_on_data_with_entities_trains_on_swapped_text_and_says_so(tmp_path: Path, tiny_base: Path):  # noqa: F811
    plain, swapped = tmp_path / "plain", tmp_path / "swapped"
    train_tiny(tiny_base, plain, "--value-swap", "0")
    train_tiny(tiny_base, swapped)  # banking has entity spans: the data turns it on
    training = json.loads((swapped / "manifest.json").read_text())["training"]
    assert training["config"]["value_swap"] == 0.5 and "value swap 0.5 [data: entity spans]" in training["recipe"]
    assert "value swap 0 [asked]" in json.loads((plain / "manifest.json").read_text())["training"]["recipe"]
    # the same seed and data: only the swapped texts can make the weights differ
    assert (plain / "model.fp32.onnx").read_bytes() != (swapped / "model.fp32.onnx").read_bytes()


def test_the_cli_refuses_a_chance_outside_0_to_1():
    for bad in ("-0.1", "1.5"):
        proc = intentd("train", "--data", str(BANKING), "--out", "unused", "--value-swap", bad, check=False)
        assert proc.returncode == 2 and "--value-swap must be between 0 and 1" in proc.stderr
