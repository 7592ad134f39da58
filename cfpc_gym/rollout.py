"""Closed-loop trials: a batch of envs (a SyncVectorEnv) driven by one CFPC agent, step by step."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .agent import CFPCAgent
from .envs import TRACKING_KEY

SOLVED_STEPS = 5  # MyoSuite's evaluate_success: an episode succeeds with more than 5 solved steps


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
    goal: np.ndarray | None = None  # (B, D): each env's goal, where its reset info gives one
    solved: np.ndarray | None = None  # (steps, B): the env's own per-step "solved", where it gives one
    # (steps, B): |output - goal| (L2 over the DOFs) after each step, the state the env judges
    # (MyoSuite's pose distance), where the goal is known
    goal_distance: np.ndarray | None = None

    @property
    def rmse(self) -> np.ndarray:
        """Tracking RMSE per env (B,): the root-mean-square of the error the controller minimises."""
        return np.sqrt(np.mean(self.error**2, axis=(0, 2)))

    @property
    def max_error(self) -> np.ndarray:
        return np.abs(self.error).max(axis=(0, 2))

    def lag(self, dt: float) -> np.ndarray:
        """Per env (B,): seconds by which the true output reaches half the target's excursion after
        the target does (negative: it anticipates); on the DOF that moves most. NaN where the target
        is still or the output never gets there."""
        target = self.target - self.target[:1]  # excursions from where each trial starts
        output = self.output - self.output[:1]
        lags = np.full(target.shape[1], np.nan)
        for b in range(target.shape[1]):
            dof = int(np.argmax(np.abs(target[:, b]).max(axis=0)))
            amplitude = target[:, b, dof]
            peak = amplitude[np.argmax(np.abs(amplitude))]
            if peak == 0:
                continue
            reached = amplitude / peak >= 0.5
            followed = output[:, b, dof] / peak >= 0.5
            if followed.any():
                lags[b] = (np.argmax(followed) - np.argmax(reached)) * dt
        return lags

    def goal_error(self) -> np.ndarray | None:
        """Per env (B,): the episode mean of the distance |output - goal| (L2 over the DOFs) after
        each step, in the output's units (MyoSuite's pose distance); None without a goal."""
        return None if self.goal_distance is None else self.goal_distance.mean(axis=0)

    def success(self, threshold: float | None) -> np.ndarray | None:
        """Per env (B,): whether the episode succeeded (``episode_success``)."""
        return episode_success(self.solved, self.goal_distance, threshold)

    def as_arrays(self) -> dict[str, np.ndarray]:
        """The signals by name (those the env did not give left out)."""
        return {
            name: value for name in self.__dataclass_fields__ if (value := getattr(self, name)) is not None
        }


def episode_success(
    solved: np.ndarray | None, goal_distance: np.ndarray | None, threshold: float | None
) -> np.ndarray | None:
    """Whether each episode succeeded: by MyoSuite's rule where the env says per step whether the
    task is solved (more than ``SOLVED_STEPS`` solved steps), else ending within ``threshold`` of
    the goal.

    Args:
        solved: (steps, B) the env's own per-step ``solved``, or None where it gives none.
        goal_distance: (steps, B) the distance to the goal after each step, or None without a goal.
        threshold: The distance that counts as reached (the env's ``goal_threshold``), or None.

    Returns:
        (B,) bools, or None without either rule.

    Example:
        >>> episode_success(np.array([[True]] * 6), None, None)
        array([ True])
    """
    if solved is not None:
        return solved.sum(axis=0) > SOLVED_STEPS
    if goal_distance is None or threshold is None:
        return None
    return goal_distance[-1] < threshold


def run_trial(
    agent: CFPCAgent,
    *,
    learn: bool = True,
    seeds: Sequence[int] | None = None,
    options: dict | None = None,
) -> TrialRecord:
    """One trial: an episode of every env of the agent's vector env, recorded step by step.

    Args:
        agent: An agent over a vector env whose envs share the trial length.
        learn: Learn online during the trial (the agent's own setting is restored after).
        seeds: Seeds for the envs' reset (one each), or None to continue their random streams.
        options: Passed to every env's reset (e.g. ``{"probe": True}`` for an eyeblink CS-alone
            trial).

    Returns:
        The trial's signals as a ``TrialRecord``.
    """
    env = agent.env
    observation, info = env.reset(seed=None if seeds is None else list(seeds), options=options)
    goal = _per_env(info, "goal", agent.num_envs)
    agent.reset()
    learning, agent.learn = agent.learn, learn
    rows: dict[str, list[np.ndarray]] = {name: [] for name in TrialRecord.__dataclass_fields__}
    solved: list[np.ndarray | None] = []
    distances: list[np.ndarray] = []
    try:
        done = np.zeros(agent.num_envs, dtype=bool)
        while not done.all():
            action = agent.act(observation, info)
            controller, tracking = agent.controller, info[TRACKING_KEY]
            for key, value in (
                ("error", controller.error),
                ("feedforward", controller.feedforward_output),
                ("counterfactual_error", controller.counterfactual_error),
                ("command", controller.command),
            ):
                rows[key].append(value.cpu().numpy())
            for key in ("target", "output", "cue"):
                rows[key].append(np.asarray(tracking[key]).reshape(agent.num_envs, -1))
            observation, _, terminated, truncated, info = env.step(action)
            solved.append(_per_env(info, "solved", agent.num_envs))
            if goal is not None:
                reached = np.asarray(info[TRACKING_KEY]["output"]).reshape(agent.num_envs, -1)
                distances.append(np.linalg.norm(reached - goal, axis=1))
            agent.observe(terminated, truncated)
            done |= terminated | truncated
    finally:
        agent.learn = learning
    signals = {key: np.stack(value) for key, value in rows.items() if value}
    flags = None if any(s is None for s in solved) else np.stack(solved)[..., 0].astype(bool)
    distance = np.stack(distances) if goal is not None else None
    return TrialRecord(**signals, goal=goal, solved=flags, goal_distance=distance)


def _per_env(info: dict[str, Any], key: str, envs: int) -> np.ndarray | None:
    """A vector env's ``info[key]`` as (B, n) floats, or None where some env does not give it."""
    if key not in info or not np.all(info.get(f"_{key}", True)):
        return None
    return np.asarray(info[key], dtype=np.float64).reshape(envs, -1)
