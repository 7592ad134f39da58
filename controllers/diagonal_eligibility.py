"""The eligibility trace of a diagonal forward model: D SISO filters per basis signal, not D x D.

A ``DiagonalForwardModel`` (``ForwardModel.diagonal()``) keeps each DOF's own loop o_i -> y_i,
so weight W[i, f] moves output i only and its trace is one signal, eps[:, i, f]: the response of
SISO model i to basis f. ``DiagonalEligibilityFilter`` runs the D models over every basis signal in
O(K D order) per step (the full ``EligibilityFilter`` costs O(K D^2 order) with an order D times
larger), and hands learners that diagonal trace (B, D, F); ``full_trace`` spreads it into the
(B, D_in, D_out, F) shape of a full model's trace, zeros off the diagonal.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .eligibility import TraceFilter
from .forward_models import DiagonalForwardModel, TimeVaryingForwardModel

DiagonalModel = DiagonalForwardModel | TimeVaryingForwardModel  # a time-varying one of diagonal steps


def is_diagonal(model) -> bool:
    """Whether ``model`` (a forward model, time-varying or not) is diagonal.

    Args:
        model: a ``ForwardModel`` or ``TimeVaryingForwardModel``.

    Returns:
        True for a ``DiagonalForwardModel`` or a time-varying model of them.
    """
    if isinstance(model, TimeVaryingForwardModel):
        return model.is_diagonal
    return isinstance(model, DiagonalForwardModel)


def full_trace(trace):
    """A diagonal trace (B, D, F) as a full one (B, D_in, D_out, F), zeros off the diagonal; a
    full trace as it is.

    Args:
        trace: a tensor or array, (B, D, F) or (B, D_in, D_out, F).

    Returns:
        (B, D, D, F), of the input's kind.

    Example:
        >>> full_trace(np.ones((1, 2, 3)))[0, :, :, 0].tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """
    if trace.ndim == 4:
        return trace
    batch, dofs, features = trace.shape
    if isinstance(trace, torch.Tensor):
        full = trace.new_zeros(batch, dofs, dofs, features)
    else:
        full = np.zeros((batch, dofs, dofs, features), dtype=trace.dtype)
    own = np.arange(dofs)
    full[:, own, own] = trace  # channel i moves output i only
    return full


class DiagonalEligibilityFilter(TraceFilter):
    """Runs a diagonal forward model online over every basis signal: eps_i = T-hat_ii * phi, batched.

    Input phi (B, F). Output eps (B, D, F): eps[:, i, f] is the response of sensed output i to basis
    f on channel i, the gradient of output i w.r.t. W[i, f] (no other output depends on it). State
    (B, D, n, F), n the largest channel's order (the others padded with states that stay zero).

    One batched matrix product per step: channel i's columns (one per env and basis) are
    [trace | state (n) | input] rows of a buffer, and [[C_i, D_i], [A_i, B_i]] maps the state and
    input rows to the next step's trace and state rows. Each step writes a fresh buffer, so a
    returned trace stays valid after later steps (the numpy step works in place).

    Args:
        model: a ``DiagonalForwardModel``, or a time-varying model of them (its step k at step k).
        features: F, the basis signals per env.
        batch_size: B, the envs.
        device: where the state lives.
        dtype: the state's dtype.

    Raises:
        ValueError: the model is not diagonal.

    Example:
        >>> from cfpc_gym.controllers import pure_delay
        >>> trace_filter = DiagonalEligibilityFilter(pure_delay(1, 3, 0.01).diagonal(), features=4)
        >>> trace_filter.step(torch.ones(1, 4)).shape  # (B, D, F)
        torch.Size([1, 3, 4])
    """

    def __init__(
        self,
        model: DiagonalModel,
        features: int,
        *,
        batch_size: int = 1,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        self.batch_size, self.features = batch_size, features
        systems = _systems(model)
        self.model, self._dofs, self._order = model, systems.shape[1], systems.shape[2] - 1
        kw = {"device": device, "dtype": dtype}
        self.register_buffer("systems", torch.as_tensor(systems).to(**kw), persistent=False)
        # Steps since each env's trial began (see EligibilityFilter); not saved.
        self.register_buffer(
            "step_index", torch.zeros(batch_size, dtype=torch.long, device=device), persistent=False
        )
        self._expose(torch.zeros(self._dofs, self._order + 2, batch_size * features, **kw))

    def set_model(self, model: DiagonalModel) -> None:
        """Run ``model`` from the next step on, the filter state carried over.

        Args:
            model: a diagonal model with this one's DOFs, channel order and dt.

        Raises:
            ValueError: the model is not diagonal, or has another shape or period.
        """
        systems = _systems(model)
        if systems.shape[1:] != self.systems.shape[1:] or model.dt != self.model.dt:
            raise ValueError(
                f"the new diagonal forward model has {systems.shape[1]} DOFs of order "
                f"{systems.shape[2] - 1} and dt {model.dt}; the filter runs {self._dofs} of order "
                f"{self._order} and dt {self.model.dt}"
            )
        systems = torch.as_tensor(systems).to(self.systems)
        if systems.shape == self.systems.shape:  # in place: the numpy step's views see it
            self.systems.copy_(systems)
        else:
            self.systems = systems
        self.model = model

    @property
    def trace(self) -> torch.Tensor:
        """The last step's trace (B, D, F) (zeros before any step), the tensor ``step`` returned."""
        return self._rows[:, 0].view(self._dofs, self.batch_size, self.features).transpose(0, 1)

    def _expose(self, rows: torch.Tensor) -> None:
        """Point ``state`` (a registered buffer, so it travels with state_dict) into ``rows``."""
        dofs, n = self._dofs, self._order
        state = rows[:, 1 : n + 1].view(dofs, n, self.batch_size, self.features).permute(2, 0, 1, 3)
        self._buffers["state"] = state
        self._rows = rows

    def step(self, phi: torch.Tensor) -> torch.Tensor:
        """Filter this step's basis signals.

        Args:
            phi: the basis signals (B, F).

        Returns:
            The trace eps (B, D, F), in a fresh buffer (valid after later steps).
        """
        rows, n = self._rows, self._order
        rows[:, n + 1].copy_(phi.reshape(1, -1).expand(self._dofs, -1))  # every channel sees phi
        following = torch.empty_like(rows)
        if len(self.systems) == 1:
            torch.bmm(self.systems[0], rows[:, 1:], out=following[:, : n + 1])
        else:
            self._step_time_varying(rows[:, 1:], following)
        self._expose(following)
        return self.trace

    def numpy_step(self) -> tuple[Callable[[np.ndarray], None], np.ndarray]:
        """``step`` in numpy, in place in the current buffer (CPU), for the numpy backend.

        Returns:
            ``step(phi)`` with phi (B, F), and the array (B, D, F) it writes the trace into, a view
            of the buffer, overwritten by the next step.

        Raises:
            ValueError: the model is time-varying.
        """
        if len(self.systems) > 1:
            raise ValueError("a time-varying forward model has no numpy step")
        n, system, buffer = self._order, self.systems[0].numpy(), self._rows.numpy()
        inputs, sources, targets = buffer[:, n + 1], buffer[:, 1:], buffer[:, : n + 1]
        following = np.empty_like(targets)  # matmul into overlapping memory would take a slow path

        def step(phi: np.ndarray) -> None:
            inputs[...] = phi.reshape(1, -1)
            np.matmul(system, sources, out=following)
            np.copyto(targets, following)

        return step, self.trace.numpy()

    def _step_time_varying(self, current: torch.Tensor, following: torch.Tensor) -> None:
        """Each env's columns through the systems of its own step in the trial."""
        index = self.step_index.clamp(max=len(self.systems) - 1)
        self.step_index.add_(1)
        n = self._order
        if bool((index == index[0]).all()):  # envs in step: one batched product, as for a fixed model
            torch.bmm(self.systems[index[0]], current, out=following[:, : n + 1])
            return
        per_env = current.view(self._dofs, n + 1, self.batch_size, -1).permute(2, 0, 1, 3)  # (B, D, n+1, F)
        result = torch.matmul(self.systems[index], per_env)  # (B, D, n + 1, F)
        following.view(self._dofs, n + 2, self.batch_size, -1)[:, : n + 1].copy_(result.permute(1, 2, 0, 3))


def _systems(model: DiagonalModel) -> np.ndarray:
    """[C_i D_i; A_i B_i] of every channel i of every step (steps, D, n + 1, n + 1), each channel
    padded to the largest order n with states that stay zero."""
    if not is_diagonal(model):
        raise ValueError("a DiagonalEligibilityFilter runs a diagonal model (ForwardModel.diagonal())")
    steps = model.models if isinstance(model, TimeVaryingForwardModel) else (model,)
    order = max(m.channel_order for m in steps)
    systems = np.zeros((len(steps), len(steps[0].channels), order + 1, order + 1))
    for k, step in enumerate(steps):
        for i, channel in enumerate(step.channels):
            n = channel.order
            block = np.block([[channel.c, channel.d], [channel.a, channel.b]])  # (1 + n, n + 1)
            rows, columns = [0, *range(1, n + 1)], [*range(n), order]  # the input column last
            systems[k, i][np.ix_(rows, columns)] = block
    return systems
