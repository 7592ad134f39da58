"""numpy's BLAS on one thread under the command line and in the bench's cells, unless the user set
a thread count in the environment."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from cfpc_gym.threads import BLAS_VARIABLES, one_blas_thread


def blas_threads() -> set[int]:
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


@pytest.fixture
def two_blas_threads(monkeypatch):
    """No thread count in the environment, and BLAS on two threads to begin with."""
    for name in BLAS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    np.ones(1) @ np.ones(1)  # numpy's BLAS loaded
    if not blas_threads():
        pytest.skip("threadpoolctl finds no BLAS library in this numpy")
    with threadpool_limits(limits=2, user_api="blas"):
        yield


def test_one_blas_thread_inside_and_the_count_restored_after(two_blas_threads):
    before = blas_threads()
    with one_blas_thread():
        assert blas_threads() == {1}
    assert blas_threads() == before


@pytest.mark.parametrize("name", BLAS_VARIABLES)
def test_a_thread_count_the_user_set_stands(two_blas_threads, monkeypatch, name):
    monkeypatch.setenv(name, "2")
    before = blas_threads()
    with one_blas_thread():
        assert blas_threads() == before


def test_the_command_line_runs_under_one_blas_thread(two_blas_threads, monkeypatch):
    from cfpc_gym import cli

    seen = []
    monkeypatch.setattr(cli, "_envs", lambda args: seen.append(blas_threads()) or 0)
    assert cli.main(["envs"]) == 0 and seen == [{1}]
