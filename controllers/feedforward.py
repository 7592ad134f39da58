"""The adaptive feed-forward module (Purkinje cells -> deep nuclei): o = W phi."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn


class FeedForward(nn.Module):
    """Linear readout of the basis. Weights per env (B, D, F), or one learner shared by the batch.

    A shared learner applies the batch-mean update, so its step size does not depend on B.
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
        self.shared = shared
        rows = 1 if shared else batch_size
        self.register_buffer("weights", torch.zeros(rows, dofs, features, device=device, dtype=dtype))

    def forward(self, phi: torch.Tensor) -> torch.Tensor:
        """(B, F) -> (B, D)."""
        if self.shared:
            return torch.mm(phi, self.weights[0].T)
        # A batched dot product: bmm of B tiny (D, F) @ (F, 1) products is ~40x slower at large B.
        return torch.linalg.vecdot(self.weights, phi.unsqueeze(1))

    def numpy_forward(self, phi: np.ndarray, output: np.ndarray) -> Callable[[], None]:
        """``forward`` in numpy on the same weights (CPU), from the array ``phi`` (B, F) into the
        array ``output`` (B, D), both kept: ``forward()`` reads and writes them in place."""
        weights, column, result = self.weights.numpy(), phi[:, :, None], output[:, :, None]

        def forward() -> None:
            np.matmul(weights, column, out=result)

        return forward

    def learn(self, delta: torch.Tensor) -> None:
        """Add a weight change (B, D, F)."""
        self.weights.add_(delta.mean(0, keepdim=True) if self.shared else delta)
