"""A trial-level second-order learner: one damped Gauss-Newton (Levenberg-Marquardt) step per trial.

Within a trial the weights are fixed, and for a linear loop the sensed error is affine in them:
e[k] = e0[k] - J[k] w, where row i of J[k] is the eligibility trace eps[k, :, i, :] flattened
(P = D_in F columns, channel-major like the weights). Every step adds to

    A = sum_k J[k]^T J[k],   g = sum_k J[k]^T e[k],   c = 1/2 sum_k |e[k]|^2.

At the trial's end its cost C = c + 1/2 N w^T Q w (N steps, Q the weight penalty of
``penalties.py``, the cost ``GradientDescent`` descends too) is compared with the best trial's: a
trial that did not raise it is accepted (it becomes the best), one that did is rejected (its step
is undone). Then, from the best trial,

    w = w_best + dw,   (l^2 A + N Q + lambda s I) dw = l g - N Q w_best,

with s the mean diagonal of l^2 A + N Q (so the damping lambda is scale-free) and l the real
loop's gain relative to the model's, learned from every step tried: for a linear loop a step dw
moves the trial's g by l A dw, so l = sum dw.(g_best - g_trial) / sum dw.A dw (as
``RecursiveLeastSquares`` learns it per step). lambda is the trust region: it rises (x
``damping_factor``) on a rejection or where the corrected model missed the cost's change by more
than 3/4 of the step's curvature term 1/2 dw.H dw, and falls where it missed by less than 1/4
(the gain ratio's bands, Nocedal & Wright ch. 4). With an exact model on a linear loop one step
lands on the (regularised) least-squares optimum; a model whose gain alone is off costs one more
trial. With a per-step table basis this is norm-optimal ILC (Amann, Owens & Rogers 1996).

The best trial's cost goes stale when the task changes (a force field switched on) or is noisy (a
lucky trial): a trial whose step promised nothing (converged, or lambda at its ceiling) is
accepted whatever its cost, and after ``patience`` rejections in a row the next trial runs the
best weights unchanged, to be accepted so. Trials that vary from one to the next (random targets
or timing) make each step fit the last trial; the trust region then keeps the weights from
wandering but learning slows: gradient descent or recursive least squares suit those better.

``jacobian="secant"`` corrects the model's J by the errors the trials measured (``secant.py``) and
then learns no loop gain (l = 1): the correction takes it in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch

from .diagonal_eligibility import full_trace
from .learners import Learner
from .normal_equations import information_adder
from .penalties import check_penalty, penalty_matrix
from .secant import SecantJacobian

if TYPE_CHECKING:
    from .feedforward import FeedForward
    from .rules import LearningRule

F64 = torch.float64
# Kept in float64 whatever the controller's dtype (a .float() of the controller leaves them be).
FLOAT64_BUFFERS = (
    "penalty",
    "information",
    "gradient",
    "trial_cost",
    "best_information",
    "best_gradient",
    "best_cost",
    "damping",
    "predicted_fall",
    "loop_gain",
    "gain_evidence",
)


class GaussNewton(Learner):
    """A damped Gauss-Newton step on the weights between trials, kept only where the cost fell
    (the module docstring has the mathematics).

    The controller's steps only accumulate (A, g, c) per env (summed over the batch for shared
    weights); ``reset`` ends the trials of the envs it names that took at least one step, and
    moves their weights. Shared weights move once every env has ended its trial (``reset(None)``
    in the plain case); an env that ended early adds nothing more until then. Envs whose
    ``active`` is False do not accumulate that step. Sums and solve are float64 whatever the
    controller's dtype; the state is in buffers, so ``state_dict`` resumes it exactly.

    Diagnostics (tensors, one entry per env; one in all for shared weights): ``accepted_trials``,
    ``rejected_trials`` (each rejection undid a step), ``damping`` (lambda, relative),
    ``best_cost`` (1/2 sum |e|^2 of the best trial, penalty excluded, summed over the batch for
    shared weights) and ``loop_gain`` (l).

    It needs a rule whose output enters the error (eligibility, lms, delayed; with lms it fits phi
    itself by least squares); one learner serves one controller, which allocates its state when it
    binds it: two (P, P) float64 matrices per env (per batch for shared weights), and O(P^2 D) work
    per env and step.

    Args:
        damping: lambda for the first step, relative to the mean diagonal of A (> 0).
        damping_factor: lambda's factor, up or down, between trials (> 1).
        min_damping: lambda's floor (> 0, at most ``damping``).
        ridge: the weight decay per step of the cost (>= 0), as ``GradientDescent``'s.
        smoothness: the curvature penalty per step of the cost (>= 0), as ``GradientDescent``'s.
        patience: rejections in a row after which a trial re-measures the best weights (>= 1).
        jacobian: ``"model"`` (the traces' J) or ``"secant"`` (J corrected by the trials: ``secant.py``).

    Example:
        >>> learner = GaussNewton(smoothness=1e-3)  # then CFPC(pid, basis, rule, learner=learner)
        >>> learner.name
        'gauss_newton'
    """

    name = "gauss_newton"
    lower_below = 0.25  # the model missed a step's effect by less than this fraction: lambda falls
    raise_above = 0.75  # ... by more than this: lambda rises
    loop_gain_range = (0.1, 10.0)  # the real loop's gain relative to the model's, as believed
    max_damping = 1e6  # a step a millionth of Newton's: lambda's ceiling, where steps count as nothing
    negligible = 1e-6  # a predicted fall below this fraction of the cost is lost in float32 round-off

    def __init__(
        self,
        *,
        damping: float = 1e-3,
        damping_factor: float = 10.0,
        min_damping: float = 1e-9,
        ridge: float = 0.0,
        smoothness: float = 0.0,
        patience: int = 2,
        jacobian: str = "model",
    ):
        super().__init__()
        if not 0 < min_damping <= damping:
            raise ValueError(f"need 0 < min_damping <= damping, got {min_damping} and {damping}")
        if damping_factor <= 1:
            raise ValueError(f"damping_factor must be > 1, got {damping_factor}")
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        if jacobian not in ("model", "secant"):
            raise ValueError(f"jacobian must be 'model' or 'secant', got {jacobian!r}")
        check_penalty(ridge, smoothness)
        self.jacobian, self.secant = jacobian, None
        self.initial_damping, self.damping_factor, self.min_damping = damping, damping_factor, min_damping
        self.ridge, self.smoothness, self.patience = ridge, smoothness, patience

    def bind(self, rule: LearningRule, feedforward: FeedForward, *, basis_size: int | None = None) -> None:
        """See ``Learner.bind``: allocates the accumulators, the best trial and the trust region."""
        if "information" in self._buffers:
            raise ValueError("a GaussNewton learner serves one controller; make one per controller")
        if rule.injection != "error":
            raise ValueError(f"optimizer gauss_newton needs a counterfactual-error rule, not {rule.name!r}")
        self.__dict__["_feedforward"] = feedforward  # not a submodule: the controller owns it
        self.shared, self.outputs = feedforward.shared, rule.trace.outputs
        weights = feedforward.weights
        rows, dofs, features = weights.shape
        size, batch = dofs * features, feedforward.batch_size
        kw = {"device": weights.device, "dtype": F64}
        penalty = np.kron(np.eye(dofs), penalty_matrix(self.ridge, self.smoothness, features, basis_size))
        self.register_buffer("penalty", torch.as_tensor(penalty).to(**kw), persistent=False)
        # This trial: A and g per row of weights; cost, steps and "ended" (shared weights) per env.
        self.register_buffer("information", torch.zeros(rows, size, size, **kw))
        self.register_buffer("gradient", torch.zeros(rows, size, **kw))
        self.register_buffer("trial_cost", torch.zeros(batch, **kw))
        self.register_buffer("trial_steps", torch.zeros(batch, dtype=torch.long, device=weights.device))
        self.register_buffer("ended", torch.zeros(batch, dtype=torch.bool, device=weights.device))
        # The best trial, and the trust region around it.
        self.register_buffer("best_information", torch.zeros(rows, size, size, **kw))
        self.register_buffer("best_gradient", torch.zeros(rows, size, **kw))
        self.register_buffer("best_cost", torch.zeros(rows, **kw))
        self.register_buffer("best_steps", torch.zeros(rows, dtype=torch.long, device=weights.device))
        self.register_buffer("best_weights", torch.zeros_like(weights))
        self.register_buffer("has_best", torch.zeros(rows, dtype=torch.bool, device=weights.device))
        self.register_buffer("damping", torch.full((rows,), self.initial_damping, **kw))
        self.register_buffer("predicted_fall", torch.zeros(rows, **kw))
        self.register_buffer("loop_gain", torch.ones(rows, **kw))
        self.register_buffer("gain_evidence", torch.zeros(rows, 2, **kw))  # sums dw (g_b - g), dw A dw
        for counter in ("accepted_trials", "rejected_trials", "rejections_in_a_row"):
            self.register_buffer(counter, torch.zeros(rows, dtype=torch.long, device=weights.device))
        if self.jacobian == "secant":
            self.secant = SecantJacobian(batch, rows, self.outputs, size, weights.device)

    def _apply(self, fn, recurse: bool = True):
        kept = {name: self._buffers[name] for name in FLOAT64_BUFFERS if name in self._buffers}
        super()._apply(fn, recurse)
        device = self.trial_steps.device if kept else None
        for name, tensor in kept.items():  # moved with the rest, but never cast
            self._buffers[name] = tensor.to(device)
        return self

    # --- every step: accumulate ----------------------------------------------------------------

    def update(
        self,
        feedforward: FeedForward,
        trace: torch.Tensor,
        teacher: torch.Tensor,
        active: torch.Tensor | None = None,
    ) -> None:
        """Add this step's J^T J, J^T e and 1/2 |e|^2 to the trial's (see ``Learner.update``)."""
        trace = full_trace(trace)  # a diagonal model's too: J spans every weight
        batch, outputs = trace.shape[0], trace.shape[2]
        jacobian = trace.transpose(1, 2).reshape(batch, outputs, -1).to(F64)  # (B, D_out, P)
        error = teacher.to(F64)
        counts = active.to(device=error.device, dtype=torch.bool) if active is not None else None
        if self.shared:  # an env that ended its trial waits for the others
            counts = ~self.ended if counts is None else counts & ~self.ended
        if counts is not None:
            jacobian = jacobian * counts[:, None, None]
            error = error * counts[:, None]
        if self.secant is not None:
            self.secant.record(jacobian, error, counts, self.trial_steps)
        if self.shared:
            rows = jacobian.reshape(-1, jacobian.shape[2])
            self.information[0].addmm_(rows.T, rows)
            self.gradient[0].addmv_(rows.T, error.reshape(-1))
        else:
            self.information.baddbmm_(jacobian.transpose(1, 2), jacobian)
            self.gradient.unsqueeze(2).baddbmm_(jacobian.transpose(1, 2), error.unsqueeze(2))
        self.trial_cost.add_(error.square().sum(1), alpha=0.5)
        self.trial_steps.add_(1 if counts is None else counts.long())

    def numpy_update(
        self, feedforward: FeedForward
    ) -> Callable[[np.ndarray, np.ndarray, np.ndarray | None], None]:
        """See ``Learner.numpy_update``: the same sums, into numpy views of the same buffers."""
        information, gradient = self.information.numpy(), self.gradient.numpy()
        trial_cost, trial_steps, ended = self.trial_cost.numpy(), self.trial_steps.numpy(), self.ended.numpy()
        batch, (rows, dofs, features) = feedforward.batch_size, feedforward.weights.shape
        shared, size, outputs = self.shared, dofs * features, self.outputs
        jacobian, rise = np.empty((batch, outputs, size)), np.empty((rows, size))
        add_information = information_adder(information, shared)
        record = None if self.secant is None else self.secant.numpy_record()

        def update(trace: np.ndarray, teacher: np.ndarray, active: np.ndarray | None) -> None:
            trace = full_trace(trace)
            np.copyto(jacobian.reshape(batch, outputs, dofs, features), trace.transpose(0, 2, 1, 3))
            error = teacher.astype(np.float64)
            counts = None if active is None else np.asarray(active, dtype=bool)
            if shared:  # an env that ended its trial waits for the others
                counts = ~ended if counts is None else counts & ~ended
            if counts is not None:
                np.multiply(jacobian, counts[:, None, None], out=jacobian)
                error = error * counts[:, None]
            add_information(jacobian, counts)
            if record is not None:
                record(jacobian, error, counts, trial_steps)
            if shared:
                np.matmul(jacobian.reshape(-1, size).T, error.reshape(-1), out=rise[0])
            else:
                np.matmul(jacobian.transpose(0, 2, 1), error[:, :, None], out=rise[:, :, None])
            np.add(gradient, rise, out=gradient)
            np.add(trial_cost, 0.5 * np.square(error).sum(1), out=trial_cost)
            np.add(trial_steps, 1 if counts is None else counts, out=trial_steps)

        return update

    # --- between trials: decide and step -------------------------------------------------------

    def reset(self, mask: torch.Tensor | None = None, learn: bool = True) -> None:
        """End the trials of the envs in ``mask`` (all when None) that took a step: keep or undo
        their last step, and take the next (shared weights: once every env has ended its trial).
        With ``learn`` False (learning frozen) the weights stay: what the trials gathered is dropped."""
        if "information" not in self._buffers:
            return  # not bound yet: nothing learned
        device = self.trial_steps.device
        ending = torch.ones_like(self.ended) if mask is None else torch.as_tensor(mask, device=device).bool()
        if not learn:
            rows = (
                torch.arange(len(self.information), device=device) if self.shared else ending.nonzero()[:, 0]
            )
            self.information[rows], self.gradient[rows] = 0.0, 0.0
            self.trial_cost[ending], self.trial_steps[ending] = 0.0, 0
            self.ended[ending] = False
            return
        if self.shared:
            self.ended |= ending
            if not bool(self.ended.all()):
                return
            self.ended.zero_()
            steps, lengths = self.trial_steps.sum().reshape(1), self.trial_steps.clone()
            if int(steps) == 0:
                return
            rows = torch.zeros(1, dtype=torch.long, device=device)
            cost = self.trial_cost.sum().reshape(1)
            self.trial_cost.zero_()
            self.trial_steps.zero_()
        else:
            rows = torch.nonzero(ending & (self.trial_steps > 0)).squeeze(1)
            if rows.numel() == 0:
                return
            cost, steps = self.trial_cost[rows], self.trial_steps[rows]
            lengths = steps.clone()
            self.trial_cost[rows], self.trial_steps[rows] = 0.0, 0
        self._end_trials(rows, cost, steps.to(F64), lengths)

    def _end_trials(self, rows: torch.Tensor, cost: torch.Tensor, steps: torch.Tensor, lengths: torch.Tensor):
        """Accept or reject the trials just ended by ``rows`` of weights, then step from the best."""
        weights = self._feedforward.weights.view(self.best_weights.shape[0], -1)
        best_weights = self.best_weights.view(weights.shape)
        trial_weights, best = weights[rows].to(F64), best_weights[rows].to(F64)
        best_steps = self.best_steps[rows].to(F64)
        # The regularised costs of this trial and of the best one.
        total = cost + 0.5 * steps * self._quadratic(trial_weights)
        best_total = self.best_cost[rows] + 0.5 * best_steps * self._quadratic(best)
        # A step too damped to matter (its predicted fall nothing, or the damping at its ceiling)
        # tells nothing of the model: accepted, and the damping falls so that it never sticks there.
        negligible = self.has_best[rows] & (
            (self.predicted_fall[rows] <= self.negligible * best_total)
            | (self.damping[rows] >= self.max_damping)
        )
        fresh = ~self.has_best[rows] | negligible  # accepted, and the model not judged
        mismatch = self._judge(rows, fresh, trial_weights - best, best, best_steps, best_total - total)
        accept = fresh | (total <= best_total)
        damping = self.damping[rows]
        rise = ~accept | (~fresh & (mismatch > self.raise_above))
        fall = negligible | (~fresh & accept & (mismatch < self.lower_below))
        damping = torch.where(rise, (damping * self.damping_factor).clamp(max=self.max_damping), damping)
        damping = torch.where(fall, (damping / self.damping_factor).clamp(min=self.min_damping), damping)
        self.damping[rows] = damping

        kept = rows[accept]
        self.best_information[kept] = self.information[kept]
        self.best_gradient[kept] = self.gradient[kept]
        self.best_cost[kept] = cost[accept]
        self.best_steps[kept] = steps[accept].long()
        best_weights[kept] = weights[kept]
        self.has_best[rows] = True
        self.accepted_trials[rows] += accept.long()
        self.rejected_trials[rows] += (~accept).long()
        in_a_row = torch.where(accept, 0, self.rejections_in_a_row[rows] + 1)
        remeasure = in_a_row >= self.patience
        self.rejections_in_a_row[rows] = torch.where(remeasure, 0, in_a_row)
        self.information[rows], self.gradient[rows] = 0.0, 0.0
        if self.secant is not None:  # the next step's A and g by the corrected Jacobian
            best = best_weights[rows].to(F64)
            self.secant.end_trials(
                rows, lengths, trial_weights, best, accept, self.best_information, self.best_gradient
            )

        step, fall = self._step(rows, damping)
        # Re-measure: the best weights as they are, a step that promises nothing (so, accepted).
        step.masked_fill_(remeasure[:, None], 0.0)
        self.predicted_fall[rows] = fall.masked_fill_(remeasure, 0.0)
        weights[rows] = (best_weights[rows].to(F64) + step).to(weights.dtype)

    def _judge(
        self,
        rows: torch.Tensor,
        fresh: torch.Tensor,
        step: torch.Tensor,
        best: torch.Tensor,
        best_steps: torch.Tensor,
        actual_fall: torch.Tensor,
    ) -> torch.Tensor:
        """Learn the loop gain from the step just tried, and say how far the model missed its effect.

        For a linear loop the trial's gradient moved by Phi-hat^T Phi dw; if the loop is the model
        times a gain l, that is l A dw: so l = sum dw (g_best - g_trial) / sum dw A dw over the
        steps tried (least squares, as ``RecursiveLeastSquares`` learns it per step).

        Returns:
            |actual - predicted fall| / (1/2 dw^T H dw), by the model corrected by the new gain
            (0 where nothing was tried).
        """
        information, gradient = self.best_information[rows], self.best_gradient[rows]
        curvature = (step * torch.bmm(information, step.unsqueeze(2)).squeeze(2)).sum(1)  # dw A dw
        response = (step * (gradient - self.gradient[rows])).sum(1)
        tried = (~fresh & (curvature > 0)).to(F64)
        if self.secant is None:  # the secant's Jacobian takes the loop gain in
            self.gain_evidence[rows] += torch.stack([response, curvature], 1) * tried[:, None]
        evidence = self.gain_evidence[rows]
        gain = (evidence[:, 0] / evidence[:, 1]).clamp(*self.loop_gain_range)
        gain = torch.where(evidence[:, 1] > 0, gain, self.loop_gain[rows])
        self.loop_gain[rows] = gain
        penalised = best_steps * self._quadratic(step)
        scale = 0.5 * (gain.square() * curvature + penalised)
        descent = gain[:, None] * gradient - best_steps[:, None] * (best @ self.penalty)
        predicted = (step * descent).sum(1) - scale
        mismatch = (actual_fall - predicted).abs() / scale.clamp(min=torch.finfo(F64).tiny)
        return mismatch * tried

    def _step(self, rows: torch.Tensor, damping: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The damped Gauss-Newton step from the best trial of ``rows``, and the fall it predicts."""
        steps = self.best_steps[rows].to(F64)[:, None, None]
        best = self.best_weights.view(self.best_weights.shape[0], -1)[rows].to(F64)
        gain = self.loop_gain[rows]
        hessian = gain.square()[:, None, None] * self.best_information[rows] + steps * self.penalty
        descent = gain[:, None] * self.best_gradient[rows] - steps[:, :, 0] * (best @ self.penalty)
        scale = torch.diagonal(hessian, dim1=1, dim2=2).mean(1)
        shift = damping * torch.where(scale > 0, scale, 1.0)  # nothing learned yet: any positive shift
        system = hessian + shift[:, None, None] * torch.eye(hessian.shape[1], dtype=F64, device=rows.device)
        step, info = torch.linalg.solve_ex(system, descent)
        step = torch.where((info == 0)[:, None] & step.isfinite().all(1, keepdim=True), step, 0.0)
        fall = 0.5 * (step * (shift[:, None] * step + descent)).sum(1)
        return step, fall

    def _quadratic(self, weights: torch.Tensor) -> torch.Tensor:
        """w^T Q w per row of ``weights`` (n, P)."""
        return ((weights @ self.penalty) * weights).sum(1)
