"""Forward models identified from data: least squares on a probing run that injected the
feed-forward output o and recorded the sensed output.

- ``identify_fir``: an impulse response (MIMO allowed);
- ``identify_arx``: a SISO ARX model (poles and zeros);
- ``variance_accounted_for``: how well a model's prediction fits what was measured.
"""

from __future__ import annotations

from collections.abc import Sequence

import control
import numpy as np

from .forward_models import ForwardModel

Signal = np.ndarray | Sequence[np.ndarray]  # one run (N, D), or several runs each from rest


def _segments(signal: Signal) -> list[np.ndarray]:
    runs = [signal] if isinstance(signal, np.ndarray) else list(signal)
    return [np.asarray(r, dtype=np.float64).reshape(len(r), -1) for r in runs]


def _lagged(signal: Signal, lags: range) -> np.ndarray:
    """Columns signal[k - lag] for each lag, zero before each run's start: (sum N, len(lags) * D)."""
    blocks = []
    for run in _segments(signal):
        columns = []
        for lag in lags:
            shifted = np.zeros_like(run)
            if lag < len(run):  # a lag longer than the run: a zero column, which the rank check reports
                shifted[lag:] = run[: len(run) - lag]
            columns.append(shifted)
        blocks.append(np.concatenate(columns, axis=1))
    return np.concatenate(blocks, axis=0)


def identify_fir(inputs: Signal, outputs: Signal, taps: int, dt: float) -> ForwardModel:
    """Fit an FIR model y[k] = sum_j H_j o[k - j], j < taps, by least squares (MIMO allowed).

    Args:
        inputs: the injected o, one run (N, D_in) or several runs, each from rest.
        outputs: the sensed responses (N, D_out), run for run.
        taps: how many Markov parameters H_0 ... H_{taps-1} to fit.
        dt: the control period in seconds.

    Returns:
        The FIR filter as a state space (its state: the last ``taps - 1`` inputs).

    Raises:
        ValueError: the probe does not excite every lag (a singular fit).

    Example:
        >>> o = np.random.default_rng(0).standard_normal((500, 1))
        >>> y = np.concatenate([[[0.0]], 0.5 * o[:-1]])  # y[k] = 0.5 o[k - 1]
        >>> model = identify_fir(o, y, taps=3, dt=0.01)
        >>> np.round(model.impulse_response(3)[:, 0, 0], 6).tolist()
        [0.0, 0.5, 0.0]
    """
    regressors = _lagged(inputs, range(taps))
    outputs = np.concatenate(_segments(outputs))
    d_in = _segments(inputs)[0].shape[1]
    _check_rank(regressors, "FIR fit")
    solution, *_ = np.linalg.lstsq(regressors, outputs, rcond=None)  # (taps * D_in, D_out)
    d_out = outputs.shape[1]
    markov = solution.reshape(taps, d_in, d_out).transpose(0, 2, 1)  # H_j: (D_out, D_in)
    n = (taps - 1) * d_in
    a, b = np.zeros((n, n)), np.zeros((n, d_in))
    if n:  # state: the last taps - 1 inputs, newest first
        a[d_in:, : n - d_in] = np.eye(n - d_in)
        b[:d_in] = np.eye(d_in)
    c = np.concatenate(list(markov[1:]), axis=1) if n else np.zeros((d_out, 0))
    return ForwardModel(a, b, c, markov[0], dt)


def identify_arx(
    inputs: Signal, outputs: Signal, poles: int, zeros: int, delay: int, dt: float
) -> ForwardModel:
    """Fit a SISO ARX model y[k] = -sum_i a_i y[k-i] + sum_j b_j o[k-delay-j] by least squares.

    Args:
        inputs: the injected o, one run (N, 1) or several runs, each from rest.
        outputs: the sensed responses (N, 1), run for run.
        poles: how many past outputs (a_1 ... a_poles).
        zeros: how many input lags beyond the first (b_0 ... b_zeros).
        delay: the steps before o reaches the output (the loop's delays plus one).
        dt: the control period in seconds.

    Returns:
        The identified model, stable.

    Raises:
        ValueError: several DOFs, a singular fit, or an unstable model.
    """
    if _segments(inputs)[0].shape[1] != 1 or _segments(outputs)[0].shape[1] != 1:
        raise ValueError("identify_arx fits SISO models; use identify_fir for several DOFs")
    regressors = np.concatenate(
        [-_lagged(outputs, range(1, poles + 1)), _lagged(inputs, range(delay, delay + zeros + 1))], axis=1
    )
    _check_rank(regressors, "ARX fit")
    theta, *_ = np.linalg.lstsq(regressors, np.concatenate(_segments(outputs))[:, 0], rcond=None)
    a_poly = np.concatenate([[1.0], theta[:poles]])
    b_poly = np.concatenate([np.zeros(delay), theta[poles:]])
    order = max(len(a_poly), len(b_poly))
    a_poly = np.pad(a_poly, (0, order - len(a_poly)))  # polynomials in z^-1 -> in z
    b_poly = np.pad(b_poly, (0, order - len(b_poly)))
    model = ForwardModel.from_system(control.tf(b_poly, a_poly, dt))
    if not model.is_stable():
        raise ValueError("the identified ARX model is unstable: probe longer, or use fewer poles or FIR")
    return model


def variance_accounted_for(measured: np.ndarray, predicted: np.ndarray) -> float:
    """The variance accounted for, VAF = 1 - var(measured - predicted) / var(measured).

    Args:
        measured: what was measured, any shape.
        predicted: a model's prediction of it, the same shape.

    Returns:
        1 for a perfect prediction, 0 for one no better than the mean, negative for worse.

    Example:
        >>> variance_accounted_for(np.array([1.0, -1.0]), np.array([0.5, -0.5]))
        0.75
    """
    measured, predicted = np.asarray(measured), np.asarray(predicted)
    return float(1.0 - np.var(measured - predicted) / np.var(measured))


def _check_rank(regressors: np.ndarray, what: str) -> None:
    if np.linalg.matrix_rank(regressors) < regressors.shape[1]:
        raise ValueError(
            f"{what} is singular: the probe does not excite every lag; probe longer or with noise"
        )
