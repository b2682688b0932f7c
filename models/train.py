"""Fine-tune the joint model: intent + entity tags trained together, selected on the validation split.

CPU-sane defaults: dynamic padding with length-grouped batches, max length 64, frozen word
embeddings (they hold half the parameters and barely move in a few epochs; freezing them cuts the
optimiser's work), a fixed seed.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import random
import re
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from torch import nn
from tqdm import tqdm

from intentd.models.augment import PartialUtterances, ValueSwap
from intentd.models.config import RecipeError, TrainConfig
from intentd.models.data.schema import Example
from intentd.models.features import (IGNORE, OOD_INTENT, OUTSIDE, AlignmentReport, Features, batches, build_labels,
                                     featurize)
from intentd.models.joint import COSINE_SCALE, JointModel
from intentd.models.evaluate import length_sorted_batches
from intentd.models.metrics import span_prf
from intentd.progress import bar as progress_bar
from intentd.server.decode import decode_entities, softmax
from intentd.server.labels import Labels
from intentd.server.tokenize import TextEncoder

log = logging.getLogger(__name__)

# auto epochs (auto_epochs): passes over the data, and a floor of steps for small data sets
EPOCHS_INTENTS, EPOCHS_ENTITIES = 4, 8
MIN_STEPS, MAX_EPOCHS = 250, 50
LABEL_SMOOTHING = 0.1  # for data without out-of-scope examples (for_data)
TOKEN_DROPOUT = 0.1  # for data without entity spans (for_data)
BATCH_ENTITIES, BATCH_INTENTS = 16, 32  # examples a step, with entity spans or without (for_data)
VALUE_SWAP = 0.5  # for data with entity spans (for_data; models/augment.py)


@dataclass
class EpochResult:
    epoch: int
    loss: float
    intent_accuracy: float
    entity_f1: float | None
    score: float
    seconds: float


@dataclass
class Trained:
    model: JointModel
    encoder: TextEncoder
    labels: Labels
    config: TrainConfig
    history: list[EpochResult] = field(default_factory=list)
    best_epoch: int = 0  # 0 when the mean of the last `averaged_epochs` epochs won
    averaged_epochs: int = 0
    planned_epochs: int = 0
    recipe: str = ""  # what the data decided, in words (describe_recipe)
    steps: int = 0
    stopped_by: str | None = None  # "patience" (early stopping) or "time_budget"; None: the whole plan ran
    seconds: float = 0.0
    alignment: AlignmentReport = field(default_factory=AlignmentReport)

    def summary(self) -> dict:
        return {
            "config": {k: v for k, v in asdict(self.config).items() if k != "progress"},
            "base": str(self.config.base_path()),
            "planned_epochs": self.planned_epochs,
            "recipe": self.recipe,
            "steps": self.steps,
            "epochs_trained": len(self.history),
            "stopped_early": self.stopped_by is not None,
            "stopped_by": self.stopped_by,
            "best_epoch": self.best_epoch,
            "averaged_epochs": self.averaged_epochs,
            "seconds": round(self.seconds, 1),
            "history": [asdict(h) for h in self.history],
            "entity_spans_not_on_word_boundaries": self.alignment.inexact,
            "entity_spans_cut_by_max_length": self.alignment.truncated,
        }


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(train_set: Sequence[Example], valid_set: Sequence[Example], config: TrainConfig,
          started: float | None = None, after_rows: int | None = None) -> Trained:
    """`started`: perf_counter() when the build began (the time budget counts from it);
    `after_rows`: the texts the build runs through the model after training (`Budget`)."""
    build_started = started if started is not None else time.perf_counter()
    started = time.perf_counter()
    seed_everything(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    if config.limit:
        train_set = spread_sample(train_set, config.limit)
    base = config.base_path()
    encoder = base_encoder(base, config.max_length)
    if config.partial_utterances:
        try:
            encoder.mark_partials()
        except ValueError as exc:
            raise RecipeError(f"--partial-utterances: {base}: {exc}") from None
    labels = build_labels(train_set)
    alignment = AlignmentReport()
    train_features = featurize(train_set, encoder, labels, alignment, every_piece=config.tag_every_piece)
    if alignment.inexact:
        log.warning("%d of %d entity spans do not start/end on a word boundary", alignment.inexact, alignment.spans)
    if alignment.truncated:
        log.warning("%d of %d entity spans end past --max-length %d word pieces: cut short or not learnt (the data "
                    "warnings list their texts)", alignment.truncated, alignment.spans, config.max_length)

    if config.teacher:
        from intentd.models.distill import teach

        tags = config.distill_tags and bool(labels.entity_types) and not config.crf
        lesson = teach(config.teacher, train_set, labels, config.distill_temperature, encoder if tags else None)
        for i, features in enumerate(train_features):
            features.soft = lesson.intents[i]
            features.soft_tags = lesson.tags[i] if lesson.tags is not None else None
        if lesson.tags is not None and config.progress:
            tqdm.write(f"the teacher's entity tags teach {sum(rows is not None for rows in lesson.tags)} of "
                       f"{len(train_features)} training texts (the rest: another word split)", file=sys.stderr)
    has_entities, has_out_of_scope = any(ex.entities for ex in train_set), any(ex.ood for ex in train_set)
    asked, config = config, for_data(config, has_entities, has_out_of_scope)
    model = JointModel.from_base(base, len(labels.intents), len(labels.tags), config.dropout, config.tag_context,
                                 config.pooling, config.intent_head, config.crf, config.tag_layers)
    _prepare_parameters(model, config)
    partials = PartialUtterances(train_set, config.partial_utterances, config.seed) if config.partial_utterances else None
    per_epoch = len(train_features) + (partials.per_epoch if partials is not None else 0)
    steps_per_epoch = math.ceil(per_epoch / config.batch_size)
    epochs = config.epochs or auto_epochs(len(train_features), config.batch_size, has_entities)
    plan = Plan(total_steps=steps_per_epoch * epochs)
    optimizer = Optimizers(model, config, plan)
    budget = (Budget(config.time_budget_s, build_started, after_rows=after_rows, valid_rows=len(valid_set),
                     batch_size=config.batch_size) if config.time_budget_s else None)

    result = Trained(model, encoder, labels, config, alignment=alignment)
    result.planned_epochs = epochs
    result.recipe = describe_recipe(asked, config, has_entities, has_out_of_scope, epochs, steps_per_epoch)
    if config.progress:
        tqdm.write(result.recipe, file=sys.stderr)
    best_score, best_state = -1.0, None
    progress = Progress(config.patience, min_steps=min(MIN_STEPS, plan.total_steps))
    averaged: dict | None = None
    bar = progress_bar(total=plan.total_steps, desc="training", unit="step", disable=not config.progress, leave=False)
    step = 0
    masking = TokenMasking.for_encoder(encoder, config.token_dropout, config.seed) if config.token_dropout else None
    if config.token_dropout and masking is None:
        log.warning("token dropout is off: the tokenizer has none of %s", ", ".join(MASK_TOKENS))
    adversary = EmbeddingAdversary(model, config.adversarial) if config.adversarial else None
    swap = ValueSwap(train_set, config.value_swap, config.seed) if config.value_swap and has_entities else None
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        model.train()
        loss_sum, epoch_steps = 0.0, 0
        epoch_features = train_features if swap is None else _swapped(swap, epoch, train_set, train_features,
                                                                     encoder, labels, config)
        if partials is not None:
            epoch_features = [*epoch_features, *_partial(partials, epoch, train_set, epoch_features, encoder, labels)]
        for batch in batches(epoch_features, config.batch_size, encoder.pad_id, shuffle=True, seed=config.seed + epoch):
            if step >= plan.total_steps:
                break
            if masking is not None:
                batch["input_ids"] = masking(batch["input_ids"], batch["attention_mask"], batch["tags"])
            loss = _loss(model, batch, config)
            loss.backward()
            if adversary is not None:
                with adversary.perturbed():
                    _loss(model, batch, config).backward()
            optimizer.clip(1.0)
            optimizer.step()
            optimizer.zero_grad()
            loss_sum += loss.item()
            step += 1
            epoch_steps += 1
            bar.update()
            bar.set_postfix(epoch=f"{epoch}/{epochs}", loss=f"{loss_sum / epoch_steps:.4f}", refresh=False)
            replanned = budget.replan(step, plan, steps_per_epoch) if budget is not None else None
            if replanned is not None:
                bar.total = plan.total_steps
                bar.refresh()
                if config.progress:  # said as the recipe is: why training ends before its planned passes
                    tqdm.write(replanned, file=sys.stderr)
        validation_started = time.perf_counter()
        accuracy, f1 = validate(model, encoder, with_transitions(labels, model), valid_set)
        if budget is not None:
            budget.observe_validation(time.perf_counter() - validation_started)
        score = _selection_score(accuracy, f1)
        epoch_result = EpochResult(epoch, loss_sum / max(1, epoch_steps), accuracy, f1, score, time.perf_counter() - t0)
        result.history.append(epoch_result)
        if config.progress:
            tqdm.write(
                f"epoch {epoch}: loss {epoch_result.loss:.4f}  valid intent acc {accuracy:.4f}"
                + (f"  entity F1 {f1:.4f}" if f1 is not None else "")
                + f"  ({epoch_result.seconds:.0f}s)",
                file=sys.stderr,
            )
        if score > best_score:
            best_score, best_state, result.best_epoch = score, copy.deepcopy(model.state_dict()), epoch
        stalled = progress.stalled(epoch, accuracy, f1, score, steps=step)
        if config.average_last > 1 and epoch > epochs - config.average_last:
            averaged = _accumulate(averaged, model)
        if step >= plan.total_steps:
            break
        if stalled:
            result.stopped_by = "patience"
            if config.progress:
                tqdm.write(f"stopping: no better validation score, intent accuracy or entity F1 for "
                           f"{config.patience} epochs", file=sys.stderr)
            break
    bar.close()
    if adversary is not None:
        adversary.close()
    result.steps = step
    if result.stopped_by is None and budget is not None and budget.cut:
        result.stopped_by = "time_budget"
    if averaged is not None:
        n = min(config.average_last, len(result.history))
        model.load_state_dict({k: v / n if v.is_floating_point() else v for k, v in averaged.items()})
        validation_started = time.perf_counter()
        accuracy, f1 = validate(model, encoder, with_transitions(labels, model), valid_set)
        if budget is not None:
            budget.observe_validation(time.perf_counter() - validation_started)
        score = _selection_score(accuracy, f1)
        if config.progress:
            tqdm.write(
                f"mean of the last {n} epochs: valid intent acc {accuracy:.4f}"
                + (f"  entity F1 {f1:.4f}" if f1 is not None else ""),
                file=sys.stderr,
            )
        if score > best_score:  # keep the averaged weights (already loaded)
            best_score, best_state, result.best_epoch, result.averaged_epochs = score, None, 0, n
    if best_state is not None:
        model.load_state_dict(best_state)
    if config.lora:
        model.encoder = model.encoder.merge_and_unload()
    model.encoder.get_input_embeddings().sparse = False  # back to the plain lookup the export traces
    model.eval()
    result.labels = with_transitions(labels, model)
    result.seconds = time.perf_counter() - started
    return result


def base_encoder(base: Path, max_length: int) -> TextEncoder:
    """The base model's tokenizer. A folder without a tokenizer.json (older models ship only a
    vocab.txt or a SentencePiece file) gets one from transformers' fast tokenizer; the artifact
    stores it as tokenizer.json, so serving still needs only the `tokenizers` library."""
    if (base / "tokenizer.json").is_file():
        return TextEncoder.from_file(base / "tokenizer.json", max_length=max_length)
    if not (base / "config.json").is_file():
        raise FileNotFoundError(f"{base}: not a Hugging Face model directory (no config.json)")
    from transformers import AutoTokenizer

    try:
        fast = AutoTokenizer.from_pretrained(str(base), use_fast=True, local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - transformers raises many types for a folder it cannot read
        raise FileNotFoundError(f"{base}: no tokenizer.json, and transformers cannot build one ({exc})") from None
    if not fast.is_fast:
        raise FileNotFoundError(f"{base}: no tokenizer.json, and its tokenizer has no `tokenizers` form to serve with")
    # transformers builds a tokenizer of special tokens alone when the vocabulary file is missing
    embedded = json.loads((base / "config.json").read_text(encoding="utf-8")).get("vocab_size") or 0
    if len(fast) < embedded / 2:
        raise FileNotFoundError(f"{base}: no tokenizer.json, and no vocabulary file for the {embedded} token "
                                f"embeddings (transformers found {len(fast)} tokens)")
    return TextEncoder(Tokenizer.from_str(fast.backend_tokenizer.to_str()), max_length=max_length)


def _partial(partials: PartialUtterances, epoch: int, train_set: Sequence[Example], features: Sequence[Features],
             encoder: TextEncoder, labels: Labels) -> list[Features]:
    """One pass's partial utterances as training tensors (intent targets only); a teacher's
    distribution for the whole utterance stays with its partial (the target is the final intent)."""
    cut = partials.epoch(train_set, epoch)
    out = featurize([ex for _, ex in cut], encoder, labels, partial=True)
    for (i, _), f in zip(cut, out):
        f.soft = features[i].soft
    return out


def _swapped(swap: ValueSwap, epoch: int, train_set: Sequence[Example], features: Sequence[Features],
             encoder: TextEncoder, labels: Labels, config: TrainConfig) -> list[Features]:
    """One pass's training tensors with entity values swapped. Only the examples whose text
    changed are tokenised again; the rest keep their tensors (`ValueSwap` returns an unchanged
    example itself). A teacher's intent distribution stays with its example: a swapped value does
    not change the intent; its tags, read on the text before the swap, are dropped."""
    examples = swap.epoch(train_set, epoch)
    changed = [i for i, (new, old) in enumerate(zip(examples, train_set)) if new is not old]
    out = list(features)
    for i, new in zip(changed, featurize([examples[i] for i in changed], encoder, labels,
                                         every_piece=config.tag_every_piece)):
        new.soft = features[i].soft
        out[i] = new
    return out


def spread_sample(examples: Sequence[Example], n: int) -> list[Example]:
    """The first `n` examples taken round-robin across intents (out-of-scope as one more group), so a
    small smoke-test subset still covers every intent the domain's templates name."""
    groups: dict[str, list[Example]] = {}
    for ex in examples:
        groups.setdefault("\0ood" if ex.ood else ex.intent, []).append(ex)
    out: list[Example] = []
    for i in range(max((len(g) for g in groups.values()), default=0)):
        for group in groups.values():
            if i < len(group) and len(out) < n:
                out.append(group[i])
    return out


class Progress:
    """When to stop early: after `patience` epochs in which neither the selection score nor
    either of its parts (intent accuracy, span F1) beat its own best (0: never).

    The score alone is fragile where one part is measured on few queries: on SNIPS (700
    validation queries) intent accuracy moves by two or three queries a pass, and runs whose
    span F1 still rose were stopped at pass 5 of 8 because the mean of the two dipped twice
    (label smoothing, first-token pooling; docs/accuracy.md). Selection is unchanged: the best
    score's epoch is the model kept.

    Never before `min_steps` optimiser steps: a small data set's passes are a few steps each and
    its validation split a handful of queries, so two flat passes say nothing; the `intentd init`
    sample stopped at 20 of 250 planned steps with no entity learnt."""

    def __init__(self, patience: int, min_steps: int = 0) -> None:
        self.patience = patience
        self.min_steps = min_steps
        self.best = {"score": -math.inf, "intent": -math.inf, "entities": -math.inf}
        self.last_better = 0

    def stalled(self, epoch: int, accuracy: float, f1: float | None, score: float, steps: int = 0) -> bool:
        """`steps`: optimiser steps taken so far."""
        for part, value in (("score", score), ("intent", accuracy), ("entities", f1)):
            if value is not None and value > self.best[part]:
                self.best[part] = value
                self.last_better = epoch
        return bool(self.patience) and epoch - self.last_better >= self.patience and steps >= self.min_steps


def _selection_score(accuracy: float, f1: float | None) -> float:
    """What model selection maximises: intent accuracy, averaged with span F1 when there are entities."""
    return accuracy if f1 is None else (accuracy + f1) / 2


def _accumulate(total: dict | None, model: JointModel) -> dict:
    """Running sum of the weights (for checkpoint averaging); integer buffers are kept as they are."""
    state = model.state_dict()
    if total is None:
        return {k: v.detach().clone().float() if v.is_floating_point() else v.clone() for k, v in state.items()}
    for k, v in state.items():
        if v.is_floating_point():
            total[k] += v.detach()
    return total


def _prepare_parameters(model: JointModel, config: TrainConfig) -> None:
    if config.lora:
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=config.lora_rank, lora_alpha=2 * config.lora_rank, lora_dropout=0.05,
                          target_modules=["query", "key", "value", "dense"])
        model.encoder = get_peft_model(model.encoder, lora)
    elif config.freeze_embeddings:
        model.encoder.get_input_embeddings().weight.requires_grad_(False)
    else:  # a batch touches a few hundred of the 30k rows: a sparse gradient updates only those
        model.encoder.get_input_embeddings().sparse = True


def for_data(config: TrainConfig, has_entities: bool, has_out_of_scope: bool = False) -> TrainConfig:
    """The options left to the data (None), decided. Entity spans: train the word embeddings (a
    slot value is often a rare word whose pre-trained vector says little about its role) and let
    the tag head read the sentence embedding (which tells "play X" from "add X to my playlist").
    Intent-only data: neither; frozen embeddings also train faster (docs/accuracy.md).

    Label smoothing (LABEL_SMOOTHING) only without out-of-scope training examples. Without them
    the OOD score rests on distances in the embedding space (Mahalanobis, k-NN), and smoothing
    keeps each intent's cluster tighter: SNIPS's test split escalated 3.86 % against its 5 %
    budget instead of 6.29 %, intent accuracy 98.29 -> 98.57, span F1 95.90 -> 95.67; the banking
    example's span F1 96.49 -> 96.09, its escalations 4.62 -> 5.00 % (within budget either way),
    OOS recall unchanged. With them, outlier
    exposure already pulls out-of-scope logits towards uniform and smoothing pulls in-scope ones
    the same way, blurring the line outlier exposure draws: on CLINC150 OOS recall at the 5 %
    budget fell 91.8 -> 90.2 and AUROC 0.984 -> 0.980.

    Token dropout (TOKEN_DROPOUT, `TokenMasking`) only without entity spans. On CLINC150, over
    four seeds, the best OOS recall at 96 % in-scope accuracy rose on every seed (71.9 / 55.6 /
    72.6 / 77.8 -> 78.3 / 70.3 / 74.7 / 80.4 %), AUROC held (0.984-0.985), classification moved
    within a seed's reach (mean +0.09); on CLINC150 without its out-of-scope rows nothing moved.
    With entity spans it did not pay on SNIPS, masking every piece (span F1 +0.09 / -0.16 on seeds
    13 / 14, false escalations 3.86 -> 5.43 %, 4.29 -> 5.00 %) nor sparing slot values (span F1
    -0.22 / +0.04, exact match -0.71 / +0.14, false escalations 3.86 -> 5.86 %, 4.29 %).

    Entity spans: batches of BATCH_ENTITIES (twice the optimiser steps a pass) and names swapped
    between examples (VALUE_SWAP, `ValueSwap`). Together on SNIPS, seeds 13 / 14 / 15: span F1
    95.81 / 95.70 / 95.59 -> 96.40 / 95.62 / 95.95 and exact match 90.29 / 90.00 / 89.71 -> 91.43 /
    89.86 / 90.29 (means +0.29 and +0.53, no seed losing more than 0.14), intent accuracy level;
    the banking example 96.51 -> 97.17 span F1 (docs/accuracy.md). Each alone moved F1 by a
    seed's worth (batch 16 lost 0.38 on seed 15). Intent-only data keeps BATCH_INTENTS: batch 16
    cost CLINC150 0.001-0.002 AUROC and up to 2.2 points of OOS recall on every seed."""
    smoothing = config.label_smoothing
    if smoothing is None:
        smoothing = 0.0 if has_out_of_scope else LABEL_SMOOTHING
    token_dropout = config.token_dropout
    if token_dropout is None:
        token_dropout = 0.0 if has_entities else TOKEN_DROPOUT
    return replace(
        config,
        freeze_embeddings=(not has_entities) if config.freeze_embeddings is None else config.freeze_embeddings,
        tag_context=has_entities if config.tag_context is None else config.tag_context,
        label_smoothing=smoothing,
        token_dropout=token_dropout,
        batch_size=config.batch_size or (BATCH_ENTITIES if has_entities else BATCH_INTENTS),
        value_swap=(VALUE_SWAP if has_entities else 0.0) if config.value_swap is None else config.value_swap,
    )


def describe_recipe(asked: TrainConfig, config: TrainConfig, has_entities: bool, has_out_of_scope: bool,
                    epochs: int, steps_per_epoch: int) -> str:
    """One line saying what this build trains and which of it the data decided, so that a user
    who passed no flags can see why (printed before the first step, kept in the manifest)."""

    def decided(text: str, by_data: bool, because: str) -> str:
        return f"{text} [data: {because}]" if by_data else f"{text} [asked]"

    spans = "entity spans" if has_entities else "no entity spans"
    oos = "out-of-scope examples" if has_out_of_scope else "no out-of-scope examples"
    passes = f"{epochs} passes x {steps_per_epoch} steps"
    if config.patience:
        passes += f" (fewer after {config.patience} without progress)"
    parts = [decided(passes, asked.epochs is None, f"{spans}, its size"),
             decided("word embeddings " + ("frozen" if config.freeze_embeddings else "trained"),
                     asked.freeze_embeddings is None, spans)]
    if has_entities:
        parts.append(decided("tag head " + ("reads" if config.tag_context else "does not read") + " the sentence "
                             "embedding", asked.tag_context is None, spans))
    parts.append(decided(f"label smoothing {config.label_smoothing:g}", asked.label_smoothing is None, oos))
    parts.append(decided(f"token dropout {config.token_dropout:g}", asked.token_dropout is None, spans))
    parts.append(decided(f"batch {config.batch_size}", asked.batch_size is None, spans))
    if has_entities:
        parts.append(decided(f"value swap {config.value_swap:g}", asked.value_swap is None, spans))
    if has_out_of_scope:
        parts.append(f"outlier exposure {config.ood_loss_weight:g}")
    if config.partial_utterances:
        parts.append(f"partial utterances {config.partial_utterances:g}")
    measured = {"crf": config.crf, "tag layers": config.tag_layers > 1 and config.tag_layers,
                "tags on every piece": config.tag_every_piece,
                "R-Drop": config.rdrop_weight, "adversarial": config.adversarial,
                "synthetic outliers": config.mixup_ood_weight,
                "contrastive": config.contrastive_weight, "layer decay": config.layer_decay != 1.0 and config.layer_decay,
                "cosine head": config.intent_head == "cosine", "cls pooling": config.pooling == "cls",
                "average last": config.average_last, "teachers": len(config.teacher), "LoRA": config.lora}
    options = [name if value is True else f"{name} {value:g}" for name, value in measured.items() if value]
    return "recipe: " + ", ".join(parts) + (f"; options: {', '.join(options)}" if options else "")


def auto_epochs(n_examples: int, batch_size: int, has_entities: bool) -> int:
    """Epochs from the data: EPOCHS_INTENTS passes over intent-only data, EPOCHS_ENTITIES when it
    has entity spans (per-word tags need more passes than one label a sentence), and at least
    MIN_STEPS optimiser steps for a small data set; early stopping may end sooner, never before
    MIN_STEPS (`Progress`)."""
    base = EPOCHS_ENTITIES if has_entities else EPOCHS_INTENTS
    return min(MAX_EPOCHS, max(base, math.ceil(MIN_STEPS * batch_size / max(1, n_examples))))


@dataclass
class Plan:
    """The optimiser's step count: the learning-rate schedule reads it, so a time budget that
    shortens training also shortens the decay (the model ends at a low learning rate either way)."""

    total_steps: int


class Budget:
    """--time-budget: after PROBE_STEPS optimiser steps, fit the whole build into the budget.

    The budget counts from the start of the build. Its time after training (export, INT8,
    calibration, evaluation) is reserved from what that work is: EXPORT_S for the export and
    quantisation, and the `after_rows` texts it runs through the model at
    AFTER_TRAINING_ROW_FACTOR times the time a validation pass takes a text (before the first
    pass, a training step's time a text, a third of it forward). A reserve of 30 s + 10 % of the
    budget, whatever the data, left a 1 min build of the starter domain (8 s after training) 50 of
    its 250 steps, done in 33 s. Without `after_rows` the reserve is that fixed one. Steps and
    validation passes are timed apart, and a shorter plan also has fewer validation passes (one an
    epoch, and one for a last, partial epoch): reserving the old plan's passes left a 90 s build
    of a tiny domain 49 of its 200 steps, and most of the budget unused."""

    PROBE_STEPS = 30
    AFTER_TRAINING_SHARE = 0.10  # without `after_rows`
    AFTER_TRAINING_FIXED_S = 30.0  # without `after_rows`
    EXPORT_S = 10.0  # ONNX export and INT8 quantisation of a MiniLM-sized encoder (~6 s here)
    # measured here: after training took ~6 s + 0.35-0.65 x (texts x a validation pass's time a
    # text): CLINC150 29,900 texts, 26.4 s; the banking example 3,092, 10.7 s; the starter 110, 6.8 s
    AFTER_TRAINING_ROW_FACTOR = 1.0

    def __init__(self, budget_s: float, started: float, clock=time.perf_counter, after_rows: int | None = None,
                 valid_rows: int = 0, batch_size: int = 1):
        """`after_rows`: the texts the build runs through the model after training (the splits,
        the validation split three times); `valid_rows`: those of one validation pass."""
        self.budget_s = budget_s
        self.started = started
        self.clock = clock
        self.after_rows = after_rows
        self.valid_rows = valid_rows
        self.batch_size = batch_size
        self._step_s: float | None = None
        self._train_started = clock()
        self._validation_s = 0.0
        self._validations = 0
        self._planned = False
        self._warned = False
        self._asked_steps = 0  # the plan before the budget's first replan
        self.cut = False  # whether the budget shortened the plan
        self._warn_if_spent(budget_s - self._after_training_s() - (self._train_started - started), 0)

    def _after_training_s(self) -> float:
        if self.after_rows is None:
            return self.AFTER_TRAINING_FIXED_S + self.AFTER_TRAINING_SHARE * self.budget_s
        if self._validations and self.valid_rows:
            row_s = self._validation_s / self._validations / self.valid_rows
        elif self._step_s is not None:
            row_s = self._step_s / (3 * self.batch_size)
        else:  # nothing measured yet: the export alone
            row_s = 0.0
        return self.EXPORT_S + self.AFTER_TRAINING_ROW_FACTOR * row_s * self.after_rows

    def _warn_if_spent(self, left_s: float, step: int) -> None:
        """Said once: the build cannot keep the time the user asked for (a 3 s budget used to run
        its whole build without a word)."""
        if left_s > 0 or self._warned:
            return
        self._warned = True
        log.warning("--time-budget %.2g min cannot be met: %.0f s had passed at step %d and about %.0f s are needed "
                    "after training (export, calibration, evaluation): the build will run over it",
                    self.budget_s / 60, self.clock() - self.started, step, self._after_training_s())

    def observe_validation(self, seconds: float) -> None:
        self._validation_s += seconds
        self._validations += 1

    def replan(self, step: int, plan: Plan, steps_per_epoch: int) -> str | None:
        """The line to show when the plan changed (after the probe, and whenever an epoch's end is
        near), else None."""
        if step != self.PROBE_STEPS and not (step % steps_per_epoch == 0 and self._planned):
            return None
        now = self.clock()
        step_s = self._step_s = max(1e-6, (now - self._train_started - self._validation_s) / step)
        # before the first pass, guess one at a tenth of an epoch's steps
        validation_s = (self._validation_s / self._validations if self._validations
                        else 0.1 * step_s * steps_per_epoch)
        left_s = self.budget_s - self._after_training_s() - (now - self.started) - validation_s  # the last pass
        more = max(0, int(left_s / (step_s + validation_s / steps_per_epoch)))
        if not self._planned:  # later replans run near the end, where a little over is noise
            self._warn_if_spent(left_s, step)
            self._asked_steps = plan.total_steps
        self._planned = True
        # a cut plan grows back (never past the one asked) when the passes measured since the
        # probe leave more time than it guessed: a CLINC150 build in 5 min ended in 176 s
        target = min(step + more, self._asked_steps)
        if target == plan.total_steps or (target > plan.total_steps and not self.cut):
            return None
        plan.total_steps = max(step + 1, target)
        self.cut = plan.total_steps < self._asked_steps
        return (f"--time-budget {self.budget_s / 60:g} min: training for {plan.total_steps} of the {self._asked_steps} "
                f"planned steps ({plan.total_steps / steps_per_epoch:.1f} of "
                f"{self._asked_steps / steps_per_epoch:.0f} epochs)")


class Optimizers:
    """AdamW for the dense parameters; SparseAdam for trained word embeddings, whose gradient is
    sparse: only the rows a batch touches move. A dense AdamW update of all 30k rows, whose
    momentum keeps moving a rare word's row for steps after it was seen, was no better on SNIPS
    (span F1 95.59 vs 95.70, docs/accuracy.md) for about the same epoch time. One learning-rate
    schedule (warm-up, then linear decay to 0 at the plan's last step) for both. `layer_decay`
    F < 1 gives encoder layer k of n the rate lr * F ** (n - k), the embeddings lr * F ** n: at
    0.85 it moved neither data set beyond a seed's reach (docs/accuracy.md), so it is off."""

    def __init__(self, model: JointModel, config: TrainConfig, plan: Plan):
        params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        embedding = model.encoder.get_input_embeddings()
        sparse = [p for _, p in params if p is embedding.weight and getattr(embedding, "sparse", False)]
        dense = [(n, p) for n, p in params if not any(p is q for q in sparse)]
        lr = config.lr * (10 if config.lora else 1)
        self.dense_params = [p for _, p in dense]
        self.sparse_params = sparse
        n_layers = model.encoder.config.num_hidden_layers

        def encoder_lr(depth: int) -> float:
            return lr * config.layer_decay ** (n_layers - depth)

        depths: dict[int, list] = {}
        heads = []
        for n, p in dense:
            if n.startswith("encoder."):
                depths.setdefault(_layer_depth(n, n_layers), []).append(p)
            else:
                heads.append(p)
        groups = [{"params": ps, "lr": encoder_lr(d)} for d, ps in sorted(depths.items())]
        groups.append({"params": heads, "lr": config.head_lr})
        self.optimizers = [torch.optim.AdamW(groups, weight_decay=config.weight_decay, foreach=True)]
        if sparse:  # the word embeddings: depth 0
            self.optimizers.append(torch.optim.SparseAdam(sparse, lr=encoder_lr(0)))
        warmup = max(1, int(config.warmup * plan.total_steps))

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return max(0.0, (plan.total_steps - step) / max(1, plan.total_steps - warmup))

        self.schedulers = [torch.optim.lr_scheduler.LambdaLR(o, schedule) for o in self.optimizers]

    def clip(self, max_norm: float) -> None:
        """Clip the global gradient norm, dense and sparse gradients together."""
        grads = [p.grad for p in self.dense_params if p.grad is not None]
        squares = [torch.linalg.vector_norm(g) ** 2 for g in grads]
        sparse_values = []
        for p in self.sparse_params:
            if p.grad is not None:
                p.grad = p.grad.coalesce()
                sparse_values.append(p.grad._values())
                squares.append(torch.linalg.vector_norm(sparse_values[-1]) ** 2)
        if not squares:
            return
        scale = max_norm / (torch.sqrt(torch.stack(squares).sum()) + 1e-6)
        if scale < 1:
            torch._foreach_mul_(grads + sparse_values, scale)

    def step(self) -> None:
        for optimizer, scheduler in zip(self.optimizers, self.schedulers):
            optimizer.step()
            scheduler.step()

    def zero_grad(self) -> None:
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)


def _layer_depth(name: str, n_layers: int) -> int:
    """0 for the embeddings, k for the k-th transformer layer (from 1), n_layers above them."""
    match = re.search(r"\.layer\.(\d+)\.", name)
    if match:
        return int(match.group(1)) + 1
    return 0 if ".embeddings." in name else n_layers


def _loss(model: JointModel, batch: dict, config: TrainConfig) -> torch.Tensor:
    outputs = model(batch["input_ids"], batch["attention_mask"])
    if not (config.rdrop_weight > 0 and model.training):
        return _objective(model, outputs, batch, config)
    # R-Drop: a second pass with other dropout masks; both passes' losses, and each pass's
    # predictions pulled towards the other's
    again = model(batch["input_ids"], batch["attention_mask"])
    return ((_objective(model, outputs, batch, config) + _objective(model, again, batch, config)) / 2
            + config.rdrop_weight * rdrop_consistency(outputs, again, batch["tags"]))


class EmbeddingAdversary:
    """FGM adversarial training (Miyato et al. 2017; Goodfellow et al.'s fast gradient method on
    word embeddings): after a batch's backward pass, each text's word embeddings move `epsilon`
    (L2 over the text) along the loss gradient and the batch is trained again from there, so the
    tags and the intent must hold against the worst small change of the words' vectors.

    A forward hook on the embedding lookup keeps its output's gradient during training passes
    (frozen embeddings included) and adds the perturbation inside `perturbed()`; it does nothing
    without gradients (validation, export)."""

    def __init__(self, model: JointModel, epsilon: float) -> None:
        if epsilon < 0:
            raise ValueError(f"adversarial epsilon must be 0 or more (got {epsilon:g})")
        self.epsilon = epsilon
        self.output: torch.Tensor | None = None
        self.delta: torch.Tensor | None = None
        self._handle = model.encoder.get_input_embeddings().register_forward_hook(self._hook)

    def close(self) -> None:
        self._handle.remove()

    def _hook(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor | None:
        if not torch.is_grad_enabled():
            return None
        if self.delta is not None:
            return output + self.delta
        if not output.requires_grad:  # frozen embeddings: a leaf, so its gradient is kept
            output = output.detach().requires_grad_(True)
        else:
            output.retain_grad()
        self.output = output
        return output

    @contextlib.contextmanager
    def perturbed(self):
        grad = None if self.output is None else self.output.grad
        if grad is None:
            raise RuntimeError("no backward pass of a training batch to move the embeddings from")
        norm = torch.linalg.vector_norm(grad, dim=(1, 2), keepdim=True)
        self.delta = self.epsilon * grad / (norm + 1e-12)
        try:
            yield
        finally:
            self.output = self.delta = None


MASK_TOKENS = ("[MASK]", "<mask>", "[UNK]", "<unk>")  # BERT's and RoBERTa's, in order of preference


class TokenMasking:
    """Token dropout: each word piece of a training text (never [CLS], [SEP], padding or a piece of
    a word inside an entity span) is replaced by [MASK] with probability `rate`, so an intent must
    be read from all of its words, not from the one or two the model has memorised. Slot values
    stay visible: their tags are what the tag loss asks for. Its own random stream: the rest of
    training draws the same numbers with or without it."""

    def __init__(self, rate: float, mask_id: int, seed: int) -> None:
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"token dropout must be in [0, 1) (got {rate:g})")
        self.rate, self.mask_id = rate, mask_id
        self.generator = torch.Generator().manual_seed(seed)

    @classmethod
    def for_encoder(cls, encoder: TextEncoder, rate: float, seed: int) -> "TokenMasking | None":
        """None when the tokenizer has no mask or unknown token to put in a word piece's place."""
        for token in MASK_TOKENS:
            mask_id = encoder.tokenizer.token_to_id(token)
            if mask_id is not None:
                return cls(rate, mask_id, seed)
        return None

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, tags: torch.Tensor) -> torch.Tensor:
        lengths = attention_mask.sum(1, keepdim=True)
        positions = torch.arange(input_ids.shape[1]).unsqueeze(0)
        inner = (positions > 0) & (positions < lengths - 1)  # between [CLS] and [SEP]
        # a word's tag sits on its first piece (features.py): carry it over the pieces that follow
        word_start = torch.where(tags != IGNORE, positions, torch.zeros_like(positions)).cummax(1).values
        outside = tags.gather(1, word_start) == OUTSIDE
        drawn = torch.rand(input_ids.shape, generator=self.generator) < self.rate
        return torch.where(inner & outside & drawn, torch.full_like(input_ids, self.mask_id), input_ids)


def rdrop_consistency(first: tuple, second: tuple, tags: torch.Tensor) -> torch.Tensor:
    """R-Drop (Liang et al. 2021): the symmetric KL divergence between two dropout passes'
    intent distributions (every row, out-of-scope ones too), plus the same between their tag
    distributions on the positions that carry a word's tag."""

    def symmetric_kl(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        la, lb = F.log_softmax(a, -1), F.log_softmax(b, -1)
        return 0.5 * (F.kl_div(la, lb, log_target=True, reduction="batchmean")
                      + F.kl_div(lb, la, log_target=True, reduction="batchmean"))

    loss = symmetric_kl(first[0], second[0])
    words = tags != IGNORE
    if words.any():
        loss = loss + symmetric_kl(first[1][words], second[1][words])
    return loss


def _objective(model: JointModel, outputs: tuple, batch: dict, config: TrainConfig) -> torch.Tensor:
    """The training loss of one forward pass's outputs."""
    intent_logits, tag_logits, embedding = outputs
    intents = batch["intents"]
    in_scope = intents != OOD_INTENT
    loss = intent_logits.new_zeros(())
    if in_scope.any():
        targets = intents[in_scope]
        margined = intent_logits[in_scope]
        if config.intent_head == "cosine" and config.cosine_margin:  # CosFace: the true intent's cosine less m
            margined = margined - COSINE_SCALE * config.cosine_margin * F.one_hot(targets, margined.shape[-1])
        hard = F.cross_entropy(margined, targets,
                               label_smoothing=config.label_smoothing or 0.0)  # None: not decided (for_data), none
        if "soft" in batch:  # distillation (models/distill.py)
            t, w = config.distill_temperature, config.distill_weight
            student = F.log_softmax(intent_logits[in_scope] / t, -1)
            soft = F.kl_div(student, batch["soft"][in_scope], reduction="batchmean") * t * t
            hard = (1 - w) * hard + w * soft
        loss = loss + hard
    if (~in_scope).any():
        # outlier exposure: push out-of-scope examples towards a uniform intent distribution
        loss = loss + config.ood_loss_weight * -F.log_softmax(intent_logits[~in_scope], -1).mean()
    if config.mixup_ood_weight > 0:
        loss = loss + config.mixup_ood_weight * mixup_outlier_exposure(model, embedding, intents)
    if config.contrastive_weight > 0:
        loss = loss + config.contrastive_weight * supervised_contrastive(
            embedding, intents, config.contrastive_temperature)
    tags = batch["tags"]
    if (tags != IGNORE).any():
        if model.crf is not None:
            tag_loss = model.crf.nll(tag_logits, tags)
        elif "soft_tags" in batch:
            tag_loss = distilled_tag_loss(tag_logits, tags, batch["soft_tags"], config)
        else:
            tag_loss = F.cross_entropy(tag_logits.reshape(-1, tag_logits.shape[-1]), tags.reshape(-1),
                                       ignore_index=IGNORE)
        loss = loss + config.tag_loss_weight * tag_loss
    return loss


def distilled_tag_loss(tag_logits: torch.Tensor, tags: torch.Tensor, soft_tags: torch.Tensor,
                       config: TrainConfig) -> torch.Tensor:
    """The mean over tagged pieces of cross-entropy, mixed as the intent loss is with the
    teacher's tag distribution where there is one (`(1 - w) * CE + w * T^2 * KL`); a piece the
    teacher did not read (a zero row) keeps the cross-entropy alone."""
    t, w = config.distill_temperature, config.distill_weight
    tagged = tags != IGNORE
    logits, targets, soft = tag_logits[tagged], tags[tagged], soft_tags[tagged]
    hard = F.cross_entropy(logits, targets, reduction="none")
    taught = soft.sum(-1) > 0
    kl = (soft * (soft.clamp_min(1e-12).log() - F.log_softmax(logits / t, -1))).sum(-1) * t * t
    return torch.where(taught, (1 - w) * hard + w * kl, hard).mean()


def with_transitions(labels: Labels, model: JointModel) -> Labels:
    """The label spaces with the model's CRF transition scores (what decoding reads), if it has any."""
    if model.crf is None:
        return labels
    transitions, start = model.crf.scores()
    return replace(labels, tag_transitions=tuple(map(tuple, transitions)), tag_start=tuple(start))


MIXUP_RANGE = (0.3, 0.7)  # share of the first embedding in a synthetic outlier


def mixup_outlier_exposure(model: JointModel, embedding: torch.Tensor, intents: torch.Tensor) -> torch.Tensor:
    """Outlier exposure on synthetic outliers (Zhan et al. 2021, self-supervised outlier
    synthesis): each in-scope row's sentence embedding mixed with a random row of another intent,
    lam in MIXUP_RANGE, and the intent head's distribution on the mixture pushed towards uniform.
    The space between two intents then reads as "none of them", which real out-of-scope examples
    cover only where they happen to fall; 0 when the batch has no two in-scope intents."""
    in_scope = (intents != OOD_INTENT).nonzero().squeeze(1)
    partner = in_scope[torch.randperm(len(in_scope))]
    differ = intents[in_scope] != intents[partner]
    if not differ.any():
        return embedding.new_zeros(())
    a, b = embedding[in_scope[differ]], embedding[partner[differ]]
    low, high = MIXUP_RANGE
    lam = torch.rand(len(a), 1, dtype=embedding.dtype) * (high - low) + low
    logits = model.intent_head(model.dropout(lam * a + (1 - lam) * b))
    return -F.log_softmax(logits, -1).mean()


def supervised_contrastive(embedding: torch.Tensor, intents: torch.Tensor, temperature: float) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020) on the sentence embedding: each in-scope
    row is pulled towards the rows of its intent in the batch and pushed from every other row,
    out-of-scope rows included (they are never anyone's positive). The aim is the one the OOD
    distances need: each intent compact and away from the rest. Rows without a positive in the
    batch do not anchor; 0 when no row has one."""
    z = F.normalize(embedding, dim=-1)
    similarity = z @ z.T / temperature
    n = similarity.shape[0]
    self_mask = torch.eye(n, dtype=torch.bool, device=z.device)
    positive = (intents.unsqueeze(0) == intents.unsqueeze(1)) & (intents != OOD_INTENT).unsqueeze(1) & ~self_mask
    anchors = positive.any(1)
    if not anchors.any():
        return similarity.new_zeros(())
    log_prob = similarity.masked_fill(self_mask, float("-inf")).log_softmax(-1)
    mean_positive = log_prob.masked_fill(~positive, 0.0).sum(1) / positive.sum(1).clamp(min=1)
    return -mean_positive[anchors].mean()


@torch.inference_mode()
def validate(model: JointModel, encoder: TextEncoder, labels: Labels, examples: Sequence[Example]):
    """Intent accuracy on in-scope examples and span F1 (None when the data has no entities).

    Torch-side (model selection during training), with the serving path's span decoding.
    """
    model.eval()
    in_scope = [ex for ex in examples if not ex.ood]
    if not in_scope:
        return 0.0, None
    gold_spans, pred_spans, correct = [], [], 0
    for rows in length_sorted_batches([ex.text for ex in in_scope], 128):
        chunk = [in_scope[r] for r in rows]
        enc = encoder.encode([ex.text for ex in chunk])
        intent_logits, tag_logits, _ = model(torch.from_numpy(enc.input_ids), torch.from_numpy(enc.attention_mask))
        tag_probs = softmax(tag_logits.numpy())
        for row, ex in enumerate(chunk):
            correct += labels.intents[int(intent_logits[row].argmax())] == ex.intent
            ents = decode_entities(tag_probs[row], ex.text, enc.texts[row], labels)
            pred_spans.append({(e.start, e.end, e.type) for e in ents})
            gold_spans.append({(s.start, s.end, s.type) for s in ex.entities})
    has_entities = any(gold_spans)
    f1 = span_prf(gold_spans, pred_spans)["f1"] if has_entities else None
    return correct / len(in_scope), f1
