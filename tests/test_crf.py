"""The CRF tag loss (`intentd train --crf`): its likelihood against every tag sequence of small
cases, decoding with learned transitions against brute force, labels.json round trips, and a
trained model whose served answers use the transitions it learned."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from intentd.models.crf import TagTransitions
from intentd.models.data.schema import read_jsonl
from intentd.models.features import IGNORE
from intentd.server.artifact import ArtifactError, load_artifact
from intentd.server.decode import best_tag_path
from intentd.server.labels import Labels, bio_allowed
from intentd.server.model import Model

from conftest import BANKING
from test_build import tiny_base, train_tiny  # noqa: F401 - the fixture

N_TAGS = 5  # O, B-a, I-a, B-b, I-b


def _valid(seq) -> bool:
    start, allowed = bio_allowed(N_TAGS)
    return bool(start[seq[0]]) and all(allowed[a, b] for a, b in itertools.pairwise(seq))


def _score(emissions, seq, start, transitions) -> float:
    return float(start[seq[0]] + sum(emissions[i, t] for i, t in enumerate(seq))
                 + sum(transitions[a, b] for a, b in itertools.pairwise(seq)))


def test_bio_allowed_forbids_only_an_inside_tag_that_continues_nothing():
    start, allowed = bio_allowed(N_TAGS)
    assert start.tolist() == [True, True, False, True, False]
    assert allowed[:, 2].tolist() == [False, True, True, False, False]  # I-a after B-a or I-a only
    assert allowed[:, 4].tolist() == [False, False, False, True, True]
    assert allowed[:, [0, 1, 3]].all()


def test_crf_likelihood_matches_every_sequence_enumerated():
    """The loss is the mean per word of -log p(gold), with p over every valid sequence; positions
    that start no word (IGNORE) and padding rows' tails are skipped."""
    gen = torch.Generator().manual_seed(0)
    crf = TagTransitions(N_TAGS)
    with torch.no_grad():
        crf.start.copy_(torch.randn(N_TAGS, generator=gen))
        crf.transitions.copy_(torch.randn(N_TAGS, N_TAGS, generator=gen))
    logits = torch.randn(2, 6, N_TAGS, generator=gen)
    # row 0: words at tokens 0, 2, 3, 5 (tags B-a I-a O B-b); row 1: two words, then padding
    tags = torch.tensor([[1, IGNORE, 2, 0, IGNORE, 3], [0, 3, IGNORE, IGNORE, IGNORE, IGNORE]])
    start, transitions = (t.detach().numpy() for t in crf.masked())
    total, words = 0.0, 0
    for row, positions in ((0, [0, 2, 3, 5]), (1, [0, 1])):
        emissions = logits[row, positions].numpy()
        gold = tags[row, positions].tolist()
        log_z = np.logaddexp.reduce([_score(emissions, seq, start, transitions)
                                     for seq in itertools.product(range(N_TAGS), repeat=len(positions))
                                     if _valid(seq)])
        total += log_z - _score(emissions, gold, start, transitions)
        words += len(positions)
    assert crf.nll(logits, tags).item() == pytest.approx(total / words, rel=1e-5)
    # gradients reach the emissions and the transitions
    logits.requires_grad_(True)
    crf.nll(logits, tags).backward()
    assert logits.grad.abs().sum() > 0 and crf.transitions.grad.abs().sum() > 0
    assert crf.transitions.grad[0, 2] == 0  # a forbidden step (O -> I-a) is never learned


def test_decoding_with_transitions_matches_brute_force():
    rng = np.random.default_rng(1)
    start_raw, trans_raw = rng.normal(size=N_TAGS), rng.normal(size=(N_TAGS, N_TAGS)) * 2
    labels = Labels(("x",), ("a", "b"), tuple(map(tuple, trans_raw.tolist())), tuple(start_raw.tolist()))
    start, transitions = labels.transition_scores
    for _ in range(40):
        probs = rng.dirichlet(np.ones(N_TAGS) * 0.5, size=4)
        logp = np.log(probs + 1e-12)
        best = max((seq for seq in itertools.product(range(N_TAGS), repeat=4) if _valid(seq)),
                   key=lambda seq: _score(logp, seq, start_raw, trans_raw))
        assert tuple(best_tag_path(probs, (start, transitions)).tolist()) == best
    # strong transitions overrule a valid per-word argmax: here B-a -> B-b is penalised hard
    trans = np.zeros((N_TAGS, N_TAGS))
    trans[1, 3] = -50.0
    crf = Labels(("x",), ("a", "b"), tuple(map(tuple, trans.tolist())), (0.0,) * N_TAGS)
    probs = np.array([[0.1, 0.8, 0.05, 0.04, 0.01], [0.1, 0.05, 0.3, 0.54, 0.01]])
    assert best_tag_path(probs).tolist() == [1, 3]
    assert best_tag_path(probs, crf.transition_scores).tolist() == [1, 2]


def test_labels_json_carries_the_transitions_and_rejects_bad_ones():
    labels = Labels(("x", "y"), ("a", "b"), tuple((float(i), 0.5, 0.0, -1.0, 2.0) for i in range(N_TAGS)),
                    (0.1, 0.2, 0.3, 0.4, 0.5))
    back = Labels.from_json(json.loads(json.dumps(labels.to_json())))
    assert back == labels and back.transition_scores[1][0, 2] == -np.inf
    assert "tag_transitions" not in Labels(("x",), ("a",)).to_json()
    bad = labels.to_json()
    bad["tag_transitions"] = bad["tag_transitions"][:-1]
    with pytest.raises(ValueError, match="'tag_transitions' must be 5 x 5"):
        Labels.from_json(bad)
    bad = labels.to_json()
    bad["tag_start"][0] = "nan"
    with pytest.raises(ValueError, match="finite numbers"):
        Labels.from_json(bad)


def test_crf_model_trains_exports_and_serves_with_its_transitions(tiny_base: Path, tmp_path: Path):  # noqa: F811
    out = tmp_path / "crf"
    manifest = train_tiny(tiny_base, out, "--crf")
    assert manifest["training"]["config"]["crf"] is True
    model = Model.load(out)
    start, transitions = model.labels.transition_scores
    n_tags = len(model.labels.tags)
    assert transitions.shape == (n_tags, n_tags) and np.isfinite(start[1])
    assert np.isinf(transitions[0, 2]) and np.abs(transitions[np.isfinite(transitions)]).max() > 0  # learned
    # the served decode is the transition-aware one: same spans as decoding by hand
    texts = [ex.text for ex in read_jsonl(BANKING / "test.jsonl")[:30]]
    batch = model.encode(texts)
    raw = model.infer(batch)
    from intentd.server.decode import softmax

    tag_probs = softmax(raw.tag_logits.astype(np.float32))
    found = 0
    for row, (text, prediction) in enumerate(zip(texts, model.decode(texts, batch, raw))):
        encoded = batch.texts[row]
        path = best_tag_path(tag_probs[row][encoded.word_token], (start, transitions)).tolist()
        expected, open_type = [], None  # spans read off the CRF path: runs of one type's tags
        for w, tag in enumerate(path):
            etype = None if tag == 0 else model.labels.entity_types[(tag - 1) // 2]
            if etype is not None and etype == open_type:
                expected[-1][2] = encoded.word_spans[w][1]
            elif etype is not None:
                expected.append([etype, *encoded.word_spans[w]])
            open_type = etype
        assert [(e.type, e.start, e.end) for e in prediction.entities] == [tuple(x) for x in expected], text
        found += len(expected)
    assert found > 0  # the check saw spans


def test_an_artifact_with_bad_transitions_is_a_clear_error(banking_artifact: Path, tmp_path: Path):
    import hashlib
    import shutil

    art = tmp_path / "art"
    shutil.copytree(banking_artifact, art)
    labels = json.loads((art / "labels.json").read_text())
    labels["tag_transitions"] = [[0.0]]
    labels["tag_start"] = [0.0]
    (art / "labels.json").write_text(json.dumps(labels))
    manifest = json.loads((art / "manifest.json").read_text())
    manifest["files"]["labels.json"] = hashlib.sha256((art / "labels.json").read_bytes()).hexdigest()
    from intentd.server.artifact import derive_version

    manifest["version"] = derive_version(manifest)
    (art / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="labels.json: invalid .*tag_transitions"):
        load_artifact(art)
