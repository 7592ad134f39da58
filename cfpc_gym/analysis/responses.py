"""The true closed-loop response to feed-forward, measured on the (nonlinear) env, and how well a
forward model predicts it.

The eligibility trace of weight W[l, f] is meant to be d(sensed output)/d W[l, f]: the loop's
response to basis signal f injected as counterfactual error on channel l. ``basis_responses``
measures exactly that on the real env, by finite differences about given weights: one env runs
the weights as they are, and one env per weight runs them with that weight raised by
``amplitude`` (all in one batch, same seed); the difference of sensed outputs, divided by
``amplitude``, is the response. ``fit_quality`` compares it with the forward model's prediction
(the model run on the same basis signal) as variance accounted for; ``gauss_newton_optimum``
(optimum.py) descends on it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ..agent import CFPCAgent
from ..build import forward_model, make_controller, make_env, make_vector_env
from ..config import ControllerConfig, RunConfig
from ..controllers import ForwardModel, TimeVaryingForwardModel, variance_accounted_for
from ..rollout import run_trial

# A controller whose weights are set, never learned: each env of the batch runs one weight raised.
FIXED_WEIGHTS = ControllerConfig(name="fixed-weights", rule="lms", learning_rate=0.0)


@dataclass(frozen=True)
class BasisResponses:
    """Responses about weights W (D, F); columns j = l F + f (channel l, basis f)."""

    error: np.ndarray  # (N, D) sensed error r - y with weights W
    responses: np.ndarray  # (N, D F, D): d y / d W_j, per unit weight
    basis: np.ndarray  # (N, D F): the basis signal of weight j (on its channel l)

    @property
    def rmse(self) -> float:
        return float(np.sqrt(np.mean(self.error**2)))


def basis_responses(config: RunConfig, weights: np.ndarray | None = None, amplitude: float = 0.02):
    """Finite-difference response of the nonlinear loop to every weight, about ``weights``."""
    first = make_env(config)
    controller = make_controller(config, FIXED_WEIGHTS, first, batch_size=1)
    dofs, features = controller.dofs, controller.basis.features
    columns = dofs * features
    base = np.zeros((dofs, features)) if weights is None else np.asarray(weights, dtype=np.float64)
    envs = make_vector_env(config, columns + 1)
    controller = make_controller(config, FIXED_WEIGHTS, first, batch_size=columns + 1)
    batch = np.repeat(base.reshape(1, columns), columns + 1, axis=0)
    batch[1:] += amplitude * np.eye(columns)
    controller.weights.copy_(torch.as_tensor(batch.reshape(-1, dofs, features)))
    record = run_trial(CFPCAgent(envs, controller), learn=False, seeds=[config.seed] * (columns + 1))
    envs.close()
    first.close()
    error = record.error[:, 0]
    responses = (error[:, None, :] - record.error[:, 1:]) / amplitude  # y = r - e
    raised = (record.feedforward[:, 1:] - record.feedforward[:, :1]) / amplitude  # (N, D F, D)
    channel = np.arange(columns) // features
    basis = raised[:, np.arange(columns), channel]
    return BasisResponses(error=error, responses=responses, basis=basis)


def predicted_responses(
    model: ForwardModel | TimeVaryingForwardModel, measured: BasisResponses
) -> np.ndarray:
    """The model's response (N, D F, D) to each weight's basis signal on its channel."""
    steps, columns = measured.basis.shape
    features = columns // model.inputs
    predicted = np.empty((steps, columns, model.outputs))
    for j in range(columns):
        inputs = np.zeros((steps, model.inputs))
        inputs[:, j // features] = measured.basis[:, j]
        predicted[:, j] = model.simulate(inputs)
    return predicted


def error_gradient(responses: np.ndarray, error: np.ndarray) -> np.ndarray:
    """R^T e (D F,): the weight change that descends the squared error (N, D), from responses
    (N, D F, D): measured ones give the true gradient, a forward model's the one its rule follows."""
    return responses.transpose(0, 2, 1).reshape(-1, responses.shape[1]).T @ error.ravel()


@dataclass(frozen=True)
class FitQuality:
    """Variance accounted for by a forward model's predicted responses, over every weight and output.

    The true response is measured by raising each weight (``vaf_raise``) and by lowering it
    (``vaf_lower``); ``vaf`` compares with their mean, the odd (linear) part, which is all a linear
    model can represent. Muscles make the two differ: activation is fast, deactivation slow.
    """

    vaf: float
    vaf_raise: float
    vaf_lower: float
    build_seconds: float  # time to build the forward model (linearise, probe, fit)
    model: ForwardModel | TimeVaryingForwardModel


def fit_quality(config: RunConfig, controller: ControllerConfig, amplitude: float = 0.02) -> FitQuality:
    """How well ``controller``'s forward model predicts the nonlinear loop's response to each weight
    about zero weights (feedback alone tracking the reference), probed with +-``amplitude``."""
    env = make_env(config)
    start = time.perf_counter()
    model = forward_model(config, controller, env)
    seconds = time.perf_counter() - start
    env.close()
    raised, lowered = (
        basis_responses(config, amplitude=amplitude),
        basis_responses(config, amplitude=-amplitude),
    )
    predicted = predicted_responses(model, raised)
    odd = (raised.responses + lowered.responses) / 2
    return FitQuality(
        vaf=variance_accounted_for(odd, predicted),
        vaf_raise=variance_accounted_for(raised.responses, predicted),
        vaf_lower=variance_accounted_for(lowered.responses, predicted),
        build_seconds=seconds,
        model=model,
    )
