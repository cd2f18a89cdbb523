"""Stethoscope WAV clips: round trips, and corrupt/truncated/unsupported files rejected."""

from __future__ import annotations

import contextlib
import io
import struct
import wave
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import MediaFileError
from app.records import (
    AttachmentKind,
    AuscultationSite,
    StethoscopeFilter,
    check_attachment_metadata,
)
from media.steth import synth
from media.steth.recording import ClipMetadata, decode_wav, encode_wav, read_wav, write_wav


@pytest.mark.parametrize("bits", [16, 24])
def test_round_trip(tmp_path: Path, bits: int) -> None:
    x = synth.heart_sound(72, 2.0, sample_rate_hz=8_000, murmur=True, snr_db=20.0)
    path = tmp_path / "clip.wav"
    write_wav(path, x, 8_000, bits=bits)
    clip = read_wav(path)
    assert clip.sample_rate_hz == 8_000 and clip.bits == bits
    assert clip.samples.size == x.size
    assert np.max(np.abs(clip.samples - x)) <= 1.0 / (1 << (bits - 1))
    assert clip.duration_s == pytest.approx(2.0)


def test_full_scale_and_negative_extremes_survive_24_bit() -> None:
    x = np.array([-1.0, -0.5, 0.0, 0.5, 1.0, 2.0])
    clip = decode_wav(encode_wav(x, 8_000, bits=24))
    np.testing.assert_allclose(clip.samples, np.clip(x, -1, 1), atol=2e-7)


def test_stereo_is_mixed_to_mono() -> None:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8_000)
        w.writeframes(struct.pack("<4h", 16384, 0, 16384, 0))
    clip = decode_wav(buf.getvalue())
    np.testing.assert_allclose(clip.samples, [0.25, 0.25])


def _wav(bits: int = 16, rate: int = 8_000, frames: int = 800) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(bits // 8)
        w.setframerate(rate)
        w.writeframes(b"\x01" * (bits // 8) * frames)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not a PCM WAV"),
        (b"hello, not audio at all", "not a PCM WAV"),
        (b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk", "not a PCM WAV"),
        (_wav()[:-400], "truncated"),
        (_wav()[:44], "truncated"),
        (_wav(bits=8), "8-bit"),
        (_wav(rate=1_000), "sample rate"),
        # IEEE float (format tag 3) is not PCM
        (_wav()[:20] + struct.pack("<H", 3) + _wav()[22:], "not a PCM WAV"),
    ],
    ids=["empty", "text", "no-chunks", "truncated", "header-only", "8bit", "rate", "float"],
)
def test_bad_files_raise_media_file_error(data: bytes, reason: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(data)
    with pytest.raises(MediaFileError) as info:
        read_wav(path)
    assert reason in info.value.user_message()
    assert "bad.wav" in info.value.user_message()


def test_missing_file_raises_media_file_error(tmp_path: Path) -> None:
    with pytest.raises(MediaFileError):
        read_wav(tmp_path / "absent.wav")


def test_metadata_is_what_the_store_accepts() -> None:
    meta = ClipMetadata(
        site=AuscultationSite.LUNG_LEFT_UPPER,
        filter=StethoscopeFilter.LUNG,
        duration_s=12.3456,
        sample_rate_hz=48_000,
        heart_rate_bpm=71.26,
        heart_rate_confidence=0.91234,
    )
    checked = check_attachment_metadata(AttachmentKind.AUDIO, meta.attachment_metadata())
    assert checked["auscultation_site"] == "lung_left_upper"
    assert checked["heart_rate_bpm"] == 71.3
    no_hr = ClipMetadata(AuscultationSite.MITRAL, StethoscopeFilter.BELL, 5.0, 8_000)
    assert "heart_rate_bpm" not in no_hr.attachment_metadata()


@given(st.binary(max_size=200))
@settings(max_examples=300, deadline=None)
def test_random_bytes_only_ever_raise_media_file_error(data: bytes) -> None:
    with contextlib.suppress(MediaFileError):
        decode_wav(b"RIFF" + data)


@given(st.integers(min_value=0, max_value=843))
@settings(max_examples=100, deadline=None)
def test_any_truncation_is_rejected_or_shorter(cut: int) -> None:
    data = _wav(frames=400)
    try:
        clip = decode_wav(data[:cut])
    except MediaFileError:
        return
    assert clip.samples.size <= 400
