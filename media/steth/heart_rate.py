"""Heart rate from a phonocardiogram: envelope plus autocorrelation (Springer et al.).

The method follows the heart-rate step of Springer, Tarassenko and Clifford,
"Logistic regression-HSMM-based heart sound segmentation" (IEEE TBME 2016) and
Schmidt et al. (2010) before it:

1. resample to 1 kHz and band-pass 25-400 Hz (4th-order Butterworth, zero phase);
2. homomorphic envelope: ``exp(lowpass_8Hz(log|hilbert(x)|))``, which keeps the
   S1/S2 bursts as smooth humps and flattens amplitude differences between them;
3. downsample the envelope to 200 Hz, remove its mean, autocorrelate;
4. the heart cycle is the highest autocorrelation peak at lags 60/200 to 60/35 s
   (35-200 bpm), refined by parabolic interpolation.

Whether it *is* a heart sound is judged from two things (both in 0..1):
``periodicity`` (the normalised autocorrelation at that peak; speech, breath
sounds and noise have little periodicity at cardiac lags) and ``low_band_fraction``
(share of 20-2,000 Hz energy below 250 Hz; heart sounds live there, voices and
breath sounds mostly above). ``confidence`` combines them; below
:data:`MIN_CONFIDENCE` (or on near-silence, or under :data:`MIN_DURATION_S`) the
estimate is ``None``.

Limits: a rate is the mean over the window (no beat-to-beat rhythm); strongly
irregular rhythms (atrial fibrillation) lower the confidence, often below the
threshold; rates outside 35-200 bpm are not reported; a loud murmur in the bell
band and very low SNR (< ~5 dB) degrade it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

ENVELOPE_RATE_HZ = 200
MIN_BPM = 35.0
MAX_BPM = 200.0
MIN_DURATION_S = 3.0
MIN_CONFIDENCE = 0.35
SILENCE_RMS = 1e-4  # -80 dBFS


@dataclass(frozen=True, slots=True)
class HeartRateAnalysis:
    bpm: float | None  # None: not a usable heart sound
    confidence: float  # 0..1
    periodicity: float  # normalised autocorrelation at the chosen lag, 0..1
    low_band_fraction: float  # energy share below 250 Hz within 20-2,000 Hz
    candidate_bpm: float | None  # the best lag's rate even when rejected
    rms: float


def _homomorphic_envelope(x: npt.NDArray[np.float64], fs: float) -> npt.NDArray[np.float64]:
    from scipy import signal

    analytic = np.abs(signal.hilbert(x))
    b, a = signal.butter(1, 8.0, btype="lowpass", fs=fs)
    log_env = np.log(analytic + 1e-10)
    env: npt.NDArray[np.float64] = np.exp(signal.filtfilt(b, a, log_env))
    return env


def _low_band_fraction(x: npt.NDArray[np.float64], fs: float) -> float:
    from scipy import signal

    freqs, psd = signal.welch(x, fs=fs, nperseg=min(x.size, 4096))
    band = (freqs >= 20) & (freqs <= 2_000)
    total = float(np.sum(psd[band]))
    if total <= 0:
        return 0.0
    return float(np.sum(psd[band & (freqs < 250)]) / total)


def analyze(samples: npt.ArrayLike, sample_rate_hz: float) -> HeartRateAnalysis:
    """Estimate the heart rate of a mono recording (any rate >= 2 kHz)."""
    from scipy import signal

    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    rms = float(np.sqrt(np.mean(x**2))) if x.size else 0.0
    duration_s = x.size / sample_rate_hz
    if duration_s < MIN_DURATION_S or rms < SILENCE_RMS or not np.all(np.isfinite(x)):
        return HeartRateAnalysis(None, 0.0, 0.0, 0.0, None, rms)
    lbf = _low_band_fraction(x, sample_rate_hz)
    fs = 1_000
    up, down = _ratio(fs, sample_rate_hz)
    x1k = signal.resample_poly(x, up, down)
    sos = signal.butter(4, [25.0, 400.0], btype="bandpass", fs=fs, output="sos")
    x1k = signal.sosfiltfilt(sos, x1k)
    env = _homomorphic_envelope(x1k, fs)
    env = signal.resample_poly(env, ENVELOPE_RATE_HZ, fs)
    env = env - np.mean(env)
    energy = float(np.dot(env, env))
    if energy <= 0:
        return HeartRateAnalysis(None, 0.0, 0.0, lbf, None, rms)
    n = env.size
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    spectrum = np.fft.rfft(env, nfft)
    acf = np.fft.irfft(spectrum * np.conj(spectrum), nfft)[:n] / energy  # biased, r[0] = 1
    lo = int(np.floor(ENVELOPE_RATE_HZ * 60.0 / MAX_BPM))
    hi = min(n - 2, int(np.ceil(ENVELOPE_RATE_HZ * 60.0 / MIN_BPM)))
    if hi <= lo + 1:
        return HeartRateAnalysis(None, 0.0, 0.0, lbf, None, rms)
    k = lo + int(np.argmax(acf[lo : hi + 1]))
    # Parabolic interpolation around the peak for sub-sample lag.
    y0, y1, y2 = acf[k - 1], acf[k], acf[k + 1]
    denom = y0 - 2 * y1 + y2
    shift = 0.5 * (y0 - y2) / denom if denom < 0 else 0.0
    lag_s = (k + float(np.clip(shift, -0.5, 0.5))) / ENVELOPE_RATE_HZ
    bpm = 60.0 / lag_s
    # Undo the biased estimator's taper so periodicity does not depend on the lag.
    periodicity = float(np.clip(y1 / max(1e-9, 1.0 - k / n), 0.0, 1.0))
    confidence = float(
        np.clip((periodicity - 0.15) / 0.45, 0.0, 1.0) * np.clip((lbf - 0.2) / 0.4, 0.0, 1.0)
    )
    accepted = confidence >= MIN_CONFIDENCE and (MIN_BPM <= bpm <= MAX_BPM)
    return HeartRateAnalysis(
        round(bpm, 1) if accepted else None,
        round(confidence, 3),
        round(periodicity, 3),
        round(lbf, 3),
        round(bpm, 1),
        rms,
    )


def estimate_heart_rate(
    samples: npt.ArrayLike, sample_rate_hz: float
) -> tuple[float | None, float]:
    """``(bpm or None, confidence 0..1)`` for a mono recording."""
    result = analyze(samples, sample_rate_hz)
    return result.bpm, result.confidence


def _ratio(target_hz: int, source_hz: float) -> tuple[int, int]:
    from math import gcd

    src = round(source_hz)
    g = gcd(target_hz, src)
    return target_hz // g, src // g
