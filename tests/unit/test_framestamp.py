"""The frame barcode: round trips through raw arrays and a real VP8/H264 encode/decode."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from media import framestamp


def _textured(width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    return image


def test_round_trip_rgb_and_luma() -> None:
    image = _textured(640, 480, 1)
    drawn = framestamp.stamp(image, 123456, timestamp_us=(1 << 47) + 99)
    assert framestamp.read(image) == drawn
    assert framestamp.read(image[:, :, 0].copy()) == drawn
    assert drawn.counter == 123456


def test_absent_or_corrupt_reads_none() -> None:
    image = _textured(640, 480, 2)
    assert framestamp.read(image) is None
    framestamp.stamp(image, 7, timestamp_us=1000)
    block = framestamp.block_px(640)
    # Flip one block: the CRC must catch it.
    cell = image[block * 2 : block * 3, block * 5 : block * 6]
    cell[...] = 255 - cell
    assert framestamp.read(image) is None
    assert framestamp.read(np.zeros((480, 640, 3), np.uint8)) is None
    assert framestamp.read(np.zeros((10, 10), np.uint8)) is None


def test_too_small_frame_is_rejected() -> None:
    with pytest.raises(ValueError, match="too small"):
        framestamp.stamp(np.zeros((16, 32, 3), np.uint8), 1)


def test_age_wraps_with_the_48_bit_clock() -> None:
    stamp = framestamp.FrameStamp(counter=0, timestamp_us=framestamp.TIMESTAMP_MASK - 499)
    assert framestamp.age_ms(stamp, now=500) == pytest.approx(1.0)


def test_block_size_is_at_least_16_px() -> None:
    # 8 px blocks lost ~25 % of frames through VP8 and Janus at 640x480.
    assert framestamp.block_px(640) == 16
    assert framestamp.block_px(320) == 16
    assert framestamp.block_px(1280) == 32
    assert framestamp.code_size_px(640) == (256, 96)
    for width, height in ((640, 480), (640, 360), (1280, 720)):
        image = _textured(width, height, width + height)
        assert framestamp.read(image) is None
        drawn = framestamp.stamp(image, 5)
        assert framestamp.read(image) == drawn


@pytest.mark.parametrize("size", [(640, 360), (320, 180)])
def test_survives_downscale(size: tuple[int, int]) -> None:
    import av

    image = _textured(1280, 720, 3)
    drawn = framestamp.stamp(image, 42)
    frame = av.VideoFrame.from_ndarray(image, format="rgb24")
    small = frame.reformat(width=size[0], height=size[1], interpolation="AREA").to_ndarray()
    assert framestamp.read(small) == drawn


def _encode_decode(codec: str, width: int, height: int, bitrate: int, frames: int) -> list[Any]:
    import av

    encoder = av.CodecContext.create(codec, "w")
    encoder.width = width
    encoder.height = height
    encoder.pix_fmt = "yuv420p"
    encoder.bit_rate = bitrate
    encoder.framerate = Fraction(30, 1)
    encoder.time_base = Fraction(1, 30)
    if codec == "libx264":
        encoder.options = {"preset": "ultrafast", "tune": "zerolatency"}
    decoder = av.CodecContext.create("vp8" if codec == "libvpx" else "h264", "r")
    decoded: list[Any] = []
    drawn: list[framestamp.FrameStamp] = []
    for index in range(frames):
        # A moving, noisy picture: the encoder has to spend bits everywhere.
        image = _textured(width, height, index)
        drawn.append(framestamp.stamp(image, index))
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = index
        for packet in encoder.encode(frame):
            decoded.extend(decoder.decode(packet))
    for packet in encoder.encode(None):
        decoded.extend(decoder.decode(packet))
    return [drawn, decoded]


@pytest.mark.parametrize(
    ("codec", "width", "height", "bitrate"),
    [
        ("libvpx", 640, 480, 500_000),
        ("libvpx", 640, 480, 250_000),
        ("libvpx", 640, 360, 250_000),
        ("libvpx", 1280, 720, 1_000_000),
        ("libx264", 640, 480, 500_000),
        ("libx264", 1280, 720, 1_000_000),
    ],
)
def test_survives_real_codec(codec: str, width: int, height: int, bitrate: int) -> None:
    drawn, decoded = _encode_decode(codec, width, height, bitrate, frames=20)
    assert len(decoded) == len(drawn)
    read = [framestamp.read_video_frame(frame) for frame in decoded]
    # Random noise at this bitrate is the worst case; allow the first keyframe's
    # rate-control warm-up, nothing else.
    good = [r for r in read if r is not None]
    assert len(good) >= len(drawn) - 1, f"{codec} {width}x{height}: {len(good)}/{len(drawn)}"
    assert {r.counter for r in good} <= {d.counter for d in drawn}
    by_counter = {d.counter: d for d in drawn}
    assert all(by_counter[r.counter] == r for r in good)
    # Also through an RGB conversion (what the visit window gets).
    rgb = decoded[-1].to_ndarray(format="rgb24")
    assert framestamp.read(rgb) == read[-1]
