"""The body contract: what an env exposes to be driven by CFPC, and the check made before an agent drives it.

Required: ``tracking_spec`` (a ``TrackingSpec``: D tracked outputs, M cues, dt, the sensory delay,
where reference, measurement and cue sit in the observation) and ``info["tracking"]`` from every
``reset`` and ``step``. Optional hooks, each read through the env's wrappers (``env_attribute``):

========================  ===============================  ========================================
hook                      used for                         when the env has none
========================  ===============================  ========================================
``allocate(command)``     joint commands (D,) -> action    the command is the action: the action
                          (muscle excitations, motors)     space must then have shape (D,)
``holding_command()``     the PID's operating point: the   the PID starts from a zero command
                          command that holds the posture
``linearize(action)``     MuJoCo's (A, B, C, D) of one     ``forward_model.kind: linearized`` is
                          step: the linearized model       refused; use ``identified``
``linear_model()``        a known continuous (A, B, C, D)  ``forward_model.kind: analytic`` is
                                                           refused
``sensory_delay``         seconds; must equal              ``tracking_spec.sensory_delay``
                          ``tracking_spec.sensory_delay``
``motor_delay``           seconds between action and body  0
``last_observation``      the env's latest observation:    ``predict`` cannot tell its observations
                          ``predict`` checks it was given  from another env's
                          this env's own
``info["goal"]`` (reset)  the trial's goal (D,): goal      no goal code; no goal error or success
                          codes, goal error, success
``info["solved"]``        per step, the task solved: its   success from ``goal_threshold``, if any
                          success rule (MyoSuite's)
``goal_threshold``        within it of the goal at the     no success measure (without "solved")
                          end: success
========================  ===============================  ========================================

``check_body`` refuses an env that breaks the contract with a ``BodyError`` of one line saying what
to add or change; it runs when a controller or agent is built. docs/BODIES.md has a worked example.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorEnv

from .envs import TrackingSpec
from .errors import BodyError

UNREPORTED = object()  # an env without last_observation
DELAY_TOLERANCE = 1e-9  # s: delays are whole steps of dt, so two sources agree up to rounding


@runtime_checkable
class TrackingBody(Protocol):
    """The required part: a Gymnasium env whose ``reset`` and ``step`` return ``info["tracking"]``.

    Attributes:
        tracking_spec: Sizes, timing and observation layout of the tracking signals.
        action_space: The env's action space.
    """

    tracking_spec: TrackingSpec
    action_space: gym.spaces.Space


@runtime_checkable
class Allocating(Protocol):
    """An env whose action is not the joint command: muscles, or motors with their own gearing."""

    def allocate(self, command: np.ndarray) -> np.ndarray:
        """Joint commands (D,) to an action of the action space's shape, at the current posture."""


@runtime_checkable
class Holding(Protocol):
    """An env that knows the command holding its current posture (against gravity, springs)."""

    def holding_command(self) -> np.ndarray:
        """The (D,) joint command that holds the current posture at rest."""


@runtime_checkable
class Linearizable(Protocol):
    """A MuJoCo body that linearises itself: the ``linearized`` forward model."""

    def linearize(self, action: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """Discrete (A, B, C, D) of one control step, from action to tracked output, delays excluded."""


@runtime_checkable
class KnownLinear(Protocol):
    """A plant with a known linear model: the ``analytic`` forward model."""

    def linear_model(self) -> tuple[np.ndarray, ...]:
        """Continuous (A, B, C, D) from joint command to tracked output, delays excluded."""


def env_attribute(env: gym.Env | VectorEnv, name: str, default: Any = None) -> Any:
    """An attribute of an env, looked up through its wrappers.

    Args:
        env: A single env, or a vector env (its first sub-env is asked).
        name: The attribute, e.g. ``tracking_spec``, ``allocate``, ``sensory_delay``.
        default: What to return when no layer has it.

    Returns:
        The attribute's value, or ``default``.
    """
    if isinstance(env, VectorEnv):
        try:
            return env.get_attr(name)[0]
        except AttributeError:
            return default
    try:
        return env.get_wrapper_attr(name)
    except AttributeError:
        return default


def check_body(env: gym.Env) -> TrackingSpec:
    """Refuse an env that breaks the body contract, before anything is built on it.

    Args:
        env: A single env (a vector env's sub-env); it is neither reset nor stepped, but its
            ``holding_command`` and ``allocate`` are called once at its current posture.

    Returns:
        The env's ``tracking_spec``.

    Raises:
        BodyError: one line naming the hook at fault and what to add or change.
    """
    spec = env_attribute(env, "tracking_spec")
    if not isinstance(spec, TrackingSpec):
        raise BodyError(
            'the env exposes no tracking signals (tracking_spec and info["tracking"]); '
            "wrap it in an adapter that does (docs/BODIES.md)"
        )
    if spec.dofs < 1 or not spec.dt > 0 or not spec.sensory_delay >= 0:
        raise BodyError(
            f"tracking_spec: needs dofs >= 1, dt > 0 and sensory_delay >= 0, got dofs={spec.dofs}, "
            f"dt={spec.dt}, sensory_delay={spec.sensory_delay}"
        )
    _check_delays(env, spec)
    holding = env_attribute(env, "holding_command")
    centre = np.zeros(spec.dofs)
    if holding is not None:
        centre = np.asarray(holding(), dtype=np.float64)
        if centre.shape != (spec.dofs,):
            raise BodyError(
                f"holding_command() returned shape {centre.shape}; it must give one command per "
                f"tracked output: ({spec.dofs},)"
            )
    _check_action(env, spec, centre)
    return spec


def _check_delays(env: gym.Env, spec: TrackingSpec) -> None:
    """The delay attribute, where there is one, must be the spec's: the trace is built from it."""
    for name in ("sensory_delay", "motor_delay"):
        value = env_attribute(env, name)
        if value is not None and not (isinstance(value, int | float) and value >= 0):
            raise BodyError(f"{name}: the env's attribute must be a number of seconds >= 0, got {value!r}")
    attribute = env_attribute(env, "sensory_delay")
    if attribute is not None and abs(attribute - spec.sensory_delay) > DELAY_TOLERANCE:
        raise BodyError(
            f"sensory_delay: the env's attribute says {attribute} s but tracking_spec.sensory_delay says "
            f"{spec.sensory_delay} s; make them agree (the forward model is built with the delay)"
        )


def _check_action(env: gym.Env, spec: TrackingSpec, command: np.ndarray) -> None:
    """A joint command must become an action of the action space's shape."""
    shape = getattr(env.action_space, "shape", None)
    allocate = env_attribute(env, "allocate")
    if allocate is None:
        if shape != (spec.dofs,):
            raise BodyError(
                f"the action space has shape {shape} but the controller gives {spec.dofs} joint "
                "command(s): give the env allocate(command) -> action (docs/BODIES.md)"
            )
        return
    action = np.asarray(allocate(command))
    if action.shape != shape:
        raise BodyError(
            f"allocate() returned shape {action.shape} for a ({spec.dofs},) command; the action space "
            f"has shape {shape}"
        )
    if not np.all(np.isfinite(action)):
        raise BodyError("allocate() returned non-finite values for the holding command")


def observation_checked(env: gym.Env) -> bool:
    """Whether ``predict`` must check that its observations are ``env``'s own: the env allocates
    commands at its own posture and reports its latest observation (``last_observation``). Without
    an allocation the action does not depend on the env's state: any env's observation will do.

    Args:
        env: One of an agent's envs.

    Returns:
        Whether ``check_own_observation`` applies to it.
    """
    reported = env_attribute(env, "last_observation", UNREPORTED) is not UNREPORTED
    return reported and env_attribute(env, "allocate") is not None


def check_own_observation(env: gym.Env, observation: np.ndarray) -> None:
    """Refuse an observation that is not ``env``'s latest (an env ``observation_checked`` accepts).

    Args:
        env: One of the agent's envs.
        observation: The observation ``predict`` was given for it.

    Raises:
        BodyError: the observation comes from another env (or was transformed on the way).
    """
    latest = env_attribute(env, "last_observation")
    # None: the env has not been reset, so the observation cannot be its own.
    mismatch = latest is None or np.shape(observation) != np.shape(latest)
    if mismatch or not np.allclose(observation, latest, equal_nan=True):
        raise BodyError(
            "predict: this observation is not from the agent's own env, whose posture its muscle "
            "allocation reads; run the VecEnv over that very env (DummyVecEnv([lambda: env])), "
            "without observation normalisation"
        )
