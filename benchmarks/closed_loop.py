"""What CFPC costs next to the simulation it controls, measured side by side in one run (CPU).

    python benchmarks/closed_loop.py [--steps 600] [--repeats 3] [--batches 64 4096] [--threads N]

1. Single env: closed-loop env steps per second of cfpc_gym/LinearPlant-v0 (config paper_linear)
   and cfpc_gym/ElbowTrack-v0 (config cued_elbow) with the CFPC agent acting and learning every
   step, with the controller's torch backend and its numpy backend, against the same env stepped
   with a constant action (target: >= 0.8x), and with the env's allocation of a constant command
   (the ceiling for any controller driving the env's joints). Interleaved in each repeat.
2. Batches of B envs of ElbowTrack: the CFPC controller's time per env-step (step + update), each
   backend, against MuJoCo's physics time per env-step (one control step = dt / timestep
   mj_steps), the physics as a Python loop of mj_step and as mujoco.rollout (batched) on 1 thread
   and on every core (target: the controller <= 5% of the physics). The controller runs on one
   thread, so rollout on one thread is the like-for-like comparison.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

if "--threads" in sys.argv:  # numpy's BLAS reads its thread count once, at import
    os.environ["OPENBLAS_NUM_THREADS"] = sys.argv[sys.argv.index("--threads") + 1]

import mujoco
import numpy as np
import torch
from mujoco import rollout

from cfpc_gym.agent import env_attribute
from cfpc_gym.build import make_agent, make_controller, make_env
from cfpc_gym.config import load_config
from cfpc_gym.controllers.cfpc import NUMPY_MAX_BATCH


def cfpc_config(name: str):
    config = load_config(name)
    index = next(i for i, c in enumerate(config.controllers) if c.rule == "eligibility")
    return config, index


BACKENDS = ("torch", "numpy")


def steps_per_second(config, index: int, steps: int, driver: str) -> float:
    """Env steps per second of one env, driven by: the CFPC agent with backend ``driver``
    ("torch", "numpy"); a ``"constant"`` action; or (``"allocation"``) the env's allocation of a
    constant joint command, every step: what any joint-space controller pays before its own cost."""
    env = make_env(config)
    agent = make_agent(config, index, env) if driver in BACKENDS else None
    if agent is not None:
        agent.controller.backend = driver
    allocate, dtype = env_attribute(env, "allocate"), env.action_space.dtype
    constant = env.action_space.low + 0.1 * (env.action_space.high - env.action_space.low)
    command = np.full(env_attribute(env, "tracking_spec").dofs, 0.1)
    observation, info = env.reset(seed=config.seed)
    start = time.perf_counter()
    for _ in range(steps):
        if agent is not None:
            action = agent.act(observation, info)
        elif driver == "allocation":
            action = np.asarray(allocate(command), dtype=dtype)
        else:
            action = constant
        observation, _, terminated, truncated, info = env.step(action)
        if agent is not None:
            agent.observe(terminated, truncated)
        if terminated or truncated:
            observation, info = env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed


def step_breakdown(config, index: int, steps: int) -> dict[str, float]:
    """Median microseconds per single-env step of: env.step, agent.act (the CFPC step and the
    env's allocation of its command), the allocation alone (timed again on the same command), and
    agent.observe (the weight update); the controller's automatic backend."""
    env = make_env(config)
    agent = make_agent(config, index, env)
    allocate = env_attribute(env, "allocate")
    times: dict[str, list[float]] = {"env.step": [], "agent.act": [], "allocation": [], "agent.observe": []}
    observation, info = env.reset(seed=config.seed)
    for _ in range(steps):
        start = time.perf_counter()
        action = agent.act(observation, info)
        acted = time.perf_counter()
        observation, _, terminated, truncated, info = env.step(action)
        stepped = time.perf_counter()
        agent.observe(terminated, truncated)
        observed = time.perf_counter()
        allocate(agent.controller.command.numpy()[0])
        times["allocation"].append(time.perf_counter() - observed)
        times["agent.act"].append(acted - start)
        times["env.step"].append(stepped - acted)
        times["agent.observe"].append(observed - stepped)
        if terminated or truncated:
            observation, info = env.reset()
    env.close()
    return {name: float(np.median(values)) * 1e6 for name, values in times.items()}


def controller_seconds_per_step(config, index: int, batch: int, steps: int, backend: str) -> float:
    env = make_env(config)
    controller = make_controller(config, config.controllers[index], env, batch_size=batch)
    controller.backend = backend
    dofs, cues = controller.dofs, env.unwrapped.tracking_spec.cues
    generator = np.random.default_rng(0)
    signals = generator.random((steps, 2, batch, dofs))
    pulses = (generator.random((steps, batch, cues)) > 0.9).astype(np.float64)
    start = time.perf_counter()
    for k in range(steps):  # what the agent calls: host arrays in and out
        controller.step_array(signals[k, 0], signals[k, 1], pulses[k])
        controller.update()
    return (time.perf_counter() - start) / steps


def physics_seconds_per_env_step(batch: int, steps: int, rollout_threads: int = 0) -> float:
    """ElbowTrack's MuJoCo model, random excitations held over each control step's substeps:
    mujoco.rollout on ``rollout_threads`` threads, or (0) a Python loop of mj_step."""
    env = make_env(load_config("cued_elbow"))
    env.reset(seed=0)
    unwrapped = env.unwrapped
    model = unwrapped.physics.model
    substeps = round(unwrapped.dt / model.opt.timestep)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    generator = np.random.default_rng(0)
    excitations = generator.random((batch, steps, model.nu))
    if rollout_threads:
        spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
        state = np.empty(mujoco.mj_stateSize(model, spec))
        mujoco.mj_getState(model, data, state, spec)
        initial = np.tile(state, (batch, 1))
        control = np.repeat(excitations, substeps, axis=1)  # held over the substeps
        threads = [mujoco.MjData(model) for _ in range(rollout_threads)]
        start = time.perf_counter()
        rollout.rollout(model, threads, initial, control, persistent_pool=True)
        elapsed = time.perf_counter() - start
    else:
        rows = [mujoco.MjData(model) for _ in range(batch)]
        start = time.perf_counter()
        for k in range(steps):
            for b, row in enumerate(rows):
                row.ctrl[:] = excitations[b, k]
                for _ in range(substeps):
                    mujoco.mj_step(model, row)
        elapsed = time.perf_counter() - start
    env.close()
    return elapsed / (batch * steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600, help="env steps per single-env measurement")
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 4096])
    parser.add_argument("--batch-steps", type=int, default=20, help="control steps per batch measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, mujoco {mujoco.__version__}, {os.cpu_count()} CPUs, "
        f"torch threads {torch.get_num_threads()}; best of {args.repeats}"
    )

    print(
        "\n1. single env, env steps per second: constant action; allocation of a constant command"
        "\n   (a free controller); CFPC learning with each backend. ratio = rate / constant action's"
    )
    drivers = ("constant", "allocation", *BACKENDS)
    print(
        f"{'env':<28} " + " ".join(f"{name:>10}" for name in drivers) + "   ratio: " + " ".join(drivers[1:])
    )
    for name in ("paper_linear", "cued_elbow"):
        config, index = cfpc_config(name)
        best = dict.fromkeys(drivers, 0.0)
        for _ in range(args.repeats):  # interleaved, so that load on the machine hits all alike
            for driver in drivers:
                best[driver] = max(best[driver], steps_per_second(config, index, args.steps, driver))
        rates = " ".join(f"{best[driver]:10.0f}" for driver in drivers)
        ratios = " ".join(f"{best[driver] / best['constant']:.2f}" for driver in drivers[1:])
        print(f"{config.env.id:<28} {rates}   ratio: {ratios}")

    # Medians resist load that comes and goes better than a best-of rate does.
    print("\n   where a single-env step goes, median microseconds (backend auto: numpy for one env);")
    print("   ratio = env.step / (env.step + agent.act + agent.observe)")
    print(f"{'env':<28} {'env.step':>9} {'agent.act':>10} {'(allocation)':>18} {'agent.observe':>14} ratio")
    for name in ("paper_linear", "cued_elbow"):
        config, index = cfpc_config(name)
        step, act, allocation, observe = step_breakdown(config, index, args.steps).values()
        ratio = step / (step + act + observe)
        print(f"{config.env.id:<28} {step:9.1f} {act:10.1f} {allocation:18.1f} {observe:14.1f} {ratio:5.2f}")

    cores = os.cpu_count() or 1
    print(
        f"\n2. ElbowTrack batches, microseconds per env-step. The controller runs on 1 thread, so the"
        f"\n   like-for-like share is against mujoco.rollout on 1 thread; against rollout on all {cores}"
        f"\n   cores, the physics gets {cores}x the hardware. share = backend auto's pick / rollout"
    )
    columns = ("B", "torch", "numpy", "mj_step loop", "rollout 1", f"rollout {cores}")
    columns += ("share 1", f"share {cores}")
    widths = (6, 8, 8, 13, 10, 10, 8, 8)
    print(" ".join(f"{name:>{width}}" for name, width in zip(columns, widths, strict=True)))
    config, index = cfpc_config("cued_elbow")
    for batch in args.batches:
        steps = max(2, args.batch_steps * 64 // batch) if batch > 64 else args.batch_steps
        controller = dict.fromkeys(BACKENDS, float("inf"))
        for _ in range(args.repeats):
            for backend in BACKENDS:
                seconds = controller_seconds_per_step(config, index, batch, 5 * steps, backend)
                controller[backend] = min(controller[backend], seconds / batch)
        physics = {
            threads: min(physics_seconds_per_env_step(batch, steps, threads) for _ in range(args.repeats))
            for threads in (0, 1, cores)
        }
        auto = controller["numpy" if batch <= NUMPY_MAX_BATCH else "torch"]
        print(
            f"{batch:>6} {controller['torch'] * 1e6:8.2f} {controller['numpy'] * 1e6:8.2f} "
            f"{physics[0] * 1e6:13.2f} {physics[1] * 1e6:10.2f} {physics[cores] * 1e6:10.2f} "
            f"{auto / physics[1]:8.1%} {auto / physics[cores]:8.1%}"
        )


if __name__ == "__main__":
    main()
