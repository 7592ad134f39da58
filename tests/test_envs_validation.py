"""The shared argument checks, and the contract the muscle tasks keep with their base class."""

from __future__ import annotations

import inspect
import math

import pytest

from cfpc_gym.envs.arm import ArmReachEnv
from cfpc_gym.envs.elbow import ElbowTrackEnv
from cfpc_gym.envs.eyeblink import EyeblinkEnv
from cfpc_gym.envs.muscle_task import SHARED_ARGUMENTS, MuscleTaskEnv
from cfpc_gym.envs.validation import (
    require_delay_within_trial,
    require_non_negative,
    require_positive,
    whole_steps,
    whole_substeps,
)


def test_the_first_failing_value_is_named_in_argument_order():
    require_positive(a=1.0, b=1e-9)
    require_non_negative(a=0.0, b=2)
    with pytest.raises(ValueError, match=r"^b must be a finite number > 0, got 0.0$"):
        require_positive(a=1.0, b=0.0, c=-1.0)
    with pytest.raises(ValueError, match=r"^c must be >= 0, got -1$"):
        require_non_negative(a=0.0, b=1.0, c=-1, d=-2)


@pytest.mark.parametrize("check", [require_positive, require_non_negative])
def test_nan_is_refused(check):
    with pytest.raises(ValueError, match="^x must be"):
        check(x=math.nan)


def test_durations_in_whole_steps():
    assert whole_steps("sensory_delay", 0.06, 0.02) == 3
    with pytest.raises(
        ValueError, match=r"^motor_delay \(0.015 s\) must be a whole number of steps of dt=0.01 s$"
    ):
        whole_steps("motor_delay", 0.015, 0.01)
    assert whole_substeps(0.01, 0.002, "the model") == 5
    with pytest.raises(
        ValueError, match=r"^dt must be a whole multiple of the model timestep 0.002 s, got 0.001$"
    ):
        whole_substeps(0.001, 0.002, "the model")
    with pytest.raises(ValueError, match="must be shorter than trial_duration"):
        require_delay_within_trial(1.0, 1.0)


@pytest.mark.parametrize("task", [ElbowTrackEnv, ArmReachEnv, EyeblinkEnv])
def test_every_muscle_task_lists_the_shared_arguments_with_defaults(task):
    # Tasks pass them on with shared_arguments(locals()): each must be a parameter of its own.
    assert issubclass(task, MuscleTaskEnv)
    parameters = inspect.signature(task).parameters
    missing = [name for name in SHARED_ARGUMENTS if name not in parameters]
    assert not missing, f"{task.__name__} does not take {missing}"
    assert all(parameters[name].default is not inspect.Parameter.empty for name in SHARED_ARGUMENTS)


def test_a_task_passes_its_own_defaults_on():
    env = EyeblinkEnv(motor_delay=0.02)
    assert env.trial_duration == 1.0 and env.max_joint_velocity == 100.0 and env.cocontraction == 0.0
    assert env.motor_delay == 0.02
