"""--time-budget (models/train.py, `Budget`): the plan it makes fits the build into the budget and
uses it, whatever steps and validation passes cost. The training loop is played on a clock that
advances by given step and validation times, so each case is exact."""

from __future__ import annotations

import pytest

from intentd.models.config import TrainConfig
from intentd.models.train import Budget, EpochResult, Plan, Trained


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def train(budget_s: float, planned: int, steps_per_epoch: int, step_s: float, validation_s: float,
          before_s: float = 5.0, said: list[str] | None = None, **sizes) -> tuple[int, float]:
    """Steps trained and the time training ended, counted from the build's start; `said`: the lines
    the replans give to show; `sizes`: Budget's after_rows, valid_rows and batch_size."""
    clock = Clock()
    clock.now = before_s  # loading the data and the encoder
    budget = Budget(budget_s, started=0.0, clock=clock, **sizes)
    plan = Plan(planned)
    step = 0
    while step < plan.total_steps:
        for _ in range(steps_per_epoch):
            if step >= plan.total_steps:
                break
            clock.now += step_s
            step += 1
            line = budget.replan(step, plan, steps_per_epoch)
            if line is not None and said is not None:
                said.append(line)
        clock.now += validation_s
        budget.observe_validation(validation_s)
    return step, clock.now


def for_training(budget_s: float) -> float:
    return budget_s - Budget.AFTER_TRAINING_FIXED_S - Budget.AFTER_TRAINING_SHARE * budget_s


def test_an_ample_budget_keeps_the_plan():
    assert train(900, planned=200, steps_per_epoch=4, step_s=0.1, validation_s=0.3) == (200, pytest.approx(40.0))


@pytest.mark.parametrize("steps_per_epoch, step_s, validation_s", [
    (4, 0.1, 2.0),  # a tiny domain on a busy machine: validation passes cost more than the steps
    (4, 0.5, 0.2),
    (470, 0.4, 15.0),  # CLINC150-sized
])
def test_a_tight_budget_is_filled_not_overrun(steps_per_epoch, step_s, validation_s):
    budget_s = 90.0 if steps_per_epoch == 4 else 600.0
    steps, ended = train(budget_s, planned=50 * steps_per_epoch, steps_per_epoch=steps_per_epoch,
                         step_s=step_s, validation_s=validation_s)
    assert steps < 50 * steps_per_epoch
    assert 0.85 * for_training(budget_s) <= ended <= for_training(budget_s) + validation_s


def test_the_reserve_after_training_follows_the_data():
    """The starter domain (110 texts after training, 6.8 s of it here): the reserve was 30 s + 10 %
    of the budget whatever the data, and a 1 min build trained 50 of its 250 steps in 33 s. Now it
    is the export's and the texts' time, and the plan is kept; a CLINC150-sized build (30,000
    texts, 2 ms a text in validation) reserves more than the export, and still ends in time."""
    tiny = dict(planned=250, steps_per_epoch=4, step_s=0.08, validation_s=0.03)
    assert train(60, **tiny, after_rows=110, valid_rows=9, batch_size=16)[0] == 250
    assert train(60, **tiny)[0] < 250  # the fixed reserve
    # a validation pass takes a text a third of a training step's time a text (banking here: 2.3 vs 7.3 ms)
    reserve = Budget.EXPORT_S + Budget.AFTER_TRAINING_ROW_FACTOR * 0.002 * 30_000
    steps, ended = train(600, planned=50 * 470, steps_per_epoch=470, step_s=0.192, validation_s=6.2,
                         after_rows=30_000, valid_rows=3_100, batch_size=32)
    assert steps < 50 * 470 and 0.85 * (600 - reserve) <= ended <= 600 - reserve + 6.2


def test_a_plan_cut_on_a_slow_start_grows_back_when_the_steps_speed_up():
    """The plan is cut after a probe of 30 steps; later steps that run faster (a busy machine that
    calmed down, the first steps' warm-up) left the rest of the budget unused: a CLINC150 build in
    5 min ended in 176 s. At an epoch's end a cut plan grows back, never past the one asked."""
    clock = Clock()
    clock.now = 5.0
    budget = Budget(300, started=0.0, clock=clock, after_rows=1_000, valid_rows=100, batch_size=16)
    plan, step, said = Plan(400), 0, []
    while step < plan.total_steps:
        for _ in range(100):
            if step >= plan.total_steps:
                break
            clock.now += 1.0 if step < 30 else 0.1
            step += 1
            line = budget.replan(step, plan, 100)
            if line is not None:
                said.append((step, plan.total_steps))
        clock.now += 0.5
        budget.observe_validation(0.5)
    assert said[0][1] < 400 and step == 400 and not budget.cut  # cut at the probe, then grown back
    assert clock.now < 300


def test_a_cut_is_said_and_the_summary_records_it():
    """`--time-budget 2` cut a 15-pass plan to 6 passes with nothing on the console (the replan was
    an INFO log line, shown only with -v), and the manifest said "planned_epochs": 15,
    "stopped_early": false."""
    said: list[str] = []
    steps, _ = train(120, planned=15 * 15, steps_per_epoch=15, step_s=0.5, validation_s=3.0, said=said)
    assert steps < 15 * 15 and said
    assert said[-1] == (f"--time-budget 2 min: training for {steps} of the 225 planned steps "
                        f"({steps / 15:.1f} of 15 epochs)")
    ample: list[str] = []
    train(900, planned=200, steps_per_epoch=4, step_s=0.1, validation_s=0.3, said=ample)
    assert ample == []
    clock = Clock()
    budget = Budget(120, started=0.0, clock=clock)
    clock.now = 15.0  # 30 steps of 0.5 s
    assert not budget.cut and budget.replan(Budget.PROBE_STEPS, Plan(225), 15) is not None
    assert budget.cut  # what train() records as "stopped_by": "time_budget"

    history = [EpochResult(epoch, 1.0, 0.9, 0.8, 0.85, 10.0) for epoch in range(1, 7)]
    trained = Trained(None, None, None, TrainConfig(time_budget_s=120), history=history, planned_epochs=15,
                      stopped_by="time_budget")
    summary = trained.summary()
    assert (summary["planned_epochs"], summary["epochs_trained"]) == (15, 6)
    assert summary["stopped_by"] == "time_budget" and summary["stopped_early"] is True
    whole = Trained(None, None, None, TrainConfig(), history=history, planned_epochs=6).summary()
    assert (whole["stopped_early"], whole["stopped_by"]) == (False, None)
