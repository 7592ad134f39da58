"""Meta-test over the bundled configs: each validates and builds every controller it names."""

from importlib.resources import files

import pytest

from cfpc_gym.config import load_config
from cfpc_gym.runner import prepare_experiment

BUNDLED = sorted(
    p.name.removesuffix(".yaml") for p in files("cfpc_gym.configs").iterdir() if p.name.endswith(".yaml")
)


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
