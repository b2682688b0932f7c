"""The joint model: one encoder pass gives intent logits, per-token BIO logits and a sentence embedding.

The embedding is the attention-masked mean of the last hidden states (the pooling the MiniLM
sentence-transformers were trained with; `pooling="cls"`, the first token's state, is there to
measure that choice); the intent head reads it, and the OOD scorer uses it.
With `intent_head="cosine"` the intent logits are a fixed scale times the cosine between the
embedding and each intent's weight vector (NormFace / CosFace); training subtracts a margin from
the true intent's cosine (models/train.py), which asks each intent's embeddings to sit closer to
their own direction than to any other by that margin: compact intents, the aim the OOD distances
share (Lin & Xu 2019 use it to detect unknown intents).
With `tag_context` the tag head reads each token's state beside the sentence embedding, so a
span's type can depend on what the whole sentence asks for ("play X" vs "add X to my playlist").
With `tag_layers` N > 1 the tag head also reads the token states of the N - 1 encoder layers below
the last (concatenated): lower layers keep more of a word's own form, which is where span edges
and rare names are decided (the BERT paper's feature-based NER read the last four).
With `crf` the model also holds tag transition scores (models/crf.py); they are used by the loss
and by decoding, not by the exported graph, whose `tag_logits` are the CRF's emissions.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModel

from intentd.models.config import INTENT_HEADS, POOLINGS, RecipeError
from intentd.models.crf import TagTransitions

OUTPUT_NAMES = ("intent_logits", "tag_logits", "sentence_embedding")
INPUT_NAMES = ("input_ids", "attention_mask")
COSINE_SCALE = 30.0  # logits of the cosine head: cosines in [-1, 1] times this (CosFace's s)


class CosineHead(nn.Module):
    """Intent logits = COSINE_SCALE x cos(embedding, the intent's weight vector); no bias."""

    def __init__(self, hidden: int, n_intents: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_intents, hidden))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return COSINE_SCALE * F.normalize(x, dim=-1) @ F.normalize(self.weight, dim=-1).T


class JointModel(nn.Module):
    def __init__(
        self, encoder: nn.Module, n_intents: int, n_tags: int, dropout: float = 0.1, tag_context: bool = False,
        pooling: str = "mean", intent_head: str = "linear", crf: bool = False, tag_layers: int = 1,
    ):
        super().__init__()
        if not 1 <= tag_layers <= encoder.config.num_hidden_layers:
            raise RecipeError(f"--tag-layers must be 1-{encoder.config.num_hidden_layers} for this base "
                              f"(got {tag_layers})")
        if pooling not in POOLINGS:
            raise RecipeError(f"pooling must be one of {', '.join(POOLINGS)} (got {pooling!r})")
        if intent_head not in INTENT_HEADS:
            raise RecipeError(f"intent_head must be one of {', '.join(INTENT_HEADS)} (got {intent_head!r})")
        self.pooling = pooling
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.intent_head = CosineHead(hidden, n_intents) if intent_head == "cosine" else nn.Linear(hidden, n_intents)
        self.tag_context = tag_context
        self.tag_layers = tag_layers
        self.tag_head = nn.Linear((tag_layers + tag_context) * hidden, n_tags)
        self.crf = TagTransitions(n_tags) if crf else None

    @classmethod
    def from_base(
        cls, base: str | Path, n_intents: int, n_tags: int, dropout: float = 0.1, tag_context: bool = False,
        pooling: str = "mean", intent_head: str = "linear", crf: bool = False, tag_layers: int = 1,
    ) -> "JointModel":
        from transformers.utils import logging as hf_logging

        config = AutoConfig.from_pretrained(str(base), local_files_only=True)
        verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
        hf_logging.set_verbosity_error()  # its load report lists the pooler we drop on purpose
        hf_logging.disable_progress_bar()  # a bar for a load of under a second, redrawn with \r in a log file
        try:
            encoder = AutoModel.from_pretrained(str(base), config=config, local_files_only=True,
                                                add_pooling_layer=False)
        finally:
            hf_logging.set_verbosity(verbosity)
            if bars:
                hf_logging.enable_progress_bar()
        return cls(encoder, n_intents, n_tags, dropout, tag_context, pooling, intent_head, crf, tag_layers)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                           output_hidden_states=self.tag_layers > 1)
        hidden = out.last_hidden_state
        if self.pooling == "cls":
            embedding = hidden[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            embedding = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        intent_logits = self.intent_head(self.dropout(embedding))
        parts = [hidden, *(out.hidden_states[-k] for k in range(2, self.tag_layers + 1))]
        if self.tag_context:
            parts.append(embedding.unsqueeze(1).expand(-1, hidden.shape[1], -1))
        tokens = torch.cat(parts, dim=-1) if len(parts) > 1 else hidden
        tag_logits = self.tag_head(self.dropout(tokens))
        return intent_logits, tag_logits, embedding
