"""Low-bandwidth policy (hysteresis) and the scaling wrapper track."""

from __future__ import annotations

import asyncio
import itertools

from app.visit import CallStats, TrackStats
from media.devices import camera
from media.rtc.bandwidth import LOW, NORMAL, BandwidthPolicy, scaled_track


def _stats(loss: float, rtt: float | None) -> CallStats:
    track = TrackStats(kind="video", direction="outbound", loss_pct=loss)
    return CallStats(rtt_ms=rtt, tracks=(track,))


def test_steps_down_on_loss_and_up_only_after_recovery() -> None:
    policy = BandwidthPolicy()
    assert policy.update(_stats(0.0, 50)) is None
    assert policy.update(_stats(9.0, 50)) is None  # one bad sample is not enough
    assert policy.update(_stats(9.0, 50)) is LOW
    assert policy.profile is LOW
    # Middling link (between the thresholds): stay low, no flapping.
    for _ in range(20):
        assert policy.update(_stats(3.0, 300)) is None
    for _ in range(policy.up_after - 1):
        assert policy.update(_stats(0.0, 40)) is None
    assert policy.update(_stats(0.0, 40)) is NORMAL


def test_steps_down_on_rtt_and_a_bad_sample_resets_recovery() -> None:
    policy = BandwidthPolicy(down_after=1, up_after=3)
    assert policy.update(_stats(0.0, 600)) is LOW
    policy.update(_stats(0.0, 40))
    policy.update(_stats(0.0, 40))
    policy.update(_stats(0.0, 500))  # relapse
    assert policy.update(_stats(0.0, 40)) is None
    assert policy.update(_stats(0.0, 40)) is None
    assert policy.update(_stats(0.0, 40)) is NORMAL
    assert policy.update(CallStats()) is None  # no data: no change


def test_scaled_track_halves_rate_and_size() -> None:
    async def scenario() -> None:
        track = scaled_track(camera.open_camera("testsrc", 1280, 720, 30), LOW, source_fps=30)
        frames = [await track.recv() for _ in range(6)]
        assert {(f.width, f.height) for f in frames} == {(640, 360)}
        pts = [f.pts for f in frames]
        assert {b - a for a, b in itertools.pairwise(pts)} == {6000}  # every 2nd frame
        track.set_profile(NORMAL)
        frame = await track.recv()
        assert (frame.width, frame.height) == (1280, 720)
        track.stop()

    asyncio.run(scenario())
