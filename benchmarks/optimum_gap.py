"""Why eligibility learning settles above the brute-force optimum on the 100 ms cued elbow.

    python benchmarks/optimum_gap.py [--config elbow_delays] [--controller eligibility-linearized]

Runs the controller's trials, then at its learned weights measures the true Jacobian of the error
w.r.t. every weight on the nonlinear loop (``basis_responses``) and compares the true gradient
R^T e with the gradient its forward model follows, R-hat^T e; then prints where in the trial the
residual error sits, for the learned weights and for the Gauss-Newton optimum.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from cfpc_gym.build import forward_model, make_env
from cfpc_gym.config import load_config
from cfpc_gym.optimum import gauss_newton_optimum
from cfpc_gym.responses import basis_responses, predicted_responses
from cfpc_gym.runner import prepare, run_controller


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="elbow_delays")
    parser.add_argument("--controller", default="eligibility-linearized")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = load_config(args.config)
    index = next(i for i, c in enumerate(config.controllers) if c.name == args.controller)
    agent = prepare(config, index)
    result = run_controller(config, index, lambda _: None, agent)
    learned = agent.controller.weights[0].double().cpu().numpy()
    measured = basis_responses(config, learned)
    model = forward_model(config, config.controllers[index], make_env(config))
    columns = learned.size
    true_jacobian = measured.responses.transpose(0, 2, 1).reshape(-1, columns)
    model_jacobian = predicted_responses(model, measured).transpose(0, 2, 1).reshape(-1, columns)
    true_gradient = true_jacobian.T @ measured.error.ravel()
    model_gradient = model_jacobian.T @ measured.error.ravel()
    cosine = true_gradient @ model_gradient / np.linalg.norm(true_gradient) / np.linalg.norm(model_gradient)
    print(f"learned: final RMSE {result.final_rmse:.4f} after {result.trials_done} trials")
    print(f"|true gradient| {np.linalg.norm(true_gradient):.3g}, |model gradient| "
          f"{np.linalg.norm(model_gradient):.3g}, cosine {cosine:.2f}")  # fmt: skip
    optimum = gauss_newton_optimum(config, iterations=80, tolerance=1e-4)
    at_optimum = basis_responses(config, optimum.weights)
    print(f"Gauss-Newton optimum RMSE {optimum.rmse:.4f} ({len(optimum.rmse_history) - 1} steps)")
    print("window (s) | RMSE learned | RMSE optimum")
    steps = len(measured.error)
    window = max(1, steps // 10)
    for start in range(0, steps, window):
        learned_rms = np.sqrt(np.mean(measured.error[start : start + window] ** 2))
        optimum_rms = np.sqrt(np.mean(at_optimum.error[start : start + window] ** 2))
        seconds = f"{start * agent.spec.dt:.1f}-{(start + window) * agent.spec.dt:.1f}"
        print(f"{seconds} | {learned_rms:.4f} | {optimum_rms:.4f}")


if __name__ == "__main__":
    main()
