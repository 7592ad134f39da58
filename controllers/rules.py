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

from .forward_models import ForwardModel, identity, pure_delay

RULE_NAMES = ("none", "eligibility", "lms", "delayed", "fel")


@dataclass(frozen=True)
class LearningRule:
    name: str
    trace: ForwardModel | None  # None: no feed-forward module at all
    injection: Literal["error", "motor"] = "error"
    teacher: Literal["error", "feedback"] = "error"

    @property
    def learns(self) -> bool:
        return self.trace is not None


def make_rule(
    name: str,
    *,
    dofs: int,
    dt: float,
    forward_model: ForwardModel | None = None,
    trace_delay_steps: int | None = None,
) -> LearningRule:
    """Build a rule by name; ``eligibility`` needs a forward model, ``delayed`` a trace delay."""
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
        return LearningRule(name, trace=pure_delay(trace_delay_steps, dofs, dt))
    if name == "fel":
        return LearningRule(name, trace=identity(dofs, dt), injection="motor", teacher="feedback")
    raise ValueError(f"unknown rule {name!r}; choose one of {', '.join(RULE_NAMES)}")
