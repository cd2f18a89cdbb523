"""Capture ring buffer, the synthetic source, and the call track/consumer pair."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from app.errors import DeviceUnavailableError
from media.steth import synth
from media.steth.capture import SYNTHETIC, Capture, RingBuffer, resolve_device
from media.steth.track import FRAME_SAMPLES, RemoteStethConsumer, make_steth_track


def test_ring_buffer_keeps_order_across_wraps() -> None:
    ring = RingBuffer(1000)
    data = np.arange(5000, dtype=np.float32)
    index = 0
    got = []
    for start in range(0, 5000, 333):
        ring.write(data[start : start + 333])
        block, index = ring.read_since(index)
        got.append(block)
    np.testing.assert_array_equal(np.concatenate(got), data)
    np.testing.assert_array_equal(ring.latest(10), data[-10:])


def test_ring_buffer_reader_behind_skips_lost_samples() -> None:
    ring = RingBuffer(100)
    ring.write(np.arange(250, dtype=np.float32))
    block, index = ring.read_since(0)
    np.testing.assert_array_equal(block, np.arange(150, 250, dtype=np.float32))
    assert index == 250
    ring.write(np.arange(1000, dtype=np.float32))  # a block bigger than the ring
    np.testing.assert_array_equal(ring.latest(100), np.arange(900, 1000, dtype=np.float32))


def _wait(condition, timeout_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def test_synthetic_capture_runs_at_its_rate_and_flags_clipping() -> None:
    cap = Capture(SYNTHETIC, sample_rate_hz=16_000, gain=1.0)
    cap.start()
    try:
        _wait(lambda: cap.ring.written > 0, 20.0)  # after the clip is synthesised
        t0, first = time.monotonic(), cap.ring.written
        _wait(lambda: cap.ring.written >= first + 16_000)
        elapsed = time.monotonic() - t0
        assert 0.7 < elapsed < 2.0  # paced like a device, not as fast as possible
        assert cap.clipping_check()[1] is False
        cap.gain = 10.0
        written = cap.ring.written
        _wait(lambda: cap.ring.written > written + 16_000)
        assert cap.clipping_check()[1] is True
        assert cap.clipped_samples > 0
    finally:
        cap.stop()


def test_unknown_device_and_rate_are_refused() -> None:
    with pytest.raises(DeviceUnavailableError):
        resolve_device("no such stethoscope anywhere")
    with pytest.raises(DeviceUnavailableError):
        Capture(SYNTHETIC, sample_rate_hz=96_000)


def test_track_frames_and_consumer_round_trip() -> None:
    """Track -> av.AudioFrame (48 kHz mono s16, 20 ms) -> consumer ring gives the samples back."""
    sent = synth.heart_sound(72, 0.5, sample_rate_hz=48_000).astype(np.float32)

    async def main() -> np.ndarray:
        ring = RingBuffer(48_000)
        track = make_steth_track(ring)
        received = RingBuffer(48_000)
        consumer = RemoteStethConsumer(track, received)
        consumer.start()
        for start in range(0, sent.size, 480):  # a device delivering 10 ms blocks
            ring.write(sent[start : start + 480])
            await asyncio.sleep(0.01)  # the device clock: 10 ms per block
        deadline = time.monotonic() + 5
        while received.written < sent.size - sent.size % FRAME_SAMPLES:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        track.stop()
        await consumer.stop()
        return received.latest(received.written)

    got = asyncio.run(main())
    n = sent.size - sent.size % FRAME_SAMPLES
    np.testing.assert_allclose(got[:n], sent[:n], atol=1.0 / 32767 + 1e-6)


def test_track_frame_format() -> None:
    async def main() -> list:  # type: ignore[type-arg]
        ring = RingBuffer(48_000)
        ring.write(np.zeros(3 * FRAME_SAMPLES, dtype=np.float32))
        track = make_steth_track(ring)
        ring.write(np.zeros(3 * FRAME_SAMPLES, dtype=np.float32))
        return [await track.recv() for _ in range(3)]

    frames = asyncio.run(main())
    assert [f.pts for f in frames] == [0, 960, 1920]
    assert {(f.sample_rate, f.samples, f.format.name, f.layout.name) for f in frames} == {
        (48_000, 960, "s16", "mono")
    }


def test_consumer_resamples_other_rates() -> None:
    import av

    ring = RingBuffer(48_000)
    consumer = RemoteStethConsumer(None, ring)  # type: ignore[arg-type]
    frame = av.AudioFrame.from_ndarray(
        np.zeros((1, 2 * 441), dtype=np.int16), format="s16", layout="stereo"
    )
    frame.sample_rate = 44_100
    for _ in range(10):
        consumer.feed(frame)
    assert 4_000 < ring.written <= 4_800
