"""Gain adaptation of the feedback controller by the model-enhanced LMS rule (ME-LMS; Herreros,
Arsiwalla, Della Santina, Puigbo, Bicchi & Verschure, "Cerebellar-inspired learning rule for gain
adaptation of feedback controllers", MED 2017, arXiv:1707.01484).

A model-reference adaptive control problem: the loop should answer its (sensed) reference r as a
reference model M does, y_model = M r. The PID's command is an adaptive linear unit,

    u = u0 + sum_i k_i x_i,     x = [e, I, D]  (error, its integral, its filtered derivative),

and its gains k = [kp, ki, kd] learn, online and per DOF, by gradient descent on the squared
model-following error J = 1/2 sum_k e_m[k]^2, e_m = y_model - y:

    k_i += eta_i * e_m[k] * eps_i[k],     eps_i = dy / dk_i = T-hat * x_i.

The gradient is x_i filtered by a forward model T-hat of what lies downstream of the command:

- ``forward_model="plant"``: T-hat = P-hat, the plant with its delays (u -> sensed y). The paper's
  ME-LMS as its abstract and setup state it (its full text was not at hand): the gains are weights
  of a linear unit whose output drives the plant, so their eligibility trace is their input
  filtered by a model of the plant; the CFPC rule with the feed-forward module replaced by the
  gains. It does not depend on the gains, so it stays right while they move; it leaves out that x
  itself changes with y (the loop).
- ``forward_model="closed_loop"``: T-hat = P-hat / (1 + P-hat C), the loop from a command added at
  the plant's input to the sensed output, with the PID C of the gains it was built with. With
  k_i -> k_i + d, du = d x_i - C dy and dy = P-hat du, so this is the exact gradient at those gains
  (``tests/test_gain_adaptation.py`` checks it against finite differences); as the gains move away
  from them it becomes an approximation too.
- ``rule="lms"``: eps_i = x_i (T-hat = I), the classic LMS / MIT-rule-like baseline that ignores
  the plant's lag; with a delay in the loop its steps stop being descent directions.

Reference models (``cfpc_gym`` builds them): the closed loop of the plant model with target gains k*
(achievable exactly, so ME-LMS should find k*), or a well-damped second-order response behind the
loop's delays (``second_order``). Both run on deviations from the trial's first reference, so a
trial that starts at rest on its reference (an arm at its posture) starts on the model.

Gains are per env (B, D), each env its own run (``PID.individual_gains``); they are clipped to
[min_gain, max_gain] after every step. Torch only: the numpy backend refuses a PID whose gains move.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import control
import numpy as np
import torch
from torch import nn

from .closed_loops import delay_system, identity
from .eligibility import EligibilityFilter, ResponseFilter
from .feedback import PID
from .forward_models import ForwardModel, TimeVaryingForwardModel
from .types import zero_where

GAIN_RULES = ("me-lms", "lms")
GAINS = ("kp", "ki", "kd")


def second_order_model(
    natural_freq_hz: float, damping_ratio: float, dofs: int, dt: float, *, delay_steps: int = 0
) -> ForwardModel:
    """A reference model: w^2 / (s^2 + 2 zeta w s + w^2) per DOF (zero-order hold), behind a delay.

    Args:
        natural_freq_hz: w / 2 pi, in Hz.
        damping_ratio: zeta.
        dofs: D, one copy per DOF.
        dt: the control period in seconds.
        delay_steps: the loop's delays in steps (no feedback loop answers sooner).

    Returns:
        The discrete model (D inputs, D outputs).
    """
    if natural_freq_hz <= 0:
        raise ValueError(f"natural_freq_hz must be > 0, got {natural_freq_hz}")
    if damping_ratio <= 0:
        raise ValueError(f"damping_ratio must be > 0, got {damping_ratio}")
    w = 2 * math.pi * natural_freq_hz
    single = control.c2d(control.ss(control.tf([w**2], [1, 2 * damping_ratio * w, w**2])), dt, "zoh")
    system = control.append(*[single] * dofs) * delay_system(delay_steps, dofs, dt)
    return ForwardModel.from_system(system)


class GainAdaptation(nn.Module):
    """ME-LMS (or LMS) on the gains of ``feedback``, which it switches to individual gains.

    Per control step, after the PID's step: ``step(reference, measurement)`` runs the reference
    model and the traces; ``update(active)`` moves the gains. ``reset(mask)`` starts a trial.

    Args:
        feedback: the PID whose gains adapt (switched to individual gains per env).
        reference_model: M, how the loop should answer its reference (D inputs, D outputs).
        rule: ``"me-lms"`` (traces through ``forward_model``) or ``"lms"`` (no model).
        forward_model: T-hat, the model downstream of the command; ``me-lms`` needs it.
        learning_rate: the step size, one for all gains or three (kp, ki, kd).
        normalized: divide the step by the trace power of each env (NLMS).
        regularization: the normalisation's floor (> 0).
        min_gain: the gains' lower clip.
        max_gain: the gains' upper clip.
    """

    def __init__(
        self,
        feedback: PID,
        reference_model: ForwardModel,
        *,
        rule: str = "me-lms",
        forward_model: ForwardModel | None = None,
        learning_rate: float | Sequence[float] = 0.01,
        normalized: bool = False,
        regularization: float = 1e-3,
        min_gain: float = 0.0,
        max_gain: float = math.inf,
    ):
        super().__init__()
        batch, dofs, dt = feedback.batch_size, feedback.dofs, feedback.dt
        if rule not in GAIN_RULES:
            raise ValueError(f"unknown gain adaptation rule {rule!r}; choose one of {', '.join(GAIN_RULES)}")
        if rule == "me-lms" and forward_model is None:
            raise ValueError("gain adaptation rule 'me-lms' needs a forward model of the plant")
        trace = identity(dofs, dt) if rule == "lms" else forward_model
        for name, model in (("reference model", reference_model), ("forward model", trace)):
            if isinstance(model, TimeVaryingForwardModel):
                raise ValueError(f"the {name} of gain adaptation must be time-invariant")
            if model.inputs != dofs or model.outputs != dofs:
                maps = f"{model.inputs} inputs to {model.outputs} outputs"
                raise ValueError(f"the {name} maps {maps}; the PID has {dofs} DOFs")
            if not math.isclose(model.dt, dt):
                raise ValueError(f"the {name} has period {model.dt} s; the PID runs every {dt} s")
        rates = np.asarray(learning_rate, dtype=np.float64)
        rates = np.full(3, rates) if rates.ndim == 0 else rates
        if rates.shape != (3,):
            raise ValueError(
                f"learning_rate must be a scalar or 3 values (kp, ki, kd), got {learning_rate!r}"
            )
        if (rates < 0).any() or not np.isfinite(rates).all():
            raise ValueError(f"learning_rate must be >= 0, got {rates.tolist()}")
        if regularization <= 0:
            raise ValueError(f"regularization must be > 0, got {regularization}")
        if not min_gain <= max_gain:
            raise ValueError(f"min_gain ({min_gain}) must not exceed max_gain ({max_gain})")
        self.rule, self.normalized, self.regularization = rule, normalized, regularization
        self.learning_rate = tuple(float(r) for r in rates)
        self.min_gain, self.max_gain = min_gain, max_gain
        self.__dict__["feedback"] = feedback  # not a submodule: its owner (CFPC) holds and saves it
        feedback.individual_gains()
        like = feedback.integral
        kw = {"batch_size": batch, "device": like.device, "dtype": like.dtype}
        # x_{d,i} drives channel d only: the filter's (channel, signal) diagonal blocks are the traces.
        self.trace_filter = EligibilityFilter(trace, 3 * dofs, **kw)
        self.reference_model = ResponseFilter(reference_model, **kw)
        self.register_buffer("baseline", torch.zeros_like(like))  # the trial's first reference
        self.register_buffer("started", torch.zeros(batch, dtype=torch.bool, device=like.device))
        self.register_buffer("squared_error", torch.zeros(batch, device=like.device, dtype=like.dtype))
        self.register_buffer("steps", torch.zeros(batch, device=like.device, dtype=like.dtype))
        # This step's signals, for update(); buffers so that .to() moves them with the rest.
        self.register_buffer("model_output", torch.zeros_like(like), persistent=False)
        self.register_buffer("model_error", torch.zeros_like(like), persistent=False)
        self.register_buffer("trace", None, persistent=False)  # (B, D, D_out, 3): d y_j / d k_{d, i}

    @property
    def gains(self) -> torch.Tensor:
        """[kp, ki, kd] per env and DOF, (B, D, 3)."""
        return torch.stack([getattr(self.feedback, name) for name in GAINS], -1)

    @property
    def trial_rmse(self) -> torch.Tensor:
        """Model-following RMSE per env (B,) since the trial began."""
        return (self.squared_error / self.steps.clamp(min=1)).sqrt()

    def reset(self, mask: torch.Tensor | None = None) -> None:
        """Start a trial for the envs in ``mask`` (B,) bool (all when None); the gains stay."""
        self.trace_filter.reset(mask)
        self.reference_model.reset(mask)
        for state in (self.started, self.squared_error, self.steps):
            zero_where(state, mask)

    def step(self, reference: torch.Tensor, measurement: torch.Tensor) -> None:
        """After the PID's step: the reference model's output and the traces of this step.

        Args:
            reference: this step's reference (B, D).
            measurement: this step's sensed output (B, D).
        """
        starting = ~self.started
        if starting.any():
            self.baseline[starting] = reference[starting].to(self.baseline)
            self.started.fill_(True)
        response = self.reference_model.step(reference - self.baseline)
        self.model_output = response + self.baseline
        self.model_error = self.model_output - measurement
        self.squared_error.add_(self.model_error.square().sum(1))
        self.steps.add_(1)
        batch, dofs = self.feedback.batch_size, self.feedback.dofs
        trace = self.trace_filter.step(self.feedback.signals.reshape(batch, 3 * dofs))
        blocks = trace.reshape(batch, dofs, dofs, dofs, 3)  # (B, channel, output, DOF of the signal, i)
        self.trace = torch.diagonal(blocks, dim1=1, dim2=3).permute(0, 3, 1, 2)

    def update(self, active: torch.Tensor | None = None) -> None:
        """k += eta * e_m . eps per env, from the last step.

        Args:
            active: (B,) bool; envs where it is False keep their gains (None: all adapt).
        """
        if self.trace is None:
            return
        with torch.no_grad():
            step = torch.einsum("bdji,bj->bdi", self.trace, self.model_error)
            if self.normalized:  # NLMS: divided by the trace power of each env
                power = self.trace.square().sum((1, 2, 3)).add_(self.regularization)
                step = step / power[:, None, None]
            if active is not None:
                step = step * torch.as_tensor(active, device=step.device).reshape(-1, 1, 1)
            for i, name in enumerate(GAINS):
                gain = getattr(self.feedback, name)
                gain.add_(step[..., i], alpha=self.learning_rate[i]).clamp_(self.min_gain, self.max_gain)
