"""Eyeblink conditioning: acquisition of the conditioned response (CR) and its timing.

Measured on ``cfpc_gym/Eyeblink-v0``. Training trials pair the conditioned stimulus (CS) with the
air puff; every ``probe_every`` trials a CS-alone probe trial (no puff, reference open, learning
off) shows the CR by itself, without the closure that the puff's error drives through feedback
(the lab's way of timing a CR). Definitions:

- **CR amplitude** of a probe trial: lid closure (0 open, 1 closed) at the time the puff would
  have come; a probe **has a CR** when that is >= ``CR_THRESHOLD``;
- **CR peak time**: when the probe's closure peaks, in seconds after puff onset (negative: before);
- **closure at puff** of a training trial: the env's ``closure_at_puff``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..build import make_run_agent
from ..config import RunConfig
from ..rollout import run_trial

CR_THRESHOLD = 0.1  # closure (fraction of full) at puff onset that counts as a conditioned response


@dataclass
class Probe:
    after_trials: int  # training trials done before this probe
    closure: np.ndarray  # (steps,) lid closure through the probe trial


@dataclass
class Conditioning:
    """One controller through ``trials`` training trials at one interstimulus interval."""

    controller: str
    interstimulus_interval: float  # s
    dt: float  # s
    cs_onset: float  # s into the trial
    closure_at_puff: list[float] = field(default_factory=list)  # per training trial
    probes: list[Probe] = field(default_factory=list)

    @property
    def puff_step(self) -> int:
        return round((self.cs_onset + self.interstimulus_interval) / self.dt)

    def cr_amplitude(self, probe: Probe) -> float:
        return float(probe.closure[self.puff_step])

    def has_cr(self, probe: Probe) -> bool:
        return self.cr_amplitude(probe) >= CR_THRESHOLD

    def cr_peak_time(self, probe: Probe) -> float:
        """Seconds from puff onset to the probe's peak closure; NaN without a CR (no peak to time)."""
        if not self.has_cr(probe):
            return math.nan
        return (int(np.argmax(probe.closure)) - self.puff_step) * self.dt

    @property
    def acquisition(self) -> tuple[np.ndarray, np.ndarray]:
        """(training trials done, CR amplitude) at each probe."""
        return (
            np.array([p.after_trials for p in self.probes]),
            np.array([self.cr_amplitude(p) for p in self.probes]),
        )


def run_conditioning(config: RunConfig, index: int, probe_every: int = 5) -> Conditioning:
    """Train configured controller ``index`` for ``config.trials`` trials, probing every
    ``probe_every`` (and before the first), with the env's own interstimulus interval."""
    if probe_every < 1:
        raise ValueError(f"probe_every must be >= 1, got {probe_every}")
    agent = make_run_agent(config, index)
    eye = agent.env.envs[0].unwrapped
    if eye.interval_jitter:
        raise ValueError("interval_jitter must be 0: probes time the CR against a fixed puff")
    result = Conditioning(config.controllers[index].name, eye.interstimulus_interval, eye.dt, eye.cue_time)

    def probe(done: int) -> None:
        record = run_trial(
            agent, learn=False, options={"probe": True}, seeds=[config.seed] if not done else None
        )
        result.probes.append(Probe(done, record.output[:, 0, 0].copy()))

    probe(0)
    for trial in range(1, config.trials + 1):
        run_trial(agent)
        result.closure_at_puff.append(float(eye.closure_at_puff))
        if trial % probe_every == 0 or trial == config.trials:
            probe(trial)
    agent.env.close()
    return result
