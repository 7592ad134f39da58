"""Forward models of the closed loop: the filter T-hat that turns basis signals into eligibility traces.

A ``ForwardModel`` is a discrete linear state-space system (A, B, C, D) from the feed-forward
output o (D inputs) to the sensed output (D outputs). Where it comes from:

- ``closed_loop``: analytic, from a continuous plant (zero-order hold via python-control), the
  PID's exact discrete transfer function and pure delays in whole steps;
- ``identify_fir`` / ``identify_arx``: least squares on a probing run that injected o and
  recorded the sensed output;
- ``closed_loop_along``: a time-varying model, the loop closed around a plant linearised at every
  step of a trajectory (``TimeVaryingForwardModel``);
- ``pure_delay`` and ``identity``: the traces of the ``delayed`` and ``lms`` rules;
- ``plant_model``: the plant alone with its delays (the trace of gain adaptation's ME-LMS).

``EligibilityFilter`` runs a model online over every basis signal, batched (torch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import control
import numpy as np
import torch
from torch import nn

from .types import zero_where


@dataclass(frozen=True)
class ForwardModel:
    a: np.ndarray  # (n, n)
    b: np.ndarray  # (n, D_in)
    c: np.ndarray  # (D_out, n)
    d: np.ndarray  # (D_out, D_in)
    dt: float

    @classmethod
    def from_system(cls, system: control.LTI) -> ForwardModel:
        ss = control.ss(system)
        if not ss.isdtime(strict=True):
            raise ValueError("a forward model must be a discrete-time system")
        return cls(*(np.asarray(m, dtype=np.float64) for m in (ss.A, ss.B, ss.C, ss.D)), dt=float(ss.dt))

    def to_system(self) -> control.StateSpace:
        return control.ss(self.a, self.b, self.c, self.d, self.dt)

    @property
    def order(self) -> int:
        return self.a.shape[0]

    @property
    def inputs(self) -> int:
        return self.b.shape[1]

    @property
    def outputs(self) -> int:
        return self.c.shape[0]

    def scaled(self, gain: float) -> ForwardModel:
        """The same dynamics with its gain multiplied: a deliberately wrong model, for robustness."""
        return ForwardModel(self.a, self.b, self.c * gain, self.d * gain, self.dt)

    def simulate(self, inputs: np.ndarray) -> np.ndarray:
        """Response (N, D_out) to an input sequence (N, D_in) from rest."""
        state = np.zeros(self.order)
        outputs = np.empty((len(inputs), self.outputs))
        for k, u in enumerate(np.asarray(inputs, dtype=np.float64)):
            outputs[k] = self.c @ state + self.d @ u
            state = self.a @ state + self.b @ u
        return outputs

    def impulse_response(self, steps: int) -> np.ndarray:
        """Markov parameters h[k] (steps, D_out, D_in)."""
        h = np.empty((steps, self.outputs, self.inputs))
        h[0] = self.d
        power_b = self.b
        for k in range(1, steps):
            h[k] = self.c @ power_b
            power_b = self.a @ power_b
        return h

    def is_stable(self) -> bool:
        return self.order == 0 or bool(np.max(np.abs(np.linalg.eigvals(self.a))) < 1.0)


@dataclass(frozen=True)
class TimeVaryingForwardModel:
    """A linear time-varying model: step k of a trial runs ``models[k]`` (the last one from then on).

    Every model must share one state (same order and state coordinates), e.g. the loop closed around
    a plant linearised at each step of a trajectory (``closed_loop_along``).
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
        return TimeVaryingForwardModel(tuple(m.scaled(gain) for m in self.models))

    def at(self, step: int) -> ForwardModel:
        return self.models[min(step, len(self.models) - 1)]

    def simulate(self, inputs: np.ndarray) -> np.ndarray:
        """Response (N, D_out) to an input sequence (N, D_in) from rest, from step 0."""
        state = np.zeros(self.order)
        outputs = np.empty((len(inputs), self.outputs))
        for k, u in enumerate(np.asarray(inputs, dtype=np.float64)):
            model = self.at(k)
            outputs[k] = model.c @ state + model.d @ u
            state = model.a @ state + model.b @ u
        return outputs

    def is_stable(self) -> bool:
        """Whether the model that runs on after the last step is stable."""
        return self.models[-1].is_stable()


def identity(dofs: int, dt: float) -> ForwardModel:
    """T-hat = I: the trace is the basis signal itself (the LMS rule)."""
    return ForwardModel(np.zeros((0, 0)), np.zeros((0, dofs)), np.zeros((dofs, 0)), np.eye(dofs), dt)


def delay_system(steps: int, dofs: int, dt: float) -> control.StateSpace:
    """z^-steps on every DOF, as a discrete state space (a shift register)."""
    if steps < 0:
        raise ValueError(f"delay steps must be >= 0, got {steps}")
    if steps == 0:
        return control.ss([], [], [], np.eye(dofs), dt)
    single = control.tf([1], [1] + [0] * steps, dt)
    return control.append(*[control.ss(single)] * dofs)  # state spaces: MIMO tf->ss would need Slycot


def pure_delay(steps: int, dofs: int, dt: float) -> ForwardModel:
    """T-hat = z^-steps: the trace of the ``delayed`` (delayed coincidence) rule."""
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

    ``plant``: a system (python-control, or continuous (A, B, C, D)) from commands to outputs; a
    continuous one is discretised here by zero-order hold, a discrete one must have period ``dt``.
    ``controllers``: one discrete C(z) per DOF (from ``PID.transfer_function``). The loop:
    u = C (reference - sensed + o) (``injection="error"``, CFPC) or u = C (reference - sensed) + o
    (``injection="motor"``, FEL).
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
    """The plant alone with its delays, from the command to the sensed output (open loop)."""
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


Signal = np.ndarray | Sequence[np.ndarray]  # one run (N, D), or several runs each from rest


def _segments(signal: Signal) -> list[np.ndarray]:
    runs = [signal] if isinstance(signal, np.ndarray) else list(signal)
    return [np.asarray(r, dtype=np.float64).reshape(len(r), -1) for r in runs]


def _lagged(signal: Signal, lags: range) -> np.ndarray:
    """Columns signal[k - lag] for each lag, zero before each run's start: (sum N, len(lags) * D)."""
    blocks = []
    for run in _segments(signal):
        columns = []
        for lag in lags:
            shifted = np.zeros_like(run)
            if lag < len(run):  # a lag longer than the run: a zero column, which the rank check reports
                shifted[lag:] = run[: len(run) - lag]
            columns.append(shifted)
        blocks.append(np.concatenate(columns, axis=1))
    return np.concatenate(blocks, axis=0)


def identify_fir(inputs: Signal, outputs: Signal, taps: int, dt: float) -> ForwardModel:
    """FIR model y[k] = sum_j H_j o[k - j], j < taps, fitted by least squares (MIMO allowed)."""
    regressors = _lagged(inputs, range(taps))
    outputs = np.concatenate(_segments(outputs))
    d_in = _segments(inputs)[0].shape[1]
    _check_rank(regressors, "FIR fit")
    solution, *_ = np.linalg.lstsq(regressors, outputs, rcond=None)  # (taps * D_in, D_out)
    d_out = outputs.shape[1]
    markov = solution.reshape(taps, d_in, d_out).transpose(0, 2, 1)  # H_j: (D_out, D_in)
    n = (taps - 1) * d_in
    a, b = np.zeros((n, n)), np.zeros((n, d_in))
    if n:  # state: the last taps - 1 inputs, newest first
        a[d_in:, : n - d_in] = np.eye(n - d_in)
        b[:d_in] = np.eye(d_in)
    c = np.concatenate(list(markov[1:]), axis=1) if n else np.zeros((d_out, 0))
    return ForwardModel(a, b, c, markov[0], dt)


def identify_arx(
    inputs: Signal, outputs: Signal, poles: int, zeros: int, delay: int, dt: float
) -> ForwardModel:
    """SISO ARX y[k] = -sum a_i y[k-i] + sum b_j o[k-delay-j], by least squares."""
    if _segments(inputs)[0].shape[1] != 1 or _segments(outputs)[0].shape[1] != 1:
        raise ValueError("identify_arx fits SISO models; use identify_fir for several DOFs")
    regressors = np.concatenate(
        [-_lagged(outputs, range(1, poles + 1)), _lagged(inputs, range(delay, delay + zeros + 1))], axis=1
    )
    _check_rank(regressors, "ARX fit")
    theta, *_ = np.linalg.lstsq(regressors, np.concatenate(_segments(outputs))[:, 0], rcond=None)
    a_poly = np.concatenate([[1.0], theta[:poles]])
    b_poly = np.concatenate([np.zeros(delay), theta[poles:]])
    order = max(len(a_poly), len(b_poly))
    a_poly = np.pad(a_poly, (0, order - len(a_poly)))  # polynomials in z^-1 -> in z
    b_poly = np.pad(b_poly, (0, order - len(b_poly)))
    model = ForwardModel.from_system(control.tf(b_poly, a_poly, dt))
    if not model.is_stable():
        raise ValueError("the identified ARX model is unstable: probe longer, or use fewer poles or FIR")
    return model


def variance_accounted_for(measured: np.ndarray, predicted: np.ndarray) -> float:
    """VAF = 1 - var(measured - predicted) / var(measured)."""
    measured, predicted = np.asarray(measured), np.asarray(predicted)
    return float(1.0 - np.var(measured - predicted) / np.var(measured))


def _check_rank(regressors: np.ndarray, what: str) -> None:
    if np.linalg.matrix_rank(regressors) < regressors.shape[1]:
        raise ValueError(
            f"{what} is singular: the probe does not excite every lag; probe longer or with noise"
        )


class EligibilityFilter(nn.Module):
    """Runs a forward model online over every basis signal: eps = T-hat * phi, batched.

    Input phi (B, F). Output eps (B, D_in, D_out, F): eps[:, l, i, f] is the response of sensed
    output i to basis f injected on feed-forward channel l — the gradient of output i w.r.t.
    weight W[l, f] — so MIMO coupling stays in the trace. State (B, D_in, n, F).

    One matrix product per step: every (env, channel, basis) signal is a column of a buffer whose
    rows are [trace (D_out) | state (n) | input (D_in)], and [[C, D], [A, B]] maps the state and
    input rows of one step's buffer to the trace and state rows of the next. Each step writes a
    fresh buffer, so a returned trace stays valid after later steps.
    """

    def __init__(
        self,
        model: ForwardModel | TimeVaryingForwardModel,
        features: int,
        *,
        batch_size: int = 1,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        self.model = model
        self.batch_size, self.features = batch_size, features
        self._outputs, self._order, self._inputs = model.outputs, model.order, model.inputs
        kw = {"device": device, "dtype": dtype}
        self.register_buffer("systems", torch.as_tensor(_systems(model)).to(**kw), persistent=False)
        # Steps since each env's trial began: which model of a time-varying one runs next. Not saved:
        # checkpoints fall between trials, and every trial starts with a reset.
        self.register_buffer(
            "step_index", torch.zeros(batch_size, dtype=torch.long, device=device), persistent=False
        )
        rows = self._outputs + self._order + self._inputs
        self._rows = torch.zeros(rows, batch_size * self._inputs * features, **kw)
        self._expose(self._rows)

    def set_model(self, model: ForwardModel | TimeVaryingForwardModel) -> None:
        """Run ``model`` from the next step on, the filter state carried over: it must have this
        model's order, inputs, outputs and dt (the same state coordinates, e.g. the loop closed
        around another linearisation of the same plant)."""
        shape = (model.order, model.inputs, model.outputs, model.dt)
        if shape != (self._order, self._inputs, self._outputs, self.model.dt):
            raise ValueError(
                f"the new forward model has order {model.order}, {model.inputs} inputs, {model.outputs} "
                f"outputs and dt {model.dt}; the filter runs order {self._order}, {self._inputs} inputs, "
                f"{self._outputs} outputs and dt {self.model.dt}"
            )
        systems = torch.as_tensor(_systems(model)).to(self.systems)
        if systems.shape == self.systems.shape:  # in place: the numpy step's views see it
            self.systems.copy_(systems)
        else:
            self.systems = systems
        self.model = model

    @property
    def system(self) -> torch.Tensor:
        """[C D; A B] of the (first) model."""
        return self.systems[0]

    def _expose(self, rows: torch.Tensor) -> None:
        """Point ``state`` (a registered buffer, so it travels with state_dict) into ``rows``."""
        d_out, n, d_in, f = self._outputs, self._order, self._inputs, self.features
        state = rows[d_out : d_out + n].view(n, self.batch_size, d_in, f).permute(1, 2, 0, 3)
        self._buffers["state"] = state  # a dict write: nn.Module.__setattr__ costs more per step
        self._rows = rows

    def _apply(self, fn, recurse: bool = True):
        super()._apply(fn, recurse)
        self._expose(fn(self._rows))  # .to(), .double(): the rows follow, and ``state`` into them
        return self

    def reset(self, mask: torch.Tensor | None = None) -> None:
        zero_where(self.state, mask)
        zero_where(self.step_index, mask)

    def step(self, phi: torch.Tensor) -> torch.Tensor:
        rows, d_out, n, d_in = self._rows, self._outputs, self._order, self._inputs
        inputs = rows[d_out + n :].view(d_in, self.batch_size, d_in, self.features)
        if d_in == 1:
            inputs[0, :, 0].copy_(phi)
        else:  # basis f drives channel l only: a one-hot input per column
            inputs.zero_()
            inputs.diagonal(dim1=0, dim2=2).copy_(phi[:, :, None])
        following = torch.empty_like(rows)
        if len(self.systems) == 1:
            torch.mm(self.system, rows[d_out:], out=following[: d_out + n])
        else:
            self._step_time_varying(rows[d_out:], following[: d_out + n])
        self._expose(following)
        return following[:d_out].view(d_out, self.batch_size, d_in, self.features).permute(1, 2, 0, 3)

    def numpy_step(self) -> tuple[Callable[[np.ndarray], None], torch.Tensor]:
        """``step`` in numpy, in place in the current buffer (CPU): ``step(phi)`` and the trace it
        writes, as a tensor view (B, D_in, D_out, F) valid until the next step. Valid while only
        this function steps the filter (a torch ``step`` moves to a fresh buffer)."""
        if len(self.systems) > 1:
            raise ValueError("a time-varying forward model has no numpy step")
        rows, d_out, n, d_in = self._rows, self._outputs, self._order, self._inputs
        system, buffer = self.system.numpy(), rows.numpy()
        buffer[d_out + n :] = 0.0  # the one-hot input rows: only their diagonal is written below
        inputs = buffer[d_out + n :].reshape(d_in, self.batch_size, d_in, self.features)
        channels = [inputs[channel, :, channel] for channel in range(d_in)]  # each: (B, F)
        sources, targets = buffer[d_out:], buffer[: d_out + n]
        following = np.empty_like(targets)  # matmul into overlapping memory would take a slow path

        def step(phi: np.ndarray) -> None:
            for channel in channels:
                channel[...] = phi
            np.matmul(system, sources, out=following)
            np.copyto(targets, following)

        trace = rows[:d_out].view(d_out, self.batch_size, d_in, self.features).permute(1, 2, 0, 3)
        return step, trace

    def _step_time_varying(self, current: torch.Tensor, following: torch.Tensor) -> None:
        """Each env's columns through the system of its own step in the trial (batched matmul)."""
        index = self.step_index.clamp(max=len(self.systems) - 1)
        self.step_index.add_(1)
        if bool((index == index[0]).all()):  # envs in step: one matrix product, as for a fixed model
            torch.mm(self.systems[index[0]], current, out=following)
            return
        columns = current.shape[1] // self.batch_size
        per_env = current.view(-1, self.batch_size, columns).transpose(0, 1)  # (B, n + D_in, cols)
        result = torch.bmm(self.systems[index], per_env)  # (B, D_out + n, cols)
        following.view(-1, self.batch_size, columns).copy_(result.transpose(0, 1))


def _systems(model: ForwardModel | TimeVaryingForwardModel) -> np.ndarray:
    """[C D; A B] of every step of a model (one for a time-invariant model)."""
    steps = model.models if isinstance(model, TimeVaryingForwardModel) else (model,)
    return np.stack([np.block([[m.c, m.d], [m.a, m.b]]) for m in steps])


class ResponseFilter(nn.Module):
    """Runs a forward model on one signal per env: the model's sensed response (B, D_out) to o (B, D_in).

    One matrix product per step, as in ``EligibilityFilter``: a row [state | input] per env times
    [[C^T, A^T], [D^T, B^T]] gives [response | next state].
    """

    def __init__(
        self,
        model: ForwardModel,
        *,
        batch_size: int = 1,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        if isinstance(model, TimeVaryingForwardModel):
            raise ValueError("optimizer rls needs a time-invariant forward model; use optimizer gradient")
        self._outputs, self._order = model.outputs, model.order
        kw = {"device": device, "dtype": dtype}
        system = np.block([[model.c, model.d], [model.a, model.b]]).T  # (n + D_in, D_out + n)
        self.register_buffer("system", torch.as_tensor(system).to(**kw), persistent=False)
        self.register_buffer("state", torch.zeros(batch_size, model.order + model.inputs, **kw))

    def reset(self, mask: torch.Tensor | None = None) -> None:
        zero_where(self.state, mask)

    def step(self, signal: torch.Tensor) -> torch.Tensor:
        state, d_out, n = self.state, self._outputs, self._order
        state[:, n:].copy_(signal)
        following = torch.mm(state, self.system)
        state[:, :n].copy_(following[:, d_out:])
        return following[:, :d_out]
