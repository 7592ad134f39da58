"""From a validated config to live objects: envs, PID, basis, forward model, CFPC controller."""

from __future__ import annotations

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
    TimeVaryingForwardModel,
    closed_loop,
    closed_loop_along,
    identify_arx,
    identify_fir,
    make_rule,
)
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
    fb = config.feedback
    try:
        return PID(
            fb.kp, fb.ki, fb.kd,
            dt=spec.dt,
            derivative_time_constant=fb.derivative_time_constant,
            output_limit=fb.output_limit,
            batch_size=batch_size,
            dofs=spec.dofs,
            **torch_options(config),
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
    return BASES[config.basis.kind](
        spec.cues, dt=spec.dt, batch_size=batch_size, **options, **torch_options(config)
    )


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
        linear_model = env_attribute(env, "linear_model")
        if linear_model is None:
            raise ConfigError(
                f"{where}.kind: analytic needs an env with a known linear model "
                f"({config.env.id} has none); use kind: identified"
            )
        model = close_loop(linear_model(), env, pid, where)
    elif settings.kind == "linearized":
        model = linearized(config, settings, env, pid, where)
    else:
        model = identify(config, settings, env, pid, where)
    return model.scaled(settings.gain)


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
    dt = spec_of(env).dt
    if settings.schedule == "rest":
        env.reset(seed=config.seed)
        a, b, c, d = linearize()
        gain = allocation_gain(env)
        return close_loop(control.ss(a, b @ gain, c, d @ gain, dt), env, pid, where)
    return linearized_along(config, env, pid, where)


def movement_model(
    config: RunConfig, controller: ControllerConfig, commands: np.ndarray
) -> TimeVaryingForwardModel:
    """``schedule: movement``: the forward model re-linearised along the movement that ``commands``
    (steps, D: one env's joint commands over a trial, ``TrialRecord.command[:, b]``) make when
    replayed from the run's seed, on an env of its own."""
    env = make_env(config)
    try:
        pid = make_pid(config, spec_of(env), batch_size=1)
        where = f"{_key(config, controller)}.forward_model"
        return linearized_along(config, env, pid, where, commands).scaled(controller.forward_model.gain)
    finally:
        env.close()


def linearized_along(
    config: RunConfig, env: gym.Env, pid: PID, where: str, commands: np.ndarray | None = None
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
        _replay(env, commands, config.seed, before_step=linearize_step)
    try:
        return closed_loop_along(
            plants,
            [pid.transfer_function(i) for i in range(pid.dofs)],
            dt,
            sensory_delay_steps=sensory_delay_steps(env),
            motor_delay_steps=sensory_delay_steps(env, "motor_delay"),
        )
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}; or use schedule: rest") from None


def close_loop(plant, env: gym.Env, pid: PID, where: str) -> ForwardModel:
    """The plant in the loop with the PID and the env's delays: o -> sensed output."""
    try:
        return closed_loop(
            plant,
            [pid.transfer_function(i) for i in range(pid.dofs)],
            spec_of(env).dt,
            sensory_delay_steps=sensory_delay_steps(env),
            motor_delay_steps=sensory_delay_steps(env, "motor_delay"),
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


def _replay(env: gym.Env, commands: np.ndarray, seed: int, before_step) -> None:
    """Drive the env from ``seed`` with recorded joint commands, open loop: the recorded movement
    again, exactly, where the seed sets the trial's physics (initial posture, outside forces)."""
    env.reset(seed=seed)
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
        return identify_arx(inputs, responses, settings.poles, settings.zeros, delay=1, dt=dt)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def make_controller(config: RunConfig, controller: ControllerConfig, env: gym.Env, batch_size: int) -> CFPC:
    spec = spec_of(env)
    where = _key(config, controller)
    model = forward_model(config, controller, env) if controller.rule == "eligibility" else None
    trace_delay = controller.trace_delay if controller.trace_delay is not None else spec.sensory_delay
    try:
        rule = make_rule(
            controller.rule,
            dofs=spec.dofs,
            dt=spec.dt,
            forward_model=model,
            trace_delay_steps=delay_steps(trace_delay, spec.dt),
        )
        return CFPC(
            make_pid(config, spec, batch_size),
            make_basis(config, spec, batch_size),
            rule,
            learning_rate=controller.learning_rate,
            normalized=controller.normalized,
            regularization=controller.regularization,
            shared_weights=controller.shared_weights,
            optimizer=controller.optimizer,
            forgetting=controller.forgetting,
            rls_regularization=controller.rls_regularization,
            loop_gain_variance=controller.loop_gain_variance,
        )
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def make_agent(config: RunConfig, index: int, env: gym.Env | gym.vector.VectorEnv) -> CFPCAgent:
    """The agent of configured controller ``index`` for ``env`` (single, or a SyncVectorEnv)."""
    single = env.envs[0] if isinstance(env, gym.vector.VectorEnv) else env
    batch = env.num_envs if isinstance(env, gym.vector.VectorEnv) else 1
    controller = make_controller(config, config.controllers[index], single, batch_size=batch)
    return CFPCAgent(env, controller)
