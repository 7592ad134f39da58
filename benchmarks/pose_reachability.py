"""How many of a MyoSuite pose task's goals the muscles can hold: the best constant excitation per goal.

    python benchmarks/pose_reachability.py [--task myoHandPoseRandom-v0] [--goals 10]
        [--evaluations 1400] [--method powell|lbfgsb] [--static] [--json runs/pose_reachability.json]

For each held-out goal of the task (default the hand, ``myoHandPoseRandom-v0``; reset seeds
1_000_003 + k, the runner's first evaluation seeds for a run of seed 0: ``HELD_OUT`` in
``cfpc_gym/experiment/runner.py``), searches the constant excitation vector e in [0, 1]^muscles
that, applied for a whole 2 s episode (100 steps) from that episode's start, minimises the mean
pose distance over its last 0.5 s (25 steps). Every evaluation resets the env with the same seed,
so the objective is deterministic.

Start: the best of (a) the least-squares allocation of the holding torque at the goal posture (the
model's joints set to the goal, at rest: the env's ``holding_command`` / ``allocate``), (b) no
excitation, (c) 0.05 on every muscle. Then Powell on a logistic parameterisation
e = 1 / (1 + exp(-z)) (the default), or bounded L-BFGS-B on e (finite-difference gradient), capped
at ``--evaluations`` episodes (hand: ~0.045 s each, 1400 take ~1 min per goal; finger: ~0.01 s).
On the hand's seed 1_000_003, 800 episodes: Powell 1.51 rad, L-BFGS-B 2.68 (its finite
differences see a nearly flat objective).

``--static`` measures instead whether each goal posture can be balanced at all: the joints set to
the goal, at rest, the bounded least-squares excitations (ridge 1e-6) of the torque that holds it
against gravity and passive forces (contacts left out), and what is left unbalanced, per joint, in
N m and against the strongest muscle's torque at that joint. Seconds for all goals.

A goal is *holdable* when the best mean distance over the last 0.5 s is below MyoSuite's
``pose_thd`` (hand 0.7 rad, finger 0.35). The optimiser finds a local optimum: its distance is an
upper bound on the lowest distance a constant excitation reaches, so the share holdable is a lower
bound. MyoSuite's success needs only more than 5 solved steps: an episode can succeed by passing
through a goal it cannot hold.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import gymnasium as gym
import mujoco
import numpy as np
from scipy.optimize import minimize

import cfpc_gym  # noqa: F401  (registers cfpc_gym/MyoPose-v0)
from cfpc_gym.envs.allocation import least_squares_allocation

HELD_OUT = 1_000_003  # cfpc_gym.experiment.runner.HELD_OUT, for a run of seed 0
STEPS = 100  # MyoSuite's horizon: 2 s of 0.02 s
TAIL = 25  # the last 0.5 s


class Objective:
    """Mean pose distance over the last 0.5 s of an episode holding one excitation vector."""

    def __init__(self, env: gym.Env, seed: int, cap: int):
        self.env, self.seed, self.cap = env, seed, cap
        self.calls, self.best, self.best_e, self.best_final = 0, np.inf, None, np.inf

    def episode(self, e: np.ndarray) -> tuple[float, float]:
        self.env.reset(seed=self.seed)
        distances = []
        for _ in range(STEPS):
            _, _, _, _, info = self.env.step(e)
            distances.append(info["pose_distance"])
        return float(np.mean(distances[-TAIL:])), float(distances[-1])

    def __call__(self, e: np.ndarray) -> float:
        e = np.clip(np.asarray(e, dtype=np.float64), 0.0, 1.0)
        if self.calls >= self.cap:  # past the cap: flat, so the optimiser stops soon
            return self.best
        self.calls += 1
        tail, final = self.episode(e)
        if tail < self.best:
            self.best, self.best_e, self.best_final = tail, e.copy(), final
        return tail


def holding_at_goal(env: gym.Env, seed: int) -> np.ndarray:
    """Least-squares excitations of the holding torque with the hand set, at rest, to the goal."""
    _, info = env.reset(seed=seed)
    physics = env.get_wrapper_attr("physics")
    model, data = physics.model, physics.data
    goal = info["goal"]
    adr = model.jnt_qposadr[: goal.size]
    data.qpos[adr] = goal
    data.qvel[:] = 0.0
    data.act[:] = 0.0
    mujoco.mj_forward(model, data)
    excitation = env.get_wrapper_attr("allocate")(env.get_wrapper_attr("holding_command")())
    env.reset(seed=seed)
    return np.asarray(excitation, dtype=np.float64)


def static_balance(env: gym.Env, seed: int) -> dict:
    """At the goal posture, at rest: the holding torque, and what the best excitations in [0, 1]
    leave of it unbalanced (the joint where most is left, in N m and per the strongest muscle's
    torque there)."""
    _, info = env.reset(seed=seed)
    physics = env.get_wrapper_attr("physics")
    model, data = physics.model, physics.data
    goal = info["goal"]
    data.qpos[model.jnt_qposadr[: goal.size]] = goal
    data.qvel[:] = 0.0
    data.act[:] = 0.0
    mujoco.mj_forward(model, data)
    holding = physics.holding_torques()[: goal.size]
    capacity = physics.torque_per_excitation()[: goal.size]
    excitation = least_squares_allocation(holding, capacity, 0.0, regularization=1e-6)
    left = np.abs(capacity @ excitation - holding)
    strongest = np.abs(capacity).max(axis=1)
    env.reset(seed=seed)
    return {
        "seed": seed,
        "holding_max": float(np.abs(holding).max()),
        "left_max": float(left.max()),
        "left_per_capacity": float((left / np.maximum(strongest, 1e-12)).max()),
        "contacts": int(data.ncon),
    }


def search(env: gym.Env, seed: int, cap: int, method: str) -> dict:
    f = Objective(env, seed, cap)
    n = env.action_space.shape[0]
    starts = {"holding at goal": holding_at_goal(env, seed), "zero": np.zeros(n), "0.05": np.full(n, 0.05)}
    values = {name: f(e) for name, e in starts.items()}
    start_name = min(values, key=values.get)
    x0 = starts[start_name]
    if method == "lbfgsb":
        minimize(
            f,
            x0,
            method="L-BFGS-B",
            bounds=[(0.0, 1.0)] * x0.size,
            options={"maxfun": cap, "eps": 1e-3, "maxiter": 10_000},
        )
    else:
        z0 = np.log(np.clip(x0, 0.01, 0.99) / (1 - np.clip(x0, 0.01, 0.99)))
        minimize(
            lambda z: f(1.0 / (1.0 + np.exp(-z))),
            z0,
            method="Powell",
            options={"maxfev": cap, "xtol": 1e-2, "ftol": 1e-4},
        )
    _, info = env.reset(seed=seed)
    return {
        "seed": seed,
        "start_distance": float(info["pose_distance"]),
        "start_values": values,
        "start": start_name,
        "best_tail": f.best,
        "best_final": f.best_final,
        "holdable": bool(f.best < env.unwrapped.pose_thd),
        "evaluations": f.calls,
        "excitation": f.best_e.tolist(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="myoHandPoseRandom-v0", help="a MyoSuite pose task id")
    parser.add_argument("--goals", type=int, default=10)
    parser.add_argument("--first", type=int, default=0, help="first k (seed 1_000_003 + k)")
    parser.add_argument("--evaluations", type=int, default=1400, help="episodes per goal, at most")
    parser.add_argument("--method", choices=["lbfgsb", "powell"], default="powell")
    parser.add_argument("--static", action="store_true", help="static balance at each goal instead")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    env = gym.make("cfpc_gym/MyoPose-v0", task=args.task)
    if args.static:
        print("| seed | largest holding torque (N m) | most left unbalanced (N m) | per strongest muscle |")
        print("|---|---|---|---|")
        rows = [static_balance(env, HELD_OUT + k) for k in range(args.first, args.first + args.goals)]
        for row in rows:
            values = (row["holding_max"], row["left_max"], row["left_per_capacity"])
            print(f"| {row['seed']} | " + " | ".join(f"{v:.2e}" for v in values) + " |")
        share = np.array([row["left_per_capacity"] for row in rows])
        print(
            f"\nleft unbalanced, per the strongest muscle's torque: median {np.median(share):.2e}, "
            f"max {share.max():.2e}; below 1e-3 on {int(np.sum(share < 1e-3))}/{len(rows)} goals"
        )
        env.close()
        return
    threshold = env.unwrapped.pose_thd
    rows = []
    print(
        f"| seed | start distance | best start | best distance, last 0.5 s (rad) | at 2 s | < {threshold} "
        "| episodes | s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for k in range(args.first, args.first + args.goals):
        t = time.time()
        row = search(env, HELD_OUT + k, args.evaluations, args.method)
        row["seconds"] = time.time() - t
        rows.append(row)
        start = f"{row['start']} ({row['start_values'][row['start']]:.2f})"
        print(
            f"| {row['seed']} | {row['start_distance']:.2f} | {start} "
            f"| {row['best_tail']:.3f} | {row['best_final']:.3f} | {'yes' if row['holdable'] else 'no'} "
            f"| {row['evaluations']} | {row['seconds']:.0f} |",
            flush=True,
        )
    best = np.array([r["best_tail"] for r in rows])
    print(
        f"\nholdable (best mean distance over the last 0.5 s < {threshold} rad): "
        f"{int(np.sum(best < threshold))}/{len(rows)} = {100 * np.mean(best < threshold):.0f} %; "
        f"median best distance {np.median(best):.3f} rad (min {best.min():.3f}, max {best.max():.3f})"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        settings = {k: str(v) for k, v in vars(args).items()}
        args.json.write_text(json.dumps({"args": settings, "goals": rows}, indent=1))
    env.close()


if __name__ == "__main__":
    main()
