"""Checkpoints: one file per controller in ``RUN_DIR/checkpoints/``, saved after every trial.

The one place that writes and reads them: ``cfpc-gym run --resume`` and ``cfpc-gym render`` both
load through ``load_checkpoint``/``load_weights``, with the same one-line error for a damaged,
foreign or mismatched file.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..agent import CFPCAgent
from ..config.schema import file_stem
from ..errors import CheckpointError
from ..io import write_atomic
from ..rollout import TrialRecord
from .results import ControllerResult

CHECKPOINTS = "checkpoints"
CHECKPOINT_FORMAT = 3  # 3: named by controller; 2: the raised-cosine basis counts steps, gains per env


def checkpoint_path(run_dir: Path, name: str) -> Path:
    """The checkpoint file of controller ``name`` in a run directory (a file-safe form of the name)."""
    return run_dir / CHECKPOINTS / f"{file_stem(name)}.pt"


def _tensors(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()}


def save_checkpoint(path: Path, agent: CFPCAgent, result: ControllerResult) -> None:
    """Save the agent's state (weights, traces, controller and episode state) and the results so
    far, atomically.

    Args:
        path: The checkpoint file (``checkpoint_path``); its directory is made.
        agent: The controller's agent after a trial.
        result: Its results so far.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    agent_state = agent.state_dict()
    state = {
        "format": CHECKPOINT_FORMAT,
        "name": result.name,
        "agent": {
            "controller": agent_state["controller"],
            "starting": torch.as_tensor(agent_state["starting"]),
            "ignored": torch.as_tensor(agent_state["ignored"]),
        },
        "result": result.recorded(),
        "first_trial": _tensors(result.first_trial.as_arrays()),
        "last_trial": _tensors(result.last_trial.as_arrays()),
    }
    if result.relinearized_along is not None:
        state["relinearized_along"] = torch.from_numpy(result.relinearized_along)
    for name in ("best_state", "window_state"):
        if getattr(result, name) is not None:
            state[name] = getattr(result, name)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(path, buffer.getvalue())


def read_checkpoint(path: Path, name: str, device: torch.device | str = "cpu") -> dict[str, Any]:
    """The raw state saved for controller ``name``.

    Raises:
        CheckpointError: the file is missing, unreadable, damaged, of another format or written
            for another controller.
    """
    if path.exists() and not path.is_file():
        raise CheckpointError(f"checkpoint {path} is not a file; delete it to rerun controller {name!r}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} is missing: controller {name!r} never finished a trial")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception:  # truncated, foreign or unreadable: torch's message would be a page long
        raise CheckpointError(
            f"checkpoint {path} is unreadable or corrupted; delete it to rerun that controller"
        ) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT or state.get("name") != name:
        raise CheckpointError(
            f"checkpoint {path}: written for another controller or by another version; "
            "delete it to rerun that controller"
        )
    return state


def load_checkpoint(path: Path, agent: CFPCAgent, name: str, rule: str) -> ControllerResult:
    """Restore ``agent`` from a checkpoint and return the results it holds.

    Raises:
        CheckpointError: as ``read_checkpoint``, or the state does not fit this controller (the
            run's config was edited since).
    """
    state = read_checkpoint(path, name, agent.controller.device)
    try:
        agent.load_state_dict(
            {
                "controller": state["agent"]["controller"],
                "starting": state["agent"]["starting"].numpy(),
                "ignored": state["agent"]["ignored"].numpy(),
            }
        )
        result = ControllerResult(name, rule, **state["result"])
        result.first_trial = TrialRecord(**{k: v.numpy() for k, v in state["first_trial"].items()})
        result.last_trial = TrialRecord(**{k: v.numpy() for k, v in state["last_trial"].items()})
        if "relinearized_along" in state:
            result.relinearized_along = state["relinearized_along"].numpy()
        result.best_state = state.get("best_state")
        result.window_state = state.get("window_state")
    except Exception:  # keys, shapes or types that do not fit: another config's controller
        raise CheckpointError(
            f"checkpoint {path} does not fit controller {name!r} as configured (was config.yaml "
            "edited?); delete it to rerun that controller"
        ) from None
    return result


def load_weights(path: Path, agent: CFPCAgent, name: str) -> None:
    """Load a checkpoint's controller state into ``agent``; a batched run's state is cut to its
    first env when ``agent`` drives one env.

    Raises:
        CheckpointError: as ``read_checkpoint``, or the state does not fit ``agent``.
    """
    state = read_checkpoint(path, name, agent.controller.device)
    try:
        controller = state["agent"]["controller"]
        agent.controller.load_state_dict(first_env(controller, agent.controller.state_dict()))
    except Exception:
        raise CheckpointError(
            f"checkpoint {path} does not fit controller {name!r} as configured; was config.yaml edited?"
        ) from None


def first_env(state: dict[str, torch.Tensor], like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A batched run's state cut to its first env, where ``like`` (one env's state) has one row."""
    return {
        key: value[:1]
        if value.dim() and key in like and value.shape[1:] == like[key].shape[1:] and like[key].shape[0] == 1
        else value
        for key, value in state.items()
    }
