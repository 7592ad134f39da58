"""Reinforcement-learning baselines: Stable-Baselines3 PPO and SAC on the very env CFPC drives.

The policy sees the env's own observations (sensed state, reference, cue, time in trial) and
learns from its own reward (negative tracking error); nothing is shaped for it. Its learning curve
is measured on the error CFPC minimises (reference - measurement, as the env senses them), over
deterministic evaluation episodes at log-spaced step counts; where the env gives a goal, also on the
runner's goal error and success (``rollout.TrialRecord``: the same measures as CFPC's trials).
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..body import env_attribute
from ..build import make_env
from ..config import ConfigError, RunConfig
from ..envs import TRACKING_KEY
from ..experiment.runner import held_out_seeds
from ..rollout import episode_success

INSTALL_HINT = "pip install 'cfpc-gym[sb3]'"


def require_sb3(method: str) -> None:
    """Fail early, in one line, when a baseline is asked for and SB3 is missing."""
    if importlib.util.find_spec("stable_baselines3") is None:
        raise ConfigError(f"methods: {method} needs Stable-Baselines3: {INSTALL_HINT}")


@dataclass
class Curve:
    """Error against experience: one point per trial (CFPC) or per evaluation (RL).

    ``goal_error`` (episode-mean distance to the goal) and ``success`` (share of episodes that
    succeed) hold None at points where the env gives no goal or success rule; they are empty in
    cells written before they were recorded.
    """

    env_steps: list[int] = field(default_factory=list)
    rmse: list[float] = field(default_factory=list)
    wall_time_s: list[float] = field(default_factory=list)  # learning time so far, evaluation excluded
    goal_error: list[float | None] = field(default_factory=list)
    success: list[float | None] = field(default_factory=list)

    def add(
        self,
        env_steps: int,
        rmse: float,
        wall_time_s: float,
        goal_error: float | None = None,
        success: float | None = None,
    ) -> None:
        self.env_steps.append(int(env_steps))
        self.rmse.append(float(rmse))
        self.wall_time_s.append(float(wall_time_s))
        self.goal_error.append(None if goal_error is None else float(goal_error))
        self.success.append(None if success is None else float(success))


@dataclass(frozen=True)
class Evaluation:
    """A policy's deterministic episodes, averaged.

    Args:
        rmse: Mean over episodes of the RMSE of reference - measurement.
        goal_error: Mean episode-mean distance to the goal after each step (None without a goal).
        success: Share of episodes that succeed by the env's rule (None without one).
    """

    rmse: float
    goal_error: float | None = None
    success: float | None = None


def evaluation_points(steps: int, evaluations: int, first: int = 1000) -> list[int]:
    """Log-spaced step counts ending at ``steps``."""
    start = min(first, steps)
    return sorted({int(round(s)) for s in np.geomspace(start, steps, evaluations)})


@dataclass
class RLRun:
    """A trained baseline: its learning curve and, where the task config asks for ``evaluation``
    episodes, its final policy on the runner's held-out seeds (the goals the trial-based methods are
    evaluated on): ``episodes``, ``success``, ``goal_error``, ``rmse``, as the runner's evaluation."""

    curve: Curve
    held_out: dict[str, float | int | None] | None = None


def evaluate_policy(env, model, seeds: list[int]) -> Evaluation:
    """The model's deterministic episodes, one per seed, measured as the runner measures CFPC's
    trials: the RMSE of reference - measurement before each action, and, where the reset's info
    gives a ``goal``, the distance |output - goal| after each step and the episode's success."""
    rmse, goal_errors, successes = [], [], []
    threshold = env_attribute(env, "goal_threshold")
    for seed in seeds:
        observation, info = env.reset(seed=seed)
        goal = np.asarray(info["goal"], dtype=np.float64).ravel() if "goal" in info else None
        squared, distances, solved, done = [], [], [], False
        while not done:
            tracking = info[TRACKING_KEY]
            squared.append(float(np.mean((tracking["reference"] - tracking["measurement"]) ** 2)))
            # SB3's protocol: a stateful predictor (a CFPC agent) resets its memory at an episode's start.
            start = np.array([not squared[:-1]])
            action, _ = model.predict(observation, episode_start=start, deterministic=True)
            observation, _, terminated, truncated, info = env.step(action)
            if goal is not None:
                output = np.asarray(info[TRACKING_KEY]["output"], dtype=np.float64).ravel()
                distances.append(float(np.linalg.norm(output - goal)))
            solved.append(info.get("solved"))
            done = terminated or truncated
        rmse.append(np.sqrt(np.mean(squared)))
        distance = np.array(distances)[:, None] if goal is not None else None
        flags = None if any(s is None for s in solved) else np.array(solved, dtype=bool)[:, None]
        goal_errors.append(None if distance is None else float(distance.mean()))
        success = episode_success(flags, distance, threshold)
        successes.append(None if success is None else float(success[0]))

    def mean(values: list[float | None]) -> float | None:
        return None if any(v is None for v in values) else float(np.mean(values))

    return Evaluation(float(np.mean(rmse)), mean(goal_errors), mean(successes))


def train_rl(
    config: RunConfig,
    algorithm: str,
    *,
    steps: int,
    seed: int,
    evaluations: int,
    eval_episodes: int,
    hyperparameters: dict[str, Any],
) -> RLRun:
    """Train ``algorithm`` on the config's env for ``steps`` env steps; evaluate along the way, and at
    the end on the runner's held-out seeds where the config asks for ``evaluation`` episodes."""
    import torch
    from stable_baselines3 import PPO, SAC

    torch.manual_seed(seed)
    env, evaluation_env = make_env(config), make_env(config)
    try:
        model = {"ppo": PPO, "sac": SAC}[algorithm](
            "MlpPolicy", env, seed=seed, device="cpu", verbose=0, **hyperparameters
        )
    except TypeError as exc:
        raise ConfigError(f"{algorithm}.hyperparameters: {exc}") from None
    curve, learning_time = Curve(), 0.0
    eval_seeds = [seed + 10_000 + i for i in range(eval_episodes)]  # episodes never trained on
    for point in evaluation_points(steps, evaluations):
        if curve.env_steps and model.num_timesteps >= point:
            continue  # PPO learns in whole rollouts: this point was passed already
        start = time.perf_counter()
        model.learn(point - model.num_timesteps, reset_num_timesteps=False)
        learning_time += time.perf_counter() - start
        measured = evaluate_policy(evaluation_env, model, eval_seeds)
        curve.add(model.num_timesteps, measured.rmse, learning_time, measured.goal_error, measured.success)
    held_out = None
    if config.evaluation:  # the very goals the trial-based methods are evaluated on (runner.evaluate)
        seeds = held_out_seeds(config.seed, config.evaluation)
        measured = evaluate_policy(evaluation_env, model, seeds)
        held_out = {
            "episodes": len(seeds),
            **{k: getattr(measured, k) for k in ("success", "goal_error", "rmse")},
        }
    env.close()
    evaluation_env.close()
    return RLRun(curve, held_out)
