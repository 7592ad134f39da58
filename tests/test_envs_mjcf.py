"""Any MuJoCo model in a few lines: cfpc_gym/MuJoCoTrack-v0 on models from a path (outside the
package) or an installed package, muscle- or motor-driven; its allocation, its checks before
linearising, its one-line refusals; and a user's own model learning with CFPC."""

from __future__ import annotations

import shutil
from pathlib import Path

import gymnasium as gym
import mujoco
import numpy as np
import pytest

import cfpc_gym  # noqa: F401  (registers the envs)
from cfpc_gym.envs.mjcf_model import check_poles
from cfpc_gym.envs.mjcf_task import MJCFTrackEnv
from cfpc_gym.envs.physics import stepped_transition

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "own_model"
REACHER = "gymnasium.envs.mujoco:assets/reacher.xml"

# Two motors on two hinges, a third hinge no actuator turns, and a free-sliding block.
MOTOR_ARM = """
<mujoco model="motor_arm">
  <compiler angle="radian"/>
  <option timestep="0.002" gravity="0 0 -9.81"/>
  <default><geom contype="0" conaffinity="0"/><joint damping="0.2" armature="0.01"/></default>
  <worldbody>
    <body name="upper">
      <joint name="shoulder" axis="0 1 0" range="-1.5 1.5"/>
      <geom type="capsule" fromto="0 0 0 0 0 -0.3" size="0.03"/>
      <body name="lower" pos="0 0 -0.3">
        <joint name="elbow" axis="0 1 0" range="0 2"/>
        <geom type="capsule" fromto="0 0 0 0 0 -0.3" size="0.025"/>
        <body name="hand" pos="0 0 -0.3">
          <joint name="wrist" axis="0 1 0" range="-1 1"/>
          <geom type="sphere" size="0.03"/>
        </body>
      </body>
    </body>
    <body name="block" pos="1 0 0">
      <joint name="block_x" type="slide" axis="1 0 0" range="-1 1"/>
      <geom type="box" size="0.05 0.05 0.05"/>
    </body>
  </worldbody>
  <actuator>
    <motor name="shoulder_motor" joint="shoulder" gear="20" ctrlrange="-1 1"/>
    <general name="elbow_motor" joint="elbow" gainprm="10" ctrlrange="-2 2"/>
  </actuator>
</mujoco>
"""


@pytest.fixture
def leg(tmp_path: Path) -> Path:
    """The example muscle model, copied outside the package."""
    return Path(shutil.copy(EXAMPLE / "leg.xml", tmp_path / "my_leg.xml"))


@pytest.fixture
def motor_arm(tmp_path: Path) -> Path:
    path = tmp_path / "motor_arm.xml"
    path.write_text(MOTOR_ARM)
    return path


def _passive_torques(physics) -> np.ndarray:
    data, saved = physics.data, physics.data.act.copy()
    data.act[:] = 0.0
    mujoco.mj_forward(physics.model, data)
    passive = physics.muscle_torques()
    data.act[:] = saved
    mujoco.mj_forward(physics.model, data)
    return passive


def test_a_muscle_model_loads_by_path_with_its_joints_muscles_and_action_space(leg):
    env = gym.make("cfpc_gym/MuJoCoTrack-v0", model=str(leg), rest_angles=[0.2, 0.6], amplitudes=[0.5, 0.6])
    env.reset(seed=0)
    unwrapped = env.unwrapped
    assert unwrapped.physics.joint_names == ("hip", "knee")  # default: the actuated hinges
    assert unwrapped.physics.muscle_names == ("iliopsoas", "gluteus", "quadriceps", "hamstrings")
    assert unwrapped.physics.kind == "muscle" and unwrapped.cocontraction == 0.05
    assert env.action_space == gym.spaces.Box(0.0, 1.0, (4,), np.float32)
    assert unwrapped.tracking_spec.dofs == 2 and unwrapped.camera == "side"
    np.testing.assert_allclose(unwrapped.target_at(2.0), [0.7, 1.2])
    for _ in range(50):  # the muscles hold the rest posture against gravity
        env.step(unwrapped.physics.activations())
    np.testing.assert_allclose(unwrapped.physics.joint_angles(), [0.2, 0.6], atol=1e-3)


def test_a_motor_model_acts_in_its_ctrlrange_and_tracks_a_subset_of_joints(motor_arm):
    env = MJCFTrackEnv(model=motor_arm)
    assert env.physics.joint_names == ("shoulder", "elbow")  # the wrist and the block are not driven
    assert env.physics.kind == "motor" and env.cocontraction == 0.0
    np.testing.assert_array_equal(env.action_space.low, [-1, -2])
    np.testing.assert_array_equal(env.action_space.high, [1, 2])
    assert env.observation_layout["activations"] == slice(4, 4)  # motors have no activation state
    wrist = MJCFTrackEnv(model=motor_arm, joints=["elbow", "wrist"], rest_angles=[0.5, 0.0])
    assert wrist.physics.joint_names == ("elbow", "wrist")
    np.testing.assert_allclose(wrist.physics.dof_indices, [1, 2])
    with pytest.raises(ValueError, match="cocontraction applies to muscles only"):
        MJCFTrackEnv(model=motor_arm, cocontraction=0.1)


def test_muscle_allocation_makes_the_commanded_torque_within_capacity(leg):
    env = MJCFTrackEnv(model=leg)
    physics = env.physics
    rng = np.random.default_rng(0)
    for q in ([0.2, 0.6], [0.8, 1.2], [-0.2, 0.3]):
        for _ in range(4):
            command = rng.uniform(-10.0, 10.0, size=2)  # N*m, well within reach
            physics.reset(np.array(q))
            excitation = env.allocate(command)
            assert np.all((excitation >= env.cocontraction - 1e-12) & (excitation <= 1))
            physics.reset(np.array(q), activations=excitation)
            active = physics.muscle_torques() - _passive_torques(physics)
            np.testing.assert_allclose(active, command, atol=0.02 * np.abs(command).max())


def test_motor_allocation_is_exact_within_ctrlrange_and_saturates_beyond(motor_arm):
    env = MJCFTrackEnv(model=motor_arm)
    physics = env.physics
    physics.reset(np.array([0.3, 0.8]))
    for command in ([5.0, -3.0], [-19.0, 19.0], [0.0, 0.0]):
        control = env.allocate(np.array(command))
        physics.reset(np.array([0.3, 0.8]), activations=control)
        np.testing.assert_allclose(physics.muscle_torques(), command, atol=1e-9)
    control = env.allocate(np.array([100.0, -100.0]))
    np.testing.assert_allclose(control, [1.0, -2.0])


def test_the_package_path_form_loads_gymnasiums_reacher_and_linearises_its_arm_only():
    env = gym.make("cfpc_gym/MuJoCoTrack-v0", model=REACHER, joints=["joint0", "joint1"])
    env.reset(seed=0)
    unwrapped = env.unwrapped
    assert unwrapped.model_path.name == "reacher.xml" and unwrapped.physics.kind == "motor"
    np.testing.assert_array_equal(env.action_space.low, [-1, -1])
    np.testing.assert_allclose(unwrapped.physics.joint_range[0], [-2 * np.pi, 2 * np.pi])  # unlimited
    a, b, c, _ = unwrapped.linearize()
    # The target's two slide joints (undriven, unseen) are dropped: 2 arm angles + 2 velocities.
    assert a.shape == (4, 4) and b.shape == (4, 2) and c.shape == (2, 4)
    np.testing.assert_allclose(unwrapped.allocate(np.array([10.0, -5.0])), [0.05, -0.025])


def test_linearising_rk4_by_stepping_matches_mujocos_own_finite_differences(leg):
    env = MJCFTrackEnv(model=leg)
    env.reset(seed=0)
    model, data = env.physics.model, env.physics.data
    size = 2 * model.nv + model.na
    a, b = np.zeros((size, size)), np.zeros((size, model.nu))
    mujoco.mjd_transitionFD(model, data, 1e-6, True, a, b, None, None)
    stepped_a, stepped_b = stepped_transition(model, data, 1e-6)
    np.testing.assert_allclose(stepped_a, a, atol=1e-7)
    np.testing.assert_allclose(stepped_b, b, atol=1e-7)


def test_a_model_in_contact_at_rest_is_refused_naming_the_geoms(tmp_path):
    path = tmp_path / "touching.xml"
    path.write_text(
        MOTOR_ARM.replace('<geom contype="0" conaffinity="0"/>', "<geom/>").replace(
            '<body name="block" pos="1 0 0">', '<body name="block" pos="0 0 -0.3">'
        )
    )
    env = MJCFTrackEnv(model=path, joints=["shoulder"])
    env.reset(seed=0)
    with pytest.raises(ValueError, match="in contact at rest: geoms .*body") as error:
        env.linearize()
    message = str(error.value)
    assert "\n" not in message and "contype/conaffinity 0" in message
    assert "body lower" in message and "body block" in message


def test_exploding_poles_are_refused_and_a_model_without_camera_gets_a_free_one(motor_arm):
    env = MJCFTrackEnv(model=motor_arm)
    env.reset(seed=0)
    assert isinstance(env.camera, mujoco.MjvCamera)  # the model has no camera
    with pytest.raises(ValueError, match="linearisation at rest explodes .*magnitude 1e\\+04") as error:
        check_poles(np.diag([0.9, 1e4]), env.physics.model, env.physics.data)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"model": "/no/such/model.xml"}, "model: no such file: /no/such/model.xml"),
        ({"model": "{tmp}"}, "model: .* is not a regular file"),
        ({"model": "{tmp}/broken.xml"}, r"model: .*broken.xml does not compile: XML parse error"),
        ({"model": "no_such_package_xyz:assets/x.xml"}, "model: cannot find package 'no_such_package_xyz'"),
        ({"model": "{tmp}/motor_arm.xml", "joints": ["knee"]}, "joints: no joint 'knee' .*shoulder, elbow"),
        ({"model": "{tmp}/motor_arm.xml", "joints": ["block_x"]}, "tracked joints must be hinges"),
        ({"model": "{tmp}/motor_arm.xml", "joints": ["elbow", "elbow"]}, "joints: name each joint"),
        ({"model": "{tmp}/motor_arm.xml", "rest_angles": [0.0, 3.0]}, "rest_angles: joint elbow"),
        ({"model": "{tmp}/motor_arm.xml", "amplitudes": [2.0, 0.1]}, "amplitudes: joint shoulder"),
        ({"model": "{tmp}/motor_arm.xml", "amplitudes": [0.1, 0.1, 0.1]}, "amplitudes: give one"),
        ({"model": "{tmp}/motor_arm.xml", "camera": "top"}, "camera: no camera 'top'"),
        ({"model": "{tmp}/unlimited.xml"}, "motor shoulder_motor needs a ctrlrange"),
        ({"model": "{tmp}/ball.xml", "joints": ["shoulder"]}, "free or ball joint"),
    ],
)
def test_bad_arguments_raise_one_line_value_errors_naming_them(tmp_path, motor_arm, kwargs, pattern):
    (tmp_path / "broken.xml").write_text("<mujoco><worldbody><body><joint/></body></mujoco>")
    (tmp_path / "unlimited.xml").write_text(MOTOR_ARM.replace('ctrlrange="-1 1"', ""))
    (tmp_path / "ball.xml").write_text(
        MOTOR_ARM.replace('name="block_x" type="slide" axis="1 0 0" range="-1 1"', 'type="ball"')
    )
    kwargs = {k: v.format(tmp=tmp_path) if isinstance(v, str) else v for k, v in kwargs.items()}
    with pytest.raises(ValueError, match=pattern) as error:
        MJCFTrackEnv(**kwargs)
    assert "\n" not in str(error.value)


@pytest.mark.slow
def test_a_users_muscle_model_learns_with_cfpc(tmp_path, leg):
    """The example, copied outside the package: CFPC is >= 30 % below feedback alone in 15 trials."""
    from cfpc_gym.config import load_config
    from cfpc_gym.experiment.runner import run_experiment

    config_path = Path(shutil.copy(EXAMPLE / "config.yaml", tmp_path / "config.yaml"))
    config = load_config(config_path, [f"env.kwargs.model={leg}", "trials=15"])
    runs = {r.name: r for r in run_experiment(config, say=lambda *_: None).controllers}
    feedback_only, cfpc = runs["feedback-only"], runs["cfpc"]
    assert cfpc.diverged_at_trial is None
    assert cfpc.final_rmse <= 0.7 * feedback_only.final_rmse
