"""Closed-loop trials: a batch of Gymnasium envs, one batched controller, one step at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from .controllers import CFPC
from .envs import TRACKING_KEY


class TrackingError(ValueError):
    """The env does not expose the tracking signals a controller needs."""


@dataclass
class TrialRecord:
    """Signals of one trial, each (steps, B, D) — cue (steps, B, M)."""

    error: np.ndarray  # reference - measurement: what the controller saw and learned from
    target: np.ndarray  # true desired output
    output: np.ndarray  # true output
    cue: np.ndarray
    feedforward: np.ndarray  # o
    counterfactual_error: np.ndarray  # e + o (what the feedback controller reacted to)
    command: np.ndarray

    @property
    def rmse(self) -> np.ndarray:
        """Tracking RMSE per env (B,): the root-mean-square of the error the controller minimises."""
        return np.sqrt(np.mean(self.error**2, axis=(0, 2)))

    @property
    def max_error(self) -> np.ndarray:
        return np.abs(self.error).max(axis=(0, 2))


def tracking_of(info: dict) -> dict[str, np.ndarray]:
    try:
        return info[TRACKING_KEY]
    except KeyError:
        raise TrackingError(
            f'the env exposes no info["{TRACKING_KEY}"] (reference, measurement, cue); '
            "wrap it in an adapter that does"
        ) from None


def to_action(env: gym.Env, command: np.ndarray) -> np.ndarray:
    """Joint-space command to the env's action: through its muscle allocation when it has one."""
    allocate = getattr(env.unwrapped, "allocate", None)
    action = allocate(command) if allocate is not None else command
    return np.asarray(action, dtype=env.action_space.dtype)


def run_trial(
    envs: Sequence[gym.Env],
    controller: CFPC,
    *,
    learn: bool = True,
    seeds: Sequence[int | None] | None = None,
) -> TrialRecord:
    """One episode of every env (they must share the trial length), learning online if ``learn``."""
    if len(envs) != controller.batch_size:
        raise ValueError(f"{len(envs)} envs for a controller of batch size {controller.batch_size}")
    seeds = seeds if seeds is not None else [None] * len(envs)
    infos = [env.reset(seed=seed)[1] for env, seed in zip(envs, seeds, strict=True)]
    controller.reset()
    rows: dict[str, list[np.ndarray]] = {name: [] for name in TrialRecord.__dataclass_fields__}
    done = False
    while not done:
        tracking = [tracking_of(info) for info in infos]
        signals = {key: np.stack([t[key] for t in tracking]) for key in tracking[0]}
        with torch.no_grad():
            command = controller.step(signals["reference"], signals["measurement"], signals["cue"])
            if learn:
                controller.update()
        command_np = command.cpu().numpy()
        steps = [env.step(to_action(env, c)) for env, c in zip(envs, command_np, strict=True)]
        infos = [s[4] for s in steps]
        done = any(s[2] or s[3] for s in steps)
        for key, value in (
            ("error", controller.error),
            ("feedforward", controller.feedforward_output),
            ("counterfactual_error", controller.counterfactual_error),
        ):
            rows[key].append(value.cpu().numpy())
        rows["command"].append(command_np)
        rows["target"].append(signals["target"])
        rows["output"].append(signals["output"])
        rows["cue"].append(signals["cue"])
    return TrialRecord(**{key: np.stack(value) for key, value in rows.items()})
