"""Feedback controller: a discrete PID, batched over environments, one gain set per DOF.

Discretisation (the one ``transfer_function`` returns exactly):
    integral[k]   = integral[k-1] + dt * e[k]                         (backward rectangle)
    derivative[k] = (tau * derivative[k-1] + kd * (e[k] - e[k-1])) / (tau + dt)   (filtered)
    u[k]          = clip(u0 + kp e[k] + ki integral[k] + derivative[k] + feedforward, limits)
with u0 the operating-point command (0 unless set, e.g. the torque that holds a posture).
Anti-windup by conditional integration: the integral holds while the output saturates and the
error pushes further into saturation.

Gains are shared by the batch (D,) unless ``individual_gains()`` gives every env its own (B, D), for
gain adaptation (``gain_adaptation.py``). The derivative state then holds the filtered derivative
without kd, so that the command is exactly u = u0 + kp e + ki I + kd D with the gains of this step,
and ``signals`` (B, D, 3) holds [e, I, D] as each step used them.
"""

from __future__ import annotations

from collections.abc import Callable

import control
import numpy as np
import torch
from torch import nn

from .types import TensorLike, per_dof, zero_where


class PID(nn.Module):
    """A discrete PID per DOF, batched over envs, with a filtered derivative, output limits and
    anti-windup (the discretisation is in the module docstring).

    Args:
        kp: the proportional gain, a scalar or one per DOF.
        ki: the integral gain, a scalar or one per DOF.
        kd: the derivative gain, a scalar or one per DOF.
        dt: the control period in seconds.
        derivative_time_constant: tau of the derivative's first-order filter, in seconds (0: none).
        output_limit: the command saturates at +-limit, a scalar or one per DOF (None: never).
        batch_size: B, the envs.
        dofs: D, the controlled DOFs.
        device: where the state lives.
        dtype: the state's and the command's dtype.

    Example:
        >>> pid = PID(2.0, 1.0, dt=0.01, batch_size=2)
        >>> pid.step(torch.ones(2, 1))  # error (B, D) -> command (B, D): kp e + ki dt e
        tensor([[2.0100],
                [2.0100]])
    """

    def __init__(
        self,
        kp: TensorLike,
        ki: TensorLike = 0.0,
        kd: TensorLike = 0.0,
        *,
        dt: float,
        derivative_time_constant: float = 0.01,
        output_limit: TensorLike | None = None,
        batch_size: int = 1,
        dofs: int = 1,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        if dt <= 0:
            raise ValueError(f"dt must be > 0, got {dt}")
        if derivative_time_constant < 0:
            raise ValueError(f"derivative_time_constant must be >= 0, got {derivative_time_constant}")
        self.batch_size, self.dofs, self.dt = batch_size, dofs, dt
        self.derivative_time_constant = derivative_time_constant
        kw = {"device": device, "dtype": dtype}
        self.register_buffer("kp", per_dof(kp, dofs, "kp").to(**kw))
        self.register_buffer("ki", per_dof(ki, dofs, "ki").to(**kw))
        self.register_buffer("kd", per_dof(kd, dofs, "kd").to(**kw))
        limit = per_dof(float("inf") if output_limit is None else output_limit, dofs, "output_limit")
        if (limit <= 0).any():
            raise ValueError(f"output_limit must be > 0, got {limit.tolist()}")
        self.register_buffer("limit", limit.to(**kw))
        self.register_buffer("integral", torch.zeros(batch_size, dofs, **kw))
        self.register_buffer("derivative", torch.zeros(batch_size, dofs, **kw))
        self.register_buffer("previous_error", torch.zeros(batch_size, dofs, **kw))
        # u0: the command that holds the operating point (e.g. against gravity), added to the PID's.
        self.register_buffer("operating_point", torch.zeros(batch_size, dofs, **kw))
        tau = derivative_time_constant
        self._derivative_decay = tau / (tau + dt)
        self.register_buffer("derivative_gain", self.kd / (tau + dt), persistent=False)
        # With no finite limit the output never saturates: the step skips clipping and anti-windup.
        self._saturates = bool(torch.isfinite(limit).any())
        self.register_buffer("signals", None, persistent=False)  # [e, I, D] (B, D, 3) once individual

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self.derivative_gain = self.kd / (self.derivative_time_constant + self.dt)  # of the loaded kd

    @property
    def adapts(self) -> bool:
        """Whether every env has its own gains (``individual_gains``)."""
        return self.signals is not None

    def individual_gains(self) -> None:
        """Give every env its own copy of the gains, (B, D), and record the signals that multiply
        them. The derivative state restarts: it now holds the derivative without kd."""
        if self.adapts:
            return
        for name in ("kp", "ki", "kd"):
            self._buffers[name] = self._buffers[name].expand(self.batch_size, self.dofs).clone()
        self.derivative.zero_()
        self.register_buffer(
            "signals", self.integral.new_zeros(self.batch_size, self.dofs, 3), persistent=False
        )

    def reset(self, mask: torch.Tensor | None = None) -> None:
        """Clear the integral and derivative memory of the envs in ``mask`` (B,) bool (all when
        None); the operating point and the gains stay."""
        for state in (self.integral, self.derivative, self.previous_error):
            zero_where(state, mask)

    def set_operating_point(self, command: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        """Set the operating-point command u0, added to every command from now on.

        Args:
            command: u0 (B, D), e.g. the torque that holds a posture.
            mask: (B,) bool, the envs to set (None: all).
        """
        command = command.to(self.operating_point)
        if mask is None:
            self.operating_point.copy_(command)
        else:
            self.operating_point[mask] = command[mask]

    def step(self, error: torch.Tensor, feedforward: torch.Tensor | None = None) -> torch.Tensor:
        """One control step.

        Args:
            error: this step's error (B, D).
            feedforward: a command (B, D) added before saturation (FEL), or None.

        Returns:
            The command (B, D), a fresh tensor the caller may keep.
        """
        # In place on the state; the command is a fresh tensor the caller may keep.
        if self.adapts:
            return self._adapting_step(error, feedforward)
        change = torch.sub(error, self.previous_error)
        self.derivative.mul_(self._derivative_decay).addcmul_(self.derivative_gain, change)
        self.previous_error.copy_(error)
        integral = self.integral if not self._saturates else self.integral.clone()
        integral.add_(error, alpha=self.dt)
        raw = torch.addcmul(self.operating_point, self.kp, error)
        raw.addcmul_(self.ki, integral).add_(self.derivative)
        if feedforward is not None:
            raw.add_(feedforward)
        if not self._saturates:
            return raw
        command = torch.clamp(raw, -self.limit, self.limit)
        # Anti-windup: hold the integral while saturated and the error pushes further out.
        winding_up = (raw != command).logical_and_(error * raw > 0)
        torch.where(winding_up, self.integral, integral, out=self.integral)
        return command

    def _adapting_step(self, error: torch.Tensor, feedforward: torch.Tensor | None) -> torch.Tensor:
        """``step`` with individual gains: u = u0 + sum_i k_i x_i, x = [e, I, D] kept in ``signals``."""
        tau, dt = self.derivative_time_constant, self.dt
        self.derivative.mul_(self._derivative_decay).add_(error - self.previous_error, alpha=1 / (tau + dt))
        self.previous_error.copy_(error)
        integral = self.integral + dt * error
        signals = self.signals
        signals[..., 0], signals[..., 1], signals[..., 2] = error, integral, self.derivative
        raw = self.operating_point + (torch.stack((self.kp, self.ki, self.kd), -1) * signals).sum(-1)
        if feedforward is not None:
            raw.add_(feedforward)
        command = torch.clamp(raw, -self.limit, self.limit)
        # Anti-windup as in ``step``; a saturated command does not change with the gains.
        saturated = raw != command
        self.integral.copy_(torch.where(saturated & (error * raw > 0), self.integral, integral))
        signals.mul_(~saturated.unsqueeze(-1))
        return command

    def numpy_step(self) -> Callable[[np.ndarray, np.ndarray | None, np.ndarray], None]:
        """``step`` in numpy on the same buffers (CPU), for the numpy backend.

        One matrix product instead of a dozen elementwise ops (each costs ~1 us whatever its size):
        the state is re-laid as views of one array z = [integral | derivative | previous error |
        error] (B, 4, D), which the torch ``step`` then uses too, and [u - u0; next state] = M z.

        Returns:
            ``step(error, feedforward, command)``, which writes the command into the array
            ``command`` (B, D).

        Raises:
            ValueError: the gains are individual (adapting).
        """
        if self.adapts:
            raise ValueError("a PID with individual (adapting) gains has no numpy step")
        b, d = self.batch_size, self.dofs
        stacked = torch.empty(b, 4, d, dtype=self.integral.dtype)
        for row, name in enumerate(("integral", "derivative", "previous_error")):
            stacked[:, row].copy_(self._buffers[name])
            self._buffers[name] = stacked[:, row]  # the same buffer, now a view into ``stacked``
        kp, ki, gain = (t.double().numpy() for t in (self.kp, self.ki, self.derivative_gain))
        decay, dt, one = self._derivative_decay, self.dt, np.ones(d)
        blocks = [  # rows: u - u0, integral, derivative, previous error; columns: the same and e
            [ki, decay * one, -gain, kp + ki * dt + gain],
            [one, 0 * one, 0 * one, dt * one],
            [0 * one, decay * one, -gain, gain],
            [0 * one, 0 * one, 0 * one, one],
        ]
        system = np.block([[np.diag(c) for c in row] for row in blocks]).T.astype(stacked.numpy().dtype)
        state = stacked.numpy()
        inputs, following = state[:, 3], np.empty_like(state)
        flat_state, flat_following = state.reshape(b, -1), following.reshape(b, -1)
        integral, update = state[:, 0], following[:, 1]
        operating_point, limit = self.operating_point.numpy(), self.limit.numpy()
        lower, saturates = -limit, self._saturates
        raw, winding_up = np.empty_like(inputs), np.empty(inputs.shape, dtype=bool)

        def step(error: np.ndarray, feedforward: np.ndarray | None, command: np.ndarray) -> None:
            inputs[...] = error
            np.matmul(flat_state, system, out=flat_following)
            np.add(following[:, 0], operating_point, out=command)
            if feedforward is not None:
                np.add(command, feedforward, out=command)
            if not saturates:
                state[:, :3] = following[:, 1:]
                return
            # Anti-windup: hold the integral while saturated and the error pushes further out.
            np.multiply(error, command, out=raw)
            np.greater(raw, 0.0, out=winding_up)
            raw[...] = command
            np.minimum(command, limit, out=command)
            np.maximum(command, lower, out=command)
            np.logical_and(winding_up, raw != command, out=winding_up)
            np.logical_not(winding_up, out=winding_up)
            state[:, 1:3] = following[:, 2:]
            np.copyto(integral, update, where=winding_up)

        return step

    def transfer_function(self, dof: int = 0, env: int = 0) -> control.TransferFunction:
        """The exact discrete transfer function C(z) from error to command of one DOF (no limits).

        Args:
            dof: which DOF.
            env: whose gains, where each env has its own (``individual_gains``).

        Returns:
            C(z) with the gains of this moment, period dt.
        """
        kp, ki, kd = (float(g[env, dof] if self.adapts else g[dof]) for g in (self.kp, self.ki, self.kd))
        dt, tau = self.dt, self.derivative_time_constant
        z = control.tf([1, 0], [1], dt)
        controller = control.tf([kp], [1], dt=dt)
        # Zero gains add no term: a 0 * z / (z - 1) term would leave a hidden pole at z = 1.
        if ki:
            controller = controller + ki * dt * z / (z - 1)
        if kd:
            controller = controller + kd * (z - 1) / ((tau + dt) * z - tau)
        return controller
