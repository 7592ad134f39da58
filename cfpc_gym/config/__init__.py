"""Run configs: typed sections (``schema``), YAML files and overrides (``files``), validation
into one-line errors (``loading``).

Example:
    >>> from cfpc_gym.config import load_config
    >>> config = load_config("paper_linear", ["trials=5"])
    >>> config.controllers[1].rule
    'eligibility'
"""

from ..errors import ConfigError, MissingExtra
from .basis import AlphaConfig, DelayLineConfig, RaisedCosineConfig, TimeTableConfig
from .env import EnvConfig
from .files import (
    DEFAULT_CONFIG,
    apply_override,
    bundled_config_path,
    bundled_names,
    bundled_run_configs,
    read_config,
    read_yaml,
)
from .loading import dump_config, load_config, validate_config, validated
from .schema import (
    RULE_NAMES,
    ControllerConfig,
    FeedbackConfig,
    ForwardModelConfig,
    GainAdaptationConfig,
    RunConfig,
)
from .section import Section

__all__ = [
    "DEFAULT_CONFIG",
    "RULE_NAMES",
    "AlphaConfig",
    "ConfigError",
    "ControllerConfig",
    "DelayLineConfig",
    "EnvConfig",
    "FeedbackConfig",
    "ForwardModelConfig",
    "GainAdaptationConfig",
    "MissingExtra",
    "RaisedCosineConfig",
    "RunConfig",
    "Section",
    "TimeTableConfig",
    "apply_override",
    "bundled_config_path",
    "bundled_names",
    "bundled_run_configs",
    "dump_config",
    "load_config",
    "read_config",
    "read_yaml",
    "validate_config",
    "validated",
]
