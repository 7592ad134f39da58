"""The command line fuzzed at scale: bundled configs with one key mutated (wrong types, NaN, inf,
huge, empty, negative), run for one trial each. Counts clean runs, clean one-line refusals,
tracebacks, hangs and files written outside --out; the CI test (tests/test_fuzz.py) runs the first
cases of the same seeded sequence.

    python benchmarks/fuzz_cli.py --cases 1000 --seed 0
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the case generator is the CI test's

from cfpc_gym.cli import main as cli  # noqa: E402
from tests.test_fuzz import cases, deadline  # noqa: E402


def run_case(config: str, key: str, value: str) -> tuple[str, str]:
    """One case in a fresh working directory: (outcome, detail)."""
    with tempfile.TemporaryDirectory() as folder:
        here = os.getcwd()
        os.chdir(folder)
        err = io.StringIO()
        try:
            argv = ["run", config, "--set", f"{key}={value}", "--set", "trials=1", "--out", "out"]
            with deadline(120), contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = cli(argv)
        except TimeoutError:
            return "hang", ""
        except Exception:  # a traceback: the detail is its last line
            return "traceback", traceback.format_exc().strip().splitlines()[-1]
        finally:
            os.chdir(here)
            stray = {p.name for p in Path(folder).iterdir()} - {"out", "MUJOCO_LOG.TXT"}
        if stray:
            return "wrote outside --out", ", ".join(sorted(stray))
        text = err.getvalue()
        if code == 2 and text.startswith("error: ") and text.count("\n") == 1:
            return "one-line refusal", ""
        if code == 0 and (Path(folder) / "out" / "metrics.json").is_file():
            return "ran", ""
        return f"exit {code}", text.strip()[-200:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start, outcomes, details = time.perf_counter(), Counter(), []
    for config, key, value in cases(args.cases, args.seed):
        outcome, detail = run_case(config, key, value)
        outcomes[outcome] += 1
        if outcome not in ("ran", "one-line refusal"):
            details.append(f"{config} {key}={value}: {outcome} {detail}")
    print(f"{args.cases} cases (seed {args.seed}) in {time.perf_counter() - start:.0f} s:")
    for outcome in ("ran", "one-line refusal", "traceback", "hang", "wrote outside --out"):
        print(f"  {outcome}: {outcomes.pop(outcome, 0)}")
    for outcome, count in outcomes.items():
        print(f"  {outcome}: {count}")
    print("\n".join(details))


if __name__ == "__main__":
    main()
