"""What muscle allocation and the CFPC controller cost on MyoSuite's hand, relative to MyoSuite's own step.

    /tmp/myovenv/bin/python benchmarks/allocation_cost.py [--steps 100] [--repeats 5] [--noise 0.01]
                                                          [--diagonal]

``cfpc_gym/MyoPose-v0`` with ``myoHandPoseRandom-v0`` (23 joints, 39 muscles), driven for one
episode by a CFPC agent (the ``myo_pose_elbow`` config with the hand's task). At every step, side by
side and interleaved (fastest of ``--repeats`` per step, then the median over the steps):

- MyoSuite's step alone: the unwrapped env of a second hand, stepped with a fixed action;
- ``allocate`` (moment arms at the posture + the box least squares) of the agent's own command
  and of ``holding_command() + noise``, with the active-set solver (warm-started as in control:
  the start it would have had is restored before each repeat; and cold) and with scipy's bvls
  (the previous implementation);
- the controller: ``agent.act`` less the allocation inside it, plus ``agent.observe`` (the update).

``--diagonal`` keeps the forward model's diagonal (``forward_model.diagonal: true``: 23 SISO
filters per basis signal instead of a 23 x 23 MIMO model). Prints the times and the ratios to
MyoSuite's step, the new and old allocations' largest difference, and the solver's iterations.
One thread for BLAS and torch.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import platform
import time

import numpy as np
import torch

from cfpc_gym.agent import env_attribute
from cfpc_gym.build import make_agent, make_env
from cfpc_gym.config import load_config
from cfpc_gym.envs import allocation, myosuite_pose
from cfpc_gym.envs.allocation import bvls_box_least_squares

TASK = "myoHandPoseRandom-v0"


def old_least_squares_allocation(command, a, cocontraction=0.0, regularization=1e-3):
    """The allocation before the active-set solver: scipy's bvls on the stacked matrix."""
    joints, muscles = a.shape
    floor = np.full(muscles, cocontraction)
    lam = regularization * np.linalg.norm(a) / np.sqrt(muscles)
    target = np.asarray(command, dtype=np.float64).reshape(joints) - a @ floor
    extra = bvls_box_least_squares(
        a, target, lam, np.zeros(muscles), np.full(muscles, 1.0 - cocontraction), floor * 0
    )
    return np.clip(floor + extra, 0.0, 1.0)


def timed(function, *args) -> tuple[float, object]:
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="control steps (one episode: 100)")
    parser.add_argument("--repeats", type=int, default=5, help="fastest of this many, per step")
    parser.add_argument("--noise", type=float, default=0.01, help="N*m, std of the command added to holding")
    parser.add_argument("--diagonal", action="store_true", help="forward_model.diagonal: true")
    args = parser.parse_args()
    torch.set_num_threads(1)

    config = load_config("myo_pose_elbow")
    config.env.kwargs["task"] = TASK
    index = next(i for i, c in enumerate(config.controllers) if c.rule == "eligibility")
    # The elbow's gains make the hand's linearised closed loop unstable: a fitted model instead.
    config.controllers[index].forward_model = type(config.controllers[index].forward_model)(
        kind="identified", method="fir", taps=8, probe_trials=4, probe_amplitude=0.02, diagonal=args.diagonal
    )
    env = make_env(config)
    agent = make_agent(config, index, env)
    allocate = env_attribute(env, "allocate")
    holding = env_attribute(env, "holding_command")
    myosuite = make_env(config).unwrapped  # a second hand: MyoSuite's own step, nothing around it
    assert type(myosuite).__module__.startswith("myosuite"), type(myosuite)
    myosuite.reset(seed=1)
    fixed = np.full(myosuite.action_space.shape, 0.1, dtype=myosuite.action_space.dtype)

    inner: list[float] = []  # the allocation inside agent.act, timed by a wrapper

    def timed_allocate(command):
        seconds, action = timed(allocate, command)
        inner.append(seconds)
        return action

    agent._allocate[0] = timed_allocate
    iterations: list[int] = []
    solve = allocation.solve_box_least_squares

    def counting_solve(*a, **k):
        solution = solve(*a, **k)
        iterations.append(solution.iterations)
        return solution

    def with_old(command):  # the env's allocate, with the previous least squares
        myosuite_pose.least_squares_allocation = old_least_squares_allocation
        try:
            return allocate(command)
        finally:
            myosuite_pose.least_squares_allocation = allocation.least_squares_allocation

    feedback_only = make_agent(config, 0, make_env(config))  # rule: none, the same PID
    feedback_only._allocate[0] = lambda command: np.zeros(39)  # its own cost only

    rng = np.random.default_rng(0)
    rows = [
        "MyoSuite step",
        "allocation in agent.act, new, warm",
        "allocation, bvls (old)",
        "allocation, new, cold",
    ]
    rows += ["allocation, of holding + noise, bvls (old)", "allocation, of holding + noise, new, warm"]
    rows += ["controller (act - allocation + observe)", "feedback-only controller (act)"]
    times: dict[str, list[float]] = {row: [] for row in rows}
    difference = 0.0
    observation, info = env.reset(seed=0)
    feedback_only.act(observation, info)
    for _ in range(args.steps):
        before_act = dict(allocation._LAST_ACTIVE_SET)
        inner.clear()
        allocation.solve_box_least_squares = counting_solve
        act_seconds, action = timed(agent.act, observation, info)
        allocation.solve_box_least_squares = solve
        command = np.array(agent.controller.command.numpy()[0], dtype=np.float64)
        times["allocation in agent.act, new, warm"].append(sum(inner))
        times["feedback-only controller (act)"].append(timed(feedback_only.act, observation, info)[0])
        after_act = dict(allocation._LAST_ACTIVE_SET)
        noisy = holding() + rng.normal(scale=args.noise, size=23)
        best = dict.fromkeys(rows[2:6] + ["MyoSuite step"], np.inf)
        for _ in range(args.repeats):
            seconds, (_, _, terminated, truncated, _) = timed(myosuite.step, fixed)
            best["MyoSuite step"] = min(best["MyoSuite step"], seconds)
            if terminated or truncated:
                myosuite.reset()
            for label, probe in (("", command), ("of holding + noise, ", noisy)):
                old_seconds, old = timed(with_old, probe)
                allocation._LAST_ACTIVE_SET.clear()
                allocation._LAST_ACTIVE_SET.update(before_act)  # the start the agent's call had
                new_seconds, new = timed(allocate, probe)
                difference = max(difference, float(np.abs(new - old).max()))
                key = f"allocation, {label}bvls (old)"
                best[key] = min(best[key], old_seconds)
                if label:
                    key = f"allocation, {label}new, warm"
                    best[key] = min(best[key], new_seconds)
                else:
                    allocation._LAST_ACTIVE_SET.clear()
                    cold_seconds, _ = timed(allocate, probe)
                    best["allocation, new, cold"] = min(best["allocation, new, cold"], cold_seconds)
        allocation._LAST_ACTIVE_SET.clear()
        allocation._LAST_ACTIVE_SET.update(after_act)
        for row, seconds in best.items():
            times[row].append(seconds)
        observation, _, terminated, truncated, info = env.step(action)
        observe_seconds, _ = timed(agent.observe, terminated, truncated)
        feedback_only.observe(terminated, truncated)
        times["controller (act - allocation + observe)"].append(act_seconds - sum(inner) + observe_seconds)
        if terminated or truncated:
            observation, info = env.reset()
            feedback_only.act(observation, info)
    report(times, difference, iterations, args)


def report(times: dict[str, list[float]], difference: float, iterations: list[int], args) -> None:
    median = {row: float(np.median(values)) * 1e6 for row, values in times.items()}
    step = median["MyoSuite step"]
    controller = median["controller (act - allocation + observe)"]
    model = "diagonal (23 SISO)" if args.diagonal else "full 23 x 23"
    print(f"{TASK}: {args.steps} steps, fastest of {args.repeats} per step, median over steps; {model} model")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {load}")
    feedback = median["feedback-only controller (act)"]
    print("| cost | us | / MyoSuite step | + CFPC controller, / step | + feedback-only, / step |")
    print("|---|---|---|---|---|")
    for row, us in median.items():
        totals = [
            f"{(us + c) / step:.2f}" if row.startswith("allocation") else "" for c in (controller, feedback)
        ]
        print(f"| {row} | {us:.0f} | {us / step:.2f} | {totals[0]} | {totals[1]} |")
    print(f"largest |new - old| excitation: {difference:.1e}")
    counts = np.bincount(iterations)
    print(
        f"solver iterations in the agent's allocations (warm): mean {np.mean(iterations):.1f}, "
        f"histogram {dict(enumerate(counts.tolist()))}"
    )


if __name__ == "__main__":
    main()
