"""The least-squares optimum: the lowest error any linear feed-forward on the chosen basis reaches.

For a linear loop the error is affine in the weights, e = e0 - R w, where column j of R is the
closed-loop response to basis signal j injected as counterfactual error. R is measured by
simulation — one env per basis signal (plus one with no feed-forward), all in one batch — and
w* = argmin |e0 - R w|^2 is solved by least squares.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import RunConfig
from .responses import basis_responses


@dataclass(frozen=True)
class Optimum:
    rmse: float  # RMSE of the optimal residual, comparable with TrialRecord.rmse
    weights: np.ndarray  # (D, F)
    feedback_rmse: float  # RMSE with no feed-forward


def least_squares_optimum(config: RunConfig) -> Optimum:
    """The lowest RMSE any linear feed-forward on the config's basis reaches (exact for a linear
    loop): the responses to every basis signal measured in one batch, weights by least squares."""
    measured = basis_responses(config, amplitude=1.0)  # a unit weight each: exact for a linear loop
    baseline, columns = measured.error, measured.basis.shape[1]  # (N, D), D F
    design = measured.responses.transpose(0, 2, 1).reshape(-1, columns)  # rows: (step, output DOF)
    weights, *_ = np.linalg.lstsq(design, baseline.reshape(-1), rcond=None)
    residual = baseline.reshape(-1) - design @ weights
    return Optimum(
        rmse=float(np.sqrt(np.mean(residual**2))),
        weights=weights.reshape(baseline.shape[1], -1),
        feedback_rmse=measured.rmse,
    )


@dataclass(frozen=True)
class NonlinearOptimum:
    rmse: float  # RMSE at the best weights found
    weights: np.ndarray  # (D, F)
    feedback_rmse: float  # RMSE with no feed-forward
    rmse_history: list[float]  # RMSE after each accepted Gauss-Newton step (first: feedback alone)


def gauss_newton_optimum(
    config: RunConfig,
    *,
    weights: np.ndarray | None = None,
    iterations: int = 20,
    amplitude: float = 0.02,
    regularization: float = 1e-6,
    tolerance: float = 1e-3,
) -> NonlinearOptimum:
    """The best weights of the basis on the nonlinear env, by Gauss-Newton with a step-halving search.

    Each iteration measures the Jacobian of the sensed error w.r.t. every weight on the env itself
    (``basis_responses``: forward differences of ``amplitude``, one env per weight, one batch), solves
    the damped least-squares step min |e - R dw|^2 + regularization |R|^2 |dw|^2, and halves the step
    until the simulated RMSE falls. It stops when a step gains less than ``tolerance`` (relative) or
    no halving helps. It starts from ``weights`` (D, F), by default zero: a local descent, so a start
    near the optimum (e.g. learned weights) can end lower.
    """
    measured = basis_responses(config, weights, amplitude=amplitude)
    dofs = measured.error.shape[1]
    features = measured.basis.shape[1] // dofs
    feedback_rmse = (
        basis_responses(config, amplitude=amplitude).rmse if weights is not None else measured.rmse
    )
    weights = np.zeros((dofs, features)) if weights is None else np.asarray(weights, dtype=np.float64)
    best = measured.rmse
    history = [best]
    for _ in range(iterations):
        design = measured.responses.transpose(0, 2, 1).reshape(-1, weights.size)  # d e = -R d w
        ridge = regularization * np.sum(design**2)
        step = np.linalg.solve(
            design.T @ design + ridge * np.eye(weights.size), design.T @ measured.error.ravel()
        )
        for halving in range(6):
            trial = weights + step.reshape(weights.shape) / 2**halving
            candidate = basis_responses(config, trial, amplitude=amplitude)
            if candidate.rmse < best:
                break
        else:
            break
        gain = (best - candidate.rmse) / best
        weights, measured, best = trial, candidate, candidate.rmse
        history.append(best)
        if gain < tolerance:
            break
    return NonlinearOptimum(rmse=best, weights=weights, feedback_rmse=feedback_rmse, rmse_history=history)
