"""The paper's claims on the linear plant, and the learning machinery behind them."""

import numpy as np
import pytest
import torch
from conftest import cuda_or_skip

from cfpc_gym.analysis.optimum import least_squares_optimum
from cfpc_gym.build import make_agent, make_vector_env
from cfpc_gym.config import load_config
from cfpc_gym.experiment.runner import run_controller
from cfpc_gym.rollout import run_trial


def paper(*overrides: str):
    return load_config("paper_linear", list(overrides))


def only(name: str, trials: int, *overrides: str):
    """The paper config with one of its controllers, for ``trials`` trials."""
    config = paper(*overrides, f"trials={trials}")
    index = [c.name for c in config.controllers].index(name)
    return config.model_copy(update={"controllers": [config.controllers[index]]})


@pytest.fixture(scope="module")
def optimum():
    return least_squares_optimum(paper())


def test_the_optimum_is_attained_by_its_weights(optimum):
    """Exactness: freezing the least-squares weights into the controller gives the optimum RMSE."""
    config = only("cfpc", 1)
    agent = make_agent(config, 0, make_vector_env(config, 1))
    agent.controller.weights[0].copy_(torch.as_tensor(optimum.weights))
    record = run_trial(agent, learn=False, seeds=[config.seed])
    assert record.rmse[0] == pytest.approx(optimum.rmse, rel=1e-4)
    assert optimum.rmse < 0.2 * optimum.feedback_rmse


def test_eligibility_reaches_the_least_squares_optimum_by_trial_40(optimum):
    result = run_controller(only("cfpc", 41), 0, say=print)
    assert result.diverged_at_trial is None
    assert result.trial_rmse[40] <= 1.05 * optimum.rmse
    assert min(result.trial_rmse) >= optimum.rmse * (1 - 1e-3), "nothing beats the optimum"


def test_lms_without_a_trace_is_far_worse_or_diverges(optimum):
    eligibility = run_controller(only("cfpc", 50), 0, say=print)
    lms = run_controller(only("lms", 50), 0, say=print)
    assert lms.diverged_at_trial is not None or lms.final_rmse >= 1.3 * eligibility.final_rmse


@pytest.mark.parametrize("gain", [0.5, 2.0])
def test_eligibility_converges_with_a_wrong_forward_model_gain(gain, optimum):
    config = only("cfpc", 50, f"controllers.1.forward_model.gain={gain}")
    result = run_controller(config, 0, say=print)
    assert result.diverged_at_trial is None
    assert result.final_rmse < 1.2 * optimum.rmse
    assert np.all(np.diff(result.trial_rmse[-10:]) < 1e-6), "still improving or steady at the end"


def test_divergence_is_detected_and_reported(capsys):
    config = only("lms", 30, "controllers.2.learning_rate=5.0")
    result = run_controller(config, 0, say=print)
    assert result.diverged_at_trial is not None and result.diverged_at_trial < 30
    message = capsys.readouterr().out
    assert "controller 'lms' (lms): learning diverged at trial" in message
    assert "Lower learning_rate" in message


def test_a_batch_learns_exactly_like_separate_runs():
    """B envs (different random cue-to-movement intervals) in one batch == B single-env runs."""
    config = only("cfpc", 3, "env.kwargs.interval_jitter=0.1", "dtype=float64")
    seeds = [11, 12, 13, 14]
    batched = make_agent(config, 0, make_vector_env(config, len(seeds)))
    batched_rmse = [run_trial(batched, seeds=seeds if t == 0 else None).rmse for t in range(3)]
    assert np.ptp(batched_rmse[0]) > 0, "the envs must differ, or the test proves nothing"
    for b, seed in enumerate(seeds):
        single = make_agent(config, 0, make_vector_env(config, 1))
        single_rmse = [run_trial(single, seeds=[seed] if t == 0 else None).rmse[0] for t in range(3)]
        np.testing.assert_allclose([r[b] for r in batched_rmse], single_rmse, rtol=1e-10)
        np.testing.assert_allclose(
            batched.controller.weights[b].numpy(), single.controller.weights[0].numpy(), rtol=1e-9, atol=1e-12
        )


def test_shared_weights_learn_the_batch_mean_update():
    config = only("cfpc", 2, "controllers.1.shared_weights=true", "dtype=float64")
    shared = make_agent(config, 0, make_vector_env(config, 3))
    assert shared.controller.weights.shape[0] == 1
    for trial in range(2):
        run_trial(shared, seeds=[0, 0, 0] if trial == 0 else None)
    alone = make_agent(config, 0, make_vector_env(config, 1))
    for trial in range(2):
        run_trial(alone, seeds=[0] if trial == 0 else None)
    np.testing.assert_allclose(shared.controller.weights.numpy(), alone.controller.weights.numpy(), rtol=1e-9)


@pytest.mark.gpu
def test_runs_on_cuda_like_on_cpu():
    device = cuda_or_skip()
    results = {}
    for name in ("cpu", str(device)):
        config = only("cfpc", 5, "dtype=float64", f"device={name}")
        results[name] = run_controller(config, 0, say=print).trial_rmse
    np.testing.assert_allclose(results[str(device)], results["cpu"], rtol=1e-6)
