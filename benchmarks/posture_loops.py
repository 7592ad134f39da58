"""How much the closed loop of a random-start body changes with the posture it starts from.

    python benchmarks/posture_loops.py [CONFIG] [--resets 12] [--set KEY=VALUE ...]

For each of ``--resets`` env resets (seeds 0, 1, ...; MyoSuite's pose tasks draw the start posture),
linearises the body at that start (``plant_at_rest``), closes it with the config's PID and delays
(the forward model a ``kind: linearized`` controller would use there) and prints the loop's unit step
response, from the first tracked joint's counterfactual error to its sensed angle, at 0.2, 0.5, 1
and 1.5 s, and the spread (max / min) across resets. Default: ``myo_pose_elbow`` at 60 ms with the
gains docs/MYOSUITE.md uses there. Needs pip install 'cfpc-gym[myosuite]' for the MyoSuite configs.
"""

from __future__ import annotations

import argparse

import numpy as np

from cfpc_gym.body_models import close_loop, plant_at_rest, spec_of
from cfpc_gym.build import make_env
from cfpc_gym.build.parts import make_pid
from cfpc_gym.config import load_config

SIXTY_MS = ["env.kwargs.sensory_delay=0.06", "feedback.kp=2", "feedback.ki=30", "feedback.kd=0.5"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="myo_pose_elbow")
    parser.add_argument("--resets", type=int, default=12)
    parser.add_argument("--set", action="append", dest="overrides", metavar="KEY=VALUE")
    args = parser.parse_args()
    overrides = (
        args.overrides
        if args.overrides is not None
        else (SIXTY_MS if args.config == "myo_pose_elbow" else [])
    )
    config = load_config(args.config, overrides)
    env = make_env(config)
    spec = spec_of(env)
    pid = make_pid(config, spec, 1)
    times = (0.2, 0.5, 1.0, 1.5)
    steps = [int(round(t / spec.dt)) for t in times]
    rows = []
    for seed in range(args.resets):
        model = close_loop(plant_at_rest(env, seed), env, pid)
        response = np.cumsum(model.impulse_response(max(steps) + 1)[:, 0, 0])
        rows.append([response[k] for k in steps])
        print(
            f"seed {seed:2d}: step response "
            + ", ".join(f"{v:.3f} at {t:g} s" for v, t in zip(rows[-1], times, strict=True))
        )
    env.close()
    rows = np.array(rows)
    print(
        "spread (max / min): "
        + ", ".join(f"{rows[:, i].max() / rows[:, i].min():.2f} at {t:g} s" for i, t in enumerate(times))
    )


if __name__ == "__main__":
    main()
