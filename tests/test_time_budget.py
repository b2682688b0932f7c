"""--time-budget (models/train.py, `Budget`): the plan it makes fits the build into the budget and
uses it, whatever steps and validation passes cost. The training loop is played on a clock that
advances by given step and validation times, so each case is exact."""

from __future__ import annotations

import pytest

from intentd.models.train import Budget, Plan


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def train(budget_s: float, planned: int, steps_per_epoch: int, step_s: float, validation_s: float,
          before_s: float = 5.0) -> tuple[int, float]:
    """Steps trained and the time training ended, counted from the build's start."""
    clock = Clock()
    clock.now = before_s  # loading the data and the encoder
    budget = Budget(budget_s, started=0.0, clock=clock)
    plan = Plan(planned)
    step = 0
    while step < plan.total_steps:
        for _ in range(steps_per_epoch):
            if step >= plan.total_steps:
                break
            clock.now += step_s
            step += 1
            budget.replan(step, plan, steps_per_epoch)
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
