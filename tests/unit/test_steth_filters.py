"""Stethoscope filters: responses at the documented corners, block continuity, no clicks."""

from __future__ import annotations

import numpy as np
import pytest

from app.records import StethoscopeFilter
from media.steth.filters import BANDS, StethFilter, design_sos, filter_signal

FS = 48_000


def gain_db(mode: StethoscopeFilter, freq_hz: float, fs: int = FS) -> float:
    from scipy import signal

    _, h = signal.sosfreqz(design_sos(mode, fs), worN=[freq_hz], fs=fs)
    return float(20 * np.log10(abs(h[0])))


@pytest.mark.parametrize("mode", list(StethoscopeFilter))
def test_corners_are_minus_3_db_and_centre_passes(mode: StethoscopeFilter) -> None:
    band = BANDS[mode]
    assert gain_db(mode, band.low_hz) == pytest.approx(-3.01, abs=0.1)
    assert gain_db(mode, band.high_hz) == pytest.approx(-3.01, abs=0.1)
    centre = float(np.sqrt(band.low_hz * band.high_hz))
    assert gain_db(mode, centre) > -1.0
    # Stop bands: an octave outside a corner is >= ~10 dB down (2nd-order sides).
    assert gain_db(mode, band.low_hz / 4) < -20.0
    assert gain_db(mode, band.high_hz * 4) < -20.0


def test_bell_keeps_low_and_lung_rejects_it() -> None:
    assert gain_db(StethoscopeFilter.BELL, 50) > -1.0
    assert gain_db(StethoscopeFilter.LUNG, 50) < -6.0
    assert gain_db(StethoscopeFilter.LUNG, 800) > -1.0
    assert gain_db(StethoscopeFilter.BELL, 800) < -20.0


@pytest.mark.parametrize("fs", [8_000, 16_000, 44_100, 48_000])
def test_designs_are_stable_at_supported_rates(fs: int) -> None:
    for mode in StethoscopeFilter:
        sos = design_sos(mode, fs)
        for section in sos:
            assert np.all(np.abs(np.roots(section[3:])) < 1.0)


@pytest.mark.parametrize("mode", list(StethoscopeFilter))
def test_blockwise_output_equals_whole_signal_output(mode: StethoscopeFilter) -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal(FS // 2)
    whole = filter_signal(x, FS, mode)
    f = StethFilter(FS, mode)
    sizes = [1, 7, 480, 1024, 333, 0, 4096]
    out, pos, i = [], 0, 0
    while pos < x.size:
        n = sizes[i % len(sizes)]
        out.append(f.process(x[pos : pos + n]))
        pos += n
        i += 1
    np.testing.assert_allclose(np.concatenate(out), whole, rtol=0, atol=1e-12)


def _max_step(y: np.ndarray) -> float:
    return float(np.max(np.abs(np.diff(y))))


def test_switching_filters_does_not_click() -> None:
    """Crossfaded output's sample-to-sample step stays within the steps of the two filters
    it fades between, while a hard switch (the failure mode) jumps far beyond them."""
    t = np.arange(FS) / FS
    x = 0.5 * np.sin(2 * np.pi * 60 * t) + 0.3 * np.sin(2 * np.pi * 900 * t)
    bell = filter_signal(x, FS, StethoscopeFilter.BELL)
    lung = filter_signal(x, FS, StethoscopeFilter.LUNG)
    bound = max(_max_step(bell), _max_step(lung))
    f = StethFilter(FS, StethoscopeFilter.BELL)
    out = []
    for i, start in enumerate(range(0, x.size, 480)):
        if i == 50:
            f.set_mode(StethoscopeFilter.LUNG)
        out.append(f.process(x[start : start + 480]))
    y = np.concatenate(out)
    assert f.mode is StethoscopeFilter.LUNG
    assert _max_step(y) <= 1.05 * bound
    # After the fade the output is exactly the new filter's (its state was kept warm).
    np.testing.assert_allclose(y[-FS // 4 :], lung[-FS // 4 :], atol=1e-12)
    hard = np.concatenate([bell[: 50 * 480], lung[50 * 480 :]])
    # the switch instant of a hard cut: at least as big a jump as the signals' difference there
    assert abs(hard[50 * 480] - hard[50 * 480 - 1]) > abs(lung[50 * 480] - bell[50 * 480]) * 0.5
    assert abs(lung[50 * 480] - bell[50 * 480]) > 3 * bound  # a click the fade avoided
