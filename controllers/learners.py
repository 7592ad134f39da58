"""How the feed-forward weights learn from the eligibility trace: one update per control step.

- ``GradientDescent`` (the paper's rule, the reference): W += beta * teacher . eps, with
  beta = learning_rate, or learning_rate / (regularization + mean_i |eps_i|^2) when normalised.
- ``RecursiveLeastSquares`` (faster): the least-squares weights for all the data seen so far,
  updated recursively, with the gain of the real loop relative to the forward model learned
  alongside, so that a model whose gain is off does not slow learning down.

A learner is made from its settings alone and handed to ``CFPC(..., learner=...)``, which binds
it to its rule and feed-forward module (``Learner.bind``): only then does a learner that keeps
state per env (recursive least squares) know the batch, the features, the device and the dtype.
``make_learner`` (``optimizers.py``) builds one by the config's optimizer name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
from torch import nn

from .diagonal_eligibility import full_trace
from .eligibility import ResponseFilter
from .penalties import check_penalty, penalty_matrix

if TYPE_CHECKING:
    from .feedforward import FeedForward
    from .forward_models import ForwardModel, TimeVaryingForwardModel
    from .rules import LearningRule


class Learner(nn.Module):
    """The update of the feed-forward weights, as a CFPC calls it.

    Per control step the controller calls ``step(o)`` with the feed-forward output, then (when it
    learns) ``update(feedforward, trace, teacher, active)`` once; ``reset(mask)`` starts a trial.
    Subclasses implement ``update``, and ``numpy_update`` where they run on the numpy backend.
    """

    name: ClassVar[str] = "custom"  # the config's optimizer name, for messages

    def bind(self, rule: LearningRule, feedforward: FeedForward, *, basis_size: int | None = None) -> None:
        """Fit the learner to the controller that holds it; CFPC calls it once, at construction.

        Args:
            rule: the controller's learning rule (its trace model, where its output goes).
            feedforward: the weights it will move (their batch, features, device and dtype).
            basis_size: K, the features per cue channel, ordered in time (None: one channel of F).

        Raises:
            ValueError: the learner cannot serve this controller.
        """

    def reset(self, mask: torch.Tensor | None = None, learn: bool = True) -> None:
        """Forget the per-trial memory of the envs in ``mask`` (all when None); none by default.
        ``learn`` False: learning is frozen, so a learner that steps between trials must not."""

    def step(self, feedforward_output: torch.Tensor) -> None:
        """Follow this step's feed-forward output o (B, D); nothing by default."""

    def update(
        self,
        feedforward: FeedForward,
        trace: torch.Tensor,
        teacher: torch.Tensor,
        active: torch.Tensor | None = None,
    ) -> None:  # pragma: no cover - interface
        """Move the weights once, from the last step.

        Args:
            feedforward: the module whose weights move, in place.
            trace: the eligibility trace eps (B, D_in, D_out, F), or (B, D, F) from a diagonal
                forward model (``full_trace`` spreads it, zeros off the diagonal).
            teacher: the teacher signal (B, D_out).
            active: (B,) bool; envs where it is False do not learn (None: all learn).
        """
        raise NotImplementedError

    def numpy_update(
        self, feedforward: FeedForward
    ) -> Callable[[np.ndarray, np.ndarray, np.ndarray | None], None]:  # pragma: no cover - interface
        """``update`` in numpy on the same weights (CPU), for the numpy backend.

        Args:
            feedforward: the module whose weights move, in place.

        Returns:
            ``update(trace, teacher, active)`` on arrays of the shapes ``update`` takes.
        """
        raise NotImplementedError

    @property
    def runs_in_numpy(self) -> bool:
        """Whether the learner has a numpy update."""
        return type(self).numpy_update is not Learner.numpy_update

    def set_forward_model(self, model: ForwardModel | TimeVaryingForwardModel) -> None:
        """Learn on under a new forward model (nothing to do by default).

        Raises:
            ValueError: the learner's statistics are tied to the model it began with.
        """


class GradientDescent(Learner):
    """W += step * sum_i teacher_i eps_i: stochastic gradient descent on J = 1/2 sum_k |e[k]|^2.

    Shared weights take the mean change of the envs that acted, so the step size does not depend
    on the batch size. ``learning_rate`` may be changed at any step.

    An optional penalty adds 1/2 w^T (ridge I + smoothness D^T D) w per step to the cost, D the
    second differences along each cue channel's basis index (``penalties.py``): each step
    then also moves W -= learning_rate (ridge W + smoothness D^T D W), in the envs that learn, so
    that a fine basis does not let high frequencies creep up. ``GaussNewton`` minimises the same
    cost. Without a penalty (the default) the update is exactly the plain one.

    Args:
        learning_rate: the step size (>= 0; 0 freezes the weights).
        normalized: divide the step by regularization + mean_i |eps_i|^2 per env (NLMS).
        regularization: the normalisation's floor (> 0).
        ridge: the weight decay per step (>= 0).
        smoothness: the penalty per step on the weights' curvature along the basis index (>= 0).

    Example:
        >>> learner = GradientDescent(0.05, normalized=True)  # then CFPC(pid, basis, rule, learner=learner)
    """

    name = "gradient"

    def __init__(
        self,
        learning_rate: float = 0.01,
        *,
        normalized: bool = False,
        regularization: float = 1e-3,
        ridge: float = 0.0,
        smoothness: float = 0.0,
    ):
        super().__init__()
        if learning_rate < 0:
            raise ValueError(f"learning_rate must be >= 0, got {learning_rate}")
        if regularization <= 0:
            raise ValueError(f"regularization must be > 0, got {regularization}")
        check_penalty(ridge, smoothness)
        self.learning_rate, self.normalized, self.regularization = learning_rate, normalized, regularization
        self.ridge, self.smoothness = ridge, smoothness

    @property
    def penalized(self) -> bool:
        """Whether the weights carry a penalty (ridge or smoothness)."""
        return self.ridge > 0 or self.smoothness > 0

    def bind(self, rule: LearningRule, feedforward: FeedForward, *, basis_size: int | None = None) -> None:
        """See ``Learner.bind``: builds the penalty matrix (F, F) where there is a penalty."""
        if not self.penalized:
            return
        weights = feedforward.weights
        matrix = penalty_matrix(self.ridge, self.smoothness, feedforward.features, basis_size)
        penalty = torch.as_tensor(matrix).to(device=weights.device, dtype=weights.dtype)
        if "penalty" in self._buffers and not torch.equal(self.penalty, penalty):
            raise ValueError("a GradientDescent with a penalty serves controllers of one basis: one each")
        self.register_buffer("penalty", penalty, persistent=False)

    def update(
        self,
        feedforward: FeedForward,
        trace: torch.Tensor,
        teacher: torch.Tensor,
        active: torch.Tensor | None = None,
    ) -> None:
        """See ``Learner.update``."""
        if not self.penalized or self.learning_rate == 0:
            self._step(feedforward, trace, teacher, active)
            return
        # The penalty's gradient at the weights before the step, in the envs that learn.
        decay = torch.matmul(feedforward.weights, self.penalty).mul_(self.learning_rate)
        if active is not None:
            decay.mul_(active.any() if feedforward.shared else active.reshape(-1, 1, 1))
        self._step(feedforward, trace, teacher, active)
        feedforward.weights.sub_(decay)

    def _step(
        self,
        feedforward: FeedForward,
        trace: torch.Tensor,
        teacher: torch.Tensor,
        active: torch.Tensor | None,
    ) -> None:
        if active is not None:
            teacher = teacher * active.unsqueeze(1)
            if feedforward.shared:  # the mean of the changes of the envs that acted
                teacher = teacher * (trace.shape[0] / active.sum().clamp(min=1).to(teacher.dtype))
        if self.learning_rate == 0:
            return
        if trace.dim() == 3:  # a diagonal model: W[i] learns from output i alone
            return self._diagonal_step(feedforward, trace, teacher)
        if self.normalized:  # mean_i |eps_i|^2 per env
            power = torch.linalg.vecdot(trace, trace).sum(1).mean(1)
            teacher = teacher / power.add_(self.regularization).unsqueeze(1)
        weights = feedforward.weights
        if feedforward.shared:  # the batch mean of the per-env changes, one matrix product per output
            rows = weights.view(1, -1)
            for i in range(trace.shape[2]):
                eps = trace[:, :, i, :].reshape(trace.shape[0], -1)
                rows.addmm_(teacher[:, i].unsqueeze(0), eps, alpha=self.learning_rate / trace.shape[0])
        else:
            for i in range(trace.shape[2]):
                weights.addcmul_(trace[:, :, i, :], teacher[:, i, None, None], value=self.learning_rate)

    def _diagonal_step(self, feedforward: FeedForward, trace: torch.Tensor, teacher: torch.Tensor) -> None:
        """``_step`` for a diagonal trace (B, D, F): the full step's nonzero terms only."""
        if self.normalized:  # mean_i |eps_i|^2 per env, the off-diagonal zeros left out
            power = torch.linalg.vecdot(trace, trace).sum(1).div_(trace.shape[1])
            teacher = teacher / power.add_(self.regularization).unsqueeze(1)
        if feedforward.shared:  # the batch mean of the per-env changes
            change = torch.einsum("bi,bif->if", teacher, trace)
            feedforward.weights[0].add_(change, alpha=self.learning_rate / trace.shape[0])
        else:
            feedforward.weights.addcmul_(trace, teacher[:, :, None], value=self.learning_rate)

    def numpy_update(
        self, feedforward: FeedForward
    ) -> Callable[[np.ndarray, np.ndarray, np.ndarray | None], None]:
        """See ``Learner.numpy_update``."""
        weights, shared = feedforward.weights.numpy(), feedforward.shared
        rows = weights.reshape(1, -1)
        change = np.empty(weights.shape[1:] if shared else weights.shape, dtype=weights.dtype)

        def update(trace: np.ndarray, teacher: np.ndarray, active: np.ndarray | None) -> None:
            batch = trace.shape[0]
            if active is not None:
                teacher = teacher * active[:, None]
                if shared:  # the mean of the changes of the envs that acted
                    teacher *= np.asarray(batch / max(active.sum(), 1), teacher.dtype)
            if self.learning_rate == 0:
                return
            # Read every step (it may be changed); a 0-d array of the weights' dtype: a Python float
            # costs more per op.
            rate = np.asarray(self.learning_rate, dtype=weights.dtype)
            if trace.ndim == 3:  # a diagonal model: W[i] learns from output i alone
                diagonal_update(trace, teacher, rate)
                return
            if self.normalized:
                power = np.einsum("blif,blif->bi", trace, trace).sum(1) / trace.shape[2]
                teacher = teacher / (power + self.regularization)[:, None]
            for i in range(trace.shape[2]):
                if shared:  # the batch mean of the per-env changes
                    np.matmul(teacher[:, i], trace[:, :, i, :].reshape(batch, -1), out=change.reshape(-1))
                    np.multiply(change, rate / batch, out=change)
                    np.add(rows, change.reshape(1, -1), out=rows)
                else:
                    np.multiply(trace[:, :, i, :], rate, out=change)
                    np.multiply(change, teacher[:, i, None, None], out=change)
                    np.add(weights, change, out=weights)

        def diagonal_update(trace: np.ndarray, teacher: np.ndarray, rate: np.ndarray) -> None:
            if self.normalized:  # mean_i |eps_i|^2 per env, the off-diagonal zeros left out
                power = np.einsum("bif,bif->b", trace, trace) / trace.shape[1]
                teacher = teacher / (power + self.regularization)[:, None]
            if shared:  # the batch mean of the per-env changes
                np.einsum("bi,bif->if", teacher, trace, out=change)
                np.multiply(change, rate / trace.shape[0], out=change)
                np.add(weights[0], change, out=weights[0])
            else:
                np.multiply(trace, rate, out=change)
                np.multiply(change, teacher[:, :, None], out=change)
                np.add(weights, change, out=weights)

        if not self.penalized:
            return update
        penalty, decay = self.penalty.numpy(), np.empty_like(weights)

        def penalized_update(trace: np.ndarray, teacher: np.ndarray, active: np.ndarray | None) -> None:
            np.matmul(weights, penalty, out=decay)  # the penalty's gradient before the step, as in torch
            np.multiply(decay, np.asarray(self.learning_rate, dtype=weights.dtype), out=decay)
            if active is not None:
                np.multiply(decay, active.any() if shared else active[:, None, None], out=decay)
            update(trace, teacher, active)
            np.subtract(weights, decay, out=weights)

        return penalized_update


class RecursiveLeastSquares(Learner):
    """Recursive least squares on the eligibility trace, per env, with the loop gain learned too.

    For a linear loop whose true map from o to the sensed output is c times the model T-hat, the
    sensed error of every step obeys, whatever the weights did before,

        e_i[k] = eps_i[k] . theta - c s_i[k] + r_i[k],    theta = c W*,  s = T-hat * o,

    with W* the least-squares weights and r their residual. That is a linear regression on the
    regressors (eps_i, -s_i) with fixed parameters (theta, c), so recursive least squares solves it
    exactly as data arrive, and the weights are W = theta / c. Prior: theta = 0 with precision
    ``regularization`` (a ridge penalty), c = 1 with variance ``loop_gain_variance`` (0 trusts the
    model's gain: plain recursive least squares on the error corrected for the weights' history).
    ``forgetting`` < 1 discounts old data per step, to follow a task that changes.

    It needs a counterfactual-error rule with a time-invariant forward model and per-env weights;
    its state (``estimate``, ``covariance``) is allocated when a CFPC binds it, so one learner
    serves one controller. Torch only.

    Args:
        forgetting: the factor in (0, 1] on old data per step.
        regularization: the prior precision of theta (> 0).
        loop_gain_variance: the prior variance of the loop gain c (>= 0).

    Example:
        >>> learner = RecursiveLeastSquares(forgetting=0.999)  # then CFPC(pid, basis, rule, learner=learner)
    """

    name = "rls"
    min_loop_gain = 0.1  # below a tenth of the model's, the estimate is not believed

    def __init__(
        self, *, forgetting: float = 1.0, regularization: float = 1e-3, loop_gain_variance: float = 10.0
    ):
        super().__init__()
        if not 0 < forgetting <= 1:
            raise ValueError(f"forgetting must be in (0, 1], got {forgetting}")
        if regularization <= 0:
            raise ValueError(f"rls regularization must be > 0, got {regularization}")
        if loop_gain_variance < 0:
            raise ValueError(f"loop_gain_variance must be >= 0, got {loop_gain_variance}")
        self.forgetting, self.regularization = forgetting, regularization
        self.loop_gain_variance = loop_gain_variance

    def bind(self, rule: LearningRule, feedforward: FeedForward, *, basis_size: int | None = None) -> None:
        """See ``Learner.bind``: allocates the estimate, covariance and response filter per env."""
        if "estimate" in self._buffers:
            raise ValueError("a RecursiveLeastSquares learner serves one controller; make one per controller")
        if rule.injection != "error":
            raise ValueError(f"optimizer rls needs a counterfactual-error rule, not {rule.name!r}")
        if feedforward.shared:
            raise ValueError("optimizer rls keeps one estimate per env: set shared_weights false")
        batch_size, weights = feedforward.batch_size, feedforward.weights
        kw = {"device": weights.device, "dtype": weights.dtype}
        size = rule.trace.inputs * feedforward.features + 1  # theta (D_in * F, channel-major), then c
        prior = torch.full((size,), 1.0 / self.regularization, **kw)
        prior[-1] = self.loop_gain_variance
        # P: the inverse information of (theta, c); kept exactly symmetric by rank-1 updates v v^T.
        self.register_buffer("covariance", torch.diag(prior).repeat(batch_size, 1, 1))
        self.register_buffer("estimate", torch.zeros(batch_size, size, **kw))
        self.estimate[:, -1] = 1.0
        self._covariance_bound = float(prior.sum())
        self.response = ResponseFilter(rule.trace, batch_size=batch_size, **kw)
        # Scratch and this step's s = T-hat * o: buffers, so that .to() moves them with the rest.
        self.register_buffer("_regressor", torch.zeros(batch_size, size, **kw), persistent=False)
        self.register_buffer("predicted", None, persistent=False)

    def reset(self, mask: torch.Tensor | None = None, learn: bool = True) -> None:
        """Per-trial memory only (the model's response to o); the estimate persists."""
        self.response.reset(mask)

    def step(self, feedforward_output: torch.Tensor) -> None:
        """Follow this step's o (B, D_in) through the model."""
        self.predicted = self.response.step(feedforward_output)

    def update(
        self,
        feedforward: FeedForward,
        trace: torch.Tensor,
        teacher: torch.Tensor,
        active: torch.Tensor | None = None,
    ) -> None:
        """One measurement per output DOF i: regressor (eps_i, -s_i), target teacher_i."""
        trace = full_trace(trace)  # a diagonal model's too: theta spans every weight
        covariance, estimate, regressor = self.covariance, self.estimate, self._regressor
        batch = trace.shape[0]
        for i in range(trace.shape[2]):
            regressor[:, :-1].copy_(trace[:, :, i, :].reshape(batch, -1))
            torch.neg(self.predicted[:, i], out=regressor[:, -1])
            spread = torch.bmm(covariance, regressor.unsqueeze(2)).squeeze(2)  # P z
            scale = torch.linalg.vecdot(regressor, spread).add_(self.forgetting).rsqrt_()
            if active is not None:
                scale.mul_(active)
            innovation = torch.linalg.vecdot(regressor, estimate).neg_().add_(teacher[:, i])
            direction = spread.mul_(scale.unsqueeze(1))  # v = P z / sqrt(lambda + z P z)
            estimate.addcmul_(direction, innovation.mul_(scale).unsqueeze(1))
            covariance.baddbmm_(direction.unsqueeze(2), direction.unsqueeze(1), alpha=-1.0)
        if self.forgetting < 1:
            self._forget(active)
        loop_gain = estimate[:, -1:].clamp(min=self.min_loop_gain)
        torch.div(estimate[:, :-1], loop_gain, out=feedforward.weights.view(batch, -1))

    def set_forward_model(self, model: ForwardModel | TimeVaryingForwardModel) -> None:
        """Refused: the statistics are of the responses of the model it began with."""
        raise ValueError("optimizer rls keeps its forward model; use optimizer gradient")

    def _forget(self, active: torch.Tensor | None) -> None:
        # Discount old data, but never let P grow past its prior (no windup while nothing excites it).
        size = torch.diagonal(self.covariance, dim1=1, dim2=2).sum(1)
        forgets = size < self._covariance_bound
        if active is not None:
            forgets.logical_and_(active.bool())
        factor = torch.where(forgets, 1.0 / self.forgetting, 1.0).to(self.covariance.dtype)
        self.covariance.mul_(factor[:, None, None])
