import control
import numpy as np
import pytest
import torch

from cfpc_gym.controllers import CFPC, PID, AlphaBasis, make_rule

F64 = torch.float64


def test_step_response_matches_its_discrete_analytic_form():
    kp, ki, kd, dt, tau = 2.0, 3.0, 0.4, 0.01, 0.05
    pid = PID(kp, ki, kd, dt=dt, derivative_time_constant=tau, dtype=F64)
    k = np.arange(100)
    expected = kp + ki * dt * (k + 1) + kd / (tau + dt) * (tau / (tau + dt)) ** k
    got = [pid.step(torch.ones(1, 1, dtype=F64)).item() for _ in k]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_transfer_function_is_the_implemented_controller():
    pid = PID(1.5, 0.7, 0.2, dt=0.01, derivative_time_constant=0.03, dtype=F64)
    error = np.random.default_rng(0).standard_normal(200)
    simulated = [pid.step(torch.tensor([[e]], dtype=F64)).item() for e in error]
    response = control.forced_response(pid.transfer_function(), U=error)
    np.testing.assert_allclose(simulated, response.outputs, rtol=1e-9, atol=1e-12)


def test_zero_gains_leave_no_hidden_integrator():
    assert control.ss(PID(2.0, dt=0.01).transfer_function()).nstates == 0


def test_output_limit_and_anti_windup():
    pid = PID(1.0, 10.0, dt=0.01, output_limit=2.0, dtype=F64)
    for _ in range(500):  # a long saturating error
        command = pid.step(torch.full((1, 1), 5.0, dtype=F64))
        assert command.item() == pytest.approx(2.0)
    integral_after_saturation = pid.integral.item()
    assert integral_after_saturation < 0.5, "the integral wound up while saturated"
    # Reversing the error leaves saturation at once, because the integral did not wind up.
    assert pid.step(torch.full((1, 1), -1.0, dtype=F64)).item() < 0


def test_per_dof_gains_and_masked_reset():
    pid = PID([1.0, 2.0], [1.0, 1.0], dt=0.1, batch_size=3, dofs=2, dtype=F64)
    command = pid.step(torch.ones(3, 2, dtype=F64))
    np.testing.assert_allclose(command[0].numpy(), [1.1, 2.1])
    pid.reset(torch.tensor([True, False, True]))
    np.testing.assert_allclose(pid.integral[:, 0].numpy(), [0.0, 0.1, 0.0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kp": [1.0, 2.0, 3.0], "dofs": 2}, "kp must be a scalar or have 2 entries"),
        ({"kp": 1.0, "dt": 0.0}, "dt must be > 0"),
        ({"kp": 1.0, "output_limit": -1.0}, "output_limit must be > 0"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    kwargs = {"dt": 0.01, **kwargs}
    with pytest.raises(ValueError, match=message):
        PID(**kwargs)


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_loaded_gains_are_the_gains_that_act(backend):
    def controller(kd: float) -> CFPC:
        pid = PID(1.0, 0.5, kd, dt=0.01, dtype=torch.float64)
        basis = AlphaBasis(1, 4, 0.01, dtype=torch.float64)
        return CFPC(pid, basis, make_rule("none", dofs=1, dt=0.01), backend=backend)

    loaded, target = controller(1.0), controller(2.0)
    loaded.load_state_dict(target.state_dict())
    for error in (0.3, 0.7, -0.2):
        args = (np.array([[error]]), np.zeros((1, 1)), np.zeros((1, 1)))
        np.testing.assert_allclose(loaded.step_array(*args), target.step_array(*args), rtol=1e-12)
