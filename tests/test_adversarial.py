"""`intentd train --adversarial EPS` (FGM on the word embeddings): the second pass of a batch sees
each text's embeddings moved exactly EPS along its loss gradient, with trained and with frozen
embeddings; without gradients the hook changes nothing; the option trains, exports and serves."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from intentd.models.joint import JointModel
from intentd.models.train import EmbeddingAdversary
from intentd.server.engine import Engine

from conftest import BANKING
from test_build import intentd, tiny_base, train_tiny  # noqa: F401 - the fixture

IDS = torch.tensor([[101, 2000, 2001, 2002, 102], [101, 2003, 2004, 102, 0]])
MASK = (IDS != 0).long()


def _captured_lookups(model: JointModel) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []
    model.encoder.get_input_embeddings().register_forward_hook(lambda m, i, out: seen.append(out.detach().clone()))
    return seen


@pytest.mark.parametrize("frozen", [False, True])
def test_the_second_pass_sees_embeddings_moved_epsilon_along_the_gradient(tiny_base: Path, frozen: bool):  # noqa: F811
    torch.manual_seed(0)
    model = JointModel.from_base(tiny_base, n_intents=3, n_tags=5).train()
    model.dropout.p = 0.0
    embeddings = model.encoder.get_input_embeddings()
    embeddings.weight.requires_grad_(not frozen)
    adversary = EmbeddingAdversary(model, epsilon=0.5)
    seen = _captured_lookups(model)  # registered after the adversary: sees what the encoder gets
    intents = torch.tensor([0, 2])

    F.cross_entropy(model(IDS, MASK)[0], intents).backward()
    gradient = adversary.output.grad.clone()
    with adversary.perturbed():
        F.cross_entropy(model(IDS, MASK)[0], intents).backward()
    plain, moved = seen
    delta = moved - plain
    assert torch.allclose(torch.linalg.vector_norm(delta, dim=(1, 2)), torch.tensor([0.5, 0.5]), atol=1e-5)
    cosine = F.cosine_similarity(delta.flatten(1), gradient.flatten(1), dim=1)
    assert torch.allclose(cosine, torch.ones(2), atol=1e-5)  # along the gradient, per text
    assert adversary.output is None and adversary.delta is None  # nothing carried to the next batch

    with torch.no_grad():
        model(IDS, MASK)
    assert torch.equal(seen[-1], plain)  # no gradients (validation, export): untouched
    adversary.close()
    model(IDS, MASK)
    assert adversary.output is None  # the hook is gone


def test_adversarial_training_trains_exports_and_serves(tiny_base: Path, tmp_path: Path):  # noqa: F811
    out = tmp_path / "fgm"
    manifest = train_tiny(tiny_base, out, "--adversarial", "1")
    assert manifest["training"]["config"]["adversarial"] == 1.0
    assert "adversarial 1" in manifest["training"]["recipe"]
    assert manifest["training"]["parity_max_abs_diff"] < 1e-3
    assert Engine.load(out).analyze(["what is my balance"])[0].prediction.intents


def test_adversarial_and_rdrop_together_are_a_usage_error(tmp_path: Path):
    proc = intentd("train", "--data", str(BANKING), "--out", str(tmp_path / "x"), "--adversarial", "1",
                   "--rdrop-weight", "1", check=False)
    assert proc.returncode != 0 and "choose one" in proc.stderr
