"""Ridge least squares in a box, exactly, by block principal pivoting: a small dense active-set solver.

Solves ``min |A x - t|^2 + lam^2 |x - rest|^2`` subject to ``low <= x <= high`` for a few dozen
variables, fast enough to call every control step (the hand's 23 x 39 in ~30-60 us, scipy's bvls
in ~1 ms). With ``lam > 0`` the problem is strictly convex, so it has one solution, and any point
that meets the Karush-Kuhn-Tucker conditions is it:

- a free variable (strictly inside its box) has zero gradient (it solves the reduced problem);
- a variable at ``low`` has gradient >= 0, a variable at ``high`` gradient <= 0.

The solver guesses which variables sit at which bound (the *active set*), solves the reduced
problem on the free ones, and checks both conditions; each variable that breaks one changes side
(block principal pivoting, Judice & Pires 1994, with their backup rule: when the number of
violations stops falling for 3 rounds, only the last violator changes side, which terminates). It
stops only when the conditions hold, so the result does not depend on the starting guess beyond
round-off: a warm start (the previous step's active set, usually 0-1 rounds away when the posture
moves slowly) changes the time, never the answer.

The reduced problem is solved by Cholesky of the smaller of its two Gram matrices, which are equal
by the push-through identity (``F`` the free variables, ``z = x_F - rest_F``):
``(A_F^T A_F + lam^2 I) z = A_F^T r`` or ``z = A_F^T y`` with ``(A_F A_F^T + lam^2 I) y = r``.
Either is as well conditioned as ``A_F`` squared, whatever the size of the ridge, where that
matrix has full rank.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.linalg.lapack import dposv

PIVOT_ROUNDS = 3  # block principal pivoting rounds tried before the monotone active-set method
EPS = np.finfo(np.float64).eps


class BoxSolution(NamedTuple):
    """What ``solve_box_least_squares`` found.

    Fields: ``x`` (n,), the solution, within the box; ``side`` (n,) int8, -1 where ``x`` is at
    ``low``, +1 at ``high``, 0 free: a warm start for a nearby problem; ``iterations``, the reduced
    problems solved; ``converged``, whether the optimality conditions hold (False: the iteration
    cap was reached or a Gram matrix was not positive definite; ``x`` is then not the solution).
    """

    x: np.ndarray
    side: np.ndarray
    iterations: int
    converged: bool


def solve_box_least_squares(
    a: np.ndarray,
    target: np.ndarray,
    lam: float,
    low: np.ndarray,
    high: np.ndarray,
    rest: np.ndarray,
    start: np.ndarray | None = None,
    max_iterations: int | None = None,
) -> BoxSolution:
    """Minimise ``|a x - target|^2 + lam^2 |x - rest|^2`` subject to ``low <= x <= high``.

    Args:
        a: (m, n) float64 matrix.
        target: (m,) float64.
        lam: Ridge weight, > 0 (strict convexity: one solution).
        low: (n,) lower bounds, each < ``high``.
        high: (n,) upper bounds.
        rest: (n,) the point the ridge pulls towards.
        start: (n,) a guess of the active set (``BoxSolution.side`` of a nearby problem); None:
            every variable free (the unconstrained solution first).
        max_iterations: Cap on reduced problems solved; None: ``4 n + 20``.

    Returns:
        A ``BoxSolution``; when ``converged``, its ``x`` is the unique solution, to round-off.
    """
    problem = _Problem(a, target, lam * lam, low, high, rest)
    n = a.shape[1]
    side = np.zeros(n, np.int8) if start is None or np.shape(start) != (n,) else np.array(start, np.int8)
    limit = 4 * n + 20 if max_iterations is None else max_iterations
    solution = _pivot(problem, side.copy(), min(PIVOT_ROUNDS, limit))
    if solution.converged:
        return solution
    rest_of_it = _descend(problem, side, limit - solution.iterations)
    return rest_of_it._replace(iterations=solution.iterations + rest_of_it.iterations)


class _Problem:
    """One problem's data and its checks: the reduced solution, gradient and objective."""

    def __init__(self, a, target, lam2, low, high, rest):
        self.a, self.target, self.lam2, self.low, self.high, self.rest = a, target, lam2, low, high, rest
        # Round-off in a gradient component is a few eps of this; in a free variable, ~cond x eps.
        norm = np.linalg.norm(a)
        scale = (
            norm * (norm * np.abs([low, high]).max() + np.abs(target).max()) + lam2 * np.abs(high - low).max()
        )
        self.gradient_tolerance = 64 * EPS * scale
        self.bound_tolerance = 1e-10 * (high - low)

    def at_bounds(self, side: np.ndarray, inside: np.ndarray) -> np.ndarray:
        """``inside`` where ``side`` is 0, the bound ``side`` names elsewhere."""
        return np.where(side < 0, self.low, np.where(side > 0, self.high, inside))

    def reduced(self, side: np.ndarray) -> np.ndarray | None:
        """The minimiser with the variables of ``side`` -1 / +1 held at ``low`` / ``high``, the rest
        free (their box ignored); None where the Gram matrix is not numerically positive definite."""
        x = self.at_bounds(side, self.rest)
        free = side == 0
        if free.any() and not _solve_free(self.a, self.target - self.a @ x, self.lam2, free, x):
            return None
        return x

    def gradient(self, x: np.ndarray) -> np.ndarray:
        """Half the objective's gradient at ``x``."""
        return self.a.T @ (self.a @ x - self.target) + self.lam2 * (x - self.rest)

    def objective(self, x: np.ndarray) -> float:
        """``|a x - target|^2 + lam^2 |x - rest|^2``."""
        residual = self.a @ x - self.target
        return residual @ residual + self.lam2 * np.sum((x - self.rest) ** 2)

    def out_of_box(self, side: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The free variables of ``z`` below ``low`` and above ``high`` (beyond round-off)."""
        free = side == 0
        return free & (z < self.low - self.bound_tolerance), free & (z > self.high + self.bound_tolerance)

    def pulled_off(self, side: np.ndarray, gradient: np.ndarray) -> np.ndarray:
        """The variables at a bound whose gradient points into the box (beyond round-off)."""
        tolerance = self.gradient_tolerance
        return ((side < 0) & (gradient < -tolerance)) | ((side > 0) & (gradient > tolerance))


def _pivot(problem: _Problem, side: np.ndarray, rounds: int) -> BoxSolution:
    """Block principal pivoting: every variable that breaks a condition changes side at once.

    Fast from a good guess (0-2 rounds), but it can cycle, so only ``rounds`` are tried.
    """
    z = None
    for iteration in range(1, rounds + 1):
        z = problem.reduced(side)
        if z is None:
            break
        below, above = problem.out_of_box(side, z)
        leave = problem.pulled_off(side, problem.gradient(z))
        if not (below.any() or above.any() or leave.any()):
            return BoxSolution(np.clip(z, problem.low, problem.high), side, iteration, True)
        side[below], side[above], side[leave] = -1, 1, 0
    return BoxSolution(problem.at_bounds(side, problem.rest), side, rounds, False)


def _descend(problem: _Problem, side: np.ndarray, max_iterations: int) -> BoxSolution:
    """A primal active-set method: feasible iterates whose objective only falls, so it terminates.

    Solve on the free variables; if the solution leaves the box, go there clipped when that lowers
    the objective, else as far towards it as the box allows, and hold the variables that stopped
    on a bound; if it is inside, free every held variable whose gradient points into the box.
    """
    low, high = problem.low, problem.high
    x = problem.at_bounds(side, np.clip(problem.rest, low, high))
    iteration = 0
    for iteration in range(1, max_iterations + 1):
        free = side == 0
        z = problem.reduced(side)
        if z is None:
            break  # not positive definite (lam too small for this A): let the caller fall back
        out_low, out_high = problem.out_of_box(side, z)
        if out_low.any() or out_high.any():
            clipped = np.clip(z, low, high)
            if problem.objective(clipped) < problem.objective(x):
                x = clipped
                side[out_low], side[out_high] = -1, 1
                continue
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(
                    out_low, (low - x) / (z - x), np.where(out_high, (high - x) / (z - x), np.inf)
                )
            step = max(ratio.min(), 0.0)
            blocked = ratio <= step + 1e-14
            side[blocked & out_low], side[blocked & out_high] = -1, 1
            x = problem.at_bounds(side, np.where(free, x + step * (z - x), x))
            continue
        x = np.clip(z, low, high)
        leave = problem.pulled_off(side, problem.gradient(z))
        if not leave.any():
            return BoxSolution(x, side, iteration, True)
        side[leave] = 0
    return BoxSolution(x, side, iteration, False)


def _solve_free(a: np.ndarray, residual: np.ndarray, lam2: float, free: np.ndarray, x: np.ndarray) -> bool:
    """Add to ``x[free]`` (at ``rest``) the ridge solution ``z`` of ``|a_F z - residual|^2 + lam2 |z|^2``.

    ``residual`` is the target less what ``x`` (bounds and rest) already makes. Returns False
    where the Gram matrix is not numerically positive definite.
    """
    a_free = a[:, free]
    m, k = a_free.shape
    if k <= m:  # (A_F^T A_F + lam2 I) z = A_F^T r: k x k
        gram = a_free.T @ a_free
        gram.flat[:: k + 1] += lam2
        _, z, info = dposv(gram, a_free.T @ residual, overwrite_a=True)
    else:  # z = A_F^T y, (A_F A_F^T + lam2 I) y = r: m x m
        gram = a_free @ a_free.T
        gram.flat[:: m + 1] += lam2
        _, y, info = dposv(gram, residual, overwrite_a=True)
        z = a_free.T @ y
    if info != 0:
        return False
    x[free] += z
    return True
