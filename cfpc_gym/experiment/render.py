"""Videos of a controller at work: one trial rendered offscreen (MuJoCo ``Renderer``), a strip chart
of its target, output and cue drawn over each frame's bottom (``overlay``), and written with
imageio — .mp4 through imageio-ffmpeg, .gif through Pillow."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import load_env_creator

from ..build import make_agent, make_vector_env
from ..config import ConfigError, RunConfig
from ..envs.tracking import TRACKING_KEY
from ..errors import MissingExtra
from .checkpoint import checkpoint_path, load_weights
from .overlay import draw_tracking_strip

VIDEO_SUFFIXES = (".mp4", ".gif")


def pick_controller(config: RunConfig, name: str | None) -> int:
    """The named controller, else the first that learns."""
    names = [c.name for c in config.controllers]
    if name is not None:
        if name not in names:
            raise ConfigError(f"controller: no controller {name!r}; the run has {', '.join(names)}")
        return names.index(name)
    learning = [i for i, c in enumerate(config.controllers) if c.rule != "none"]
    return learning[0] if learning else 0


@dataclass(frozen=True)
class RecordedTrial:
    """One rendered trial: its frames as MuJoCo rendered them and the tracking signals at each.

    Attributes:
        frames: (H, W, 3) uint8 frames, one after the reset and one after each step but the last.
        dt: Control period, seconds: one frame each.
        target: (T, D) the desired output at each frame, T = ``len(frames)``; None where the env
            gave no ``info["tracking"]``.
        output: (T, D) the true output at each frame, or None.
        cue: (T, M) the cue channels at each frame, or None.
    """

    frames: list[np.ndarray]
    dt: float
    target: np.ndarray | None
    output: np.ndarray | None
    cue: np.ndarray | None


def record_trial(config: RunConfig, index: int, run_dir: Path | None, seed: int) -> RecordedTrial:
    """Frames and tracking signals of one trial of controller ``index``.

    Args:
        config: The run config; its env is made with ``render_mode="rgb_array"``, one copy.
        index: Which of ``config.controllers`` acts.
        run_dir: A run directory whose learned weights the controller loads, or None (untrained).
        seed: The env seed of the trial.

    Returns:
        The ``RecordedTrial``.

    Raises:
        ConfigError: an env that cannot render rgb_array frames.
    """
    refusal = ConfigError(f"env.id: {config.env.id} cannot render rgb_array frames")
    if "rgb_array" not in render_modes(config.env.id, ["rgb_array"]):  # before gymnasium warns of it
        raise refusal
    kwargs = {**config.env.kwargs, "render_mode": "rgb_array"}
    config = config.model_copy(update={"env": config.env.model_copy(update={"kwargs": kwargs}), "envs": 1})
    env = make_vector_env(config, 1)
    single = env.envs[0]
    if "rgb_array" not in single.metadata.get("render_modes", []):
        raise refusal
    agent = make_agent(config, index, env)
    if run_dir is not None:
        name = config.controllers[index].name
        load_weights(checkpoint_path(run_dir, name), agent, name)
    agent.learn = False
    observation, info = env.reset(seed=[seed])
    frames, infos, done = [single.render()], [info], False
    while not done:
        observation, _, terminated, truncated, info = env.step(agent.act(observation, info))
        agent.observe(terminated, truncated)
        done = bool(terminated[0] or truncated[0])
        if not done:
            frames.append(single.render())
            infos.append(info)
    env.close()
    signals = _tracking_signals(infos)
    return RecordedTrial(frames, agent.spec.dt, *(signals.get(k) for k in ("target", "output", "cue")))


def render_trial(
    config: RunConfig, index: int, run_dir: Path | None, seed: int, strip: bool = True
) -> tuple[list[np.ndarray], float]:
    """Frames of one trial of controller ``index``, with the weights learned in ``run_dir`` if given.

    Args:
        config: The run config.
        index: Which of ``config.controllers`` acts.
        run_dir: A run directory whose learned weights the controller loads, or None (untrained).
        seed: The env seed of the trial.
        strip: Draw the strip chart of target, output and cue over each frame's bottom.

    Returns:
        The frames, and the control period (s) that each lasts.
    """
    trial = record_trial(config, index, run_dir, seed)
    if not strip or trial.target is None:
        return trial.frames, trial.dt
    return draw_tracking_strip(trial.frames, trial.target, trial.output, trial.cue), trial.dt


def _tracking_signals(infos: list[dict]) -> dict[str, np.ndarray]:
    """The first env's target, output and cue over the trial, (T, n) each; empty without them."""
    if not all(TRACKING_KEY in info for info in infos):
        return {}
    return {
        name: np.stack([np.asarray(info[TRACKING_KEY][name][0], dtype=np.float64) for info in infos])
        for name in ("target", "output", "cue")
    }


def render_modes(env_id: str, unknown: list[str]) -> list[str]:
    """The render modes a registered env's class declares; ``unknown`` where it cannot be told."""
    try:
        entry = gym.spec(env_id).entry_point
        creator = entry if callable(entry) else load_env_creator(entry)
    except (gym.error.Error, ImportError, AttributeError):  # not registered here: the made env will tell
        return unknown
    metadata = getattr(creator, "metadata", None)
    return list(metadata.get("render_modes", [])) if isinstance(metadata, dict) else unknown


def write_video(frames: list[np.ndarray], path: Path, fps: float) -> None:
    """Write ``frames`` to ``path`` (.mp4 or .gif) through a temporary file and a rename: a
    symbolic link at ``path`` is replaced, never written through, and no partial video is left."""
    import imageio.v2 as imageio

    temporary = path.with_name(f".{path.stem}.partial{path.suffix}")
    if os.path.lexists(temporary):  # a link left there would be written through
        os.unlink(temporary)
    if path.suffix == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise MissingExtra(
                ".mp4 needs imageio-ffmpeg: pip install 'cfpc-gym[video]', or write a .gif"
            ) from None
        writer = {"fps": fps, "macro_block_size": 1}
    else:
        writer = {"duration": 1000 / fps, "loop": 0}
    try:
        imageio.mimwrite(temporary, frames, **writer)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise
    os.replace(temporary, path)
