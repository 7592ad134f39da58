"""The main job's claim: on the cued elbow (muscles, gravity, 50 ms sensory delay), CFPC with a
linearised forward model halves the tracking error of feedback alone within 50 trials, and plain
LMS does no better than CFPC."""

import pytest

from cfpc_gym.config import load_config
from cfpc_gym.experiment.runner import run_experiment


@pytest.mark.slow
def test_eligibility_halves_the_error_of_feedback_alone_and_beats_lms():
    config = load_config("cued_elbow")
    assert config.env.kwargs["sensory_delay"] == 0.05 and config.trials == 50
    runs = {r.name: r for r in run_experiment(config, say=print).controllers}
    feedback_only, cfpc, lms = runs["feedback-only"], runs["cfpc"], runs["lms"]
    assert cfpc.diverged_at_trial is None
    assert cfpc.final_rmse <= 0.5 * feedback_only.final_rmse
    assert cfpc.final_rmse <= lms.final_rmse
    assert cfpc.trial_lag_s[-1] < feedback_only.trial_lag_s[-1], "learning moved the arm earlier"
