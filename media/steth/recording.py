"""Stethoscope clips as WAV files (stdlib ``wave`` + numpy) and their metadata.

Writes 16- or 24-bit PCM mono; reads 16/24/32-bit PCM, mono or multichannel
(mixed down to mono), 4-384 kHz. Anything else (float or compressed WAV, 8-bit,
a truncated data chunk, not a WAV at all) raises :class:`MediaFileError` naming
only the file's base name and the reason.
"""

from __future__ import annotations

import io
import struct
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from app.errors import MediaFileError
from app.records import AuscultationSite, StethoscopeFilter

FloatArray = npt.NDArray[np.float64]
MIN_SAMPLE_RATE_HZ = 4_000
MAX_SAMPLE_RATE_HZ = 384_000
SUPPORTED_BITS = (16, 24, 32)


@dataclass(frozen=True, slots=True)
class ClipMetadata:
    """What a recording was: where, how it was filtered, how long, and the heart rate."""

    site: AuscultationSite
    filter: StethoscopeFilter
    duration_s: float
    sample_rate_hz: int
    heart_rate_bpm: float | None = None
    heart_rate_confidence: float = 0.0

    def attachment_metadata(self) -> dict[str, object]:
        """The keys ``encounter.attach`` accepts (app.records.ATTACHMENT_METADATA_KEYS)."""
        meta: dict[str, object] = {
            "auscultation_site": self.site.value,
            "filter": self.filter.value,
            "duration_s": round(self.duration_s, 3),
            "sample_rate_hz": int(self.sample_rate_hz),
        }
        if self.heart_rate_bpm is not None:
            meta["heart_rate_bpm"] = round(self.heart_rate_bpm, 1)
            meta["heart_rate_confidence"] = round(self.heart_rate_confidence, 3)
        return meta


@dataclass(frozen=True, slots=True)
class Clip:
    samples: FloatArray  # mono float64 in -1..1
    sample_rate_hz: int
    bits: int

    @property
    def duration_s(self) -> float:
        return self.samples.size / self.sample_rate_hz


def encode_wav(samples: npt.ArrayLike, sample_rate_hz: int, *, bits: int = 16) -> bytes:
    """Mono PCM WAV bytes; samples are clipped to -1..1."""
    if bits not in (16, 24):
        raise ValueError("bits must be 16 or 24")
    x = np.clip(np.asarray(samples, dtype=np.float64).reshape(-1), -1.0, 1.0)
    full_scale = (1 << (bits - 1)) - 1
    ints = np.round(x * full_scale).astype("<i4")
    if bits == 16:
        data = ints.astype("<i2").tobytes()
    else:
        data = ints.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(bits // 8)
        w.setframerate(int(sample_rate_hz))
        w.writeframes(data)
    return buf.getvalue()


def write_wav(
    path: str | Path, samples: npt.ArrayLike, sample_rate_hz: int, *, bits: int = 16
) -> None:
    Path(path).write_bytes(encode_wav(samples, sample_rate_hz, bits=bits))


def decode_wav(data: bytes, *, name: str = "recording") -> Clip:
    """Parse WAV bytes; ``name`` (a base name, no patient data) goes into errors."""
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            channels = w.getnchannels()
            width = w.getsampwidth()
            rate = w.getframerate()
            declared = w.getnframes()
            raw = w.readframes(declared)
    # wave raises all of these for malformed headers/chunks; float/compressed WAV is wave.Error.
    except (wave.Error, EOFError, ValueError, RuntimeError, struct.error) as exc:
        raise MediaFileError(name=name, reason=f"not a PCM WAV file ({exc})") from exc
    bits = width * 8
    if bits not in SUPPORTED_BITS:
        raise MediaFileError(name=name, reason=f"{bits}-bit samples are not supported")
    if not (MIN_SAMPLE_RATE_HZ <= rate <= MAX_SAMPLE_RATE_HZ):
        raise MediaFileError(name=name, reason=f"sample rate {rate} Hz is not supported")
    if channels < 1:
        raise MediaFileError(name=name, reason="no audio channels")
    frame_bytes = width * channels
    frames = len(raw) // frame_bytes
    if frames < declared or frames == 0:
        raise MediaFileError(name=name, reason=f"truncated: {frames} of {declared} frames present")
    raw = raw[: frames * frame_bytes]
    if bits == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
        ints = (
            b[:, 0].astype(np.int32)
            | (b[:, 1].astype(np.int32) << 8)
            | (b[:, 2].astype(np.int32) << 16)
        )
        ints = np.where(ints & 0x800000, ints - (1 << 24), ints)
    else:
        ints = np.frombuffer(raw, dtype="<i2" if bits == 16 else "<i4").astype(np.int64)
    x = ints.astype(np.float64) / float(1 << (bits - 1))
    x = x.reshape(-1, channels).mean(axis=1)
    return Clip(samples=x, sample_rate_hz=rate, bits=bits)


def read_wav(path: str | Path) -> Clip:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise MediaFileError(name=p.name, reason=exc.strerror or "cannot be read") from exc
    return decode_wav(data, name=p.name)
