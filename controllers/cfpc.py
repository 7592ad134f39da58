"""Counterfactual predictive control: feedback driven by the actual error plus a learned,
anticipatory counterfactual error (Herreros, Arsiwalla & Verschure, NeurIPS 2016).

Per step k, for each env in the batch:
    e[k]  = reference - measurement                 actual (sensed) error
    phi   = basis(cue)                              granular layer
    eps   = T-hat * phi                             eligibility trace
    o     = W phi                                   feed-forward output
    u     = PID(e + o)      (or PID(e) + o for FEL) counterfactual error into feedback
and ``update()`` then learns W += step * teacher . eps (teacher = e, or the feedback command
for FEL), where step = learning_rate, or learning_rate / (regularization + mean_i |eps_i|^2)
when ``normalized``.
"""

from __future__ import annotations

import torch
from torch import nn

from .basis import Basis
from .feedback import PID
from .feedforward import FeedForward
from .forward_models import EligibilityFilter
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
    ):
        super().__init__()
        if learning_rate < 0:
            raise ValueError(f"learning_rate must be >= 0, got {learning_rate}")
        if regularization <= 0:
            raise ValueError(f"regularization must be > 0, got {regularization}")
        if basis.batch_size != feedback.batch_size:
            raise ValueError("feedback and basis must have the same batch size")
        self.batch_size, self.dofs, self.dt = feedback.batch_size, feedback.dofs, feedback.dt
        self.feedback, self.basis, self.rule = feedback, basis, rule
        self.learning_rate, self.normalized, self.regularization = learning_rate, normalized, regularization
        like = feedback.integral
        self.device, self.dtype = like.device, like.dtype
        if rule.learns:
            kw = {"batch_size": self.batch_size, "device": self.device, "dtype": self.dtype}
            self.feedforward = FeedForward(self.dofs, basis.features, shared=shared_weights, **kw)
            self.eligibility = EligibilityFilter(rule.trace, basis.features, **kw)
        # This step's signals, kept for update() and for logging.
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
        t = torch.as_tensor(value, device=self.device, dtype=self.dtype)
        return t.reshape(self.batch_size, -1)

    def reset(self, mask: torch.Tensor | None = None) -> None:
        self.feedback.reset(mask)
        if self.rule.learns:
            self.basis.reset(mask)
            self.eligibility.reset(mask)

    def step(self, reference: TensorLike, measurement: TensorLike, cue: TensorLike) -> torch.Tensor:
        self.error = self._tensor(reference) - self._tensor(measurement)
        if not self.rule.learns:
            self.feedback_command = self.command = self.feedback.step(self.error)
            return self.command
        phi = self.basis.step(self._tensor(cue))
        self.trace = self.eligibility.step(phi)
        self.feedforward_output = self.feedforward(phi)
        if self.rule.injection == "error":
            command = self.feedback.step(self.error + self.feedforward_output)
            self.feedback_command = command
        else:
            command = self.feedback.step(self.error, feedforward=self.feedforward_output)
            self.feedback_command = command - self.feedforward_output
        self.command = command
        return command

    def update(self, error: TensorLike | None = None, active: torch.Tensor | None = None) -> None:
        """Learn from this step; ``error`` overrides the rule's teacher signal (B, D); envs where
        ``active`` (B,) is False do not learn (e.g. a step whose action a vector env ignored)."""
        if not self.rule.learns or self.learning_rate == 0:
            return
        if error is not None:
            teacher = self._tensor(error)
        else:
            teacher = self.error if self.rule.teacher == "error" else self.feedback_command
        if active is not None:
            teacher = teacher * active.to(teacher)[:, None]
        delta = (teacher[:, None, None, :] @ self.trace).squeeze(2)  # sum_i teacher_i eps_li: (B, D, F)
        if self.normalized:
            power = self.trace.square().sum(dim=(1, 3)).mean(dim=1)  # mean_i |eps_i|^2, (B,)
            delta = delta / (self.regularization + power)[:, None, None]
        self.feedforward.learn(self.learning_rate * delta)

    @property
    def weights(self) -> torch.Tensor | None:
        return self.feedforward.weights if self.rule.learns else None
