"""Synthetic heart, lung and speech-like sounds for tests, benchmarks and the demo.

Heart sounds follow the textbook picture: S1 (mitral/tricuspid closure) is a
~100 ms burst of damped 30-100 Hz components, S2 (aortic/pulmonic closure) a
shorter, slightly higher 50-150 Hz burst; the S1-S2 (systolic) interval shortens
with rate (``0.33 * sqrt(cycle_s)`` s: 0.33 s at 60 bpm, 0.19 s at 180 bpm, as
QT-like Bazett scaling). A systolic murmur is band-limited 100-600 Hz noise with
a crescendo-decrescendo (diamond) envelope between S1 and S2. Noise is
band-limited 20-2,000 Hz (body and room noise as a stethoscope picks it up) and
scaled so the *signal-to-noise ratio in that band* is ``snr_db``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def _bandlimited_noise(
    rng: np.random.Generator, n: int, sample_rate_hz: float, low_hz: float, high_hz: float
) -> FloatArray:
    from scipy import signal

    sos = signal.butter(
        4,
        [low_hz, min(high_hz, 0.45 * sample_rate_hz)],
        btype="bandpass",
        fs=sample_rate_hz,
        output="sos",
    )
    noise: FloatArray = signal.sosfilt(sos, rng.standard_normal(n))
    return noise


def _burst(
    t: FloatArray,
    components: list[tuple[float, float]],
    duration_s: float,
    rng: np.random.Generator,
) -> FloatArray:
    """Damped sinusoids ``(freq_hz, amplitude)`` under a Hann-like envelope."""
    env = np.where(t < duration_s, np.sin(np.pi * np.clip(t / duration_s, 0, 1)) ** 2, 0.0)
    out = np.zeros_like(t)
    for freq_hz, amplitude in components:
        phase = rng.uniform(0, 2 * np.pi)
        out += amplitude * np.sin(2 * np.pi * freq_hz * t + phase) * np.exp(-t / (duration_s / 2))
    return out * env


def heart_sound(
    bpm: float,
    duration_s: float = 10.0,
    *,
    sample_rate_hz: int = 4_000,
    murmur: bool = False,
    snr_db: float | None = None,
    variability: float = 0.02,
    seed: int = 0,
) -> FloatArray:
    """A phonocardiogram at ``bpm`` (mean), peak-normalised to 0.5, float64 mono.

    ``variability`` is the beat-to-beat jitter of the cycle length (fraction).
    ``snr_db`` None means no added noise.
    """
    rng = np.random.default_rng(seed)
    n = round(duration_s * sample_rate_hz)
    out = np.zeros(n)
    cycle_s = 60.0 / bpm
    murmur_noise = _bandlimited_noise(rng, n, sample_rate_hz, 100.0, 600.0) if murmur else None
    t0 = rng.uniform(0, cycle_s)
    seg_len = round(0.16 * sample_rate_hz)
    t_seg = np.arange(seg_len) / sample_rate_hz
    while t0 < duration_s:
        this_cycle = cycle_s * (1 + variability * rng.standard_normal())
        systole_s = 0.33 * np.sqrt(this_cycle)
        for onset_s, comps, dur_s, gain in (
            (t0, [(35.0, 0.6), (55.0, 1.0), (90.0, 0.5)], 0.11, 1.0),
            (t0 + systole_s, [(60.0, 0.7), (100.0, 1.0), (150.0, 0.4)], 0.08, 0.7),
        ):
            start = round(onset_s * sample_rate_hz)
            if start >= n:
                continue
            seg = gain * _burst(t_seg, comps, dur_s, rng)
            stop = min(n, start + seg_len)
            out[start:stop] += seg[: stop - start]
        if murmur_noise is not None:
            start = round((t0 + 0.10) * sample_rate_hz)
            stop = min(n, round((t0 + systole_s - 0.01) * sample_rate_hz))
            if start < stop:
                k = np.arange(stop - start) / max(1, stop - start - 1)
                diamond = 1.0 - np.abs(2 * k - 1)
                m = murmur_noise[start:stop]
                out[start:stop] += 0.35 * diamond * m / (np.std(murmur_noise) + 1e-12)
        t0 += this_cycle
    out *= 0.5 / (np.max(np.abs(out)) + 1e-12)
    if snr_db is not None:
        out = add_noise(out, snr_db, sample_rate_hz=sample_rate_hz, seed=seed + 1)
    return out


def add_noise(
    clean: FloatArray, snr_db: float, *, sample_rate_hz: float, seed: int = 1
) -> FloatArray:
    """``clean`` plus 20-2,000 Hz noise at ``snr_db`` (power ratio in that band)."""
    rng = np.random.default_rng(seed)
    noise = _bandlimited_noise(rng, clean.size, sample_rate_hz, 20.0, 2_000.0)
    p_signal = float(np.mean(clean**2))
    p_noise = float(np.mean(noise**2)) + 1e-20
    noise *= np.sqrt(p_signal / p_noise / 10 ** (snr_db / 10))
    return clean + noise


def lung_sound(
    duration_s: float = 10.0,
    *,
    sample_rate_hz: int = 8_000,
    breaths_per_min: float = 15.0,
    seed: int = 0,
) -> FloatArray:
    """Vesicular breath sounds: 100-1,000 Hz noise under a breathing envelope
    (inspiration louder than expiration), peak about 0.5."""
    rng = np.random.default_rng(seed)
    n = round(duration_s * sample_rate_hz)
    t = np.arange(n) / sample_rate_hz
    noise = _bandlimited_noise(rng, n, sample_rate_hz, 100.0, 1_000.0)
    phase = (t * breaths_per_min / 60.0) % 1.0
    # 40 % inspiration (loud), 60 % expiration (softer and fading).
    env = np.where(
        phase < 0.4, np.sin(np.pi * phase / 0.4), 0.4 * np.sin(np.pi * (phase - 0.4) / 0.6)
    )
    out = noise * env
    out *= 0.5 / (np.max(np.abs(out)) + 1e-12)
    return out


def speech_like(
    duration_s: float = 10.0, *, sample_rate_hz: int = 16_000, seed: int = 0
) -> FloatArray:
    """Vowel-like bursts: a glottal pulse train (f0 90-220 Hz) through formant
    resonators, syllables of random length separated by random gaps (no espeak)."""
    from scipy import signal

    rng = np.random.default_rng(seed)
    n = round(duration_s * sample_rate_hz)
    out = np.zeros(n)
    vowels = [
        (730, 1090, 2440),
        (270, 2290, 3010),
        (300, 870, 2240),
        (530, 1840, 2480),
        (660, 1720, 2410),
        (570, 840, 2410),
    ]
    pos = 0
    while pos < n:
        syl = round(rng.uniform(0.08, 0.32) * sample_rate_hz)
        f0 = rng.uniform(90, 220)
        pulses = np.zeros(syl)
        pulses[:: max(1, round(sample_rate_hz / f0))] = 1.0
        voiced = pulses
        for formant_hz in vowels[rng.integers(len(vowels))]:
            b, a = signal.iirpeak(formant_hz, Q=8.0, fs=sample_rate_hz)
            voiced = voiced + 0.5 * signal.lfilter(b, a, pulses)
        env = np.sin(np.pi * np.arange(syl) / syl) ** 0.5
        stop = min(n, pos + syl)
        out[pos:stop] += (voiced * env)[: stop - pos]
        pos = stop + round(rng.uniform(0.03, 0.25) * sample_rate_hz)
    out *= 0.5 / (np.max(np.abs(out)) + 1e-12)
    return out
