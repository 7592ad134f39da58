"""The secant correction of the forward model's Jacobian, for ``GaussNewton(jacobian="secant")``.

Where the forward model's shape is wrong (a linearisation of a nonlinear body, a delay that is off),
Gauss-Newton on the model's Jacobian J_m settles where J_m^T e = 0, not at the real loop's optimum.
The trials measure the real Jacobian along the steps taken: for weights w_i and w_b (the best
trial) the stacked error (N steps x D_out) differs by y_i = e_b - e_i, and where the loop is affine
J s_i = y_i, s_i = w_i - w_b (the secant condition). Per env this keeps this trial's model rows J_m
(the eligibility traces) and errors, and the last ``window`` trials' weights and errors, and after
every trial (rejected ones too) uses the least change of J_m that meets their secants in least
squares (multi-secant quasi-Newton; with one pair, Broyden's 'good' update C = (y - J_m s) s^T / s^T s):

    J = J_m + C,   C = (Y - J_m S) S^+,   S = [s_i], Y = [y_i],

C recomputed against each trial's J_m (a model re-linearised along the movement changes it).
Trials of another length (N) than the best's add no secants, and then the model's A and g stand.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

F64 = torch.float64


class SecantJacobian(nn.Module):
    """Per env: this trial's model rows and errors, the last ``window`` trials' weights and errors and
    the best trial's errors (grown along the trial as steps come; ``state_dict`` keeps them, resized
    on load).

    Args:
        batch: envs B.
        rows: rows of weights (B, or 1 for shared weights).
        outputs: D_out, the error's channels.
        size: P, the weights per row.
        device: where the buffers live (float64 whatever the controller's dtype).
        window: the trials kept, whose secants correct the model (>= 1).
    """

    grown = ("model_rows", "errors", "history_errors", "best_errors")  # (B, [window,] N, D_out, ...)
    rcond = 1e-6  # secants along directions below this fraction of the largest step's are not resolved

    def __init__(self, batch: int, rows: int, outputs: int, size: int, device: torch.device, window: int = 8):
        super().__init__()
        kw = {"device": device, "dtype": F64}
        self.shared = rows != batch
        self.register_buffer("model_rows", torch.zeros(batch, 0, outputs, size, **kw))
        self.register_buffer("errors", torch.zeros(batch, 0, outputs, **kw))
        self.register_buffer("history_errors", torch.zeros(batch, window, 0, outputs, **kw))
        self.register_buffer("best_errors", torch.zeros(batch, 0, outputs, **kw))
        self.register_buffer("history_weights", torch.zeros(batch, window, size, **kw))
        self.register_buffer("history_steps", torch.zeros(batch, window, dtype=torch.long, device=device))
        for name in ("best_steps", "updates"):  # the best trial's steps (0: none); secants used last
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
            axis = 2 if name == "history_errors" else 1
            new = old.new_zeros((*old.shape[:axis], capacity, *old.shape[axis + 1 :]))
            new.narrow(axis, 0, old.shape[axis]).copy_(old)
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
        rows: torch.Tensor,
        steps: torch.Tensor,
        weights: torch.Tensor,
        best_weights: torch.Tensor,
        accept: torch.Tensor,
        information: torch.Tensor,
        gradient: torch.Tensor,
    ) -> None:
        """Keep the trials just ended, and set A and g of the best trials by the corrected Jacobian.

        Args:
            rows: the rows of weights whose trials ended (m,).
            steps: each env's steps this trial: of ``rows`` (m,), or of every env for shared weights (B,).
            weights: the weights each row ran this trial (m, P), float64.
            best_weights: each row's best weights, this trial decided (m, P), float64.
            accept: whether each row's trial became its best (m,).
            information: A = sum J^T J of every row (rows of weights, P, P), set in place for ``rows``
                whose best trial has this trial's length (elsewhere the model's stays).
            gradient: g = sum J^T e_best of every row (rows of weights, P), likewise.
        """
        if self.shared:  # one row: every env's secants, with the same weights
            envs, local = torch.arange(steps.shape[0], device=rows.device), torch.zeros_like(steps)
        else:
            envs, local = rows, torch.arange(rows.shape[0], device=rows.device)
        A, g, valid = self._corrected(envs, local, steps, weights, best_weights, accept)
        information[rows[valid]], gradient[rows[valid]] = A[valid], g[valid]

    def _corrected(
        self,
        envs: torch.Tensor,
        rows: torch.Tensor,
        steps: torch.Tensor,
        weights: torch.Tensor,
        best_weights: torch.Tensor,
        accept: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``end_trials`` per env: ``rows`` index ``weights`` and ``accept`` (m,) by env (n,).

        Returns:
            A (m, P, P) and g (m, P), summed over each row's envs, and whether they are valid (m,).
        """
        inside = torch.arange(self.capacity, device=envs.device)[None] < steps[:, None]  # (n, N)
        model = (self.model_rows[envs] * inside[:, :, None, None]).flatten(1, 2)  # (n, N D_out, P)
        error = self.errors[envs] * inside[:, :, None]
        for name, new in (("history_errors", error), ("history_weights", weights[rows])):
            self._buffers[name][envs] = torch.cat([new[:, None], self._buffers[name][envs, :-1]], 1)
        self.history_steps[envs] = torch.cat([steps[:, None], self.history_steps[envs, :-1]], 1)
        best = accept[rows]
        self.best_errors[envs[best]] = error[best]
        self.best_steps[envs[best]] = steps[best]
        best_error = self.best_errors[envs].flatten(1)  # (n, N D_out)
        # The secants from the best trial to each kept one of the same length: J s = y.
        same = (self.history_steps[envs] == steps[:, None]) & (self.best_steps[envs] == steps)[:, None]
        secants = (self.history_weights[envs] - best_weights[rows][:, None]) * same[:, :, None]  # (n, W, P)
        falls = (best_error[:, None] - self.history_errors[envs].flatten(2)) * same[:, :, None]  # (n, W, N D)
        residual = falls.transpose(1, 2) - model @ secants.transpose(1, 2)  # (n, N D, W)
        jacobian = model + residual @ torch.linalg.pinv(secants.transpose(1, 2), rtol=self.rcond)
        self.updates[envs] = torch.linalg.matrix_rank(secants, rtol=self.rcond)
        information = weights.new_zeros(weights.shape[0], weights.shape[1], weights.shape[1])
        information.index_add_(0, rows, jacobian.transpose(1, 2) @ jacobian)
        gradient = torch.einsum("bkp,bk->bp", jacobian, best_error)
        gradient = torch.zeros_like(weights).index_add_(0, rows, gradient)
        stale = rows.new_zeros(accept.shape).index_add_(0, rows, (self.best_steps[envs] != steps).long())
        return information, gradient, stale == 0
