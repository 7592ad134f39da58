"""Run an experiment: every configured controller on the same task, trial after trial."""

from __future__ import annotations

import io
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .agent import CFPCAgent, env_attribute
from .build import make_agent, make_vector_env, movement_model
from .config import ConfigError, ControllerConfig, RunConfig, dump_config
from .controllers.gain_adaptation import GAINS
from .optimum import Optimum, least_squares_optimum
from .rollout import TrialRecord, run_trial


@dataclass
class ControllerResult:
    name: str
    rule: str
    trial_rmse: list[float] = field(default_factory=list)
    trial_max_error: list[float] = field(default_factory=list)
    trial_lag_s: list[float | None] = field(default_factory=list)  # output behind target (s)
    trial_wall_time_s: list[float] = field(default_factory=list)  # per trial, learning included
    # Gain adaptation only: model-following RMSE per trial, and the gains after it (mean over envs).
    trial_model_rmse: list[float] = field(default_factory=list)
    trial_gains: list[dict[str, list[float]]] = field(default_factory=list)
    env_steps: int = 0
    diverged_at_trial: int | None = None
    first_trial: TrialRecord | None = None
    last_trial: TrialRecord | None = None
    # schedule movement: env 0's joint commands (steps, D) in the trial the forward model was last
    # re-linearised along, and that trial (None: still the feedback-only trial's model).
    relinearized_along: np.ndarray | None = None
    relinearized_trial: int = 0

    @property
    def final_rmse(self) -> float:
        return self.trial_rmse[-1]

    @property
    def trials_done(self) -> int:
        return len(self.trial_rmse)

    def finished(self, trials: int) -> bool:
        return self.diverged_at_trial is not None or self.trials_done >= trials


@dataclass
class RunResult:
    config: RunConfig
    controllers: list[ControllerResult]
    optimum: Optimum | None
    dt: float  # control period of the env, seconds

    def metrics(self) -> dict:
        optimum = self.optimum.rmse if self.optimum else None
        runs = []
        for c in self.controllers:
            runs.append(
                {
                    "name": c.name,
                    "rule": c.rule,
                    "trial_rmse": c.trial_rmse,
                    "trial_max_error": c.trial_max_error,
                    "trial_lag_s": c.trial_lag_s,
                    "final_rmse": c.final_rmse,
                    "best_rmse": min(c.trial_rmse),
                    "final_to_optimum": c.final_rmse / optimum if optimum else None,
                    "diverged": c.diverged_at_trial is not None,
                    "diverged_at_trial": c.diverged_at_trial,
                    "env_steps": c.env_steps,
                    "wall_time_s": sum(c.trial_wall_time_s),
                    "trial_model_rmse": c.trial_model_rmse,
                    "trial_gains": c.trial_gains,
                }
            )
        return {
            "name": self.config.name,
            "env": self.config.env.id,
            "trials": self.config.trials,
            "seed": self.config.seed,
            "ls_optimum_rmse": optimum,
            "feedback_only_rmse": self.optimum.feedback_rmse if self.optimum else None,
            "runs": runs,
        }

    def csv(self) -> str:
        """One row per controller and trial."""
        lines = ["controller,rule,trial,rmse,max_error,lag_s,env_steps,wall_time_s"]
        for c in self.controllers:
            steps_per_trial = c.env_steps // max(c.trials_done, 1)
            for t, (rmse, max_error, lag, wall) in enumerate(
                zip(c.trial_rmse, c.trial_max_error, c.trial_lag_s, c.trial_wall_time_s, strict=True)
            ):
                lag_text = "" if lag is None else f"{lag:.6g}"
                lines.append(
                    f"{c.name},{c.rule},{t},{rmse:.9g},{max_error:.9g},{lag_text},"
                    f"{steps_per_trial * (t + 1)},{wall:.4f}"
                )
        return "\n".join(lines) + "\n"

    def gains_csv(self) -> str | None:
        """Gain adaptation: one row per adapting controller, trial and DOF (None when none adapts)."""
        lines = ["controller,trial,dof,kp,ki,kd,model_rmse"]
        for c in self.controllers:
            for t, (gains, rmse) in enumerate(zip(c.trial_gains, c.trial_model_rmse, strict=True)):
                for dof, values in enumerate(zip(*(gains[name] for name in GAINS), strict=True)):
                    lines.append(
                        f"{c.name},{t},{dof}," + ",".join(f"{v:.9g}" for v in values) + f",{rmse:.9g}"
                    )
        return "\n".join(lines) + "\n" if len(lines) > 1 else None


def prepare(config: RunConfig, index: int) -> CFPCAgent:
    """The agent of one configured controller over its envs: every config error surfaces here."""
    return make_agent(config, index, make_vector_env(config, config.envs))


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
    agent = agent or prepare(config, index)
    result = result or ControllerResult(settings.name, settings.rule)
    every = follows_movement(settings)
    if result.trials_done:  # resuming: replay the envs' resets so their random draws continue exactly
        agent.env.reset(seed=_seeds(config))
        for _ in range(result.trials_done - 1):
            agent.env.reset()
        if result.relinearized_along is not None:
            along, trial = result.relinearized_along, result.relinearized_trial
            agent.controller.set_forward_model(movement_model(config, settings, along, trial))
    while not result.finished(config.trials):
        trial = result.trials_done
        start = time.perf_counter()
        record = run_trial(agent, seeds=_seeds(config) if trial == 0 else None)
        rmse = float(np.mean(record.rmse))
        lags = record.lag(agent.spec.dt)
        lag = None if np.all(np.isnan(lags)) else float(np.nanmean(lags))
        result.trial_rmse.append(rmse)
        result.trial_max_error.append(float(np.max(record.max_error)))
        result.trial_lag_s.append(lag)
        result.env_steps += record.error.shape[0] * record.error.shape[1]
        result.first_trial = result.first_trial or record
        result.last_trial = record
        adaptation = agent.controller.gain_adaptation
        if adaptation is not None:
            result.trial_model_rmse.append(float(adaptation.trial_rmse.mean()))
            gains = adaptation.gains.mean(0)  # (D, 3)
            result.trial_gains.append({name: gains[:, i].tolist() for i, name in enumerate(GAINS)})
        why = divergence(config, result)
        if why is not None:
            result.diverged_at_trial = trial
            say(
                f"controller {settings.name!r} ({settings.rule}): learning diverged at trial {trial} "
                f"({why}); stopped it. Lower learning_rate, or use rule eligibility (gain adaptation: "
                "me-lms) with a forward model."
            )
        elif every and result.trials_done % every == 0:
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
        if checkpoint is not None:
            save_checkpoint(checkpoint, agent, result)
        if on_trial is not None:
            on_trial(result)
    agent.env.close()
    return result


def follows_movement(settings: ControllerConfig) -> int | None:
    """Trials between re-linearisations of the controller's forward model (None: it keeps its model)."""
    model = settings.forward_model
    if settings.rule == "eligibility" and model.schedule == "movement":
        return model.relinearize_every
    return None


def divergence_limit(config: RunConfig, result: ControllerResult) -> float:
    """Error beyond a multiple of the movement itself (the target from where it starts: a posture
    held is no movement), or of the first trial's error, whichever is smaller."""
    target = result.first_trial.target
    movement_rms = float(np.sqrt(np.mean((target - target[:1]) ** 2)))
    scale = min(result.trial_rmse[0], movement_rms) if movement_rms > 0 else result.trial_rmse[0]
    return config.divergence_factor * scale


def divergence(config: RunConfig, result: ControllerResult) -> str | None:
    """Why the last trial counts as diverged, or None. Gain adaptation is also judged by its
    model-following error: saturation can keep a runaway loop's tracking error bounded."""
    rmse, limit, factor = result.trial_rmse[-1], divergence_limit(config, result), config.divergence_factor
    if not math.isfinite(rmse) or rmse > limit:
        return (
            f"RMSE {rmse:.3g} > {limit:.3g}, {factor:g} x the smaller of the first trial's RMSE "
            "and the movement's RMS"
        )
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
        paths = [out_dir / CHECKPOINTS / f"{i}.pt" if out_dir else None for i in range(len(agents))]
        resumed = [  # every checkpoint is read before anything runs: a broken one stops the run at once
            load_checkpoint(path, agent, settings) if path is not None and path.exists() else None
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
    agents = [prepare(config, index) for index in range(len(config.controllers))]
    # The optimum is that of a feed-forward module on the basis: a yardstick only where one learns.
    feedforward = any(c.rule != "none" for c in config.controllers)
    linear = env_attribute(agents[0].env, "linear_model") is not None
    optimum = least_squares_optimum(config) if feedforward and linear else None
    return Experiment(config, agents, optimum)


def run_experiment(
    config: RunConfig, say: Callable[[str], None] = print, out_dir: Path | None = None
) -> RunResult:
    return prepare_experiment(config).run(say, out_dir)


CHECKPOINTS = "checkpoints"
CHECKPOINT_FORMAT = 2  # 2: the raised-cosine basis counts steps; gains per env


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: one line naming the file and the problem."""


def save_checkpoint(path: Path, agent: CFPCAgent, result: ControllerResult) -> None:
    """Weights, traces, controller and episode state, and the results so far; written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "format": CHECKPOINT_FORMAT,
        "name": result.name,
        "agent": {
            "controller": agent.controller.state_dict(),
            "starting": torch.as_tensor(agent.state_dict()["starting"]),
            "ignored": torch.as_tensor(agent.state_dict()["ignored"]),
        },
        "result": {
            "trial_rmse": result.trial_rmse,
            "trial_max_error": result.trial_max_error,
            "trial_lag_s": result.trial_lag_s,
            "trial_wall_time_s": result.trial_wall_time_s,
            "env_steps": result.env_steps,
            "diverged_at_trial": result.diverged_at_trial,
            "trial_model_rmse": result.trial_model_rmse,
            "trial_gains": result.trial_gains,
            "relinearized_trial": result.relinearized_trial,
        },
        "first_trial": {
            k: torch.from_numpy(np.asarray(v)) for k, v in result.first_trial.as_arrays().items()
        },
        "last_trial": {k: torch.from_numpy(np.asarray(v)) for k, v in result.last_trial.as_arrays().items()},
    }
    if result.relinearized_along is not None:
        state["relinearized_along"] = torch.from_numpy(result.relinearized_along)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(path, buffer.getvalue())


def load_checkpoint(path: Path, agent: CFPCAgent, settings) -> ControllerResult:
    try:
        state = torch.load(path, map_location=agent.controller.device, weights_only=True)
        if state.get("format") != CHECKPOINT_FORMAT or state.get("name") != settings.name:
            raise CheckpointError(f"checkpoint {path}: written for another controller or format")
        controller_state = state["agent"]["controller"]
        agent.load_state_dict(
            {
                "controller": controller_state,
                "starting": state["agent"]["starting"].numpy(),
                "ignored": state["agent"]["ignored"].numpy(),
            }
        )
        result = ControllerResult(settings.name, settings.rule, **state["result"])
        result.first_trial = TrialRecord(**{k: v.numpy() for k, v in state["first_trial"].items()})
        result.last_trial = TrialRecord(**{k: v.numpy() for k, v in state["last_trial"].items()})
        if "relinearized_along" in state:
            result.relinearized_along = state["relinearized_along"].numpy()
    except CheckpointError:
        raise
    except Exception:  # a truncated or foreign file: say which, never a traceback
        raise CheckpointError(
            f"checkpoint {path} is unreadable or corrupted; delete it to rerun that controller"
        ) from None
    return result


def summary_table(result: RunResult) -> str:
    optimum = result.optimum.rmse if result.optimum else None
    rows = [("controller", "rule", "first RMSE", "final RMSE", "x LS optimum", "lag first -> last", "status")]
    for c in result.controllers:
        ratio = f"{c.final_rmse / optimum:.3f}" if optimum else "-"
        lags = " -> ".join(
            "-" if lag is None else f"{lag * 1000:.0f} ms" for lag in (c.trial_lag_s[0], c.trial_lag_s[-1])
        )
        status = f"diverged (trial {c.diverged_at_trial})" if c.diverged_at_trial is not None else "ok"
        rows.append((c.name, c.rule, f"{c.trial_rmse[0]:.4g}", f"{c.final_rmse:.4g}", ratio, lags, status))
    if optimum is None:  # no linear model, no optimum column
        rows = [row[:4] + row[5:] for row in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if optimum:
        lines.append(f"least-squares optimum RMSE for this basis: {optimum:.4g}")
    for c in result.controllers:
        if c.trial_gains:
            gains = ", ".join(
                f"{name} {_values(c.trial_gains[0][name])} -> {_values(c.trial_gains[-1][name])}"
                for name in GAINS
            )
            lines.append(
                f"{c.name} gains: {gains}; model-following RMSE "
                f"{c.trial_model_rmse[0]:.4g} -> {c.trial_model_rmse[-1]:.4g}"
            )
    return "\n".join(lines)


def _values(values: list[float]) -> str:
    return "/".join(f"{v:.3g}" for v in values)


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write to a temporary file beside ``path`` and rename: readers never see a partial file."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data.encode() if isinstance(data, str) else data)
    os.replace(temporary, path)


def write_outputs(result: RunResult, out_dir: Path) -> list[Path]:
    from .plots import plot_error_per_trial, plot_gains_per_trial, plot_trajectories

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (
        ("config.yaml", dump_config(result.config)),
        ("metrics.json", json.dumps(result.metrics(), indent=2) + "\n"),
        ("metrics.csv", result.csv()),
    ):
        write_atomic(out_dir / name, text)
        written.append(out_dir / name)
    gains = result.gains_csv()
    if gains is not None:
        write_atomic(out_dir / "gains.csv", gains)
        written.append(out_dir / "gains.csv")
    figures = [
        ("error_per_trial.png", plot_error_per_trial(result)),
        ("trajectories.png", plot_trajectories(result)),
    ]
    if gains is not None:
        figures.append(("gains_per_trial.png", plot_gains_per_trial(result)))
    for name, figure in figures:
        write_atomic(out_dir / name, figure)
        written.append(out_dir / name)
    return written
