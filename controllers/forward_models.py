"""Forward models of the closed loop: the filter T-hat that turns basis signals into eligibility traces.

A ``ForwardModel`` is a discrete linear state-space system (A, B, C, D) from the feed-forward
output o (D inputs) to the sensed output (D outputs). Where it comes from:

- ``closed_loops.py``: analytic (``closed_loop``), time-varying along a trajectory
  (``closed_loop_along``, a ``TimeVaryingForwardModel``), pure delays and the identity;
- ``identify_fir`` / ``identify_arx`` (``identification.py``): least squares on a probing run that
  injected o and recorded the sensed output.

``diagonal()`` keeps each DOF's own loop o_i -> y_i only (a ``DiagonalForwardModel``: D SISO
models), for many DOFs where the D x D trace costs too much. ``eligibility.py`` and
``diagonal_eligibility.py`` run these models online over every basis signal, batched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import control
import numpy as np
from scipy.linalg import block_diag


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

    def diagonal(self) -> DiagonalForwardModel:
        """Each DOF's own loop o_i -> y_i only: the diagonal of the model, as D SISO models.

        Each SISO model keeps only the states that input i reaches and that reach output i through
        the nonzero entries of A (exact: its impulse response is h[k][i, i]). For decoupled DOFs,
        or an identified FIR, that is the DOF's own states: the trace then costs D filters of that
        order per basis signal instead of a D x D MIMO filter.

        Returns:
            The diagonal model (D inputs, D outputs).

        Raises:
            ValueError: the model is not square.

        Example:
            >>> z = np.zeros
            >>> static = ForwardModel(z((0, 0)), z((0, 2)), z((2, 0)), np.ones((2, 2)), dt=0.01)  # D: ones
            >>> static.diagonal().impulse_response(1)[0].tolist()
            [[1.0, 0.0], [0.0, 1.0]]
        """
        dofs = range(_square(self))
        return DiagonalForwardModel.of([_channel(self, i, _kept_states(self, i)) for i in dofs])


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

    def diagonal(self) -> TimeVaryingForwardModel:
        """Every step's model kept to each DOF's own loop o_i -> y_i (see ``ForwardModel.diagonal``).

        Each SISO model keeps every state, so that all steps, and any re-linearisation of the same
        plant, share its state coordinates.

        Returns:
            A time-varying model whose steps are ``DiagonalForwardModel``s.
        """
        dofs, states = _square(self.models[0]), range(self.order)
        return TimeVaryingForwardModel(
            tuple(DiagonalForwardModel.of([_channel(m, i, states) for i in range(dofs)]) for m in self.models)
        )

    @property
    def is_diagonal(self) -> bool:
        """Whether its steps are diagonal models (``diagonal()``)."""
        return isinstance(self.models[0], DiagonalForwardModel)

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


@dataclass(frozen=True)
class DiagonalForwardModel(ForwardModel):
    """D decoupled SISO models o_i -> y_i: a forward model with no cross-coupling between DOFs.

    Its (A, B, C, D) are the block-diagonal MIMO realisation, so it serves wherever a
    ``ForwardModel`` does; a CFPC runs it on ``DiagonalEligibilityFilter``, whose trace costs
    O(K D order) per step instead of O(K D^2 order), and whose learner uses each DOF's own trace.
    Build one with ``of`` or ``ForwardModel.diagonal()``.

    Args:
        a, b, c, d, dt: the block-diagonal realisation (as ``ForwardModel``).
        channels: the D SISO models, one per DOF (their orders may differ).

    Example:
        >>> one = np.ones((1, 1))
        >>> model = DiagonalForwardModel.of([ForwardModel(0.5 * one, one, one, 0 * one, 0.01)] * 3)
        >>> model.inputs, model.order, model.channel_order
        (3, 3, 1)
    """

    channels: tuple[ForwardModel, ...] = field(default=())

    @classmethod
    def of(cls, channels: Sequence[ForwardModel]) -> DiagonalForwardModel:
        """The diagonal model of D SISO models.

        Args:
            channels: one SISO model per DOF, all with one dt.

        Returns:
            The diagonal model.

        Raises:
            ValueError: no channels, a channel not SISO, or different dts.
        """
        channels = tuple(channels)
        if not channels or any(m.inputs != 1 or m.outputs != 1 for m in channels):
            raise ValueError("a diagonal model needs one SISO model (1 input, 1 output) per DOF")
        if len({m.dt for m in channels}) != 1:
            raise ValueError("every channel of a diagonal model must have the same dt")
        blocks = [block_diag(*[getattr(m, name) for m in channels]) for name in "abcd"]
        return cls(*blocks, dt=channels[0].dt, channels=channels)

    @property
    def channel_order(self) -> int:
        """The largest channel's order (the filter pads the others to it)."""
        return max(m.order for m in self.channels)

    def scaled(self, gain: float) -> DiagonalForwardModel:
        """Every channel's gain multiplied by ``gain`` (see ``ForwardModel.scaled``)."""
        return DiagonalForwardModel.of([m.scaled(gain) for m in self.channels])

    def diagonal(self) -> DiagonalForwardModel:
        """Itself: already diagonal."""
        return self


def _square(model: ForwardModel) -> int:
    if model.inputs != model.outputs:
        raise ValueError(f"a diagonal model must be square, not {model.inputs} in, {model.outputs} out")
    return model.inputs


def _kept_states(model: ForwardModel, dof: int) -> list[int]:
    """The states that input ``dof`` reaches and that reach output ``dof`` through A's nonzeros."""
    links = model.a != 0  # links[s, t]: state t moves state s

    def closure(start: np.ndarray, step: np.ndarray) -> np.ndarray:
        found = start.copy()
        while True:
            grown = found | step[:, found].any(axis=1)
            if (grown == found).all():
                return found
            found = grown

    reached = closure(model.b[:, dof] != 0, links)
    observed = closure(model.c[dof] != 0, links.T)
    return np.flatnonzero(reached & observed).tolist()


def _channel(model: ForwardModel, dof: int, states: Sequence[int]) -> ForwardModel:
    """The SISO model o_dof -> y_dof on ``states`` only."""
    kept, one = np.asarray(states, dtype=int), [dof]
    return ForwardModel(
        model.a[np.ix_(kept, kept)], model.b[np.ix_(kept, one)], model.c[np.ix_(one, kept)],
        model.d[np.ix_(one, one)], model.dt,
    )  # fmt: skip


def _simulate(model_at, order: int, outputs: int, inputs: np.ndarray) -> np.ndarray:
    """The response (N, outputs) from rest of the model ``model_at(k)`` that runs at step k."""
    state = np.zeros(order)
    response = np.empty((len(inputs), outputs))
    for k, u in enumerate(np.asarray(inputs, dtype=np.float64)):
        model = model_at(k)
        response[k] = model.c @ state + model.d @ u
        state = model.a @ state + model.b @ u
    return response
