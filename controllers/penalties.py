"""The penalty on the feed-forward weights that the optimizers share: 1/2 w^T (ridge I + smoothness D^T D) w
per control step, added to the cost 1/2 |e|^2, so that a fine basis (many bumps, a per-step table)
does not let high frequencies creep into the learned feed-forward (a Q filter, in ILC's words)."""

from __future__ import annotations

import numpy as np


def check_penalty(ridge: float, smoothness: float) -> None:
    """Refuse a negative penalty.

    Args:
        ridge: the weight decay.
        smoothness: the curvature penalty.

    Raises:
        ValueError: either is negative.
    """
    if ridge < 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    if smoothness < 0:
        raise ValueError(f"smoothness must be >= 0, got {smoothness}")


def smoothness_penalty(features: int, basis_size: int | None = None) -> np.ndarray:
    """D^T D, with D the second differences of the weights along each cue channel's basis index.

    The features of a basis are channel-major and, within a channel, ordered in time (bump
    centres, table slots, delays), so w^T D^T D w sums the squared curvature of each channel's
    learned profile and never couples two channels.

    Args:
        features: F, the features per feed-forward output.
        basis_size: K, the features per cue channel (None: one channel of F).

    Returns:
        The (F, F) block-diagonal matrix (zero where K < 3: no curvature to penalise).

    Raises:
        ValueError: F is not a multiple of K.

    Example:
        >>> smoothness_penalty(3).tolist()
        [[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]]
    """
    size = features if basis_size is None else basis_size
    if size < 1 or features % size:
        raise ValueError(f"{features} features do not split into cue channels of {size}")
    differences = np.diff(np.eye(size), n=2, axis=0)  # (K - 2, K); empty where K < 3
    return np.kron(np.eye(features // size), differences.T @ differences)


def penalty_matrix(
    ridge: float, smoothness: float, features: int, basis_size: int | None = None
) -> np.ndarray:
    """ridge I + smoothness D^T D for one feed-forward output's weights.

    Args:
        ridge: the weight decay.
        smoothness: the curvature penalty.
        features: F, the features per output.
        basis_size: K, the features per cue channel (None: one channel of F).

    Returns:
        The (F, F) matrix.
    """
    return ridge * np.eye(features) + smoothness * smoothness_penalty(features, basis_size)
