"""Diagonal forward models (``forward_model.diagonal``): each DOF's own loop o_i -> y_i only.

Exact where the DOFs are decoupled (the same trace and the same learning as the full model), the
full model's diagonal where they are coupled, and run at D filters per basis signal, not D x D."""

import control
import numpy as np
import pydantic
import pytest
import torch

from cfpc_gym.build import forward_model, make_env
from cfpc_gym.config import ForwardModelConfig, load_config
from cfpc_gym.controllers import (
    CFPC,
    PID,
    DiagonalEligibilityFilter,
    DiagonalForwardModel,
    EligibilityFilter,
    RaisedCosineBasis,
    closed_loop,
    closed_loop_along,
    identify_fir,
    make_learner,
    make_rule,
    pure_delay,
)
from cfpc_gym.controllers.diagonal_eligibility import full_trace

DT = 0.01
F64 = torch.float64


def oscillators(dofs: int, coupling: float, frequency: float = 1.0):
    """Damped oscillators from command to position, coupled through their stiffness."""
    w = 2 * np.pi * frequency
    mix = np.eye(dofs) + coupling * (1 - np.eye(dofs))
    a = np.kron(mix, [[0.0, 1.0], [-(w**2), -w]])
    b, c = np.kron(np.eye(dofs), [[0.0], [w**2]]), np.kron(np.eye(dofs), [[1.0, 0.0]])
    return a, b, c, np.zeros((dofs, dofs))


def loop(dofs: int, coupling: float):
    pid = PID(2.0, 2.0, 0.2, dt=DT, derivative_time_constant=0.02)
    return closed_loop(
        oscillators(dofs, coupling), [pid.transfer_function()] * dofs, DT, sensory_delay_steps=3
    )


def controller(model, dofs: int, backend: str, optimizer: str = "gradient", **learning) -> CFPC:
    kw = {"batch_size": 2, "dtype": F64}
    feedback = PID(2.0, 2.0, 0.2, dt=DT, derivative_time_constant=0.02, dofs=dofs, **kw)
    basis = RaisedCosineBasis(2, 8, DT, span=0.6, **kw)
    rule = make_rule("eligibility", dofs=dofs, dt=DT, forward_model=model)
    shared = learning.pop("shared_weights", False)
    learner = make_learner(optimizer, **learning)
    return CFPC(feedback, basis, rule, learner=learner, shared_weights=shared, backend=backend)


def run(control: CFPC, steps: int = 90) -> list[np.ndarray]:
    """Every step's trace, command and weights under noisy tracking and cue pulses."""
    generator = np.random.default_rng(1)
    records = []
    for k in range(steps):
        if k == steps // 2:
            control.reset(torch.tensor([True, False]))
        signals = generator.standard_normal((2, 2, control.dofs))
        cue = (generator.random((2, 2)) > 0.8).astype(np.float64)
        command = control.step(signals[0], signals[1], cue)
        control.update()
        records.append(np.concatenate([t.numpy().ravel() for t in (control.trace, command, control.weights)]))
    return records


def test_the_diagonal_keeps_each_dofs_own_states_of_a_decoupled_loop():
    model, single = loop(3, coupling=0.0), loop(1, coupling=0.0)
    diagonal = model.diagonal()
    assert isinstance(diagonal, DiagonalForwardModel)
    assert [m.order for m in diagonal.channels] == [single.order] * 3  # not the MIMO loop's 3x
    np.testing.assert_allclose(diagonal.impulse_response(200), model.impulse_response(200), atol=1e-12)


@pytest.mark.parametrize(
    "backend, optimizer, learning",
    [
        ("torch", "gradient", {}),
        ("numpy", "gradient", {}),
        ("torch", "gradient", {"normalized": True, "shared_weights": True}),
        ("numpy", "gradient", {"normalized": True, "shared_weights": True}),
        ("torch", "rls", {}),
        ("numpy", "gauss_newton", {}),
    ],
)
def test_decoupled_dofs_learn_the_same_with_the_diagonal_model(backend, optimizer, learning):
    model = loop(3, coupling=0.0)
    rate = {"learning_rate": 0.05} if optimizer == "gradient" else {}
    full = controller(model, 3, backend, optimizer, **rate, **dict(learning))
    diagonal = controller(model.diagonal(), 3, backend, optimizer, **rate, **dict(learning))
    assert isinstance(diagonal.eligibility, DiagonalEligibilityFilter)
    assert full.backend == diagonal.backend == backend
    for a, b in zip(run(full), run(diagonal), strict=True):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-9)


def test_a_coupled_loops_diagonal_is_the_full_models_diagonal():
    model = loop(3, coupling=0.3)
    h, diagonal = model.impulse_response(300), model.diagonal().impulse_response(300)
    np.testing.assert_allclose(diagonal, h * np.eye(3), rtol=0, atol=1e-12)
    assert np.abs(h * (1 - np.eye(3))).max() > 1e-3  # the coupling it leaves out is there


def test_an_identified_fir_keeps_its_own_taps_per_dof():
    rng = np.random.default_rng(0)
    o, h = rng.standard_normal((400, 4)), rng.standard_normal((6, 4, 4))
    y = sum(np.concatenate([np.zeros((j, 4)), o[: len(o) - j]]) @ h[j].T for j in range(6))
    model = identify_fir(o, y, taps=6, dt=DT)  # the full 4 x 4 fit: order 5 x 4
    diagonal = model.diagonal()
    assert [m.order for m in diagonal.channels] == [5] * 4
    np.testing.assert_allclose(
        diagonal.impulse_response(8), model.impulse_response(8) * np.eye(4), atol=1e-12
    )
    # The filter runs D SISO systems of order 5: (steps, D, order + 1, order + 1).
    assert DiagonalEligibilityFilter(diagonal, features=7).systems.shape == (1, 4, 6, 6)


@pytest.mark.parametrize("time_varying", [False, True])
def test_the_diagonal_filter_equals_the_full_filter_of_the_diagonal_model(time_varying):
    model = loop(2, coupling=0.3)
    if time_varying:
        plants = [oscillators(2, 0.3, frequency) for frequency in (0.8, 1.0, 1.2, 1.1)]
        pid = PID(2.0, 2.0, 0.2, dt=DT, derivative_time_constant=0.02)
        plants = [control.c2d(control.ss(*p), DT) for p in plants]
        model = closed_loop_along(plants, [pid.transfer_function()] * 2, DT, sensory_delay_steps=3)
    diagonal = model.diagonal()
    full = EligibilityFilter(diagonal, 5, batch_size=3, dtype=F64)
    fast = DiagonalEligibilityFilter(diagonal, 5, batch_size=3, dtype=F64)
    generator = np.random.default_rng(2)
    for k in range(12):
        if k == 2:  # one env out of step with the others
            for trace_filter in (full, fast):
                trace_filter.reset(torch.tensor([False, True, False]))
        phi = torch.as_tensor(generator.standard_normal((3, 5)))
        expected, trace = full.step(phi), fast.step(phi)
        torch.testing.assert_close(full_trace(trace), expected, rtol=0, atol=1e-12)
    if not time_varying:
        step, written = DiagonalEligibilityFilter(diagonal, 5, batch_size=3, dtype=F64).numpy_step()
        again = DiagonalEligibilityFilter(diagonal, 5, batch_size=3, dtype=F64)
        for _ in range(5):
            phi = generator.standard_normal((3, 5))
            step(phi)
            np.testing.assert_allclose(written, again.step(torch.as_tensor(phi)).numpy(), atol=1e-12)


def test_the_diagonal_filter_refuses_a_full_model():
    with pytest.raises(ValueError, match="diagonal"):
        DiagonalEligibilityFilter(loop(2, coupling=0.0), features=3)


def test_config_key_diagonal():
    assert ForwardModelConfig().diagonal is False
    assert ForwardModelConfig(diagonal=True).diagonal is True
    with pytest.raises(pydantic.ValidationError):
        ForwardModelConfig(diagonal="sometimes")
    config = load_config("paper_linear")
    controller_config = config.controllers[1]
    full = forward_model(config, controller_config, make_env(config))
    controller_config.forward_model.diagonal = True
    diagonal = forward_model(config, controller_config, make_env(config))
    assert isinstance(diagonal, DiagonalForwardModel) and not isinstance(full, DiagonalForwardModel)
    np.testing.assert_allclose(diagonal.impulse_response(100), full.impulse_response(100), atol=1e-12)


def test_the_delayed_rules_trace_is_each_dofs_own_delay():
    """ILC's trace on the hand (23 DOFs, 8 steps): 23 delays of order 8, not one system of order 184."""
    rule = make_rule("delayed", dofs=23, dt=0.02, trace_delay_steps=8)
    assert isinstance(rule.trace, DiagonalForwardModel)
    assert [m.order for m in rule.trace.channels] == [8] * 23
    full = pure_delay(8, 23, 0.02)
    np.testing.assert_array_equal(rule.trace.impulse_response(12), full.impulse_response(12))
    single = make_rule("delayed", dofs=1, dt=0.02, trace_delay_steps=8).trace
    assert not isinstance(single, DiagonalForwardModel) and single.order == 8
