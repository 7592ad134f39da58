"""Temporal bases (the granular layer): filter banks stepped online from cue signals.

Each basis maps cues (B, M) to features phi (B, M * K), channel-major (all K features of cue 0,
then cue 1, ...), at O(M K) cost per step. Feature values are O(1) so learning rates transfer.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from .types import zero_where


class Basis(nn.Module):
    """The interface of a temporal basis: ``size`` features per cue channel, ``features = cues * size``.

    Args:
        cues: M, the cue channels.
        size: K, the features per cue channel.
        dt: the control period in seconds.
        batch_size: B, the envs.
    """

    def __init__(self, cues: int, size: int, dt: float, batch_size: int):
        super().__init__()
        if size < 1:
            raise ValueError(f"basis size must be >= 1, got {size}")
        if dt <= 0:
            raise ValueError(f"dt must be > 0, got {dt}")
        self.cues, self.size, self.dt, self.batch_size = cues, size, dt, batch_size

    @property
    def features(self) -> int:
        """F = M * K, the features per env."""
        return self.cues * self.size

    def step(self, cue: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        """Advance one control step.

        Args:
            cue: this step's cues (B, M).

        Returns:
            The features phi (B, F), channel-major.
        """
        raise NotImplementedError

    def numpy_step(self) -> tuple[Callable[[np.ndarray], None], np.ndarray]:  # pragma: no cover
        """``step`` in numpy on the same buffers (CPU), for the numpy backend.

        Returns:
            ``step(cue)`` with cue (B, M), and the array phi (B, F) it writes in place.
        """
        raise NotImplementedError

    def reset(self, mask: torch.Tensor | None = None) -> None:  # pragma: no cover - interface
        """Forget the cue history of the envs in ``mask`` (B,) bool (all when None)."""
        raise NotImplementedError


class AlphaBasis(Basis):
    """Double-exponential kernels exp(-t/tau) - exp(-t/(ratio tau)), tau log-spaced, peak 1.

    Each kernel is the difference of two exactly discretised first-order low-pass filters of the
    cue, so a cue pulse produces a family of bumps peaking at increasing delays.

    Args:
        cues: M, the cue channels.
        size: K, the kernels per cue channel.
        dt: the control period in seconds.
        min_time_constant: the fastest kernel's slow time constant tau, in seconds.
        max_time_constant: the slowest kernel's, in seconds.
        ratio: the fast time constant as a fraction of the slow one, in (0, 1).
        batch_size: B, the envs.
        device: where the state lives.
        dtype: the state's dtype.

    Example:
        >>> basis = AlphaBasis(1, 5, 0.01)
        >>> basis.step(torch.ones(1, 1)).shape  # (B, M * K)
        torch.Size([1, 5])
    """

    def __init__(
        self,
        cues: int,
        size: int,
        dt: float,
        *,
        min_time_constant: float = 0.02,
        max_time_constant: float = 1.0,
        ratio: float = 0.5,
        batch_size: int = 1,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__(cues, size, dt, batch_size)
        if not 0 < min_time_constant <= max_time_constant:
            raise ValueError("need 0 < min_time_constant <= max_time_constant")
        if not 0 < ratio < 1:
            raise ValueError(f"ratio must be in (0, 1), got {ratio}")
        slow = np.geomspace(min_time_constant, max_time_constant, size)
        fast = ratio * slow
        slow_decay, fast_decay = np.exp(-dt / slow), np.exp(-dt / fast)
        # Peak of the discrete impulse response of slow - fast filter, found numerically.
        k = np.arange(int(np.ceil(10 * max_time_constant / dt)) + 2)[:, None]
        peak = (slow_decay**k - fast_decay**k).max(axis=0)
        kw = {"device": device, "dtype": dtype}
        self.register_buffer("slow_decay", torch.as_tensor(slow_decay).to(**kw))
        self.register_buffer("fast_decay", torch.as_tensor(fast_decay).to(**kw))
        self.register_buffer("gain", torch.as_tensor(1.0 / peak).to(**kw))
        self.register_buffer("slow", torch.zeros(batch_size, cues, size, **kw))
        self.register_buffer("fast", torch.zeros(batch_size, cues, size, **kw))

    def reset(self, mask: torch.Tensor | None = None) -> None:
        zero_where(self.slow, mask)
        zero_where(self.fast, mask)

    def step(self, cue: torch.Tensor) -> torch.Tensor:
        drive = cue.unsqueeze(-1)
        self.slow.mul_(self.slow_decay).add_(drive)
        self.fast.mul_(self.fast_decay).add_(drive)
        return torch.sub(self.slow, self.fast).mul_(self.gain).view(cue.shape[0], -1)

    def numpy_step(self) -> tuple[Callable[[np.ndarray], None], np.ndarray]:
        slow, fast, slow_decay, fast_decay, gain = (
            t.numpy() for t in (self.slow, self.fast, self.slow_decay, self.fast_decay, self.gain)
        )
        bumps = np.zeros_like(slow)

        def step(cue: np.ndarray) -> None:
            drive = cue[:, :, None]
            np.multiply(slow, slow_decay, out=slow)
            np.add(slow, drive, out=slow)
            np.multiply(fast, fast_decay, out=fast)
            np.add(fast, drive, out=fast)
            np.subtract(slow, fast, out=bumps)
            np.multiply(bumps, gain, out=bumps)

        return step, bumps.reshape(self.batch_size, -1)


class RaisedCosineBasis(Basis):
    """Raised-cosine bumps in time since the last cue onset (rising edge through 0.5).

    Bump j: 0.5 (1 + cos(pi (t - c_j) / h)) for |t - c_j| < h, centres c_j evenly spaced over
    [start, start + span], half-width h = overlap * spacing. With overlap 1 the bumps sum to 1.
    Features are 0 before the first onset.

    Time since onset only takes the values n dt, so the bumps are a table with a row per control
    step, the last row (all zeros: every bump is over) standing for "long ago" and "never": a
    step is a row lookup, whatever the basis size.

    Args:
        cues: M, the cue channels.
        size: K, the bumps per cue channel.
        dt: the control period in seconds.
        start: the first bump's centre, in seconds after the onset.
        span: from the first centre to the last, in seconds.
        overlap: the half-width in units of the centres' spacing (1: the bumps sum to 1).
        batch_size: B, the envs.
        device: where the state lives.
        dtype: the features' dtype.

    Example:
        >>> basis = RaisedCosineBasis(1, 3, 0.1, span=0.2)
        >>> basis.step(torch.ones(1, 1)).tolist()  # the onset: the first bump at its peak
        [[1.0, 0.0, 0.0]]
    """

    def __init__(
        self,
        cues: int,
        size: int,
        dt: float,
        *,
        start: float = 0.0,
        span: float = 1.0,
        overlap: float = 1.0,
        batch_size: int = 1,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__(cues, size, dt, batch_size)
        if span <= 0 or overlap <= 0:
            raise ValueError(f"span and overlap must be > 0, got span={span}, overlap={overlap}")
        spacing = span / max(size - 1, 1)
        kw = {"device": device, "dtype": dtype}
        self.half_width = overlap * spacing
        centres = torch.linspace(start, start + span, size, dtype=torch.float64)  # built on the CPU
        self.register_buffer("centres", centres.to(**kw))
        # Rows n = 0, 1, ... until the last bump has ended; the row after them is all zeros.
        self.never = max(math.ceil((start + span + self.half_width) / dt), 0) + 1
        elapsed = torch.arange(self.never + 1, dtype=torch.float64) * dt
        # 0.5 (1 + cos(pi d)), d = (elapsed - centre) / half-width clipped to +-1: exactly 0 outside.
        phase = (elapsed[:, None] - centres).mul_(math.pi / self.half_width)
        table = phase.clamp_(-math.pi, math.pi).cos_().add_(1.0).mul_(0.5)
        table[-1] = 0.0
        self.register_buffer("table", table.to(**kw), persistent=False)
        never = torch.full((batch_size, cues), self.never, dtype=torch.long, device=device)
        self.register_buffer("steps", never)  # control steps since the last onset, at most never
        self.register_buffer("previous_cue", torch.zeros(batch_size, cues, **kw))

    def reset(self, mask: torch.Tensor | None = None) -> None:
        never = torch.ones(self.batch_size, dtype=torch.bool, device=self.steps.device)
        rows = never if mask is None else mask
        self.steps.masked_fill_(rows[:, None], self.never)
        self.previous_cue.masked_fill_(rows[:, None], 0.0)

    def step(self, cue: torch.Tensor) -> torch.Tensor:
        onset = torch.ge(cue, 0.5).logical_and_(self.previous_cue < 0.5)
        self.steps.add_(1).clamp_(max=self.never).masked_fill_(onset, 0)
        self.previous_cue.copy_(cue)
        return self.table[self.steps].view(cue.shape[0], -1)

    def numpy_step(self) -> tuple[Callable[[np.ndarray], None], np.ndarray]:
        steps, previous_cue, table = self.steps.numpy(), self.previous_cue.numpy(), self.table.numpy()
        onset, falling = np.empty(steps.shape, dtype=bool), np.empty(steps.shape, dtype=bool)
        bumps = np.zeros((*steps.shape, self.size), dtype=table.dtype)
        # Constants as 0-d arrays of the operands' dtypes: a Python scalar costs ~1 us more per op.
        half = np.asarray(0.5, table.dtype)
        one, never = np.asarray(1, steps.dtype), np.asarray(self.never, steps.dtype)

        def step(cue: np.ndarray) -> None:
            np.greater_equal(cue, half, out=onset)
            np.less(previous_cue, half, out=falling)
            np.logical_and(onset, falling, out=onset)
            np.add(steps, one, out=steps)
            np.minimum(steps, never, out=steps)
            np.copyto(steps, 0, where=onset)
            previous_cue[...] = cue
            np.take(table, steps, axis=0, out=bumps)

        return step, bumps.reshape(self.batch_size, -1)


class TappedDelayLine(Basis):
    """The cue and its delayed copies: feature j is cue[k - j * stride].

    Args:
        cues: M, the cue channels.
        size: K, the taps per cue channel.
        dt: the control period in seconds.
        stride: the steps between taps.
        batch_size: B, the envs.
        device: where the history lives.
        dtype: the history's dtype.
    """

    def __init__(
        self,
        cues: int,
        size: int,
        dt: float,
        *,
        stride: int = 1,
        batch_size: int = 1,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__(cues, size, dt, batch_size)
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        self.stride = stride
        self.length = (size - 1) * stride + 1
        self.register_buffer(
            "history", torch.zeros(batch_size, cues, self.length, device=device, dtype=dtype)
        )
        self.register_buffer("taps", torch.arange(0, self.length, stride, device=device))
        self._head = 0

    def reset(self, mask: torch.Tensor | None = None) -> None:
        zero_where(self.history, mask)

    def step(self, cue: torch.Tensor) -> torch.Tensor:
        self._head = (self._head + 1) % self.length
        self.history[:, :, self._head] = cue
        index = (self._head - self.taps) % self.length
        return self.history[:, :, index].reshape(cue.shape[0], -1)

    def numpy_step(self) -> tuple[Callable[[np.ndarray], None], np.ndarray]:
        history, length = self.history.numpy(), self.length
        taps = self.taps.numpy()
        indices = [(head - taps) % length for head in range(length)]  # the taps for each head
        delayed = np.zeros((*history.shape[:2], self.size), dtype=history.dtype)

        def step(cue: np.ndarray) -> None:
            self._head = head = (self._head + 1) % length
            history[:, :, head] = cue
            np.take(history, indices[head], axis=2, out=delayed)

        return step, delayed.reshape(self.batch_size, -1)

    def get_extra_state(self) -> int:
        """The ring buffer's head, which travels with ``state_dict()``."""
        return self._head

    def set_extra_state(self, state: int) -> None:
        """Restore the ring buffer's head from a ``state_dict()``."""
        self._head = int(state)


class TimeTable(Basis):
    """A lookup table in time since the cue: feature j holds the cue's value at its onset (the
    cue leaving zero) exactly j steps after that onset, and is 0 otherwise.

    Learned with the ``delayed`` rule (trace phi[k - lead]), entry j moves by rate * e[j + lead]
    once per trial: P-type iterative learning control with a phase lead, the engineering
    baseline. Scaling by the onset value keeps it linear in the cue, like the other bases.

    Args:
        cues: M, the cue channels.
        size: K, the steps after an onset that have an entry.
        dt: the control period in seconds.
        batch_size: B, the envs.
        device: where the state lives.
        dtype: the features' dtype.
    """

    def __init__(
        self,
        cues: int,
        size: int,
        dt: float,
        *,
        batch_size: int = 1,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__(cues, size, dt, batch_size)
        kw = {"device": device, "dtype": dtype}
        self.register_buffer("elapsed", torch.full((batch_size, cues), -1, dtype=torch.long, device=device))
        self.register_buffer("amplitude", torch.zeros(batch_size, cues, **kw))
        self.register_buffer("previous_cue", torch.zeros(batch_size, cues, **kw))
        self.register_buffer("slots", torch.arange(size, device=device))

    def reset(self, mask: torch.Tensor | None = None) -> None:
        never = torch.ones(self.batch_size, dtype=torch.bool, device=self.elapsed.device)
        rows = (never if mask is None else mask)[:, None]
        self.elapsed.masked_fill_(rows, -1)  # -1: no onset yet
        self.amplitude.masked_fill_(rows, 0.0)
        self.previous_cue.masked_fill_(rows, 0.0)

    def step(self, cue: torch.Tensor) -> torch.Tensor:
        onset = torch.ne(cue, 0).logical_and_(self.previous_cue == 0)
        self.elapsed.add_(self.elapsed.ge(0)).masked_fill_(onset, 0)
        self.amplitude.copy_(torch.where(onset, cue, self.amplitude))
        self.previous_cue.copy_(cue)
        hot = torch.eq(self.elapsed.unsqueeze(-1), self.slots)
        return hot.mul(self.amplitude.unsqueeze(-1)).view(cue.shape[0], -1)

    def numpy_step(self) -> tuple[Callable[[np.ndarray], None], np.ndarray]:
        elapsed, amplitude = self.elapsed.numpy(), self.amplitude.numpy()
        previous_cue, slots = self.previous_cue.numpy(), self.slots.numpy()
        onset, silent = np.empty(elapsed.shape, dtype=bool), np.empty(elapsed.shape, dtype=bool)
        started = np.empty(elapsed.shape, dtype=elapsed.dtype)
        hot = np.empty((*elapsed.shape, self.size), dtype=bool)
        table = np.zeros((*elapsed.shape, self.size), dtype=previous_cue.dtype)

        def step(cue: np.ndarray) -> None:
            np.not_equal(cue, 0, out=onset)
            np.equal(previous_cue, 0, out=silent)
            np.logical_and(onset, silent, out=onset)
            np.greater_equal(elapsed, 0, out=started, casting="unsafe")
            np.add(elapsed, started, out=elapsed)
            elapsed[onset] = 0
            np.copyto(amplitude, cue, where=onset)
            previous_cue[...] = cue
            np.equal(elapsed[:, :, None], slots, out=hot)
            np.multiply(hot, amplitude[:, :, None], out=table)

        return step, table.reshape(self.batch_size, -1)


BASES = {
    "alpha": AlphaBasis,
    "raised_cosine": RaisedCosineBasis,
    "delay_line": TappedDelayLine,
    "time_table": TimeTable,
}
