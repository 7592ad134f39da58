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
"""

from __future__ import annotations

import torch
from torch import nn

from .basis import Basis
from .feedback import PID
from .feedforward import FeedForward
from .forward_models import EligibilityFilter
from .learners import OPTIMIZERS, GradientDescent, RecursiveLeastSquares
from .rules import LearningRule
from .types import TensorLike


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
    ):
        super().__init__()
        if basis.batch_size != feedback.batch_size:
            raise ValueError("feedback and basis must have the same batch size")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        self.batch_size, self.dofs, self.dt = feedback.batch_size, feedback.dofs, feedback.dt
        self.feedback, self.basis, self.rule = feedback, basis, rule
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
        # This step's signals, kept for update() and for logging: fresh tensors every step.
        zeros = torch.zeros(self.batch_size, self.dofs, device=self.device, dtype=self.dtype)
        self.error = zeros.clone()
        self.feedforward_output = zeros.clone()
        self.feedback_command = zeros.clone()
        self.command = zeros.clone()
        self.trace: torch.Tensor | None = None

    @property
    def counterfactual_error(self) -> torch.Tensor:
        """What the feedback controller reacts to: e + o (e alone for FEL and feedback-only)."""
        if self.rule.injection == "error":
            return self.error + self.feedforward_output
        return self.error

    def _tensor(self, value: TensorLike) -> torch.Tensor:
        """As a (B, -1) tensor on the controller's device, without a copy where none is needed;
        the dtype is cast by the first operation that uses it."""
        return torch.as_tensor(value, device=self.device).reshape(self.batch_size, -1)

    def reset(self, mask: torch.Tensor | None = None) -> None:
        self.feedback.reset(mask)
        if self.rule.learns:
            self.basis.reset(mask)
            self.eligibility.reset(mask)
            if self.optimizer == "rls":
                self.learner.reset(mask)

    def step(self, reference: TensorLike, measurement: TensorLike, cue: TensorLike) -> torch.Tensor:
        error = torch.empty(self.batch_size, self.dofs, device=self.device, dtype=self.dtype)
        torch.sub(self._tensor(reference), self._tensor(measurement), out=error)
        self.error = error
        if not self.rule.learns:
            self.feedback_command = self.command = self.feedback.step(error)
            return self.command
        phi = self.basis.step(self._tensor(cue))
        self.trace = self.eligibility.step(phi)
        output = self.feedforward_output = self.feedforward(phi)
        if self.optimizer == "rls":
            self.learner.step(output)
        if self.rule.injection == "error":
            command = self.feedback_command = self.feedback.step(torch.add(error, output))
        else:
            command = self.feedback.step(error, feedforward=output)
            self.feedback_command = command - output
        self.command = command
        return command

    def update(self, error: TensorLike | None = None, active: torch.Tensor | None = None) -> None:
        """Learn from this step; ``error`` overrides the rule's teacher signal (B, D); envs where
        ``active`` (B,) is False do not learn (e.g. a step whose action a vector env ignored)."""
        if not self.rule.learns:
            return
        if error is not None:
            teacher = self._tensor(error).to(self.dtype)
        else:
            teacher = self.error if self.rule.teacher == "error" else self.feedback_command
        if self.optimizer == "rls":
            self.learner.update(self.feedforward, self.trace, teacher, active)
            return
        if active is not None:
            teacher = teacher * active.unsqueeze(1)
        self.learner.update(self.feedforward, self.trace, teacher)

    @property
    def weights(self) -> torch.Tensor | None:
        return self.feedforward.weights if self.rule.learns else None
