"""cfpc-gym: counterfactual predictive control (cerebellar anticipatory control) for Gymnasium.

Importing the package registers its environments (``cfpc_gym/LinearPlant-v0``, ...) silently.
"""

from importlib.metadata import PackageNotFoundError, version

from .envs import register_envs

try:
    __version__ = version("cfpc-gym")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"

register_envs()

__all__ = ["__version__"]
