"""Offline fidelity metrics: identity is perfect; Opus music mode beats voice mode."""

from __future__ import annotations

import numpy as np
import pytest

from media.steth import synth
from media.steth.fidelity import align_lag, compare
from media.steth.track import float_to_frame, frame_to_float

FS = 48_000


def test_identity_is_perfect() -> None:
    x = synth.heart_sound(72, 4.0, sample_rate_hz=FS, snr_db=20.0)
    f = compare(x, x, FS)
    assert f.coherence_20_1000hz == pytest.approx(1.0, abs=1e-6)
    assert f.level_diff_db == pytest.approx(0.0, abs=1e-6)
    assert f.latency_ms == 0.0


def test_delay_and_gain_are_measured() -> None:
    x = synth.lung_sound(4.0, sample_rate_hz=FS)
    delayed = np.concatenate([np.zeros(2_400), 0.5 * x])  # 50 ms, -6 dB
    f = compare(x, delayed, FS)
    assert f.latency_ms == pytest.approx(50.0, abs=0.1)
    assert f.level_diff_db == pytest.approx(-6.02, abs=0.05)
    assert f.coherence_20_1000hz > 0.999
    assert align_lag(delayed, x) == -2_400


def test_unrelated_noise_is_incoherent() -> None:
    rng = np.random.default_rng(0)
    f = compare(rng.standard_normal(4 * FS), rng.standard_normal(4 * FS), FS)
    assert f.coherence_20_1000hz < 0.2


def _opus_round_trip(x: np.ndarray, bitrate_bps: int, application: str) -> np.ndarray:
    import av

    enc = av.CodecContext.create("libopus", "w")
    enc.sample_rate = FS
    enc.layout = "mono"
    enc.format = "s16"
    enc.bit_rate = bitrate_bps
    enc.options = {"application": application}
    dec = av.CodecContext.create("libopus", "r")
    dec.sample_rate = FS
    dec.layout = "mono"
    out = []
    for i in range(0, x.size - 960, 960):
        for packet in enc.encode(float_to_frame(x[i : i + 960], i)):
            out.extend(frame_to_float(f) for f in dec.decode(packet))
    return np.concatenate(out)


@pytest.mark.parametrize("make", ["heart", "lung"])
def test_opus_music_mode_keeps_the_sound_voice_mode_does_not(make: str) -> None:
    x = (
        synth.heart_sound(72, 6.0, sample_rate_hz=FS, murmur=True, snr_db=20.0)
        if make == "heart"
        else synth.lung_sound(6.0, sample_rate_hz=FS)
    )
    music = compare(x, _opus_round_trip(x, 128_000, "audio"), FS)
    voice = compare(x, _opus_round_trip(x, 12_000, "voip"), FS)
    assert music.coherence_20_1000hz >= 0.95
    assert abs(music.level_diff_db) < 1.0
    assert voice.coherence_20_1000hz < music.coherence_20_1000hz
    assert 0 <= music.latency_ms < 40  # the codec's look-ahead, not a network
