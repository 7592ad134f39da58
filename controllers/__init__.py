"""CFPC control algorithms in torch (with numpy twins for small batches on the CPU), batched over
environments. Knows nothing of Gymnasium or MuJoCo."""

from .basis import BASES, AlphaBasis, Basis, RaisedCosineBasis, TappedDelayLine, TimeTable
from .cfpc import CFPC
from .feedback import PID
from .feedforward import FeedForward
from .forward_models import (
    EligibilityFilter,
    ForwardModel,
    ResponseFilter,
    TimeVaryingForwardModel,
    closed_loop,
    closed_loop_along,
    identify_arx,
    identify_fir,
    identity,
    plant_model,
    pure_delay,
    variance_accounted_for,
)
from .gain_adaptation import GAIN_RULES, GainAdaptation, second_order_model
from .learners import OPTIMIZERS, GradientDescent, RecursiveLeastSquares
from .rules import RULE_NAMES, LearningRule, make_rule
from .types import Controller

__all__ = [
    "BASES",
    "CFPC",
    "GAIN_RULES",
    "OPTIMIZERS",
    "PID",
    "RULE_NAMES",
    "AlphaBasis",
    "Basis",
    "Controller",
    "EligibilityFilter",
    "FeedForward",
    "GainAdaptation",
    "ForwardModel",
    "GradientDescent",
    "LearningRule",
    "RaisedCosineBasis",
    "RecursiveLeastSquares",
    "ResponseFilter",
    "TappedDelayLine",
    "TimeTable",
    "TimeVaryingForwardModel",
    "closed_loop",
    "closed_loop_along",
    "identify_arx",
    "identify_fir",
    "identity",
    "make_rule",
    "plant_model",
    "pure_delay",
    "second_order_model",
    "variance_accounted_for",
]
