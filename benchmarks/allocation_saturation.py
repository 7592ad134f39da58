"""How often the muscles cannot give the torque the feedback controller asks for, by episode outcome.

    python benchmarks/allocation_saturation.py [CONFIG] [--trials 60] [--threshold 0.2] [--controller 0]

Runs one controller of a run config (default ``myo_finger``'s feedback-only) for ``--trials``
episodes, as the runner does (seed on the first reset, learning on), and at every step measures the
allocation's unrealised share of the commanded joint torque, |A e - tau| / |tau| (A: the env's
moment arms x force capacity at that posture, e: the excitations the allocation chose, tau: the
command). Prints, for the episodes that succeeded (the env's rule) and those that did not: the share
of steps above ``--threshold``, and the mean unrealised share over the second half of the episode.

Needs a muscle env with ``allocate`` and MuJoCo physics that give ``torque_per_excitation`` (the
MyoSuite pose tasks: pip install 'cfpc-gym[myosuite]').
"""

from __future__ import annotations

import argparse

import numpy as np

from cfpc_gym.build import make_agent, make_env
from cfpc_gym.config import load_config


def _allocating_wrapper(env):
    """The wrapper (or env) whose class defines ``allocate``: the one whose method the agent calls."""
    while not hasattr(type(env), "allocate"):
        env = env.env
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="myo_finger")
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--threshold", type=float, default=0.2)
    parser.add_argument("--controller", type=int, default=0, help="index in the config's controllers")
    args = parser.parse_args()

    config = load_config(args.config, [f"trials={args.trials}"])
    env = make_env(config)
    body = _allocating_wrapper(env)
    allocate, unrealised = body.allocate, []

    def measured(command: np.ndarray) -> np.ndarray:
        excitation = allocate(command)
        moment = body.physics.torque_per_excitation()[: len(command)]
        unrealised.append(np.linalg.norm(moment @ excitation - command) / max(np.linalg.norm(command), 1e-9))
        return excitation

    body.allocate = measured  # before the agent is built: it looks the hook up once
    agent = make_agent(config, args.controller, env)
    outcome = []  # (succeeded, share of steps above threshold, mean over the second half)
    for trial in range(args.trials):
        observation, info = env.reset(seed=config.seed if trial == 0 else None)
        agent.reset()
        unrealised.clear()
        solved, done = 0, False
        while not done:
            observation, _, terminated, truncated, info = env.step(agent.act(observation, info))
            agent.observe(terminated, truncated)
            solved += int(np.asarray(info["solved"]).reshape(-1)[0])
            done = bool(np.any(terminated) or np.any(truncated))
        shares = np.array(unrealised)
        outcome.append((solved > 5, np.mean(shares > args.threshold), np.mean(shares[len(shares) // 2 :])))
    env.close()
    rows = np.array(outcome, dtype=float)
    name = config.controllers[args.controller].name
    print(f"{args.config}, {name}, {args.trials} episodes: success {rows[:, 0].mean():.1%}")
    for label, kept in (("succeeded", rows[:, 0] == 1), ("failed", rows[:, 0] == 0)):
        if kept.any():
            print(
                f"  {label:9s} ({kept.sum():3d}): steps with > {args.threshold:.0%} of the torque unrealised "
                f"{rows[kept, 1].mean():.1%}; second half, mean unrealised {rows[kept, 2].mean():.1%}"
            )


if __name__ == "__main__":
    main()
