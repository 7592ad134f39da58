"""Eyeblink conditioning: a conditioned stimulus, then after the interstimulus interval an air puff.

One eyelid muscle (orbicularis oculi) closes the lid against a spring that holds it open
(``assets/eyelid.xml``). A trial: the conditioned stimulus (the cue) pulses at ``cue_time``;
``interstimulus_interval`` seconds after its onset (plus a uniform draw in +-``interval_jitter``
per trial) the puff blows for ``puff_duration``. The puff exerts no force; it is the unconditioned
stimulus, and what counts is how open the eye is while it blows.

The tracked output is lid closure (0 open, 1 closed; the lid angle over ``closed_angle``). The
reference is the closure a well-timed conditioned response would have: a minimum-jerk rise over
``closure_ramp`` seconds ending at puff onset, closed through the puff, a minimum-jerk reopening.
``info["closure_at_puff"]`` reports the closure at puff onset (the key appears from then on): the
conditioned response's measure.

``reset(options={"probe": True})`` runs a CS-alone probe trial: the conditioned stimulus, no puff,
and a reference that stays open; what the lid does then is the conditioned response alone, without
the reflexive closure that the puff's error drives (how a CR's timing is measured in the lab).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .muscle_task import MuscleTaskEnv, shared_arguments
from .profiles import draw_jitter, minimum_jerk, pulse
from .validation import require_non_negative, require_positive


class EyeblinkEnv(MuscleTaskEnv):
    """Close the eyelid before a cued air puff; one episode is one trial.

    Tracking signals: reference/measurement are desired and actual closure (D=1), cue the
    conditioned stimulus (M=1). Reward: tracking error plus ``puff_weight`` x openness (1 - closure)
    during the puff. ``allocate(torque)`` maps a desired closing torque (N*m) to the excitation.
    ``info`` also holds ``puff`` (1 while it blows), ``puff_time`` (s), ``probe`` and, from the
    puff's onset, ``closure_at_puff``.

    Args:
        cue_time: Onset of the conditioned stimulus, seconds into the trial.
        cue_duration: Length of the conditioned stimulus, seconds.
        interstimulus_interval: Seconds from the conditioned stimulus's onset to the puff's.
        interval_jitter: Half-width (s) of the uniform per-trial jitter of the interval.
        puff_duration: Length of the air puff, seconds.
        closure_ramp: Seconds the reference takes to close before the puff (and to reopen after).
        closed_angle: Lid angle counted as closed (closure 1), radians.
        puff_weight: Weight of the openness during the puff in the reward.
        dt, sensory_delay, motor_delay, trial_duration, cocontraction, tracking_weight, effort_weight,
            max_joint_velocity, render_mode, render_width, render_height: As in ``MuscleTaskEnv``.

    Example:
        >>> import cfpc_gym, gymnasium
        >>> env = gymnasium.make("cfpc_gym/Eyeblink-v0", interstimulus_interval=0.4)
        >>> observation, info = env.reset(seed=0, options={"probe": True})  # CS alone
        >>> info["probe"]
        True
    """

    asset = "eyelid.xml"
    camera = "front"
    n_cues = 1

    def __init__(
        self,
        dt: float = 0.01,
        sensory_delay: float = 0.05,
        motor_delay: float = 0.0,
        trial_duration: float = 1.0,
        cue_time: float = 0.2,
        cue_duration: float = 0.05,
        interstimulus_interval: float = 0.25,
        interval_jitter: float = 0.0,
        puff_duration: float = 0.05,
        closure_ramp: float = 0.1,
        closed_angle: float = 1.0,
        puff_weight: float = 1.0,
        cocontraction: float = 0.0,
        tracking_weight: float = 1.0,
        effort_weight: float = 0.0,
        max_joint_velocity: float = 100.0,
        render_mode: str | None = None,
        render_width: int = 480,
        render_height: int = 480,
    ):
        require_positive(
            cue_duration=cue_duration,
            interstimulus_interval=interstimulus_interval,
            puff_duration=puff_duration,
            closure_ramp=closure_ramp,
            closed_angle=closed_angle,
        )
        require_non_negative(cue_time=cue_time, interval_jitter=interval_jitter, puff_weight=puff_weight)
        if not interstimulus_interval - interval_jitter >= 0:
            raise ValueError(
                f"interstimulus_interval ({interstimulus_interval} s) must be >= interval_jitter "
                f"({interval_jitter} s)"
            )
        if cue_time + interstimulus_interval - interval_jitter - closure_ramp < 0:
            raise ValueError(
                f"closure_ramp ({closure_ramp} s) must end at the puff, not start before the trial"
            )
        last_end = cue_time + interstimulus_interval + interval_jitter + puff_duration + closure_ramp
        if last_end > trial_duration:
            raise ValueError(
                f"trial_duration ({trial_duration} s) must cover the puff and reopening (by {last_end} s)"
            )
        self.cue_time = cue_time
        self.cue_duration = cue_duration
        self.interstimulus_interval = interstimulus_interval
        self.interval_jitter = interval_jitter
        self.puff_duration = puff_duration
        self.closure_ramp = closure_ramp
        self.closed_angle = closed_angle
        self.puff_weight = puff_weight
        super().__init__(**shared_arguments(locals()))
        low, high = self.physics.joint_range[0]
        if not low < closed_angle <= high:
            raise ValueError(
                f"closed_angle ({closed_angle} rad) must lie in the lid's range ({low}, {high}] rad"
            )
        self.puff_time = cue_time + interstimulus_interval
        self.closure_at_puff: float | None = None
        self.probe = False

    def output_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(1), np.ones(1)

    def output_of(self, joint_angles: np.ndarray) -> np.ndarray:
        return np.asarray(joint_angles, dtype=np.float64) / self.closed_angle

    def closure(self) -> float:
        """Lid closure now: 0 open, 1 closed."""
        return float(self.output_of(self.physics.joint_angles())[0])

    def initial_joint_angles(self) -> np.ndarray:
        return np.zeros(1)

    def puff_at(self, t: float) -> float:
        """1 while the puff blows at time ``t`` in the trial (never in a probe trial), else 0."""
        return 0.0 if self.probe else pulse(t, self.puff_time, self.puff_duration, self.dt)

    def target_at(self, t: float) -> np.ndarray:
        """The closure a well-timed conditioned response would have (open throughout a probe trial)."""
        if self.probe:
            return np.zeros(1)
        closing = minimum_jerk(t, self.puff_time - self.closure_ramp, self.closure_ramp)
        reopening = minimum_jerk(t, self.puff_time + self.puff_duration, self.closure_ramp)
        return np.array([closing - reopening])

    def cue_at(self, t: float) -> np.ndarray:
        return np.array([pulse(t, self.cue_time, self.cue_duration, self.dt)])

    def _begin_trial(self, seed: int | None, options: dict[str, Any] | None) -> None:
        jitter = draw_jitter(self.np_random, self.interval_jitter)
        self.puff_time = self.cue_time + self.interstimulus_interval + jitter
        self.closure_at_puff = None
        self.probe = bool(options and options.get("probe", False))

    def _reward_components(self, target: np.ndarray, output: np.ndarray, excitation: np.ndarray) -> dict:
        components = super()._reward_components(target, output, excitation)
        openness = float(np.clip(1.0 - output[0], 0.0, 1.0))
        components["puff"] = -self.puff_weight * self.puff_at(self.time) * openness
        return components

    def _after_step(self) -> None:
        if self.closure_at_puff is None and self.puff_at(self.time):
            self.closure_at_puff = self.closure()

    def _task_info(self) -> dict[str, Any]:
        info = {"puff": self.puff_at(self.time), "puff_time": self.puff_time, "probe": self.probe}
        if self.closure_at_puff is not None:  # absent before the puff: nothing to report yet
            info["closure_at_puff"] = self.closure_at_puff
        return info
