"""Counterfactual predictive control: feedback driven by the actual error plus a learned,
anticipatory counterfactual error (Herreros, Arsiwalla & Verschure, NeurIPS 2016).

Per step k, for each env in the batch:
    e[k]  = reference - measurement                 actual (sensed) error
    phi   = basis(cue)                              granular layer
    eps   = T-hat * phi                             eligibility trace
    o     = W phi                                   feed-forward output
    u     = PID(e + o)      (or PID(e) + o for FEL) counterfactual error into feedback
and ``update()`` then learns from the teacher (e, or the feedback command for FEL) and eps, by
the controller's learner (``learners.py``, ``gauss_newton.py``): the paper's gradient step,
recursive least squares, or a Gauss-Newton step between trials.
With ``gain_adaptation`` the PID's own gains learn too, from the model-following error
(``gain_adaptation.py``); it works with any rule, ``none`` included (the eligibility rule's
closed-loop model keeps the gains it was built with).

The step runs on one of two backends (``backends.py``): torch, the reference, or numpy, several
times faster at small batches on the CPU, on the very same buffers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from .backends import BACKENDS, NUMPY_MAX_BATCH, Backend, make_backend, rebuild_backend
from .basis import Basis
from .diagonal_eligibility import DiagonalEligibilityFilter, full_trace, is_diagonal
from .eligibility import EligibilityFilter
from .feedback import PID
from .feedforward import FeedForward
from .forward_models import ForwardModel, TimeVaryingForwardModel
from .gain_adaptation import GainAdaptation
from .learners import GradientDescent, Learner
from .rules import LearningRule
from .types import TensorLike

__all__ = ["BACKENDS", "CFPC", "NUMPY_MAX_BATCH"]


@dataclass(slots=True)
class _Progress:
    """Where the controller is in the step/update contract. A plain object: an attribute write
    on an ``nn.Module`` costs ~1 us, a tenth of a whole numpy step."""

    stepped: bool = False  # a step has run
    awaiting_update: bool = False  # the last step has not been learned from


class CFPC(nn.Module):
    """A CFPC controller for a batch of B envs with D controlled DOFs (see ``types.py`` for the
    step/update contract).

    Args:
        feedback: the PID that closes the loop; sets B, D, dt, the device and the dtype.
        basis: the temporal basis the cues drive (same batch size).
        rule: which trace the weights keep, where the output goes, what teaches it
            (``make_rule``); rule ``none`` is feedback alone.
        learner: how the weights learn from the trace: ``GradientDescent`` (the default, at
            learning rate 0.01), ``RecursiveLeastSquares``, ``GaussNewton`` (a step between
            trials, taken at ``reset``), or ``make_learner(name, ...)``. The controller binds it
            to its rule, weights and basis size; one learner serves one controller.
        shared_weights: one weight matrix for the whole batch, which learns the batch-mean change,
            instead of one per env.
        gain_adaptation: adapts the gains of ``feedback`` (torch only), or None.
        backend: ``"auto"`` (numpy on the CPU up to ``NUMPY_MAX_BATCH`` envs where supported),
            ``"torch"`` or ``"numpy"``; the ``backend`` property switches it at any step.

    Raises:
        ValueError: the parts do not fit together (batch sizes, a learner that cannot serve the
            rule, gain adaptation of another PID, numpy requested where it cannot run).
        TypeError: ``learner`` is not a ``Learner``.

    Example:
        >>> from cfpc_gym.controllers import PID, RaisedCosineBasis, make_learner, make_rule
        >>> pid = PID(2.0, 1.0, 0.1, dt=0.01)
        >>> basis = RaisedCosineBasis(1, 10, 0.01)
        >>> controller = CFPC(pid, basis, make_rule("lms", dofs=1, dt=0.01), learner=make_learner("gradient"))
        >>> command = controller.step([[1.0]], [[0.0]], [[1.0]])  # reference, measurement, cue
        >>> controller.update()  # learn from that step
        >>> command.shape
        torch.Size([1, 1])
    """

    def __init__(
        self,
        feedback: PID,
        basis: Basis,
        rule: LearningRule,
        *,
        learner: Learner | None = None,
        shared_weights: bool = False,
        gain_adaptation: GainAdaptation | None = None,
        backend: str = "auto",
    ):
        super().__init__()
        if basis.batch_size != feedback.batch_size:
            raise ValueError("feedback and basis must have the same batch size")
        if learner is not None and not isinstance(learner, Learner):
            raise TypeError(
                f"learner must be a Learner (GradientDescent, RecursiveLeastSquares, make_learner(...)), "
                f"got {type(learner).__name__}"
            )
        if gain_adaptation is not None and gain_adaptation.feedback is not feedback:
            raise ValueError("gain_adaptation must adapt this controller's feedback PID")
        self.batch_size, self.dofs, self.dt = feedback.batch_size, feedback.dofs, feedback.dt
        self.feedback, self.basis, self.rule = feedback, basis, rule
        self.gain_adaptation = gain_adaptation
        like = feedback.integral
        self.device, self.dtype = like.device, like.dtype
        self.learner = GradientDescent() if learner is None else learner
        if rule.learns:
            kw = {"batch_size": self.batch_size, "device": self.device, "dtype": self.dtype}
            self.feedforward = FeedForward(self.dofs, basis.features, shared=shared_weights, **kw)
            diagonal = is_diagonal(rule.trace)  # D SISO filters, each DOF learning from its own trace
            trace_filter = DiagonalEligibilityFilter if diagonal else EligibilityFilter
            self.eligibility = trace_filter(rule.trace, basis.features, **kw)
            self.learner.bind(rule, self.feedforward, basis_size=basis.size)
        self._progress = _Progress()  # the contract (types.py): each update() consumes one step()
        self._backend: Backend | None = None
        self.backend = backend

    # --- this step's signals: fresh tensors every step, whichever the backend ----------------------

    @property
    def error(self) -> torch.Tensor:
        """The sensed error e = reference - measurement (B, D)."""
        return self._backend.signal("error")

    @property
    def feedforward_output(self) -> torch.Tensor:
        """The feed-forward module's output o = W phi (B, D)."""
        return self._backend.signal("feedforward_output")

    @property
    def feedback_command(self) -> torch.Tensor:
        """The feedback controller's share of the command (B, D)."""
        return self._backend.signal("feedback_command")

    @property
    def command(self) -> torch.Tensor:
        """The command (B, D) that ``step`` returned."""
        return self._backend.signal("command")

    @property
    def trace(self) -> torch.Tensor | None:
        """The eligibility trace eps (B, D_in, D_out, F); None before the first step or without learning.

        A diagonal forward model's trace is zero off the diagonal (D_in = D_out), and is spread into
        this shape when asked for (its learner sees (B, D, F): ``diagonal_eligibility.py``)."""
        if not (self.rule.learns and self._progress.stepped):
            return None
        return full_trace(self._backend.trace())

    @property
    def counterfactual_error(self) -> torch.Tensor:
        """What the feedback controller reacts to: e + o (e alone for FEL and feedback-only)."""
        if self.rule.injection == "error":
            return self.error + self.feedforward_output
        return self.error

    @property
    def weights(self) -> torch.Tensor | None:
        """The feed-forward weights W (B, D, F), (1, D, F) when shared; None without learning."""
        return self.feedforward.weights if self.rule.learns else None

    # --- backend --------------------------------------------------------------------------------

    @property
    def backend(self) -> str:
        """``"torch"`` or ``"numpy"``; set it to either, or to ``"auto"``, at any step."""
        return self._backend.name

    @backend.setter
    def backend(self, name: str) -> None:
        self._backend = make_backend(name, self, previous=self._backend)

    def _apply(self, fn, recurse: bool = True):
        # .to(), .double(), ... may replace the buffers that a backend points into.
        super()._apply(fn, recurse)
        self.device, self.dtype = self.feedback.integral.device, self.feedback.integral.dtype
        self._backend = rebuild_backend(self, self._backend)
        return self

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """``nn.Module.load_state_dict``, then the backend rebuilt on the loaded buffers (the numpy
        PID holds its gains as constants, and ``assign`` replaces buffers)."""
        result = super().load_state_dict(state_dict, strict=strict, assign=assign)
        self._backend = rebuild_backend(self, self._backend)
        return result

    # --- the control loop -----------------------------------------------------------------------

    def reset(self, mask: torch.Tensor | None = None, learn: bool = True) -> None:
        """Start a trial: clear the per-trial memory of some envs.

        That is the PID's integral and derivative, the basis's cue history, the trace filter's
        state, the learner's and gain adaptation's per-trial filters. Weights, gains, the learner's
        estimates and the operating point persist, and so do the last step's signals and trace: an
        ``update`` still learns from that step. A learner that steps between trials
        (``GaussNewton``) ends the envs' trials here and moves their weights.

        Args:
            mask: (B,) bool, the envs that start a trial (None: all).
            learn: False while learning is frozen: a learner that steps between trials keeps its
                weights (the trial just ended taught nothing).
        """
        self.feedback.reset(mask)
        if self.gain_adaptation is not None:
            self.gain_adaptation.reset(mask)
        if self.rule.learns:
            self.basis.reset(mask)
            self.eligibility.reset(mask)
            self.learner.reset(mask, learn=learn)

    def step(self, reference: TensorLike, measurement: TensorLike, cue: TensorLike) -> torch.Tensor:
        """One control step for every env.

        Args:
            reference: where each DOF should be (B, D).
            measurement: where the sensors say it is (B, D).
            cue: the cue signals (B, M) that drive the basis.

        Returns:
            The command (B, D), a fresh tensor.
        """
        command = self._backend.step(reference, measurement, cue)
        self._progress.stepped = self._progress.awaiting_update = True
        return command

    def step_array(self, reference: np.ndarray, measurement: np.ndarray, cue: np.ndarray) -> np.ndarray:
        """``step`` for host arrays (what an agent calls).

        Args:
            reference: (B, D).
            measurement: (B, D).
            cue: (B, M).

        Returns:
            The command (B, D). With the numpy backend it is the controller's own buffer,
            overwritten by the next step: copy to keep it.
        """
        command = self._backend.step_array(reference, measurement, cue)
        self._progress.stepped = self._progress.awaiting_update = True
        return command

    def update(self, error: TensorLike | None = None, active: TensorLike | None = None) -> None:
        """Learn once from the last step: its trace and its teacher signal (and adapt the gains).

        Args:
            error: overrides the rule's teacher signal (B, D); None: the step's own (the sensed
                error, or the feedback command for FEL).
            active: (B,) bool; envs where it is False do not learn (e.g. a step whose action a
                vector env ignored). None: all learn.

        Raises:
            RuntimeError: no step since the last update (or ever): one update per step.
        """
        progress = self._progress
        if not progress.awaiting_update:
            if progress.stepped:
                raise RuntimeError("update() was already called for this step: step() again before updating")
            raise RuntimeError("update() before any step(): update learns from the last step, so step first")
        self._backend.update(error, active)
        progress.awaiting_update = False

    def set_forward_model(self, model: ForwardModel | TimeVaryingForwardModel) -> None:
        """Run the eligibility trace through ``model`` from the next step on, keeping the weights and
        every filter's state (e.g. a model re-linearised along the movement learned so far).

        Call it between an update and a step. A time-varying model moves a numpy controller to torch.

        Args:
            model: the same order, inputs, outputs and dt as the current model (diagonal where it
                was diagonal: ``ForwardModel.diagonal()``).

        Raises:
            ValueError: the rule has no forward model, the learner keeps its model, or the model
                has another shape.
        """
        if self.rule.name != "eligibility":
            raise ValueError(f"rule {self.rule.name!r} has no forward model to set; rule eligibility has")
        self.learner.set_forward_model(model)
        self.eligibility.set_model(model)
        self.rule = replace(self.rule, trace=model)
        self._backend = rebuild_backend(self, self._backend)
