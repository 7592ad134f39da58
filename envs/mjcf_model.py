"""A user's MJCF model: found (a path, or a file shipped in an installed package), compiled, and
checked before it is linearised (no contact at rest, no exploding poles).

Every refusal is a one-line ``ValueError`` that names the argument at fault (``model``,
``joints``) or says what in the model to change.
"""

from __future__ import annotations

import re
from contextlib import ExitStack
from importlib import resources
from pathlib import Path

import mujoco
import numpy as np

# "package.module:relative/path.xml": a model shipped in an installed package. The package part is
# a dotted Python name of two characters or more, so a Windows drive ("C:\...") is not one.
PACKAGE_PATH = re.compile(r"^(?P<package>[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*):(?P<path>[^:]+)$")
MAX_POLE = 1e3  # |eigenvalue| of one control step's A beyond which the linearisation has exploded


def resolve_model_path(model: str | Path) -> Path:
    """Where the MJCF file ``model`` names lies on disk.

    Args:
        model: A path (absolute, or relative to the working directory), or
            ``"package.module:relative/path.xml"``, e.g. ``"gymnasium.envs.mujoco:assets/reacher.xml"``.

    Returns:
        The file's path (not yet checked to exist).
    """
    text = str(model)
    match = PACKAGE_PATH.match(text)
    if match is None or len(match["package"]) < 2 or Path(text).exists():
        return Path(text).expanduser()
    try:
        root = resources.files(match["package"])
    except (ImportError, TypeError) as exc:  # no such package, or a module that is not one
        raise ValueError(f"model: cannot find package {match['package']!r} of {text!r}: {exc}") from None
    with ExitStack() as stack:  # installed packages are plain folders; a zipped one has no stable path
        return Path(stack.enter_context(resources.as_file(root.joinpath(match["path"]))))


def load_mjcf(model: str | Path) -> tuple[Path, mujoco.MjModel]:
    """Find and compile an MJCF file (its includes and meshes are found relative to it).

    Args:
        model: As in ``resolve_model_path``.

    Returns:
        The file's path and the compiled model. A missing file, a folder, or a file MuJoCo cannot
        compile is refused with one line naming ``model``, the path and MuJoCo's first error line.
    """
    path = resolve_model_path(model)
    if not path.exists():
        raise ValueError(f"model: no such file: {path}")
    if not path.is_file():
        raise ValueError(f"model: {path} is not a regular file")
    try:
        compiled = mujoco.MjModel.from_xml_path(str(path))
    except Exception as exc:  # MuJoCo raises ValueError (XML, compile) or others (I/O); all say why
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
        first = lines[0] if not lines[0].endswith(":") else " ".join(lines[:3])  # "...: <details>"
        raise ValueError(f"model: {path} does not compile: {first}") from None
    return path, compiled


def actuated_hinges(model: mujoco.MjModel) -> list[str]:
    """The hinge joints some actuator turns (a nonzero moment arm at the reference posture ``qpos0``).

    Args:
        model: The compiled model.

    Returns:
        Their names, in the model's order (an unnamed joint is skipped: it cannot be named in a config).
    """
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    moment = np.zeros((model.nu, model.nv))
    mujoco.mju_sparse2dense(
        moment, data.actuator_moment, data.moment_rownnz, data.moment_rowadr, data.moment_colind
    )
    driven = np.any(np.abs(moment) > 1e-12, axis=0)
    return [
        model.joint(j).name
        for j in range(model.njnt)
        if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE
        and model.joint(j).name
        and driven[model.jnt_dofadr[j]]
    ]


def geom_label(model: mujoco.MjModel, geom: int) -> str:
    """A geom's name, or (unnamed) its body's name and its index.

    Args:
        model: The compiled model.
        geom: The geom's index.

    Returns:
        The label, e.g. ``"shin"`` or ``"geom 3 of body thigh"``.
    """
    body = int(model.geom_bodyid[geom])
    return model.geom(geom).name or f"geom {geom} of body {model.body(body).name or body}"


def check_free_of_contact(model: mujoco.MjModel, data: mujoco.MjData, when: str = "at rest") -> None:
    """Refuse to linearise a body in contact: contacts make the linearisation stiff or explode.

    Args:
        model: The compiled model.
        data: Its data, forward-computed at the posture to linearise about.
        when: Where in the trial, for the message.
    """
    if data.ncon == 0:
        return
    pairs = sorted({tuple(sorted((int(c.geom1), int(c.geom2)))) for c in data.contact[: data.ncon]})
    named = "; ".join(f"{geom_label(model, a)} and {geom_label(model, b)}" for a, b in pairs[:4])
    more = f" (and {len(pairs) - 4} more pairs)" if len(pairs) > 4 else ""
    raise ValueError(
        f"the model is in contact {when}: geoms {named}{more}; "
        "give them contype/conaffinity 0 or move them apart"
    )


def check_poles(a: np.ndarray, model: mujoco.MjModel, data: mujoco.MjData, when: str = "at rest") -> None:
    """Refuse a linearisation whose one-step state matrix has exploding poles.

    Args:
        a: One control step's state matrix.
        model: The compiled model.
        data: Its data at the posture linearised about.
        when: Where in the trial, for the message.
    """
    largest = float(np.max(np.abs(np.linalg.eigvals(a)))) if a.size else 0.0
    if np.isfinite(largest) and largest <= MAX_POLE:
        return
    check_free_of_contact(model, data, when)  # the usual cause, named if it is the one
    raise ValueError(
        f"the model's linearisation {when} explodes (a pole of magnitude {largest:.3g} per control step): "
        "look for colliding geometry, a stiff constraint or a timestep too long for the model"
    )


def coupled_states(a: np.ndarray, b: np.ndarray, c: np.ndarray, tolerance: float = 1e-12) -> np.ndarray:
    """The states of a linearisation that the inputs reach and that reach the outputs.

    The others (a body no actuator moves and that moves no tracked joint, e.g. the reacher's
    target on its slide joints) do not change the input-output map; left in, their undamped
    modes (poles at 1) would read as an unstable loop.

    Args:
        a: (n, n) state matrix.
        b: (n, inputs) input matrix.
        c: (outputs, n) output matrix.
        tolerance: Entries at most this (relative to the largest of ``a``) count as zero.

    Returns:
        The indices of the states to keep, ascending.
    """
    edges = np.abs(a) > tolerance * max(1.0, float(np.abs(a).max(initial=0.0)))  # edges[i, j]: j moves i

    def closure(start: np.ndarray, step: np.ndarray) -> np.ndarray:
        found = start.copy()
        while True:
            grown = found | np.any(step[:, found], axis=1)
            if np.array_equal(grown, found):
                return found
            found = grown

    reached = closure(np.any(np.abs(b) > 0, axis=1), edges)
    observing = closure(np.any(np.abs(c) > 0, axis=0), edges.T)
    return np.flatnonzero(reached & observing)
