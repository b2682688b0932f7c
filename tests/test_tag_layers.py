"""`intentd train --tag-layers N`: the tag head reads the last N encoder layers' token states.
The option trains, exports with torch parity and serves; the exported tag head is as wide as the
layers it reads, and its logits are those of the last layer and the one below, computed by hand."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
import torch
from onnx import numpy_helper

from intentd.models.joint import JointModel
from intentd.server.engine import Engine

from test_build import tiny_base, train_tiny  # noqa: F401 - the fixture


def test_two_tag_layers_train_export_and_serve(tiny_base: Path, tmp_path: Path):  # noqa: F811
    out = tmp_path / "two-layers"
    manifest = train_tiny(tiny_base, out, "--tag-layers", "2")
    assert manifest["training"]["config"]["tag_layers"] == 2
    assert manifest["training"]["parity_max_abs_diff"] < 1e-3
    n_tags = len(json.loads((out / "labels.json").read_text())["entity_types"]) * 2 + 1
    graph = onnx.load(str(out / manifest["model_fp32"])).graph
    widths = [numpy_helper.to_array(w).shape[0] for w in graph.initializer if w.dims[-1:] == [n_tags]
              and len(w.dims) == 2]
    assert widths == [3 * 64]  # two layers of the 64-wide tiny encoder + the sentence embedding
    assert Engine.load(out).analyze(["send 20 dollars to my savings account"])[0].prediction.intents


def test_tag_logits_read_the_layer_below_the_last(tiny_base: Path):  # noqa: F811
    model = JointModel.from_base(tiny_base, n_intents=3, n_tags=5, tag_context=True, tag_layers=2).eval()
    ids = torch.tensor([[101, 2000, 2001, 102]])
    mask = torch.ones_like(ids)
    with torch.no_grad():
        _, tags, embedding = model(ids, mask)
        states = model.encoder(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        width = model.encoder.config.hidden_size
        weight = model.tag_head.weight  # [tags, last | the layer below | sentence embedding]
        by_hand = (states[-1] @ weight[:, :width].T + states[-2] @ weight[:, width:2 * width].T
                   + embedding[:, None] @ weight[:, 2 * width:].T + model.tag_head.bias)
    assert weight.shape[1] == 3 * width
    assert torch.allclose(tags, by_hand, atol=1e-5)
    assert not torch.allclose(states[-2], states[-1])  # the layer below says something else


@pytest.mark.parametrize("layers", [0, 3])
def test_tag_layers_outside_the_encoder_are_an_error(tiny_base: Path, layers: int):  # noqa: F811
    with pytest.raises(ValueError, match="--tag-layers must be 1-2"):
        JointModel.from_base(tiny_base, n_intents=3, n_tags=5, tag_layers=layers)
