"""Forward models run online, batched over envs (torch, with a numpy twin of the trace filter).

- ``EligibilityFilter``: a model over every basis signal, eps = T-hat * phi: the eligibility trace.
- ``ResponseFilter``: a model over one signal per env: its response to o (recursive least
  squares), or a reference model's output (gain adaptation).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from .forward_models import ForwardModel, TimeVaryingForwardModel
from .types import zero_where


class TraceFilter(nn.Module):
    """What the trace filters share: their buffer of rows (trace, state, input columns), exposed
    as views by ``_expose``, follows ``.to()``/``.double()``; ``reset`` zeroes envs' state.

    Subclasses set ``_rows`` and the ``state`` and ``step_index`` buffers in ``_expose``.
    """

    def _apply(self, fn, recurse: bool = True):
        super()._apply(fn, recurse)
        self._expose(fn(self._rows))  # .to(), .double(): the rows follow, and ``state`` into them
        return self

    def reset(self, mask: torch.Tensor | None = None) -> None:
        """Zero the filter state (and the time-varying model's step) of the envs in ``mask`` (all
        when None); the last trace stays."""
        zero_where(self.state, mask)
        zero_where(self.step_index, mask)


class EligibilityFilter(TraceFilter):
    """Runs a forward model online over every basis signal: eps = T-hat * phi, batched.

    Input phi (B, F). Output eps (B, D_in, D_out, F): eps[:, l, i, f] is the response of sensed
    output i to basis f injected on feed-forward channel l — the gradient of output i w.r.t.
    weight W[l, f] — so MIMO coupling stays in the trace. State (B, D_in, n, F).

    One matrix product per step: every (env, channel, basis) signal is a column of a buffer whose
    rows are [trace (D_out) | state (n) | input (D_in)], and [[C, D], [A, B]] maps the state and
    input rows of one step's buffer to the trace and state rows of the next. Each step writes a
    fresh buffer, so a returned trace stays valid after later steps.

    Args:
        model: the forward model T-hat; a time-varying one runs its step k at step k of each trial.
        features: F, the basis signals per env.
        batch_size: B, the envs.
        device: where the state lives.
        dtype: the state's dtype.

    Example:
        >>> from cfpc_gym.controllers import pure_delay
        >>> trace_filter = EligibilityFilter(pure_delay(1, 1, 0.01), features=3, batch_size=2)
        >>> trace_filter.step(torch.ones(2, 3)).shape  # (B, D_in, D_out, F)
        torch.Size([2, 1, 1, 3])
    """

    def __init__(
        self,
        model: ForwardModel | TimeVaryingForwardModel,
        features: int,
        *,
        batch_size: int = 1,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        self.model = model
        self.batch_size, self.features = batch_size, features
        self._outputs, self._order, self._inputs = model.outputs, model.order, model.inputs
        kw = {"device": device, "dtype": dtype}
        self.register_buffer("systems", torch.as_tensor(_systems(model)).to(**kw), persistent=False)
        # Steps since each env's trial began: which model of a time-varying one runs next. Not saved:
        # checkpoints fall between trials, and every trial starts with a reset.
        self.register_buffer(
            "step_index", torch.zeros(batch_size, dtype=torch.long, device=device), persistent=False
        )
        rows = self._outputs + self._order + self._inputs
        self._rows = torch.zeros(rows, batch_size * self._inputs * features, **kw)
        self._expose(self._rows)

    def set_model(self, model: ForwardModel | TimeVaryingForwardModel) -> None:
        """Run ``model`` from the next step on, the filter state carried over.

        Args:
            model: a model with this model's order, inputs, outputs and dt (the same state
                coordinates, e.g. the loop closed around another linearisation of the same plant).

        Raises:
            ValueError: the model has another shape or period.
        """
        shape = (model.order, model.inputs, model.outputs, model.dt)
        if shape != (self._order, self._inputs, self._outputs, self.model.dt):
            raise ValueError(
                f"the new forward model has order {model.order}, {model.inputs} inputs, {model.outputs} "
                f"outputs and dt {model.dt}; the filter runs order {self._order}, {self._inputs} inputs, "
                f"{self._outputs} outputs and dt {self.model.dt}"
            )
        systems = torch.as_tensor(_systems(model)).to(self.systems)
        if systems.shape == self.systems.shape:  # in place: the numpy step's views see it
            self.systems.copy_(systems)
        else:
            self.systems = systems
        self.model = model

    @property
    def system(self) -> torch.Tensor:
        """[C D; A B] of the (first) model."""
        return self.systems[0]

    @property
    def trace(self) -> torch.Tensor:
        """The last step's trace (B, D_in, D_out, F) (zeros before any step): a view of the buffer
        that step wrote, the very tensor ``step`` returned."""
        d_out, d_in = self._outputs, self._inputs
        return self._rows[:d_out].view(d_out, self.batch_size, d_in, self.features).permute(1, 2, 0, 3)

    def _expose(self, rows: torch.Tensor) -> None:
        """Point ``state`` (a registered buffer, so it travels with state_dict) into ``rows``."""
        d_out, n, d_in, f = self._outputs, self._order, self._inputs, self.features
        state = rows[d_out : d_out + n].view(n, self.batch_size, d_in, f).permute(1, 2, 0, 3)
        self._buffers["state"] = state  # a dict write: nn.Module.__setattr__ costs more per step
        self._rows = rows

    def step(self, phi: torch.Tensor) -> torch.Tensor:
        """Filter this step's basis signals.

        Args:
            phi: the basis signals (B, F).

        Returns:
            The trace eps (B, D_in, D_out, F), in a fresh buffer (valid after later steps).
        """
        rows, d_out, n, d_in = self._rows, self._outputs, self._order, self._inputs
        inputs = rows[d_out + n :].view(d_in, self.batch_size, d_in, self.features)
        if d_in == 1:
            inputs[0, :, 0].copy_(phi)
        else:  # basis f drives channel l only: a one-hot input per column
            inputs.zero_()
            inputs.diagonal(dim1=0, dim2=2).copy_(phi[:, :, None])
        following = torch.empty_like(rows)
        if len(self.systems) == 1:
            torch.mm(self.system, rows[d_out:], out=following[: d_out + n])
        else:
            self._step_time_varying(rows[d_out:], following[: d_out + n])
        self._expose(following)
        return following[:d_out].view(d_out, self.batch_size, d_in, self.features).permute(1, 2, 0, 3)

    def numpy_step(self) -> tuple[Callable[[np.ndarray], None], np.ndarray]:
        """``step`` in numpy, in place in the current buffer (CPU), for the numpy backend.

        Valid while only the returned function steps the filter (a torch ``step`` moves to a
        fresh buffer).

        Returns:
            ``step(phi)`` with phi (B, F), and the array (B, D_in, D_out, F) it writes the trace
            into, a view of the buffer (the same memory as ``trace``), overwritten by the next step.

        Raises:
            ValueError: the model is time-varying.
        """
        if len(self.systems) > 1:
            raise ValueError("a time-varying forward model has no numpy step")
        rows, d_out, n, d_in = self._rows, self._outputs, self._order, self._inputs
        system, buffer = self.system.numpy(), rows.numpy()
        buffer[d_out + n :] = 0.0  # the one-hot input rows: only their diagonal is written below
        inputs = buffer[d_out + n :].reshape(d_in, self.batch_size, d_in, self.features)
        channels = [inputs[channel, :, channel] for channel in range(d_in)]  # each: (B, F)
        sources, targets = buffer[d_out:], buffer[: d_out + n]
        following = np.empty_like(targets)  # matmul into overlapping memory would take a slow path

        def step(phi: np.ndarray) -> None:
            for channel in channels:
                channel[...] = phi
            np.matmul(system, sources, out=following)
            np.copyto(targets, following)

        return step, self.trace.numpy()

    def _step_time_varying(self, current: torch.Tensor, following: torch.Tensor) -> None:
        """Each env's columns through the system of its own step in the trial (batched matmul)."""
        index = self.step_index.clamp(max=len(self.systems) - 1)
        self.step_index.add_(1)
        if bool((index == index[0]).all()):  # envs in step: one matrix product, as for a fixed model
            torch.mm(self.systems[index[0]], current, out=following)
            return
        columns = current.shape[1] // self.batch_size
        per_env = current.view(-1, self.batch_size, columns).transpose(0, 1)  # (B, n + D_in, cols)
        result = torch.bmm(self.systems[index], per_env)  # (B, D_out + n, cols)
        following.view(-1, self.batch_size, columns).copy_(result.transpose(0, 1))


def _systems(model: ForwardModel | TimeVaryingForwardModel) -> np.ndarray:
    """[C D; A B] of every step of a model (one for a time-invariant model)."""
    steps = model.models if isinstance(model, TimeVaryingForwardModel) else (model,)
    return np.stack([np.block([[m.c, m.d], [m.a, m.b]]) for m in steps])


class ResponseFilter(nn.Module):
    """Runs a forward model on one signal per env: the model's sensed response (B, D_out) to o (B, D_in).

    One matrix product per step, as in ``EligibilityFilter``: a row [state | input] per env times
    [[C^T, A^T], [D^T, B^T]] gives [response | next state].

    Args:
        model: a time-invariant forward model.
        batch_size: B, the envs.
        device: where the state lives.
        dtype: the state's dtype.

    Raises:
        ValueError: the model is time-varying.
    """

    def __init__(
        self,
        model: ForwardModel,
        *,
        batch_size: int = 1,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        if isinstance(model, TimeVaryingForwardModel):
            raise ValueError("optimizer rls needs a time-invariant forward model; use optimizer gradient")
        self._outputs, self._order = model.outputs, model.order
        kw = {"device": device, "dtype": dtype}
        system = np.block([[model.c, model.d], [model.a, model.b]]).T  # (n + D_in, D_out + n)
        self.register_buffer("system", torch.as_tensor(system).to(**kw), persistent=False)
        self.register_buffer("state", torch.zeros(batch_size, model.order + model.inputs, **kw))

    def reset(self, mask: torch.Tensor | None = None) -> None:
        """Zero the state of the envs in ``mask`` (all when None)."""
        zero_where(self.state, mask)

    def step(self, signal: torch.Tensor) -> torch.Tensor:
        """Step the model.

        Args:
            signal: this step's input (B, D_in).

        Returns:
            The model's output (B, D_out), a view of a fresh tensor.
        """
        state, d_out, n = self.state, self._outputs, self._order
        state[:, n:].copy_(signal)
        following = torch.mm(state, self.system)
        state[:, :n].copy_(following[:, d_out:])
        return following[:, :d_out]
