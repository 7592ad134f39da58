"""Force-field reaching (Shadmehr & Mussa-Ivaldi 1994): hand paths, learning curve, after-effects.

Measures, on ``cfpc_gym/ArmReach-v0`` (baseline / field / washout blocks with catch trials):

- **lateral deviation** of a trial: the hand's signed distance from the straight centre-target
  line, through the trial (m; positive to the left of the direction of motion);
- **excess deviation**: the lateral deviation minus the same controller's no-field path to the
  same target, time-aligned; the trial's value is the signed excess where it is largest. It removes
  the curvature that delayed feedback leaves even without a field, so what remains is what the
  field (or an after-effect) does. The no-field paths are reaches to every target, field off and
  learning frozen, with the weights the controller has when the field comes on (a learner's
  baseline reaches still change from one cycle to the next, and that is not the field's doing);
- **field ratio**: over a window of consecutive non-catch field trials, the summed |excess| of a
  learner over that of feedback alone on the same trials (same targets: the schedule is seeded).
  1: no adaptation; "the error halves" when it reaches 0.5;
- **after-effects**: excess deviation in catch trials (field unexpectedly off) and washout trials;
  adaptation predicts the mirror image of the early-field deviation (opposite sign, per target).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..agent import CFPCAgent
from ..build import make_run_agent
from ..config import RunConfig
from ..rollout import run_trial

HALVING_WINDOW = 4  # non-catch field trials per window of the field ratio


@dataclass
class ReachTrial:
    trial: int
    block: str  # baseline, field or washout
    catch_trial: bool
    target_index: int
    lateral: np.ndarray  # (steps,) signed lateral deviation of the hand (m)
    hand_path: np.ndarray  # (steps, 2) hand position (m)
    rmse: float  # joint-angle tracking RMSE (rad) the controller minimises


@dataclass
class Reaching:
    """One controller through the whole schedule."""

    controller: str
    trials: list[ReachTrial] = field(default_factory=list)
    no_field: dict[int, np.ndarray] = field(default_factory=dict)  # per target: the reference path
    excess: np.ndarray | None = None  # (trials,) signed excess deviation (m), from measure()

    def measure(self) -> Reaching:
        excess = []
        for t in self.trials:
            difference = t.lateral - self.no_field[t.target_index]
            excess.append(difference[np.argmax(np.abs(difference))])
        self.excess = np.array(excess)
        return self

    def select(self, block: str, catch: bool | None = False) -> np.ndarray:
        """Indices of the trials of a block (non-catch by default; None: all)."""
        return np.array(
            [
                i
                for i, t in enumerate(self.trials)
                if t.block == block and (catch is None or t.catch_trial == catch)
            ],
            dtype=int,
        )


def run_reaching(config: RunConfig, index: int) -> Reaching:
    """Run configured controller ``index`` on the arm for ``config.trials`` trials (one env)."""
    agent = make_run_agent(config, index)
    arm = agent.env.envs[0].unwrapped
    result = Reaching(config.controllers[index].name)
    for trial in range(config.trials):
        if not result.no_field and arm.schedule.block(trial) != "baseline":
            result.no_field = no_field_paths(config, index, agent)  # the weights at the field's onset
        record = run_trial(agent, seeds=[config.seed] if trial == 0 else None)
        result.trials.append(reach(arm, record))
    agent.env.close()
    result.no_field = result.no_field or no_field_paths(config, index, agent)
    return result.measure()


def reach(arm, record) -> ReachTrial:
    """The arm's last trial, from its record (one env)."""
    hand = np.array([arm.forward_kinematics(q) for q in record.output[:, 0]])
    direction = arm.targets[arm.target_index] - arm.centre
    direction /= np.linalg.norm(direction)
    offset = hand - arm.centre
    lateral = direction[0] * offset[:, 1] - direction[1] * offset[:, 0]  # 2-D cross product
    return ReachTrial(
        trial=arm.trial,
        block=arm.block,
        catch_trial=arm.catch_trial,
        target_index=arm.target_index,
        lateral=lateral,
        hand_path=hand,
        rmse=float(record.rmse[0]),
    )


def no_field_paths(config: RunConfig, index: int, agent: CFPCAgent) -> dict[int, np.ndarray]:
    """Per target, the lateral deviation of a reach with the field off and learning frozen, with
    ``agent``'s weights as they are: the first cycle of the schedule (baseline), on an env of its own."""
    frozen = make_run_agent(config, index)
    frozen.controller.load_state_dict(agent.controller.state_dict())
    arm = frozen.env.envs[0].unwrapped
    paths = {}
    for trial in range(arm.n_targets):
        record = run_trial(frozen, learn=False, seeds=[config.seed] if trial == 0 else None)
        if arm.block != "baseline":
            raise ValueError(
                "baseline_trials: the excess deviation needs a no-field reach to every target, "
                f"the schedule's first cycle (baseline_trials >= n_targets = {arm.n_targets})"
            )
        paths[arm.target_index] = reach(arm, record).lateral
    frozen.env.close()
    return paths


def field_ratio(learner: Reaching, feedback: Reaching, window: int = HALVING_WINDOW) -> np.ndarray:
    """Per window of ``window`` consecutive non-catch field trials (sliding by one): summed |excess|
    of the learner over that of feedback alone on the same trials."""
    trials = learner.select("field")
    if not np.array_equal(trials, feedback.select("field")):
        raise ValueError("learner and feedback ran different schedules: use the same config and seed")
    mine, theirs = np.abs(learner.excess[trials]), np.abs(feedback.excess[trials])
    sums = np.convolve(mine, np.ones(window), "valid"), np.convolve(theirs, np.ones(window), "valid")
    return sums[0] / sums[1]


def trials_to_halve(learner: Reaching, feedback: Reaching, window: int = HALVING_WINDOW) -> int | None:
    """Field trials (catch trials included, counted from the field's first) until the end of the
    first window whose field ratio is <= 0.5; None if none is."""
    ratio = field_ratio(learner, feedback, window)
    below = np.flatnonzero(ratio <= 0.5)
    if not below.size:
        return None
    last = learner.select("field")[below[0] + window - 1]
    return int(last - learner.select("field", catch=None)[0] + 1)


@dataclass(frozen=True)
class AfterEffect:
    """Per target: signed excess deviation early in the field, in catch trials, early in washout (m)."""

    early_field: dict[int, float]
    catch: dict[int, float]
    washout: dict[int, float]

    def mirrored(self, which: str) -> float:
        """Fraction of the targets (present in both) whose ``which`` after-effect has the opposite
        sign of their early-field deviation."""
        effects = getattr(self, which)
        common = [k for k in effects if k in self.early_field]
        if not common:
            return math.nan
        return float(np.mean([np.sign(effects[k]) == -np.sign(self.early_field[k]) for k in common]))


def after_effects(result: Reaching) -> AfterEffect:
    """First non-catch field trial and first washout trial to each target; to each, the last catch
    trial after its first field trial (a catch trial before it shows no learned after-effect)."""

    def first(indices) -> dict[int, int]:  # per target, its first trial among indices
        found: dict[int, int] = {}
        for i in indices:
            found.setdefault(result.trials[i].target_index, int(i))
        return found

    early = first(result.select("field"))
    catch = {}
    for i in result.select("field", True):
        target = result.trials[i].target_index
        if target in early and i > early[target]:
            catch[target] = float(result.excess[i])
    excess = {k: float(result.excess[i]) for k, i in early.items()}
    washout = {k: float(result.excess[i]) for k, i in first(result.select("washout")).items()}
    return AfterEffect(excess, catch, washout)
