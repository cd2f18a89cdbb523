"""Offline half of ``bench.steth_fidelity``: how intact a sound arrived.

:func:`compare(sent, received, sample_rate_hz)` aligns ``received`` to ``sent`` by
cross-correlation (the lag is the latency), then reports the mean
magnitude-squared coherence over 20-1,000 Hz (``scipy.signal.coherence``,
Welch segments of ~0.17 s so the lowest band still has bins), the level
difference in dB (received RMS over sent RMS on the overlap) and the lag.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

BAND_HZ = (20.0, 1_000.0)


@dataclass(frozen=True, slots=True)
class Fidelity:
    coherence_20_1000hz: float  # mean MSC in the band, 0..1
    coherence_min_20_1000hz: float  # the worst bin
    level_diff_db: float  # received minus sent
    latency_ms: float  # received lags sent by this much (negative: leads)


def align_lag(sent: npt.ArrayLike, received: npt.ArrayLike, max_lag: int | None = None) -> int:
    """Samples by which ``received`` lags ``sent`` (FFT cross-correlation)."""
    from scipy import signal

    a = np.asarray(sent, dtype=np.float64)
    b = np.asarray(received, dtype=np.float64)
    corr = signal.correlate(b - b.mean(), a - a.mean(), mode="full", method="fft")
    lags = signal.correlation_lags(b.size, a.size, mode="full")
    if max_lag is not None:
        keep = np.abs(lags) <= max_lag
        corr, lags = corr[keep], lags[keep]
    return int(lags[int(np.argmax(np.abs(corr)))])


def compare(
    sent: npt.ArrayLike,
    received: npt.ArrayLike,
    sample_rate_hz: float,
    *,
    max_lag_s: float = 1.0,
) -> Fidelity:
    from scipy import signal

    a = np.asarray(sent, dtype=np.float64).reshape(-1)
    b = np.asarray(received, dtype=np.float64).reshape(-1)
    lag = align_lag(a, b, round(max_lag_s * sample_rate_hz))
    if lag >= 0:
        b = b[lag:]
    else:
        a = a[-lag:]
    n = min(a.size, b.size)
    a, b = a[:n], b[:n]
    nperseg = min(n, 1 << int(np.round(np.log2(sample_rate_hz / 6))))
    freqs, msc = signal.coherence(a, b, fs=sample_rate_hz, nperseg=nperseg)
    band = (freqs >= BAND_HZ[0]) & (freqs <= BAND_HZ[1])
    rms_a = float(np.sqrt(np.mean(a**2))) + 1e-20
    rms_b = float(np.sqrt(np.mean(b**2))) + 1e-20
    return Fidelity(
        coherence_20_1000hz=float(np.mean(msc[band])),
        coherence_min_20_1000hz=float(np.min(msc[band])),
        level_diff_db=float(20 * np.log10(rms_b / rms_a)),
        latency_ms=1000.0 * lag / sample_rate_hz,
    )
