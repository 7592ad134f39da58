"""Published reference results drawn beside the bench's own: MyoSuite's NPG baselines on its pose tasks.

Source: the training logs MyoSuite ships with its NPG baselines, repository MyoHub/myosuite, folder
``myosuite/agents/baslines_NPG/<task id>/<date>/<n>_env=<task id>,seed=<1|2|3>/logs/log.csv``
(elbow and finger runs of 2022-02-26_21-16-27, hand runs of 2022-02-27_11-03-32; MyoSuite's
``mj_env`` branch v0.2dev, mjrl NPG: 96 trajectories of 100 steps, 9,600 env steps, per
iteration, 1001 iterations). Columns read: ``success_percentage`` (the sampled trajectories that
are solved on more than 5 steps, MyoSuite's ``evaluate_success``), ``rwd_sparse`` (the mean over
those trajectories of the episode-mean sparse reward, which is minus the pose distance: so
``-rwd_sparse`` is the episode-mean pose distance, the bench's goal error) and ``num_samples``.
Env steps after iteration i: 9,600 (i + 1). Values are means over the three seeds; per seed:

- ``myoElbowPose1D6MRandom-v0``: success first >= 90 % at iteration 2 in every seed (94.8, 93.8,
  92.7 %); pose distance at iteration 10 0.1179, 0.1224, 0.1207; at iteration 1000 0.0420,
  0.0436, 0.0455, success 100 %.
- ``myoFingerPoseRandom-v0``: success first >= 90 % at iterations 117, 134, 117 (92.7, 91.7,
  90.6 %; rows from iteration 61 on read), pose distance then 0.373, 0.393, 0.374; at iteration
  1000 0.246, 0.262, 0.253, success 100, 99.0, 99.0 %.
- ``myoHandPoseRandom-v0``: at iteration 1000 success 0 % in every seed, pose distance 1.994,
  2.000, 1.935.

These measure NPG's stochastic sampling policy during training, on MyoSuite's 2022 envs
(observations through its ``normalize_act`` sigmoid), not a deterministic evaluation: a yardstick
of scale, not a like-for-like comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import RunConfig

MYOSUITE_POSE_ENV = "cfpc_gym/MyoPose-v0"  # its ``task`` kwarg names the MyoSuite env it wraps
NPG_STEPS_PER_ITERATION = 9_600


@dataclass(frozen=True)
class ReferencePoint:
    """One published measurement: a goal error or success rate after so many env steps.

    Args:
        env_steps: Env steps of experience behind the measurement.
        goal_error: Episode-mean distance to the goal (rad), or None where not measured here.
        success: Share of episodes that succeed (0 to 1), or None.
        label: Who measured it, for a legend.
    """

    env_steps: int
    goal_error: float | None = None
    success: float | None = None
    label: str = "MyoSuite NPG"


def _after(iteration: int) -> int:
    return NPG_STEPS_PER_ITERATION * (iteration + 1)


REFERENCES: dict[str, tuple[ReferencePoint, ...]] = {
    "myoElbowPose1D6MRandom-v0": (
        ReferencePoint(_after(2), success=0.9375),
        ReferencePoint(_after(10), goal_error=0.1203),
        ReferencePoint(_after(1000), goal_error=0.0437, success=1.0),
    ),
    "myoFingerPoseRandom-v0": (
        ReferencePoint(round((2 * _after(117) + _after(134)) / 3), goal_error=0.380, success=0.917),
        ReferencePoint(_after(1000), goal_error=0.2535, success=0.993),
    ),
    "myoHandPoseRandom-v0": (ReferencePoint(_after(1000), goal_error=1.976, success=0.0),),
}


def myosuite_task(config: RunConfig) -> str | None:
    """The MyoSuite task id a run config drives through ``cfpc_gym/MyoPose-v0``, else None."""
    task = config.env.kwargs.get("task") if config.env.id == MYOSUITE_POSE_ENV else None
    return task if isinstance(task, str) else None


def references_for(config: RunConfig) -> tuple[ReferencePoint, ...]:
    """The published reference points for a run config's task (none for a task without any).

    Example:
        >>> [p.env_steps for p in references_for(load_config("myo_hand"))]
        [9609600]
    """
    return REFERENCES.get(myosuite_task(config) or "", ())
