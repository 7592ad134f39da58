"""Learning rules: which trace each synapse keeps, where the module's output goes, what teaches it.

All rules update W += step * sum_i teacher_i * eps_i once per control step; they differ in
three choices:

| rule          | trace eps (T-hat)          | output o added to | teacher          |
|---------------|----------------------------|-------------------|------------------|
| `eligibility` | forward model of the loop  | the error (CFPC)  | the sensed error |
| `lms`         | the basis itself (T-hat=I) | the error         | the sensed error |
| `delayed`     | the basis delayed (z^-tau) | the error         | the sensed error |
| `fel`         | the basis itself           | the motor command | the feedback command |
| `none`        | -- no feed-forward: feedback alone --                              |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .closed_loops import identity, pure_delay
from .forward_models import ForwardModel, TimeVaryingForwardModel

RULE_NAMES = ("none", "eligibility", "lms", "delayed", "fel")


@dataclass(frozen=True)
class LearningRule:
    """A rule's three choices (see the table above); build one with ``make_rule``.

    Args:
        name: one of ``RULE_NAMES``.
        trace: the forward model T-hat that makes the trace; None: no feed-forward module at all.
        injection: where the output o goes: the error (``"error"``) or the command (``"motor"``).
        teacher: what teaches: the sensed error (``"error"``) or the feedback command (``"feedback"``).
    """

    name: str
    trace: ForwardModel | TimeVaryingForwardModel | None  # None: no feed-forward module at all
    injection: Literal["error", "motor"] = "error"
    teacher: Literal["error", "feedback"] = "error"

    @property
    def learns(self) -> bool:
        """Whether the rule has a feed-forward module that learns."""
        return self.trace is not None


def make_rule(
    name: str,
    *,
    dofs: int,
    dt: float,
    forward_model: ForwardModel | None = None,
    trace_delay_steps: int | None = None,
) -> LearningRule:
    """Build a rule by name.

    Args:
        name: one of ``RULE_NAMES``.
        dofs: D, the controlled DOFs.
        dt: the control period in seconds.
        forward_model: the closed loop's model (D inputs, D outputs); ``eligibility`` needs it.
        trace_delay_steps: the trace's delay in steps; ``delayed`` needs it.

    Returns:
        The rule.

    Raises:
        ValueError: an unknown name, or what the rule needs is missing or does not fit.

    Example:
        >>> make_rule("fel", dofs=1, dt=0.01).teacher
        'feedback'
    """
    if name == "none":
        return LearningRule(name, trace=None)
    if name == "eligibility":
        if forward_model is None:
            raise ValueError("rule 'eligibility' needs a forward model of the closed loop")
        if forward_model.inputs != dofs or forward_model.outputs != dofs:
            raise ValueError(
                f"forward model maps {forward_model.inputs} inputs to {forward_model.outputs} outputs; "
                f"the controller has {dofs} DOFs"
            )
        return LearningRule(name, trace=forward_model)
    if name == "lms":
        return LearningRule(name, trace=identity(dofs, dt))
    if name == "delayed":
        if trace_delay_steps is None:
            raise ValueError("rule 'delayed' needs trace_delay_steps")
        delay = pure_delay(trace_delay_steps, dofs, dt)
        # Each DOF's trace is its own basis delayed: D SISO filters, not one D x D system of order
        # D * tau (the hand, 23 DOFs at 8 steps: 207 x 207 per basis column and step).
        return LearningRule(name, trace=delay.diagonal() if dofs > 1 else delay)
    if name == "fel":
        return LearningRule(name, trace=identity(dofs, dt), injection="motor", teacher="feedback")
    raise ValueError(f"unknown rule {name!r}; choose one of {', '.join(RULE_NAMES)}")
