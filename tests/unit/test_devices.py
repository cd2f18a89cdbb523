"""Cameras and microphones: the synthetic ones, a real video file, and missing devices."""

from __future__ import annotations

import asyncio
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from app.errors import DeviceUnavailableError, MediaFileError
from media import framestamp
from media.devices import audio, camera


def test_testsrc_is_paced_stamped_and_moving() -> None:
    async def scenario() -> None:
        track = camera.open_camera("testsrc", 640, 480, 30)
        started = time.monotonic()
        frames = [await track.recv() for _ in range(10)]
        elapsed = time.monotonic() - started
        track.stop()
        assert 0.2 < elapsed < 1.5  # 9 intervals of 33 ms, paced by the track's clock
        assert [f.width for f in frames] == [640] * 10
        stamps = [framestamp.read_video_frame(f) for f in frames]
        assert [s.counter for s in stamps if s] == list(range(10))
        assert [f.pts for f in frames] == [i * 3000 for i in range(10)]
        y0 = framestamp.luma_plane(frames[1])[200:, 300:]
        y1 = framestamp.luma_plane(frames[5])[200:, 300:]
        assert not np.array_equal(y0, y1)  # the pattern moves

    asyncio.run(scenario())


def test_missing_camera_raises_or_falls_back() -> None:
    with pytest.raises(DeviceUnavailableError):
        camera.open_camera("/dev/video99", 640, 480, 30)
    with pytest.raises(DeviceUnavailableError):
        camera.open_camera("no-such-camera", 640, 480, 30)
    track = camera.open_camera("/dev/video99", 640, 480, 30, fallback=True)
    assert isinstance(track.source, camera.SyntheticSource)  # type: ignore[attr-defined]
    assert camera.list_cameras()[0].device_id == "testsrc"


def test_video_file_camera(tmp_path: Path) -> None:
    import av

    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for index in range(30):
            image = np.full((240, 320, 3), index * 8, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 30)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))

    async def scenario() -> None:
        track = camera.open_camera(str(path), 640, 480, 15, stamp=True)
        frames = [await track.recv() for _ in range(5)]
        track.stop()
        assert {(f.width, f.height) for f in frames} == {(640, 480)}
        assert [framestamp.read_video_frame(f).counter for f in frames] == list(range(5))

    asyncio.run(scenario())
    garbage = tmp_path / "notes.mp4"
    garbage.write_bytes(b"not a video at all" * 100)
    with pytest.raises(MediaFileError):
        camera.open_camera(str(garbage), 640, 480, 30)


def test_tone_microphone_frames_and_fallback() -> None:
    async def scenario() -> None:
        track = audio.open_microphone("tone")
        frames = [await track.recv() for _ in range(5)]
        assert {(f.samples, f.sample_rate, f.layout.name) for f in frames} == {(960, 48000, "mono")}
        assert [f.pts for f in frames] == [i * 960 for i in range(5)]
        samples = frames[0].to_ndarray().reshape(-1)
        assert np.abs(samples).max() > 1000  # not silence
        track.stop()
        with pytest.raises(DeviceUnavailableError):
            audio.open_microphone("no-such-microphone-xyz")
        fallback = audio.open_microphone("no-such-microphone-xyz", fallback=True)
        assert fallback.label == "tone"  # type: ignore[attr-defined]
        assert audio.list_microphones()[0].device_id == "tone"

    asyncio.run(scenario())
