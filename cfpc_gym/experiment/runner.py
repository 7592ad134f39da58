"""The trial loop: every configured controller on the same task, trial after trial, with
divergence checks, re-linearisation along the movement, and a checkpoint after every trial."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..agent import CFPCAgent
from ..analysis.optimum import Optimum, least_squares_optimum
from ..body import env_attribute
from ..build import make_run_agent, movement_model
from ..config import ConfigError, ControllerConfig, RunConfig
from ..controllers.gain_adaptation import GAINS
from ..errors import CheckpointError
from ..rollout import run_trial
from .checkpoint import CHECKPOINTS, checkpoint_path, load_checkpoint, save_checkpoint
from .results import ControllerResult, RunResult


def _seeds(config: RunConfig) -> list[int]:
    return [config.seed + i for i in range(config.envs)]


def run_controller(
    config: RunConfig,
    index: int,
    say: Callable[[str], None],
    agent: CFPCAgent | None = None,
    result: ControllerResult | None = None,
    checkpoint: Path | None = None,
    on_trial: Callable[[ControllerResult], None] | None = None,
) -> ControllerResult:
    """Run (or continue) one controller's trials; after each trial, save ``checkpoint`` if given
    and call ``on_trial`` (progress display, TensorBoard, ...)."""
    settings = config.controllers[index]
    agent = agent or make_run_agent(config, index)
    result = result or ControllerResult(settings.name, settings.rule)
    every = follows_movement(settings)
    if result.trials_done:  # resuming: replay the envs' resets so their random draws continue exactly
        agent.env.reset(seed=_seeds(config))
        for _ in range(result.trials_done - 1):
            agent.env.reset()
        if result.relinearized_along is not None:
            along, trial = result.relinearized_along, result.relinearized_trial
            agent.controller.set_forward_model(movement_model(config, settings, along, trial))
        scale_learning_rate(agent, settings, 0.5 ** len(result.safeguard_trials))
    while not result.finished(config.trials):
        trial = result.trials_done
        start = time.perf_counter()
        if guarded(config, settings) and trial % config.safeguard_window == 0:
            # The weights this window starts with: what the safeguard goes back to if it is the best.
            result.window_state = _copy(agent.controller.state_dict())
        record = run_trial(agent, seeds=_seeds(config) if trial == 0 else None)
        rmse = float(np.mean(record.rmse))
        lags = record.lag(agent.spec.dt)
        lag = None if np.all(np.isnan(lags)) else float(np.nanmean(lags))
        result.trial_rmse.append(rmse)
        if rmse < result.trial_rmse[result.best_trial]:
            result.best_trial = trial
        result.trial_max_error.append(float(np.max(record.max_error)))
        result.trial_lag_s.append(lag)
        result.trial_success.append(_mean(record.success(env_attribute(agent.env, "goal_threshold"))))
        result.trial_goal_error.append(_mean(record.goal_error()))
        result.env_steps += record.error.shape[0] * record.error.shape[1]
        result.first_trial = result.first_trial or record
        result.last_trial = record
        adaptation = agent.controller.gain_adaptation
        if adaptation is not None:
            result.trial_model_rmse.append(float(adaptation.trial_rmse.mean()))
            gains = adaptation.gains.mean(0)  # (D, 3)
            result.trial_gains.append({name: gains[:, i].tolist() for i, name in enumerate(GAINS)})
        why = divergence(config, result)
        undone = why is None and guarded(config, settings) and safeguard(config, settings, agent, result, say)
        if why is not None:
            result.diverged_at_trial = trial
            say(
                f"controller {settings.name!r} ({settings.rule}): learning diverged at trial {trial} "
                f"({why}); stopped it. Lower learning_rate, or use rule eligibility (gain adaptation: "
                "me-lms) with a forward model."
            )
        elif every and result.trials_done % every == 0 and not undone:  # not along an undone trial
            along = record.command[:, 0].copy()  # one model for every env: env 0's
            try:
                model = movement_model(config, settings, along, trial)
            except ConfigError as exc:  # learning took the movement where the linearised loop is unstable
                result.diverged_at_trial = trial
                say(
                    f"controller {settings.name!r} ({settings.rule}): could not re-linearise along trial "
                    f"{trial} ({exc}); stopped it, its trials so far kept. Lower learning_rate, or "
                    "re-linearise less often (relinearize_every)."
                )
            else:
                # Only a model that was built: resume rebuilds it.
                result.relinearized_along, result.relinearized_trial = along, trial
                agent.controller.set_forward_model(model)
        result.trial_wall_time_s.append(time.perf_counter() - start)
        if result.finished(config.trials) and config.evaluation and result.diverged_at_trial is None:
            result.evaluation = evaluate(config, agent)
            say(
                f"controller {settings.name!r}: {config.evaluation} held-out episodes, learning frozen: "
                + ", ".join(
                    f"{k} {v:.4g}" for k, v in result.evaluation.items() if k != "episodes" and v is not None
                )
            )
        if checkpoint is not None:
            save_checkpoint(checkpoint, agent, result)
        if on_trial is not None:
            on_trial(result)
    agent.env.close()
    return result


HELD_OUT = 1_000_003  # evaluation seeds start here: goals no learning trial drew
HELD_OUT_STRIDE = 100_000  # per run seed: at least the most evaluation episodes a config allows


def held_out_seeds(seed: int, count: int) -> list[int]:
    """The reset seeds of a run's ``count`` held-out episodes: ``HELD_OUT + seed * HELD_OUT_STRIDE + k``.

    Runs of different seeds evaluate on disjoint goals (a three-seed check is three goal sets), and
    a run of seed 0 on ``HELD_OUT + k``.
    """
    first = HELD_OUT + seed * HELD_OUT_STRIDE
    return list(range(first, first + count))


def evaluate(config: RunConfig, agent: CFPCAgent) -> dict[str, float | int | None]:
    """``config.evaluation`` episodes with learning frozen, from held-out seeds.

    Returns:
        ``episodes``, ``success`` (share of episodes, None where the env has no success rule),
        ``goal_error`` (episode-mean distance to the goal, None without a goal) and ``rmse``.
    """
    starts = range(0, config.evaluation, config.envs)  # a batch of envs per trial
    seeds = held_out_seeds(config.seed, len(starts) * config.envs)
    records = [run_trial(agent, learn=False, seeds=seeds[k : k + config.envs]) for k in starts]
    kept = config.evaluation  # the last batch may run past it: only the first ``evaluation`` count

    def pooled(values: list[np.ndarray | None]) -> float | None:
        return None if any(v is None for v in values) else float(np.mean(np.concatenate(values)[:kept]))

    return {
        "episodes": kept,
        "success": pooled([r.success(env_attribute(agent.env, "goal_threshold")) for r in records]),
        "goal_error": pooled([r.goal_error() for r in records]),
        "rmse": pooled([r.rmse for r in records]),
    }


def _mean(values: np.ndarray | None) -> float | None:
    return None if values is None else float(np.mean(values))


def safeguard(
    config: RunConfig,
    settings: ControllerConfig,
    agent: CFPCAgent,
    result: ControllerResult,
    say: Callable[[str], None],
) -> bool:
    """After the last trial of a window of ``safeguard_window`` trials: keep the state the window
    started with if its mean RMSE is the best so far; undo a window whose mean exceeds
    ``safeguard_factor`` times the best (back to the state the best window started with, the
    learning rate halved). Returns whether it undid the window."""
    size = config.safeguard_window
    if result.trials_done % size:
        return False
    means = [float(np.mean(result.trial_rmse[i : i + size])) for i in range(0, result.trials_done, size)]
    best = int(np.argmin(means))
    if best == len(means) - 1 or result.best_state is None:
        result.best_state = result.window_state
        return False
    if means[-1] <= config.safeguard_factor * means[best]:
        return False
    result.safeguard_trials.append(result.trials_done - 1)
    agent.controller.load_state_dict(_copy(result.best_state))
    scale_learning_rate(agent, settings, 0.5 ** len(result.safeguard_trials))
    steps = (settings.optimizer == "gradient" and settings.rule != "none") or settings.gain_adaptation
    halved = "learning rate halved, " if steps else ""
    first = best * size
    say(
        f"controller {settings.name!r} ({settings.rule}): {_window(result.trials_done - size, size)} "
        f"{'RMSE' if size == 1 else 'mean RMSE'} {means[-1]:.4g} > {config.safeguard_factor:g} x the "
        f"best, {means[best]:.4g} ({_window(first, size)}); safeguard: {halved}back to the weights "
        f"{_window(first, size)} {'ran' if size == 1 else 'started'} with"
    )
    return True


def _window(first: int, size: int) -> str:
    return f"trial {first}" if size == 1 else f"trials {first}-{first + size - 1}"


def guarded(config: RunConfig, settings: ControllerConfig) -> bool:
    """Whether the safeguard watches this controller: one that learns, by a per-step rule (the
    gauss_newton optimizer undoes a worse trial itself, and raises its damping)."""
    learns = settings.rule != "none" or settings.gain_adaptation is not None
    return config.safeguard_factor is not None and learns and settings.optimizer != "gauss_newton"


def scale_learning_rate(agent: CFPCAgent, settings: ControllerConfig, factor: float) -> None:
    """Set a gradient learner's step, and gain adaptation's, to ``factor`` times the configured one."""
    learner = agent.controller.learner
    if settings.optimizer == "gradient" and hasattr(learner, "learning_rate"):
        learner.learning_rate = settings.learning_rate * factor
    adaptation = agent.controller.gain_adaptation
    if adaptation is not None:
        rates = np.broadcast_to(settings.gain_adaptation.learning_rate, (len(adaptation.learning_rate),))
        adaptation.learning_rate = tuple(float(rate) * factor for rate in rates)


def _copy(state: dict) -> dict:
    """A state_dict's copy (tensors cloned; a module's extra state copied whatever it is)."""
    return {k: v.clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v) for k, v in state.items()}


def follows_movement(settings: ControllerConfig) -> int | None:
    """Trials between re-linearisations of the controller's forward model (None: it keeps its model)."""
    model = settings.forward_model
    if settings.rule == "eligibility" and model.schedule == "movement":
        return model.relinearize_every
    return None


def divergence_limit(config: RunConfig, result: ControllerResult) -> float:
    """Error beyond a multiple of the movement itself (the target from where it starts: a posture
    held is no movement), or of the first trial's error, whichever is smaller; with a safeguard
    window of W > 1 trials (a new goal every trial: one trial is no yardstick, a tiny first
    movement would stop any run), of the mean error of the first W trials."""
    if config.safeguard_window > 1:
        return config.divergence_factor * float(np.mean(result.trial_rmse[: config.safeguard_window]))
    target = result.first_trial.target
    movement_rms = float(np.sqrt(np.mean((target - target[:1]) ** 2)))
    scale = min(result.trial_rmse[0], movement_rms) if movement_rms > 0 else result.trial_rmse[0]
    return config.divergence_factor * scale


def divergence(config: RunConfig, result: ControllerResult) -> str | None:
    """Why the last trial counts as diverged, or None. A controller that does not learn is judged
    only by a non-finite error (its error has no learning to run away). Gain adaptation is also
    judged by its model-following error: saturation can keep a runaway loop's tracking error bounded."""
    rmse, limit, factor = result.trial_rmse[-1], divergence_limit(config, result), config.divergence_factor
    learns = result.rule != "none" or bool(result.trial_model_rmse)
    if not math.isfinite(rmse) or (learns and rmse > limit):
        window = config.safeguard_window
        of = (
            f"the mean RMSE of the first {window} trials"
            if window > 1
            else "the smaller of the first trial's RMSE and the movement's RMS"
        )
        return f"RMSE {rmse:.3g} > {limit:.3g}, {factor:g} x {of}"
    if result.trial_model_rmse:
        # Floored: a loop that starts on its reference model has a first error of round-off size.
        target_rms = float(np.sqrt(np.mean(result.first_trial.target**2)))
        model, first = result.trial_model_rmse[-1], max(result.trial_model_rmse[0], 1e-3 * target_rms)
        if not math.isfinite(model) or model > factor * first:
            return f"model-following RMSE {model:.3g} > {factor * first:.3g}, {factor:g} x the first trial's"
    return None


@dataclass
class Experiment:
    """Every configured controller built and ready to run; building it surfaces every config error."""

    config: RunConfig
    agents: list[CFPCAgent]
    optimum: Optimum | None

    def run(
        self,
        say: Callable[[str], None] = print,
        out_dir: Path | None = None,
        on_trial: Callable[[ControllerResult], None] | None = None,
    ) -> RunResult:
        """Run every controller; with ``out_dir``, checkpoint after each trial and continue from any
        checkpoints already there (``cfpc-gym run --resume``)."""
        config, agents = self.config, self.agents
        paths = checkpoint_paths(config, out_dir)
        resumed = [  # every checkpoint is read before anything runs: a broken one stops the run at once
            load_checkpoint(path, agent, settings.name, settings.rule)
            if path is not None and path.exists()
            else None
            for path, agent, settings in zip(paths, agents, config.controllers, strict=True)
        ]
        results = []
        for index, settings in enumerate(config.controllers):
            result = resumed[index]
            count = f"[{index + 1}/{len(config.controllers)}]"
            if result is not None and result.finished(config.trials):
                say(f"{count} {settings.name} ({settings.rule}): done, from its checkpoint")
                agents[index].env.close()
            else:
                done = f", resuming after trial {result.trials_done - 1}" if result else ""
                say(f"{count} {settings.name} ({settings.rule}): {config.trials} trials{done}")
                result = run_controller(config, index, say, agents[index], result, paths[index], on_trial)
            results.append(result)
        return RunResult(config, results, self.optimum, agents[0].spec.dt)


def prepare_experiment(config: RunConfig) -> Experiment:
    """Build every controller (and the least-squares optimum, for a linear env) before running any."""
    agents = [make_run_agent(config, index) for index in range(len(config.controllers))]
    # The optimum is that of a feed-forward module on the basis: a yardstick only where one learns.
    feedforward = any(c.rule != "none" for c in config.controllers)
    linear = env_attribute(agents[0].env, "linear_model") is not None
    optimum = least_squares_optimum(config) if feedforward and linear else None
    return Experiment(config, agents, optimum)


def run_experiment(
    config: RunConfig, say: Callable[[str], None] = print, out_dir: Path | None = None
) -> RunResult:
    """Build every controller of ``config`` and run them (``Experiment.run``).

    Args:
        config: The run config.
        say: Where progress and warnings go, a line each.
        out_dir: Where checkpoints go (and are resumed from); None: none are kept.

    Returns:
        The ``RunResult``.
    """
    return prepare_experiment(config).run(say, out_dir)


def checkpoint_paths(config: RunConfig, out_dir: Path | None) -> list[Path | None]:
    """Each controller's checkpoint file in ``out_dir`` (None without one).

    Raises:
        CheckpointError: the checkpoints folder is not a folder, or holds checkpoints of no
            configured controller (another version's, or the config was edited): resuming would
            silently start those controllers afresh.
    """
    if out_dir is None:
        return [None] * len(config.controllers)
    paths = [checkpoint_path(out_dir, c.name) for c in config.controllers]
    folder = out_dir / CHECKPOINTS
    if folder.exists() and not folder.is_dir():
        raise CheckpointError(f"{folder} is not a folder; delete it to rerun")
    strangers = sorted(p.name for p in folder.glob("*.pt") if p not in paths) if folder.is_dir() else []
    if strangers:
        raise CheckpointError(
            f"{folder} holds checkpoints of no configured controller ({', '.join(strangers[:3])}): "
            "written by another version, or config.yaml was edited; delete them to rerun those controllers"
        )
    return paths
