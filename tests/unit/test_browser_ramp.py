"""Start/min/max bitrate hints in real SDP: aiortc's own answer and a Chromium offer."""

from __future__ import annotations

import asyncio

from media.rtc.browser_ramp import apply_browser_ramp, ramp_hints
from media.visit.loopback import prefer_codec

CHROMIUM_VIDEO = (
    "v=0\r\no=- 4611 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"
    "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103\r\nc=IN IP4 0.0.0.0\r\nb=AS:300\r\na=mid:1\r\n"
    "a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 goog-remb\r\na=rtcp-fb:96 transport-cc\r\n"
    "a=rtcp-fb:96 nack\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"
    "a=rtpmap:102 H264/90000\r\na=rtcp-fb:102 nack\r\n"
    "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n"
    "a=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\n"
)


def test_chromium_offer_gets_hints_on_vp8_and_h264_only() -> None:
    out = apply_browser_ramp(CHROMIUM_VIDEO, start_kbps=2500, min_kbps=800, max_kbps=4000)
    hints = ramp_hints(out)
    assert set(hints) == {"96", "102"}  # not opus, not rtx
    assert hints["96"] == {
        "x-google-start-bitrate": 2500,
        "x-google-min-bitrate": 800,
        "x-google-max-bitrate": 4000,
    }
    assert (
        "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f;"
        "x-google-start-bitrate=2500" in out
    )
    assert "a=rtcp-fb:102 goog-remb" in out and out.count("a=rtcp-fb:96 goog-remb") == 1
    assert "b=AS:300" not in out and "b=AS:4000\r\n" in out
    assert "a=fmtp:111 minptime=10;useinbandfec=1\r\n" in out  # audio untouched
    assert out.endswith("\r\n") and "\n" not in out.replace("\r\n", "")
    # Idempotent: applying twice changes nothing more.
    assert apply_browser_ramp(out) == apply_browser_ramp(out, 2500, 800, 4000)


def test_aiortc_answer_text_accepted_by_aiortc() -> None:
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from media.devices.camera import open_camera
    from media.rtc.hostaddr import loopback_config, pin_host_addresses

    async def scenario() -> None:
        offerer, answerer = (
            RTCPeerConnection(loopback_config()),
            RTCPeerConnection(loopback_config()),
        )
        offerer.addTransceiver(open_camera("testsrc", 640, 480, 30), direction="sendonly")
        prefer_codec(offerer, "video/H264")
        with pin_host_addresses(["127.0.0.1"]):
            await offerer.setLocalDescription(await offerer.createOffer())
            await answerer.setRemoteDescription(offerer.localDescription)
            await answerer.setLocalDescription(await answerer.createAnswer())
        answer = apply_browser_ramp(answerer.localDescription.sdp)
        assert ramp_hints(answer)
        # The rewritten answer is still SDP aiortc parses and applies.
        await offerer.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        await offerer.close()
        await answerer.close()

    asyncio.run(scenario())
