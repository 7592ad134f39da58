"""Sweeps: a bench config's ``grid`` (hyperparameters) x tasks x methods x seeds, run on Ray.

Ray core runs one task per cell (``num_cpus=1``): on this machine's CPUs by default, on an
existing cluster with ``address``. Without Ray installed the cells run on a local process pool.
Results are the bench's: the same cells, tables and plots, one row per grid point.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

from ..config import ConfigError
from .cells import (
    CellResult,
    check,
    default_workers,
    expand,
    outstanding,
    progress_printer,
    run_cell,
    run_cells,
)
from .config import BenchConfig

INSTALL_HINT = "pip install 'cfpc-gym[ray]'"


def ray_available() -> bool:
    """Whether Ray is installed."""
    return importlib.util.find_spec("ray") is not None


def check_sweep(bench: BenchConfig, profile: str, address: str | None) -> None:
    """Every problem a sweep would meet, before anything runs or is written."""
    if not bench.grid:
        raise ConfigError("grid: a sweep needs a grid of values, e.g. grid: {ilc.lead: [0.1, 0.15]}")
    if address is not None and not ray_available():
        raise ConfigError(f"address: a Ray cluster needs Ray: {INSTALL_HINT}")
    check(bench, profile)


def run_sweep(
    bench: BenchConfig,
    profile: str,
    *,
    address: str | None = None,
    workers: int | None = None,
    say: Callable[[str], None] = print,
    save: Callable[[CellResult], None] = lambda result: None,
    done: dict[tuple, CellResult] | None = None,
) -> list[CellResult]:
    """Run every cell of every grid point; ``address`` names a Ray cluster (needs Ray)."""
    check_sweep(bench, profile, address)
    cells = expand(bench)
    points = len(cells) // (len(bench.tasks) * len(bench.methods) * bench.seeds)
    if not ray_available():
        workers = workers or default_workers()
        say(f"Ray is not installed: {len(cells)} cells ({points} grid points) on a local pool of "
            f"{workers} processes ({INSTALL_HINT} for Ray)")  # fmt: skip
        return run_cells(cells, profile, workers, progress_printer(len(cells), say, save), done)
    import ray

    ray.init(address=address, num_cpus=None if address else workers, include_dashboard=False,
             log_to_driver=False, logging_level="ERROR")  # fmt: skip
    try:
        cpus = int(ray.cluster_resources().get("CPU", 0))
        where = f"the cluster at {address}" if address else f"{cpus} local CPUs"
        say(f"Ray: {len(cells)} cells ({points} grid points) on {where}")
        remote = ray.remote(num_cpus=1)(run_cell)
        results, todo = outstanding(cells, done)
        pending = {remote.remote(cells[i][0], profile, cells[i][1]): i for i in todo}
        progress = progress_printer(len(cells), say, save)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(ready[0])
            results[index] = ray.get(ready[0])
            progress(results[index])
        return results
    finally:
        ray.shutdown()
