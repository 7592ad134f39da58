"""The optimizers by the config's name: ``OPTIMIZERS`` and ``make_learner``."""

from __future__ import annotations

from .gauss_newton import GaussNewton
from .learners import GradientDescent, Learner, RecursiveLeastSquares

OPTIMIZERS = ("gradient", "rls", "gauss_newton")


# Per optimizer: its class, and its constructor's argument for each config setting it reads.
SETTINGS = {
    "gradient": (
        GradientDescent,
        {k: k for k in ("learning_rate", "normalized", "regularization", "ridge", "smoothness")},
    ),
    "rls": (
        RecursiveLeastSquares,
        {
            "forgetting": "forgetting",
            "rls_regularization": "regularization",
            "loop_gain_variance": "loop_gain_variance",
        },
    ),
    "gauss_newton": (
        GaussNewton,
        {
            k: k
            for k in (
                "damping",
                "damping_factor",
                "min_damping",
                "ridge",
                "smoothness",
                "patience",
                "jacobian",
            )
        },
    ),
}
KNOWN = {name for _, arguments in SETTINGS.values() for name in arguments}


def make_learner(optimizer: str = "gradient", **settings) -> Learner:
    """A learner by the config's optimizer name, from the config's (flat) learning settings.

    Each optimizer reads its own settings and ignores the others', as a config holds them all;
    a setting left out takes the learner's default.

    Args:
        optimizer: ``"gradient"`` (``GradientDescent``), ``"rls"`` (``RecursiveLeastSquares``) or
            ``"gauss_newton"`` (``GaussNewton``).
        **settings: The config's learning settings by their config names: gradient reads
            ``learning_rate``, ``normalized``, ``regularization``, ``ridge``, ``smoothness``; rls reads
            ``forgetting``, ``rls_regularization`` (its ``regularization``), ``loop_gain_variance``;
            gauss_newton reads ``damping``, ``damping_factor``, ``min_damping``, ``ridge``,
            ``smoothness``, ``patience``, ``jacobian``.

    Returns:
        The learner, unbound: give it to one ``CFPC``.

    Raises:
        ValueError: an unknown optimizer or setting, or a setting out of range.

    Example:
        >>> make_learner("rls", forgetting=0.999)
        RecursiveLeastSquares()
    """
    if optimizer not in SETTINGS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    unknown = sorted(set(settings) - KNOWN)
    if unknown:
        raise ValueError(f"unknown learning setting(s) {', '.join(unknown)}")
    learner, arguments = SETTINGS[optimizer]
    return learner(**{arguments[name]: value for name, value in settings.items() if name in arguments})
