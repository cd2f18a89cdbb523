"""Low-bandwidth mode wired to a sender: real ScaledTrack over a real synthetic camera.

The stats samples are built by hand (that is the policy's input); the track, the
frames and the scaling are real. The encoder is aiortc's real VP8 encoder.
"""

from __future__ import annotations

import asyncio
import itertools

from app.visit import CallStats, TrackStats
from media import framestamp
from media.rtc.adapt import SenderAdapter, low_profile, normal_profile, set_encoder_bitrate


def _stats(loss_pct: float, rtt_ms: float = 30.0) -> CallStats:
    track = TrackStats(
        kind="video",
        direction="outbound",
        width_px=1280,
        height_px=720,
        frames_per_s=30.0,
        loss_pct=loss_pct,
    )
    return CallStats(rtt_ms=rtt_ms, tracks=(track,))


class _Sender:
    """Stands in for RTCRtpSender: only its (name-mangled) encoder attribute is used."""

    def __init__(self) -> None:
        from aiortc.codecs.vpx import Vp8Encoder

        self._RTCRtpSender__encoder = Vp8Encoder()


def test_low_profile_never_exceeds_normal() -> None:
    small = low_profile(normal_profile(320, 240, 10, 200_000))
    assert (small.width, small.height, small.fps, small.max_bitrate_bps) == (320, 240, 10, 200_000)


def test_steps_down_and_back_up() -> None:
    from media.devices import camera

    async def scenario() -> None:
        source = camera.open_camera("testsrc", 1280, 720, 30)
        adapter = SenderAdapter(source, normal_profile(1280, 720, 30, 1_500_000))
        sender = _Sender()
        try:
            first = await adapter.track.recv()
            assert (first.width, first.height) == (1280, 720)
            # 5 % loss is not enough to step down (NACK copes); 12 % twice is.
            assert adapter.tick(_stats(5.0), [sender]) is None  # type: ignore[list-item]
            assert adapter.tick(_stats(12.0), [sender]) is None  # type: ignore[list-item]
            changed = adapter.tick(_stats(12.0), [sender])  # type: ignore[list-item]
            assert changed is not None and changed.low_bandwidth
            assert adapter.low_bandwidth
            encoder = sender._RTCRtpSender__encoder
            assert encoder.target_bitrate == 400_000
            annotated = adapter.annotate(_stats(12.0))
            assert annotated.low_bandwidth
            assert (annotated.tracks[0].width_px, annotated.tracks[0].height_px) == (640, 360)
            assert annotated.tracks[0].frames_per_s == 15.0
            frames = [await adapter.track.recv() for _ in range(4)]
            assert {(f.width, f.height) for f in frames} == {(640, 360)}
            # 15 of 30 fps: every other source frame (the barcode counts source frames)
            counters = [framestamp.read_video_frame(f) for f in frames]
            assert all(c is not None for c in counters)
            steps = {b.counter - a.counter for a, b in itertools.pairwise(counters)}  # type: ignore[union-attr]
            assert steps == {2}
            # REMB raising the bitrate is undone on the next tick while low
            set_encoder_bitrate(sender, 1_200_000)  # type: ignore[arg-type]
            assert adapter.tick(_stats(3.0), [sender]) is None  # type: ignore[list-item]
            assert encoder.target_bitrate == 400_000
            # recovery: up only after 8 good samples in a row
            for _ in range(7):
                assert adapter.tick(_stats(0.0), [sender]) is None  # type: ignore[list-item]
            up = adapter.tick(_stats(0.0), [sender])  # type: ignore[list-item]
            assert up is not None and not up.low_bandwidth
            assert encoder.target_bitrate == 1_500_000
            assert not adapter.annotate(_stats(0.0)).low_bandwidth
            frame = await adapter.track.recv()
            assert (frame.width, frame.height) == (1280, 720)
            assert [c.name for c in adapter.changes] == ["low", "normal"]
        finally:
            source.stop()

    asyncio.run(scenario())


def test_high_rtt_steps_down() -> None:
    from media.devices import camera

    source = camera.open_camera("testsrc", 640, 480, 30)
    try:
        adapter = SenderAdapter(source, normal_profile(640, 480, 30, 800_000))
        adapter.tick(_stats(0.0, rtt_ms=500.0), [])
        assert adapter.tick(_stats(0.0, rtt_ms=500.0), []) is not None
        assert (adapter.profile.width, adapter.profile.height, adapter.profile.fps) == (
            640,
            360,
            15,
        )
    finally:
        source.stop()
