"""`intentd train --tag-every-piece`: a word's later word pieces carry its tag's inside form (I-x,
or O) as a target, its first piece the word's own tag as always; [CLS], [SEP] and padding none."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from intentd.models.config import TrainConfig
from intentd.models.data.schema import Example, Span
from intentd.models.features import IGNORE, OUTSIDE, build_labels, featurize
from intentd.server.tokenize import TextEncoder

from test_build import tiny_base, train_tiny  # noqa: F401 - the fixture

TEXT = "send the unbelievably enormous payment to jonathanson tomorrow"
SPANS = (Span(start=9, end=30, type="amount"), Span(start=42, end=53, type="payee"))


def test_later_pieces_carry_their_words_inside_tag():
    encoder = TextEncoder.from_file(TrainConfig().base_path() / "tokenizer.json")
    examples = [Example(text=TEXT, intent="pay", entities=SPANS)]
    labels = build_labels(examples)
    first_only = featurize(examples, encoder, labels)[0].tags
    every = featurize(examples, encoder, labels, every_piece=True)[0].tags
    offsets = encoder.tokenizer.encode(TEXT).offsets
    amount, payee = labels.begin_tag("amount"), labels.begin_tag("payee")
    expected = np.full(len(offsets), IGNORE)
    previous_end = None
    for i, (start, end) in enumerate(offsets):
        if (start, end) == (0, 0):
            continue  # [CLS], [SEP]
        span = next((s for s in SPANS if s.start < end and s.end > start), None)
        begins_word = previous_end is None or start > previous_end
        if span is None:
            expected[i] = OUTSIDE
        else:
            tag = amount if span.type == "amount" else payee
            expected[i] = tag if begins_word and start == span.start else tag + 1
        previous_end = end
    assert (every == expected).all()
    later = (first_only == IGNORE) & (expected != IGNORE)
    assert later.sum() >= 3  # the text has words of several pieces, in and out of spans
    assert (every[first_only != IGNORE] == first_only[first_only != IGNORE]).all()  # first pieces as before


def test_a_build_with_tags_on_every_piece_trains_and_says_so(tmp_path: Path, tiny_base: Path):  # noqa: F811
    out = tmp_path / "pieces"
    training = train_tiny(tiny_base, out, "--tag-every-piece")["training"]
    assert training["config"]["tag_every_piece"] is True and "tags on every piece" in training["recipe"]
