"""Two implementations of one CFPC step and update, behind one interface (``Backend``).

- ``TorchBackend``: the reference; any device, any batch, every option.
- ``NumpyBackend``: the same arithmetic in numpy (CPU only), run by each module's numpy twin
  (``numpy_step``, ``numpy_forward``, ``numpy_update``) in place on the very buffers of the torch
  modules, so ``state_dict``, checkpoints and resets are shared and switching costs nothing. A
  torch op costs ~2-5 us on a CPU whatever its size, a numpy op on a small array under 1 us: at
  small B the numpy step is several times faster.

``make_backend`` is the plan: ``"auto"`` picks numpy on the CPU up to ``NUMPY_MAX_BATCH`` envs
where it supports the configuration (``numpy_refusal`` says why not), torch otherwise. A new
backend takes over the last step's signals from the one it replaces, so an ``update`` after a
switch learns from the step before it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch

from .basis import Basis
from .types import TensorLike

if TYPE_CHECKING:
    from .cfpc import CFPC

BACKENDS = ("auto", "torch", "numpy")
NUMPY_MAX_BATCH = 256  # measured: numpy beats torch up to here on one CPU thread (docs/PERFORMANCE.md)
SIGNALS = ("error", "feedforward_output", "feedback_command", "command")


class Backend(ABC):
    """One implementation of a CFPC's step and update, on the controller's modules and buffers.

    It keeps this step's signals (``SIGNALS``) for ``update`` and for logging. A CFPC holds one and
    delegates to it; it is rebuilt whenever the buffers may have been replaced.

    Args:
        controller: the controller whose modules it runs.
        previous: the backend it replaces, whose last step's signals it takes over (None: zeros).
    """

    name: ClassVar[str]

    @abstractmethod
    def step(self, reference: TensorLike, measurement: TensorLike, cue: TensorLike) -> torch.Tensor:
        """One control step; see ``CFPC.step``.

        Returns:
            The command (B, D), a fresh tensor.
        """

    @abstractmethod
    def step_array(self, reference: TensorLike, measurement: TensorLike, cue: TensorLike) -> np.ndarray:
        """One control step on host arrays; see ``CFPC.step_array``.

        Returns:
            The command (B, D) as an array, which the next step may overwrite.
        """

    @abstractmethod
    def update(self, error: TensorLike | None, active: TensorLike | None) -> None:
        """Learn from the last step; see ``CFPC.update``."""

    @abstractmethod
    def signal(self, name: str) -> torch.Tensor:
        """One of the last step's ``SIGNALS`` (B, D), as a tensor that later steps leave alone."""

    @abstractmethod
    def trace(self) -> torch.Tensor:
        """The last step's eligibility trace (B, D_in, D_out, F), or (B, D, F) from a diagonal forward
        model, as a tensor later steps leave alone."""


class TorchBackend(Backend):
    """The reference step in torch: any device, any batch, every option.

    Args:
        controller: the controller whose modules it runs.
        previous: the backend it replaces, whose last step's signals it takes over (None: zeros).
    """

    name = "torch"

    def __init__(self, controller: CFPC, previous: Backend | None = None):
        self.rule, self.feedback, self.basis = controller.rule, controller.feedback, controller.basis
        self.gain_adaptation, self.learner = controller.gain_adaptation, controller.learner
        self.batch_size, self.dofs = controller.batch_size, controller.dofs
        self.device, self.dtype = controller.device, controller.dtype
        if self.rule.learns:
            self.feedforward, self.eligibility = controller.feedforward, controller.eligibility
            self._trace = self.eligibility.trace
        kw = {"device": self.device, "dtype": self.dtype}
        zeros = torch.zeros(self.batch_size, self.dofs, **kw)
        # Fresh tensors every step: a logged signal stays as it was.
        self.signals: dict[str, torch.Tensor] = {
            name: zeros.clone() if previous is None else previous.signal(name).to(**kw) for name in SIGNALS
        }

    def _tensor(self, value: TensorLike) -> torch.Tensor:
        """As a (B, -1) tensor on the controller's device, without a copy where none is needed;
        the dtype is cast by the first operation that uses it."""
        return torch.as_tensor(value, device=self.device).reshape(self.batch_size, -1)

    def step(self, reference: TensorLike, measurement: TensorLike, cue: TensorLike) -> torch.Tensor:
        signals = self.signals
        error = torch.empty(self.batch_size, self.dofs, device=self.device, dtype=self.dtype)
        signals["error"] = error
        torch.sub(self._tensor(reference), self._tensor(measurement), out=error)
        if not self.rule.learns:
            signals["feedback_command"] = signals["command"] = self.feedback.step(error)
            self._adapt_gains(reference, measurement)
            return signals["command"]
        phi = self.basis.step(self._tensor(cue))
        self._trace = self.eligibility.step(phi)
        output = signals["feedforward_output"] = self.feedforward(phi)
        self.learner.step(output)
        if self.rule.injection == "error":
            command = signals["feedback_command"] = self.feedback.step(torch.add(error, output))
        else:
            command = self.feedback.step(error, feedforward=output)
            signals["feedback_command"] = command - output
        signals["command"] = command
        self._adapt_gains(reference, measurement)
        return command

    def _adapt_gains(self, reference: TensorLike, measurement: TensorLike) -> None:
        if self.gain_adaptation is not None:
            kw = {"dtype": self.dtype}
            self.gain_adaptation.step(self._tensor(reference).to(**kw), self._tensor(measurement).to(**kw))

    def step_array(self, reference: TensorLike, measurement: TensorLike, cue: TensorLike) -> np.ndarray:
        with torch.no_grad():
            return self.step(reference, measurement, cue).cpu().numpy()

    def update(self, error: TensorLike | None, active: TensorLike | None) -> None:
        # Every argument converted before anything learns: a bad one changes nothing.
        if active is not None:
            active = torch.as_tensor(active, device=self.device)
        teacher = self._teacher(error) if self.rule.learns else None
        if self.gain_adaptation is not None:
            self.gain_adaptation.update(active)
        if teacher is not None:
            with torch.no_grad():
                self.learner.update(self.feedforward, self._trace, teacher, active)

    def _teacher(self, error: TensorLike | None) -> torch.Tensor:
        if error is not None:
            return self._tensor(error).to(self.dtype)
        return self.signals["error" if self.rule.teacher == "error" else "feedback_command"]

    def signal(self, name: str) -> torch.Tensor:
        return self.signals[name]

    def trace(self) -> torch.Tensor:
        return self._trace  # the next step writes a fresh buffer


class NumpyBackend(Backend):
    """The same step and update in numpy, on the buffers of the torch modules (CPU; see ``Backend``).

    The same operations as the torch step (tests check the two agree step for step); this step's
    signals live in preallocated arrays, overwritten by the next step.

    Args:
        controller: the controller whose modules it runs, on the CPU (see ``numpy_refusal``).
        previous: the backend it replaces, whose last step's signals it takes over (None: zeros).
    """

    name = "numpy"

    def __init__(self, controller: CFPC, previous: Backend | None = None):
        self.rule, self.shape = controller.rule, (controller.batch_size, controller.dofs)
        dtype = controller.feedback.integral.numpy().dtype
        self.error, self.feedforward_output, self.command, self.counterfactual_error = (
            np.zeros(self.shape, dtype) for _ in range(4)
        )
        # Counterfactual-error rules: the feedback's command is the whole command.
        motor = self.rule.injection == "motor"
        self.feedback_command = np.zeros(self.shape, dtype) if motor else self.command
        if previous is not None:
            for name in SIGNALS:
                getattr(self, name)[...] = previous.signal(name).cpu().numpy()
        self.step_feedback = controller.feedback.numpy_step()
        if not self.rule.learns:
            return
        self.step_basis, self.phi = controller.basis.numpy_step()
        self.step_trace, self._trace = controller.eligibility.numpy_step()
        self.forward = controller.feedforward.numpy_forward(self.phi, self.feedforward_output)
        self.learn = controller.learner.numpy_update(controller.feedforward)

    def step_array(self, reference: TensorLike, measurement: TensorLike, cue: TensorLike) -> np.ndarray:
        error, output, command = self.error, self.feedforward_output, self.command
        np.subtract(as_rows(reference, self.shape), as_rows(measurement, self.shape), out=error)
        if not self.rule.learns:
            self.step_feedback(error, None, command)
            return command
        self.step_basis(as_rows(cue, (self.shape[0], -1)))
        self.step_trace(self.phi)
        self.forward()
        if self.rule.injection == "error":
            self.step_feedback(np.add(error, output, out=self.counterfactual_error), None, command)
        else:
            self.step_feedback(error, output, command)
            np.subtract(command, output, out=self.feedback_command)
        return command

    def step(self, reference: TensorLike, measurement: TensorLike, cue: TensorLike) -> torch.Tensor:
        return torch.from_numpy(self.step_array(reference, measurement, cue).copy())

    def update(self, error: TensorLike | None, active: TensorLike | None) -> None:
        if not self.rule.learns:
            return
        if error is not None:
            teacher = as_rows(error, self.shape).astype(self.error.dtype, copy=False)
        else:
            teacher = self.error if self.rule.teacher == "error" else self.feedback_command
        self.learn(self._trace, teacher, None if active is None else np.asarray(active))

    def signal(self, name: str) -> torch.Tensor:
        return torch.from_numpy(getattr(self, name).copy())

    def trace(self) -> torch.Tensor:
        return torch.from_numpy(self._trace.copy())  # a copy always: the next step writes in place


def numpy_refusal(controller: CFPC) -> str | None:
    """Why the numpy backend cannot run ``controller``.

    Args:
        controller: the controller, as it is now (device, learner, forward model, basis).

    Returns:
        The reason, or None where numpy can run it.
    """
    if controller.device.type != "cpu":
        return f"it runs on the CPU, and this controller is on {controller.device}"
    if controller.gain_adaptation is not None:
        return "gain adaptation runs in torch only"
    if not controller.rule.learns:
        return None
    if not controller.learner.runs_in_numpy:
        return f"optimizer {controller.learner.name} runs in torch only"
    if len(controller.eligibility.systems) > 1:
        return "a time-varying forward model runs in torch only"
    if type(controller.basis).numpy_step is Basis.numpy_step:
        return f"{type(controller.basis).__name__} has no numpy step"
    return None


def make_backend(requested: str, controller: CFPC, previous: Backend | None = None) -> Backend:
    """The backend the plan picks, built on the controller's current buffers.

    Args:
        requested: ``"torch"``, ``"numpy"`` or ``"auto"`` (numpy on the CPU for at most
            ``NUMPY_MAX_BATCH`` envs where ``numpy_refusal`` finds nothing, else torch).
        controller: the controller it runs.
        previous: the backend it replaces, whose last step's signals it takes over.

    Returns:
        A ``TorchBackend`` or a ``NumpyBackend``.

    Raises:
        ValueError: an unknown name, or numpy requested where it cannot run (saying why).
    """
    if requested not in BACKENDS:
        raise ValueError(f"unknown backend {requested!r}; choose one of {', '.join(BACKENDS)}")
    refusal = numpy_refusal(controller)
    if requested == "numpy" and refusal:
        raise ValueError(f"backend numpy: {refusal}; use backend torch")
    small = controller.batch_size <= NUMPY_MAX_BATCH
    numpy = requested == "numpy" or (requested == "auto" and not refusal and small)
    return (NumpyBackend if numpy else TorchBackend)(controller, previous)


def rebuild_backend(controller: CFPC, previous: Backend) -> Backend:
    """The kind of ``previous`` again, on buffers that may have been replaced (``.to()``,
    ``load_state_dict``, a new forward model); torch where numpy can no longer run.

    Args:
        controller: the controller it runs.
        previous: the backend to replace.

    Returns:
        The new backend, holding the last step's signals of ``previous``.
    """
    stays = previous.name == "torch" or numpy_refusal(controller) is None
    return make_backend(previous.name if stays else "torch", controller, previous)


def as_rows(value: TensorLike, shape: tuple[int, int]) -> np.ndarray:
    """A host array (or CPU tensor) as an array of ``shape``, without a copy where none is needed.

    Args:
        value: an array, a CPU tensor or a nested sequence.
        shape: the shape wanted, e.g. (B, D) or (B, -1).

    Returns:
        The array, a view of ``value`` where it can be.
    """
    if isinstance(value, np.ndarray):
        return value.reshape(shape)
    return np.reshape(np.asarray(value), shape)
