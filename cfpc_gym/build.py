"""From a validated config to live objects: envs, PID, basis, forward model, gain adaptation, the
CFPC controller and its agent. A factory: the models measured on the body come from
``body_models``; errors from below come back as one line naming the config key.

Example:
    >>> from cfpc_gym.build import make_agent, make_env
    >>> from cfpc_gym.config import load_config
    >>> config = load_config("paper_linear")
    >>> agent = make_agent(config, 1, make_env(config))  # controller 1: cfpc
    >>> agent.controller.rule.name
    'eligibility'
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch

from . import body_models
from .agent import CFPCAgent, env_attribute
from .body_models import close_loop, delays, spec_of
from .config import ConfigError, ControllerConfig, MissingExtra, RunConfig
from .controllers import (
    BASES,
    CFPC,
    PID,
    ForwardModel,
    GainAdaptation,
    TimeVaryingForwardModel,
    closed_loop_along,
    make_rule,
    plant_model,
    second_order_model,
)
from .controllers.gain_adaptation import GAINS
from .envs import TrackingSpec
from .envs.delay import delay_steps
from .resources import check_fits

__all__ = [
    "forward_model",
    "make_agent",
    "make_basis",
    "make_controller",
    "make_env",
    "make_pid",
    "make_run_agent",
    "make_vector_env",
    "movement_model",
    "spec_of",
]


def make_env(config: RunConfig) -> gym.Env:
    """``gymnasium.make(env.id, **env.kwargs)``, checked to expose tracking signals."""
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
    return env


def make_vector_env(config: RunConfig, count: int) -> gym.vector.SyncVectorEnv:
    """``count`` copies of the configured env, stepped in one batch."""
    return gym.vector.SyncVectorEnv([lambda: make_env(config)] * count)


def torch_options(config: RunConfig) -> dict:
    """The torch device and dtype the config asks for, checked."""
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
    """The configured PID for ``batch_size`` envs of ``spec``."""
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


def make_basis(config: RunConfig, spec: TrackingSpec, batch_size: int):
    """The configured temporal basis for ``batch_size`` envs of ``spec``."""
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


def _key(config: RunConfig, controller: ControllerConfig) -> str:
    """The config key of a controller, for error messages."""
    for index, candidate in enumerate(config.controllers):
        if candidate is controller:
            return f"controllers.{index}"
    return f"controller {controller.name!r}"


def forward_model(
    config: RunConfig, controller: ControllerConfig, env: gym.Env
) -> ForwardModel | TimeVaryingForwardModel:
    """The closed-loop model o -> sensed output that the controller's eligibility trace runs
    through: analytic (the env's linear model), linearized (MuJoCo's, at rest or along a trial)
    or identified (fitted to a noise probe). ``env`` may be reset and stepped."""
    settings = controller.forward_model
    where = f"{_key(config, controller)}.forward_model"
    pid = make_pid(config, spec_of(env), batch_size=1)
    try:
        if settings.kind == "analytic":
            plant = analytic_plant(config, env, f"{where}.kind", "use kind: identified")
            model = close_loop(plant, env, pid)
        elif settings.kind == "linearized":
            model = linearized(config, settings, env, pid, where)
        else:
            model = body_models.identify_loop(
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
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{where}: {exc}") from None
    return model.scaled(settings.gain)


def analytic_plant(config: RunConfig, env: gym.Env, where: str, instead: str):
    """The env's known linear model of its plant, (A, B, C, D) in continuous time."""
    linear_model = env_attribute(env, "linear_model")
    if linear_model is None:
        raise ConfigError(
            f"{where}: analytic needs an env with a known linear model ({config.env.id} has none); {instead}"
        )
    return linear_model()


def linearized(
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
        return close_loop(body_models.plant_at_rest(env, config.seed), env, pid)
    return loop_along(env, pid, body_models.plants_along(env, pid, config.seed), where)


def loop_along(env: gym.Env, pid: PID, plants: list, where: str) -> TimeVaryingForwardModel:
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
    """``schedule: movement``: the forward model re-linearised along the movement that ``commands``
    (steps, D: env 0's joint commands in ``trial``, ``TrialRecord.command[:, 0]``) make when that
    trial is replayed (the run's seed, then a reset per trial before it), on an env of its own."""
    env = make_env(config)
    try:
        pid = make_pid(config, spec_of(env), batch_size=1)
        where = f"{_key(config, controller)}.forward_model"
        plants = body_models.plants_along(env, pid, config.seed, commands, trial)
        return loop_along(env, pid, plants, where).scaled(controller.forward_model.gain)
    finally:
        env.close()


def gain_adaptation(
    config: RunConfig, controller: ControllerConfig, env: gym.Env, pid: PID
) -> GainAdaptation | None:
    """ME-LMS (or LMS) on ``pid``'s gains towards the configured reference model; None when off.
    ``env`` may be reset and stepped (a linearized plant)."""
    settings = controller.gain_adaptation
    if settings is None:
        return None
    where = f"{_key(config, controller)}.gain_adaptation"
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
        plant = analytic_plant(config, env, f"{where}.plant", "use plant: linearized")
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


def measures_the_body(controller: ControllerConfig) -> bool:
    """Whether building this controller's models runs an env (MuJoCo linearisation or probing)."""
    adaptation = controller.gain_adaptation
    return (controller.rule == "eligibility" and controller.forward_model.kind != "analytic") or (
        adaptation is not None and adaptation.plant == "linearized"
    )


def make_controller(config: RunConfig, controller: ControllerConfig, env: gym.Env, batch_size: int) -> CFPC:
    """The configured controller for ``batch_size`` envs like ``env``.

    Args:
        config: The run config (feedback, basis, device, seed).
        controller: One of ``config.controllers``.
        env: The env the controller will drive (or one like it). Models that run the body are
            built on a fresh copy of it: ``env`` itself is neither reset nor stepped.
        batch_size: Envs stepped together.

    Returns:
        The ``CFPC`` controller.

    Raises:
        ConfigError: one line naming the key at fault, before anything large is allocated.
    """
    spec = spec_of(env)
    where = _key(config, controller)
    check_fits(config, spec, batch_size)
    scratch = (body_models.remake_env(env) or make_env(config)) if measures_the_body(controller) else env
    try:
        model = forward_model(config, controller, scratch) if controller.rule == "eligibility" else None
        pid = make_pid(config, spec, batch_size)
        adaptation = gain_adaptation(config, controller, scratch, pid)
    finally:
        if scratch is not env:
            scratch.close()
    trace_delay = controller.trace_delay if controller.trace_delay is not None else spec.sensory_delay
    try:
        rule = make_rule(
            controller.rule,
            dofs=spec.dofs,
            dt=spec.dt,
            forward_model=model,
            trace_delay_steps=delay_steps(trace_delay, spec.dt),
        )
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    basis = make_basis(config, spec, batch_size)
    try:
        return CFPC(
            pid,
            basis,
            rule,
            learning_rate=controller.learning_rate,
            normalized=controller.normalized,
            regularization=controller.regularization,
            shared_weights=controller.shared_weights,
            optimizer=controller.optimizer,
            forgetting=controller.forgetting,
            rls_regularization=controller.rls_regularization,
            loop_gain_variance=controller.loop_gain_variance,
            gain_adaptation=adaptation,
        )
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def make_agent(config: RunConfig, index: int, env: gym.Env | gym.vector.VectorEnv) -> CFPCAgent:
    """The agent of configured controller ``index`` for ``env``.

    Args:
        config: The run config.
        index: Which of ``config.controllers``.
        env: A single env, or a ``SyncVectorEnv`` (one controller row per sub-env). It is
            neither reset nor stepped here.

    Returns:
        A ``CFPCAgent`` driving ``env``.

    Raises:
        ConfigError: one line naming the key at fault.

    Example:
        >>> agent = make_agent(config, 1, env)
        >>> action = agent.act(observation, info)
    """
    single = env.envs[0] if isinstance(env, gym.vector.VectorEnv) else env
    batch = env.num_envs if isinstance(env, gym.vector.VectorEnv) else 1
    controller = make_controller(config, config.controllers[index], single, batch_size=batch)
    return CFPCAgent(env, controller)


def make_run_agent(config: RunConfig, index: int) -> CFPCAgent:
    """The agent of configured controller ``index`` over ``config.envs`` envs of its own (a
    ``SyncVectorEnv``): what ``cfpc-gym run`` drives. Every config error surfaces here."""
    single = make_env(config)
    try:
        check_fits(config, spec_of(single), config.envs)  # before config.envs envs are made
    finally:
        single.close()
    return make_agent(config, index, make_vector_env(config, config.envs))
