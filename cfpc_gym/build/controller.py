"""The controller and its agent, from a config: the parts and models wired into CFPC."""

from __future__ import annotations

import gymnasium as gym

from .. import body_models
from ..agent import CFPCAgent
from ..body import check_body
from ..body_models import spec_of
from ..config import ConfigError, ControllerConfig, RunConfig
from ..controllers import CFPC, make_learner, make_rule
from ..controllers.optimizers import KNOWN as LEARNING_SETTINGS
from ..envs.delay import delay_steps
from ..errors import BodyError
from ..resources import check_fits
from .models import forward_model, gain_adaptation
from .parts import config_key, make_basis, make_env, make_pid, make_vector_env


def _measures_the_body(controller: ControllerConfig) -> bool:
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
    try:
        spec = check_body(env)
    except BodyError as exc:
        raise ConfigError(f"env.id: {config.env.id}: {exc}") from None
    where = config_key(config, controller)
    check_fits(config, spec, batch_size)
    scratch = (body_models.remake_env(env) or make_env(config)) if _measures_the_body(controller) else env
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
        learner = make_learner(controller.optimizer, **controller.model_dump(include=LEARNING_SETTINGS))
        return CFPC(
            pid,
            basis,
            rule,
            learner=learner,
            shared_weights=controller.shared_weights,
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
        TypeError: ``env`` is not a Gymnasium env (a Stable-Baselines3 VecEnv, say).

    Example:
        >>> agent = make_agent(config, 1, env)
        >>> action = agent.act(observation, info)
    """
    if not isinstance(env, gym.Env | gym.vector.VectorEnv):  # e.g. Stable-Baselines3's DummyVecEnv
        raise TypeError(
            f"env: make_agent drives a Gymnasium env or SyncVectorEnv, not a {type(env).__name__}; "
            "give it the env your VecEnv wraps (DummyVecEnv([lambda: env]) over that very env), and "
            "let the VecEnv call agent.predict"
        )
    single = env.envs[0] if isinstance(env, gym.vector.VectorEnv) else env
    batch = env.num_envs if isinstance(env, gym.vector.VectorEnv) else 1
    controller = make_controller(config, config.controllers[index], single, batch_size=batch)
    return CFPCAgent(env, controller)


def make_run_agent(config: RunConfig, index: int) -> CFPCAgent:
    """The agent ``cfpc-gym run`` drives: a controller over envs of its own.

    Args:
        config: The run config.
        index: Which of ``config.controllers``.

    Returns:
        A ``CFPCAgent`` over a ``SyncVectorEnv`` of ``config.envs`` envs. Every config error
        surfaces here, before the envs are made where it can.
    """
    single = make_env(config)
    try:
        check_fits(config, spec_of(single), config.envs)  # before config.envs envs are made
    finally:
        single.close()
    return make_agent(config, index, make_vector_env(config, config.envs))
