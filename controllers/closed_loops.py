"""Closed-loop forward models built from a known plant and PID: the models of ``forward_models.py``.

- ``closed_loop``: analytic, from a continuous plant (zero-order hold via python-control), the
  PID's exact discrete transfer function and pure delays in whole steps;
- ``closed_loop_along``: a time-varying model, the loop closed around a plant linearised at every
  step of a trajectory (``TimeVaryingForwardModel``);
- ``pure_delay`` and ``identity``: the traces of the ``delayed`` and ``lms`` rules;
- ``plant_model``: the plant alone with its delays (the trace of gain adaptation's ME-LMS).
"""

from __future__ import annotations

from collections.abc import Sequence

import control
import numpy as np

from .forward_models import ForwardModel, TimeVaryingForwardModel


def identity(dofs: int, dt: float) -> ForwardModel:
    """T-hat = I: the trace is the basis signal itself (the LMS rule).

    Args:
        dofs: D, inputs and outputs.
        dt: the sample period in seconds.

    Returns:
        A static model with D = I.
    """
    return ForwardModel(np.zeros((0, 0)), np.zeros((0, dofs)), np.zeros((dofs, 0)), np.eye(dofs), dt)


def delay_system(steps: int, dofs: int, dt: float) -> control.StateSpace:
    """z^-steps on every DOF, as a discrete state space (a shift register).

    Args:
        steps: the delay in whole control steps, >= 0.
        dofs: D, inputs and outputs.
        dt: the sample period in seconds.

    Returns:
        The delay as a python-control state space.
    """
    if steps < 0:
        raise ValueError(f"delay steps must be >= 0, got {steps}")
    if steps == 0:
        return control.ss([], [], [], np.eye(dofs), dt)
    single = control.tf([1], [1] + [0] * steps, dt)
    return control.append(*[control.ss(single)] * dofs)  # state spaces: MIMO tf->ss would need Slycot


def pure_delay(steps: int, dofs: int, dt: float) -> ForwardModel:
    """T-hat = z^-steps: the trace of the ``delayed`` (delayed coincidence) rule.

    Args:
        steps: the delay in whole control steps, >= 0.
        dofs: D, inputs and outputs.
        dt: the sample period in seconds.

    Returns:
        The delay as a forward model (``identity`` for 0 steps).
    """
    if steps == 0:
        return identity(dofs, dt)
    return ForwardModel.from_system(delay_system(steps, dofs, dt))


def closed_loop(
    plant: control.LTI | Sequence[np.ndarray],
    controllers: Sequence[control.TransferFunction],
    dt: float,
    *,
    sensory_delay_steps: int = 0,
    motor_delay_steps: int = 0,
    injection: str = "error",
) -> ForwardModel:
    """The analytic closed-loop map from feed-forward output o to the sensed output.

    The loop: u = C (reference - sensed + o) (``injection="error"``, CFPC) or
    u = C (reference - sensed) + o (``injection="motor"``, FEL).

    Args:
        plant: a system (python-control, or continuous (A, B, C, D)) from commands to outputs; a
            continuous one is discretised here by zero-order hold, a discrete one must have
            period ``dt``.
        controllers: one discrete C(z) per DOF (from ``PID.transfer_function``).
        dt: the control period in seconds.
        sensory_delay_steps: the delay from the plant's output to the sensed output, in steps.
        motor_delay_steps: the delay from the command to the plant's input, in steps.
        injection: ``"error"`` or ``"motor"``, where o enters the loop.

    Returns:
        The stable closed-loop model (D inputs, D outputs).

    Raises:
        ValueError: the loop is unstable, or the plant and controllers do not fit together.
    """
    model = _loop(plant, controllers, dt, sensory_delay_steps, motor_delay_steps, injection)
    if not model.is_stable():
        raise ValueError(
            "the closed loop is unstable with these feedback gains and delays: lower the gains "
            "(or the delay) until feedback alone is stable"
        )
    return model


def closed_loop_along(
    plants: Sequence[control.LTI],
    controllers: Sequence[control.TransferFunction],
    dt: float,
    *,
    sensory_delay_steps: int = 0,
    motor_delay_steps: int = 0,
    injection: str = "error",
) -> TimeVaryingForwardModel:
    """The closed loop around a plant linearised at every step of a trajectory (discrete, period dt).

    PID and delays are time-invariant and every interconnection is static, so closing the loop
    around each step's plant gives that step's matrices of the time-varying loop exactly. Only the
    last model, which runs on after the trajectory ends, must be stable: the others act for one step.

    Args:
        plants: one discrete plant per step, all of the same structure.
        controllers: one discrete C(z) per DOF.
        dt: the control period in seconds.
        sensory_delay_steps: as in ``closed_loop``.
        motor_delay_steps: as in ``closed_loop``.
        injection: as in ``closed_loop``.

    Returns:
        The time-varying closed loop, one model per plant.

    Raises:
        ValueError: the last step's loop is unstable.
    """
    models = tuple(
        _loop(p, controllers, dt, sensory_delay_steps, motor_delay_steps, injection) for p in plants
    )
    if not models[-1].is_stable():
        raise ValueError(
            "the closed loop at the trajectory's end is unstable with these feedback gains and delays: "
            "lower the gains (or the delay) until feedback alone is stable"
        )
    return TimeVaryingForwardModel(models)


def plant_model(
    plant: control.LTI | Sequence[np.ndarray],
    dt: float,
    *,
    sensory_delay_steps: int = 0,
    motor_delay_steps: int = 0,
) -> ForwardModel:
    """The plant alone with its delays, from the command to the sensed output (open loop).

    Args:
        plant: as in ``closed_loop``.
        dt: the control period in seconds.
        sensory_delay_steps: the delay from the plant's output to the sensed output, in steps.
        motor_delay_steps: the delay from the command to the plant's input, in steps.

    Returns:
        The discretised plant between its delays.
    """
    return ForwardModel.from_system(_sensed_plant(plant, dt, sensory_delay_steps, motor_delay_steps))


def _sensed_plant(plant, dt, sensory_delay_steps, motor_delay_steps) -> control.StateSpace:
    """The plant discretised (zero-order hold) between its motor and sensory delays."""
    if not isinstance(plant, control.LTI):
        plant = control.ss(*plant)
    if plant.isdtime(strict=True) and not np.isclose(plant.dt, dt):
        raise ValueError(f"a discrete plant must have the control period {dt} s, not {plant.dt} s")
    dofs = plant.noutputs
    if plant.ninputs != dofs:
        raise ValueError(f"plant must be square: {plant.ninputs} inputs, {plant.noutputs} outputs")
    discrete = plant.isdtime(strict=True)
    discrete_plant = control.ss(plant) if discrete else control.c2d(control.ss(plant), dt, method="zoh")
    return (
        delay_system(sensory_delay_steps, dofs, dt)
        * discrete_plant
        * delay_system(motor_delay_steps, dofs, dt)
    )


def _loop(plant, controllers, dt, sensory_delay_steps, motor_delay_steps, injection) -> ForwardModel:
    sensed_plant = _sensed_plant(plant, dt, sensory_delay_steps, motor_delay_steps)
    dofs = sensed_plant.noutputs
    if len(controllers) != dofs:
        raise ValueError(f"one controller per DOF: the plant has {dofs}, got {len(controllers)} controllers")
    feedback = control.append(*[control.ss(c) for c in controllers])
    if injection == "error":
        loop = control.feedback(sensed_plant * feedback, np.eye(dofs))
    elif injection == "motor":
        loop = control.feedback(sensed_plant, feedback)
    else:
        raise ValueError(f"injection must be 'error' or 'motor', got {injection!r}")
    return ForwardModel.from_system(loop)
