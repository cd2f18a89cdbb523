"""Heart rate: within ±3 bpm over 40-180 bpm at 10-20 dB SNR, with and without a murmur;
no heart rate for speech-like sound, breath sounds, white noise and silence."""

from __future__ import annotations

import numpy as np
import pytest

from media.steth import synth
from media.steth.heart_rate import analyze, estimate_heart_rate

FS = 4_000
RATES = [*list(range(40, 181, 10)), 47, 113, 177]


@pytest.mark.parametrize("murmur", [False, True], ids=["clean", "murmur"])
@pytest.mark.parametrize("snr_db", [10.0, 20.0])
@pytest.mark.parametrize("bpm", RATES)
def test_heart_rate_within_3_bpm(bpm: int, snr_db: float, murmur: bool) -> None:
    x = synth.heart_sound(bpm, 10.0, sample_rate_hz=FS, murmur=murmur, snr_db=snr_db, seed=bpm)
    estimate, confidence = estimate_heart_rate(x, FS)
    assert estimate is not None, f"{bpm} bpm rejected (confidence {confidence})"
    assert abs(estimate - bpm) <= 3.0
    assert 0.35 <= confidence <= 1.0


def test_heart_rate_at_48_khz_like_a_device() -> None:
    x = synth.heart_sound(66, 8.0, sample_rate_hz=48_000, snr_db=15.0, seed=9)
    estimate, _ = estimate_heart_rate(x, 48_000)
    assert estimate is not None and abs(estimate - 66) <= 3.0


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_speech_like_sound_has_no_heart_rate(seed: int) -> None:
    result = analyze(synth.speech_like(10.0, seed=seed), 16_000)
    assert result.bpm is None
    assert result.confidence < 0.35


def test_lung_sound_has_no_heart_rate() -> None:
    assert analyze(synth.lung_sound(10.0), 8_000).bpm is None


@pytest.mark.parametrize("fs", [4_000, 48_000])
def test_white_noise_has_no_heart_rate(fs: int) -> None:
    noise = 0.1 * np.random.default_rng(fs).standard_normal(10 * fs)
    assert estimate_heart_rate(noise, fs)[0] is None


def test_low_passed_noise_has_no_heart_rate() -> None:
    """Noise in the heart band (passes the spectral test) fails the periodicity test."""
    from scipy import signal

    noise = np.random.default_rng(5).standard_normal(10 * FS)
    low = signal.sosfilt(signal.butter(4, [25, 150], "bandpass", fs=FS, output="sos"), noise)
    result = analyze(low, FS)
    assert result.low_band_fraction > 0.6
    assert result.bpm is None


def test_silence_and_too_short_have_no_heart_rate() -> None:
    assert estimate_heart_rate(np.zeros(10 * FS), FS) == (None, 0.0)
    short = synth.heart_sound(72, 2.0, sample_rate_hz=FS)
    assert estimate_heart_rate(short, FS) == (None, 0.0)


def test_very_low_snr_loses_confidence() -> None:
    clean = analyze(synth.heart_sound(72, 10.0, sample_rate_hz=FS, snr_db=20.0), FS)
    noisy = analyze(synth.heart_sound(72, 10.0, sample_rate_hz=FS, snr_db=-10.0), FS)
    assert noisy.confidence < clean.confidence
