"""Meta-tests over every registered cfpc_gym env: Gymnasium's checker, seeding, rewards, tracking signals."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import cfpc_gym  # noqa: F401  (registers the envs)
from cfpc_gym.envs import ENV_IDS, TRACKING_FIELDS, TRACKING_KEY, TrackingSpec
from cfpc_gym.envs.myosuite_adapter import MYOSUITE_ENV_IDS

# Warnings an env is known to raise, by design (patterns per env id); any other warning fails.
UNBOUNDED_OBSERVATIONS = (".*observation space minimum value is -infinity.*", ".*maximum value is infinity.*")
EXPECTED_WARNINGS = {
    # The adapter is a wrapper and leaves MyoSuite's (unbounded) observation as it is.
    "cfpc_gym/MyoElbowTrack-v0": (".*different from the unwrapped version.*", *UNBOUNDED_OBSERVATIONS),
    "cfpc_gym/MyoPose-v0": (".*different from the unwrapped version.*", *UNBOUNDED_OBSERVATIONS),
    # An adapter wrapper too; Reacher-v5's observation and its free shoulder angle are unbounded.
    "cfpc_gym/ReacherTrack-v0": (".*different from the unwrapped version.*", *UNBOUNDED_OBSERVATIONS),
}


def make(env_id: str, **kwargs) -> gym.Env:
    if env_id in MYOSUITE_ENV_IDS:
        pytest.importorskip("myosuite")
    return gym.make(env_id, **kwargs)


def tracking_env(env: gym.Env) -> gym.Env:
    """The layer that carries the tracking surface: the env itself, or the MyoSuite adapter wrapper."""
    while (
        not hasattr(type(env), "allocate")
        and not hasattr(env, "tracking_spec")
        and isinstance(env, gym.Wrapper)
    ):
        env = env.env
    return env


def rollout(env: gym.Env, seed: int) -> tuple[list, list, list]:
    env.action_space.seed(seed)
    observation, info = env.reset(seed=seed)
    observations, rewards, infos = [observation], [], [info]
    truncated = terminated = False
    while not (truncated or terminated):
        observation, reward, terminated, truncated, info = env.step(env.action_space.sample())
        observations.append(observation)
        rewards.append(reward)
        infos.append(info)
    return observations, rewards, infos


@pytest.mark.parametrize("env_id", sorted(ENV_IDS))
def test_check_env_without_warnings(env_id):
    env = tracking_env(make(env_id))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for pattern in EXPECTED_WARNINGS.get(env_id, ()):
            warnings.filterwarnings("ignore", message=pattern)
        # Adapters that wrap a third-party env are checked at the layer that adds the tracking surface.
        check_env(env if isinstance(env, gym.Wrapper) else env.unwrapped, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("env_id", sorted(ENV_IDS))
def test_same_seed_same_rollout(env_id):
    first, second = (rollout(make(env_id), seed=7) for _ in range(2))
    np.testing.assert_array_equal(np.array(first[0]), np.array(second[0]))
    np.testing.assert_array_equal(np.array(first[1]), np.array(second[1]))
    for info_a, info_b in zip(first[2], second[2], strict=True):
        for field in TRACKING_FIELDS:
            np.testing.assert_array_equal(info_a[TRACKING_KEY][field], info_b[TRACKING_KEY][field])


@pytest.mark.parametrize("env_id", sorted(ENV_IDS))
def test_reward_components_sum_to_reward(env_id):
    observations, rewards, infos = rollout(make(env_id), seed=3)
    for reward, info in zip(rewards, infos[1:], strict=True):
        assert reward == pytest.approx(sum(info["reward_components"].values()), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("env_id", sorted(ENV_IDS))
def test_tracking_signals_match_spec(env_id):
    env = make(env_id)
    surface = tracking_env(env)
    spec = surface.tracking_spec
    assert isinstance(spec, TrackingSpec)
    assert spec.dt == pytest.approx(surface.dt)
    assert spec.sensory_delay == pytest.approx(surface.sensory_delay)
    sizes = {"reference": spec.dofs, "measurement": spec.dofs, "target": spec.dofs, "output": spec.dofs}
    sizes["cue"] = spec.cues
    _, _, infos = rollout(env, seed=0)
    for info in infos:
        tracking = info[TRACKING_KEY]
        assert set(tracking) == set(TRACKING_FIELDS)
        for field, size in sizes.items():
            assert tracking[field].shape == (size,) and tracking[field].dtype == np.float64
            assert np.all(np.isfinite(tracking[field]))


@pytest.mark.parametrize("env_id", sorted(ENV_IDS))
def test_reference_and_measurement_share_the_sensory_delay(env_id):
    env = make(env_id)
    spec = tracking_env(env).tracking_spec
    steps = round(spec.sensory_delay / spec.dt)
    _, _, infos = rollout(env, seed=1)
    tracks = [info[TRACKING_KEY] for info in infos]
    for now, then in zip(tracks[steps:], tracks[: len(tracks) - steps], strict=True):
        np.testing.assert_allclose(now["reference"], then["target"], atol=1e-12)
        np.testing.assert_allclose(now["measurement"], then["output"], atol=1e-12)


@pytest.mark.parametrize("env_id", sorted(ENV_IDS))
def test_observation_holds_the_tracking_signals(env_id):
    """Observation-only policies (SB3 predict) read reference, measurement and cue from it."""
    env = make(env_id)
    spec = tracking_env(env).tracking_spec
    observations, _, infos = rollout(env, seed=2)
    for observation, info in zip(observations, infos, strict=True):
        read = spec.from_observation(observation)
        for field in ("reference", "measurement", "cue"):
            np.testing.assert_allclose(read[field], info[TRACKING_KEY][field], atol=1e-12)
