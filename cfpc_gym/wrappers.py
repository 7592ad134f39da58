"""Residual reinforcement learning on a CFPC base, as a Gymnasium wrapper.

    env = ResidualCFPC(gym.make("cfpc_gym/ElbowTrack-v0"))   # CFPC as the bundled config sets it
    PPO("MlpPolicy", env).learn(10_000)                       # the policy learns a residual

``SensoryDelay`` (observations a fixed delay late, for any env) lives with the envs,
``cfpc_gym.envs.SensoryDelay``, and is importable from here too.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .agent import CFPCAgent
from .build import make_agent
from .config import ControllerConfig, RunConfig, bundled_run_configs, load_config, read_yaml
from .envs.delay import SensoryDelay


def _flat_box(space: gym.Space, name: str) -> spaces.Box:
    if not isinstance(space, spaces.Box) or len(space.shape) != 1:
        raise ValueError(f"env: {name} must be a flat Box, got {space}")
    return space


__all__ = ["ResidualCFPC", "SensoryDelay", "bundled_config_for", "cfpc_learns"]


class ResidualCFPC(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """A CFPC agent drives the env; the wrapper's action is a residual added to the agent's action.

    Every step the agent (batch 1) computes its base action from the tracking signals, and, when
    ``learn``, learns from the step online; the env then receives
    ``clip(base + residual_scale * (high - low) * residual, low, high)``, with the residual in
    ``Box(-1, 1)`` (the env's action shape): ``residual_scale`` is the largest residual as a fraction
    of the env's action range, and 0 leaves CFPC alone in charge. With ``observe_base_action`` the
    observation is the env's followed by the base action, so the policy sees what CFPC proposes (the
    env's own entries keep their places, so ``tracking_spec.observation_index`` still holds).
    At an episode's last observation no action follows: it shows the previous base action.
    Per-episode memory restarts at every reset; learned weights persist across episodes, so an
    evaluation that must repeat sets ``wrapper.agent.learn = False`` first.

    Args:
        env: A single env with tracking signals and a bounded, flat Box action space.
        agent: A ``CFPCAgent`` made for ``env`` (its ``learn`` is set to ``learn``), or a
            ``RunConfig`` whose controller number ``controller`` is built for it; by default the
            bundled config for the env's id.
        controller: With a ``RunConfig``: which controller (default: the first whose
            feed-forward learns on fixed feedback gains).
        learn: Whether the base keeps learning while the policy trains.
        residual_scale: The largest residual as a fraction of the env's action range.
        observe_base_action: Append the base action to the observation.

    Example:
        >>> env = ResidualCFPC(gymnasium.make("cfpc_gym/ElbowTrack-v0"))
        >>> PPO("MlpPolicy", env).learn(10_000)
    """

    def __init__(
        self,
        env: gym.Env,
        agent: CFPCAgent | RunConfig | None = None,
        *,
        controller: int | None = None,
        learn: bool = True,
        residual_scale: float = 0.1,
        observe_base_action: bool = True,
    ):
        gym.utils.RecordConstructorArgs.__init__(
            self,
            agent=agent,
            controller=controller,
            learn=learn,
            residual_scale=residual_scale,
            observe_base_action=observe_base_action,
        )
        super().__init__(env)
        if not residual_scale >= 0:
            raise ValueError(f"residual_scale must be >= 0, got {residual_scale}")
        actions = _flat_box(env.action_space, "action_space")
        if not (np.all(np.isfinite(actions.low)) and np.all(np.isfinite(actions.high))):
            raise ValueError("env: action_space must be bounded: the residual is a fraction of its range")
        if agent is None:
            agent = bundled_config_for(env)
        if isinstance(agent, RunConfig):
            if controller is None:
                controller = next((i for i, c in enumerate(agent.controllers) if cfpc_learns(c)), 0)
            if not 0 <= controller < len(agent.controllers):
                raise ValueError(f"controller must index the config's {len(agent.controllers)} controllers")
            agent = make_agent(agent, controller, env)
        elif not isinstance(agent, CFPCAgent):
            raise ValueError(f"agent must be a CFPCAgent or a RunConfig, got {type(agent).__name__}")
        if agent.vector or agent.env.unwrapped is not env.unwrapped:
            raise ValueError("agent must be made for this env (a single env, not a vector env)")
        self.agent = agent
        self.agent.learn = learn
        self.residual_scale = residual_scale
        self.observe_base_action = observe_base_action
        self._low = actions.low.astype(np.float64)
        self._high = actions.high.astype(np.float64)
        self.action_space = spaces.Box(-1.0, 1.0, shape=actions.shape, dtype=np.float32)
        if observe_base_action:
            observations = _flat_box(env.observation_space, "observation_space")
            self.observation_space = spaces.Box(
                np.concatenate([observations.low, self._low]),
                np.concatenate([observations.high, self._high]),
                dtype=observations.dtype,
            )
        self.base_action = np.zeros(actions.shape)

    def action(self, residual: np.ndarray) -> np.ndarray:
        """The env's action for a residual in [-1, 1] (clipped to it) on top of the current base action."""
        residual = np.clip(np.asarray(residual, dtype=np.float64).reshape(self._low.shape), -1.0, 1.0)
        action = self.base_action + self.residual_scale * (self._high - self._low) * residual
        return np.clip(action, self._low, self._high).astype(self.env.action_space.dtype)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        observation, info = self.env.reset(seed=seed, options=options)
        self.agent.reset()
        self.base_action = self._propose(observation, info)
        return self._observation(observation), info

    def step(self, residual):
        observation, reward, terminated, truncated, info = self.env.step(self.action(residual))
        self.agent.observe(terminated, truncated)
        if not (terminated or truncated):
            self.base_action = self._propose(observation, info)
        return self._observation(observation), reward, terminated, truncated, info

    def _propose(self, observation: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        base = np.asarray(self.agent.act(observation, info), dtype=np.float64)
        return np.clip(base, self._low, self._high)

    def _observation(self, observation: np.ndarray) -> np.ndarray:
        if not self.observe_base_action:
            return observation
        flat = np.asarray(observation).reshape(-1)
        return np.concatenate([flat, self.base_action]).astype(self.observation_space.dtype)


def bundled_config_for(env: gym.Env) -> RunConfig:
    """The bundled run config written for an env's id (its feedback gains suit that env).

    Args:
        env: A registered env.

    Returns:
        The first bundled config by file name for ``env.spec.id`` with a learning CFPC controller
        of fixed gains, else the first for that id.

    Raises:
        ValueError: no bundled config is written for that env.
    """
    env_id = env.spec.id if env.spec is not None else None
    configs = [load_config(p) for p in bundled_run_configs() if read_yaml(p)["env"].get("id") == env_id]
    if not configs:
        raise ValueError(f"agent: no bundled config for env {env_id!r}; pass a CFPCAgent or a RunConfig")
    return next((c for c in configs if any(cfpc_learns(s) for s in c.controllers)), configs[0])


def cfpc_learns(controller: ControllerConfig) -> bool:
    """Whether a controller is a feed-forward module that learns, on feedback gains that stay put.

    Args:
        controller: A controller's config.

    Returns:
        True for a learning rule other than ``none`` without gain adaptation.
    """
    return controller.rule != "none" and controller.gain_adaptation is None
