"""Videos of a controller at work: one trial rendered offscreen (MuJoCo ``Renderer``) and written
with imageio — .mp4 through imageio-ffmpeg, .gif through Pillow."""

from __future__ import annotations

import os
from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import load_env_creator

from ..build import make_agent, make_vector_env
from ..config import ConfigError, RunConfig
from ..errors import MissingExtra
from .checkpoint import checkpoint_path, load_weights

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


def render_trial(
    config: RunConfig, index: int, run_dir: Path | None, seed: int
) -> tuple[list[np.ndarray], float]:
    """Frames of one trial of controller ``index``, with the weights learned in ``run_dir`` if given."""
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
    frames, done = [single.render()], False
    while not done:
        observation, _, terminated, truncated, info = env.step(agent.act(observation, info))
        agent.observe(terminated, truncated)
        done = bool(terminated[0] or truncated[0])
        if not done:
            frames.append(single.render())
    env.close()
    return frames, agent.spec.dt


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
    if path.suffix == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise MissingExtra(
                ".mp4 needs imageio-ffmpeg: pip install 'cfpc-gym[video]', or write a .gif"
            ) from None
        imageio.mimwrite(temporary, frames, fps=fps, macro_block_size=1)
    else:
        imageio.mimwrite(temporary, frames, duration=1000 / fps, loop=0)
    os.replace(temporary, path)
