"""The secant (Broyden) correction of the forward model's Jacobian, for ``GaussNewton(jacobian="secant")``.

Where the forward model's shape is wrong (a linearisation of a nonlinear body, a delay that is off),
Gauss-Newton on the model's Jacobian J_m settles where J_m^T e = 0, not at the optimum of the real
loop. The trials themselves measure the real Jacobian along every step taken: between two trials of
weights w' and w, the stacked error (N steps x D_out) fell by de = e' - e, and the real Jacobian J
obeys the secant condition J (w - w') = de where the loop is affine in the weights. Per env this
keeps this trial's model rows J_m (N x D_out, P, the eligibility traces) and errors e, and a
correction C of the same shape, and after every trial takes Broyden's 'good' update (quasi-Newton
least squares, Dennis & Schnabel 1983 ch. 8 and 10)

    J = J_m + C,   C += (de - J dw) dw^T / dw^T dw,   dw = w - w',

the least change of C that satisfies the secant condition: after a few trials J is the real
Jacobian along the directions the weights took, and the fixed point of J^T e = 0 is the real
optimum. A rejected trial adds its secant as well. A trial whose length differs from the last
one's (N steps) discards the correction; a step too small to show above round-off adds nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

F64 = torch.float64


class SecantJacobian(nn.Module):
    """Per env: this trial's model rows and errors, the last and the best trial's errors, the
    correction C; grown along the trial as steps come (``state_dict`` keeps them, resized on load).

    Args:
        batch: envs B.
        rows: rows of weights (B, or 1 for shared weights).
        outputs: D_out, the error's channels.
        size: P, the weights per row.
        device: where the buffers live (float64 whatever the controller's dtype).
    """

    grown = ("model_rows", "errors", "correction", "previous_errors", "best_errors")  # (B, N, D_out, ...)
    min_step = 1e-7  # a step whose predicted effect |J dw| is below this fraction of |e| adds nothing

    def __init__(self, batch: int, rows: int, outputs: int, size: int, device: torch.device):
        super().__init__()
        kw = {"device": device, "dtype": F64}
        for name in self.grown:  # capacity 0 steps until the first trial's steps come
            shape = (batch, 0, outputs, size) if name in ("model_rows", "correction") else (batch, 0, outputs)
            self.register_buffer(name, torch.zeros(shape, **kw))
        self.register_buffer("previous_weights", torch.zeros(rows, size, **kw))
        for name in ("previous_steps", "best_steps", "updates"):  # steps of those trials (0: none); updates
            self.register_buffer(name, torch.zeros(batch, dtype=torch.long, device=device))

    def _apply(self, fn, recurse: bool = True):
        kept = dict(self._buffers)
        super()._apply(fn, recurse)
        device = self.updates.device
        for name, tensor in kept.items():  # moved, never cast
            self._buffers[name] = tensor.to(device)
        return self

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in self.grown:  # take the saved capacity before copying
            saved = state_dict.get(prefix + name)
            if saved is not None and saved.shape != self._buffers[name].shape:
                self._buffers[name] = self._buffers[name].new_zeros(saved.shape)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @property
    def capacity(self) -> int:
        """The steps per trial the buffers hold."""
        return self.errors.shape[1]

    def reserve(self, steps: int) -> None:
        """Grow the buffers to hold at least ``steps`` steps per trial (doubling), keeping their contents."""
        if steps <= self.capacity:
            return
        capacity = max(steps, 2 * self.capacity, 64)
        for name in self.grown:
            old = self._buffers[name]
            new = old.new_zeros((old.shape[0], capacity, *old.shape[2:]))
            new[:, : old.shape[1]] = old
            self._buffers[name] = new

    def record(
        self, jacobian: torch.Tensor, error: torch.Tensor, counts: torch.Tensor | None, position: torch.Tensor
    ) -> None:
        """Keep this step's model rows J_m (B, D_out, P) and error (B, D_out) at each env's ``position``
        (its steps so far this trial), for the envs that count (all when ``counts`` is None)."""
        envs = torch.arange(error.shape[0], device=error.device) if counts is None else counts.nonzero()[:, 0]
        if envs.numel() == 0:
            return
        at = position[envs]
        self.reserve(int(at.max()) + 1)
        self.model_rows[envs, at] = jacobian[envs]
        self.errors[envs, at] = error[envs]

    def numpy_record(self) -> Callable[[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray], None]:
        """``record`` on numpy arrays, into views of the same buffers (taken again when they grow)."""
        views = [self.model_rows.numpy(), self.errors.numpy()]
        everyone = np.arange(self.errors.shape[0])

        def record(jacobian: np.ndarray, error: np.ndarray, counts: np.ndarray | None, position: np.ndarray):
            envs = everyone if counts is None else np.flatnonzero(counts)
            if envs.size == 0:
                return
            at = position[envs]
            if at.max() >= views[1].shape[1]:
                self.reserve(int(at.max()) + 1)
                views[:] = [self.model_rows.numpy(), self.errors.numpy()]
            views[0][envs, at] = jacobian[envs]
            views[1][envs, at] = error[envs]

        return record

    def end_trials(
        self,
        envs: torch.Tensor,
        rows: torch.Tensor,
        steps: torch.Tensor,
        weights: torch.Tensor,
        accept: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Take the secant update of the trials just ended, and give the best trials' A and g by J_m + C.

        Args:
            envs: the envs whose trials ended (n,).
            rows: each env's row of weights, as an index into ``weights`` and ``accept`` (n,).
            steps: each env's steps this trial (n,).
            weights: the weights each row ran this trial (m, P), float64.
            accept: whether each row's trial became its best (m,).

        Returns:
            A = sum J^T J (m, P, P) and g = sum J^T e_best (m, P) per row, summed over its envs, and
            whether each row's best trial has this trial's length (m,): where not, A and g are void.
        """
        capacity = self.capacity
        inside = torch.arange(capacity, device=envs.device)[None] < steps[:, None]  # (n, N)
        model = self.model_rows[envs] * inside[:, :, None, None]
        error = self.errors[envs] * inside[:, :, None]
        same = (self.previous_steps[envs] == steps) & (steps > 0)
        correction = self.correction[envs] * (inside & same[:, None])[:, :, None, None]
        # Broyden's update: J dw = de along the step from the last trial to this one.
        step = weights[rows] - self.previous_weights[self._row_index(envs, rows)]
        fall = self.previous_errors[envs] * inside[:, :, None] - error
        effect = torch.einsum("bkdp,bp->bkd", model + correction, step)
        size = step.square().sum(1)
        shows = effect.flatten(1).norm(dim=1) > self.min_step * error.flatten(1).norm(dim=1)
        taken = same & (size > 0) & shows
        scale = torch.where(taken, 1.0 / torch.where(size > 0, size, 1.0), 0.0)
        correction += torch.einsum("bkd,bp->bkdp", (fall - effect) * scale[:, None, None], step)
        self.correction[envs] = correction
        self.updates[envs] += taken.long()
        self.previous_errors[envs] = error
        self.previous_steps[envs] = steps
        self.previous_weights[self._row_index(envs, rows)] = weights[rows]
        best = accept[rows]
        self.best_errors[envs[best]] = error[best]
        self.best_steps[envs[best]] = steps[best]
        # A and g per row by the corrected Jacobian, at the best trial's error.
        jacobian = (model + correction).flatten(1, 2)  # (n, N D_out, P)
        best_error = self.best_errors[envs].flatten(1)
        information = weights.new_zeros(weights.shape[0], weights.shape[1], weights.shape[1])
        information.index_add_(0, rows, jacobian.transpose(1, 2) @ jacobian)
        gradient = torch.zeros_like(weights).index_add_(0, rows, torch.einsum("bkp,bk->bp", jacobian, best_error))
        stale = rows.new_zeros(accept.shape).index_add_(0, rows, (self.best_steps[envs] != steps).long())
        return information, gradient, stale == 0

    def _row_index(self, envs: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """The rows of ``previous_weights`` of ``envs`` (all 0 for shared weights)."""
        return envs if self.previous_weights.shape[0] == self.errors.shape[0] else torch.zeros_like(envs)
