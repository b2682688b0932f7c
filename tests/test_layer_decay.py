"""`--layer-decay`: each encoder layer learns `layer_decay` times slower than the one above it
(models/train.py, `Optimizers`); the heads keep their own rate."""

from __future__ import annotations

import pytest
from transformers import BertConfig, BertModel

from intentd.models.config import TrainConfig
from intentd.models.joint import JointModel
from intentd.models.train import Optimizers, Plan

from conftest import BANKING
from test_build import intentd


def _learning_rates(layer_decay: float, freeze_embeddings: bool) -> dict[str, float]:
    config = BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32)
    model = JointModel(BertModel(config, add_pooling_layer=False), n_intents=4, n_tags=3)
    if freeze_embeddings:
        model.encoder.get_input_embeddings().weight.requires_grad_(False)
    else:
        model.encoder.get_input_embeddings().sparse = True
    train = TrainConfig(lr=1e-4, head_lr=1e-3, layer_decay=layer_decay)
    optimizers = Optimizers(model, train, Plan(total_steps=10))
    rate = {}
    for optimizer in optimizers.optimizers:
        for group in optimizer.param_groups:
            for p in group["params"]:
                rate[id(p)] = group["initial_lr"]
    return {name: rate[id(p)] for name, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("freeze_embeddings", [True, False])
def test_each_layer_learns_slower_than_the_one_above(freeze_embeddings):
    rates = _learning_rates(0.5, freeze_embeddings)
    assert rates["encoder.encoder.layer.2.output.dense.weight"] == pytest.approx(1e-4)  # the top layer
    assert rates["encoder.encoder.layer.1.attention.self.query.weight"] == pytest.approx(5e-5)
    assert rates["encoder.encoder.layer.0.intermediate.dense.bias"] == pytest.approx(2.5e-5)
    assert rates["encoder.embeddings.LayerNorm.weight"] == pytest.approx(1.25e-5)
    if not freeze_embeddings:  # the sparse word embeddings (SparseAdam) sit with the embeddings
        assert rates["encoder.embeddings.word_embeddings.weight"] == pytest.approx(1.25e-5)
    assert rates["intent_head.weight"] == rates["tag_head.bias"] == pytest.approx(1e-3)


def test_no_decay_is_one_rate_for_the_encoder():
    rates = _learning_rates(1.0, freeze_embeddings=False)
    encoder = [r for name, r in rates.items() if name.startswith("encoder.")]
    assert encoder and all(r == pytest.approx(1e-4) for r in encoder)


def test_the_cli_refuses_a_decay_outside_0_to_1():
    for bad in ("0", "1.5"):
        proc = intentd("train", "--data", str(BANKING), "--out", "unused", "--layer-decay", bad, check=False)
        assert proc.returncode == 2 and "--layer-decay must be in (0, 1]" in proc.stderr
