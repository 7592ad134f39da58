"""Why eligibility learning settles above the brute-force optimum on the cued elbow, per forward model.

    python benchmarks/optimum_gap.py [--config elbow_delays] [--delay 0.1] [--trials 150]
        [--controllers eligibility-linearized eligibility-trajectory eligibility-movement lms]
        [--every 1 5 10] [--iterations 80] [--json runs/optimum_gap.json]

Runs each controller's trials (``--every``: one copy of each ``schedule: movement`` controller per
re-linearisation interval, in trials), then at its learned weights measures the true Jacobian of the
error w.r.t. every weight on the nonlinear loop (``basis_responses``, raising and lowering each
weight) and compares it with the responses of the forward model the controller ended with: the
variance accounted for (VAF of the odd part, and of the raised responses) along the learned
movement, and the cosine between the true gradient R^T e and the gradient the rule follows,
R-hat^T e. Then the Gauss-Newton optimum, and where in the trial each residual error sits.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from cfpc_gym.agent import env_attribute
from cfpc_gym.analysis.optimum import gauss_newton_optimum
from cfpc_gym.analysis.responses import basis_responses, error_gradient, predicted_responses
from cfpc_gym.build import make_env, make_run_agent, spec_of
from cfpc_gym.config import load_config
from cfpc_gym.controllers import variance_accounted_for
from cfpc_gym.experiment.runner import run_controller

AMPLITUDE = 0.02  # weight change of each finite difference, as in fit_quality


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="elbow_delays")
    parser.add_argument("--delay", type=float, default=None, help="env.kwargs.sensory_delay (s)")
    parser.add_argument(
        "--controllers",
        nargs="+",
        default=["eligibility-linearized", "eligibility-trajectory", "eligibility-movement", "lms"],
    )
    parser.add_argument("--every", type=int, nargs="*", default=[], help="relinearize_every values")
    parser.add_argument("--trials", type=int, default=None, help="override the config's trials")
    parser.add_argument("--iterations", type=int, default=80, help="Gauss-Newton iterations at most")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = load_config(args.config)
    if args.delay is not None:
        config.env.kwargs["sensory_delay"] = args.delay
    if args.trials is not None:
        config.trials = args.trials
    config.controllers = with_intervals(
        [c for c in config.controllers if c.name in args.controllers], args.every
    )
    rows, errors, learned_weights = [], {}, {}
    for index, settings in enumerate(config.controllers):
        agent = make_run_agent(config, index)
        result = run_controller(config, index, lambda _: None, agent)
        learned = agent.controller.weights[0].double().cpu().numpy()
        raised = basis_responses(config, learned, AMPLITUDE)
        lowered = basis_responses(config, learned, -AMPLITUDE)
        odd = (raised.responses + lowered.responses) / 2
        predicted = predicted_responses(agent.controller.rule.trace, raised)
        row = {
            "controller": settings.name,
            "final_rmse": result.final_rmse,
            "best_rmse": min(result.trial_rmse),
            "best_trial": int(np.argmin(result.trial_rmse)),
            "diverged_at_trial": result.diverged_at_trial,
            "vaf": variance_accounted_for(odd, predicted),
            "vaf_raise": variance_accounted_for(raised.responses, predicted),
            "cosine": cosine(odd, predicted, raised.error),
            "gradient_norms": gradient_norms(odd, predicted, raised.error),
            "cosine_raise": cosine(raised.responses, predicted, raised.error),
            "trial_rmse": result.trial_rmse,
        }
        rows.append(row)
        errors[settings.name] = raised.error
        learned_weights[settings.name] = learned
        print(
            f"{row['controller']}: final RMSE {row['final_rmse']:.4f} (best {row['best_rmse']:.4f} at "
            f"trial {row['best_trial']}), VAF odd {row['vaf']:.3f} raise {row['vaf_raise']:.3f}, "
            f"cosine {row['cosine']:.2f} (raise {row['cosine_raise']:.2f}), |true gradient| "
            f"{row['gradient_norms'][0]:.3g}, |rule's| {row['gradient_norms'][1]:.3g}",
            flush=True,
        )
    # Gauss-Newton is a local descent: from zero, and from the best learned weights; the lower counts.
    best_learned = min(rows, key=lambda row: row["final_rmse"])
    optimum = None
    for start, name in (
        (None, "zero"),
        (learned_weights[best_learned["controller"]], best_learned["controller"]),
    ):
        found = gauss_newton_optimum(config, weights=start, iterations=args.iterations, tolerance=1e-4)
        print(f"Gauss-Newton from {name}: RMSE {found.rmse:.4f} ({len(found.rmse_history) - 1} steps)")
        optimum = found if optimum is None or found.rmse < optimum.rmse else optimum
    errors["optimum"] = basis_responses(config, optimum.weights, AMPLITUDE).error
    print("| controller | final RMSE | x optimum | best (trial) | VAF odd | VAF raise | cosine (raise) |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['controller']} | {row['final_rmse']:.4f} | {row['final_rmse'] / optimum.rmse:.1f} | "
            f"{row['best_rmse']:.4f} ({row['best_trial']}) | {row['vaf']:.3f} | {row['vaf_raise']:.3f} | "
            f"{row['cosine']:.2f} ({row['cosine_raise']:.2f}) |"
        )
    print(f"| Gauss-Newton optimum | {optimum.rmse:.4f} | 1 | | | | |")
    env = make_env(config)
    window_table(errors, spec_of(env).dt, env_attribute(env, "sensory_delay", 0.0))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        summary = {"delay": config.env.kwargs.get("sensory_delay"), "optimum": optimum.rmse, "runs": rows}
        args.json.write_text(json.dumps(summary, indent=1))


def with_intervals(controllers: list, intervals: list[int]) -> list:
    """Each ``schedule: movement`` controller once per re-linearisation interval (none: as it is)."""
    expanded = []
    for settings in controllers:
        if settings.forward_model.schedule != "movement" or not intervals:
            expanded.append(settings)
            continue
        for every in intervals:
            model = settings.forward_model.model_copy(update={"relinearize_every": every})
            update = {"name": f"{settings.name}-every-{every}", "forward_model": model}
            expanded.append(settings.model_copy(update=update))
    return expanded


def cosine(true_responses: np.ndarray, model_responses: np.ndarray, error: np.ndarray) -> float:
    """Cosine between the true gradient R^T e and the rule's R-hat^T e."""
    true, rule = error_gradient(true_responses, error), error_gradient(model_responses, error)
    return float(true @ rule / np.linalg.norm(true) / np.linalg.norm(rule))


def gradient_norms(true_responses: np.ndarray, model_responses: np.ndarray, error: np.ndarray) -> list:
    """|R^T e| and |R-hat^T e|: a rule at its own fixed point has the second near zero."""
    return [float(np.linalg.norm(error_gradient(r, error))) for r in (true_responses, model_responses)]


def window_table(errors: dict[str, np.ndarray], dt: float, delay: float) -> None:
    """RMSE per tenth of the trial, for each controller's learned weights and for the optimum. The
    error is the sensed one, the true error ``delay`` s earlier: windows are labelled in true time."""
    print("| window, true time (s) | " + " | ".join(errors) + " |")
    print("|---" * (len(errors) + 1) + "|")
    steps = len(next(iter(errors.values())))
    window = max(1, steps // 10)
    for start in range(0, steps, window):
        cells = [f"{np.sqrt(np.mean(e[start : start + window] ** 2)):.4f}" for e in errors.values()]
        begin = start * dt - delay
        print(f"| {begin:.2f}-{begin + window * dt:.2f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
