"""Sizes refused before they are allocated: a config whose controller cannot fit in memory stops
with one line giving the size it would need, instead of an allocator error mid-run."""

from __future__ import annotations

import os

from .config import ConfigError, RunConfig
from .envs import TrackingSpec

MEMORY_SHARE = 0.5  # of the memory available now: the envs and the run's records need the rest


def available_bytes() -> int:
    """Memory available to this process now (Linux: MemAvailable), else the physical memory."""
    try:
        with open("/proc/meminfo") as stream:
            for line in stream:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2**63


def basis_size(config: RunConfig, spec: TrackingSpec) -> int:
    """Basis functions per cue channel."""
    basis = config.basis
    if basis.kind == "time_table":
        return int(round(basis.span / spec.dt)) + 1
    return basis.size


def controller_bytes(config: RunConfig, spec: TrackingSpec, batch_size: int) -> int:
    """A lower bound on the memory one controller takes: weights, eligibility traces (two
    buffers of (outputs + order + inputs) rows per weight, order >= 1), basis tables, recursive
    least squares' covariance and Gauss-Newton's normal matrices where a controller uses them."""
    features = spec.cues * basis_size(config, spec)
    dofs, item = spec.dofs, 8 if config.dtype == "float64" else 4
    weights = batch_size * dofs * features
    traces = 2 * batch_size * dofs * features * (2 * dofs + 1)
    steps = max(1, int(round(_basis_duration(config) / spec.dt)))
    tables = features * steps if config.basis.kind == "raised_cosine" else 0
    if config.basis.kind == "delay_line":  # a history as long as the line, per env and cue
        tables = batch_size * spec.cues * config.basis.size * max(1, round(config.basis.spacing / spec.dt))
    rls = max(
        (batch_size * (dofs * features) ** 2 for c in config.controllers if c.optimizer == "rls"), default=0
    )
    # gauss_newton: two float64 (P, P) matrices, this trial's and the best trial's, per env (one set
    # for shared weights).
    second_order = max(
        (
            2 * 8 * (1 if c.shared_weights else batch_size) * (dofs * features) ** 2
            for c in config.controllers
            if c.optimizer == "gauss_newton"
        ),
        default=0,
    )
    return item * (weights + traces + tables + rls) + second_order


def _basis_duration(config: RunConfig) -> float:
    basis = config.basis
    if basis.kind == "raised_cosine":
        return basis.start + basis.span + 2 * basis.overlap * basis.span / max(basis.size - 1, 1)
    return 0.0


def check_fits(config: RunConfig, spec: TrackingSpec, batch_size: int) -> None:
    """Refuse a controller that cannot fit in the memory available now.

    Raises:
        ConfigError: naming ``basis`` and ``envs``, with the size needed and the size available.
    """
    needed, available = controller_bytes(config, spec, batch_size), available_bytes()
    if needed > MEMORY_SHARE * available:
        raise ConfigError(
            f"basis: {spec.cues} cue(s) x {basis_size(config, spec):,} basis functions x {batch_size:,} "
            f"env(s) need at least {_gib(needed)} GiB for one controller; "
            f"{_gib(available)} GiB is available: lower basis size or envs"
        )


def _gib(size: int) -> str:
    gib = size / 2**30
    return f"{gib:,.1f}" if gib < 1e6 else f"{gib:.2g}"
