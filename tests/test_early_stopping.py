"""When training stops early (models/train.py, `Progress`), on validation histories of real SNIPS runs."""

from __future__ import annotations

from intentd.models.train import Progress, _selection_score

# (intent accuracy, span F1) per pass on SNIPS's validation split
LABEL_SMOOTHING = [(0.9871, 0.916), (0.9886, 0.9497), (0.9886, 0.9497), (0.9857, 0.9505), (0.9843, 0.9525)]
LR_2E4 = [(0.98, 0.907), (0.9857, 0.939), (0.9871, 0.9445), (0.9886, 0.9569), (0.9871, 0.9564), (0.9871, 0.9567)]


def stopped_at(history, patience: int = 2) -> int | None:
    progress = Progress(patience)
    for epoch, (accuracy, f1) in enumerate(history, start=1):
        if progress.stalled(epoch, accuracy, f1, _selection_score(accuracy, f1)):
            return epoch
    return None


def test_a_rising_span_f1_keeps_training_while_the_mean_score_dips():
    # the mean peaked at pass 2 and dipped at 4 and 5; F1 rose at both: the score alone stopped at 5
    assert stopped_at(LABEL_SMOOTHING) is None


def test_training_stops_when_no_part_improves_for_patience_passes():
    # pass 4 is best on every count; 5 and 6 beat none of them
    assert stopped_at(LR_2E4) == 6
    assert stopped_at(LR_2E4, patience=3) is None


def test_patience_zero_never_stops():
    assert stopped_at([(0.9, 0.9)] + [(0.5, 0.5)] * 10, patience=0) is None


def test_intent_only_data_follows_accuracy():
    flat = [(0.95, None), (0.96, None), (0.96, None), (0.955, None)]
    assert stopped_at(flat) == 4


def test_a_small_data_set_is_not_stopped_before_its_minimum_steps():
    # the `intentd init` sample: 4 steps a pass, 7 validation queries, nothing moves for passes 2-3
    flat = [(0.57, 0.0), (0.57, 0.0), (0.57, 0.0), (0.57, 0.0), (0.57, 0.0)]
    progress = Progress(patience=2, min_steps=250)
    assert not any(progress.stalled(epoch, a, f1, _selection_score(a, f1), steps=4 * epoch)
                   for epoch, (a, f1) in enumerate(flat, start=1))
    assert progress.stalled(70, 0.57, 0.0, _selection_score(0.57, 0.0), steps=280)  # past them: the rule as before
