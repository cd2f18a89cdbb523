"""Console <-> console through a real Janus (VideoRoom): headless CLI and in-process sessions.

Video carries the framestamp barcode (media/framestamp.py), so frame counts,
loss and send->decoded latency come from the decoded pictures. Both consoles
run on this host, so the monotonic stamp clock is shared and latency is exact.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.visit import VisitState
from tests.integration.media._helpers import (
    finish_cli,
    frames_from,
    new_session,
    session_config,
    start_cli,
    wait_until,
)
from tests.integration.media.services import JanusServer, MediaNet

pytestmark = pytest.mark.integration


def _room_from(stderr_line: str) -> tuple[str, str, str]:
    words = stderr_line.split()
    assert words[0] == "room" and words[2] == "pin" and words[4] == "key", stderr_line
    return words[1], words[3], words[5]


def test_headless_console_to_console(
    tmp_path: Path, janus: JanusServer, clean_net: MediaNet
) -> None:
    """Host (root namespace) creates the room; a guest in the peer namespace joins via the lobby."""
    host = start_cli(
        [
            "--create",
            "--admit-all",
            "--seconds",
            "14",
            "--interface",
            clean_net.host_ip,
            "--size",
            "1280x720",
            "--display",
            "Host",
        ],
        tmp_path / "host",
        janus,
    )
    assert host.stderr is not None
    line = host.stderr.readline()
    if not line.startswith("room"):
        _code, report, err = finish_cli(host)
        pytest.fail(f"host did not create a room: {line}{err} {report}")
    room, pin, key = _room_from(line)
    guest = start_cli(
        [
            "--room",
            room,
            "--pin",
            pin,
            "--key",
            key,
            "--seconds",
            "8",
            "--interface",
            clean_net.peer_ip,
            "--size",
            "1280x720",
            "--display",
            "Cart",
        ],
        tmp_path / "guest",
        janus,
        netns=clean_net,
    )
    g_code, g_report, g_err = finish_cli(guest)
    h_code, h_report, h_err = finish_cli(host)
    assert g_code == 0, f"guest failed: {g_err} {g_report}"
    assert h_code == 0, f"host failed: {h_err} {h_report}"
    for name, report in (("guest", g_report), ("host", h_report)):
        (remote,) = report["remotes"]
        print(name, remote, "connect_s", report["connect_s"], "rtt", report["rtt_ms"])
        # 720p: the barcode's 16 px blocks survive VP8 (at 640x480 its 8 px blocks often
        # do not, and an unreadable code would hide loss)
        assert remote["width"] == 1280 and remote["height"] == 720
        assert remote["video_frames"] >= 150, remote  # ~8 s at 30 fps, after joining
        assert remote["audio_frames"] >= 200, remote  # 20 ms opus frames
        assert remote["stamped_frames"] >= 120, remote
        assert remote["latency_p95_ms"] < 250, remote  # a loaded 2-core CI box; bench has budgets
        assert remote["unreadable_frames"] <= remote["video_frames"] // 10, remote
        assert remote["frames_lost"] <= remote["video_frames"] // 20, remote
        assert report["candidate_type"] == "host"
    assert g_report["connect_s"] < 5.0


def test_waiting_room_multiparty_and_kick(janus: JanusServer, clean_net: MediaNet) -> None:
    async def scenario() -> None:
        h_visit, host = new_session(session_config(janus, clean_net, create=True, display="Host"))
        await host.start()
        assert h_visit.state is VisitState.WAITING
        cfg = {"room": host.cfg.room, "pin": host.cfg.pin, "host_key": host.lobby_key}
        p_visit, patient = new_session(session_config(janus, clean_net, display="Pat Doe", **cfg))
        s_visit, specialist = new_session(
            session_config(janus, clean_net, display="Dr Second", **cfg)
        )
        patient_start = asyncio.ensure_future(patient.start())
        try:
            await wait_until(lambda: len(h_visit.waiting) == 1, 10, "the patient in the lobby")
            waiting = h_visit.waiting[0]
            assert waiting.display == "Pat Doe"
            # the host may hear of the arrival before the patient's own join answer lands
            await wait_until(lambda: p_visit.state is VisitState.WAITING, 5, "patient waiting")
            # Not admitted: the patient has no subscription and receives nothing; Janus
            # itself refuses the main room (the token is not on the allowed list).
            await asyncio.sleep(1.0)  # give a leak the chance to show (not synchronisation)
            assert not patient.remotes and frames_from(patient) == 0
            assert not h_visit.remote_participants()

            await host.admit(waiting.waiting_id)
            await patient_start
            await wait_until(lambda: frames_from(patient) > 30, 10, "host video at the patient")
            await wait_until(lambda: frames_from(host) > 30, 10, "patient video at the host")
            assert h_visit.state is VisitState.IN_CALL and p_visit.state is VisitState.IN_CALL
            assert [p.display for p in h_visit.remote_participants()] == ["Pat Doe"]
            assert not h_visit.waiting

            # A third participant: everyone subscribes to everyone (grid).
            specialist_start = asyncio.ensure_future(specialist.start())
            await wait_until(lambda: len(h_visit.waiting) == 1, 10, "the specialist waiting")
            await host.admit(h_visit.waiting[0].waiting_id)
            await specialist_start
            for session in (host, patient, specialist):
                await wait_until(
                    lambda s=session: (
                        len(s.remotes) == 2
                        and all(
                            r.probe is not None and r.probe.frames > 20 for r in s.remotes.values()
                        )
                    ),
                    15,
                    "video from both others",
                )
            assert len(h_visit.participants) == 3

            # The host removes the specialist: their session ends, others drop them.
            spec_id = str(specialist.joined.participant_id) if specialist.joined else ""
            await host.remove_participant(spec_id)
            await wait_until(lambda: s_visit.state is VisitState.ENDED, 10, "the kick")
            assert "removed" in s_visit.end_reason
            await wait_until(lambda: len(patient.remotes) == 1, 10, "the patient dropping them")
            assert len(host.remotes) == 1
        finally:
            for session in (specialist, patient, host):
                await session.close()
        assert p_visit.state is VisitState.ENDED

    asyncio.run(scenario())


def test_wrong_pin_is_an_auth_error(janus: JanusServer, clean_net: MediaNet) -> None:
    from app.errors import VisitAuthError

    async def scenario() -> None:
        _, host = new_session(session_config(janus, clean_net, create=True))
        await host.start()
        try:
            g_visit, guest = new_session(
                session_config(
                    janus,
                    clean_net,
                    room=host.cfg.room,
                    pin="0000000000",
                    host_key=host.lobby_key,
                )
            )
            with pytest.raises(VisitAuthError) as caught:
                await guest.start()
            assert "wrong PIN" in str(caught.value)
            assert g_visit.state is VisitState.ENDED and "wrong PIN" in g_visit.end_reason
        finally:
            await host.close()

    asyncio.run(scenario())
