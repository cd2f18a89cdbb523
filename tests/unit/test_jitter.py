"""Our low-latency jitter buffer, fed real VP8/H264 RTP packets from aiortc's own packetizers.

The "network" is a list of packets with a loss/reorder schedule (aiortc's
``DummyConnection(loss_pattern=...)`` idea); the clock is a fake so the
retransmission timeout is tested without sleeping.
"""

from __future__ import annotations

from typing import Any

import pytest

from media import framestamp
from media.devices.camera import SyntheticSource
from media.rtc.jitter import (
    H264,
    VP8,
    LowLatencyJitterBuffer,
    ReleaseTimings,
    h264_info,
    vp8_info,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _packets(codec: str, frames: int, keyframes: tuple[int, ...] = (0,)) -> list[list[Any]]:
    """Real RTP packets per frame: aiortc's encoder + packetizer, depayloaded like its receiver."""
    from aiortc.codecs.h264 import H264Encoder, h264_depayload
    from aiortc.codecs.vpx import Vp8Encoder, vp8_depayload
    from aiortc.rtp import RtpPacket

    encoder: Any = Vp8Encoder() if codec == VP8 else H264Encoder()
    depayload = vp8_depayload if codec == VP8 else h264_depayload
    source = SyntheticSource(640, 480)
    seq = 65530  # wraps within the test
    out: list[list[Any]] = []
    for index in range(frames):
        frame = source.next_frame(index)
        frame.pts = index * 3000
        from fractions import Fraction

        frame.time_base = Fraction(1, 90000)
        payloads, timestamp = encoder.encode(frame, force_keyframe=index in keyframes)
        group = []
        for i, payload in enumerate(payloads):
            packet = RtpPacket(payload_type=96, sequence_number=seq, timestamp=timestamp)
            packet.payload = payload
            packet.marker = 1 if i == len(payloads) - 1 else 0
            packet._data = depayload(payload)  # type: ignore[attr-defined]
            group.append(packet)
            seq = (seq + 1) & 0xFFFF
        out.append(group)
    return out


def _decode(codec: str, datas: list[bytes]) -> list[framestamp.FrameStamp | None]:
    import av

    decoder = av.CodecContext.create("vp8" if codec == VP8 else "h264", "r")
    stamps = []
    for data in datas:
        for frame in decoder.decode(av.Packet(data)):
            stamps.append(framestamp.read_video_frame(frame))
    return stamps


@pytest.mark.parametrize("codec", [VP8, H264])
def test_in_order_releases_each_frame_on_its_marker(codec: str) -> None:
    frames = _packets(codec, 6)
    buffer = LowLatencyJitterBuffer(codec)
    released = []
    for group in frames:
        for i, packet in enumerate(group):
            result = buffer.add(packet)
            if i < len(group) - 1:
                assert result.frames == []  # incomplete: nothing yet
        # Released by the frame's own last packet: the next frame has not been sent yet.
        assert len(result.frames) == 1
        assert result.frames[0].timestamp == group[0].timestamp
        released += result.frames
        assert result.nack == []
        assert not result.request_keyframe
    assert released[0].keyframe
    assert not any(f.keyframe for f in released[1:])
    stamps = _decode(codec, [f.data for f in released])
    assert [s.counter for s in stamps if s] == list(range(6))


def test_reordered_packets_within_a_frame() -> None:
    frames = _packets(VP8, 3)
    # Make sure frame 0 (a keyframe at 640x480) spans several packets.
    assert len(frames[0]) >= 2
    buffer = LowLatencyJitterBuffer(VP8)
    first = frames[0]
    out = []
    for packet in [first[-1], *first[:-1]]:  # marker first, then the rest
        out += buffer.add(packet).frames
    assert len(out) == 1
    for group in frames[1:]:
        for packet in reversed(group):
            out += buffer.add(packet).frames
    assert [f.timestamp for f in out] == [g[0].timestamp for g in frames]
    assert [s.counter for s in _decode(VP8, [f.data for f in out]) if s] == [0, 1, 2]


def test_lost_then_retransmitted_is_nacked_and_released_in_order() -> None:
    clock = FakeClock()
    frames = _packets(VP8, 4)
    buffer = LowLatencyJitterBuffer(VP8, clock=clock, nack_retry_s=0.04)
    for packet in frames[0]:
        buffer.add(packet)
    lost = frames[1][0]
    nacks: list[int] = []
    held = []
    for group in frames[1:3]:
        for packet in group:
            if packet is lost:
                continue
            result = buffer.add(packet)
            nacks += result.nack
            held += result.frames
    assert nacks == [lost.sequence_number]  # asked once, straight away
    assert held == []  # frame 2 is complete but must wait behind frame 1
    assert buffer.missing() == [lost.sequence_number]
    clock.now += 0.05  # retry interval passed: the next packet triggers a re-NACK
    result = buffer.add(frames[3][0])
    assert result.nack == [lost.sequence_number]
    clock.now += 0.01
    result = buffer.add(lost)  # the retransmission (RTX unwrapped by aiortc)
    expected = [frames[1][0].timestamp, frames[2][0].timestamp]
    if len(frames[3]) == 1:  # frame 3 fitted in the one packet already sent: complete too
        expected.append(frames[3][0].timestamp)
    assert [f.timestamp for f in result.frames] == expected
    assert buffer.stats.frames_dropped == 0
    assert buffer.missing() == []


def test_recovery_time_runs_from_the_first_nack_to_the_release() -> None:
    clock = FakeClock()
    frames = _packets(VP8, 4)
    timings = ReleaseTimings()
    buffer = LowLatencyJitterBuffer(VP8, clock=clock, nack_retry_s=0.04, timings=timings)
    for packet in frames[0]:
        buffer.add(packet)
    lost = frames[1][0]
    clock.now += 0.01
    for group in frames[1:3]:
        for packet in group:
            if packet is not lost:
                buffer.add(packet)  # the gap is seen (and NACKed) on the first of these
    assert buffer.stats.holes == 1 and buffer.stats.holes_filled == 0
    clock.now += 0.05
    assert buffer.add(frames[3][0]).nack == [lost.sequence_number]  # a re-NACK: not the start
    clock.now += 0.01
    released = buffer.add(lost).frames  # the retransmission
    assert len(released) >= 2
    # 60 ms from the first NACK, whatever the re-NACK did; one frame needed the hole.
    assert list(timings.recovery_s) == [pytest.approx(0.06)]
    assert buffer.stats.holes_filled == 1
    assert buffer.stats.frames_recovered == 1
    assert buffer.stats.frames_waited_out == 0
    # Release times: frame 0 went at once; frame 2 was complete 60 ms before it could go.
    assert len(timings.release_s) == 1 + len(released)
    assert timings.release_s[0] == 0.0
    assert timings.release_s[2] == pytest.approx(0.06)


def test_a_clean_stream_has_no_holes_and_timings_are_off_by_default() -> None:
    frames = _packets(VP8, 5)
    quiet = LowLatencyJitterBuffer(VP8)
    assert quiet.timings is None
    timings = ReleaseTimings()
    buffer = LowLatencyJitterBuffer(VP8, timings=timings)
    for group in frames:
        for packet in group:
            quiet.add(packet)
            buffer.add(packet)
    assert buffer.stats == quiet.stats
    assert buffer.stats.frames_released == 5
    assert buffer.stats.holes == buffer.stats.frames_recovered == 0
    assert list(timings.recovery_s) == []
    assert len(timings.release_s) == 5
    timings.clear()
    assert len(timings.release_s) == 0


def test_unrecovered_loss_drops_until_keyframe_and_requests_one() -> None:
    clock = FakeClock()
    frames = _packets(VP8, 8, keyframes=(0, 6))
    buffer = LowLatencyJitterBuffer(VP8, clock=clock, max_wait_s=0.2, keyframe_retry_s=0.5)
    for packet in frames[0]:
        buffer.add(packet)
    released = []
    requests = 0
    for index, group in enumerate(frames[1:], start=1):
        clock.now += 0.1
        for packet in group:
            if index == 1:
                continue  # frame 1 vanishes completely
            result = buffer.add(packet)
            released += result.frames
            requests += result.request_keyframe
    # Frame 2..5 depend on the lost frame 1: dropped, not decoded into garbage; a PLI went out;
    # decoding resumes at the keyframe (6).
    assert [f.timestamp for f in released] == [frames[6][0].timestamp, frames[7][0].timestamp]
    assert released[0].keyframe
    assert requests >= 1
    assert buffer.stats.keyframe_requests == requests
    assert buffer.stats.frames_dropped >= 1
    assert not buffer.waiting_for_keyframe
    # The whole of frame 1 was a hole; it was waited out, never recovered.
    assert buffer.stats.holes == len(frames[1])
    assert buffer.stats.holes_filled == 0
    assert buffer.stats.frames_waited_out == 1
    assert buffer.stats.frames_recovered == 0


def test_joining_mid_stream_waits_for_keyframe() -> None:
    clock = FakeClock()
    frames = _packets(VP8, 5, keyframes=(0, 4))
    buffer = LowLatencyJitterBuffer(VP8, clock=clock)
    out = []
    asked = False
    for group in frames[2:]:
        for packet in group:
            result = buffer.add(packet)
            out += result.frames
            asked = asked or result.request_keyframe
    assert asked
    assert [f.keyframe for f in out] == [True]


def test_duplicates_and_late_packets_are_ignored() -> None:
    frames = _packets(H264, 2)
    buffer = LowLatencyJitterBuffer(H264)
    out = []
    for packet in frames[0] + frames[0][:1] + frames[1]:
        out += buffer.add(packet).frames
    out += buffer.add(frames[0][0]).frames  # late: its frame was released already
    assert len(out) == 2
    assert buffer.stats.duplicates + buffer.stats.late == 2


def test_payload_parsers() -> None:
    assert vp8_info(bytes([0x10, 0x00])).starts_frame  # S=1, PID=0, key frame (P=0)
    assert vp8_info(bytes([0x10, 0x00])).keyframe
    assert not vp8_info(bytes([0x10, 0x01])).keyframe  # P=1: inter frame
    assert not vp8_info(bytes([0x00, 0x00])).starts_frame  # continuation
    assert not vp8_info(bytes([0x11, 0x00])).starts_frame  # partition 1
    # X + I (15-bit picture id) + the VP8 header byte.
    assert vp8_info(bytes([0x90, 0x80, 0x81, 0x23, 0x00])).keyframe
    assert h264_info(bytes([0x65])).keyframe  # IDR single NAL
    assert not h264_info(bytes([0x41])).keyframe
    assert h264_info(bytes([0x7C, 0x85])).starts_frame  # FU-A start, IDR
    assert not h264_info(bytes([0x7C, 0x05])).starts_frame  # FU-A continuation
    stap = bytes([0x78, 0x00, 0x01, 0x67, 0x00, 0x01, 0x68])  # STAP-A: SPS, PPS
    assert h264_info(stap) == h264_info(stap) and h264_info(stap).keyframe
    with pytest.raises(ValueError, match="codec"):
        LowLatencyJitterBuffer("av1")


# --- installed into a real aiortc call -------------------------------------------------


async def _call_with_loss(drop: Any, seconds: float) -> tuple[Any, Any, dict[str, int]]:
    import asyncio

    from media.devices.camera import open_camera
    from media.rtc.install import jitter_stats
    from media.visit.loopback import FrameProbe, connect_pair, drop_at_receiver, video_receiver

    track = open_camera("testsrc", 1280, 720, 30)
    pair = await connect_pair([track], receive_path="ours")
    video = video_receiver(pair.receiver)
    counts = drop_at_receiver(video, drop)
    probe = FrameProbe(pair.remote_tracks["video"])
    probe.start()
    await asyncio.sleep(seconds)  # the call runs for a while; nothing waited on
    stats = jitter_stats(video)
    await probe.stop()
    track.stop()
    await pair.close()
    return probe, stats, counts


@pytest.mark.slow
def test_real_call_recovers_random_loss_by_nack() -> None:
    import asyncio
    import random

    rng = random.Random(7)
    probe, stats, counts = asyncio.run(
        _call_with_loss(
            lambda n, media, _packet: media and n > 20 and rng.random() < 0.05, seconds=4.0
        )
    )
    assert counts["dropped"] > 5
    assert stats.nacked >= counts["dropped"]  # every hole was asked for
    assert probe.frames > 60
    # Retransmissions fill the holes in time: (almost) nothing lost end to end and no
    # frame waited out max_wait_s. (How fast, in ms, is bench.video_latency's question:
    # an absolute median here measured the machine's load, up to 97 ms with no loss.)
    assert probe.lost() <= 3
    assert stats.frames_dropped <= 3


@pytest.mark.slow
def test_real_call_requests_keyframe_after_a_burst() -> None:
    import asyncio

    # Four packets are lost for good: their retransmissions (RTX, whose payload starts
    # with the original sequence number, RFC 4588) are dropped too. The frame cannot
    # complete, so after max_wait_s it is dropped, later deltas are skipped, a PLI goes
    # out and the sender's keyframe restarts the picture.
    gone: set[int] = set()

    def blackout(n: int, media: bool, packet: Any) -> bool:
        if media and 60 <= n < 64:
            gone.add(packet.sequence_number)
            return True
        return (
            not media
            and len(packet.payload) >= 2
            and (int.from_bytes(packet.payload[:2], "big") in gone)
        )

    probe, stats, counts = asyncio.run(_call_with_loss(blackout, seconds=4.0))
    assert counts["dropped"] > 4  # the four, and at least one retransmission of them
    assert stats.keyframe_requests >= 1
    assert stats.frames_dropped >= 1
    # Video resumed after the blackout: frames with counters well past it were decoded.
    assert max(s.counter for s in probe.samples) > 60
    assert probe.frames > 60


def test_install_refuses_untested_aiortc(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    import aiortc
    from aiortc import RTCPeerConnection

    from media.rtc.install import ReceivePathUnsupportedError, install_receive_path

    async def scenario() -> None:
        pc = RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
        pc.addTransceiver("video")
        monkeypatch.setattr(aiortc, "__version__", "9.0.0")
        monkeypatch.delenv("CLINICIAN_CONSOLE_AIORTC_UNTESTED", raising=False)
        with pytest.raises(ReceivePathUnsupportedError, match=r"aiortc 9\.0\.0 is untested"):
            install_receive_path(pc, "ours")
        monkeypatch.undo()
        install_receive_path(pc, "stock")  # the stock path needs no internals
        await pc.close()

    asyncio.run(scenario())
