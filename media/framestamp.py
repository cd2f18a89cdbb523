"""A frame counter and send timestamp drawn into the picture as a small barcode.

Tests and benchmarks measure loss and send→decoded latency from what the
receiver *sees*, not from statistics the stack reports about itself. The code is
a grid of black/white blocks in the top-left corner:

- 96 bits: a 32-bit frame counter, a 48-bit send timestamp in microseconds
  (:func:`now_us`, ``time.monotonic_ns() // 1000`` modulo 2**48, so only
  comparable within one host), and a CRC-16/CCITT over those 80 bits;
- 16 columns x 6 rows, each block ``width / 40`` pixels wide but never under
  16 px (16 px at 640x480 and 640x360, 32 px at 1280x720): 8 px blocks did not
  survive VP8 through Janus at 640x480 (about a quarter of the frames were
  unreadable), 16 px blocks do. Scaling with the width means a 720p frame
  downscaled to 640x360 by the low-bandwidth mode (bandwidth.py) still carries
  16 px blocks where the reader looks for them; :func:`read` also tries
  ``width / 40`` when that is smaller, for frames downscaled further;
- read back from luma by averaging each block's inner half and thresholding at
  mid-grey, which survives VP8/H264 quantisation at modest bitrates; a wrong
  CRC (or no code at all) gives ``None``.

Works on RGB/BGR ``H x W x 3`` uint8 arrays and on a luma (``H x W``) plane, so a
decoded yuv420p frame can be read without a colour conversion
(:func:`read_video_frame`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

COLUMNS = 16
ROWS = 6
BITS = COLUMNS * ROWS  # 96
COUNTER_BITS = 32
TIMESTAMP_BITS = 48
CRC_BITS = 16
BLOCKS_PER_WIDTH = 40  # block size = width / 40 ...
MIN_BLOCK_PX = 16  # ... but at least this: smaller blocks do not survive VP8 at 640x480
MIN_READ_BLOCK_PX = 4  # the smallest block read() still tries (a frame downscaled by 4)
TIMESTAMP_MASK = (1 << TIMESTAMP_BITS) - 1
COUNTER_MASK = (1 << COUNTER_BITS) - 1
_WHITE = 235  # video-range white/black: nothing to clip in a YUV round trip
_BLACK = 16


@dataclass(frozen=True, slots=True)
class FrameStamp:
    counter: int  # frame number at the sender, modulo 2**32
    timestamp_us: int  # sender's now_us() when the frame was captured, modulo 2**48


def now_us() -> int:
    """The stamp clock: monotonic microseconds, 48 bits (wraps after ~8.9 years)."""
    return (time.monotonic_ns() // 1000) & TIMESTAMP_MASK


def age_ms(stamp: FrameStamp, now: int | None = None) -> float:
    """How long ago (ms) the stamped frame was sent, by this host's stamp clock."""
    current = now_us() if now is None else now
    return ((current - stamp.timestamp_us) & TIMESTAMP_MASK) / 1000.0


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def block_px(width: int) -> int:
    return max(MIN_BLOCK_PX, width // BLOCKS_PER_WIDTH)


def code_size_px(width: int) -> tuple[int, int]:
    """(width, height) in pixels of the code drawn on a frame ``width`` pixels wide."""
    block = block_px(width)
    return COLUMNS * block, ROWS * block


def _bits(stamp: FrameStamp) -> npt.NDArray[np.bool_]:
    payload = ((stamp.counter & COUNTER_MASK) << TIMESTAMP_BITS) | (
        stamp.timestamp_us & TIMESTAMP_MASK
    )
    body = payload.to_bytes(10, "big")
    word = int.from_bytes(body + crc16(body).to_bytes(2, "big"), "big")
    return np.array([(word >> (BITS - 1 - i)) & 1 for i in range(BITS)], dtype=bool)


def stamp(
    image: npt.NDArray[np.uint8], counter: int, timestamp_us: int | None = None
) -> FrameStamp:
    """Draw the code into ``image`` in place (top-left corner) and return what was drawn."""
    if image.ndim not in (2, 3):
        raise ValueError("stamp needs an H x W or H x W x C image")
    height, width = image.shape[:2]
    block = block_px(width)
    if COLUMNS * block > width or ROWS * block > height:
        raise ValueError("frame too small for the stamp")
    drawn = FrameStamp(counter & COUNTER_MASK, now_us() if timestamp_us is None else timestamp_us)
    grid = np.where(_bits(drawn).reshape(ROWS, COLUMNS), _WHITE, _BLACK).astype(np.uint8)
    tile = np.kron(grid, np.ones((block, block), dtype=np.uint8))
    region = image[: ROWS * block, : COLUMNS * block]
    if image.ndim == 3:
        region[...] = tile[:, :, None]
    else:
        region[...] = tile
    return drawn


def read(image: npt.NDArray[np.uint8]) -> FrameStamp | None:
    """The stamp in ``image`` (RGB/BGR or luma), or None when absent or corrupt."""
    if image.ndim not in (2, 3):
        return None
    width = image.shape[1]
    scaled = width // BLOCKS_PER_WIDTH  # what a larger frame's code became after a downscale
    for block in dict.fromkeys((block_px(width), scaled)):
        if block >= MIN_READ_BLOCK_PX:
            found = _read_block(image, block)
            if found is not None:
                return found
    return None


def _read_block(image: npt.NDArray[np.uint8], block: int) -> FrameStamp | None:
    height, width = image.shape[:2]
    if COLUMNS * block > width or ROWS * block > height:
        return None
    region = image[: ROWS * block, : COLUMNS * block]
    luma = region.astype(np.float32) if region.ndim == 2 else region.mean(axis=2, dtype=np.float32)
    # Average the inner half of each block: the edges are where codecs ring.
    inset = block // 4
    cells = luma.reshape(ROWS, block, COLUMNS, block)[
        :, inset : block - inset, :, inset : block - inset
    ]
    means = cells.mean(axis=(1, 3))
    bits = (means > (_WHITE + _BLACK) / 2).reshape(-1)
    word = 0
    for bit in bits:
        word = (word << 1) | int(bit)
    raw = word.to_bytes(BITS // 8, "big")
    if crc16(raw[:10]) != int.from_bytes(raw[10:], "big"):
        return None
    payload = int.from_bytes(raw[:10], "big")
    return FrameStamp(counter=payload >> TIMESTAMP_BITS, timestamp_us=payload & TIMESTAMP_MASK)


def luma_plane(frame: Any) -> npt.NDArray[np.uint8]:
    """The Y plane of a PyAV yuv420p/yuvj420p/nv12 frame as an ``H x W`` view (no conversion)."""
    plane = frame.planes[0]
    rows = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
    return rows[: frame.height, : frame.width]


def read_video_frame(frame: Any) -> FrameStamp | None:
    """The stamp in a decoded PyAV ``VideoFrame`` (luma read directly for YUV formats)."""
    if frame.format.name in ("yuv420p", "yuvj420p", "nv12", "yuv422p", "yuv444p"):
        return read(luma_plane(frame))
    return read(frame.to_ndarray(format="rgb24"))
