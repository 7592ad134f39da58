"""The optimizers by the config's name: ``OPTIMIZERS`` and ``make_learner``."""

from __future__ import annotations

from .gauss_newton import GaussNewton
from .learners import GradientDescent, Learner, RecursiveLeastSquares

OPTIMIZERS = ("gradient", "rls", "gauss_newton")


def make_learner(
    optimizer: str = "gradient",
    *,
    learning_rate: float = 0.01,
    normalized: bool = False,
    regularization: float = 1e-3,
    forgetting: float = 1.0,
    rls_regularization: float = 1e-3,
    loop_gain_variance: float = 10.0,
    ridge: float = 0.0,
    smoothness: float = 0.0,
    damping: float = 1e-3,
    damping_factor: float = 10.0,
    min_damping: float = 1e-9,
    patience: int = 2,
    jacobian: str = "model",
) -> Learner:
    """A learner by the config's optimizer name, from the config's (flat) learning settings.

    Each optimizer reads its own settings and ignores the others', as a config holds them all.

    Args:
        optimizer: ``"gradient"`` (``GradientDescent``), ``"rls"`` (``RecursiveLeastSquares``) or
            ``"gauss_newton"`` (``GaussNewton``).
        learning_rate: gradient: the step size.
        normalized: gradient: normalise the step by the trace power.
        regularization: gradient: the normalisation's floor.
        forgetting: rls: the factor on old data per step.
        rls_regularization: rls: the prior precision of the weights (a ridge penalty).
        loop_gain_variance: rls: the prior variance of the loop gain.
        ridge: gradient and gauss_newton: the weight decay per step of the cost.
        smoothness: gradient and gauss_newton: the penalty per step on the weights' curvature
            along the basis index.
        damping: gauss_newton: the first step's damping, relative to the data's mean diagonal.
        damping_factor: gauss_newton: the damping's factor up or down between trials.
        min_damping: gauss_newton: the damping's floor.
        patience: gauss_newton: rejected trials in a row before a trial re-measures the best.
        jacobian: gauss_newton: ``"model"`` (the forward model's Jacobian) or ``"secant"`` (corrected
            after every trial by the error's measured change: Broyden's update).

    Returns:
        The learner, unbound: give it to one ``CFPC``.

    Raises:
        ValueError: an unknown optimizer, or a setting out of range.

    Example:
        >>> make_learner("rls", forgetting=0.999)
        RecursiveLeastSquares()
    """
    if optimizer == "gradient":
        return GradientDescent(
            learning_rate,
            normalized=normalized,
            regularization=regularization,
            ridge=ridge,
            smoothness=smoothness,
        )
    if optimizer == "rls":
        return RecursiveLeastSquares(
            forgetting=forgetting, regularization=rls_regularization, loop_gain_variance=loop_gain_variance
        )
    if optimizer == "gauss_newton":
        return GaussNewton(
            damping=damping,
            damping_factor=damping_factor,
            min_damping=min_damping,
            ridge=ridge,
            smoothness=smoothness,
            patience=patience,
            jacobian=jacobian,
        )
    raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
