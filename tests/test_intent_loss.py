"""The intent loss's options: distillation (`--teacher ARTIFACT`, once or more: the loss, the teacher's
intent and entity tag targets, the CLI), label smoothing and the outlier-exposure weight."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from intentd.models.config import TrainConfig
from intentd.models.data.schema import read_jsonl
from intentd.models.distill import TeacherError, teach
from intentd.models.train import _loss
from intentd.server.decode import softmax
from intentd.server.labels import Labels
from intentd.server.model import Model

from conftest import BANKING
from test_build import intentd, intentd_here, tiny_base, train_tiny  # noqa: F401 - the fixture


class _Logits(torch.nn.Module):
    """Stands in for the joint model inside `_loss`: returns fixed outputs."""

    crf = None  # plain per-word tag loss

    def __init__(self, intent_logits: torch.Tensor, n_tags: int = 3):
        super().__init__()
        self.intent_logits = intent_logits
        self.n_tags = n_tags

    def forward(self, input_ids, attention_mask):
        b, t = input_ids.shape
        return self.intent_logits, torch.zeros(b, t, self.n_tags), torch.zeros(b, 4)


def _batch(intents: list[int], soft: np.ndarray | None) -> dict:
    n = len(intents)
    batch = {"input_ids": torch.ones(n, 3, dtype=torch.long), "attention_mask": torch.ones(n, 3, dtype=torch.long),
             "tags": torch.full((n, 3), -100), "intents": torch.tensor(intents)}
    if soft is not None:
        batch["soft"] = torch.from_numpy(soft.astype(np.float32))
    return batch


def teacher_probabilities(teachers: list[Path], examples: list, intents: list[str], temperature: float) -> np.ndarray:
    """The teachers' intent distributions alone, in `intents`' order."""
    return teach(teachers, examples, Labels(tuple(intents), ()), temperature).intents


def teacher_tags(teachers: list[Path], examples: list, labels: Labels, encoder, temperature: float) -> list:
    return teach(teachers, examples, labels, temperature, encoder).tags


def test_a_one_hot_teacher_at_temperature_one_is_the_label_loss():
    """KL(one-hot || student) is the cross-entropy: a teacher that only repeats the labels changes
    nothing, whatever the weight. A teacher that disagrees must change the loss."""
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.3, 0.2], [1.0, 1.0, 3.0]])
    intents = [0, 2, 1]
    model = _Logits(logits)
    plain = _loss(model, _batch(intents, None), TrainConfig())
    one_hot = np.eye(3)[intents]
    for weight in (0.3, 1.0):
        config = TrainConfig(distill_weight=weight, distill_temperature=1.0)
        torch.testing.assert_close(_loss(model, _batch(intents, one_hot), config), plain)
    disagreeing = np.eye(3)[[1, 0, 0]]
    assert _loss(model, _batch(intents, disagreeing), TrainConfig(distill_weight=0.5)) > plain + 0.1


def test_label_smoothing_mixes_in_the_uniform_distribution():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.3, 0.2]])
    intents = [0, 2]
    model = _Logits(logits)
    log_p = torch.log_softmax(logits, -1)
    eps = 0.1
    target = (1 - eps) * torch.eye(3)[intents] + eps / 3
    expected = -(target * log_p).sum(-1).mean()
    torch.testing.assert_close(_loss(model, _batch(intents, None), TrainConfig(label_smoothing=eps)), expected)
    proc = intentd("train", "--data", str(BANKING), "--out", "unused", "--label-smoothing", "1.5", check=False)
    assert proc.returncode == 2 and "--label-smoothing" in proc.stderr


def test_outlier_exposure_weight_scales_the_uniform_target_term():
    """Out-of-scope rows (intent -1) add w x the cross-entropy to the uniform distribution; w = 0
    leaves only the in-scope loss."""
    from intentd.models.features import OOD_INTENT

    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.3, 3.0], [4.0, -2.0, 0.0]])
    intents = [0, OOD_INTENT, OOD_INTENT]
    model = _Logits(logits)
    in_scope = torch.nn.functional.cross_entropy(logits[:1], torch.tensor([0]))
    to_uniform = -torch.log_softmax(logits[1:], -1).mean()
    for weight in (0.0, 0.5, 2.0):
        got = _loss(model, _batch(intents, None), TrainConfig(ood_loss_weight=weight))
        torch.testing.assert_close(got, in_scope + weight * to_uniform)
    for flag in ("--ood-loss-weight", "--tag-loss-weight"):
        proc = intentd("train", "--data", str(BANKING), "--out", "unused", flag, "-1", check=False)
        assert proc.returncode == 2 and flag in proc.stderr


def test_teacher_targets_follow_the_students_intent_order(banking_artifact: Path):
    examples = read_jsonl(BANKING / "valid.jsonl")[:40]
    teacher = Model.load(banking_artifact)
    intents = list(reversed(teacher.labels.intents))
    probs = teacher_probabilities([banking_artifact], examples, intents, temperature=1.0)
    assert probs.shape == (len(examples), len(intents))
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    fp32 = Model.load(banking_artifact, model="model.fp32.onnx")
    raw = fp32.infer(fp32.encode([ex.text for ex in examples]))
    expected = softmax(raw.intent_logits.astype(np.float64))[:, ::-1]
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    hotter = teacher_probabilities([banking_artifact], examples, intents, temperature=4.0)
    assert (hotter.max(1) < probs.max(1) + 1e-6).all()  # a higher temperature spreads the mass


def test_a_teacher_with_other_intents_is_refused_before_training(banking_artifact: Path, tmp_path: Path):
    data = tmp_path / "three-intents"
    data.mkdir()
    keep = {"find_atm", "report_fraud", "affirm"}
    for split in ("train", "valid"):
        lines = [line for line in (BANKING / f"{split}.jsonl").read_text().splitlines()
                 if json.loads(line).get("intent") in keep]
        (data / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(TeacherError, match="intents differ"):
        teacher_probabilities([banking_artifact], read_jsonl(data / "train.jsonl"), sorted(keep), 2.0)
    proc = intentd_here("train", "--data", str(data), "--out", str(tmp_path / "never"), "--teacher",
                        str(banking_artifact), "--quiet", check=False)
    assert proc.returncode == 2 and "intents differ" in proc.stderr
    assert not (tmp_path / "never").exists()


def _tag_batch(tags: list[list[int]], soft_tags: np.ndarray | None) -> dict:
    batch = _batch([0] * len(tags), None)
    batch["tags"] = torch.tensor(tags)
    if soft_tags is not None:
        batch["soft_tags"] = torch.from_numpy(soft_tags.astype(np.float32))
    return batch


class _TagLogits(_Logits):
    def __init__(self, tag_logits: torch.Tensor):
        super().__init__(torch.zeros(tag_logits.shape[0], 3))
        self.tag_logits = tag_logits

    def forward(self, input_ids, attention_mask):
        return self.intent_logits, self.tag_logits, torch.zeros(input_ids.shape[0], 4)


def test_a_tag_teacher_mixes_into_the_tag_loss_only_where_it_spoke():
    """Per tagged piece: a one-hot teacher at temperature 1 is the label loss; one that disagrees
    raises the loss by w x its KL; a zero row (a text the teacher read as other words, or one
    changed in training) keeps the cross-entropy alone; untagged pieces count for nothing."""
    torch.manual_seed(0)
    tag_logits = torch.randn(2, 3, 5)
    tags = [[-100, 1, 2], [-100, 0, -100]]
    model = _TagLogits(tag_logits)
    plain = _loss(model, _tag_batch(tags, None), TrainConfig())
    one_hot = np.zeros((2, 3, 5))
    for row, row_tags in enumerate(tags):
        for piece, tag in enumerate(row_tags):
            if tag >= 0:
                one_hot[row, piece, tag] = 1.0
    at_one = TrainConfig(distill_weight=0.6, distill_temperature=1.0)
    torch.testing.assert_close(_loss(model, _tag_batch(tags, one_hot), at_one), plain)
    disagreeing = one_hot.copy()
    disagreeing[0, 1] = [0, 0, 0, 0, 1.0]  # the teacher says I-y where the label says B-x
    disagreeing[1] = 0.0  # and did not read the second text
    log_p = torch.log_softmax(tag_logits, -1)
    ce = -torch.stack([log_p[0, 1, 1], log_p[0, 2, 2], log_p[1, 1, 0]])
    kl = torch.stack([-log_p[0, 1, 4], -log_p[0, 2, 2]])  # KL(one-hot || p) = -log p(the teacher's tag)
    expected = torch.stack([0.4 * ce[0] + 0.6 * kl[0], 0.4 * ce[1] + 0.6 * kl[1], ce[2]]).mean()
    intent = torch.nn.functional.cross_entropy(model.intent_logits, torch.zeros(2, dtype=torch.long))
    torch.testing.assert_close(_loss(model, _tag_batch(tags, disagreeing), at_one), intent + expected)


def test_teacher_tags_sit_on_the_students_word_pieces_in_its_tag_order(banking_artifact: Path):
    """Word-level tag distributions at each word's first piece, re-ordered to the student's tags
    (here the entity types reversed), summing to one there and zero on every other piece; a
    teacher whose entity types differ is refused."""
    examples = read_jsonl(BANKING / "valid.jsonl")[:40]
    teacher = Model.load(banking_artifact, model="model.fp32.onnx")
    student = Labels(teacher.labels.intents, tuple(reversed(teacher.labels.entity_types)))
    taught = teacher_tags([banking_artifact], examples, student, teacher.encoder, temperature=1.0)
    assert all(rows is not None for rows in taught)  # one tokenizer: the same words everywhere
    batch = teacher.encode([ex.text for ex in examples])
    probs = softmax(teacher.infer(batch).tag_logits.astype(np.float64))
    order = [teacher.labels.tags.index(name) for name in student.tags]
    for k, rows in enumerate(taught):
        words = batch.texts[k]
        assert rows.shape == (words.n_tokens, len(student.tags))
        np.testing.assert_allclose(rows[words.word_token], probs[k, words.word_token][:, order], atol=1e-5)
        others = np.setdiff1d(np.arange(words.n_tokens), words.word_token)
        assert not rows[others].any()
    hotter = teacher_tags([banking_artifact], examples[:5], student, teacher.encoder, temperature=4.0)
    assert all((h[w].max(1) < t[w].max(1) + 1e-6).all() for h, t, w in
               zip(hotter, taught, [batch.texts[k].word_token for k in range(5)]))
    fewer = Labels(student.intents, student.entity_types[1:])
    with pytest.raises(TeacherError, match="entity tags differ"):
        teacher_tags([banking_artifact], examples, fewer, teacher.encoder, temperature=1.0)


def test_train_cli_with_a_teacher(banking_artifact: Path, tiny_base: Path, tmp_path: Path):  # noqa: F811
    out = tmp_path / "student"
    manifest = train_tiny(tiny_base, out, "--teacher", str(banking_artifact), "--distill-weight", "0.7")
    config = manifest["training"]["config"]
    assert config["teacher"] == [str(banking_artifact)] and config["distill_weight"] == 0.7
    assert config["distill_tags"] is True  # the banking data has entity spans: its tags are taught too
    # two teachers (the fixture and this student, the same intents) teach the mean of their distributions
    examples = read_jsonl(BANKING / "test.jsonl")[:30]
    intents = list(Model.load(banking_artifact).labels.intents)
    each = [teacher_probabilities([t], examples, intents, temperature=2.0) for t in (banking_artifact, out)]
    assert np.abs(each[0] - each[1]).max() > 0.01  # two different teachers
    both = teacher_probabilities([banking_artifact, out], examples, intents, temperature=2.0)
    np.testing.assert_allclose(both, (each[0] + each[1]) / 2, atol=1e-6)
    np.testing.assert_allclose(both.sum(1), 1.0, atol=1e-5)
    shutil.rmtree(out)
    proc = intentd("train", "--data", str(BANKING), "--out", str(out), "--teacher", str(tmp_path), "--quiet",
                   check=False)
    assert proc.returncode == 2 and "not an artifact" in proc.stderr


def test_supervised_contrastive_loss_matches_its_definition():
    """Against a loop over anchors: -mean over positives of log(exp(s_ip / t) / sum_{a != i}
    exp(s_ia / t)) on unit vectors; rows without a positive (and out-of-scope rows) do not anchor
    but sit in every denominator. Tight clusters score lower than mixed ones."""
    from intentd.models.features import OOD_INTENT
    from intentd.models.train import supervised_contrastive

    torch.manual_seed(0)
    embedding = torch.randn(6, 5)
    intents = torch.tensor([0, 1, 0, 2, OOD_INTENT, 1])
    t = 0.2
    z = torch.nn.functional.normalize(embedding, dim=-1)
    terms = []
    for i in range(6):
        positives = [p for p in range(6) if p != i and intents[p] == intents[i] and intents[i] != OOD_INTENT]
        if not positives:
            continue
        denominator = sum(torch.exp(z[i] @ z[a] / t) for a in range(6) if a != i)
        terms.append(-sum(torch.log(torch.exp(z[i] @ z[p] / t) / denominator) for p in positives) / len(positives))
    torch.testing.assert_close(supervised_contrastive(embedding, intents, t), torch.stack(terms).mean())
    no_pairs = torch.tensor([0, 1, 2, OOD_INTENT, OOD_INTENT, 3])
    assert supervised_contrastive(embedding, no_pairs, t).item() == 0.0
    centers = torch.eye(5)[:3] * 3
    tight = centers[[0, 1, 0, 2, 2, 1]] + 0.01 * torch.randn(6, 5)
    labels = torch.tensor([0, 1, 0, 2, 2, 1])
    assert supervised_contrastive(tight, labels, t) < supervised_contrastive(tight, labels[[1, 0, 2, 0, 1, 2]], t)
    proc = intentd("train", "--data", str(BANKING), "--out", "unused", "--contrastive-weight", "-0.5", check=False)
    assert proc.returncode == 2 and "--contrastive-weight" in proc.stderr


def test_tag_loss_is_nothing_on_data_without_entity_types():
    """Intent-only data has one tag (O): its cross-entropy is 0 with no gradient, so the tag head
    costs intent-only training nothing (docs/accuracy.md's ablations say so instead of measuring it)."""
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.3, 0.2]], requires_grad=True)
    intents = [0, 2]
    batch = _batch(intents, None)
    batch["tags"] = torch.tensor([[-100, 0, 0], [-100, 0, -100]])

    class _OneTag(_Logits):
        def forward(self, input_ids, attention_mask):
            b, t = input_ids.shape
            self.tag_logits = torch.randn(b, t, 1, requires_grad=True)
            return self.intent_logits, self.tag_logits, torch.zeros(b, 4)

    model = _OneTag(logits)
    with_tags = _loss(model, batch, TrainConfig(tag_loss_weight=5.0))
    torch.testing.assert_close(with_tags, torch.nn.functional.cross_entropy(logits, torch.tensor(intents)))
    with_tags.backward()
    assert model.tag_logits.grad is not None and not model.tag_logits.grad.any()


def test_the_cosine_margin_comes_off_the_true_intents_logit_only():
    """`--intent-head cosine`: the loss is cross-entropy on the logits with COSINE_SCALE x margin
    taken off each in-scope row's true intent, and nothing taken off out-of-scope rows (outlier
    exposure reads the logits as served)."""
    from intentd.models.joint import COSINE_SCALE

    logits = torch.tensor([[12.0, 3.0, -6.0], [1.0, 9.0, 2.0], [0.0, 4.0, 4.0]])
    intents = [0, 1, -1]
    model = _Logits(logits)
    config = TrainConfig(intent_head="cosine", cosine_margin=0.35, ood_loss_weight=0.5)
    margined = logits[:2] - COSINE_SCALE * 0.35 * torch.nn.functional.one_hot(torch.tensor([0, 1]), 3)
    expected = (torch.nn.functional.cross_entropy(margined, torch.tensor([0, 1]))
                + 0.5 * -torch.log_softmax(logits[2:], -1).mean())
    torch.testing.assert_close(_loss(model, _batch(intents, None), config), expected)
    unmargined = _loss(model, _batch(intents, None), TrainConfig(intent_head="cosine", cosine_margin=0.0))
    assert _loss(model, _batch(intents, None), config) > unmargined + 1.0
    # a linear head ignores the margin setting
    torch.testing.assert_close(_loss(model, _batch(intents, None), TrainConfig(cosine_margin=0.35)),
                               _loss(model, _batch(intents, None), TrainConfig(cosine_margin=0.0)))


def test_cosine_head_trains_and_exports_scaled_cosines(tiny_base: Path, tmp_path: Path):  # noqa: F811
    """The served graph's intent logits are COSINE_SCALE x cosines: never above the scale in size,
    and the export keeps parity with torch."""
    from intentd.models.joint import COSINE_SCALE

    out = tmp_path / "cosine"
    training = train_tiny(tiny_base, out, "--intent-head", "cosine")["training"]
    assert training["config"]["intent_head"] == "cosine" and training["parity_max_abs_diff"] < 1e-3
    model = Model.load(out, model="model.fp32.onnx")
    texts = [ex.text for ex in read_jsonl(BANKING / "test.jsonl")[:20]]
    logits = model.infer(model.encode(texts)).intent_logits
    assert np.abs(logits).max() <= COSINE_SCALE * (1 + 1e-4)
    assert logits.std() > 0.01  # real cosines, not a constant


def test_cosine_margin_out_of_range_is_a_usage_error(tmp_path: Path):
    proc = intentd("train", "--data", str(BANKING), "--out", str(tmp_path / "x"), "--intent-head", "cosine",
                   "--cosine-margin", "1.5", check=False)
    assert proc.returncode != 0 and "--cosine-margin must be in [0, 1)" in proc.stderr


class _Head(torch.nn.Module):
    """A real linear intent head over given embeddings (the part `mixup_outlier_exposure` reads)."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.intent_head = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)
        self.intent_head.weight.data.copy_(weight)
        self.dropout = torch.nn.Identity()


def test_mixup_outliers_mix_two_intents_and_target_the_uniform_distribution():
    """Each synthetic outlier is lam x one in-scope embedding + (1 - lam) x one of another intent,
    lam in MIXUP_RANGE; the loss is outlier exposure (mean -log p) on the head's logits there.
    Out-of-scope rows and same-intent pairs are never mixed."""
    from intentd.models.train import MIXUP_RANGE, mixup_outlier_exposure

    head = _Head(torch.eye(2))
    # two intents on orthogonal axes, one out-of-scope row far from both
    embedding = torch.tensor([[4.0, 0.0], [4.0, 0.0], [0.0, 4.0], [0.0, 4.0], [-20.0, 20.0]])
    intents = torch.tensor([0, 0, 1, 1, -1])
    low, high = MIXUP_RANGE

    def oe(lam: float) -> float:
        return float(-torch.log_softmax(torch.tensor([4 * lam, 4 * (1 - lam)]), -1).mean())

    mixed = 0
    for seed in range(20):
        torch.manual_seed(seed)
        loss = mixup_outlier_exposure(head, embedding, intents).item()
        if loss == 0.0:  # the random pairing matched every row with its own intent: nothing to mix
            continue
        mixed += 1
        # every mixture lies on the segment between the axes (x + y = 4, each coordinate 4 x lam):
        # its -log p averaged over both intents lies between lam = 0.5 and the range's end; a
        # mixture with the out-of-scope row (logits 40 apart) would put it far above
        assert oe(0.5) - 1e-6 <= loss <= oe(high) + 1e-6
    assert mixed >= 10
    # the uniform distribution is the target: a head that answers uniformly everywhere costs log 2
    flat = _Head(torch.zeros(2, 2))
    torch.testing.assert_close(mixup_outlier_exposure(flat, embedding, intents), torch.tensor(np.log(2.0),
                                                                                              dtype=torch.float32))
    # one intent only: nothing to mix
    same = torch.tensor([0, 0, 0, -1, -1])
    assert mixup_outlier_exposure(head, embedding, same).item() == 0.0
    assert low < high


def test_mixup_weight_out_of_range_is_a_usage_error(tmp_path: Path):
    proc = intentd("train", "--data", str(BANKING), "--out", str(tmp_path / "x"), "--mixup-ood-weight", "-1",
                   check=False)
    assert proc.returncode != 0 and "--mixup-ood-weight must be 0 or more" in proc.stderr


class _TwoPasses(torch.nn.Module):
    """Returns one fixed set of outputs, then another: two dropout passes that disagree."""

    crf = None

    def __init__(self, *outputs: tuple):
        super().__init__()
        self.outputs = list(outputs)
        self.calls = 0

    def forward(self, input_ids, attention_mask):
        out = self.outputs[self.calls % len(self.outputs)]
        self.calls += 1
        return out


def test_rdrop_averages_both_passes_and_adds_their_symmetric_kl():
    """`--rdrop-weight W`: loss = mean of the two passes' losses + W x (symmetric KL of the intent
    distributions + symmetric KL of the tag distributions at word positions); a model in eval mode
    (validation) runs one pass; passes that agree add nothing."""
    from intentd.models.train import _objective, rdrop_consistency

    g = torch.Generator().manual_seed(0)
    tags = torch.tensor([[0, -100, 1], [2, 0, -100]])

    def outputs():
        return torch.randn(2, 3, generator=g), torch.randn(2, 3, 3, generator=g), torch.randn(2, 4, generator=g)

    first, second = outputs(), outputs()
    batch = {"input_ids": torch.ones(2, 3, dtype=torch.long), "attention_mask": torch.ones(2, 3, dtype=torch.long),
             "tags": tags, "intents": torch.tensor([1, -1])}
    config = TrainConfig(rdrop_weight=0.7)

    def sym_kl(a, b):  # per row, then the mean over rows
        p, q = torch.softmax(a, -1), torch.softmax(b, -1)
        return (0.5 * ((p * (p / q).log()).sum(-1) + (q * (q / p).log()).sum(-1))).mean()

    words = tags != -100
    expected_kl = sym_kl(first[0], second[0]) + sym_kl(first[1][words], second[1][words])
    torch.testing.assert_close(rdrop_consistency(first, second, tags), expected_kl)
    model = _TwoPasses(first, second).train()
    expected = (_objective(model, first, batch, config) + _objective(model, second, batch, config)) / 2 \
        + 0.7 * expected_kl
    torch.testing.assert_close(_loss(model, batch, config), expected)
    assert model.calls == 2
    # the tag term reads word positions only: changing a non-word position's scores changes nothing
    moved = (second[0], second[1].clone(), second[2])
    moved[1][0, 1] += 5.0
    torch.testing.assert_close(rdrop_consistency(first, moved, tags), expected_kl)
    # one pass in eval mode; agreeing passes cost exactly the plain loss
    model = _TwoPasses(first, second).eval()
    torch.testing.assert_close(_loss(model, batch, config), _objective(model, first, batch, config))
    assert model.calls == 1
    same = _TwoPasses(first).train()
    torch.testing.assert_close(_loss(same, batch, config), _objective(same, first, batch, TrainConfig()))
