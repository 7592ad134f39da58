"""The normal equations' matrix J^T J accumulated in place, for ``GaussNewton``'s numpy backend."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.linalg.blas import dgemm as gemm
from scipy.linalg.blas import dger as ger


def information_adder(
    information: np.ndarray, shared: bool
) -> Callable[[np.ndarray, np.ndarray | None], None]:
    """``add(jacobian, counts)``: information += J^T J per env (summed for shared weights), in place.

    BLAS updates the (P, P) matrices where they lie (``ger``, ``gemm`` with beta 1; each matrix is
    symmetric, so its transpose, Fortran-ordered, takes the update as well): numpy's stacked matmul
    into a scratch array and an add cost 10-20x more at P in the hundreds.
    """
    columns = [matrix.T for matrix in information]  # Fortran-ordered views of the same memory
    if shared:

        def add_shared(jacobian: np.ndarray, counts: np.ndarray | None) -> None:
            flat = jacobian.reshape(-1, jacobian.shape[2]).T  # (P, B D_out), Fortran-ordered
            gemm(1.0, flat, flat, beta=1.0, c=columns[0], trans_b=True, overwrite_c=True)

        return add_shared
    if information.shape[1] < 32:  # small matrices: one stacked product beats a call per env
        product = np.empty_like(information)

        def add_stacked(jacobian: np.ndarray, counts: np.ndarray | None) -> None:
            np.matmul(jacobian.transpose(0, 2, 1), jacobian, out=product)
            np.add(information, product, out=information)

        return add_stacked

    def add_rank_one(jacobian: np.ndarray, counts: np.ndarray | None) -> None:
        for env, rows in enumerate(jacobian):
            if counts is None or counts[env]:
                for row in rows:
                    ger(1.0, row, row, a=columns[env], overwrite_a=True)

    return add_rank_one
