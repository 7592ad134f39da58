"""Videos of a controller at work: one trial rendered offscreen (MuJoCo ``Renderer``) and written
with imageio — .mp4 through imageio-ffmpeg, .gif through Pillow."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from gymnasium.envs.registration import load_env_creator

from .build import make_agent, make_vector_env
from .config import ConfigError, RunConfig
from .runner import CHECKPOINTS

VIDEO_SUFFIXES = (".mp4", ".gif")


def pick_controller(config: RunConfig, name: str | None) -> int:
    """The named controller, else the first that learns."""
    names = [c.name for c in config.controllers]
    if name is not None:
        if name not in names:
            raise ConfigError(f"--controller: no controller {name!r}; the run has {', '.join(names)}")
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
        checkpoint = run_dir / CHECKPOINTS / f"{index}.pt"
        if not checkpoint.exists():
            raise ConfigError(f"{checkpoint} is missing: that controller never finished a trial")
        state = torch.load(checkpoint, map_location=agent.controller.device, weights_only=True)
        agent.controller.load_state_dict(
            first_env(state["agent"]["controller"], agent.controller.state_dict())
        )
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


def first_env(state: dict[str, torch.Tensor], like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A batched run's state cut to its first env, where ``like`` (one env's state) has one row."""
    return {
        key: value[:1]
        if value.dim() and value.shape[1:] == like[key].shape[1:] and like[key].shape[0] == 1
        else value
        for key, value in state.items()
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
    import imageio.v2 as imageio

    if path.suffix == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise ConfigError(
                "--out: .mp4 needs imageio-ffmpeg: pip install 'cfpc-gym[video]', or write a .gif"
            ) from None
        imageio.mimwrite(path, frames, fps=fps, macro_block_size=1)
    else:
        imageio.mimwrite(path, frames, duration=1000 / fps, loop=0)
