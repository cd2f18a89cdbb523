"""A console joining with the desktop's settings: no camera here, a speaker that may be absent.

The GUI's join factory (app/main.py) asks for camera "0" with ``camera_fallback`` and
speaker "default". These machines have no camera and, under CI, no audio output:
the visit must still come up through the real Janus, with the test pattern sent and
a notice saying so, instead of ending (or crashing) over a missing device.
"""

from __future__ import annotations

import asyncio

import pytest

from app.errors import VisitError
from app.visit import VisitState
from tests.integration.media._helpers import frames_from, new_session, session_config, wait_until
from tests.integration.media.services import JanusServer, MediaNet

pytestmark = pytest.mark.integration


def test_join_without_a_camera_sends_the_test_pattern_and_says_so(
    janus: JanusServer, clean_net: MediaNet
) -> None:
    async def scenario() -> None:
        _, host = new_session(
            session_config(janus, clean_net, create=True, display="Host", auto_admit=True)
        )
        await host.start()
        g_visit, guest = new_session(
            session_config(
                janus,
                clean_net,
                room=host.cfg.room,
                pin=host.cfg.pin,
                host_key=host.lobby_key,
                display="Cart",
                camera="/dev/video-that-does-not-exist",
                camera_fallback=True,
                speaker="default",
            )
        )
        notices: list[str] = []
        g_visit.notice.connect(notices.append)
        try:
            await guest.start()
            await wait_until(lambda: frames_from(host) > 30, 20, "the cart's video at the host")
            await wait_until(lambda: frames_from(guest) > 30, 20, "the host's video at the cart")
            assert g_visit.state is VisitState.IN_CALL
            assert any("test pattern" in n for n in notices), notices
            # Remote voices reached the playback path (or it said why it could not).
            await wait_until(
                lambda: any(r.audio_frames > 50 for r in guest.remotes.values()),
                10,
                "the host's audio at the cart",
            )
            assert guest.cfg.speaker == "default" or any("device" in n for n in notices)
        finally:
            await guest.close()
            await host.close()
        assert g_visit.state is VisitState.ENDED

    asyncio.run(scenario())


def test_join_without_fallback_ends_with_a_reason(janus: JanusServer, clean_net: MediaNet) -> None:
    async def scenario() -> None:
        _, host = new_session(session_config(janus, clean_net, create=True, display="Host"))
        await host.start()
        g_visit, guest = new_session(
            session_config(
                janus,
                clean_net,
                room=host.cfg.room,
                pin=host.cfg.pin,
                host_key=host.lobby_key,
                camera="/dev/video-that-does-not-exist",
            )
        )
        try:
            with pytest.raises(VisitError):
                await guest.start()
        finally:
            await guest.close()
            await host.close()
        assert g_visit.state is VisitState.ENDED
        assert "camera" in g_visit.end_reason

    asyncio.run(scenario())
