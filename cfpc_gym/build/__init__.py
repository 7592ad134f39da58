"""From a validated config to live objects: envs, PID, basis (``parts``), forward model and gain
adaptation (``models``), the CFPC controller and its agent (``controller``). A factory: the models
measured on the body come from ``body_models``; errors from below come back as one line naming
the config key.

Example:
    >>> from cfpc_gym.build import make_agent, make_env
    >>> from cfpc_gym.config import load_config
    >>> config = load_config("paper_linear")
    >>> agent = make_agent(config, 1, make_env(config))  # controller 1: cfpc
    >>> agent.controller.rule.name
    'eligibility'
"""

from ..body_models import spec_of
from .controller import make_agent, make_controller, make_run_agent
from .models import forward_model, gain_adaptation, movement_model
from .parts import make_basis, make_env, make_pid, make_vector_env, torch_options

__all__ = [
    "forward_model",
    "gain_adaptation",
    "make_agent",
    "make_basis",
    "make_controller",
    "make_env",
    "make_pid",
    "make_run_agent",
    "make_vector_env",
    "movement_model",
    "spec_of",
    "torch_options",
]
