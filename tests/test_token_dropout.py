"""`--token-dropout P`: training texts with a share of their word pieces replaced by [MASK] (the
default on intent-only data: tests/test_build.py checks that the data decides it)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from intentd.models.config import TrainConfig
from intentd.models.data.schema import Example, Span
from intentd.models.features import IGNORE, OUTSIDE, build_labels, collate, featurize
from intentd.models.train import TokenMasking
from intentd.server.tokenize import TextEncoder

from conftest import BANKING
from test_build import intentd, tiny_base, train_tiny  # noqa: F401 - the fixture

MASK = 103


def _rows(lengths: list[int], width: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows of one-piece words, none in an entity span."""
    ids = torch.zeros(len(lengths), width, dtype=torch.long)
    mask = torch.zeros_like(ids)
    tags = torch.full_like(ids, IGNORE)
    for row, n in enumerate(lengths):
        ids[row, :n] = torch.arange(1000, 1000 + n)
        ids[row, 0], ids[row, n - 1] = 101, 102
        mask[row, :n] = 1
        tags[row, 1 : n - 1] = OUTSIDE
    return ids, mask, tags


def test_only_word_pieces_between_cls_and_sep_are_masked_at_about_the_rate():
    ids, mask, tags = _rows([40, 3, 25, 2] * 100, 40)
    out = TokenMasking(0.2, MASK, seed=13)(ids, mask, tags)
    lengths = mask.sum(1)
    masked = out == MASK
    assert (out[:, 0] == 101).all()
    assert (out[torch.arange(len(ids)), lengths - 1] == 102).all()
    assert (out[mask == 0] == 0).all()  # padding untouched
    assert not masked[lengths <= 2].any()  # nothing between [CLS] and [SEP]
    inner = int((lengths - 2).clamp(min=0).sum())
    assert 0.17 < masked.sum().item() / inner < 0.23
    assert (out[~masked] == ids[~masked]).all()  # everything else as it was


def test_the_draw_follows_the_seed():
    ids, mask, tags = _rows([30] * 50, 30)
    first = TokenMasking(0.15, MASK, seed=13)(ids, mask, tags)
    assert torch.equal(first, TokenMasking(0.15, MASK, seed=13)(ids, mask, tags))
    assert not torch.equal(first, TokenMasking(0.15, MASK, seed=14)(ids, mask, tags))


def test_no_piece_of_a_word_inside_an_entity_span_is_masked():
    """A slot value stays visible (its tag is what the tag loss asks for); the words around it
    are masked as before, every piece of them, continuation pieces included."""
    encoder = TextEncoder.from_file(TrainConfig().base_path() / "tokenizer.json")
    examples = [Example(text="send the unbelievably enormous payment to jonathanson tomorrow",
                        intent="pay", entities=(Span(start=9, end=30, type="amount"),
                                                Span(start=42, end=53, type="payee")))] * 400
    labels = build_labels(examples)
    batch = collate(featurize(examples, encoder, labels), encoder.pad_id)
    out = TokenMasking(0.3, MASK, seed=13)(batch["input_ids"], batch["attention_mask"], batch["tags"])
    enc = encoder.tokenizer.encode(examples[0].text)
    inside = torch.tensor([s < 30 and e > 9 or s < 53 and e > 42 for s, e in enc.offsets])
    pieces = torch.tensor([(s, e) != (0, 0) for s, e in enc.offsets])
    masked = out == MASK
    assert inside.sum() >= 4 and (pieces & ~inside).sum() >= 5  # the spans and the words around them are several pieces
    assert not masked[:, inside].any()
    rate = masked[:, pieces & ~inside].float().mean().item()
    assert 0.25 < rate < 0.35


def test_the_bundled_tokenizer_masks_with_its_mask_token():
    encoder = TextEncoder.from_file(TrainConfig().base_path() / "tokenizer.json")
    masking = TokenMasking.for_encoder(encoder, 0.1, seed=13)
    assert masking is not None and encoder.tokenizer.id_to_token(masking.mask_id) == "[MASK]"


def test_a_tokenizer_without_a_mask_or_unknown_token_turns_it_off():
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    encoder = TextEncoder(Tokenizer(WordLevel({"[PAD]": 0, "hello": 1}, unk_token="hello")))
    assert TokenMasking.for_encoder(encoder, 0.1, seed=13) is None
    with_unk = TextEncoder(Tokenizer(WordLevel({"[PAD]": 0, "<unk>": 1}, unk_token="<unk>")))
    assert TokenMasking.for_encoder(with_unk, 0.1, seed=13).mask_id == 1


def test_a_build_with_token_dropout_trains_on_masked_text_and_says_so(tmp_path: Path, tiny_base: Path):  # noqa: F811
    plain, masked = tmp_path / "plain", tmp_path / "masked"
    train_tiny(tiny_base, plain)
    train_tiny(tiny_base, masked, "--token-dropout", "0.3")
    training = json.loads((masked / "manifest.json").read_text())["training"]
    assert training["config"]["token_dropout"] == 0.3 and "token dropout 0.3 [asked]" in training["recipe"]
    # banking has entity spans, so the default build masks nothing; the same seed and data: only
    # the masked inputs can make the weights differ
    plain_recipe = json.loads((plain / "manifest.json").read_text())["training"]["recipe"]
    assert "token dropout 0 [data: entity spans]" in plain_recipe
    assert (plain / "model.fp32.onnx").read_bytes() != (masked / "model.fp32.onnx").read_bytes()


def test_the_cli_refuses_a_rate_outside_0_to_1():
    for bad in ("-0.1", "1"):
        proc = intentd("train", "--data", str(BANKING), "--out", "unused", "--token-dropout", bad, check=False)
        assert proc.returncode == 2 and "--token-dropout must be in [0, 1)" in proc.stderr
