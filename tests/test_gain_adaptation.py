"""Gain adaptation of the PID by ME-LMS: exact gradient, convergence to the target gains, the LMS
baseline, batching, checkpoints, and one-line errors."""

import numpy as np
import pytest
import torch

from cfpc_gym.build import make_agent, make_vector_env
from cfpc_gym.config import ConfigError, load_config
from cfpc_gym.controllers import CFPC, PID, GainAdaptation, RaisedCosineBasis, closed_loop, make_rule
from cfpc_gym.controllers.closed_loops import plant_model
from cfpc_gym.experiment.runner import run_controller
from cfpc_gym.rollout import run_trial

F64 = torch.float64
DT, DELAY, TAU = 0.01, 5, 0.02
W = 2 * np.pi  # the paper's plant: 1 Hz, damping ratio 0.5, unit static gain
PLANT = (
    np.array([[0.0, 1.0], [-(W**2), -W]]),
    np.array([[0.0], [W**2]]),
    np.array([[1.0, 0.0]]),
    np.zeros((1, 1)),
)
TARGET = (2.0, 2.0, 0.2)


def pid(gains, batch: int = 1) -> PID:
    return PID(*gains, dt=DT, derivative_time_constant=TAU, batch_size=batch, dtype=F64)


def reference_model():
    """The loop closed with the target gains: exactly achievable by a PID."""
    return closed_loop(PLANT, [pid(TARGET).transfer_function()], DT, sensory_delay_steps=DELAY)


def simulate(adaptation: GainAdaptation, feedback: PID, steps: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """One trial on the exact discrete plant, learning as it goes; returns J = 1/2 sum e_m^2 per env
    (B,) and sum_k e_m eps, the negative gradient of J, per env (B, D, 3)."""
    plant = plant_model(PLANT, DT, sensory_delay_steps=DELAY)
    a, b, c = (torch.as_tensor(m) for m in (plant.a, plant.b, plant.c))
    batch = feedback.batch_size
    state = torch.zeros(batch, plant.order, dtype=F64)
    feedback.reset()
    adaptation.reset()
    cost, descent = torch.zeros(batch, dtype=F64), torch.zeros(batch, 1, 3, dtype=F64)
    time = np.arange(steps) * DT
    reference = np.sin(0.5 * np.pi * np.clip((time - 0.2) / 0.5, 0, 1)) ** 2  # a smooth step, then hold
    for k in range(steps):
        r = torch.full((batch, 1), reference[k], dtype=F64)
        y = state @ c.T
        command = feedback.step(r - y)
        adaptation.step(r, y)
        cost += 0.5 * adaptation.model_error.square().sum(1)
        descent += torch.einsum("bdji,bj->bdi", adaptation.trace, adaptation.model_error)
        adaptation.update()
        state = state @ a.T + command @ b.T
    return cost.numpy(), descent.numpy()


def test_the_closed_loop_trace_is_the_exact_gradient_of_the_model_following_error():
    """Env 0 runs the gains k, envs 1-6 run k +- h on one gain each: central differences of J."""
    gains, h = np.array([1.0, 0.8, 0.1]), 1e-6
    feedback = pid(gains, batch=7)
    exact = closed_loop(
        PLANT, [feedback.transfer_function()], DT, sensory_delay_steps=DELAY, injection="motor"
    )
    paper = plant_model(PLANT, DT, sensory_delay_steps=DELAY)
    gradients = {}
    for name, model in (("closed_loop", exact), ("plant", paper), ("lms", None)):
        feedback = pid(gains, batch=7)
        rule = "lms" if model is None else "me-lms"
        adaptation = GainAdaptation(
            feedback, reference_model(), rule=rule, forward_model=model, learning_rate=0.0
        )
        for i, gain in enumerate(("kp", "ki", "kd")):
            getattr(feedback, gain)[1 + 2 * i] += h
            getattr(feedback, gain)[2 + 2 * i] -= h
        cost, descent = simulate(adaptation, feedback)
        finite = -(cost[1::2] - cost[2::2]) / (2 * h)  # -dJ/dk_i
        gradients[name] = descent[0, 0]
    np.testing.assert_allclose(gradients["closed_loop"], finite, rtol=1e-5)
    cosine = {name: g @ finite / np.linalg.norm(g) / np.linalg.norm(finite) for name, g in gradients.items()}
    assert not np.allclose(gradients["plant"], finite, rtol=0.05), "the plant model leaves out the loop"
    assert cosine["plant"] > 0.5, "the paper's trace still points downhill"


def test_me_lms_with_the_plant_model_converges_to_the_target_gains():
    feedback = pid((1.0, 1.0, 0.1))
    model = plant_model(PLANT, DT, sensory_delay_steps=DELAY)
    adaptation = GainAdaptation(
        feedback, reference_model(), forward_model=model, learning_rate=[0.08, 0.4, 0.016]
    )
    costs = [simulate(adaptation, feedback, steps=200)[0][0] for _ in range(60)]
    np.testing.assert_allclose(adaptation.gains[0, 0].numpy(), TARGET, rtol=0.02)
    assert costs[-1] < 1e-3 * costs[0]


def test_a_steps_signals_move_with_the_module_between_step_and_update():
    model = plant_model(PLANT, DT, sensory_delay_steps=DELAY)
    feedback = pid((1.0, 1.0, 0.1))
    adaptation = GainAdaptation(feedback.float(), reference_model(), forward_model=model).float()
    reference = torch.ones(1, 1)
    for _ in range(20):
        feedback.step(reference)
        adaptation.step(reference, torch.zeros(1, 1))
    adaptation.double()
    feedback.double()
    assert adaptation.model_error.dtype == adaptation.trace.dtype == F64
    before = adaptation.gains.clone()
    adaptation.update()
    assert adaptation.gains.dtype == F64 and not torch.equal(adaptation.gains, before)


def test_a_batch_adapts_exactly_like_separate_runs():
    config = gain_config(3, "env.kwargs.interval_jitter=0.1", "dtype=float64")
    config = config.model_copy(update={"controllers": [config.controllers[1]]})
    seeds = [3, 4, 5]
    batched = make_agent(config, 0, make_vector_env(config, len(seeds)))
    for trial in range(3):
        run_trial(batched, seeds=seeds if trial == 0 else None)
    gains = batched.controller.gain_adaptation.gains.numpy()
    assert np.ptp(gains[:, 0, 0]) > 0, "the envs must differ, or the test proves nothing"
    for b, seed in enumerate(seeds):
        single = make_agent(config, 0, make_vector_env(config, 1))
        for trial in range(3):
            run_trial(single, seeds=[seed] if trial == 0 else None)
        np.testing.assert_allclose(single.controller.gain_adaptation.gains[0].numpy(), gains[b], rtol=1e-10)


def gain_config(trials: int, *overrides: str):
    return load_config("gain_adaptation", [f"trials={trials}", *overrides])


def test_me_lms_cuts_the_model_following_error_where_lms_makes_it_worse():
    """The bundled config, 10 trials: the trace through the plant model is what makes it work."""
    config = gain_config(10)
    rmse = {
        c.name: run_controller(config, index, say=print).trial_model_rmse
        for index, c in enumerate(config.controllers)
    }
    assert rmse["fixed"][0] == rmse["fixed"][-1]
    assert rmse["me-lms"][-1] < 0.3 * rmse["fixed"][0]
    assert rmse["me-lms-loop"][-1] < 0.3 * rmse["fixed"][0]
    assert rmse["lms"][-1] > rmse["lms"][0]


@pytest.mark.slow
def test_the_bundled_config_finds_the_target_gains_and_lms_blows_up(tmp_path):
    config = gain_config(100)
    results = {c.name: run_controller(config, i, say=print) for i, c in enumerate(config.controllers)}
    me_lms = results["me-lms"]
    final = [me_lms.trial_gains[-1][name][0] for name in ("kp", "ki", "kd")]
    np.testing.assert_allclose(final, TARGET, rtol=0.03)
    assert me_lms.trial_model_rmse[-1] < 0.01 * results["fixed"].trial_model_rmse[-1]
    assert results["lms"].trial_gains[-1]["kp"][0] > 100, "LMS gains run away"


def test_without_adaptation_the_pid_is_untouched_and_a_zero_rate_changes_no_command():
    config = gain_config(1, "dtype=float64")
    fixed = config.controllers[0]
    setups = {"plain": fixed.model_copy(update={"gain_adaptation": None}), "fixed": fixed}
    agents, records = {}, {}
    for name, controller in setups.items():
        setup = config.model_copy(update={"controllers": [controller]})
        agents[name] = make_agent(setup, 0, make_vector_env(setup, 1))
        records[name] = run_trial(agents[name], seeds=[0])
    plain, adapting = agents["plain"].controller.feedback, agents["fixed"].controller.feedback
    assert plain.kp.shape == (1,) and plain.signals is None
    assert set(plain.state_dict()) == {"kp", "ki", "kd", "limit", "integral", "derivative", "previous_error",
                                       "operating_point"}  # fmt: skip
    assert adapting.kp.shape == (1, 1)
    np.testing.assert_allclose(records["fixed"].command, records["plain"].command, rtol=1e-12, atol=1e-12)


def test_numpy_backend_refuses_adapting_gains_and_auto_stays_on_torch():
    def controller(backend: str) -> CFPC:
        feedback = pid(TARGET)
        adaptation = GainAdaptation(feedback, reference_model(), rule="lms")
        basis = RaisedCosineBasis(1, 4, DT, dtype=F64)
        rule = make_rule("none", dofs=1, dt=DT)
        return CFPC(feedback, basis, rule, gain_adaptation=adaptation, backend=backend)

    assert controller("auto").backend == "torch"
    with pytest.raises(ValueError, match="backend numpy: gain adaptation runs in torch only"):
        controller("numpy")


def test_checkpointed_gains_come_back():
    config = gain_config(2)
    config = config.model_copy(update={"controllers": [config.controllers[1]]})
    agent = make_agent(config, 0, make_vector_env(config, 1))
    run_trial(agent, seeds=[0])
    again = make_agent(config, 0, make_vector_env(config, 1))
    again.load_state_dict(agent.state_dict())
    torch.testing.assert_close(again.controller.gain_adaptation.gains, agent.controller.gain_adaptation.gains)
    assert not torch.equal(agent.controller.gain_adaptation.gains[0, 0], torch.tensor([0.5, 0.5, 0.05]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rule": "mit"}, "unknown gain adaptation rule 'mit'; choose one of me-lms, lms"),
        ({"forward_model": None}, "gain adaptation rule 'me-lms' needs a forward model of the plant"),
        ({"learning_rate": [0.1, 0.1]}, r"learning_rate must be a scalar or 3 values \(kp, ki, kd\)"),
        ({"learning_rate": -1.0}, "learning_rate must be >= 0"),
        ({"min_gain": 2.0, "max_gain": 1.0}, r"min_gain \(2.0\) must not exceed max_gain \(1.0\)"),
        ({"forward_model": "two dofs"}, "the forward model maps 2 inputs to 2 outputs; the PID has 1 DOFs"),
    ],
)
def test_bad_arguments_are_one_line_errors(kwargs, message):
    if kwargs.get("forward_model") == "two dofs":
        two = tuple(np.kron(np.eye(2), m) for m in PLANT)
        kwargs["forward_model"] = plant_model(two, DT)
    options = {"forward_model": plant_model(PLANT, DT), **kwargs}
    with pytest.raises(ValueError, match=f"^{message}") as error:
        GainAdaptation(pid(TARGET), reference_model(), **options)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("controllers.1.gain_adaptation.step=1", "controllers.1.gain_adaptation.step: unknown key"),
        ("controllers.1.gain_adaptation.rule=mit", "controllers.1.gain_adaptation.rule: Input should be"),
        (
            "controllers.1.gain_adaptation.learning_rate=[1, 2]",
            "controllers.1.gain_adaptation.learning_rate: give one learning rate, or three",
        ),
        (
            "controllers.1.gain_adaptation.reference_model={kind: second_order}",
            "controllers.1.gain_adaptation.reference_model.natural_freq_hz: Field required",
        ),
        (
            "controllers.1.gain_adaptation.reference_model.gain=2",
            "controllers.1.gain_adaptation.reference_model.gain: unknown key",
        ),
    ],
)
def test_config_errors_name_the_key(override, message):
    with pytest.raises(ConfigError, match=f"^{message}"):
        gain_config(1, override)


def test_a_linearized_plant_on_a_linear_env_is_a_config_error_naming_the_key():
    config = gain_config(1, "controllers.1.gain_adaptation.plant=linearized")
    with pytest.raises(
        ConfigError, match=r"^controllers\.1\.gain_adaptation\.plant: linearized needs a MuJoCo env"
    ):
        make_agent(config, 1, make_vector_env(config, 1))


def test_a_second_order_reference_model_is_followed_better_after_learning():
    config = gain_config(
        8,
        "controllers.1.gain_adaptation.reference_model="
        "{kind: second_order, natural_freq_hz: 1.5, damping_ratio: 0.9}",
    )
    config = config.model_copy(update={"controllers": [config.controllers[1]]})
    rmse = run_controller(config, 0, say=print).trial_model_rmse
    assert rmse[-1] < 0.5 * rmse[0]


def test_a_runaway_model_following_error_counts_as_divergence_even_while_tracking_is_bounded():
    from types import SimpleNamespace

    from cfpc_gym.experiment.results import ControllerResult
    from cfpc_gym.experiment.runner import divergence

    config = load_config("gain_adaptation")
    result = ControllerResult("lms", "lms", trial_rmse=[0.2, 0.2])
    result.first_trial = SimpleNamespace(target=np.ones(10))
    result.trial_model_rmse = [0.25, 2.4]
    assert divergence(config, result) is None  # 9.6 x the first trial's: not yet
    result.trial_model_rmse[-1] = 2.6
    assert divergence(config, result) == "model-following RMSE 2.6 > 2.5, 10 x the first trial's"
    result.trial_model_rmse[-1] = float("nan")
    assert divergence(config, result).startswith("model-following RMSE nan")
    result.trial_model_rmse = []
    result.trial_rmse[-1] = float("inf")
    assert divergence(config, result).startswith("RMSE inf > 2")
    # The movement, not the posture it starts from: a 0.1 move from 1.0 allows 10 x its RMS.
    result.first_trial = SimpleNamespace(target=np.r_[np.ones(10), np.full(10, 1.1)])
    result.trial_rmse[-1] = 0.8
    assert divergence(config, result).startswith("RMSE 0.8 > 0.707")
    # Feedback alone has no learning to run away: only a non-finite error stops it.
    fixed = ControllerResult("feedback-only", "none", trial_rmse=[0.2, 0.8], first_trial=result.first_trial)
    assert divergence(config, fixed) is None
    fixed.trial_rmse[-1] = float("nan")
    assert divergence(config, fixed).startswith("RMSE nan")
    # Random goals (a safeguard window of 3): the first 3 trials' mean, not a tiny first movement.
    windowed = load_config("gain_adaptation", ["safeguard_window=3", "safeguard_factor=2"])
    result.trial_rmse = [0.01, 0.2, 0.3, 1.6]
    assert divergence(windowed, result) is None  # 1.6 < 10 x 0.17, though 160 x the first trial's
    result.trial_rmse[-1] = 1.8
    assert divergence(windowed, result) == "RMSE 1.8 > 1.7, 10 x the mean RMSE of the first 3 trials"


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (
            "controllers.1.gain_adaptation.learning_rate=.nan",
            "controllers.1.gain_adaptation.learning_rate: Input should be a finite number",
        ),
        (
            "controllers.1.gain_adaptation.min_gain=2",
            "controllers.1.gain_adaptation: feedback.kp [0.5] starts outside [min_gain, max_gain]",
        ),
    ],
)
def test_rates_and_bounds_that_would_act_unsaid_are_refused(setting, expected):
    with pytest.raises(ConfigError) as error:
        config = load_config("gain_adaptation", [setting])
        make_agent(config, 1, make_vector_env(config, 1))
    assert str(error.value).startswith(expected)
