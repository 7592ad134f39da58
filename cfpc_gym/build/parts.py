"""The parts every controller is built from: the env, the PID, the temporal basis."""

from __future__ import annotations

import gymnasium as gym
import torch

from ..body import env_attribute
from ..config import ConfigError, ControllerConfig, MissingExtra, RunConfig
from ..controllers import BASES, PID, Basis
from ..envs import TrackingSpec
from ..envs.delay import delay_steps
from ..envs.goal_code import GoalCode


def make_env(config: RunConfig) -> gym.Env:
    """The configured env.

    Args:
        config: The run config (``env.id``, ``env.kwargs``).

    Returns:
        ``gymnasium.make(env.id, **env.kwargs)``, checked to expose tracking signals, its cue
        coded by the goal where ``env.goal_code`` asks.

    Raises:
        ConfigError: the id, the kwargs or the env's tracking signals are wrong (MissingExtra:
            an adapter whose optional extra is not installed).
    """
    try:
        env = gym.make(config.env.id, **config.env.kwargs)
    except gym.error.Error as exc:
        raise ConfigError(f"env.id: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"env.kwargs: {exc}") from None
    except ImportError as exc:  # an adapter whose optional extra is missing says what to install
        raise MissingExtra(f"env.id: {config.env.id}: {exc}") from None
    if not isinstance(env_attribute(env, "tracking_spec"), TrackingSpec):
        raise ConfigError(
            f"env.id: {config.env.id} exposes no tracking signals (env.unwrapped.tracking_spec and "
            'info["tracking"]); wrap it in an adapter that does'
        )
    code = config.env.goal_code
    if code is not None:
        try:
            env = GoalCode(env, **code.model_dump())
            env.reset(seed=config.seed)  # the goal is read at reset: refuse an env without one now
        except ValueError as exc:
            env.close()
            raise ConfigError(f"env.goal_code: {config.env.id}: {exc}") from None
    return env


def make_vector_env(config: RunConfig, count: int) -> gym.vector.SyncVectorEnv:
    """Copies of the configured env, stepped in one batch.

    Args:
        config: The run config.
        count: How many envs.

    Returns:
        A ``SyncVectorEnv`` of ``count`` envs made by ``make_env``.
    """
    return gym.vector.SyncVectorEnv([lambda: make_env(config)] * count)


def torch_options(config: RunConfig) -> dict:
    """The torch device and dtype a config asks for.

    Args:
        config: The run config (``device``, ``dtype``).

    Returns:
        ``{"device": ..., "dtype": ...}`` for torch constructors.

    Raises:
        ConfigError: an unknown device, or CUDA where torch sees none.
    """
    try:
        device = torch.device(config.device)
    except RuntimeError:
        raise ConfigError(
            f"device: {config.device!r} is not a torch device (cpu, cuda, cuda:1, ...)"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: cuda was asked for but torch sees no CUDA device; use device: cpu")
    return {"device": device, "dtype": getattr(torch, config.dtype)}


def make_pid(config: RunConfig, spec: TrackingSpec, batch_size: int) -> PID:
    """The configured feedback controller.

    Args:
        config: The run config (``feedback``, ``device``, ``dtype``).
        spec: The env's tracking spec (DOFs, dt).
        batch_size: Envs stepped together.

    Returns:
        The ``PID``.
    """
    fb, options = config.feedback, torch_options(config)
    try:
        return PID(
            fb.kp, fb.ki, fb.kd,
            dt=spec.dt,
            derivative_time_constant=fb.derivative_time_constant,
            output_limit=fb.output_limit,
            batch_size=batch_size,
            dofs=spec.dofs,
            **options,
        )  # fmt: skip
    except ValueError as exc:
        raise ConfigError(f"feedback: {exc}") from None


def make_basis(config: RunConfig, spec: TrackingSpec, batch_size: int) -> Basis:
    """The configured temporal basis (granular layer).

    Args:
        config: The run config (``basis``, ``device``, ``dtype``).
        spec: The env's tracking spec (cues, dt).
        batch_size: Envs stepped together.

    Returns:
        The basis, driven by the env's cue channels.
    """
    options = config.basis.model_dump(exclude={"kind"})
    if config.basis.kind == "delay_line":
        try:
            options["stride"] = delay_steps(options.pop("spacing"), spec.dt)
        except ValueError as exc:
            raise ConfigError(f"basis.spacing: {exc}") from None
    elif config.basis.kind == "time_table":
        options["size"] = int(round(options.pop("span") / spec.dt)) + 1
    options |= torch_options(config)
    try:
        return BASES[config.basis.kind](spec.cues, dt=spec.dt, batch_size=batch_size, **options)
    except ValueError as exc:
        raise ConfigError(f"basis: {exc}") from None


def config_key(config: RunConfig, controller: ControllerConfig) -> str:
    """The config key of a controller, for error messages.

    Args:
        config: The run config.
        controller: One of its controllers (or a controller built for it, e.g. by the bench).

    Returns:
        ``controllers.N``, or ``controller 'name'`` for one that is not in the list.
    """
    for index, candidate in enumerate(config.controllers):
        if candidate is controller:
            return f"controllers.{index}"
    return f"controller {controller.name!r}"
