"""Muscle allocation: a joint-space command (desired joint torques, N*m) to muscle excitations in [0, 1]
(and, for motor-driven models, to controls within their ctrlrange: ``bounded_allocation``).

All three maps take ``torque_per_excitation`` (joints x muscles): the joint torque each muscle makes at
full, steady activation at the current posture (moment arm x peak force x force-length factor; see
``MusclePhysics.torque_per_excitation``). A command is thus divided by the muscle's capacity, and
the excitation that results produces the command once activation has caught up (up to the
force-velocity factor and passive forces, which feedback has to absorb). Stateless: a controller
can call them every step with the env's current posture.

``cocontraction`` is a floor excitation on every muscle; least squares raises the agonists to
cancel the floor's own net torque, so co-contraction adds stiffness without adding torque.

The two bounded least-squares maps solve their box problem with ``solve_box_least_squares``
(``box_least_squares.py``: exact, an active-set method, several times faster than scipy's bvls on
the hand). ``least_squares_allocation`` starts it from the active set the last call of the same
shape ended with; the problem is strictly convex (a ridge > 0), so the answer is the same, to
round-off, whatever that history. ``bounded_allocation`` always starts cold: its ridge (1e-6) is
so small that where motors are redundant their split is set by round-off (to ~1e-2, with bvls
too), and a warm start would make that split depend on the calls before. Where the ridge is 0,
an input is not finite or the solver does not converge, scipy's ``lsq_linear(method="bvls")``
solves it.

``transpose_allocation`` maps by the transposed matrix instead (Jacobian-transpose control): each
muscle is excited in proportion to how much its pull serves the command. Least squares inverts the
matrix, so a command along its weak direction (two joints moved by the same muscles with nearly
proportional arms, as the finger's MCP and PIP: singular values 224 and 8.9 N*m at rest) asks for
large opposing excitations, which activation and force-velocity dynamics turn into a large wrong
movement (the finger thrown into MCP hyperextension within 0.12 s, measured). The transpose never
amplifies a weak direction: a command ``c`` along a left singular vector of value ``sigma`` gets
excitations of norm at most ``sigma |c| / s^2`` (``s = max |A|``).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import lsq_linear

from .box_least_squares import solve_box_least_squares

# The active set ``least_squares_allocation`` last ended with, per (joints, muscles): a first guess
# for the next call only (the answer does not depend on it). Not thread-local: a guess from another
# thread is merely a worse guess.
_LAST_ACTIVE_SET: dict[tuple[int, int], np.ndarray] = {}


def check_cocontraction(cocontraction: float) -> None:
    """Refuse a co-contraction floor outside [0, 1) (at 1 no excitation would be left to allocate)."""
    if not 0 <= cocontraction < 1:
        raise ValueError(f"cocontraction must be in [0, 1), got {cocontraction}")


def antagonist_split(
    command: float, torque_per_excitation: np.ndarray, cocontraction: float = 0.0
) -> np.ndarray:
    """One joint: the muscles pulling the command's way share the extra excitation equally.

    ``torque_per_excitation`` is (muscles,) or (1, muscles), signed; returns excitations (muscles,).
    """
    check_cocontraction(cocontraction)
    cocontraction = float(cocontraction)  # an int floor would make an int array of excitations
    # A handful of muscles, every control step: Python floats cost less than array operations.
    capacity = np.asarray(torque_per_excitation, dtype=np.float64).reshape(-1).tolist()
    needed = float(command) - cocontraction * sum(capacity)
    pulling = sum(c for c in capacity if c * needed > 0.0)
    if pulling == 0.0:  # no muscle pulls the needed way (or nothing is needed): the floor alone
        return np.full(len(capacity), cocontraction)
    # Agonists get needed / pulling > 0 on top of the floor (>= 0): only the top bound can bind.
    agonist = min(cocontraction + needed / pulling, 1.0)
    return np.array([agonist if c * needed > 0.0 else cocontraction for c in capacity])


def least_squares_allocation(
    command: np.ndarray,
    torque_per_excitation: np.ndarray,
    cocontraction: float = 0.0,
    regularization: float = 1e-3,
) -> np.ndarray:
    """Several joints: bounded least squares over the moment-arm matrix.

    Minimises ``|A e - command|^2 + lam^2 |e - floor|^2`` subject to ``floor <= e <= 1``, with
    ``A = torque_per_excitation`` (joints x muscles) and ``lam = regularization * |A|_F / sqrt(muscles)``:
    a small ridge that picks the least-effort solution among the many a redundant set of muscles allows.
    """
    check_cocontraction(cocontraction)
    if regularization < 0:
        raise ValueError(f"regularization must be >= 0, got {regularization}")
    a = np.asarray(torque_per_excitation, dtype=np.float64)
    joints, muscles = a.shape
    floor = np.full(muscles, cocontraction)
    target = np.asarray(command, dtype=np.float64).reshape(joints) - a @ floor
    lam = regularization * np.linalg.norm(a) / np.sqrt(muscles)
    low, high, rest = np.zeros(muscles), np.full(muscles, 1.0 - cocontraction), np.zeros(muscles)
    extra = _box_least_squares(a, target, lam, low, high, rest, warm=True)
    return np.clip(floor + extra, 0.0, 1.0)


def transpose_allocation(
    command: np.ndarray, torque_per_excitation: np.ndarray, cocontraction: float = 0.0
) -> np.ndarray:
    """Several joints: excitations ``floor + A^T command / s^2``, clipped to ``[floor, 1]``.

    ``A = torque_per_excitation`` (joints x muscles) and ``s = max |A|``: one joint and one muscle
    give ``command / A``, as least squares does; with more, a muscle's share is its moment arm on the
    commanded direction, and the torque made never opposes the command (``c . A (e - floor) >= 0``).
    It does not make the command exactly (feedback closes the gap) nor cancel the floor's net torque.

    Args:
        command: Desired joint torques (N*m), (joints,).
        torque_per_excitation: (joints, muscles) joint torque per unit excitation.
        cocontraction: Excitation floor on every muscle, in [0, 1).

    Returns:
        Excitations (muscles,) in [cocontraction, 1].

    Example:
        >>> transpose_allocation(np.array([1.0, 0.0]), np.array([[2.0, -2.0], [2.0, 2.0]]))
        array([0.5, 0. ])
    """
    check_cocontraction(cocontraction)
    a = np.asarray(torque_per_excitation, dtype=np.float64)
    scale = float(np.max(np.abs(a))) if a.size else 0.0
    if scale == 0.0:  # no muscle acts on these joints: nothing to excite
        return np.full(a.shape[1], float(cocontraction))
    excitation = cocontraction + a.T @ np.asarray(command, dtype=np.float64).reshape(a.shape[0]) / scale**2
    return np.clip(excitation, cocontraction, 1.0)


def bounded_allocation(
    command: np.ndarray,
    torque_per_control: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    regularization: float = 1e-6,
) -> np.ndarray:
    """Motors: the controls within ``[low, high]`` whose joint torque is nearest the command.

    Minimises ``|A u - command|^2 + lam^2 |u - u0|^2`` subject to ``low <= u <= high``, with
    ``A = torque_per_control`` (joints x motors, moment arm x gain: exact at any control),
    ``u0`` the control nearest zero and ``lam = regularization * |A|_F / sqrt(motors)``: a tiny ridge
    that picks the least-effort solution where motors are redundant. No co-contraction floor.

    Args:
        command: Desired joint torques (N*m), (joints,).
        torque_per_control: (joints, motors) joint torque per unit control.
        low: (motors,) lower control bounds (``ctrlrange``).
        high: (motors,) upper control bounds.
        regularization: Relative size of the ridge (>= 0).

    Returns:
        The controls, (motors,), within the bounds; exact (to ~1e-12 relative) where the command
        is reachable.
    """
    if regularization < 0:
        raise ValueError(f"regularization must be >= 0, got {regularization}")
    a = np.asarray(torque_per_control, dtype=np.float64)
    joints, motors = a.shape
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    rest = np.clip(0.0, low, high)
    lam = regularization * np.linalg.norm(a) / np.sqrt(motors)
    target = np.asarray(command, dtype=np.float64).reshape(joints)
    controls = _box_least_squares(a, target, lam, low, high, rest, warm=False)
    return np.clip(controls, low, high)


def _box_least_squares(
    a: np.ndarray,
    target: np.ndarray,
    lam: float,
    low: np.ndarray,
    high: np.ndarray,
    rest: np.ndarray,
    warm: bool,
) -> np.ndarray:
    """``min |a x - target|^2 + lam^2 |x - rest|^2`` over ``low <= x <= high``: the active-set
    solver (``warm``: from the last active set), else scipy's bvls (which also raises what it
    raised before on bad input)."""
    key = a.shape
    shapes_agree = low.shape == high.shape == rest.shape == (a.shape[1],) and target.shape == (a.shape[0],)
    finite = all(np.isfinite(v).all() for v in (a, target, low, high, rest))
    usable = lam > 0 and shapes_agree and finite and bool(np.all(low < high))
    if usable:
        start = _LAST_ACTIVE_SET.get(key) if warm else None
        solution = solve_box_least_squares(a, target, lam, low, high, rest, start)
        if solution.converged:
            if warm:
                _LAST_ACTIVE_SET[key] = solution.side
            return solution.x
    return bvls_box_least_squares(a, target, lam, low, high, rest)


def bvls_box_least_squares(
    a: np.ndarray, target: np.ndarray, lam: float, low: np.ndarray, high: np.ndarray, rest: np.ndarray
) -> np.ndarray:
    """The same problem by scipy's ``lsq_linear(method="bvls")`` on the stacked matrix ``[a; lam I]``.

    The reference, and the fallback where the active-set solver does not apply (``lam`` 0, inputs
    not finite) or does not converge. Its stopping rules (gradient below an absolute 1e-10, or a
    relative cost change below 1e-10) can end it short of the optimum in rare saturated cases.

    Args:
        a: (joints, actuators) torque per unit excitation or control.
        target: (joints,) torques to make.
        lam: Ridge weight (>= 0).
        low: (actuators,) lower bounds.
        high: (actuators,) upper bounds.
        rest: (actuators,) the point the ridge pulls towards.

    Returns:
        (actuators,) the solution bvls returns.
    """
    matrix = np.vstack([a, lam * np.eye(a.shape[1])])
    rhs = np.concatenate([target, lam * rest])
    return lsq_linear(matrix, rhs, bounds=(low, high), method="bvls").x
