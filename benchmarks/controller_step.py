"""Time one CFPC control step (step + update) against batch size, on CPU and, if present, CUDA.

    python benchmarks/controller_step.py [--batches 1 64 4096] [--steps 300]

Prints microseconds per controller step and per env-step, measured side by side in one run.
The controller is the paper_linear one: PID, 40 raised cosines, analytic forward model (order ~9).
"""

from __future__ import annotations

import argparse
import time

import torch

from cfpc_gym.build import make_controller, make_env
from cfpc_gym.config import load_config


def time_steps(batch: int, device: str, steps: int) -> float:
    config = load_config("paper_linear", [f"device={device}"])
    settings = next(c for c in config.controllers if c.rule == "eligibility")
    controller = make_controller(config, settings, make_env(config), batch_size=batch)
    generator = torch.Generator(device=device).manual_seed(0)
    inputs = torch.rand(3, steps + 20, batch, 1, device=device, generator=generator)
    with torch.no_grad():
        for k in range(steps + 20):
            if k == 20:  # warm-up done
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                start = time.perf_counter()
            controller.step(inputs[0, k], inputs[1, k], inputs[2, k] > 0.9)
            controller.update()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64, 256, 1024, 4096])
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, devices {devices}")
    print(f"{'B':>6} " + " ".join(f"{d + ' us/step':>16} {d + ' us/env-step':>18}" for d in devices))
    for batch in args.batches:
        cells = []
        for device in devices:
            seconds = time_steps(batch, device, args.steps)
            cells.append(f"{seconds * 1e6:16.1f} {seconds * 1e6 / batch:18.3f}")
        print(f"{batch:>6} " + " ".join(cells))


if __name__ == "__main__":
    main()
