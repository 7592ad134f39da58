"""From a validated config to live objects: envs, PID, basis, forward model, gain adaptation, CFPC
controller."""

from __future__ import annotations

import math

import control
import gymnasium as gym
import numpy as np
import torch

from .agent import CFPCAgent, env_attribute, to_action
from .config import ConfigError, ControllerConfig, MissingExtra, RunConfig
from .controllers import (
    BASES,
    CFPC,
    PID,
    ForwardModel,
    GainAdaptation,
    TimeVaryingForwardModel,
    closed_loop,
    closed_loop_along,
    identify_arx,
    identify_fir,
    make_rule,
    plant_model,
    second_order_model,
)
from .controllers.gain_adaptation import GAINS
from .envs import TrackingSpec
from .envs.delay import delay_steps


def make_env(config: RunConfig) -> gym.Env:
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


def spec_of(env: gym.Env) -> TrackingSpec:
    return env_attribute(env, "tracking_spec")


def make_vector_env(config: RunConfig, count: int) -> gym.vector.SyncVectorEnv:
    """``count`` copies of the configured env, stepped in one batch."""
    return gym.vector.SyncVectorEnv([lambda: make_env(config)] * count)


def torch_options(config: RunConfig) -> dict:
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


def sensory_delay_steps(env: gym.Env, name: str = "sensory_delay") -> int:
    spec = spec_of(env)
    return delay_steps(env_attribute(env, name, 0.0) or 0.0, spec.dt)


def forward_model(
    config: RunConfig, controller: ControllerConfig, env: gym.Env
) -> ForwardModel | TimeVaryingForwardModel:
    """The closed-loop model o -> sensed output that the eligibility trace runs through."""
    settings = controller.forward_model
    where = f"{_key(config, controller)}.forward_model"
    pid = make_pid(config, spec_of(env), batch_size=1)
    if settings.kind == "analytic":
        model = close_loop(
            analytic_plant(config, env, f"{where}.kind", "use kind: identified"), env, pid, where
        )
    elif settings.kind == "linearized":
        model = linearized(config, settings, env, pid, where)
    else:
        model = identify(config, settings, env, pid, where)
    return model.scaled(settings.gain)


def analytic_plant(config: RunConfig, env: gym.Env, where: str, instead: str):
    """The env's known linear model of its plant, (A, B, C, D) in continuous time."""
    linear_model = env_attribute(env, "linear_model")
    if linear_model is None:
        raise ConfigError(
            f"{where}: analytic needs an env with a known linear model ({config.env.id} has none); {instead}"
        )
    return linear_model()


def rest_plant(config: RunConfig, env: gym.Env) -> control.StateSpace:
    """MuJoCo's linearisation of the body at its rest posture, from joint command (through the
    muscle allocation) to output, discrete."""
    env.reset(seed=config.seed)
    a, b, c, d = env_attribute(env, "linearize")()
    gain = allocation_gain(env)
    return control.ss(a, b @ gain, c, d @ gain, spec_of(env).dt)


def allocation_gain(env: gym.Env, command: np.ndarray | None = None, step: float = 1e-2) -> np.ndarray:
    """d excitations / d command (actions, D) about ``command`` (default: the posture-holding
    command), by central differences at the current posture."""
    allocate = env_attribute(env, "allocate")
    holding = env_attribute(env, "holding_command")
    if command is not None:
        centre = np.asarray(command, dtype=np.float64)
    else:
        centre = holding() if holding is not None else np.zeros(spec_of(env).dofs)
    columns = [
        (allocate(centre + step * e) - allocate(centre - step * e)) / (2 * step) for e in np.eye(len(centre))
    ]
    return np.stack(columns, axis=1)


def linearized(
    config: RunConfig, settings, env: gym.Env, pid: PID, where: str
) -> ForwardModel | TimeVaryingForwardModel:
    """The loop closed around MuJoCo's linearisation of the body: at its rest posture, or at every
    step of a feedback-only trial (``schedule: trajectory``, and ``movement`` before its first
    re-linearisation: a time-varying model)."""
    linearize = env_attribute(env, "linearize")
    if linearize is None:
        raise ConfigError(
            f"{where}.kind: linearized needs a MuJoCo env with linearize() ({config.env.id} has none); "
            "use kind: identified"
        )
    if settings.schedule == "rest":
        return close_loop(rest_plant(config, env), env, pid, where)
    return linearized_along(config, env, pid, where)


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
        model = linearized_along(config, env, pid, where, commands, trial)
        return model.scaled(controller.forward_model.gain)
    finally:
        env.close()


def linearized_along(
    config: RunConfig,
    env: gym.Env,
    pid: PID,
    where: str,
    commands: np.ndarray | None = None,
    trial: int = 0,
) -> TimeVaryingForwardModel:
    """The loop closed around the body linearised at every step of one trial from the run's seed:
    a feedback-only trial, or the movement that recorded joint ``commands`` make, replayed."""
    linearize, dt = env_attribute(env, "linearize"), spec_of(env).dt
    plants = []

    def linearize_step(command: np.ndarray, action: np.ndarray) -> None:
        a, b, c, d = linearize(action)
        gain = allocation_gain(env, command)
        plants.append(control.ss(a, b @ gain, c, d @ gain, dt))

    if commands is None:
        _closed_loop_run(env, pid, config.seed, None, before_step=linearize_step)
    else:
        _replay(env, commands, config.seed, trial, before_step=linearize_step)
    try:
        return closed_loop_along(
            plants,
            [pid.transfer_function(i) for i in range(pid.dofs)],
            dt,
            **delays(env),
        )
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}; or use schedule: rest") from None


def close_loop(plant, env: gym.Env, pid: PID, where: str, injection: str = "error") -> ForwardModel:
    """The plant in the loop with the PID and the env's delays: o -> sensed output (o added to the
    error, or to the command for ``injection="motor"``)."""
    try:
        return closed_loop(
            plant,
            [pid.transfer_function(i) for i in range(pid.dofs)],
            spec_of(env).dt,
            injection=injection,
            **delays(env),
        )
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def delays(env: gym.Env) -> dict[str, int]:
    return {
        "sensory_delay_steps": sensory_delay_steps(env),
        "motor_delay_steps": sensory_delay_steps(env, "motor_delay"),
    }


def gain_adaptation(
    config: RunConfig, controller: ControllerConfig, env: gym.Env, pid: PID
) -> GainAdaptation | None:
    """ME-LMS (or LMS) on ``pid``'s gains towards the configured reference model; None when off."""
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
        plant = rest_plant(config, env)
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
        model = close_loop(plant, env, target, f"{where}.reference_model")
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
        trace = close_loop(plant, env, pid, f"{where}.forward_model", injection="motor")
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


def probe(env: gym.Env, pid: PID, trials: int, amplitude: float, seed: int):
    """Inject white noise o into the feedback loop; return (o, change of the sensed output) per trial.

    Each probed trial is paired with an unprobed one from the same seed, so the difference is the
    loop's response to o alone (exact for a linear, deterministic env).
    """
    rng = np.random.default_rng(seed)
    inputs, responses = [], []
    for trial in range(trials):
        baseline, _ = _closed_loop_run(env, pid, seed + trial, None)
        probed, noise = _closed_loop_run(
            env, pid, seed + trial, lambda: amplitude * rng.standard_normal(pid.dofs)
        )
        inputs.append(noise)
        responses.append(probed - baseline)
    return inputs, responses


def _closed_loop_run(
    env: gym.Env, pid: PID, seed: int, draw, before_step=None
) -> tuple[np.ndarray, np.ndarray]:
    """One feedback-only trial with ``draw()`` added to the error; returns (sensed outputs, o).
    ``before_step(command, action)`` sees each step before the env takes it."""
    _, info = env.reset(seed=seed)
    pid.reset()
    holding = env_attribute(env, "holding_command")
    if holding is not None:
        pid.set_operating_point(torch.as_tensor(holding())[None])
    sensed, injected, done = [], [], False
    while not done:
        tracking = info["tracking"]
        o = draw() if draw is not None else np.zeros(pid.dofs)
        error = torch.as_tensor(tracking["reference"] - tracking["measurement"] + o, dtype=pid.kp.dtype)
        command = pid.step(error[None])[0].numpy()
        sensed.append(tracking["measurement"])
        injected.append(o)
        action = to_action(env_attribute(env, "allocate"), env, command)
        if before_step is not None:
            before_step(command, action)
        _, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
    return np.array(sensed), np.array(injected)


def _replay(env: gym.Env, commands: np.ndarray, seed: int, trial: int, before_step) -> None:
    """Drive the env's ``trial`` (reset from ``seed``, then once per trial before it, as the run
    did) with recorded joint commands, open loop: the recorded movement again, exactly, where the
    resets set the trial's physics (initial posture, block, outside forces)."""
    env.reset(seed=seed)
    for _ in range(trial):
        env.reset()
    allocate = env_attribute(env, "allocate")
    for command in commands:
        action = to_action(allocate, env, command)
        before_step(command, action)
        env.step(action)


def identify(config: RunConfig, settings, env: gym.Env, pid: PID, where: str) -> ForwardModel:
    dt = spec_of(env).dt
    inputs, responses = probe(env, pid, settings.probe_trials, settings.probe_amplitude, config.seed)
    try:
        if settings.method == "fir":
            return identify_fir(inputs, responses, settings.taps, dt)
        # o reaches the sensed output after one step plus the loop's motor and sensory delays: the
        # input lags start there, or the zeros fit lags where the response is still zero.
        delay = 1 + sum(delays(env).values())
        return identify_arx(inputs, responses, settings.poles, settings.zeros, delay=delay, dt=dt)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def twin(env: gym.Env, config: RunConfig) -> gym.Env:
    """A fresh env like ``env``: remade from its registered spec (kwargs and wrappers included),
    else the configured env."""
    spec = env.spec
    if spec is not None:
        try:
            return gym.make(spec)
        except gym.error.Error:  # e.g. a wrapper that cannot be remade from its spec
            pass
    return make_env(config)


def runs_the_body(controller: ControllerConfig) -> bool:
    """Whether building this controller's models runs an env (MuJoCo linearisation or probing)."""
    adaptation = controller.gain_adaptation
    return (controller.rule == "eligibility" and controller.forward_model.kind != "analytic") or (
        adaptation is not None and adaptation.plant == "linearized"
    )


def make_controller(config: RunConfig, controller: ControllerConfig, env: gym.Env, batch_size: int) -> CFPC:
    """The configured controller for ``env``. Models that run the body are built on a twin of
    ``env``: the caller's env is neither reset nor stepped."""
    spec = spec_of(env)
    where = _key(config, controller)
    scratch = twin(env, config) if runs_the_body(controller) else env
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
    """The agent of configured controller ``index`` for ``env`` (single, or a SyncVectorEnv)."""
    single = env.envs[0] if isinstance(env, gym.vector.VectorEnv) else env
    batch = env.num_envs if isinstance(env, gym.vector.VectorEnv) else 1
    controller = make_controller(config, config.controllers[index], single, batch_size=batch)
    return CFPCAgent(env, controller)
