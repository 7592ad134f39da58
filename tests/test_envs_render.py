"""Headless rgb_array frames from every MuJoCo env (EGL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

MUJOCO_ENV_IDS = ("cfpc_gym/ElbowTrack-v0", "cfpc_gym/ArmReach-v0", "cfpc_gym/Eyeblink-v0")

# MuJoCo picks its OpenGL backend from MUJOCO_GL when first imported, which other test modules
# have done by now; so frames are rendered in a fresh interpreter with MUJOCO_GL set beforehand.
RENDER_SCRIPT = """
import json, sys
import gymnasium as gym
import numpy as np
import cfpc_gym

frames = {}
for env_id in sys.argv[1:]:
    env = gym.make(env_id, render_mode="rgb_array", render_width=160, render_height=120)
    env.reset(seed=0)
    for _ in range(20):
        env.step(np.full(env.action_space.shape, 0.3, dtype=np.float32))
    frame = env.render()
    env.close()
    frames[env_id] = {"shape": list(frame.shape), "dtype": str(frame.dtype), "std": float(frame.std())}
print(json.dumps(frames))
"""


@pytest.mark.slow
def test_rgb_array_frames_are_images_of_something():
    environment = {**os.environ}
    environment.setdefault("MUJOCO_GL", "egl")
    result = subprocess.run(
        [sys.executable, "-c", RENDER_SCRIPT, *MUJOCO_ENV_IDS],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"offscreen rendering with MUJOCO_GL={environment['MUJOCO_GL']} failed: {reason}")
    frames = json.loads(result.stdout.strip().splitlines()[-1])
    for env_id in MUJOCO_ENV_IDS:
        frame = frames[env_id]
        assert frame["shape"] == [120, 160, 3] and frame["dtype"] == "uint8", env_id
        assert frame["std"] > 10.0, f"{env_id}: a blank frame (pixel std {frame['std']:.1f})"


def test_render_mode_none_renders_nothing_and_opens_no_context():
    from cfpc_gym.envs.elbow import ElbowTrackEnv

    env = ElbowTrackEnv()
    env.reset(seed=0)
    assert env.render() is None
    assert env._renderer is None
    assert np.all(np.isfinite(env.physics.joint_angles()))
