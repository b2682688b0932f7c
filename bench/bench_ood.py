"""Cost of out-of-distribution scoring per request (issue budget: well under a millisecond).

    .venv/bin/pytest bench/bench_ood.py --benchmark-only

CLINC150-sized statistics (150 intents, 384-wide embeddings, a k-NN bank of 16 training
embeddings per intent), the four method scores and their combination, for a batch of 1 and a
batch of 32 (the server scores a whole batch at once).
"""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from intentd.server.decode import softmax
from intentd.server.ood import OODScorer

N_INTENTS, DIM, BANK_PER_INTENT = 150, 384, 16
CALIBRATION = {"ood": {"weights": {"energy": 0.5, "knn": 0.5}, "center": {}, "scale": {}, "threshold": 3.0}}


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """As in the server (server/app.py): numpy's BLAS on one thread."""
    with threadpool_limits(1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def scorer() -> OODScorer:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(DIM, DIM)).astype(np.float32)
    bank = rng.normal(size=(N_INTENTS * BANK_PER_INTENT, DIM)).astype(np.float32)
    stats = {"means": rng.normal(size=(N_INTENTS, DIM)).astype(np.float32),
             "precision": (a @ a.T / DIM + np.eye(DIM, dtype=np.float32)),
             "bank": bank / np.linalg.norm(bank, axis=1, keepdims=True)}
    return OODScorer(stats, CALIBRATION)


@pytest.mark.parametrize("batch", [1, 32])
def test_ood_scoring(benchmark, scorer, batch):
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(batch, DIM)).astype(np.float32)
    logits = rng.normal(size=(batch, N_INTENTS)).astype(np.float32)
    probs = softmax(logits.astype(np.float64))

    def score():
        return scorer.combine(scorer.method_scores(emb, logits, probs)) >= scorer.threshold

    flags = benchmark(score)
    assert flags.shape == (batch,)
    benchmark.extra_info["us_per_request"] = benchmark.stats.stats.median * 1e6 / batch
