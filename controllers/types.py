"""The controller contract, shared by every module in ``cfpc_gym.controllers``.

Every controller is a ``torch.nn.Module`` whose state tensors lead with the batch dimension B
(one row per environment) and D controlled degrees of freedom. Per control step:

    command = controller.step(reference, measurement, cue)   # (B, D), (B, D), (B, M) -> (B, D)
    controller.update()                                       # learn from this step's error

``reset(mask)`` clears per-trial memory (filters, integrators) of the envs where ``mask`` is
True (all when None); learned weights persist. ``state_dict()`` comes from ``nn.Module``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch

TensorLike = torch.Tensor | np.ndarray | float


@runtime_checkable
class Controller(Protocol):
    batch_size: int
    dofs: int

    def reset(self, mask: torch.Tensor | None = None) -> None: ...

    def step(self, reference: TensorLike, measurement: TensorLike, cue: TensorLike) -> torch.Tensor: ...

    def update(self, error: TensorLike | None = None) -> None: ...


def zero_where(state: torch.Tensor, mask: torch.Tensor | None) -> None:
    """Zero the rows of ``state`` (leading dim B) where ``mask`` is True, in place."""
    if mask is None:
        state.zero_()
    else:
        state.masked_fill_(mask.reshape(-1, *([1] * (state.dim() - 1))), 0.0)


def per_dof(value: TensorLike, dofs: int, name: str) -> torch.Tensor:
    """A scalar or a length-D sequence as a float64 (D,) tensor; clear error otherwise."""
    t = torch.as_tensor(np.asarray(value, dtype=np.float64))
    if t.dim() == 0:
        t = t.repeat(dofs)
    if t.shape != (dofs,):
        raise ValueError(
            f"{name} must be a scalar or have {dofs} entries (one per DOF), got shape {tuple(t.shape)}"
        )
    return t
