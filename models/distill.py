"""Soft intent targets from a teacher: any artifact `intentd train` built (a bigger base fine-tuned
with `--base`, or one of the same size), read through onnxruntime, so the teacher needs no torch
model and no training code of its own.

The student learns from `(1 - w) * cross-entropy + w * T^2 * KL(teacher_T || student_T)` on its
in-scope examples (Hinton et al. 2015): the teacher's probabilities over the wrong intents say
which intents a query resembles, which one-hot labels cannot. Out-of-scope examples keep the
outlier-exposure loss; entity tags are learnt from the labels only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from intentd.errors import IntentdError
from intentd.models.data.schema import Example
from intentd.server.artifact import load_artifact
from intentd.server.decode import softmax
from intentd.server.model import Model


class TeacherError(IntentdError):
    """The teacher cannot teach this student (another intent set, or not an artifact)."""


def teacher_probabilities(teachers: Sequence[str | Path], examples: Sequence[Example], intents: Sequence[str],
                          temperature: float) -> np.ndarray:
    """[N, len(intents)]: the teachers' intent distribution at `temperature` for each example, in
    the student's intent order (rows of out-of-scope examples are computed too; the loss skips them).
    Several teachers teach the mean of their distributions: an ensemble of a few models of the
    student's own size is a larger teacher that needs no larger encoder.

    A teacher's FP32 graph is used when its artifact has one (batched: faster, and the soft
    labels carry no quantisation noise); otherwise its served graph."""
    if not teachers:
        raise TeacherError("no teacher given")
    return np.mean([_one_teacher(t, examples, intents, temperature) for t in teachers], axis=0).astype(np.float32)


def _one_teacher(teacher: str | Path, examples: Sequence[Example], intents: Sequence[str],
                 temperature: float) -> np.ndarray:
    from intentd.models.calibrate import run_raw
    from intentd.models.export import FP32_FILE

    files = load_artifact(teacher).manifest["files"]
    model = Model.load(teacher, model=FP32_FILE if FP32_FILE in files else None)
    theirs = list(model.labels.intents)
    if sorted(theirs) != sorted(intents):
        missing, extra = sorted(set(intents) - set(theirs)), sorted(set(theirs) - set(intents))
        raise TeacherError(f"{teacher}: the teacher's intents differ from the training data's "
                           f"(missing {missing[:5]}, extra {extra[:5]}): train it on the same data")
    logits = run_raw(model, [ex.text for ex in examples]).logits.astype(np.float64)
    order = [theirs.index(name) for name in intents]
    return softmax(logits[:, order], temperature)
