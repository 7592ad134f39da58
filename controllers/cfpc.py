"""Counterfactual predictive control: feedback driven by the actual error plus a learned,
anticipatory counterfactual error (Herreros, Arsiwalla & Verschure, NeurIPS 2016).

Per step k, for each env in the batch:
    e[k]  = reference - measurement                 actual (sensed) error
    phi   = basis(cue)                              granular layer
    eps   = T-hat * phi                             eligibility trace
    o     = W phi                                   feed-forward output
    u     = PID(e + o)      (or PID(e) + o for FEL) counterfactual error into feedback
and ``update()`` then learns from the teacher (e, or the feedback command for FEL) and eps:
``optimizer="gradient"`` is the paper's rule W += step * teacher . eps, with step =
learning_rate, or learning_rate / (regularization + mean_i |eps_i|^2) when ``normalized``;
``optimizer="rls"`` is recursive least squares on the same trace (see ``learners.py``).
With ``gain_adaptation`` the PID's own gains learn too, from the model-following error
(``gain_adaptation.py``); it works with any rule, ``none`` included (the eligibility rule's
closed-loop model keeps the gains it was built with).

Two implementations of the same step: torch (the reference; any device, any batch) and numpy
(``backend="numpy"``; CPU only), whose modules run in place on the very buffers of the torch
modules, so ``state_dict``, checkpoints and resets are shared and switching costs nothing. A torch
op costs ~2-5 us on a CPU whatever its size, a numpy op on a small array under 1 us: at small B the
numpy step is several times faster. ``backend="auto"`` picks numpy on the CPU up to
``NUMPY_MAX_BATCH`` envs where it supports the configuration (not ``optimizer="rls"``, nor
gain adaptation).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from torch import nn

from .basis import Basis
from .feedback import PID
from .feedforward import FeedForward
from .forward_models import EligibilityFilter, ForwardModel, TimeVaryingForwardModel
from .gain_adaptation import GainAdaptation
from .learners import OPTIMIZERS, GradientDescent, RecursiveLeastSquares
from .rules import LearningRule
from .types import TensorLike

BACKENDS = ("auto", "torch", "numpy")
NUMPY_MAX_BATCH = 256  # measured: numpy beats torch up to here on one CPU thread (docs/PERFORMANCE.md)
SIGNALS = ("error", "feedforward_output", "feedback_command", "command")


class CFPC(nn.Module):
    def __init__(
        self,
        feedback: PID,
        basis: Basis,
        rule: LearningRule,
        *,
        learning_rate: float = 0.01,
        normalized: bool = False,
        regularization: float = 1e-3,
        shared_weights: bool = False,
        optimizer: str = "gradient",
        forgetting: float = 1.0,
        rls_regularization: float = 1e-3,
        loop_gain_variance: float = 10.0,
        gain_adaptation: GainAdaptation | None = None,
        backend: str = "auto",
    ):
        super().__init__()
        if basis.batch_size != feedback.batch_size:
            raise ValueError("feedback and basis must have the same batch size")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        self.batch_size, self.dofs, self.dt = feedback.batch_size, feedback.dofs, feedback.dt
        self.feedback, self.basis, self.rule = feedback, basis, rule
        if gain_adaptation is not None and gain_adaptation.feedback is not feedback:
            raise ValueError("gain_adaptation must adapt this controller's feedback PID")
        self.gain_adaptation = gain_adaptation
        self.optimizer = optimizer
        like = feedback.integral
        self.device, self.dtype = like.device, like.dtype
        self.learner = GradientDescent(learning_rate, normalized=normalized, regularization=regularization)
        if rule.learns:
            kw = {"batch_size": self.batch_size, "device": self.device, "dtype": self.dtype}
            self.feedforward = FeedForward(self.dofs, basis.features, shared=shared_weights, **kw)
            self.eligibility = EligibilityFilter(rule.trace, basis.features, **kw)
            if optimizer == "rls":
                if rule.injection != "error":
                    raise ValueError(f"optimizer rls needs a counterfactual-error rule, not {rule.name!r}")
                if shared_weights:
                    raise ValueError("optimizer rls keeps one estimate per env: set shared_weights false")
                self.learner = RecursiveLeastSquares(
                    rule.trace,
                    basis.features,
                    forgetting=forgetting,
                    regularization=rls_regularization,
                    loop_gain_variance=loop_gain_variance,
                    **kw,
                )
        # This step's signals, kept for update() and for logging (read them through the properties).
        zeros = torch.zeros(self.batch_size, self.dofs, device=self.device, dtype=self.dtype)
        self._signals: dict[str, torch.Tensor] = {name: zeros.clone() for name in SIGNALS}
        self._trace: torch.Tensor | None = None
        self._numpy: NumpyStep | None = None
        self.backend = backend

    # --- this step's signals: fresh tensors every step, whichever the backend ----------------------

    def _signal(self, name: str) -> torch.Tensor:
        if self._numpy is None:
            return self._signals[name]
        return torch.from_numpy(getattr(self._numpy, name).copy())

    @property
    def error(self) -> torch.Tensor:
        """The sensed error e = reference - measurement (B, D)."""
        return self._signal("error")

    @property
    def feedforward_output(self) -> torch.Tensor:
        """The feed-forward module's output o = W phi (B, D)."""
        return self._signal("feedforward_output")

    @property
    def feedback_command(self) -> torch.Tensor:
        """The feedback controller's share of the command (B, D)."""
        return self._signal("feedback_command")

    @property
    def command(self) -> torch.Tensor:
        """The command (B, D) that ``step`` returned."""
        return self._signal("command")

    @property
    def trace(self) -> torch.Tensor | None:
        """The eligibility trace eps (B, D_in, D_out, F); None before the first step or without learning."""
        if self._numpy is None or self._trace is None:
            return self._trace
        return torch.from_numpy(np.ascontiguousarray(self._numpy.trace))

    @property
    def counterfactual_error(self) -> torch.Tensor:
        """What the feedback controller reacts to: e + o (e alone for FEL and feedback-only)."""
        if self.rule.injection == "error":
            return self.error + self.feedforward_output
        return self.error

    # --- backend --------------------------------------------------------------------------------

    @property
    def backend(self) -> str:
        """``"torch"`` or ``"numpy"``; set it to either, or to ``"auto"``, at any step."""
        return "torch" if self._numpy is None else "numpy"

    @backend.setter
    def backend(self, name: str) -> None:
        if name not in BACKENDS:
            raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
        refusal = self._numpy_refusal()
        if name == "numpy" and refusal:
            raise ValueError(f"backend numpy: {refusal}; use backend torch")
        wanted = name == "numpy" or (name == "auto" and not refusal and self.batch_size <= NUMPY_MAX_BATCH)
        self._numpy = NumpyStep(self) if wanted else None

    def _numpy_refusal(self) -> str | None:
        """Why the numpy backend cannot run this controller (None: it can)."""
        if self.device.type != "cpu":
            return f"it runs on the CPU, and this controller is on {self.device}"
        if self.gain_adaptation is not None:
            return "gain adaptation runs in torch only"
        if self.rule.learns and self.optimizer == "rls":
            return "optimizer rls runs in torch only"
        if self.rule.learns and len(self.eligibility.systems) > 1:
            return "a time-varying forward model runs in torch only"
        if self.rule.learns and type(self.basis).numpy_step is Basis.numpy_step:
            return f"{type(self.basis).__name__} has no numpy step"
        return None

    def _apply(self, fn, recurse: bool = True):
        # .to(), .double(), ... may replace the buffers that the numpy views point into.
        numpy = self._numpy is not None
        self._numpy = None
        super()._apply(fn, recurse)
        self.device, self.dtype = self.feedback.integral.device, self.feedback.integral.dtype
        if numpy:
            self.backend = "auto" if self._numpy_refusal() else "numpy"
        return self

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        result = super().load_state_dict(state_dict, strict=strict, assign=assign)
        if self._numpy is not None:  # it holds the gains as constants, and assign replaces buffers
            self._numpy = NumpyStep(self)
        return result

    def _tensor(self, value: TensorLike) -> torch.Tensor:
        """As a (B, -1) tensor on the controller's device, without a copy where none is needed;
        the dtype is cast by the first operation that uses it."""
        return torch.as_tensor(value, device=self.device).reshape(self.batch_size, -1)

    def reset(self, mask: torch.Tensor | None = None) -> None:
        self.feedback.reset(mask)
        if self.gain_adaptation is not None:
            self.gain_adaptation.reset(mask)
        if self.rule.learns:
            self.basis.reset(mask)
            self.eligibility.reset(mask)
            if self.optimizer == "rls":
                self.learner.reset(mask)

    def step(self, reference: TensorLike, measurement: TensorLike, cue: TensorLike) -> torch.Tensor:
        if self._numpy is not None:
            return torch.from_numpy(self._numpy.step(reference, measurement, cue).copy())
        signals = self._signals
        error = torch.empty(self.batch_size, self.dofs, device=self.device, dtype=self.dtype)
        signals["error"] = error
        torch.sub(self._tensor(reference), self._tensor(measurement), out=error)
        if not self.rule.learns:
            signals["feedback_command"] = signals["command"] = self.feedback.step(error)
            self._adapt_gains(reference, measurement)
            return signals["command"]
        phi = self.basis.step(self._tensor(cue))
        self._trace = self.eligibility.step(phi)
        output = signals["feedforward_output"] = self.feedforward(phi)
        if self.optimizer == "rls":
            self.learner.step(output)
        if self.rule.injection == "error":
            command = signals["feedback_command"] = self.feedback.step(torch.add(error, output))
        else:
            command = self.feedback.step(error, feedforward=output)
            signals["feedback_command"] = command - output
        signals["command"] = command
        self._adapt_gains(reference, measurement)
        return command

    def _adapt_gains(self, reference: TensorLike, measurement: TensorLike) -> None:
        if self.gain_adaptation is not None:
            kw = {"dtype": self.dtype}
            self.gain_adaptation.step(self._tensor(reference).to(**kw), self._tensor(measurement).to(**kw))

    def step_array(self, reference: np.ndarray, measurement: np.ndarray, cue: np.ndarray) -> np.ndarray:
        """``step`` for host arrays, returning the command as an array (B, D). With the numpy
        backend it is the controller's own buffer, overwritten by the next step: copy to keep it."""
        if self._numpy is not None:
            return self._numpy.step(reference, measurement, cue)
        with torch.no_grad():
            return self.step(reference, measurement, cue).cpu().numpy()

    def update(self, error: TensorLike | None = None, active: TensorLike | None = None) -> None:
        """Learn from this step; ``error`` overrides the rule's teacher signal (B, D); envs where
        ``active`` (B,) is False do not learn (e.g. a step whose action a vector env ignored)."""
        if self.gain_adaptation is not None:
            self.gain_adaptation.update(active)
        if not self.rule.learns:
            return
        if self._numpy is not None:
            self._numpy.update(error, active)
            return
        with torch.no_grad():
            self._torch_update(error, active)

    def _torch_update(self, error: TensorLike | None, active: TensorLike | None) -> None:
        if active is not None:
            active = torch.as_tensor(active, device=self.device)
        if error is not None:
            teacher = self._tensor(error).to(self.dtype)
        else:
            teacher = self._signals["error" if self.rule.teacher == "error" else "feedback_command"]
        if self.optimizer == "rls":
            self.learner.update(self.feedforward, self._trace, teacher, active)
            return
        if active is not None:
            teacher = teacher * active.unsqueeze(1)
            if self.feedforward.shared:  # the mean of the changes of the envs that acted
                teacher = teacher * (self.batch_size / active.sum().clamp(min=1).to(teacher.dtype))
        self.learner.update(self.feedforward, self._trace, teacher)

    def set_forward_model(self, model: ForwardModel | TimeVaryingForwardModel) -> None:
        """Run the eligibility trace through ``model`` from the next step on, keeping the weights and
        every filter's state (e.g. a model re-linearised along the movement learned so far). Same
        order, inputs, outputs and dt as the current model; call it between an update and a step."""
        if self.rule.name != "eligibility":
            raise ValueError(f"rule {self.rule.name!r} has no forward model to set; rule eligibility has")
        if self.optimizer == "rls":  # its statistics are of the responses of the model it began with
            raise ValueError("optimizer rls keeps its forward model; use optimizer gradient")
        self.eligibility.set_model(model)
        self.rule = replace(self.rule, trace=model)
        if self._numpy is not None and self._numpy_refusal():  # a time-varying model: torch only
            self.backend = "torch"

    @property
    def weights(self) -> torch.Tensor | None:
        return self.feedforward.weights if self.rule.learns else None


class NumpyStep:
    """A CFPC's step and update in numpy, on the buffers of its torch modules (CPU).

    The same operations as the torch path (tests check the two agree step for step); this step's
    signals live in preallocated arrays, overwritten by the next step.
    """

    def __init__(self, controller: CFPC):
        self.rule, self.shape = controller.rule, (controller.batch_size, controller.dofs)
        self.shared = controller.rule.learns and controller.feedforward.shared
        dtype = controller.feedback.integral.numpy().dtype
        self.error, self.feedforward_output, self.command, self.counterfactual_error = (
            np.zeros(self.shape, dtype) for _ in range(4)
        )
        # Counterfactual-error rules: the feedback's command is the whole command.
        motor = self.rule.injection == "motor"
        self.feedback_command = np.zeros(self.shape, dtype) if motor else self.command
        self.feedback = controller.feedback.numpy_step()
        if not self.rule.learns:
            return
        self.basis, self.phi = controller.basis.numpy_step()
        self.eligibility, trace = controller.eligibility.numpy_step()
        controller._trace = trace  # the trace property reads it from here
        self.trace = trace.numpy()
        self.feedforward = controller.feedforward.numpy_forward(self.phi, self.feedforward_output)
        self.learn = controller.learner.numpy_update(controller.feedforward)

    def step(self, reference: TensorLike, measurement: TensorLike, cue: TensorLike) -> np.ndarray:
        error, output, command = self.error, self.feedforward_output, self.command
        np.subtract(as_rows(reference, self.shape), as_rows(measurement, self.shape), out=error)
        if not self.rule.learns:
            self.feedback(error, None, command)
            return command
        self.basis(as_rows(cue, (self.shape[0], -1)))
        self.eligibility(self.phi)
        self.feedforward()
        if self.rule.injection == "error":
            self.feedback(np.add(error, output, out=self.counterfactual_error), None, command)
        else:
            self.feedback(error, output, command)
            np.subtract(command, output, out=self.feedback_command)
        return command

    def update(self, error: TensorLike | None, active: TensorLike | None) -> None:
        if error is not None:
            teacher = as_rows(error, self.shape).astype(self.error.dtype, copy=False)
        else:
            teacher = self.error if self.rule.teacher == "error" else self.feedback_command
        if active is not None:
            active = np.asarray(active)
            teacher = teacher * active[:, None]
            if self.shared:  # the mean of the changes of the envs that acted
                teacher *= np.asarray(self.shape[0] / max(active.sum(), 1), teacher.dtype)
        self.learn(self.trace, teacher)


def as_rows(value: TensorLike, shape: tuple[int, int]) -> np.ndarray:
    """A host array (or CPU tensor) as an array of ``shape``, without a copy where none is needed."""
    if isinstance(value, np.ndarray):
        return value.reshape(shape)
    return np.reshape(np.asarray(value), shape)
