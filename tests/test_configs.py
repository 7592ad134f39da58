"""Meta-test over the bundled configs: each validates and builds every controller it names."""

import pytest

from cfpc_gym.bench.config import load_bench
from cfpc_gym.config import bundled_config_path, bundled_run_configs, load_config
from cfpc_gym.experiment.runner import prepare_experiment

BUNDLED = [path.stem for path in bundled_run_configs()]
BENCHES = ("bench", "myosuite", "sweep_ilc", "sweep_learning_rate")


@pytest.mark.parametrize("name", BENCHES)
def test_bundled_bench_configs_validate_and_name_bundled_tasks(name):
    bench = load_bench(name)
    assert all(bundled_config_path(task).is_file() for task in bench.tasks)


def test_every_rule_has_a_sample_config():
    rules = {c.rule for name in BUNDLED for c in load_config(name).controllers}
    assert rules == {"none", "eligibility", "lms", "delayed", "fel"}


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_config_builds(name):
    config = load_config(name)
    if "Myo" in config.env.id:
        pytest.importorskip("myosuite")
    experiment = prepare_experiment(config)
    assert [agent.controller.rule.name for agent in experiment.agents] == [c.rule for c in config.controllers]
    for agent in experiment.agents:
        agent.env.close()


def test_the_config_knows_the_controllers_rules_without_importing_torch():
    import subprocess
    import sys

    from cfpc_gym import config, controllers

    assert config.RULE_NAMES == controllers.RULE_NAMES
    code = "import sys, cfpc_gym.config; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_the_config_offers_exactly_the_controllers_optimizers():
    from typing import get_args

    from cfpc_gym import controllers
    from cfpc_gym.config import ControllerConfig

    assert get_args(ControllerConfig.model_fields["optimizer"].annotation) == controllers.OPTIMIZERS


def test_a_model_path_in_a_config_file_is_the_files_own(tmp_path, monkeypatch):
    from cfpc_gym.config.files import read_config

    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "run.yaml").write_text(
        "name: mine\nenv:\n  id: cfpc_gym/MuJoCoTrack-v0\n  kwargs: {model: limb.xml}\n"
    )
    elsewhere = tmp_path / "shell"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    data = read_config(folder / "run.yaml", [], "cued_elbow")
    assert data["env"]["kwargs"]["model"] == str(folder / "limb.xml")
    data = read_config(folder / "run.yaml", ["env.kwargs.model=models/arm.xml"], "cued_elbow")
    assert data["env"]["kwargs"]["model"] == str(elsewhere / "models/arm.xml")  # --set: the shell's
    for kept in ("/abs/limb.xml", "gymnasium.envs.mujoco:assets/reacher.xml"):
        data = read_config(folder / "run.yaml", [f"env.kwargs.model={kept}"], "cued_elbow")
        assert data["env"]["kwargs"]["model"] == kept
