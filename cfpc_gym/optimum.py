"""The least-squares optimum: the lowest error any linear feed-forward on the chosen basis reaches.

For a linear loop the error is affine in the weights, e = e0 - R w, where column j of R is the
closed-loop response to basis signal j injected as counterfactual error. R is measured by
simulation — one env per basis signal (plus one with no feed-forward), all in one batch — and
w* = argmin |e0 - R w|^2 is solved by least squares.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .agent import CFPCAgent
from .build import make_controller, make_env, make_vector_env
from .config import ControllerConfig, RunConfig
from .rollout import run_trial


@dataclass(frozen=True)
class Optimum:
    rmse: float  # RMSE of the optimal residual, comparable with TrialRecord.rmse
    weights: np.ndarray  # (D, F)
    feedback_rmse: float  # RMSE with no feed-forward


def least_squares_optimum(config: RunConfig) -> Optimum:
    probe = ControllerConfig(name="optimum", rule="lms", learning_rate=0.0)
    first = make_env(config)
    dofs = first.unwrapped.tracking_spec.dofs
    features = make_controller(config, probe, first, batch_size=1).basis.features
    columns = dofs * features
    envs = make_vector_env(config, columns + 1)
    controller = make_controller(config, probe, first, batch_size=columns + 1)
    unit = torch.zeros_like(controller.weights)  # (1 + D F, D, F): env 1 + j carries weight j only
    unit[1:].view(columns, columns).copy_(torch.eye(columns))
    controller.weights.copy_(unit)
    record = run_trial(CFPCAgent(envs, controller), learn=False, seeds=[config.seed] * (columns + 1))
    envs.close()
    first.close()
    baseline = record.error[:, 0]  # (N, D)
    responses = baseline[:, None, :] - record.error[:, 1:]  # (N, D F, D)
    design = responses.transpose(0, 2, 1).reshape(-1, columns)  # rows: (step, output DOF)
    weights, *_ = np.linalg.lstsq(design, baseline.reshape(-1), rcond=None)
    residual = baseline.reshape(-1) - design @ weights
    return Optimum(
        rmse=float(np.sqrt(np.mean(residual**2))),
        weights=weights.reshape(dofs, features),
        feedback_rmse=float(np.sqrt(np.mean(baseline**2))),
    )
