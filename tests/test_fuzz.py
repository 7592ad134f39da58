"""Seeded fuzzing of the command line (the generator and runner: tests/fuzzing.py). Every key of
every bundled run config mutated; each bundled config file's YAML text mutated; odd --out, CONFIG
and render paths; damaged run directories resumed and rendered. Each case ends in exit 0 (a sane
run) or exit 2 with one line; never a traceback or a hang, nothing changed outside ``--out``, and
``--out`` only with ``--force``, never through a symbolic link."""

from __future__ import annotations

import pytest
from fuzzing import Case, applicable, finished_run, key_cases, path_cases, run_case, rundir_cases, yaml_cases

# Per CI run; the seed makes them the same every time (benchmarks/fuzz_cli.py runs more). Cases
# that render frames (seconds each) run in the slow form only.
KEY_CASES = 120
YAML_CASES = 60
PATH_CASES = 60  # every kind once, then at random
RUNDIR_CASES = 40  # every damage resumed once, then resumed or rendered at random
SLOW = 4  # times as many, renders included: pytest -m slow


def ci(cases: list[Case]) -> list[Case]:
    return [c for c in cases if not c.renders]


def slow(cases: list[Case], ci_count: int) -> list:
    return [pytest.param(c, id=c.id, marks=pytest.mark.slow) for c in cases[ci_count:]]


def check(case: Case, folder, source_run=None) -> None:
    if not applicable(case):
        pytest.skip("root reads and writes through permission bits")
    outcome, detail = run_case(case, folder, source_run)
    assert outcome in ("ran", "one-line refusal"), f"{outcome}: {detail}"


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    return finished_run(tmp_path_factory.mktemp("fuzz"))


@pytest.mark.parametrize("case", key_cases(KEY_CASES), ids=lambda c: c.id)
def test_a_mutated_key_ends_in_a_run_or_one_line(tmp_path, case):
    check(case, tmp_path)


@pytest.mark.parametrize("case", yaml_cases(YAML_CASES), ids=lambda c: c.id)
def test_a_mutated_config_file_ends_in_a_run_or_one_line(tmp_path, case):
    check(case, tmp_path)


@pytest.mark.parametrize("case", ci(path_cases(PATH_CASES)), ids=lambda c: c.id)
def test_odd_paths_end_in_a_run_or_one_line_and_change_nothing_else(tmp_path, case):
    check(case, tmp_path)


@pytest.mark.parametrize("case", ci(rundir_cases(RUNDIR_CASES)), ids=lambda c: c.id)
def test_a_damaged_run_directory_resumes_or_is_refused_in_one_line(tmp_path, source_run, case):
    check(case, tmp_path, source_run)


@pytest.mark.parametrize(
    "case",
    [c for c in path_cases(PATH_CASES) if c.renders]
    + slow(path_cases(SLOW * PATH_CASES), PATH_CASES)
    + slow(yaml_cases(SLOW * YAML_CASES), YAML_CASES)
    + slow(key_cases(SLOW * KEY_CASES), KEY_CASES),
    ids=lambda c: c.id,
)
@pytest.mark.slow
def test_more_cases_end_in_a_run_or_one_line(tmp_path, case):
    check(case, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    [c for c in rundir_cases(RUNDIR_CASES) if c.renders]
    + slow(rundir_cases(SLOW * RUNDIR_CASES), RUNDIR_CASES),
    ids=lambda c: c.id,
)
def test_more_damaged_run_directories(tmp_path, source_run, case):
    check(case, tmp_path, source_run)
