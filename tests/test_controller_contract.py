"""The controller contract (controllers/types.py), the backend plan and the injected learner."""

import numpy as np
import pytest
import torch

from cfpc_gym.controllers import (
    CFPC,
    PID,
    GradientDescent,
    RaisedCosineBasis,
    RecursiveLeastSquares,
    closed_loop,
    make_learner,
    make_rule,
)
from cfpc_gym.controllers.cfpc import NUMPY_MAX_BATCH

DT = 0.01
F64 = torch.float64


def loop_model():
    """A damped oscillator behind a 3-step sensory delay, closed by the PID below."""
    w = 2 * np.pi
    plant = (np.array([[0.0, 1.0], [-(w**2), -w]]), np.array([[0.0], [w**2]]), np.eye(1, 2), np.zeros((1, 1)))
    pid = PID(2.0, 2.0, 0.2, dt=DT, derivative_time_constant=0.02)
    return closed_loop(plant, [pid.transfer_function()], DT, sensory_delay_steps=3)


def controller(backend="auto", *, batch=2, rule="eligibility", learner=None, **options) -> CFPC:
    pid = PID(2.0, 2.0, 0.2, dt=DT, derivative_time_constant=0.02, batch_size=batch, dtype=F64)
    basis = RaisedCosineBasis(1, 12, DT, batch_size=batch, dtype=F64)
    made = make_rule(rule, dofs=1, dt=DT, forward_model=loop_model())
    learner = GradientDescent(0.05) if learner is None else learner
    return CFPC(pid, basis, made, learner=learner, backend=backend, **options)


def signals(k: int, batch: int, rng: np.random.Generator):
    reference = np.sin(0.05 * k + np.arange(batch)).reshape(batch, 1)
    measurement = reference + 0.2 * rng.standard_normal((batch, 1))
    return reference, measurement, np.full((batch, 1), k % 40 < 3, float)


def run(control: CFPC, steps: int, seed: int = 0) -> np.ndarray:
    """Every step's command and the weights after its update."""
    rng, rows = np.random.default_rng(seed), []
    for k in range(steps):
        command = control.step(*signals(k, control.batch_size, rng))
        control.update()
        rows.append(np.concatenate([command.numpy().ravel(), control.weights.numpy().ravel()]))
    return np.array(rows)


# --- step, then update: once ------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["torch", "numpy"])
@pytest.mark.parametrize("rule", ["eligibility", "none"])
def test_update_before_any_step_or_twice_for_one_step_is_refused(backend, rule):
    control = controller(backend, rule=rule)
    with pytest.raises(RuntimeError, match="before any step"):
        control.update()
    assert control.trace is None
    control.step_array(np.ones((2, 1)), np.zeros((2, 1)), np.ones((2, 1)))
    control.update()
    with pytest.raises(RuntimeError, match="already called for this step"):
        control.update()
    control.step(np.ones((2, 1)), np.zeros((2, 1)), np.zeros((2, 1)))
    control.update()  # one per step again


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_a_reset_between_step_and_update_still_learns_from_that_step(backend):
    reset, plain = controller(backend), controller(backend)
    for control in (reset, plain):
        run(control, 30)
        control.step(np.ones((2, 1)), np.zeros((2, 1)), np.ones((2, 1)))
    reset.reset()
    reset.update(), plain.update()
    np.testing.assert_array_equal(reset.weights.numpy(), plain.weights.numpy())


def test_a_failed_update_changes_nothing_and_may_be_retried():
    control = controller("torch")
    run(control, 20)
    control.step(np.ones((2, 1)), np.zeros((2, 1)), np.ones((2, 1)))
    before = control.weights.clone()
    with pytest.raises(RuntimeError):
        control.update(error=np.ones(3))  # 3 values for 2 envs
    assert torch.equal(control.weights, before)
    control.update()
    assert not torch.equal(control.weights, before)


# --- the backend plan ---------------------------------------------------------------------------


def test_auto_runs_numpy_on_a_small_cpu_batch_and_torch_on_a_large_one_or_with_rls():
    assert controller("auto", batch=1).backend == "numpy"
    assert controller("auto", batch=NUMPY_MAX_BATCH).backend == "numpy"
    assert controller("auto", batch=NUMPY_MAX_BATCH + 1).backend == "torch"
    assert controller("auto", learner=RecursiveLeastSquares()).backend == "torch"
    with pytest.raises(ValueError, match="backend numpy: optimizer rls runs in torch only"):
        controller("numpy", learner=RecursiveLeastSquares())


@pytest.mark.parametrize("target", ["torch", "numpy"])
def test_a_switch_carries_the_exact_state(target):
    """Run on one backend, switch: the rest is bit for bit what a fresh controller of the target
    backend does from the same state."""
    source = "numpy" if target == "torch" else "torch"
    switched = controller(source)
    run(switched, 50)
    state = {k: v.clone() for k, v in switched.state_dict().items()}
    switched.backend = target
    fresh = controller(target)
    fresh.load_state_dict(state)
    np.testing.assert_array_equal(run(switched, 80, seed=1), run(fresh, 80, seed=1))


@pytest.mark.parametrize("target", ["torch", "numpy"])
def test_an_update_after_a_switch_learns_from_the_step_before_it(target):
    source = "numpy" if target == "torch" else "torch"
    switched, kept = controller(source), controller(source)
    for control in (switched, kept):
        run(control, 30)
        control.step(np.ones((2, 1)), np.zeros((2, 1)), np.ones((2, 1)))
    before = kept.weights.clone()
    switched.backend = target
    torch.testing.assert_close(switched.error, kept.error, rtol=0, atol=0)
    switched.update(), kept.update()
    assert (kept.weights - before).abs().max() > 1e-4
    torch.testing.assert_close(switched.weights, kept.weights, rtol=0, atol=1e-14)


# --- the learner ------------------------------------------------------------------------------


def test_the_default_learner_is_gradient_descent_one_per_controller():
    def default() -> CFPC:
        return CFPC(PID(1.0, dt=DT), RaisedCosineBasis(1, 4, DT), make_rule("lms", dofs=1, dt=DT))

    first, second = default(), default()
    assert isinstance(first.learner, GradientDescent) and first.learner.learning_rate == 0.01
    assert first.learner is not second.learner


def test_a_learner_serves_one_controller_and_must_be_a_learner():
    learner = RecursiveLeastSquares(forgetting=0.999)
    controller("torch", learner=learner)
    assert learner.estimate.shape == (2, 13)  # bound: one estimate per env, 12 features and the gain
    with pytest.raises(ValueError, match="serves one controller"):
        controller("torch", learner=learner)
    with pytest.raises(TypeError, match="learner must be a Learner"):
        controller("torch", learner="rls")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: controller(rule="fel", learner=make_learner("rls")), "needs a counterfactual-error rule"),
        (lambda: controller(learner=make_learner("rls"), shared_weights=True), "one estimate per env"),
        (lambda: make_learner("adam"), "unknown optimizer 'adam'; choose one of gradient, rls"),
        (lambda: make_learner("gradient", learning_rate=-1.0), "learning_rate must be >= 0"),
        (lambda: make_learner("rls", forgetting=0.0), r"forgetting must be in \(0, 1\]"),
    ],
)
def test_learner_settings_that_cannot_work_are_named(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_make_learner_reads_each_optimizers_own_settings():
    gradient = make_learner("gradient", learning_rate=0.3, normalized=True, forgetting=0.5)
    assert isinstance(gradient, GradientDescent)
    assert (gradient.learning_rate, gradient.normalized) == (0.3, True)
    rls = make_learner("rls", learning_rate=0.3, rls_regularization=0.02, loop_gain_variance=0.0)
    assert isinstance(rls, RecursiveLeastSquares)
    assert (rls.regularization, rls.loop_gain_variance) == (0.02, 0.0)
