"""Forward models of the closed loop: the filter T-hat that turns basis signals into eligibility traces.

A ``ForwardModel`` is a discrete linear state-space system (A, B, C, D) from the feed-forward
output o (D inputs) to the sensed output (D outputs). Where it comes from:

- ``closed_loop``: analytic, from a continuous plant (zero-order hold via python-control), the
  PID's exact discrete transfer function and pure delays in whole steps;
- ``identify_fir`` / ``identify_arx`` (``identification.py``): least squares on a probing run that
  injected o and recorded the sensed output;
- ``closed_loop_along``: a time-varying model, the loop closed around a plant linearised at every
  step of a trajectory (``TimeVaryingForwardModel``);
- ``pure_delay`` and ``identity``: the traces of the ``delayed`` and ``lms`` rules;
- ``plant_model``: the plant alone with its delays (the trace of gain adaptation's ME-LMS).

``eligibility.py`` runs these models online over every basis signal, batched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import control
import numpy as np


@dataclass(frozen=True)
class ForwardModel:
    """A discrete linear time-invariant model x[k+1] = A x[k] + B u[k], y[k] = C x[k] + D u[k].

    Args:
        a: the state matrix A (n, n).
        b: the input matrix B (n, D_in).
        c: the output matrix C (D_out, n).
        d: the feedthrough matrix D (D_out, D_in).
        dt: the sample period in seconds.

    Example:
        >>> one = np.ones((1, 1))
        >>> model = ForwardModel(0.5 * one, one, one, 0 * one, dt=0.01)  # z^-1 / (1 - 0.5 z^-1)
        >>> model.impulse_response(3)[:, 0, 0].tolist()
        [0.0, 1.0, 0.5]
    """

    a: np.ndarray  # (n, n)
    b: np.ndarray  # (n, D_in)
    c: np.ndarray  # (D_out, n)
    d: np.ndarray  # (D_out, D_in)
    dt: float

    @classmethod
    def from_system(cls, system: control.LTI) -> ForwardModel:
        """The model of a discrete python-control system (float64 matrices).

        Args:
            system: a discrete-time transfer function or state space.

        Returns:
            Its state-space realisation.

        Raises:
            ValueError: the system is continuous.
        """
        ss = control.ss(system)
        if not ss.isdtime(strict=True):
            raise ValueError("a forward model must be a discrete-time system")
        return cls(*(np.asarray(m, dtype=np.float64) for m in (ss.A, ss.B, ss.C, ss.D)), dt=float(ss.dt))

    def to_system(self) -> control.StateSpace:
        """The model as a discrete python-control state space."""
        return control.ss(self.a, self.b, self.c, self.d, self.dt)

    @property
    def order(self) -> int:
        """n, the state's dimension."""
        return self.a.shape[0]

    @property
    def inputs(self) -> int:
        """D_in, the inputs."""
        return self.b.shape[1]

    @property
    def outputs(self) -> int:
        """D_out, the outputs."""
        return self.c.shape[0]

    def scaled(self, gain: float) -> ForwardModel:
        """The same dynamics with its gain multiplied: a deliberately wrong model, for robustness.

        Args:
            gain: the factor on C and D.

        Returns:
            The scaled model.
        """
        return ForwardModel(self.a, self.b, self.c * gain, self.d * gain, self.dt)

    def simulate(self, inputs: np.ndarray) -> np.ndarray:
        """Run the model from rest.

        Args:
            inputs: an input sequence (N, D_in).

        Returns:
            The response (N, D_out).
        """
        return _simulate(lambda step: self, self.order, self.outputs, inputs)

    def impulse_response(self, steps: int) -> np.ndarray:
        """The Markov parameters h[k] = C A^(k-1) B, h[0] = D.

        Args:
            steps: how many.

        Returns:
            h (steps, D_out, D_in).
        """
        h = np.empty((steps, self.outputs, self.inputs))
        h[0] = self.d
        power_b = self.b
        for k in range(1, steps):
            h[k] = self.c @ power_b
            power_b = self.a @ power_b
        return h

    def is_stable(self) -> bool:
        """Whether every eigenvalue of A lies inside the unit circle."""
        return self.order == 0 or bool(np.max(np.abs(np.linalg.eigvals(self.a))) < 1.0)


@dataclass(frozen=True)
class TimeVaryingForwardModel:
    """A linear time-varying model: step k of a trial runs ``models[k]`` (the last one from then on).

    Every model must share one state (same order and state coordinates), e.g. the loop closed around
    a plant linearised at each step of a trajectory (``closed_loop_along``).

    Args:
        models: one model per step, all of the same order, inputs, outputs and dt.

    Raises:
        ValueError: no models, or models of different shapes.
    """

    models: tuple[ForwardModel, ...]

    def __post_init__(self):
        if not self.models:
            raise ValueError("a time-varying model needs at least one step")
        shapes = {(m.order, m.inputs, m.outputs, m.dt) for m in self.models}
        if len(shapes) != 1:
            raise ValueError(
                "every step of a time-varying model must have the same order, inputs, outputs and dt"
            )

    order = property(lambda self: self.models[0].order)
    inputs = property(lambda self: self.models[0].inputs)
    outputs = property(lambda self: self.models[0].outputs)
    dt = property(lambda self: self.models[0].dt)

    def scaled(self, gain: float) -> TimeVaryingForwardModel:
        """Every step's model with its gain multiplied by ``gain`` (see ``ForwardModel.scaled``)."""
        return TimeVaryingForwardModel(tuple(m.scaled(gain) for m in self.models))

    def at(self, step: int) -> ForwardModel:
        """The model that runs at ``step`` of a trial (the last one after the last step)."""
        return self.models[min(step, len(self.models) - 1)]

    def simulate(self, inputs: np.ndarray) -> np.ndarray:
        """Run the model from rest, from step 0.

        Args:
            inputs: an input sequence (N, D_in).

        Returns:
            The response (N, D_out).
        """
        return _simulate(self.at, self.order, self.outputs, inputs)

    def is_stable(self) -> bool:
        """Whether the model that runs on after the last step is stable."""
        return self.models[-1].is_stable()


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


def _simulate(model_at, order: int, outputs: int, inputs: np.ndarray) -> np.ndarray:
    """The response (N, outputs) from rest of the model ``model_at(k)`` that runs at step k."""
    state = np.zeros(order)
    response = np.empty((len(inputs), outputs))
    for k, u in enumerate(np.asarray(inputs, dtype=np.float64)):
        model = model_at(k)
        response[k] = model.c @ state + model.d @ u
        state = model.a @ state + model.b @ u
    return response
