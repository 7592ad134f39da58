"""Models measured on a body: the env itself is run to get the linear models CFPC learns through.

- ``plant_at_rest`` / ``plants_along``: MuJoCo's linearisation of the body (``env.linearize``),
  from joint command (through the muscle allocation) to output, at the rest posture or at every
  step of a trial;
- ``close_loop``: a plant closed with the PID and the env's delays (o -> sensed output);
- ``noise_probe`` and ``identify_loop``: the loop's response to injected white noise, and the
  FIR or ARX model fitted to it;
- ``feedback_trial`` and ``replay``: the trials these run (feedback alone, or recorded commands
  open loop).

Nothing here knows configs: errors are plain ``ValueError``s that ``build`` turns into one line
naming the config key.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import control
import gymnasium as gym
import numpy as np
import torch

from .agent import to_action
from .body import env_attribute
from .controllers import PID, ForwardModel, closed_loop, identify_arx, identify_fir
from .envs import TrackingSpec
from .envs.delay import delay_steps

EXPLODING_POLE = 10.0  # per control step: a free body drifts (1), a stiff one oscillates (< 1)
BeforeStep = Callable[[np.ndarray, np.ndarray], None]  # (joint command, env action)


def spec_of(env: gym.Env) -> TrackingSpec:
    """The env's tracking spec (D, cues, dt, delay), looked up through its wrappers."""
    return env_attribute(env, "tracking_spec")


def delays(env: gym.Env) -> dict[str, int]:
    """The env's sensory delay (its ``tracking_spec``'s) and motor delay (0 where it declares none)
    in control steps."""
    spec = spec_of(env)
    dt = spec.dt
    return {
        "sensory_delay_steps": delay_steps(spec.sensory_delay, dt),
        "motor_delay_steps": delay_steps(env_attribute(env, "motor_delay", 0.0) or 0.0, dt),
    }


def allocation_gain(env: gym.Env, command: np.ndarray | None = None, step: float = 1e-2) -> np.ndarray:
    """d action / d joint command (actions, D) about ``command`` (default: the posture-holding
    command), by central differences of the env's allocation at its current posture."""
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


def plant_at_rest(env: gym.Env, seed: int) -> control.StateSpace:
    """MuJoCo's linearisation of the body at its rest posture (after ``reset(seed=seed)``), from
    joint command through the allocation to output; discrete, period dt."""
    env.reset(seed=seed)
    a, b, c, d = env_attribute(env, "linearize")()
    return _through_allocation(a, b, c, d, allocation_gain(env), spec_of(env).dt)


def plants_along(
    env: gym.Env, pid: PID, seed: int, commands: np.ndarray | None = None, trial: int = 0
) -> list[control.StateSpace]:
    """The body linearised at every step of one trial: a feedback-only trial from ``seed``, or
    (``commands`` given: (steps, D) joint commands recorded in ``trial``) that movement replayed."""
    linearize, dt = env_attribute(env, "linearize"), spec_of(env).dt
    plants = []

    def linearize_step(command: np.ndarray, action: np.ndarray) -> None:
        a, b, c, d = linearize(action)
        plants.append(_through_allocation(a, b, c, d, allocation_gain(env, command), dt))

    if commands is None:
        feedback_trial(env, pid, seed, before_step=linearize_step)
    else:
        replay(env, commands, seed, trial, before_step=linearize_step)
    return plants


def _through_allocation(a, b, c, d, gain: np.ndarray, dt: float) -> control.StateSpace:
    """One step of the body from joint command to output; refused where the model itself blows up."""
    magnitude = float(np.max(np.abs(np.linalg.eigvals(a)))) if np.all(np.isfinite(a)) else np.inf
    if magnitude > EXPLODING_POLE:
        raise ValueError(
            f"the body's own linearisation has a pole of magnitude {magnitude:.3g} per step: the model "
            "itself blows up (bodies in contact, a stiff constraint, a timestep too long), whatever "
            "the feedback gains; check the model"
        )
    return control.ss(a, b @ gain, c, d @ gain, dt)


def close_loop(plant, env: gym.Env, pid: PID, injection: str = "error") -> ForwardModel:
    """``plant`` in the loop with ``pid`` and the env's delays: o -> sensed output, with o added
    to the error (``injection="error"``) or to the command (``"motor"``)."""
    transfer_functions = [pid.transfer_function(i) for i in range(pid.dofs)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # absurd gains warn deep in python-control
        return closed_loop(plant, transfer_functions, spec_of(env).dt, injection=injection, **delays(env))


def noise_probe(
    env: gym.Env, pid: PID, trials: int, amplitude: float, seed: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """White noise o injected into the feedback loop: per trial, (o, change of the sensed output).

    Each probed trial is paired with an unprobed one from the same seed, so the difference is the
    loop's response to o alone (exact for a linear, deterministic env).
    """
    rng = np.random.default_rng(seed)
    inputs, responses = [], []
    for trial in range(trials):
        baseline, _ = feedback_trial(env, pid, seed + trial)
        probed, noise = feedback_trial(
            env, pid, seed + trial, lambda: amplitude * rng.standard_normal(pid.dofs)
        )
        inputs.append(noise)
        responses.append(probed - baseline)
    return inputs, responses


def identify_loop(
    env: gym.Env,
    pid: PID,
    *,
    method: str,
    taps: int,
    poles: int,
    zeros: int,
    trials: int,
    amplitude: float,
    seed: int,
) -> ForwardModel:
    """The closed loop's model fitted by least squares to a ``noise_probe``: an FIR of ``taps``
    steps, or an ARX with ``poles`` and ``zeros``."""
    inputs, responses = noise_probe(env, pid, trials, amplitude, seed)
    dt = spec_of(env).dt
    if method == "fir":
        return identify_fir(inputs, responses, taps, dt)
    # o reaches the sensed output after one step plus the loop's motor and sensory delays: the
    # input lags start there, or the zeros fit lags where the response is still zero.
    delay = 1 + sum(delays(env).values())
    return identify_arx(inputs, responses, poles, zeros, delay=delay, dt=dt)


def feedback_trial(
    env: gym.Env,
    pid: PID,
    seed: int,
    draw: Callable[[], np.ndarray] | None = None,
    before_step: BeforeStep | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One trial under feedback alone, with ``draw()`` added to the error when given.

    Returns:
        The sensed outputs (steps, D) and the injected o (steps, D).

    ``before_step(command, action)`` sees each step before the env takes it.
    """
    _, info = env.reset(seed=seed)
    pid.reset()
    holding = env_attribute(env, "holding_command")
    if holding is not None:
        pid.set_operating_point(torch.as_tensor(holding())[None])
    allocate = env_attribute(env, "allocate")
    sensed, injected, done = [], [], False
    while not done:
        tracking = info["tracking"]
        o = draw() if draw is not None else np.zeros(pid.dofs)
        error = torch.as_tensor(tracking["reference"] - tracking["measurement"] + o, dtype=pid.kp.dtype)
        command = pid.step(error[None])[0].numpy()
        sensed.append(tracking["measurement"])
        injected.append(o)
        action = to_action(allocate, env, command)
        if before_step is not None:
            before_step(command, action)
        _, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
    return np.array(sensed), np.array(injected)


def replay(env: gym.Env, commands: np.ndarray, seed: int, trial: int, before_step: BeforeStep) -> None:
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


def remake_env(env: gym.Env) -> gym.Env | None:
    """A fresh env like ``env``, remade from its registered spec (kwargs and wrappers included);
    None where it cannot be remade from its spec."""
    spec = env.spec
    if spec is None:
        return None
    try:
        return gym.make(spec)
    except gym.error.Error:  # e.g. a wrapper that cannot be remade from its spec
        return None
