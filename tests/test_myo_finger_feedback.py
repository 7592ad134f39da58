"""Feedback on MyoSuite's finger through the agent: the allocation by the transposed moment arms
(the bundled ``myo_finger`` config's) reaches goals that least squares, with the same gains, misses."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from cfpc_gym.build import make_agent, make_vector_env
from cfpc_gym.config import load_config
from cfpc_gym.rollout import run_trial

GOALS = range(10)  # reset seeds: ten random finger goals


def feedback_on_the_finger(allocation: str) -> tuple[np.ndarray, np.ndarray, float]:
    """(success, goal error) per goal, and the lowest MCP angle in the first 0.12 s of any goal."""
    config = load_config("myo_finger", ["trials=1", f"env.kwargs.allocation={allocation}"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MyoSuite's own model-building warnings
        env = make_vector_env(config, 1)
    agent = make_agent(config, 0, env)  # the first controller: feedback only
    success, error, lowest_mcp = [], [], np.inf
    for seed in GOALS:
        record = run_trial(agent, learn=False, seeds=[seed])
        success.append(record.success(None)[0])
        error.append(record.goal_error()[0])
        lowest_mcp = min(lowest_mcp, float(record.output[:6, 0, 1].min()))  # IFmcp, steps 1-6
    env.close()
    return np.array(success), np.array(error), lowest_mcp


def test_the_transpose_reaches_goals_least_squares_misses_without_throwing_the_finger():
    pytest.importorskip("myosuite")
    transpose, transpose_error, transpose_mcp = feedback_on_the_finger("transpose")
    least_squares, least_squares_error, least_squares_mcp = feedback_on_the_finger("least_squares")
    assert transpose.sum() >= 9 and least_squares.sum() <= 7
    assert transpose_error.mean() < 0.8 * least_squares_error.mean()
    # Least squares inverts the weak MCP-against-PIP direction: MCP into hyperextension at once.
    assert least_squares_mcp < -0.3 < transpose_mcp
