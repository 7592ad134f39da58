"""CFPC control algorithms in torch (with numpy twins for small batches on the CPU), batched over
environments. Knows nothing of Gymnasium or MuJoCo."""

from .backends import Backend, NumpyBackend, TorchBackend
from .basis import BASES, AlphaBasis, Basis, RaisedCosineBasis, TappedDelayLine, TimeTable
from .cfpc import CFPC
from .closed_loops import closed_loop, closed_loop_along, identity, plant_model, pure_delay
from .diagonal_eligibility import DiagonalEligibilityFilter
from .eligibility import EligibilityFilter, ResponseFilter
from .feedback import PID
from .feedforward import FeedForward
from .forward_models import DiagonalForwardModel, ForwardModel, TimeVaryingForwardModel
from .gain_adaptation import GAIN_RULES, GainAdaptation, second_order_model
from .gauss_newton import GaussNewton
from .identification import identify_arx, identify_fir, variance_accounted_for
from .learners import GradientDescent, Learner, RecursiveLeastSquares
from .optimizers import OPTIMIZERS, make_learner
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
    "Backend",
    "Basis",
    "Controller",
    "DiagonalEligibilityFilter",
    "DiagonalForwardModel",
    "EligibilityFilter",
    "FeedForward",
    "ForwardModel",
    "GainAdaptation",
    "GaussNewton",
    "GradientDescent",
    "Learner",
    "LearningRule",
    "NumpyBackend",
    "RaisedCosineBasis",
    "RecursiveLeastSquares",
    "ResponseFilter",
    "TappedDelayLine",
    "TimeTable",
    "TimeVaryingForwardModel",
    "TorchBackend",
    "closed_loop",
    "closed_loop_along",
    "identify_arx",
    "identify_fir",
    "identity",
    "make_learner",
    "make_rule",
    "plant_model",
    "pure_delay",
    "second_order_model",
    "variance_accounted_for",
]
