"""The one exception family of cfpc-gym.

Library code raises these with a message of one line that names what is wrong (a config key, an
argument, a file); the command line prints that line and exits with code 2. Errors that are not
the user's (a bug) stay ordinary Python exceptions, with their traceback.

Example:
    >>> from cfpc_gym.errors import ConfigError
    >>> try:
    ...     raise ConfigError("trials: must be >= 1 (got 0)")
    ... except CfpcError as exc:
    ...     print(exc)
    trials: must be >= 1 (got 0)
"""

from __future__ import annotations


class CfpcError(Exception):
    """Bad input from the user, stated in one line: the base of every cfpc-gym error."""


class ConfigError(CfpcError, ValueError):
    """A config that cannot run: the message starts with the config key (``basis.size: ...``)."""


class MissingExtra(ConfigError):
    """The config needs an optional extra that is not installed; the message says what to install."""


class UsageError(CfpcError):
    """A bad argument or path on the command line: the message names the flag (``--out: ...``)."""


class CheckpointError(CfpcError, ValueError):
    """A checkpoint or results file that cannot be used: the message names the file and the fix."""


class BodyError(CfpcError, ValueError):
    """An env that breaks the body contract (``cfpc_gym.body``): the message names the hook and the fix."""
