"""The numpy backend equals the torch reference step for step, on the very same buffers."""

import numpy as np
import pytest
import torch

from cfpc_gym.build import make_agent, make_vector_env
from cfpc_gym.config import load_config
from cfpc_gym.controllers import BASES, CFPC, PID, ForwardModel, closed_loop, make_learner, make_rule
from cfpc_gym.controllers.cfpc import NUMPY_MAX_BATCH
from cfpc_gym.rollout import run_trial

DT = 0.01
F64 = torch.float64


def loop_model(dofs: int) -> ForwardModel:
    """Damped oscillators (coupled when D = 2) with a 3-step sensory delay, closed by the PID below."""
    pid = PID(2.0, 2.0, 0.2, dt=DT, derivative_time_constant=0.02)
    w = 2 * np.pi
    coupling = np.eye(dofs) + 0.3 * (1 - np.eye(dofs))
    a = np.kron(coupling, [[0.0, 1.0], [-(w**2), -w]])
    b, c = np.kron(np.eye(dofs), [[0.0], [w**2]]), np.kron(np.eye(dofs), [[1.0, 0.0]])
    plant = (a, b, c, np.zeros((dofs, dofs)))
    return closed_loop(plant, [pid.transfer_function()] * dofs, DT, sensory_delay_steps=3)


def controller(
    backend: str,
    *,
    basis: str = "raised_cosine",
    rule: str = "eligibility",
    batch: int = 1,
    dofs: int = 1,
    cues: int = 1,
    dtype: torch.dtype = F64,
    limit: float | None = None,
    **learning,
) -> CFPC:
    kw = {"batch_size": batch, "dtype": dtype}
    feedback = PID(2.0, 2.0, 0.2, dt=DT, derivative_time_constant=0.02, dofs=dofs, output_limit=limit, **kw)
    feedback.set_operating_point(torch.full((batch, dofs), 0.1))
    bases = BASES[basis]
    basis_module = bases(cues, 12, DT, **kw) if basis != "delay_line" else bases(cues, 12, DT, stride=3, **kw)
    model = loop_model(dofs)
    made = make_rule(rule, dofs=dofs, dt=DT, forward_model=model, trace_delay_steps=3)
    learning = {"learning_rate": 0.05, **learning}
    shared = learning.pop("shared_weights", False)
    learner = make_learner(**learning)
    return CFPC(feedback, basis_module, made, learner=learner, shared_weights=shared, backend=backend)


def run(control: CFPC, steps: int = 240, seed: int = 0) -> list[np.ndarray]:
    """Step and learn through cue pulses and noisy tracking, resetting some envs midway; returns
    every step's command, weights and logged signals."""
    generator = np.random.default_rng(seed)
    batch, dofs, cues = control.batch_size, control.dofs, control.basis.cues
    records = []
    for k in range(steps):
        if k == steps // 2:
            control.reset(torch.as_tensor(np.arange(batch) % 2 == 0))
        reference = np.sin(0.05 * k + np.arange(batch * dofs)).reshape(batch, dofs)
        measurement = reference + 0.2 * generator.standard_normal((batch, dofs))
        cue = (k % 60 < 3) * np.linspace(1.0, 1.8, batch * cues).reshape(batch, cues)  # graded cues
        if k % 2:  # both entry points: tensors out, and host arrays out (what the agent calls)
            command = control.step(reference, measurement, cue).numpy()
        else:
            command = control.step_array(reference, measurement, cue).copy()
        control.update(active=torch.as_tensor(generator.random(batch) > 0.2))
        signals = [control.error, control.feedforward_output, control.feedback_command]
        learned = [] if control.weights is None else [control.weights.clone(), control.trace]
        records.append(np.concatenate([command.ravel(), *(t.numpy().ravel() for t in signals + learned)]))
    return records


def assert_same_runs(a: CFPC, b: CFPC, tolerance: float = 1e-12, **kw) -> None:
    first, second = np.array(run(a, **kw)), np.array(run(b, **kw))
    assert np.abs(first).max() > 0.1, "the run exercises the controller"
    np.testing.assert_allclose(second, first, rtol=0, atol=tolerance * np.abs(first).max())


@pytest.mark.parametrize("basis", sorted(BASES))
@pytest.mark.parametrize("rule", ["eligibility", "lms", "delayed", "fel", "none"])
def test_numpy_equals_torch_for_every_basis_and_rule(basis, rule):
    torch_run, numpy_run = (controller(b, basis=basis, rule=rule, batch=3) for b in ("torch", "numpy"))
    assert (torch_run.backend, numpy_run.backend) == ("torch", "numpy")
    assert_same_runs(torch_run, numpy_run)


@pytest.mark.parametrize(
    "options",
    [
        {"normalized": True},
        {"shared_weights": True},
        {"limit": 0.3},  # saturates: clipping and anti-windup
        {"dofs": 2, "cues": 2},  # MIMO trace: one-hot input rows per channel
        {"batch": 1},
        {"dofs": 2, "shared_weights": True, "normalized": True, "limit": 0.5},
    ],
)
def test_numpy_equals_torch_with_each_option(options):
    batch = options.pop("batch", 4)
    assert_same_runs(*(controller(b, batch=batch, **options) for b in ("torch", "numpy")))


def test_numpy_agrees_with_torch_in_float32():
    torch_run, numpy_run = (controller(b, batch=2, dtype=torch.float32) for b in ("torch", "numpy"))
    assert_same_runs(torch_run, numpy_run, tolerance=1e-5)


def test_switching_backends_mid_run_and_state_dict_carry_the_same_state():
    to_numpy, to_torch = controller("torch", batch=2), controller("numpy", batch=2)
    first = [run(c, steps=100) for c in (to_numpy, to_torch)]
    np.testing.assert_allclose(first[1], first[0], atol=1e-12)
    to_numpy.backend, to_torch.backend = "numpy", "torch"
    restored = controller("numpy", batch=2)
    restored.load_state_dict(to_torch.state_dict())
    second = [run(c, steps=100, seed=1) for c in (to_numpy, to_torch, restored)]
    np.testing.assert_allclose(second[1], second[0], atol=1e-12)
    np.testing.assert_allclose(second[2], second[0], atol=1e-12)


def test_the_numpy_backend_follows_a_dtype_conversion():
    converted = [controller(b, batch=2, dtype=torch.float32).double() for b in ("torch", "numpy")]
    assert converted[1].backend == "numpy" and converted[1].weights.dtype == F64
    assert_same_runs(*converted)


def test_logged_signals_are_fresh_each_step():
    control = controller("numpy")
    run(control, steps=5)
    error, trace = control.error, control.trace
    kept = error.clone(), trace.clone()
    run(control, steps=5, seed=3)
    assert torch.equal(error, kept[0]) and torch.equal(trace, kept[1])
    assert not torch.equal(control.error, kept[0])


def test_auto_picks_numpy_for_small_batches_on_the_cpu_and_torch_otherwise():
    assert controller("auto").backend == "numpy"
    assert controller("auto", batch=NUMPY_MAX_BATCH + 1).backend == "torch"
    assert controller("auto", optimizer="rls").backend == "torch"
    with pytest.raises(ValueError, match="optimizer rls runs in torch only"):
        controller("numpy", optimizer="rls")
    with pytest.raises(ValueError, match="unknown backend"):
        controller("jax")


def test_an_agent_learns_the_same_weights_with_either_backend():
    config = load_config("paper_linear", ["dtype=float64", "trials=3"])
    agents = [make_agent(config, 1, make_vector_env(config, 1)) for _ in range(2)]
    agents[0].controller.backend = "torch"
    assert agents[1].controller.backend == "numpy"  # auto, for one env on the CPU
    records = [[run_trial(agent, seeds=[config.seed]) for _ in range(3)] for agent in agents]
    for torch_trial, numpy_trial in zip(*records, strict=True):
        np.testing.assert_allclose(numpy_trial.error, torch_trial.error, atol=1e-12)
        np.testing.assert_allclose(numpy_trial.command, torch_trial.command, atol=1e-11)
    weights = [agent.controller.weights for agent in agents]
    assert weights[0].abs().max() > 0.05
    torch.testing.assert_close(weights[1], weights[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_a_learning_rate_changed_mid_run_takes_effect_on_either_backend(backend):
    changed, reference = controller(backend), controller("torch", learning_rate=0.5)
    run(changed, steps=60), run(reference, steps=60)
    changed.learner.learning_rate = 0.5
    reference.load_state_dict(changed.state_dict())
    torch.testing.assert_close(np.array(run(changed, steps=60)), np.array(run(reference, steps=60)))


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_shared_weights_take_the_mean_change_of_the_envs_that_acted(backend):
    control = controller(backend, batch=4, shared_weights=True)
    run(control, steps=40)
    cue = np.ones((4, 1)) * (np.arange(4) == 1)[:, None]
    control.step_array(np.ones((4, 1)), np.zeros((4, 1)), cue)
    before, active = control.weights.clone(), np.array([True, True, False, False])
    per_env = 0.05 * control.error[:, :, None] * control.trace[:, 0]  # (B, D_out, F): teacher . eps
    control.update(active=torch.as_tensor(active))
    torch.testing.assert_close(control.weights - before, per_env[active].mean(0, keepdim=True))
