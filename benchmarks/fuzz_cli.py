"""The command line fuzzed at scale, four families of seeded cases (tests/fuzzing.py, which the CI
test tests/test_fuzz.py runs the first cases of): a key of a bundled config mutated; a bundled
config file's YAML text mutated; odd --out, CONFIG and render paths; a finished run damaged, then
resumed or rendered. Counts clean runs, one-line refusals, tracebacks, hangs and data changed
outside --out, a table per family.

    python benchmarks/fuzz_cli.py --cases 1000 --yaml 500 --paths 200 --rundirs 200 --seed 1
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the generator is the CI test's

import fuzzing  # noqa: E402  (before MuJoCo is imported: renders run in this process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000, help="cases of the key family")
    parser.add_argument("--yaml", type=int, default=0, help="cases of the yaml family")
    parser.add_argument("--paths", type=int, default=0, help="cases of the path family")
    parser.add_argument("--rundirs", type=int, default=0, help="cases of the rundir family")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    counts = {"key": args.cases, "yaml": args.yaml, "path": args.paths, "rundir": args.rundirs}
    rows, details = [], []
    with tempfile.TemporaryDirectory() as folder:
        source_run = fuzzing.finished_run(Path(folder)) if args.rundirs else None
        for family, count in counts.items():
            if not count:
                continue
            start, outcomes = time.perf_counter(), Counter()
            for case in fuzzing.FAMILIES[family](count, args.seed):
                if not fuzzing.applicable(case):
                    outcomes["not applicable (root)"] += 1
                    continue
                outcome, detail = fuzzing.run_case(case, source_run=source_run)
                outcomes[outcome] += 1
                if outcome not in ("ran", "one-line refusal"):
                    details.append(f"{case.id}: {outcome}: {detail}")
            rows.append((family, count, time.perf_counter() - start, outcomes))
    print(f"seed {args.seed}")
    print(
        "| family | cases | ran | one-line refusal | traceback | hang | changed outside --out | other | s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for family, count, seconds, outcomes in rows:
        known = [outcomes.pop(o, 0) for o in fuzzing.OUTCOMES]
        other = ", ".join(f"{o}: {n}" for o, n in outcomes.items()) or "0"
        print(f"| {family} | {count} | {' | '.join(map(str, known))} | {other} | {seconds:.0f} |")
    print("\n".join(details))


if __name__ == "__main__":
    main()
