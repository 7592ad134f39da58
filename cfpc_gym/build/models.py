"""The models a controller learns through: the eligibility trace's closed-loop forward model
(analytic, linearised or identified, re-linearised along the movement) and gain adaptation's
reference and trace models. The body is measured by ``body_models``; errors name the config key."""

from __future__ import annotations

import math
import warnings

import gymnasium as gym
import numpy as np

from .. import body_models
from ..body import env_attribute
from ..body_models import close_loop, delays, spec_of
from ..config import ConfigError, ControllerConfig, RunConfig, bundled_names, load_config
from ..controllers import (
    PID,
    ForwardModel,
    GainAdaptation,
    TimeVaryingForwardModel,
    closed_loop_along,
    plant_model,
    second_order_model,
)
from ..controllers.gain_adaptation import GAINS
from ..errors import CfpcError
from .parts import config_key, make_env, make_pid


def forward_model(
    config: RunConfig, controller: ControllerConfig, env: gym.Env
) -> ForwardModel | TimeVaryingForwardModel:
    """The closed-loop model o -> sensed output that a controller's eligibility trace runs through.

    Args:
        config: The run config.
        controller: One of ``config.controllers``; its ``forward_model`` says which kind:
            analytic (the env's linear model), linearized (MuJoCo's, at rest or along a trial)
            or identified (fitted to a noise probe); scaled by its ``gain``, and kept to each
            DOF's own loop where ``diagonal``.
        env: An env to measure the body on; it may be reset and stepped.

    Returns:
        A ``ForwardModel``, or a ``TimeVaryingForwardModel`` (``schedule: trajectory``).
    """
    settings = controller.forward_model
    where = f"{config_key(config, controller)}.forward_model"
    pid = make_pid(config, spec_of(env), batch_size=1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # absurd gains warn deep in python-control
            model = _measured_model(config, settings, env, pid, where)
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{where}: {exc}") from None
    return _as_configured(model, settings)


def _as_configured(model, settings):
    """The measured model scaled by ``gain``, and diagonal where ``diagonal`` asks."""
    model = model.scaled(settings.gain)
    return model.diagonal() if settings.diagonal else model


def _measured_model(config: RunConfig, settings, env: gym.Env, pid: PID, where: str):
    """The unscaled model of ``forward_model``, by its kind."""
    if settings.kind == "analytic":
        plant = _analytic_plant(config, env, f"{where}.kind", "use kind: identified")
        return _close(config, plant, env, pid, where)
    if settings.kind == "linearized":
        return _linearized(config, settings, env, pid, where)
    return body_models.identify_loop(
        env,
        pid,
        method=settings.method,
        taps=settings.taps,
        poles=settings.poles,
        zeros=settings.zeros,
        trials=settings.probe_trials,
        amplitude=settings.probe_amplitude,
        seed=config.seed,
    )


def _close(config: RunConfig, plant, env: gym.Env, pid: PID, where: str) -> ForwardModel:
    """The loop closed around ``plant``; if it is unstable, the message names a bundled config for
    this env whose feedback gains are stable with this plant and these delays, where one exists."""
    try:
        return close_loop(plant, env, pid)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}{_stable_elsewhere(config, plant, env)}") from None


def _stable_elsewhere(config: RunConfig, plant, env: gym.Env) -> str:
    """``; the feedback gains of bundled config NAME are stable here (...)``, or ``""``."""
    for name in bundled_names():
        try:
            other = load_config(name)
            if other.env.id != config.env.id or other.feedback == config.feedback:
                continue
            close_loop(plant, env, make_pid(other, spec_of(env), batch_size=1))
        except (ValueError, CfpcError):
            continue
        gains = ", ".join(f"{k} {getattr(other.feedback, k)}" for k in ("kp", "ki", "kd"))
        return f"; the feedback gains of bundled config {name} ({gains}) are stable here"
    return ""


def _analytic_plant(config: RunConfig, env: gym.Env, where: str, instead: str):
    """The env's known linear model of its plant, (A, B, C, D) in continuous time."""
    linear_model = env_attribute(env, "linear_model")
    if linear_model is None:
        raise ConfigError(
            f"{where}: analytic needs an env with a known linear model ({config.env.id} has none); {instead}"
        )
    return linear_model()


def _linearized(
    config: RunConfig, settings, env: gym.Env, pid: PID, where: str
) -> ForwardModel | TimeVaryingForwardModel:
    """The loop closed around MuJoCo's linearisation of the body: at its rest posture, or at every
    step of a feedback-only trial (``schedule: trajectory``, and ``movement`` before its first
    re-linearisation: a time-varying model)."""
    if env_attribute(env, "linearize") is None:
        raise ConfigError(
            f"{where}.kind: linearized needs a MuJoCo env with linearize() ({config.env.id} has none); "
            "use kind: identified"
        )
    if settings.schedule == "rest":
        return _close(config, body_models.plant_at_rest(env, config.seed), env, pid, where)
    return _loop_along(env, pid, body_models.plants_along(env, pid, config.seed), where)


def _loop_along(env: gym.Env, pid: PID, plants: list, where: str) -> TimeVaryingForwardModel:
    """The loop closed around a plant per step: a time-varying forward model."""
    try:
        return closed_loop_along(
            plants, [pid.transfer_function(i) for i in range(pid.dofs)], spec_of(env).dt, **delays(env)
        )
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}; or use schedule: rest") from None


def movement_model(
    config: RunConfig, controller: ControllerConfig, commands: np.ndarray, trial: int
) -> TimeVaryingForwardModel:
    """``schedule: movement``: the forward model re-linearised along a recorded movement.

    Args:
        config: The run config.
        controller: The controller whose model it is.
        commands: (steps, D) joint commands of env 0 in ``trial`` (``TrialRecord.command[:, 0]``).
        trial: The trial they were recorded in; it is replayed (the run's seed, then a reset
            per trial before it) on an env of its own.

    Returns:
        The time-varying forward model along that movement.
    """
    env = make_env(config)
    try:
        pid = make_pid(config, spec_of(env), batch_size=1)
        where = f"{config_key(config, controller)}.forward_model"
        plants = body_models.plants_along(env, pid, config.seed, commands, trial)
        return _as_configured(_loop_along(env, pid, plants, where), controller.forward_model)
    finally:
        env.close()


def gain_adaptation(
    config: RunConfig, controller: ControllerConfig, env: gym.Env, pid: PID
) -> GainAdaptation | None:
    """Gain adaptation of a controller's PID, as configured.

    Args:
        config: The run config.
        controller: One of ``config.controllers``; its ``gain_adaptation`` section.
        env: An env to measure the body on (a linearized plant); it may be reset and stepped.
        pid: The PID whose gains learn.

    Returns:
        ME-LMS (or LMS) on ``pid``'s gains towards the configured reference model; None when
        the controller adapts no gains.
    """
    settings = controller.gain_adaptation
    if settings is None:
        return None
    where = f"{config_key(config, controller)}.gain_adaptation"
    spec = spec_of(env)
    upper = math.inf if settings.max_gain is None else settings.max_gain
    for name in GAINS:  # the first update would snap a gain outside the bounds onto them, unsaid
        values = np.atleast_1d(getattr(config.feedback, name))
        if np.any(values < settings.min_gain) or np.any(values > upper):
            raise ConfigError(
                f"{where}: feedback.{name} {values.tolist()} starts outside [min_gain, max_gain] = "
                f"[{settings.min_gain}, {upper}]; widen the bounds or start the gains inside them"
            )
    if settings.plant == "analytic":
        plant = _analytic_plant(config, env, f"{where}.plant", "use plant: linearized")
    elif env_attribute(env, "linearize") is None:
        raise ConfigError(f"{where}.plant: linearized needs a MuJoCo env ({config.env.id} is not one)")
    else:
        plant = body_models.plant_at_rest(env, config.seed)
    reference = settings.reference_model
    if reference.kind == "pid":
        try:
            target = PID(
                reference.kp, reference.ki, reference.kd,
                dt=spec.dt,
                derivative_time_constant=config.feedback.derivative_time_constant,
                dofs=spec.dofs,
            )  # fmt: skip
        except ValueError as exc:
            raise ConfigError(f"{where}.reference_model: {exc}") from None
        model = _closed(plant, env, target, f"{where}.reference_model")
    else:
        model = second_order_model(
            reference.natural_freq_hz,
            reference.damping_ratio,
            spec.dofs,
            spec.dt,
            delay_steps=sum(delays(env).values()),
        )
    if settings.rule == "lms":  # its trace is the signal itself: no model
        trace = None
    elif settings.forward_model == "plant":
        trace = plant_model(plant, spec.dt, **delays(env))
    else:
        trace = _closed(plant, env, pid, f"{where}.forward_model", injection="motor")
    try:
        return GainAdaptation(
            pid,
            model,
            rule=settings.rule,
            forward_model=trace,
            learning_rate=settings.learning_rate,
            normalized=settings.normalized,
            regularization=settings.regularization,
            min_gain=settings.min_gain,
            max_gain=upper,
        )
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _closed(plant, env: gym.Env, pid: PID, where: str, injection: str = "error") -> ForwardModel:
    try:
        return close_loop(plant, env, pid, injection)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
