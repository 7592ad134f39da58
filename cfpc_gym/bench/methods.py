"""The bench's methods: each turns a task's run config into a run config of one learner.

A task is a run config (bundled name or YAML path): its env, feedback controller and basis. A
method turns it into one learner:

- ``feedback``: the task's PID alone;
- ``eligibility``, ``lms``, ``delayed``, ``fel``: the CFPC module with that rule, settings from the
  task's controller of that rule (else from its ``eligibility`` controller);
- ``gauss_newton``: the task's own ``gauss_newton`` controller (its forward model, penalties and
  Jacobian), else its eligibility trace with the learner's defaults: one damped Gauss-Newton step
  per trial;
- ``ilc``: P-type iterative learning control, the engineering baseline: a lookup table in time since
  the cue (``time_table`` basis) learned trial to trial from the error ``lead`` seconds later (the
  lead rounded to whole control steps of each task: ``ilc_lead``);
- ``noilc``: norm-optimal ILC: the ``gauss_newton`` method's settings on a ``time_table`` basis,
  its size penalised (``ilc.ridge``);
- ``ppo``, ``sac``: Stable-Baselines3 on the env's observations and reward (``baselines.py``).
"""

from __future__ import annotations

import math
from typing import Any

from ..body_models import spec_of
from ..build import make_env
from ..config import ControllerConfig, RunConfig, TimeTableConfig, validated
from .config import ILCConfig


def task_dt(task: RunConfig) -> float:
    """The control step (s) of a task's env, read from a copy made and closed for it.

    Raises:
        ConfigError: the env cannot be made (MissingExtra: its optional extra is not installed).
    """
    env = make_env(task)
    try:
        return spec_of(env).dt
    finally:
        env.close()


def ilc_lead(lead: float, dt: float) -> float:
    """ILC's lead (s) rounded to the nearest whole control step of ``dt``, halves up; a positive lead
    is at least one step. One bench lead serves tasks of different dt (0.01 s, MyoSuite's 0.02 s),
    and the trace delays by whole steps.

    Example:
        >>> ilc_lead(0.15, 0.02), ilc_lead(0.15, 0.01)
        (0.16, 0.15)
    """
    if lead == 0:
        return 0.0
    steps = max(1, math.floor(lead / dt + 0.5 + 1e-9))  # 0.15 / 0.02 is 7.4999...: a half, rounded up
    return round(steps * dt, 12)


def task_ilc(ilc: ILCConfig, task: RunConfig) -> ILCConfig:
    """The bench's ILC settings for one task: its lead in whole control steps of the task's env."""
    return ilc.model_copy(update={"lead": ilc_lead(ilc.lead, task_dt(task))})


# What a rule without a controller of its own takes from the task's eligibility controller.
GRADIENT_SETTINGS = {"learning_rate", "normalized", "regularization", "shared_weights", "ridge", "smoothness"}


def method_config(
    task: RunConfig,
    method: str,
    seed: int,
    trials: int,
    ilc: ILCConfig,
    learning_rate: float | None = None,
) -> RunConfig:
    """The task's run config with this method as its only controller."""
    by_rule = {c.rule: c for c in task.controllers if c.optimizer == "gradient"}  # the per-step rules
    update: dict[str, Any] = {"name": f"{task.name}-{method}", "seed": seed, "trials": trials, "envs": 1}
    if method == "feedback":
        controller = ControllerConfig(name=method, rule="none")
    elif method == "ilc":
        controller = ControllerConfig(
            name=method, rule="delayed", learning_rate=ilc.learning_rate, trace_delay=ilc.lead
        )
        update["basis"] = TimeTableConfig(kind="time_table", span=ilc.span)
    elif method in ("gauss_newton", "noilc"):
        # The task's own Gauss-Newton controller, else its eligibility trace (forward model) with the
        # default settings; norm-optimal ILC is the same learner on a table with one entry per
        # control step, its size penalised.
        own = [c for c in task.controllers if c.optimizer == "gauss_newton" and c.rule == "eligibility"]
        if own:
            settings = own[0].model_dump(exclude={"name"})
        elif "eligibility" in by_rule:
            settings = {"forward_model": by_rule["eligibility"].forward_model.model_dump()}
        else:
            settings = {}
        if method == "noilc":  # its own penalty; the rest (forward model, Jacobian) as gauss_newton's
            settings["ridge"] = ilc.ridge
            update["basis"] = TimeTableConfig(kind="time_table", span=ilc.span)
        settings.update(name=method, rule="eligibility", optimizer="gauss_newton")
        controller = validated(ControllerConfig, settings)
    else:
        if method in by_rule:
            settings = by_rule[method].model_dump()
        elif "eligibility" in by_rule:  # the task's learning settings, not its trace's forward model
            settings = by_rule["eligibility"].model_dump(include=GRADIENT_SETTINGS)
        else:
            settings = {}
        if learning_rate is not None:
            settings["learning_rate"] = learning_rate
        controller = validated(ControllerConfig, {**settings, "name": method, "rule": method})
    return task.model_copy(update={**update, "controllers": [controller]})
