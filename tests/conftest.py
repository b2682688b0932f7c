"""Shared fixtures: a real (small) banking artifact trained once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BANKING = REPO / "models" / "domains" / "banking"
SHARED_DATASETS = REPO.parent / "shared" / "datasets"


def shared_dataset(name: str) -> Path:
    """A public data set from ../shared/datasets, or a clean skip when this checkout has none."""
    path = SHARED_DATASETS / name
    if not path.exists():
        pytest.skip(f"../shared/datasets/{name} not found: public benchmark data lives beside the repo, not in it")
    return path


@pytest.fixture(scope="session")
def banking_artifact(tmp_path_factory) -> Path:
    """The bundled banking domain, trained for 3 epochs (about a minute here), exported and calibrated.

    INTENTD_TEST_ARTIFACT=<dir> reuses an artifact built earlier (handy while iterating locally).
    """
    reuse = os.environ.get("INTENTD_TEST_ARTIFACT")
    if reuse:
        return Path(reuse)
    from intentd.models.build import BuildOptions, build
    from intentd.models.config import TrainConfig

    out = tmp_path_factory.mktemp("artifacts") / "banking"
    build(
        BuildOptions(
            data=BANKING,
            out=out,
            # a short, fixed recipe: the server tests read this model's answers, which must not move
            # when a default of the recipe does
            train=TrainConfig(epochs=3, label_smoothing=0.0, batch_size=32, value_swap=0.0, progress=False),
            int8_max_drop=0.05,  # a 3-epoch model is not the place to gate quantisation
            progress=False,
        )
    )
    return out
