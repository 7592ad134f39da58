"""What a run measures, defined once: per controller and trial, and per run.

``ControllerResult`` holds the per-trial series; ``RECORDED`` lists the fields that are saved
(checkpoints) and reported (metrics.json), so the three never drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from ..controllers.gain_adaptation import GAINS
from ..rollout import TrialRecord

if TYPE_CHECKING:
    from ..analysis.optimum import Optimum
    from ..config import RunConfig


@dataclass
class ControllerResult:
    """One controller's trials: the learning curve and what it ended with.

    Args:
        name: The controller's name in the config.
        rule: Its learning rule.
        trial_rmse: Per trial, the RMSE of the sensed error (reference - measurement).
        trial_max_error: Per trial, the largest absolute sensed error.
        trial_lag_s: Per trial, seconds the output reaches half the movement after the target
            does (None where there is no movement).
        trial_wall_time_s: Per trial, wall time, learning included.
        trial_success: Per trial, the share of envs whose episode succeeded (the env's own rule
            where it says per step whether it is solved, MyoSuite's; else within its
            ``goal_threshold`` of the goal at the end); None where the env has neither.
        trial_goal_error: Per trial, the episode mean of the distance between goal and output
            (MyoSuite's pose distance), mean over envs; None where the env gives no goal.
        evaluation: After the learning trials, ``evaluation`` episodes with learning frozen on
            held-out seeds (new goals): ``episodes``, ``success``, ``goal_error``, ``rmse``.
        trial_model_rmse: Gain adaptation only: the model-following RMSE per trial.
        trial_gains: Gain adaptation only: the gains after each trial (mean over envs), by name.
        env_steps: Environment steps taken, all envs together.
        diverged_at_trial: The trial at which learning was stopped as diverged, or None.
        safeguard_trials: The trials the safeguard undid (their error exceeded ``safeguard_factor``
            times the best trial's: the controller went back to the state ``best_trial`` ran
            with); with ``safeguard_window`` W > 1, the last trial of each window undone (its
            mean error exceeded that factor times the best window's: back to the state the best
            window started with).
        best_trial: The trial with the lowest RMSE so far (with ``safeguard_window`` 1, the
            safeguard goes back to the state it ran with).
        relinearized_trial: ``schedule: movement``: the trial the forward model was last
            re-linearised along (0: still the feedback-only trial's model).
        relinearized_along: That trial's joint commands of env 0 (steps, D), or None.
        first_trial: The first trial's signals.
        last_trial: The last trial's signals.
    """

    name: str
    rule: str
    trial_rmse: list[float] = field(default_factory=list)
    trial_max_error: list[float] = field(default_factory=list)
    trial_lag_s: list[float | None] = field(default_factory=list)
    trial_wall_time_s: list[float] = field(default_factory=list)
    trial_success: list[float | None] = field(default_factory=list)
    trial_goal_error: list[float | None] = field(default_factory=list)
    evaluation: dict[str, float | int | None] | None = None
    trial_model_rmse: list[float] = field(default_factory=list)
    trial_gains: list[dict[str, list[float]]] = field(default_factory=list)
    env_steps: int = 0
    diverged_at_trial: int | None = None
    safeguard_trials: list[int] = field(default_factory=list)
    best_trial: int = 0
    relinearized_trial: int = 0
    relinearized_along: np.ndarray | None = None
    first_trial: TrialRecord | None = None
    last_trial: TrialRecord | None = None
    best_state: dict[str, Any] | None = None  # the controller's state_dict the best trial/window ran with
    window_state: dict[str, Any] | None = None  # and the one the current safeguard window started with

    @property
    def final_rmse(self) -> float:
        return self.trial_rmse[-1]

    @property
    def trials_done(self) -> int:
        return len(self.trial_rmse)

    def finished(self, trials: int) -> bool:
        """Whether it ran ``trials`` trials, or stopped as diverged."""
        return self.diverged_at_trial is not None or self.trials_done >= trials

    def recorded(self) -> dict[str, Any]:
        """The fields that are saved and reported, as plain values (``RECORDED``)."""
        return {name: getattr(self, name) for name in RECORDED}

    def status(self, feedback_rmse: float | None = None) -> str:
        """``diverged``, ``worse than feedback-only`` (its final RMSE above ``feedback_rmse``, feedback
        alone's on the same task), ``safeguard acted`` or ``ok``."""
        if self.diverged_at_trial is not None:
            return "diverged"
        if feedback_rmse is not None and self.rule != "none" and self.final_rmse > feedback_rmse:
            return "worse than feedback-only"
        return "safeguard acted" if self.safeguard_trials else "ok"

    def metrics(
        self, optimum_rmse: float | None = None, feedback_rmse: float | None = None
    ) -> dict[str, Any]:
        """``recorded()`` and what follows from it, for metrics.json."""
        return {
            "name": self.name,
            "rule": self.rule,
            "status": self.status(feedback_rmse),
            **self.recorded(),
            "final_rmse": self.final_rmse,
            "best_rmse": min(self.trial_rmse),
            "final_to_optimum": self.final_rmse / optimum_rmse if optimum_rmse else None,
            "diverged": self.diverged_at_trial is not None,
            "wall_time_s": sum(self.trial_wall_time_s),
        }


# Plain-valued fields saved in checkpoints and reported in metrics.json; name and rule come from
# the config, the arrays are saved beside them.
RECORDED = tuple(
    f.name
    for f in fields(ControllerResult)
    if f.name
    not in ("name", "rule", "relinearized_along", "first_trial", "last_trial", "best_state", "window_state")
)


@dataclass
class RunResult:
    """Every controller of one run, and the yardstick they are measured against.

    Args:
        config: The run's config.
        controllers: One result per configured controller, in config order.
        optimum: The least-squares optimum of the basis (linear envs with a learning controller),
            else None.
        dt: The env's control period, seconds.
    """

    config: RunConfig
    controllers: list[ControllerResult]
    optimum: Optimum | None
    dt: float

    def metrics(self) -> dict:
        """metrics.json: the run's identity, the optimum and every controller's metrics."""
        optimum = self.optimum.rmse if self.optimum else None
        return {
            "name": self.config.name,
            "env": self.config.env.id,
            "trials": self.config.trials,
            "seed": self.config.seed,
            "ls_optimum_rmse": optimum,
            "feedback_only_rmse": self.optimum.feedback_rmse if self.optimum else None,
            "runs": [c.metrics(optimum, self.feedback_rmse) for c in self.controllers],
        }

    @property
    def feedback_rmse(self) -> float | None:
        """Feedback alone's final RMSE on this task: the run's first controller without learning
        (rule none, fixed gains), else the linear env's feedback-only RMSE, else None."""
        fixed = [c for c in self.controllers if c.rule == "none" and not c.trial_gains]
        if fixed:
            return fixed[0].final_rmse
        return self.optimum.feedback_rmse if self.optimum else None

    def csv(self) -> str:
        """metrics.csv: one row per controller and trial."""
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
        """gains.csv: one row per adapting controller, trial and DOF (None when none adapts)."""
        lines = ["controller,trial,dof,kp,ki,kd,model_rmse"]
        for c in self.controllers:
            for t, (gains, rmse) in enumerate(zip(c.trial_gains, c.trial_model_rmse, strict=True)):
                for dof, values in enumerate(zip(*(gains[name] for name in GAINS), strict=True)):
                    lines.append(
                        f"{c.name},{t},{dof}," + ",".join(f"{v:.9g}" for v in values) + f",{rmse:.9g}"
                    )
        return "\n".join(lines) + "\n" if len(lines) > 1 else None
