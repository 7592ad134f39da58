"""Bench configs: which tasks, methods and seeds; each profile's budget; ILC and RL settings."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from ..config import Section, read_config, validated
from ..config.files import BENCH_CONFIGS
from ..config.loading import dump_config

ALGORITHMS = ("ppo", "sac")  # Stable-Baselines3 (baselines.py)
TRIAL_METHODS = ("feedback", "eligibility", "gauss_newton", "lms", "delayed", "fel", "ilc", "noilc")
METHODS = TRIAL_METHODS + ALGORITHMS


class ProfileConfig(Section):
    """The budget of one profile (quick or full): trials, RL steps and evaluations."""

    trials: int | None = Field(None, ge=1)
    """Trials of every trial-based method (None: each task config's own ``trials``)."""
    ppo_steps: int = Field(100_000, ge=1)
    """Env steps PPO trains for."""
    sac_steps: int = Field(10_000, ge=1)
    """Env steps SAC trains for."""
    evaluations: int = Field(8, ge=1)
    """RL evaluation points, log-spaced up to the budget."""
    eval_episodes: int = Field(2, ge=1)
    """Deterministic episodes per RL evaluation."""


class ILCConfig(Section):
    """P-type iterative learning control, the engineering baseline."""

    learning_rate: float = Field(0.5, gt=0)
    """Gain of the trial-to-trial update (stable for 0 < gain < 2 when the lead matches the loop)."""
    lead: float = Field(0.15, ge=0)
    """Seconds: entry t learns from the error at t + lead (the loop's delay and lag)."""
    span: float = Field(2.0, gt=0)
    """Seconds after the cue the table covers (P-type and norm-optimal ILC)."""
    ridge: float = Field(1e-4, ge=0)
    """Norm-optimal ILC: the penalty on the table's size, per control step of the cost."""


class RLConfig(Section):
    """A Stable-Baselines3 baseline's settings."""

    hyperparameters: dict[str, Any] = {}
    """Keyword arguments of the SB3 constructor (empty: SB3's defaults)."""


class BenchConfig(Section):
    """A bench: tasks x methods x seeds, with a budget per profile (and a grid for sweeps)."""

    name: str = "bench"
    """Label of the bench: the default results directory is runs/NAME-TIMESTAMP."""
    tasks: list[str] = Field(min_length=1)
    """Run configs: bundled names (cued_elbow) or YAML paths."""
    methods: list[str] = Field(min_length=1)
    """Any of feedback, eligibility, gauss_newton, lms, delayed, fel, ilc, noilc, ppo, sac."""
    seeds: int = Field(3, ge=1)
    """Seeds 0 .. seeds-1 for every task and method."""
    profiles: dict[Literal["quick", "full"], ProfileConfig]
    """The budgets: quick (CI, minutes) and full (the published numbers)."""
    learning_rate: float | None = Field(None, gt=0)
    """Step size of every CFPC rule on every task (None: each task controller's own)."""
    ilc: ILCConfig = ILCConfig()
    """P-type ILC, the engineering baseline."""
    ppo: RLConfig = RLConfig()
    """Stable-Baselines3 PPO."""
    sac: RLConfig = RLConfig()
    """Stable-Baselines3 SAC."""
    window: dict[str, int] = {}
    """Trials per running mean, by task (default 1): for tasks whose trials differ (the arm's 8
    targets), final RMSE and the steps to a level use the mean of that many consecutive trials."""
    grid: dict[str, list[Any]] = {}
    """cfpc-gym sweep only: dotted keys to values; ``task.KEY`` sets KEY in every task's run config,
    other keys set the bench config (e.g. ilc.lead, ppo.hyperparameters.learning_rate)."""

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, methods: list[str]) -> list[str]:
        for method in methods:
            if method not in METHODS:
                raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
        return methods

    @field_validator("grid")
    @classmethod
    def _non_empty(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in grid.items():
            if not values:
                raise ValueError(f"{key}: needs at least one value")
        return grid


DEFAULT_BENCH = "bench"


def load_bench(path: str | Path | None = None, overrides: Iterable[str] = ()) -> BenchConfig:
    """Read, override and validate a bench config.

    Args:
        path: A YAML file, the name of a bundled bench or sweep config (``bench``,
            ``sweep_ilc``), or None for the bundled ``bench``.
        overrides: ``dotted.key=value`` assignments applied before validation.

    Returns:
        The validated ``BenchConfig``.
    """
    return validate_bench(read_config(path, overrides, DEFAULT_BENCH, BENCH_CONFIGS))


def validate_bench(data: dict[str, Any]) -> BenchConfig:
    """A ``BenchConfig`` from a mapping; ConfigError in one line otherwise."""
    return validated(BenchConfig, data)


def dump_bench(bench: BenchConfig) -> str:
    """The bench config as YAML, every default written out."""
    return dump_config(bench)
