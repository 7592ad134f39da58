"""What a trial record measures: the lag of the output behind the target, and the error gradient."""

import numpy as np
import pytest

from cfpc_gym.analysis.responses import basis_responses, error_gradient
from cfpc_gym.config import load_config
from cfpc_gym.rollout import TrialRecord

DT = 0.01


def record(target: np.ndarray, output: np.ndarray) -> TrialRecord:
    signals = {name: np.zeros((len(target), 1, 1)) for name in TrialRecord.__dataclass_fields__}
    signals |= {"target": target.reshape(-1, 1, 1), "output": output.reshape(-1, 1, 1)}
    return TrialRecord(**signals)


@pytest.mark.parametrize("shift", [3, -2, 0])
def test_lag_is_the_shift_of_the_output_behind_the_target(shift):
    steps = np.arange(100)
    target = 0.7 + np.clip((steps - 40) / 20, 0, 1)  # a ramp from a posture of 0.7
    output = 0.7 + np.clip((steps - 40 - shift) / 20, 0, 1)
    assert record(target, output).lag(DT)[0] == pytest.approx(shift * DT)


def test_lag_is_nan_for_a_still_target_or_an_output_that_never_gets_there():
    still, ramp = np.full(50, 0.3), np.clip(np.arange(50) / 10, 0, 1)
    assert np.isnan(record(still, still).lag(DT)[0])
    assert np.isnan(record(ramp, 0.2 * ramp).lag(DT)[0])


def test_a_step_along_the_error_gradient_lowers_the_error():
    config = load_config("paper_linear")
    measured = basis_responses(config)
    gradient = error_gradient(measured.responses, measured.error).reshape(1, -1)
    step = 0.5 * np.sum(measured.error**2) / np.sum(gradient**2)  # a step size of the right scale
    assert basis_responses(config, step * gradient).rmse < measured.rmse
    assert basis_responses(config, -step * gradient).rmse > measured.rmse
