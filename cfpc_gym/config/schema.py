"""The typed config of a run: every key, its type, its default and what it means.

YAML is only the serialisation (``files.py`` reads it, ``loading.py`` validates it into these
models); every field is typed and documented here, right under it (the basis sections in
``basis.py``, the env's in ``env.py``). Unknown keys are rejected, strings such as "1e-3" are
coerced to numbers, and inf or NaN are refused in every float key.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from .basis import BasisConfig, RaisedCosineConfig
from .env import EnvConfig
from .section import PerDof, Section

# The rules of controllers/rules.py, named here so that reading a config does not import torch
# (tests/test_configs.py checks the two agree).
RULE_NAMES = ("none", "eligibility", "lms", "delayed", "fel")
MAX_RATE = 1e6  # larger steps overflow float32 weights and gains in one step


class FeedbackConfig(Section):
    """The PID feedback controller (the same for every controller of the run)."""

    kp: PerDof
    """Proportional gain(s): a scalar, or one per DOF."""
    ki: PerDof = 0.0
    """Integral gain(s)."""
    kd: PerDof = 0.0
    """Derivative gain(s)."""
    derivative_time_constant: float = Field(0.01, ge=0)
    """Seconds; first-order filter on the derivative term."""
    output_limit: PerDof | None = None
    """Command saturation (None: the env's action bounds do it)."""


class ForwardModelConfig(Section):
    """Where the eligibility trace's closed-loop model o -> sensed output comes from."""

    kind: Literal["analytic", "linearized", "identified"] = "analytic"
    """analytic: the env's linear model and the PID; linearized: MuJoCo's linearisation of the body
    at rest (mjd_transitionFD) closed with the PID, allocation and delays; identified: least squares
    on a probing run."""
    schedule: Literal["rest", "trajectory", "movement"] = "rest"
    """linearized only: rest = one model, linearised at the rest posture; trajectory = re-linearised
    at every control step of a feedback-only trial (posture, velocity, activation and which muscles
    pull all change along a large movement): a time-varying model indexed by time in the trial, for
    tasks whose movement is timed by the trial (not with optimizer: rls); movement = trajectory at
    first, then re-linearised along the last trial as executed, feed-forward included, every
    relinearize_every trials: the model follows the movement that learning produces."""
    relinearize_every: int = Field(1, ge=1)
    """schedule movement: trials between re-linearisations (1: after every trial)."""
    gain: float = Field(1.0, gt=0)
    """Multiplies the model's gain: 1 is exact; other values test robustness to a wrong model."""
    diagonal: bool = False
    """true: keep each DOF's own loop o_i -> y_i only (the model's diagonal: D SISO models, any
    kind), so the trace runs D filters per basis signal instead of a D x D model and each DOF
    learns from its own error; the cross-coupling between DOFs is left out. For many DOFs
    (MyoSuite's hand: PERFORMANCE.md). identified FIR: the full D x D fit, its diagonal kept."""
    method: Literal["fir", "arx"] = "fir"
    """identified only: FIR (impulse response) or ARX (poles and zeros)."""
    taps: int = Field(45, ge=1)
    """identified FIR: impulse-response length in steps (longer fits the probe's noise: FORWARD_MODELS.md)."""
    poles: int = Field(4, ge=1)
    """identified ARX: denominator order."""
    zeros: int = Field(4, ge=0)
    """identified ARX: numerator order."""
    probe_trials: int = Field(8, ge=1)
    """identified: trials of white-noise probing (each probed and unprobed: 2x this many trials)."""
    probe_amplitude: float = Field(0.05, gt=0)
    """identified: standard deviation of the injected o."""

    @field_validator("schedule")
    @classmethod
    def _movement_is_linearized(cls, schedule: str, info) -> str:
        kind = info.data.get("kind")
        if schedule == "movement" and kind != "linearized":
            raise ValueError(
                f"movement re-linearises MuJoCo's model of the body: needs kind linearized, not {kind}"
            )
        return schedule

    @model_validator(mode="after")
    def _relinearize_every_needs_movement(self) -> ForwardModelConfig:
        if self.relinearize_every != 1 and self.schedule != "movement":
            raise ValueError(
                f"relinearize_every applies to schedule movement only (this schedule is {self.schedule})"
            )
        return self


class PidReferenceConfig(Section):
    """Gain adaptation's reference model: the loop closed with target gains."""

    kind: Literal["pid"] = "pid"
    """Which reference model (the default)."""
    kp: PerDof
    """Target gains: the reference model is the loop closed with them around the plant model, so
    some gains (these) follow it exactly."""
    ki: PerDof = 0.0
    """Target integral gain(s)."""
    kd: PerDof = 0.0
    """Target derivative gain(s)."""


class SecondOrderReferenceConfig(Section):
    """Gain adaptation's reference model: a second-order response behind the loop's delays."""

    kind: Literal["second_order"]
    """Which reference model."""
    natural_freq_hz: float = Field(gt=0)
    """Hz; the reference response's natural frequency."""
    damping_ratio: float = Field(1.0, gt=0)
    """w^2 / (s^2 + 2 zeta w s + w^2) behind the loop's delays."""


def _reference_kind(value: Any) -> str:
    return value.get("kind", "pid") if isinstance(value, dict) else getattr(value, "kind", None)


ReferenceModelConfig = Annotated[
    Annotated[PidReferenceConfig, Tag("pid")] | Annotated[SecondOrderReferenceConfig, Tag("second_order")],
    Discriminator(
        _reference_kind,
        custom_error_type="reference_model",
        custom_error_message="must be a mapping with a kind: pid or second_order",
    ),
]


class GainAdaptationConfig(Section):
    """The PID's own gains learned (ME-LMS or LMS) to follow a reference model."""

    rule: Literal["me-lms", "lms"] = "me-lms"
    """me-lms: each gain's signal (e, its integral, its derivative) filtered by the forward model;
    lms: the signal itself (the baseline)."""
    learning_rate: float | list[float] = 0.01
    """Step size, or one per gain [kp, ki, kd]; 0 keeps the gains fixed (a baseline that still
    reports the model-following error)."""
    normalized: bool = False
    """Divide each step by that step's trace power (normalised LMS)."""
    regularization: float = Field(1e-3, gt=0)
    """delta in the normalised step eta / (delta + |eps|^2)."""
    forward_model: Literal["plant", "closed_loop"] = "plant"
    """plant: the plant model with its delays (the paper's ME-LMS); closed_loop: the plant model in
    the loop with the starting gains (the exact gradient at those gains)."""
    plant: Literal["analytic", "linearized"] = "analytic"
    """Where the plant model comes from: the env's linear model, or MuJoCo's linearisation at rest
    (with the muscle allocation)."""
    reference_model: ReferenceModelConfig
    """The response to the reference that the loop should have: kind pid (target gains) or second_order."""
    min_gain: float = Field(0.0, ge=-1e6, le=1e6)
    """Gains are clipped to [min_gain, max_gain] after every step."""
    max_gain: float | None = Field(None, ge=-1e6, le=1e6)
    """Upper bound of every gain (null: none)."""

    @field_validator("learning_rate")
    @classmethod
    def _rates(cls, rate: float | list[float]) -> float | list[float]:
        rates = rate if isinstance(rate, list) else [rate]
        if isinstance(rate, list) and len(rate) != 3:
            raise ValueError(f"give one learning rate, or three (kp, ki, kd), not {len(rate)}")
        if not all(0 <= r <= MAX_RATE for r in rates):  # (inf and NaN are refused for every float key)
            raise ValueError(f"learning rates must be in [0, {MAX_RATE:g}] (float32 gains overflow beyond)")
        return rate


class ControllerConfig(Section):
    """One controller of the run: its learning rule, step size, forward model and optimizer."""

    name: str
    """Label in tables, plots and metrics.json."""
    rule: str
    """One of none, eligibility, lms, delayed, fel."""
    learning_rate: float = Field(0.01, ge=0, le=MAX_RATE)
    """Step size beta of the weight update (at most 1e6: beyond, float32 weights overflow)."""
    normalized: bool = False
    """Divide each step by that step's trace power (normalised LMS). It weights the cost by
    1 / |eps|^2, so it settles at a weighted least-squares point, not the optimum (measured on
    paper_linear: 1.21x the optimum at learning_rate 0.03); optimizer: rls converges to the optimum."""
    regularization: float = Field(1e-3, gt=0)
    """delta in the normalised step beta / (delta + |eps|^2)."""
    shared_weights: bool = False
    """One learner for the whole batch instead of weights per env."""
    forward_model: ForwardModelConfig = ForwardModelConfig()
    """Rule eligibility: where the trace filter comes from."""
    trace_delay: float | None = Field(None, ge=0, le=3600)
    """Rule delayed: seconds; default the env's sensory delay."""
    optimizer: Literal["gradient", "rls", "gauss_newton"] = "gradient"
    """How the weights learn from the trace: gradient (the paper's rule, a step of learning_rate
    every control step), rls (recursive least squares, which also learns the loop's gain relative
    to the forward model; per-env weights only) or gauss_newton (one damped Gauss-Newton step
    between trials, on the trial's traces as the Jacobian of its error; a trust region undoes a
    trial whose error rose). rls and gauss_newton ignore learning_rate and normalized."""
    forgetting: float = Field(1.0, gt=0, le=1)
    """rls: forgetting factor per step (1: weigh every trial alike; 1 - 1/steps: remember ~one trial)."""
    rls_regularization: float = Field(1e-3, gt=0)
    """rls: ridge penalty on the weights (prior precision)."""
    loop_gain_variance: float = Field(10.0, ge=0)
    """rls: prior variance of the true loop gain / the forward model's gain (0: trust the model)."""
    ridge: float = Field(0.0, ge=0)
    """gradient and gauss_newton: penalty on the weights' size, per control step of the cost (0: none)."""
    smoothness: float = Field(0.0, ge=0)
    """gradient and gauss_newton: penalty on the weights' curvature along the basis (in time since the
    cue), per control step of the cost: keeps high frequencies of a fine basis down (0: none)."""
    damping: float = Field(1e-3, gt=0)
    """gauss_newton: the first step's damping (trust region), relative to the data's mean diagonal."""
    damping_factor: float = Field(10.0, gt=1)
    """gauss_newton: the damping's factor up (a trial whose error rose, or a poor step) or down."""
    min_damping: float = Field(1e-9, gt=0)
    """gauss_newton: the damping's floor."""
    patience: int = Field(2, ge=1)
    """gauss_newton: rejected trials in a row before a trial re-measures the best weights."""
    jacobian: Literal["model", "secant"] = "model"
    """gauss_newton: the Jacobian of the trial's error: the forward model's traces, or those corrected by
    the secants the last trials measured (helps where the model's shape is wrong, e.g. its delay; on
    the muscle elbow it measured worse than the model alone, docs/BENCHMARKS.md)."""
    gain_adaptation: GainAdaptationConfig | None = None
    """Adapt the feedback gains too, per env, to follow a reference model (None: fixed gains)."""

    @field_validator("rule")
    @classmethod
    def _known_rule(cls, rule: str) -> str:
        if rule not in RULE_NAMES:
            raise ValueError(f"unknown rule {rule!r}; choose one of {', '.join(RULE_NAMES)}")
        return rule

    @model_validator(mode="after")
    def _movement_needs_a_trace(self) -> ControllerConfig:
        if self.forward_model.schedule == "movement" and self.rule != "eligibility":
            raise ValueError(
                f"forward_model.schedule: movement re-linearises the eligibility trace's model; "
                f"rule {self.rule} has none (use rule eligibility)"
            )
        return self


class RunConfig(Section):
    """A run: every configured controller on the same env, trial after trial.

    Example:
        >>> config = RunConfig.model_validate(
        ...     {
        ...         "env": {"id": "cfpc_gym/LinearPlant-v0"},
        ...         "feedback": {"kp": 2.0, "ki": 2.0, "kd": 0.2},
        ...         "controllers": [{"name": "cfpc", "rule": "eligibility"}],
        ...     }
        ... )
        >>> config.basis.kind, config.trials
        ('raised_cosine', 50)
    """

    name: str = "run"
    """Label of the run: the default run directory is runs/NAME-TIMESTAMP."""
    env: EnvConfig
    """The env every controller drives."""
    trials: int = Field(50, ge=1)
    """Trials (episodes) per controller; weights persist across them."""
    seed: int = Field(0, ge=0)
    """Seeds the envs (reset(seed=...)) and every random draw of the run."""
    envs: int = Field(1, ge=1, le=10_000)
    """Envs stepped in one batch per controller (seeds seed, seed + 1, ...); a SyncVectorEnv steps
    them one after another, so more than 10,000 would crawl."""
    device: str = "cpu"
    """torch device of the controllers: cpu, cuda, cuda:1, ..."""
    dtype: Literal["float32", "float64"] = "float32"
    """torch dtype of the controllers."""
    feedback: FeedbackConfig
    """The feedback controller, the same for every controller of the run."""
    basis: BasisConfig = RaisedCosineConfig()
    """The temporal basis of the cue (granular layer), the same for every controller."""
    controllers: list[ControllerConfig] = Field(min_length=1)
    """The controllers, run one after another on the same task and seed."""
    evaluation: int = Field(0, ge=0, le=100_000)
    """Episodes run after the learning trials with learning frozen, from held-out seeds (goals no
    trial drew; 1_000_003 + 100_000 x seed + k, so runs of different seeds evaluate on different
    goals): metrics.json evaluation {episodes, success, goal_error, rmse}; 0: none."""
    tensorboard: bool = False
    """Also write per-trial scalars (RMSE, max error, lag) as TensorBoard events in the run directory."""
    divergence_factor: float = Field(10.0, gt=1)
    """A learning controller's run diverges when a trial's RMSE is not finite or exceeds this
    multiple of the smaller of its first trial's RMSE and the movement's RMS (the target less its
    start), with ``safeguard_window`` W > 1 of the mean RMSE of its first W trials; with gain
    adaptation, also when its model-following RMSE exceeds this multiple of the first trial's. A
    controller that does not learn is stopped only by a non-finite RMSE."""
    safeguard_factor: float | None = Field(3.0, gt=1)
    """A trial whose RMSE exceeds this multiple of the best trial's so far is undone: the controller
    goes back to the state the best trial ran with, and its learning rates (optimizer gradient, and
    gain adaptation's) are halved; the run log and metrics (safeguard_trials) say so. Controllers
    with optimizer gauss_newton are left to their own trust region. null: off (for tasks that change
    by design, such as a force field switched on)."""
    safeguard_window: int = Field(1, ge=1, le=100_000)
    """Trials the safeguard compares as one: the mean RMSE of each window of this many trials
    against the best window's so far (``safeguard_factor`` times it), and back to the state the
    best window started with. 1: every trial on its own; more where the goal changes every trial
    (random goals: one trial's RMSE is no yardstick for another's, a window's mean is)."""

    @model_validator(mode="after")
    def _unique_names(self) -> RunConfig:
        names = [c.name for c in self.controllers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"controller names must be unique; repeated: {', '.join(duplicates)}")
        stems: dict[str, str] = {}
        for name in names:  # each names its checkpoint file, on case-blind file systems too
            other = stems.setdefault(file_stem(name).casefold(), name)
            if other != name:
                raise ValueError(f"controller names {other!r} and {name!r} name the same checkpoint file")
        return self


def file_stem(name: str) -> str:
    """A controller's name as a file name.

    Args:
        name: The controller's name.

    Returns:
        The name with every character other than a letter, a digit or ``_.-`` as ``_``, cut to 100.
    """
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:100] or "controller"
