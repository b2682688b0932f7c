"""A linear-chain CRF tag loss over words (Lafferty et al. 2001; BERT + CRF for joint intent and
slot filling as in Chen et al. 2019): the tag head's scores of each word's first token are the
emissions, and learned [from, to] transition scores tie neighbouring tags together, so the loss
scores whole tag sequences ("the | dark | knight" as one span) instead of each word alone.

Transitions BIO forbids (`server/labels.py::bio_allowed`) are fixed at -1e4, so training never
spends probability on an invalid sequence; decoding (server/decode.py) uses the same mask with the
learned scores. The emissions are the exported graph's `tag_logits`, unchanged, so serving needs
only the transition matrix, stored in labels.json.
"""

from __future__ import annotations

import torch
from torch import nn

from intentd.models.features import IGNORE
from intentd.server.labels import bio_allowed

FORBIDDEN = -1e4  # a forbidden transition's score: exp() of it is 0 in float32


class TagTransitions(nn.Module):
    """Learned start and [from, to] transition scores for `n_tags` BIO tags (zeros at first)."""

    def __init__(self, n_tags: int) -> None:
        super().__init__()
        self.start = nn.Parameter(torch.zeros(n_tags))
        self.transitions = nn.Parameter(torch.zeros(n_tags, n_tags))
        allowed_start, allowed = bio_allowed(n_tags)
        self.register_buffer("allowed_start", torch.from_numpy(allowed_start), persistent=False)
        self.register_buffer("allowed", torch.from_numpy(allowed), persistent=False)

    def masked(self) -> tuple[torch.Tensor, torch.Tensor]:
        return (self.start.masked_fill(~self.allowed_start, FORBIDDEN),
                self.transitions.masked_fill(~self.allowed, FORBIDDEN))

    def nll(self, tag_logits: torch.Tensor, tags: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood per word of the gold tag sequences.

        `tag_logits` [B, L, T] over tokens, `tags` [B, L] with IGNORE where no word starts (the
        word-level targets of models/features.py). Rows without a word add nothing.
        """
        is_word = tags != IGNORE
        n_words = is_word.sum(1)
        keep = n_words > 0
        if not keep.any():
            return tag_logits.new_zeros(())
        tag_logits, tags, is_word, n_words = tag_logits[keep], tags[keep], is_word[keep], n_words[keep]
        width = int(n_words.max())
        # each row's word positions first, in order (a stable sort of "not a word")
        positions = torch.argsort((~is_word).to(torch.int8), dim=1, stable=True)[:, :width]
        mask = torch.arange(width, device=tags.device).unsqueeze(0) < n_words.unsqueeze(1)  # [B, W]
        emissions = tag_logits.gather(1, positions.unsqueeze(-1).expand(-1, -1, tag_logits.shape[-1]))
        gold = tags.gather(1, positions).masked_fill(~mask, 0)
        start, transitions = self.masked()
        return (self._log_partition(emissions, mask, start, transitions)
                - self._score(emissions, gold, mask, start, transitions)).sum() / n_words.sum()

    @staticmethod
    def _score(emissions, gold, mask, start, transitions) -> torch.Tensor:
        """The unnormalised log-score of each row's gold sequence."""
        words = emissions.gather(2, gold.unsqueeze(-1)).squeeze(-1).masked_fill(~mask, 0.0).sum(1)
        steps = transitions[gold[:, :-1], gold[:, 1:]].masked_fill(~mask[:, 1:], 0.0).sum(1)
        return start[gold[:, 0]] + words + steps

    @staticmethod
    def _log_partition(emissions, mask, start, transitions) -> torch.Tensor:
        """log of the sum over every tag sequence of exp(score): the forward algorithm."""
        alpha = start + emissions[:, 0]  # [B, T]
        for w in range(1, emissions.shape[1]):
            step = torch.logsumexp(alpha.unsqueeze(2) + transitions.unsqueeze(0), dim=1) + emissions[:, w]
            alpha = torch.where(mask[:, w:w + 1], step, alpha)
        return torch.logsumexp(alpha, dim=-1)

    def scores(self) -> tuple[list[list[float]], list[float]]:
        """(transitions, start) as plain lists for labels.json (the learned values; the BIO mask
        is applied again when they are read)."""
        return self.transitions.detach().cpu().tolist(), self.start.detach().cpu().tolist()
