"""One BLAS thread for the command line and the bench's cells, unless the user chose a count.

The controller's numpy path multiplies small matrices every control step (the eligibility trace:
on MyoSuite's elbow with a 9 x 9 goal code, the loop model's system times 20 bases x 81 codes =
1620 columns). OpenBLAS splits such a product over every core, and on a loaded machine its threads
wait on each other: a trial took 2.2-3.0x as long with BLAS on 2 threads as on one, two other
processes busy on 2 cores (PERFORMANCE.md).
Torch's own threads are set where it runs batches (``torch.set_num_threads``); this is numpy's.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext

BLAS_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def one_blas_thread() -> AbstractContextManager:
    """A context in which numpy's BLAS runs on one thread; no change where the environment sets a
    thread count (any of ``BLAS_VARIABLES``), so the user's choice stands.

    Example:
        >>> import numpy as np
        >>> with one_blas_thread():
        ...     _ = np.ones((64, 64)) @ np.ones((64, 64))
    """
    if any(os.environ.get(name) for name in BLAS_VARIABLES):
        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")
