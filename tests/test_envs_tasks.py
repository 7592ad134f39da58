"""Task behaviour: cue timing, delayed PID tracking, force fields and their schedule, eyeblink measures."""

from __future__ import annotations

import numpy as np
import pytest

from cfpc_gym.envs.arm import ArmReachEnv
from cfpc_gym.envs.elbow import ElbowTrackEnv
from cfpc_gym.envs.eyeblink import EyeblinkEnv
from cfpc_gym.envs.force_field import SHADMEHR_FIELD, FieldSchedule, field_matrix
from cfpc_gym.envs.tracking import TRACKING_KEY


class PID:
    """Joint-space PID on the sensed error (reference - measurement), output in N*m."""

    def __init__(self, kp, ki, kd, dt, integral=0.0):
        self.kp, self.ki, self.kd, self.dt = (np.asarray(g, dtype=float) for g in (kp, ki, kd, dt))
        self.integral = np.asarray(integral, dtype=float)  # starts holding the posture: no start-up sag
        self.previous = None

    def __call__(self, error):
        self.integral = self.integral + error * self.dt
        derivative = 0.0 * error if self.previous is None else (error - self.previous) / self.dt
        self.previous = error
        return self.kp * error + self.ki * self.integral + self.kd * derivative


def run_pid(env, pid_gains, seed=0, options=None):
    """One trial under PID feedback through ``env.allocate``; returns the trial's infos after each step."""
    _, info = env.reset(seed=seed, options=options)
    kp, ki, kd = (np.asarray(g, dtype=float) for g in pid_gains)
    pid = PID(kp, ki, kd, env.dt, integral=env.physics.holding_torques() / ki)
    infos, truncated = [], False
    while not truncated:
        tracking = info[TRACKING_KEY]
        command = pid(tracking["reference"] - tracking["measurement"])
        _, _, _, truncated, info = env.step(env.allocate(command))
        infos.append(info)
    return infos


def half_amplitude_crossing(t, x, level):
    k = int(np.argmax(x >= level))
    return t[k - 1] + (level - x[k - 1]) / (x[k] - x[k - 1]) * (t[k] - t[k - 1])


# --- elbow ------------------------------------------------------------------------------------------

ELBOW_PID = (10.0, 20.0, 1.5)  # N*m/rad, N*m/(rad s), N*m s/rad: about critically damped at 50 ms delay


def elbow_pid_trial(movement_duration, sensory_delay, trial_duration=2.0):
    env = ElbowTrackEnv(
        movement_duration=movement_duration, sensory_delay=sensory_delay, trial_duration=trial_duration
    )
    infos = run_pid(env, ELBOW_PID)
    output = np.array([i[TRACKING_KEY]["output"][0] for i in infos])
    target = np.array([i[TRACKING_KEY]["target"][0] for i in infos])
    t = env.dt * np.arange(1, len(infos) + 1)
    half = env.rest_angle + env.amplitude / 2
    lag = half_amplitude_crossing(t, output, half) - half_amplitude_crossing(t, target, half)
    return lag, float(np.sqrt(np.mean((output - target) ** 2))), float(abs(output[-1] - target[-1]))


def test_pid_tracks_a_slow_target_but_lags_a_fast_cued_one_by_more_than_the_sensory_delay():
    delay = 0.05
    _, slow_rms, slow_final = elbow_pid_trial(movement_duration=2.0, sensory_delay=delay, trial_duration=3.0)
    fast_lag, fast_rms, _ = elbow_pid_trial(movement_duration=0.3, sensory_delay=delay)
    assert slow_rms < 0.06 * 0.8 and slow_final < 0.01  # within 6% of the 0.8 rad movement, settles
    assert fast_lag >= delay
    assert fast_rms > 2 * slow_rms
    # Feedback waits for the delay: the lag grows with it.
    lags = [elbow_pid_trial(movement_duration=0.3, sensory_delay=d)[0] for d in (0.0, 0.05, 0.1)]
    assert lags[0] < lags[1] < lags[2]


def test_elbow_cue_precedes_the_movement_by_the_interval():
    env = ElbowTrackEnv(cue_time=0.2, cue_duration=0.05, cue_to_movement=0.3)
    _, info = env.reset(seed=0)
    cue, target = [info[TRACKING_KEY]["cue"][0]], [info[TRACKING_KEY]["target"][0]]
    for _ in range(env.trial_steps):
        *_, info = env.step(env.action_space.sample())
        cue.append(info[TRACKING_KEY]["cue"][0])
        target.append(info[TRACKING_KEY]["target"][0])
    cue_steps = np.flatnonzero(cue)
    np.testing.assert_array_equal(cue_steps, np.arange(20, 25))
    moving = np.flatnonzero(np.diff(target) > 0)
    assert moving[0] == 50  # the target first rises on the step after 0.5 s
    assert target[-1] == pytest.approx(env.rest_angle + env.amplitude)


def test_elbow_interval_jitter_is_drawn_per_trial_from_the_seed():
    env = ElbowTrackEnv(interval_jitter=0.1)
    starts = []
    for seed in (0, None, None, None):
        _, info = env.reset(seed=seed)
        starts.append(info["movement_start"])
    assert len(set(starts)) == 4 and all(0.4 <= s <= 0.6 for s in starts)
    env.reset(seed=0)
    assert env.movement_start == starts[0]
    fixed = ElbowTrackEnv()
    assert {fixed.reset(seed=s)[1]["movement_start"] for s in range(3)} == {0.5}


# --- arm ----------------------------------------------------------------------------------------

ARM_INERTIA = np.array([0.19, 0.06])  # kg m^2, shoulder and elbow, near the centre posture
ARM_PID = (64 * ARM_INERTIA, 64 * ARM_INERTIA, 16 * ARM_INERTIA)  # omega = 8 rad/s, damping ratio 1


def lateral_deviations(force_field, curl_strength=15.0):
    """Signed peak deviation (m) of the hand from the straight centre-target line, one per target."""
    env = ArmReachEnv(
        force_field=force_field,
        curl_strength=curl_strength,
        baseline_trials=0,
        field_trials=8,
        catch_fraction=0.0,
    )
    deviations = {}
    for trial in range(env.n_targets):  # one shuffled cycle: every target once
        infos = run_pid(env, ARM_PID, seed=0 if trial == 0 else None)
        assert infos[-1]["field_on"] == (force_field != "none")
        direction = env.targets[env.target_index] - env.centre
        normal = np.array([-direction[1], direction[0]]) / np.linalg.norm(direction)
        lateral = np.array([i["hand_position"] for i in infos]) @ normal - env.centre @ normal
        deviations[env.target_index] = lateral[np.argmax(np.abs(lateral))]
    assert sorted(deviations) == list(range(env.n_targets))
    return np.array([deviations[k] for k in range(env.n_targets)])


def test_force_fields_push_the_hand_off_the_straight_line_and_the_curl_mirrors():
    null = lateral_deviations("none")
    shadmehr = lateral_deviations("shadmehr")
    curl = lateral_deviations("curl", 15.0)
    mirror = lateral_deviations("curl", -15.0)
    assert np.mean(np.abs(shadmehr)) > 1.5 * np.mean(np.abs(null))
    assert np.mean(np.abs(curl)) > 1.5 * np.mean(np.abs(null))
    # The curl and its mirror push each reach to opposite sides of the null-field path.
    assert np.all((curl - null) * (mirror - null) < 0)
    assert np.all(curl - null < 0)  # clockwise for b > 0


def test_reference_hand_path_is_a_straight_minimum_jerk_line_to_the_target():
    env = ArmReachEnv()
    env.reset(seed=4)
    target = env.targets[env.target_index]
    times = np.arange(0, env.trial_duration + 1e-9, env.dt)
    hands = np.array([env.forward_kinematics(env.target_at(t)) for t in times])
    direction = (target - env.centre) / env.target_distance
    normal = np.array([-direction[1], direction[0]])
    np.testing.assert_allclose((hands - env.centre) @ normal, 0.0, atol=1e-9)
    np.testing.assert_allclose(hands[0], env.centre, atol=1e-9)
    np.testing.assert_allclose(hands[-1], target, atol=1e-9)
    progress = (hands - env.centre) @ direction
    assert np.all(np.diff(progress) >= -1e-12)


def test_arm_schedule_blocks_catch_trials_and_target_cycles():
    env = ArmReachEnv(baseline_trials=8, field_trials=40, washout_trials=8, catch_fraction=0.25)
    infos = [env.reset(seed=11)[1]] + [env.reset()[1] for _ in range(63)]
    assert [i["trial"] for i in infos] == list(range(64))
    blocks = [i["block"] for i in infos]
    assert blocks == ["baseline"] * 8 + ["field"] * 40 + ["washout"] * 16  # washout lasts past the schedule
    field = [i for i in infos if i["block"] == "field"]
    catch = [i["catch_trial"] for i in field]
    assert 0 < sum(catch) < len(field)
    assert all(i["field_on"] == (not i["catch_trial"]) for i in field)
    assert not any(i["field_on"] or i["catch_trial"] for i in infos if i["block"] != "field")
    for start in range(0, 64, 8):  # shuffled cycles: each block of 8 trials visits every target
        assert sorted(i["target_index"] for i in infos[start : start + 8]) == list(range(8))
    # A seed starts the experiment again; options jump to a trial.
    assert env.reset(seed=11)[1]["target_index"] == infos[0]["target_index"]
    assert env.reset(options={"trial": 20})[1]["block"] == "field"
    # A jump draws what that trial drew in sequence: target and catch status (the seed's draws).
    for trial in (3, 21, 20, 8, 47, 9):
        jumped, expected = env.reset(options={"trial": trial})[1], infos[trial]
        assert jumped["target_index"] == expected["target_index"]
        assert jumped["catch_trial"] == expected["catch_trial"]
    followed = env.reset()[1]  # and the trials after it go on as in sequence
    assert (followed["trial"], followed["target_index"]) == (10, infos[10]["target_index"])


def test_field_matrices():
    np.testing.assert_array_equal(field_matrix("shadmehr"), [[-10.1, -11.2], [-11.2, 11.1]])
    np.testing.assert_array_equal(SHADMEHR_FIELD, field_matrix("shadmehr"))
    np.testing.assert_array_equal(field_matrix("curl", 12.0), [[0.0, 12.0], [-12.0, 0.0]])
    np.testing.assert_array_equal(field_matrix("none"), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="force_field"):
        field_matrix("viscous")
    with pytest.raises(ValueError, match="catch_fraction"):
        FieldSchedule(catch_fraction=1.5)


def test_arm_cue_marks_the_target_at_onset():
    env = ArmReachEnv()
    env.reset(seed=2)
    cues = []
    for _ in range(30):
        *_, info = env.step(np.zeros(6))
        cues.append(info[TRACKING_KEY]["cue"])
    cues = np.array(cues)
    assert cues.shape == (30, env.n_targets)
    assert set(np.flatnonzero(cues.sum(axis=0))) == {env.target_index}
    np.testing.assert_array_equal(np.flatnonzero(cues.sum(axis=1)), np.arange(19, 24))  # steps 20-24


# --- eyeblink --------------------------------------------------------------------------------------


def eyeblink_trial(env, excitation_at):
    _, info = env.reset(seed=0)
    infos = [info]
    for k in range(env.trial_steps):
        *_, info = env.step(np.array([excitation_at(k * env.dt)]))
        infos.append(info)
    return infos


def test_eyeblink_closure_at_puff_rewards_a_well_timed_closure():
    env = EyeblinkEnv(interstimulus_interval=0.25)
    puff = env.cue_time + 0.25
    timed = eyeblink_trial(env, lambda t: 1.0 if puff - 0.15 <= t < puff + 0.05 else 0.0)
    absent = eyeblink_trial(env, lambda t: 0.0)
    late = eyeblink_trial(env, lambda t: 1.0 if t >= puff else 0.0)
    assert "closure_at_puff" not in timed[0]
    closure = {
        name: run[-1]["closure_at_puff"]
        for name, run in (("timed", timed), ("absent", absent), ("late", late))
    }
    assert closure["timed"] > 0.9 and closure["absent"] < 0.02 and closure["late"] < 0.05
    puff_cost = {
        name: sum(i["reward_components"]["puff"] for i in run) for name, run in (("t", timed), ("a", absent))
    }
    assert puff_cost["t"] > puff_cost["a"] and puff_cost["a"] == pytest.approx(-5 * env.puff_weight, rel=0.05)
    # The reference closes the eye by puff onset and holds it through the puff.
    assert env.target_at(puff)[0] == pytest.approx(1.0) and env.target_at(puff - 0.12)[0] == 0.0
    assert all(i[TRACKING_KEY]["target"][0] == pytest.approx(1.0) for i in timed if i["puff"])


# --- argument validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "kwargs", "name"),
    [
        (ElbowTrackEnv, {"sensory_delay": -0.01}, "sensory_delay"),
        (ElbowTrackEnv, {"sensory_delay": 0.055}, "sensory_delay"),
        (ElbowTrackEnv, {"motor_delay": 0.015}, "motor_delay"),
        (ElbowTrackEnv, {"dt": 0.003}, "dt"),
        (ElbowTrackEnv, {"amplitude": 3.0}, "amplitude"),
        (ElbowTrackEnv, {"cocontraction": 1.0}, "cocontraction"),
        (ElbowTrackEnv, {"render_mode": "human"}, "render_mode"),
        (ElbowTrackEnv, {"trial_duration": 0.5}, "trial_duration"),
        (ArmReachEnv, {"force_field": "viscous"}, "force_field"),
        (ArmReachEnv, {"target_distance": 0.5}, "target_distance"),
        (ArmReachEnv, {"baseline_trials": -1}, "baseline_trials"),
        (ArmReachEnv, {"n_targets": 0}, "n_targets"),
        (EyeblinkEnv, {"interstimulus_interval": 0.0}, "interstimulus_interval"),
        (EyeblinkEnv, {"closed_angle": 2.0}, "closed_angle"),
        (EyeblinkEnv, {"motor_delay": -0.01}, "motor_delay"),
    ],
)
def test_bad_arguments_raise_one_line_value_errors_naming_them(make, kwargs, name):
    with pytest.raises(ValueError, match=name) as error:
        make(**kwargs)
    assert "\n" not in str(error.value)
