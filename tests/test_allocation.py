"""The bounded allocations' solver (envs/box_least_squares.py): the same answer as scipy's bvls (the
previous implementation), whatever the warm start, and the optimality conditions hold directly; and
the transposed allocation: least squares for one joint and muscle, never against the command, and
no amplification of the weak direction least squares inverts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import lsq_linear

from cfpc_gym.envs import allocation
from cfpc_gym.envs.allocation import (
    bounded_allocation,
    bvls_box_least_squares,
    least_squares_allocation,
    transpose_allocation,
)
from cfpc_gym.envs.box_least_squares import solve_box_least_squares

SHAPES = {"hand": (23, 39), "arm": (2, 6), "elbow": (1, 6), "finger": (4, 5)}
# Command size relative to the capacity: well inside, at the edge, far outside (both bounds bind).
REACH = [0.05, 0.3, 1.0, 5.0]


def problems(shape: tuple[int, int], count: int, seed: int = 0):
    """Random moment-arm x force matrices (mixed signs, spread column sizes) and commands."""
    rng = np.random.default_rng(seed)
    for k in range(count):
        a = rng.normal(size=shape) * rng.uniform(0.2, 3.0, size=shape[1]) * rng.uniform(0.1, 30.0)
        capacity = np.abs(a).sum(axis=1)
        yield a, rng.normal(size=shape[0]) * capacity * REACH[k % len(REACH)], float(rng.choice([0.0, 0.05]))


def old_least_squares_allocation(command, a, cocontraction=0.0, regularization=1e-3, tol=1e-10):
    """The implementation before the active-set solver: bvls on the stacked matrix."""
    joints, muscles = a.shape
    floor = np.full(muscles, cocontraction)
    lam = regularization * np.linalg.norm(a) / np.sqrt(muscles)
    matrix = np.vstack([a, lam * np.eye(muscles)])
    rhs = np.concatenate([command - a @ floor, np.zeros(muscles)])
    extra = lsq_linear(matrix, rhs, bounds=(0.0, 1.0 - cocontraction), method="bvls", tol=tol).x
    return np.clip(floor + extra, 0.0, 1.0)


def kkt_violation(a, target, lam, low, high, rest, x) -> float:
    """Largest breach of the optimality conditions, relative to the gradient's scale."""
    gradient = a.T @ (a @ x - target) + lam**2 * (x - rest)
    scale = np.linalg.norm(a) * (np.linalg.norm(a) * np.abs([low, high]).max() + np.abs(target).max())
    at_low, at_high = x <= low, x >= high
    inside = ~(at_low | at_high)
    breach = np.concatenate([-gradient[at_low], gradient[at_high], np.abs(gradient[inside])])
    return float(max(breach.max(initial=0.0), 0.0) / scale)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_agrees_with_scipy_bvls_inside_and_far_outside_capacity(name):
    saturated = {"low": 0, "high": 0}
    for a, command, floor in problems(SHAPES[name], 200):
        if floor:  # cold half the time, warm from the problem before otherwise
            allocation._LAST_ACTIVE_SET.clear()
        new = least_squares_allocation(command, a, floor)
        np.testing.assert_allclose(new, old_least_squares_allocation(command, a, floor), rtol=0, atol=1e-9)
        saturated["low"] += np.any(new <= floor)
        saturated["high"] += np.any(new >= 1.0)
    assert saturated["low"] > 50 and saturated["high"] > 50  # both bounds were exercised


@pytest.mark.parametrize("shape", [(2, 2), (3, 3), (4, 2), (6, 6)])
def test_motor_allocation_agrees_with_scipy_bvls(shape):
    """Motors no more than joints (no redundancy: the tiny 1e-6 ridge then decides nothing)."""
    rng = np.random.default_rng(1)
    for a, command, _ in problems(shape, 100, seed=2):
        low = -rng.uniform(0.1, 2.0, a.shape[1])
        high = rng.uniform(0.1, 2.0, a.shape[1])
        lam = 1e-6 * np.linalg.norm(a) / np.sqrt(a.shape[1])
        reference = np.clip(
            bvls_box_least_squares(a, command, lam, low, high, np.zeros(a.shape[1])), low, high
        )
        np.testing.assert_allclose(bounded_allocation(command, a, low, high), reference, rtol=0, atol=1e-9)


def test_redundant_motors_make_the_same_torque_as_bvls_and_do_not_depend_on_history():
    """With a 1e-6 ridge the split among redundant motors is set by round-off (bvls's too), so
    the torque made is compared, and the motors start cold: the same call, the same answer."""
    rng = np.random.default_rng(8)
    for a, command, _ in problems((2, 6), 100, seed=9):
        low, high = -rng.uniform(0.1, 2.0, 6), rng.uniform(0.1, 2.0, 6)
        lam = 1e-6 * np.linalg.norm(a) / np.sqrt(6)
        reference = np.clip(bvls_box_least_squares(a, command, lam, low, high, np.zeros(6)), low, high)
        controls = bounded_allocation(command, a, low, high)
        assert np.all((controls >= low) & (controls <= high))
        scale = np.abs(a).sum() * np.abs([low, high]).max()
        np.testing.assert_allclose(a @ controls, a @ reference, rtol=0, atol=1e-9 * scale)
        np.testing.assert_array_equal(bounded_allocation(command, a, low, high), controls)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_the_optimality_conditions_hold(name):
    """Gradient >= 0 at the lower bound, <= 0 at the upper, 0 inside: the (unique) optimum."""
    for a, command, floor in problems(SHAPES[name], 100, seed=3):
        lam = 1e-3 * np.linalg.norm(a) / np.sqrt(a.shape[1])
        n = a.shape[1]
        low, high, rest = np.zeros(n), np.full(n, 1.0 - floor), np.zeros(n)
        solution = solve_box_least_squares(a, command, lam, low, high, rest)
        assert solution.converged
        assert np.all((solution.x >= low) & (solution.x <= high))
        assert kkt_violation(a, command, lam, low, high, rest, solution.x) < 1e-12


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_warm_and_cold_starts_give_the_same_answer(name):
    """Strict convexity (ridge > 0): one solution, so no start changes it beyond round-off."""
    rng = np.random.default_rng(4)
    previous = None
    for a, command, _ in problems(SHAPES[name], 60, seed=5):
        lam = 1e-3 * np.linalg.norm(a) / np.sqrt(a.shape[1])
        n = a.shape[1]
        box = (np.zeros(n), np.ones(n), np.zeros(n))
        cold = solve_box_least_squares(a, command, lam, *box)
        starts = [rng.integers(-1, 2, n), np.ones(n), -np.ones(n), cold.side]
        starts += [previous] if previous is not None else []
        for start in starts:
            warm = solve_box_least_squares(a, command, lam, *box, start=start)
            assert warm.converged
            np.testing.assert_allclose(warm.x, cold.x, rtol=0, atol=1e-12)
        assert solve_box_least_squares(a, command, lam, *box, start=cold.side).iterations == 1
        previous = cold.side


def test_the_allocation_does_not_depend_on_the_calls_before():
    cases = list(problems(SHAPES["hand"], 40, seed=6))
    allocation._LAST_ACTIVE_SET.clear()
    cold = []
    for a, command, floor in cases:
        allocation._LAST_ACTIVE_SET.clear()
        cold.append(least_squares_allocation(command, a, floor))
    for a, command, floor in reversed(cases):  # every call warm-started from another problem's set
        np.testing.assert_allclose(
            least_squares_allocation(command, a, floor), cold.pop(), rtol=0, atol=1e-12
        )


def test_falls_back_to_bvls_without_a_ridge_or_when_not_converged():
    a, command, _ = next(problems(SHAPES["hand"], 1, seed=7))
    np.testing.assert_array_equal(
        least_squares_allocation(command, a, regularization=0.0),
        old_least_squares_allocation(command, a, regularization=0.0),
    )
    lam = 1e-3 * np.linalg.norm(a) / np.sqrt(39)
    box = (np.zeros(39), np.ones(39), np.zeros(39))
    assert not solve_box_least_squares(a, command * 5, lam, *box, max_iterations=1).converged


def test_bad_input_is_refused_as_before():
    a = np.ones((2, 3))
    with pytest.raises(ValueError):
        bounded_allocation(np.zeros(2), a, np.ones(3), np.ones(3))  # low == high: lsq_linear refuses
    with pytest.raises(ValueError):
        least_squares_allocation(np.zeros(3), a)


# The finger's moment arms x forces at rest (myoFingerPoseRandom-v0; joints IFadb, IFmcp, IFpip,
# IFdip; muscles extn, adabR, adabL, mflx, dflx), N*m per unit excitation, rounded: MCP and PIP are
# moved by the same muscles with nearly proportional arms (singular values 224, 206, 50, 8.9).
FINGER = np.array(
    [
        [0.0, -145.4, 145.4, 0.0, 0.0],
        [-81.2, 0.0, 0.0, 109.3, 87.5],
        [-62.6, 0.0, 0.0, 103.1, 82.5],
        [-28.2, 0.0, 0.0, 0.0, 65.6],
    ]
)


@pytest.mark.parametrize("arm", (-4.0, 0.5, 30.0))
def test_transpose_is_least_squares_for_one_joint_and_one_muscle(arm):
    command = np.array([0.3 * arm])  # within reach: excitation 0.3
    expected = least_squares_allocation(command, np.array([[arm]]), regularization=0.0)
    assert transpose_allocation(command, np.array([[arm]])) == pytest.approx([0.3], rel=1e-12)
    assert expected == pytest.approx([0.3], rel=1e-9)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_the_transposes_torque_never_opposes_the_command(name):
    for a, command, floor in problems(SHAPES[name], 40, seed=3):
        excitation = transpose_allocation(command, a, floor)
        assert np.all((excitation >= floor) & (excitation <= 1.0))
        assert command @ a @ (excitation - floor) >= 0.0


def test_the_transpose_does_not_amplify_the_weak_direction_least_squares_inverts():
    u, sigma, _ = np.linalg.svd(FINGER)
    weak = -np.sign(u[1, -1]) * u[:, -1]  # the weak direction: extend MCP, flex PIP (its other sign
    command = 20.0 * weak  # is outside the muscles' cone: both maps answer 0 there)
    transpose = transpose_allocation(command, FINGER)
    least_squares = least_squares_allocation(command, FINGER)
    bound = sigma[-1] * np.linalg.norm(command) / np.abs(FINGER).max() ** 2
    assert np.linalg.norm(transpose) <= bound + 1e-12
    assert np.linalg.norm(least_squares) > 20 * np.linalg.norm(transpose)


def test_the_transpose_of_no_muscle_is_the_floor_and_a_bad_floor_is_refused():
    assert np.array_equal(transpose_allocation(np.ones(2), np.zeros((2, 3)), 0.1), np.full(3, 0.1))
    with pytest.raises(ValueError, match="cocontraction must be in"):
        transpose_allocation(np.ones(1), np.ones((1, 2)), 1.0)
