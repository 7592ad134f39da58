import pytest
import torch

import cfpc_gym  # noqa: F401  (registers the envs)

# The controllers' tensors are tiny: one thread avoids the thread-pool overhead that dominates them on a
# small shared machine (measured: ~11 ms vs 0.6 ms per step under load on 2 cores).
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _quiet_mujoco_log(tmp_path, monkeypatch):
    """MuJoCo writes MUJOCO_LOG.TXT into the working directory: keep it out of the repo."""
    monkeypatch.chdir(tmp_path)


def cuda_or_skip() -> torch.device:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return torch.device("cuda")
