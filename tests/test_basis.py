import numpy as np
import pytest
import torch

from cfpc_gym.controllers import AlphaBasis, RaisedCosineBasis, TappedDelayLine, TimeTable

F64 = torch.float64


def drive(basis, cue: np.ndarray) -> np.ndarray:
    """Step a basis through a cue sequence (steps, B, M); features (steps, B, F)."""
    return np.stack([basis.step(torch.as_tensor(c, dtype=F64)).numpy() for c in cue])


def pulse(steps: int, onset: int, width: int = 3, batch: int = 1) -> np.ndarray:
    cue = np.zeros((steps, batch, 1))
    cue[onset : onset + width] = 1.0
    return cue


def test_raised_cosines_are_zero_before_the_cue_and_sum_to_one_over_their_span():
    dt = 0.01
    basis = RaisedCosineBasis(1, 11, dt, start=0.0, span=1.0, overlap=1.0, dtype=F64)
    phi = drive(basis, pulse(200, onset=20))[:, 0]
    assert np.all(phi[:20] == 0)
    np.testing.assert_allclose(phi[20:121].sum(axis=1), 1.0, atol=1e-12)
    peaks = phi.argmax(axis=0)
    np.testing.assert_array_equal(peaks, 20 + np.arange(11) * 10)  # centres every 0.1 s after onset


def test_alpha_kernels_peak_at_one_and_later_for_slower_time_constants():
    basis = AlphaBasis(1, 6, 0.005, min_time_constant=0.02, max_time_constant=0.5, dtype=F64)
    cue = np.zeros((800, 1, 1))
    cue[10] = 1.0  # a unit impulse
    phi = drive(basis, cue)[:, 0]
    np.testing.assert_allclose(phi.max(axis=0), 1.0, rtol=1e-12)
    assert np.all(np.diff(phi.argmax(axis=0)) > 0)


def test_tapped_delay_line_delays_the_cue_by_whole_strides():
    cue = np.random.default_rng(1).standard_normal((50, 2, 1))
    phi = drive(TappedDelayLine(1, 4, 0.01, stride=3, batch_size=2, dtype=F64), cue)
    for tap in range(4):
        lag = 3 * tap
        np.testing.assert_array_equal(phi[lag:, :, tap], cue[: 50 - lag, :, 0])


@pytest.mark.parametrize("kind", [RaisedCosineBasis, AlphaBasis, TappedDelayLine, TimeTable])
def test_masked_reset_clears_only_the_masked_envs(kind):
    kept, reset = (kind(2, 5, 0.01, batch_size=3, dtype=F64) for _ in range(2))
    cue = pulse(30, onset=27, batch=3).repeat(2, axis=2)  # late enough that every basis holds it
    drive(kept, cue), drive(reset, cue)
    reset.reset(torch.tensor([False, True, False]))
    zero = torch.zeros(3, 2, dtype=F64)
    after_kept, after_reset = kept.step(zero).numpy(), reset.step(zero).numpy()
    fresh = kind(2, 5, 0.01, batch_size=1, dtype=F64).step(torch.zeros(1, 2, dtype=F64)).numpy()
    np.testing.assert_allclose(after_reset[1], fresh[0])
    np.testing.assert_allclose(after_reset[[0, 2]], after_kept[[0, 2]])
    assert not np.allclose(after_kept[0], fresh[0]), "the unmasked envs must keep their memory"


@pytest.mark.parametrize("kind", [RaisedCosineBasis, AlphaBasis, TappedDelayLine, TimeTable])
def test_a_reset_keeps_the_constants_when_the_basis_is_as_large_as_the_batch(kind):
    used, fresh = (kind(1, 3, 0.01, batch_size=3, dtype=F64) for _ in range(2))
    drive(used, pulse(30, onset=5, batch=3))
    used.reset()
    cue = pulse(40, onset=2, batch=3)
    features = drive(fresh, cue)
    assert np.abs(features).sum() > 0
    np.testing.assert_allclose(drive(used, cue), features, atol=1e-12)


def test_time_table_marks_each_step_since_the_cue_onset_with_the_onset_value():
    cue = pulse(12, onset=3, batch=2)
    cue[5:8] = 1.0  # a held cue is one onset, not several
    cue[:, 1] *= -0.7  # a graded cue (e.g. a target direction) scales its table row
    phi = drive(TimeTable(1, 6, 0.01, batch_size=2, dtype=F64), cue)
    np.testing.assert_array_equal(phi[:3], 0.0)  # nothing before the onset
    for k in range(3, 12):
        expected = np.zeros(6)
        if k - 3 < 6:
            expected[k - 3] = 1.0  # one entry per step since onset; none past the table
        np.testing.assert_array_equal(phi[k, 0], expected)
        np.testing.assert_array_equal(phi[k, 1], -0.7 * expected)


def test_state_dict_round_trip_keeps_the_delay_line_head():
    line = TappedDelayLine(1, 3, 0.01, dtype=F64)
    for value in (1.0, 2.0):
        line.step(torch.tensor([[value]], dtype=F64))
    copy = TappedDelayLine(1, 3, 0.01, dtype=F64)
    copy.load_state_dict(line.state_dict())
    np.testing.assert_array_equal(copy.step(torch.tensor([[3.0]], dtype=F64)).numpy(), [[3.0, 2.0, 1.0]])


def test_the_raised_cosine_table_is_built_on_the_basis_device():
    # The table is computed on the CPU in float64 and moved: any device builds (meta has no data).
    basis = RaisedCosineBasis(1, 5, 0.01, device="meta")
    assert basis.table.device.type == "meta" and basis.centres.device.type == "meta"
