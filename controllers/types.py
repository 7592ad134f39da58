"""The controller contract, shared by every module in ``cfpc_gym.controllers``.

Every controller is a ``torch.nn.Module`` for a batch of B environments (one row per env) with D
controlled degrees of freedom; its state tensors lead with B. Per control step:

    command = controller.step(reference, measurement, cue)   # (B, D), (B, D), (B, M) -> (B, D)
    controller.update()                                       # learn from that step, once

- ``step`` computes this step's command and records what learning needs: the step's error,
  feed-forward output, feedback command and eligibility trace.
- ``update(error=None, active=None)`` learns once from the last ``step``: that step's trace, and
  its teacher signal (the sensed error, or the feedback command for FEL), or ``error`` (B, D)
  instead; envs where ``active`` (B,) is False do not learn. It comes after the step: ``update``
  before any ``step``, or twice for one step, raises ``RuntimeError``. Skipping it is allowed
  (learning frozen for that step); the next ``step`` replaces what it would have learned from.
- ``reset(mask)`` starts a trial for the envs where ``mask`` (B,) is True (all when None): it
  clears their per-trial memory (PID integral and derivative, basis cue history, the states of
  the trace and other filters). Learned weights, adapted gains, learner estimates and the operating point
  persist, and so does the last step's record: an ``update`` after a ``reset`` still learns from
  the step before it. A learner that steps between trials (``GaussNewton``) moves the weights of
  the envs whose trials ``reset`` ends: update a trial's last step before the reset.
- ``state_dict()`` / ``load_state_dict()`` come from ``nn.Module``: weights, gains and filter
  state (checkpoints fall between trials).

Inputs may be tensors, host arrays or nested sequences; commands and logged signals are tensors
on the controller's device and of its dtype.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch

TensorLike = torch.Tensor | np.ndarray | float


@runtime_checkable
class Controller(Protocol):
    """What a controller offers (see the module docstring for the step/update contract).

    Attributes:
        batch_size: B, the envs.
        dofs: D, the controlled degrees of freedom.
    """

    batch_size: int
    dofs: int

    def reset(self, mask: torch.Tensor | None = None, learn: bool = True) -> None:
        """Start a trial for the envs in ``mask`` (B,) bool (all when None); learning persists.
        ``learn`` False: learning is frozen, so no weight moves at the trial boundary either."""
        ...

    def step(self, reference: TensorLike, measurement: TensorLike, cue: TensorLike) -> torch.Tensor:
        """One control step: reference (B, D), measurement (B, D), cue (B, M) -> command (B, D)."""
        ...

    def update(self, error: TensorLike | None = None, active: TensorLike | None = None) -> None:
        """Learn once from the last step (RuntimeError without a step since the last update)."""
        ...


def zero_where(state: torch.Tensor, mask: torch.Tensor | None) -> None:
    """Zero the rows of ``state`` where ``mask`` is True, in place.

    Args:
        state: a tensor whose leading dimension is the batch B.
        mask: (B,) bool, or None for every row.
    """
    if mask is None:
        state.zero_()
    else:
        state.masked_fill_(mask.reshape(-1, *([1] * (state.dim() - 1))), 0.0)


def per_dof(value: TensorLike, dofs: int, name: str) -> torch.Tensor:
    """A scalar or a length-D sequence as a float64 (D,) tensor.

    Args:
        value: a scalar, or one value per DOF.
        dofs: D.
        name: the argument's name, for the error message.

    Returns:
        The (D,) float64 tensor.

    Raises:
        ValueError: ``value`` has neither shape.
    """
    t = torch.as_tensor(np.asarray(value, dtype=np.float64))
    if t.dim() == 0:
        t = t.repeat(dofs)
    if t.shape != (dofs,):
        raise ValueError(
            f"{name} must be a scalar or have {dofs} entries (one per DOF), got shape {tuple(t.shape)}"
        )
    return t
