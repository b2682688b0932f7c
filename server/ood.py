"""Out-of-distribution scores: one matrix-vector product per request, the rest vectorised over the batch.

Up to four signals, each "higher = more foreign":
- `mahalanobis`: distance of the sentence embedding to the nearest intent's mean under a shared
  covariance (Lee et al. 2018), fitted on the training set at export;
- `knn`: one minus the cosine similarity to the nearest training embedding (Sun et al. 2022),
  over a bank of at most 16 normalised training embeddings per intent (artifacts built before
  the bank existed score without it);
- `msp`: one minus the maximum softmax probability (Hendrycks & Gimpel 2017);
- `energy`: the negative log-sum-exp of the intent logits (Liu et al. 2020).
The combined score is a weighted sum of the per-method scores standardised on the validation
split's in-scope queries; weights and the decision threshold are fitted at calibration.
"""

from __future__ import annotations

import numpy as np

METHODS = ("mahalanobis", "msp", "energy", "knn")


class OODScorer:
    def __init__(self, stats: dict[str, np.ndarray], calibration: dict):
        self.means = stats["means"].astype(np.float32)  # [C, D]
        self.precision = stats["precision"].astype(np.float32)  # [D, D]
        self._mean_terms = np.einsum("cd,de,ce->c", self.means, self.precision, self.means)
        bank = stats.get("bank")  # [N, D], rows of unit length
        self.bank = None if bank is None else np.ascontiguousarray(bank, dtype=np.float32)
        # One matrix product per batch instead of three: x @ [precision | -2 (means @ precision)^T | bank^T]
        # einsum, not BLAS: a BLAS product's rounding follows its thread count, and this one is
        # made at load, where `intentd analyze`, a build's calibration and the server (one BLAS
        # thread) differed by up to 1.2e-3 in the Mahalanobis distance for the same query
        shift = np.einsum("cd,de->ce", self.means.astype(np.float64), self.precision.astype(np.float64))
        blocks = [self.precision, (-2.0 * shift).T.astype(np.float32)]
        if self.bank is not None:
            blocks.append(self.bank.T)
        # float32 (half the bytes: after a forward pass this matrix comes from memory, not cache,
        # ~0.1 ms a request for the banking example and ~0.35 ms for CLINC150's, half float64's),
        # multiplied one row at a time: a product's rounding depends on how many rows share a BLAS
        # call, and a score must not move with the batch
        self._projection = np.ascontiguousarray(np.concatenate(blocks, axis=1), dtype=np.float32)
        self._mean_terms = self._mean_terms.astype(np.float64)
        self._n_dim, self._n_means = self.precision.shape[0], self.means.shape[0]
        ood = calibration.get("ood", {})
        self.center = {m: float(ood.get("center", {}).get(m, 0.0)) for m in METHODS}
        self.scale = {m: float(ood.get("scale", {}).get(m, 1.0)) or 1.0 for m in METHODS}
        self.weights = {m: float(w) for m, w in ood.get("weights", {"mahalanobis": 1.0}).items()}
        self.threshold = float(ood.get("threshold", np.inf))

    def method_scores(self, embeddings: np.ndarray, logits: np.ndarray, probs: np.ndarray) -> dict[str, np.ndarray]:
        rows = np.ascontiguousarray(embeddings, dtype=np.float32)
        projected = np.empty((len(rows), self._projection.shape[1]), dtype=np.float64)
        for i, row in enumerate(rows):
            projected[i] = row @ self._projection
        x = rows.astype(np.float64)
        d, c = self._n_dim, self._n_means
        quad = (projected[:, :d] * x).sum(-1)
        dist = quad[:, None] + projected[:, d:d + c] + self._mean_terms[None, :]
        top = logits.max(-1)
        energy = -(top + np.log(np.exp(logits - top[:, None]).sum(-1)))
        scores = {
            "mahalanobis": dist.min(-1),
            "msp": 1.0 - probs.max(-1),
            "energy": energy,
        }
        if self.bank is not None:
            norms = np.maximum(np.sqrt((x * x).sum(-1)), 1e-12)
            scores["knn"] = 1.0 - projected[:, d + c:].max(-1) / norms
        return scores

    def combine(self, scores: dict[str, np.ndarray]) -> np.ndarray:
        total = np.zeros_like(next(iter(scores.values())), dtype=np.float64)
        for method, weight in self.weights.items():
            total += weight * (scores[method] - self.center[method]) / self.scale[method]
        return total
