"""media/visit/tracks.py without a server: SDP munging, options, the no-visit errors.

The call through Janus itself is tests/integration/media/test_steth_call.py.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from app.errors import CapabilityUnavailableError
from app.visit import Visit, VisitState
from media.visit.session import SessionConfig, VisitSession
from media.visit.tracks import OPUS_MUSIC_FMTP, SessionTracks, munge_opus_fmtp, opus_fmtp

OFFER = (
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1 2\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 97\r\na=mid:0\r\na=rtpmap:97 VP8/90000\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 96 0\r\na=mid:1\r\na=rtpmap:96 opus/48000/2\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\na=mid:2\r\na=rtpmap:111 opus/48000/2\r\n"
    "a=fmtp:111 useinbandfec=1\r\na=rtpmap:0 PCMU/8000\r\n"
)


def test_munge_sets_fmtp_on_that_m_line_only() -> None:
    munged = munge_opus_fmtp(OFFER, "2", OPUS_MUSIC_FMTP)
    assert f"a=fmtp:111 {OPUS_MUSIC_FMTP}\r\n" in munged
    assert "a=fmtp:111 useinbandfec=1\r\n" not in munged
    assert "a=fmtp:96" not in munged  # the voice m-line untouched
    added = munge_opus_fmtp(OFFER, "1", "usedtx=1")
    voice = added.split("m=audio")[1]
    assert "a=rtpmap:96 opus/48000/2\r\na=fmtp:96 usedtx=1\r\n" in voice
    assert munge_opus_fmtp(OFFER, "7", "x=1") == OFFER


def test_opus_fmtp_for_options() -> None:
    assert opus_fmtp(music=True, dtx=False, bitrate_bps=128_000) == OPUS_MUSIC_FMTP
    voice = opus_fmtp(music=False, dtx=True, bitrate_bps=24_000)
    assert "usedtx=1" in voice and "maxaveragebitrate=24000" in voice


def test_no_visit_no_track_and_visit_change_callbacks() -> None:
    visit = Visit(encounter_id="enc-1")
    session = VisitSession(visit, SessionConfig(server_url="ws://127.0.0.1:9/"))
    tracks = SessionTracks(session)
    seen: list[bool] = []
    unsubscribe = tracks.on_visit_change(seen.append)
    assert not tracks.visit_active()
    with pytest.raises(CapabilityUnavailableError):
        asyncio.run(tracks.add_audio_track("stethoscope"))
    with pytest.raises(CapabilityUnavailableError):
        asyncio.run(tracks.add_audio_track("stethoscope", sample_rate_hz=44_100))
    visit._set_state(VisitState.WAITING)
    visit._set_state(VisitState.IN_CALL)
    visit._set_state(VisitState.ENDED, "hung up")
    assert seen == [True, False]
    unsubscribe()
    visit._set_state(VisitState.WAITING)
    assert seen == [True, False]


def test_mono_encoder_keeps_the_level() -> None:
    import av

    from media.steth.track import float_to_frame, frame_to_float
    from media.visit.tracks import make_opus_encoder

    encoder = make_opus_encoder(bitrate_bps=128_000, music=True, dtx=False)
    decoder = av.CodecContext.create("libopus", "r")
    t = np.arange(960) / 48_000
    sent: list[np.ndarray] = []
    got: list[np.ndarray] = []
    for i in range(50):
        block = 0.3 * np.sin(2 * np.pi * 200 * (t + i * 0.02))
        sent.append(block)
        payloads, _ts = encoder.encode(float_to_frame(block, i * 960))
        for payload in payloads:
            for frame in decoder.decode(av.Packet(payload)):
                got.append(frame_to_float(frame))

    def level(blocks: list[np.ndarray]) -> float:
        return float(np.sqrt(np.mean(np.concatenate(blocks)[-9600:] ** 2)))

    # mono sent, stereo decoded and averaged: the same level within 1 dB (not -3 dB)
    assert abs(20 * np.log10(level(got) / level(sent))) < 1.0
