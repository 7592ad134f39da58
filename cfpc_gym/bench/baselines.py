"""Reinforcement-learning baselines: Stable-Baselines3 PPO and SAC on the very env CFPC drives.

The policy sees the env's own observations (sensed state, reference, cue, time in trial) and
learns from its own reward (negative tracking error); nothing is shaped for it. Its learning curve
is measured on the error CFPC minimises (reference - measurement, as the env senses them), over
deterministic evaluation episodes at log-spaced step counts.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..build import make_env
from ..config import ConfigError, RunConfig
from ..envs import TRACKING_KEY

INSTALL_HINT = "pip install 'cfpc-gym[sb3]'"


def require_sb3(method: str) -> None:
    """Fail early, in one line, when a baseline is asked for and SB3 is missing."""
    if importlib.util.find_spec("stable_baselines3") is None:
        raise ConfigError(f"methods: {method} needs Stable-Baselines3: {INSTALL_HINT}")


@dataclass
class Curve:
    """Error against experience: one point per trial (CFPC) or per evaluation (RL)."""

    env_steps: list[int] = field(default_factory=list)
    rmse: list[float] = field(default_factory=list)
    wall_time_s: list[float] = field(default_factory=list)  # learning time so far, evaluation excluded

    def add(self, env_steps: int, rmse: float, wall_time_s: float) -> None:
        self.env_steps.append(int(env_steps))
        self.rmse.append(float(rmse))
        self.wall_time_s.append(float(wall_time_s))


def evaluation_points(steps: int, evaluations: int, first: int = 1000) -> list[int]:
    """Log-spaced step counts ending at ``steps``."""
    start = min(first, steps)
    return sorted({int(round(s)) for s in np.geomspace(start, steps, evaluations)})


def tracking_rmse(env, model, seeds: list[int]) -> float:
    """Mean over episodes of the RMSE of reference - measurement, the policy acting deterministically."""
    values = []
    for seed in seeds:
        observation, info = env.reset(seed=seed)
        squared, steps, done = 0.0, 0, False
        while not done:
            tracking = info[TRACKING_KEY]
            squared += float(np.mean((tracking["reference"] - tracking["measurement"]) ** 2))
            steps += 1
            action, _ = model.predict(observation, deterministic=True)
            observation, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
        values.append(np.sqrt(squared / steps))
    return float(np.mean(values))


def train_rl(
    config: RunConfig,
    algorithm: str,
    *,
    steps: int,
    seed: int,
    evaluations: int,
    eval_episodes: int,
    hyperparameters: dict[str, Any],
) -> Curve:
    """Train ``algorithm`` on the config's env for ``steps`` env steps; evaluate along the way."""
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
        curve.add(model.num_timesteps, tracking_rmse(evaluation_env, model, eval_seeds), learning_time)
    env.close()
    evaluation_env.close()
    return curve
