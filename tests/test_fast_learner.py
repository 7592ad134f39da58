"""Recursive least squares on the eligibility trace (optimizer: rls) against the least-squares optimum."""

import numpy as np
import pytest
import torch

from cfpc_gym.analysis.optimum import least_squares_optimum
from cfpc_gym.build import make_agent, make_vector_env
from cfpc_gym.config import ConfigError, load_config
from cfpc_gym.experiment.runner import run_controller
from cfpc_gym.rollout import run_trial

RLS = "controllers.1.optimizer=rls"


def cfpc(trials: int, *overrides: str):
    """The paper config with its cfpc controller alone, for ``trials`` trials."""
    config = load_config("paper_linear", [*overrides, f"trials={trials}"])
    return config.model_copy(update={"controllers": [config.controllers[1]]})


@pytest.fixture(scope="module")
def optimum():
    return least_squares_optimum(load_config("paper_linear")).rmse


def first_trial_within(ratios, limit: float = 1.02) -> int | None:
    return next((t for t, r in enumerate(ratios) if r <= limit), None)


def test_rls_reaches_the_optimum_within_two_trials_where_the_paper_rule_needs_dozens(optimum):
    fast = np.array(run_controller(cfpc(10, RLS), 0, say=print).trial_rmse) / optimum
    plain = np.array(run_controller(cfpc(10), 0, say=print).trial_rmse) / optimum
    assert first_trial_within(fast) <= 1
    assert np.all(fast[1:] <= 1.02)
    assert fast.min() >= 1 - 1e-3, "nothing beats the optimum"
    assert plain[-1] > 1.2, "the paper's rule is still far from the optimum after 10 trials"


@pytest.mark.parametrize("gain", [0.5, 2.0])
def test_rls_reaches_the_optimum_with_a_wrong_forward_model_gain(gain, optimum):
    config = cfpc(10, RLS, f"controllers.1.forward_model.gain={gain}")
    agent = make_agent(config, 0, make_vector_env(config, 1))
    result = run_controller(config, 0, say=print, agent=agent)
    ratios = np.array(result.trial_rmse) / optimum
    assert result.diverged_at_trial is None
    assert first_trial_within(ratios) <= 3
    assert np.all(ratios[3:] <= 1.02)
    # It learned how far off the model's gain is: the real loop is 1 / gain times the model.
    assert agent.controller.learner.estimate[0, -1].item() == pytest.approx(1 / gain, rel=0.05)


def test_rls_reaches_each_seeds_optimum_under_interval_jitter():
    """Seeds matter only with jitter: each seed's interval (reseeded every trial) has its own optimum."""
    seeds = [1, 2, 3]
    jitter = "env.kwargs.interval_jitter=0.1"
    optima = [least_squares_optimum(cfpc(1, jitter, f"seed={s}")).rmse for s in seeds]
    assert np.ptp(optima) > 0.01 * min(optima), "the seeds must differ, or the test proves nothing"
    config = cfpc(1, RLS, jitter)
    agent = make_agent(config, 0, make_vector_env(config, len(seeds)))
    ratios = np.array([run_trial(agent, seeds=seeds).rmse / optima for _ in range(10)])
    assert np.all(ratios[2:] <= 1.02), ratios
    assert np.all(ratios >= 1 - 1e-3)


def test_rls_learns_better_than_the_paper_rule_when_the_interval_varies_every_trial():
    """No fixed feed-forward fits every trial; the learner must stay stable and still help."""
    seeds = [1, 2, 3, 4]
    mean_rmse = {}
    for optimizer in ("gradient", "rls"):
        config = cfpc(1, "env.kwargs.interval_jitter=0.05", f"controllers.1.optimizer={optimizer}")
        agent = make_agent(config, 0, make_vector_env(config, len(seeds)))
        rmse = [run_trial(agent, seeds=seeds if t == 0 else None).rmse.mean() for t in range(20)]
        mean_rmse[optimizer] = (rmse[0], np.mean(rmse[10:]))
    first, late = mean_rmse["rls"]
    assert np.isfinite(late) and late < 0.5 * first
    assert late < mean_rmse["gradient"][1]


def test_rls_with_forgetting_still_reaches_the_optimum_and_its_covariance_stays_bounded(optimum):
    config = cfpc(10, RLS, "controllers.1.forgetting=0.999")
    agent = make_agent(config, 0, make_vector_env(config, 1))
    ratios = np.array(run_controller(config, 0, say=print, agent=agent).trial_rmse) / optimum
    assert np.all(ratios[2:] <= 1.02)
    learner = agent.controller.learner
    assert torch.diagonal(learner.covariance[0]).sum() <= learner._covariance_bound * 1.001


def test_rls_stays_at_the_optimum_over_many_trials_in_float32(optimum):
    """Round-off must not wear the covariance down to indefinite and blow the weights up."""
    result = run_controller(cfpc(40, RLS, "dtype=float32"), 0, say=print)
    ratios = np.array(result.trial_rmse) / optimum
    assert np.all(ratios[1:] <= 1.02)


def test_a_batch_learns_exactly_like_separate_runs_with_rls():
    config = cfpc(3, RLS, "env.kwargs.interval_jitter=0.1", "dtype=float64")
    seeds = [11, 12, 13]
    batched = make_agent(config, 0, make_vector_env(config, len(seeds)))
    batched_rmse = [run_trial(batched, seeds=seeds if t == 0 else None).rmse for t in range(3)]
    assert np.ptp(batched_rmse[0]) > 0
    for b, seed in enumerate(seeds):
        single = make_agent(config, 0, make_vector_env(config, 1))
        single_rmse = [run_trial(single, seeds=[seed] if t == 0 else None).rmse[0] for t in range(3)]
        np.testing.assert_allclose([r[b] for r in batched_rmse], single_rmse, rtol=1e-10)


def test_the_learner_state_travels_with_state_dict():
    config = cfpc(1, RLS, "dtype=float64")
    trained = make_agent(config, 0, make_vector_env(config, 1))
    run_trial(trained, seeds=[0])
    copy = make_agent(config, 0, make_vector_env(config, 1))
    copy.controller.load_state_dict(trained.controller.state_dict())
    rmse = [run_trial(agent, seeds=[0]).rmse[0] for agent in (trained, copy)]
    assert rmse[0] == rmse[1]


def test_an_rls_controller_cast_mid_run_learns_on_in_the_new_dtype():
    config = cfpc(2, RLS)  # float32
    cast, reference = (make_agent(config, 0, make_vector_env(config, 1)) for _ in range(2))
    run_trial(cast, seeds=[0])
    cast.controller.double()
    reference.controller.double().load_state_dict(cast.controller.state_dict())
    rmse = [run_trial(agent, seeds=[0]).rmse[0] for agent in (cast, reference)]
    assert cast.controller.learner._regressor.dtype == torch.float64
    assert rmse[0] == pytest.approx(rmse[1], rel=1e-6)  # constants were rounded to float32 before


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["controllers.1.shared_weights=true"], "optimizer rls keeps one estimate per env"),
        (["controllers.1.rule=fel"], "optimizer rls needs a counterfactual-error rule"),
    ],
)
def test_rls_refuses_what_it_cannot_do_and_names_the_key(overrides, message):
    config = cfpc(1, RLS, *overrides)  # the cfpc controller is the config's only one: controllers.0
    with pytest.raises(ConfigError, match=f"^controllers.0: {message}"):
        make_agent(config, 0, make_vector_env(config, 2))
