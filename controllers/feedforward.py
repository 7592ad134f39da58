"""The adaptive feed-forward module (Purkinje cells -> deep nuclei): o = W phi."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn


class FeedForward(nn.Module):
    """Linear readout of the basis. Weights per env (B, D, F), or one learner shared by the batch.

    A shared learner applies the batch-mean update, so its step size does not depend on B.

    Args:
        dofs: D, the outputs.
        features: F, the basis signals.
        batch_size: B, the envs.
        shared: one weight matrix (1, D, F) for the whole batch instead of one per env.
        device: where the weights live.
        dtype: the weights' dtype.

    Example:
        >>> feedforward = FeedForward(dofs=1, features=4, batch_size=2)
        >>> feedforward(torch.ones(2, 4)).shape  # (B, D); the weights start at zero
        torch.Size([2, 1])
    """

    def __init__(
        self,
        dofs: int,
        features: int,
        *,
        batch_size: int = 1,
        shared: bool = False,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        self.dofs, self.features, self.batch_size, self.shared = dofs, features, batch_size, shared
        rows = 1 if shared else batch_size
        self.register_buffer("weights", torch.zeros(rows, dofs, features, device=device, dtype=dtype))

    def forward(self, phi: torch.Tensor) -> torch.Tensor:
        """The output o = W phi.

        Args:
            phi: the basis signals (B, F).

        Returns:
            o (B, D), a fresh tensor.
        """
        if self.shared:
            return torch.mm(phi, self.weights[0].T)
        # A batched dot product: bmm of B tiny (D, F) @ (F, 1) products is ~40x slower at large B.
        return torch.linalg.vecdot(self.weights, phi.unsqueeze(1))

    def numpy_forward(self, phi: np.ndarray, output: np.ndarray) -> Callable[[], None]:
        """``forward`` in numpy on the same weights (CPU), for the numpy backend.

        Args:
            phi: the array (B, F) the basis writes each step, kept and read by every call.
            output: the array (B, D) every call writes o into.

        Returns:
            ``forward()``, reading ``phi`` and writing ``output`` in place.
        """
        weights, column, result = self.weights.numpy(), phi[:, :, None], output[:, :, None]

        def forward() -> None:
            np.matmul(weights, column, out=result)

        return forward

    def learn(self, delta: torch.Tensor) -> None:
        """Add a weight change.

        Args:
            delta: the change per env (B, D, F); shared weights take its batch mean.
        """
        self.weights.add_(delta.mean(0, keepdim=True) if self.shared else delta)
