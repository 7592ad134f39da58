import gymnasium as gym
import numpy as np
import pytest
import torch

from cfpc_gym.body_models import noise_probe
from cfpc_gym.controllers import (
    BASES,
    CFPC,
    PID,
    EligibilityFilter,
    TimeVaryingForwardModel,
    closed_loop,
    identify_arx,
    identify_fir,
    make_learner,
    make_rule,
    pure_delay,
    variance_accounted_for,
)
from cfpc_gym.envs.delay import delay_steps

F64 = torch.float64
PLANT = {"natural_freq_hz": 1.0, "damping_ratio": 0.5, "sensory_delay": 0.05, "dt": 0.01}


def setup(**plant):
    env = gym.make("cfpc_gym/LinearPlant-v0", **{**PLANT, **plant}).unwrapped
    pid = PID(2.0, 2.0, 0.2, dt=env.dt, derivative_time_constant=0.02, dtype=F64)
    model = closed_loop(
        env.linear_model(),
        [pid.transfer_function()],
        env.dt,
        sensory_delay_steps=delay_steps(env.sensory_delay, env.dt),
    )
    return env, pid, model


@pytest.mark.parametrize("sensory_delay", [0.0, 0.02, 0.05])
def test_analytic_closed_loop_reproduces_the_simulated_response_to_injected_o(sensory_delay):
    env, pid, model = setup(sensory_delay=sensory_delay)
    (injected,), (response,) = noise_probe(env, pid, trials=1, amplitude=0.3, seed=0)
    predicted = model.simulate(injected)
    relative = np.abs(predicted - response).max() / np.abs(response).max()
    assert relative < 1e-6


def test_the_sensory_delay_appears_as_dead_time_in_the_model():
    _, _, model = setup(sensory_delay=0.05)
    h = model.impulse_response(20)[:, 0, 0]
    assert np.all(h[:6] == pytest.approx(0.0, abs=1e-12))  # 5 delay steps + the ZOH step
    assert abs(h[6]) > 1e-6


def test_identified_fir_matches_the_analytic_model():
    env, pid, model = setup()
    inputs, responses = noise_probe(env, pid, trials=3, amplitude=0.1, seed=1)
    fir = identify_fir(inputs, responses, taps=150, dt=env.dt)
    test_input = np.random.default_rng(7).standard_normal((300, 1))
    assert variance_accounted_for(model.simulate(test_input), fir.simulate(test_input)) > 0.999


def test_arx_recovers_a_known_system():
    _, _, model = setup(sensory_delay=0.0)
    rng = np.random.default_rng(2)
    inputs = [rng.standard_normal((400, 1)) for _ in range(2)]
    outputs = [model.simulate(u) for u in inputs]
    arx = identify_arx(inputs, outputs, poles=model.order, zeros=model.order, delay=1, dt=model.dt)
    test_input = rng.standard_normal((300, 1))
    assert variance_accounted_for(model.simulate(test_input), arx.simulate(test_input)) > 0.99999


def test_a_fit_without_excitation_is_refused():
    with pytest.raises(ValueError, match="singular"):
        identify_fir([np.zeros((100, 1))], [np.zeros((100, 1))], taps=10, dt=0.01)


def test_an_unstable_loop_is_refused_with_the_cause():
    env = gym.make("cfpc_gym/LinearPlant-v0", **PLANT).unwrapped
    pid = PID(20.0, 10.0, 1.0, dt=env.dt, dtype=F64)
    with pytest.raises(ValueError, match="unstable"):
        closed_loop(env.linear_model(), [pid.transfer_function()], env.dt, sensory_delay_steps=5)


def test_eligibility_filter_runs_the_model_on_every_basis_signal():
    _, _, model = setup()
    phi = np.random.default_rng(3).standard_normal((120, 2, 4))  # steps, B, F
    trace_filter = EligibilityFilter(model, features=4, batch_size=2, dtype=F64)
    traces = np.stack([trace_filter.step(torch.as_tensor(p)).numpy() for p in phi])  # (steps, B, 1, 1, F)
    for b in range(2):
        for f in range(4):
            expected = model.simulate(phi[:, b, f : f + 1])[:, 0]
            np.testing.assert_allclose(traces[:, b, 0, 0, f], expected, rtol=1e-10, atol=1e-12)


def test_pure_delay_model_is_a_shift():
    signal = np.random.default_rng(4).standard_normal((30, 1))
    shifted = pure_delay(4, 1, 0.01).simulate(signal)
    np.testing.assert_allclose(shifted[4:], signal[:-4])
    np.testing.assert_allclose(shifted[:4], 0.0)


def test_a_decoupled_two_dof_loop_is_two_siso_loops():
    """MIMO closed loops build from state spaces (no Slycot) and keep each DOF's own dynamics."""
    env = gym.make("cfpc_gym/LinearPlant-v0", **PLANT).unwrapped
    a, b, c, d = env.linear_model()
    plant = (np.kron(np.eye(2), a), np.kron(np.eye(2), b), np.kron(np.eye(2), c), np.zeros((2, 2)))
    pids = [PID(g, 1.0, 0.1, dt=env.dt, derivative_time_constant=0.02, dtype=F64) for g in (1.0, 2.0)]
    mimo = closed_loop(plant, [p.transfer_function() for p in pids], env.dt, sensory_delay_steps=5)
    h = mimo.impulse_response(80)
    for dof, pid in enumerate(pids):
        siso = closed_loop((a, b, c, d), [pid.transfer_function()], env.dt, sensory_delay_steps=5)
        np.testing.assert_allclose(h[:, dof, dof], siso.impulse_response(80)[:, 0, 0], atol=1e-12)
    np.testing.assert_allclose(h[:, 0, 1], 0.0, atol=1e-12)


def swapping_controller(backend: str, model, **learning):
    """A CFPC on a linear loop's forward model; ``learning`` goes to its learner (optimizer, ...)."""
    pid = PID(2.0, 2.0, 0.2, dt=0.01, derivative_time_constant=0.02, dtype=F64)
    basis = BASES["raised_cosine"](1, 12, 0.01, dtype=F64)
    rule = make_rule("eligibility", dofs=1, dt=0.01, forward_model=model)
    return CFPC(pid, basis, rule, learner=make_learner(learning_rate=0.05, **learning), backend=backend)


def run_swapping(controller: CFPC, swap_at: int, model, steps: int = 120) -> np.ndarray:
    """Every step's trace, command and weights; ``model`` set after step ``swap_at``'s update."""
    rng = np.random.default_rng(5)
    rows = []
    for k in range(steps):
        if k == swap_at:
            controller.set_forward_model(model)
        reference = np.array([[np.sin(0.05 * k)]])
        command = controller.step(reference, reference + 0.2 * rng.standard_normal((1, 1)), [[k % 50 < 3]])
        controller.update()
        rows.append(
            np.concatenate([t.numpy().ravel() for t in (controller.trace, command, controller.weights)])
        )
    return np.array(rows)


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_setting_the_forward_model_runs_the_new_model_from_then_on(backend):
    _, _, model = setup()
    _, _, other = setup(natural_freq_hz=0.7, damping_ratio=0.7)  # same structure, other dynamics
    assert other.order == model.order
    unswapped = run_swapping(swapping_controller(backend, model), 60, model)
    reference = run_swapping(swapping_controller(backend, model), 200, model)  # never swapped
    np.testing.assert_array_equal(unswapped, reference)  # the same model again changes nothing
    controller = swapping_controller(backend, model)
    swapped = run_swapping(controller, 60, other)
    assert controller.backend == backend  # time-invariant models keep the numpy backend
    np.testing.assert_array_equal(swapped[:60], reference[:60])
    assert np.abs(swapped[61:] - reference[61:]).max() > 1e-3
    # From step 60 on, exactly the model that switches there: a time-varying one, from the start.
    switching = TimeVaryingForwardModel((model,) * 60 + (other,))
    np.testing.assert_allclose(
        swapped, run_swapping(swapping_controller("torch", switching), 200, model), rtol=0, atol=1e-12
    )


def test_a_time_varying_model_moves_a_numpy_controller_to_torch():
    _, _, model = setup()
    controller = swapping_controller("numpy", model)
    controller.set_forward_model(TimeVaryingForwardModel((model, model)))
    assert controller.backend == "torch"


def test_a_forward_model_of_another_shape_or_an_rls_learner_is_refused():
    _, _, model = setup()
    with pytest.raises(ValueError, match="order"):
        swapping_controller("torch", model).set_forward_model(pure_delay(3, 1, 0.01))
    with pytest.raises(ValueError, match="optimizer rls keeps its forward model"):
        swapping_controller("torch", model, optimizer="rls").set_forward_model(model)


@pytest.mark.parametrize("sensory_delay", [0.0, 0.03, 0.05])
def test_identified_arx_matches_the_analytic_loop_behind_its_delays(sensory_delay):
    from cfpc_gym.build import forward_model, make_env
    from cfpc_gym.config import ForwardModelConfig, load_config

    config = load_config("paper_linear", [f"env.kwargs.sensory_delay={sensory_delay}"])
    settings = config.controllers[1]
    arx = settings.model_copy(update={"forward_model": ForwardModelConfig(kind="identified", method="arx")})
    env = make_env(config)
    exact, fitted = forward_model(config, settings, env), forward_model(config, arx, env)
    noise = np.random.default_rng(7).standard_normal((400, 1))
    assert variance_accounted_for(exact.simulate(noise), fitted.simulate(noise)) > 0.99
