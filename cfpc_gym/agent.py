"""CFPC as a Gymnasium agent: reads the tracking signals, returns the env's actions, learns online.

    agent = make_agent(config, 1, env)         # controller 1 of the config; env: single or vector
    observation, info = env.reset(seed=0)
    while True:
        action = agent.act(observation, info)
        observation, reward, terminated, truncated, info = env.step(action)
        agent.observe(terminated, truncated)   # learn from this step; note episode ends

Trials are episodes: learned weights persist across them, while each env's controller memory
(PID integral, basis and trace filters) restarts with its episode, whatever the vector env's
autoreset mode. ``predict`` speaks Stable-Baselines3's policy protocol, so ``evaluate_policy`` and
any SB3 loop can run the agent (it then reads the tracking signals from the observation).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv

from .body import check_body, check_own_observation, env_attribute, observation_checked
from .controllers import CFPC
from .envs import TRACKING_KEY, TrackingSpec

__all__ = ["CFPCAgent", "env_attribute", "to_action"]


class CFPCAgent:
    """A CFPC controller driving a Gymnasium env (single or a ``SyncVectorEnv``), learning online.

    Each step ``act`` reads the tracking signals (``info["tracking"]``, else the observation),
    steps the controller and returns the env's action (joint commands through the env's muscle
    allocation where it has one); ``observe`` learns from that step and notes episode ends.
    Trials are episodes: learned weights persist across them, per-episode memory (PID integral,
    basis and trace filters) restarts with each env's episode, whatever the autoreset mode.

    Args:
        env: The env it drives: a single env, or a ``SyncVectorEnv`` with one controller row
            per sub-env. Muscle allocation reads each sub-env's posture, so actions must go to
            these very envs.
        controller: A ``CFPC`` whose batch size is the number of envs.
        learn: Learn online (False: the weights stay as they are, e.g. for evaluation).

    Example:
        >>> agent = make_agent(load_config("cued_elbow"), 1, env)
        >>> observation, info = env.reset(seed=0)
        >>> action = agent.act(observation, info)
        >>> observation, reward, terminated, truncated, info = env.step(action)
        >>> agent.observe(terminated, truncated)
    """

    def __init__(self, env: gym.Env | VectorEnv, controller: CFPC, *, learn: bool = True):
        self.env, self.controller, self.learn = env, controller, learn
        self.vector = isinstance(env, VectorEnv)
        self.num_envs = env.num_envs if self.vector else 1
        if controller.batch_size != self.num_envs:
            raise ValueError(f"controller batch size {controller.batch_size} != {self.num_envs} envs")
        if self.vector and not hasattr(env, "envs"):
            raise TypeError("CFPCAgent needs a SyncVectorEnv: it allocates each command at its env's posture")
        self._sub_envs = list(env.envs) if self.vector else [env]
        self.spec: TrackingSpec = check_body(self._sub_envs[0])
        self._allocate = [env_attribute(e, "allocate") for e in self._sub_envs]
        self._checked = [i for i, e in enumerate(self._sub_envs) if observation_checked(e)]  # predict's
        self._action_dtypes = [e.action_space.dtype for e in self._sub_envs]
        autoreset = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP) if self.vector else None
        self._next_step_autoreset = autoreset == AutoresetMode.NEXT_STEP
        self._starting = np.ones(self.num_envs, dtype=bool)  # next observation begins an episode
        self._ignored = np.zeros(self.num_envs, dtype=bool)  # next action is ignored by autoreset
        self._acted = False

    # --- the Gymnasium loop ---------------------------------------------------------------------

    def act(self, observation: np.ndarray, info: dict | None = None) -> np.ndarray:
        """The env's action for this observation (and info, when it carries the tracking signals)."""
        tracking = info.get(TRACKING_KEY) if info is not None else None
        if tracking is None:
            tracking = self.spec.from_observation(observation)
        actions = self._act(tracking["reference"], tracking["measurement"], tracking["cue"])
        return actions if self.vector else actions[0]

    def _act(self, reference: np.ndarray, measurement: np.ndarray, cue: np.ndarray) -> np.ndarray:
        """Batched signals (B, n) -> batched actions (B, action_dim)."""
        if self._starting.any() if self.vector else self._starting[0]:  # (a reduction costs ~1 us)
            self._begin_episodes()
        commands = self.controller.step_array(reference, measurement, cue)
        self._acted = True
        if not self.vector:  # the common single-env case, without the batch bookkeeping
            return _action(self._allocate[0], self._action_dtypes[0], commands[0])[None]
        envs = zip(self._allocate, self._action_dtypes, commands, strict=True)
        return np.stack([_action(allocate, dtype, command) for allocate, dtype, command in envs])

    def observe(self, terminated, truncated) -> None:
        """After ``env.step``: learn from the step just taken, and note which episodes ended."""
        if not self._acted:
            raise RuntimeError("observe() follows act(): call act(observation, info) before env.step")
        if self.learn:
            # A single env's action is never ignored: every step teaches.
            self.controller.update(active=~self._ignored if self.vector else None)
        if not self.vector:
            if terminated or truncated:
                self._starting[0] = True
            self._acted = False
            return
        ended = np.logical_or(terminated, truncated).reshape(self.num_envs)
        if self._next_step_autoreset:
            # This step reset the envs that were ignored; the envs that ended now reset on the next.
            self._starting |= self._ignored
            self._ignored = ended.copy()
        else:
            self._starting |= ended
        self._acted = False

    def reset(self, mask: np.ndarray | None = None) -> None:
        """Mark episodes as starting afresh (all when None), e.g. after a manual ``env.reset()``."""
        self._starting |= np.ones(self.num_envs, bool) if mask is None else np.asarray(mask, bool)
        self._ignored[:] = False if mask is None else self._ignored & ~np.asarray(mask, bool)

    def _begin_episodes(self) -> None:
        mask = torch.as_tensor(self._starting, device=self.controller.device)
        self.controller.reset(mask, learn=self.learn)
        holding = [env_attribute(e, "holding_command") for e in self._sub_envs]
        if all(h is not None for h in holding):
            points = torch.as_tensor(np.stack([h() for h in holding]), device=self.controller.device)
            self.controller.feedback.set_operating_point(points, mask)
        self._starting[:] = False

    # --- Stable-Baselines3 ------------------------------------------------------------------------

    def predict(
        self,
        observation: np.ndarray,
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """SB3's ``PolicyPredictor``: actions for a batch of observations (n_envs, obs_dim).

        SB3 vector envs hand back the reset observation at an episode's end, flagged by
        ``episode_start``; the agent learns from each step as it predicts (the policy is
        deterministic either way). The observations must come from the agent's own env(s): a
        muscle env's command is allocated at that env's posture, read from the env itself; an
        observation that is not its env's latest (``last_observation``) is refused. To evaluate
        without learning: ``with agent.frozen(): evaluate_policy(agent, vec_env)``.
        """
        observation = np.asarray(observation)
        batched = observation.ndim == 2
        rows = observation.reshape(self.num_envs, -1)
        for index in self._checked:
            check_own_observation(self._sub_envs[index], rows[index])
        if episode_start is not None:
            self._starting |= np.asarray(episode_start, bool).reshape(self.num_envs)
        signals = self.spec.from_observation(observation.reshape(self.num_envs, -1))
        actions = self._act(signals["reference"], signals["measurement"], signals["cue"])
        if self.learn:
            self.controller.update()
        self._acted = False
        return (actions if batched else actions[0]), state

    @contextmanager
    def frozen(self) -> Iterator[CFPCAgent]:
        """Learning off inside the block (e.g. around ``evaluate_policy``), back as it was after.

        Example:
            >>> with agent.frozen():
            ...     mean_reward, _ = evaluate_policy(agent, DummyVecEnv([lambda: env]))
        """
        learn, self.learn = self.learn, False
        try:
            yield self
        finally:
            self.learn = learn

    # --- persistence ----------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "controller": self.controller.state_dict(),
            "starting": self._starting.copy(),
            "ignored": self._ignored.copy(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.controller.load_state_dict(state["controller"])
        self._starting = np.asarray(state["starting"], bool).copy()
        self._ignored = np.asarray(state["ignored"], bool).copy()


def to_action(allocate, env: gym.Env, command: np.ndarray) -> np.ndarray:
    """A joint-space command as the env's action.

    Args:
        allocate: The env's muscle allocation (``env_attribute(env, "allocate")``), or None.
        env: The env (its action dtype).
        command: (D,) joint commands.

    Returns:
        A new action array: ``allocate(command)``, or the command itself without an allocation.
    """
    return _action(allocate, env.action_space.dtype, command)


def _action(allocate, dtype: np.dtype, command: np.ndarray) -> np.ndarray:
    """A new array of the action space's ``dtype`` (``command`` may be the controller's buffer)."""
    if allocate is None:
        return np.array(command, dtype=dtype)
    return np.asarray(allocate(command), dtype=dtype)
