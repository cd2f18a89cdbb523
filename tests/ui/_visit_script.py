"""A scripted visit for the visit window's tests and screenshots.

``ScriptedControls`` stands in for the media session (media/visit/session.py
through Janus, media/visit/loopback.py for the demo), which has its own tests
against real peers. The window only ever talks to the ``VisitControls`` port,
so the fake answers the way the session does: by updating the ``Visit``
through its ``_set_*`` methods, never by the UI changing the model itself.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np

from app.visit import (
    CallQuality,
    CallStats,
    EndReason,
    Invite,
    MediaDevice,
    Participant,
    ParticipantRole,
    TrackStats,
    Visit,
    VisitState,
    WaitingPatient,
)

LOCAL = Participant("local-1", "Dr. Ada Quinn", ParticipantRole.HOST, True, True, True)
PATIENT = Participant(
    "pat-7", "Sam Rivera", ParticipantRole.PATIENT, has_video=True, has_audio=True
)
SPECIALIST = Participant(
    "spec-2", "Dr. Lee (cardiology)", ParticipantRole.CLINICIAN, has_video=True, has_audio=True
)
INTERPRETER = Participant(
    "int-3", "Interpreter", ParticipantRole.GUEST, has_video=False, has_audio=True
)
INVITE = Invite(
    page_url="https://visits.example.org/patient/",
    server_url="wss://visits.example.org/janus",
    room=4821,
    pin="Zq7-31k9",
)
DEVICES = [
    MediaDevice("testsrc", "Test pattern", "camera"),
    MediaDevice("/dev/video0", "USB exam camera", "camera"),
    MediaDevice("pulse:default", "Built-in microphone", "microphone"),
    MediaDevice("pulse:headset", "Headset microphone", "microphone"),
    MediaDevice("pulse:out", "Speakers", "speaker"),
    MediaDevice("pulse:headphones", "Headphones", "speaker"),
]


class ScriptedControls:
    """Records every call and answers like the media session would."""

    def __init__(self, visit: Visit, devices: list[MediaDevice] | None = None) -> None:
        self.visit = visit
        self.calls: list[tuple[str, object]] = []
        self._devices = list(DEVICES if devices is None else devices)
        self.fail: dict[str, BaseException] = {}  # method name -> exception to raise

    def _record(self, name: str, arg: object) -> None:
        self.calls.append((name, arg))
        if name in self.fail:
            raise self.fail[name]

    async def set_microphone_muted(self, muted: bool) -> None:
        self._record("set_microphone_muted", muted)
        self.visit._set_local_media(muted, self.visit.camera_enabled)

    async def set_privacy_hold(self, on: bool) -> None:
        """Like the media session: mute while held, back to the earlier state after."""
        self._record("set_privacy_hold", on)
        if on:
            self._muted_before_hold = self.visit.microphone_muted
            self.visit._set_local_media(True, self.visit.camera_enabled)
        else:
            before = getattr(self, "_muted_before_hold", self.visit.microphone_muted)
            self.visit._set_local_media(before, self.visit.camera_enabled)

    async def set_camera_enabled(self, enabled: bool) -> None:
        self._record("set_camera_enabled", enabled)
        self.visit._set_local_media(self.visit.microphone_muted, enabled)

    async def switch_camera(self, device_id: str) -> None:
        self._record("switch_camera", device_id)

    async def switch_microphone(self, device_id: str) -> None:
        self._record("switch_microphone", device_id)

    async def set_speaker(self, device_id: str) -> None:
        self._record("set_speaker", device_id)

    async def admit(self, waiting_id: str) -> None:
        self._record("admit", waiting_id)
        admitted = [w for w in self.visit.waiting if w.waiting_id == waiting_id]
        self.visit._set_waiting(tuple(w for w in self.visit.waiting if w.waiting_id != waiting_id))
        for person in admitted:
            joined = Participant(
                person.waiting_id, person.display, ParticipantRole.PATIENT, False, True, True
            )
            self.visit._set_participants((*self.visit.participants, joined))
        if admitted and self.visit.state is VisitState.WAITING:
            self.visit.started_at = datetime.now(UTC)
            self.visit._set_state(VisitState.IN_CALL)

    async def remove_participant(self, participant_id: str) -> None:
        self._record("remove_participant", participant_id)
        self.visit._set_participants(
            tuple(p for p in self.visit.participants if p.participant_id != participant_id)
        )

    async def hang_up(self) -> None:
        self._record("hang_up", None)
        self.visit._set_state(VisitState.ENDED, EndReason("visit.end.hung_up"))

    def devices(self) -> list[MediaDevice]:
        return list(self._devices)


def make_visit(*, host: bool = True) -> tuple[Visit, ScriptedControls]:
    visit = Visit(encounter_id="enc-1", invite=INVITE if host else None)
    controls = ScriptedControls(visit)
    visit.controls = controls
    return visit, controls


def waiting_patient(seconds_ago: float = 95.0, name: str = "Sam Rivera") -> WaitingPatient:
    return WaitingPatient("wait-1", name, datetime.now(UTC) - timedelta(seconds=seconds_ago))


def join(visit: Visit, *remote: Participant, local: Participant = LOCAL) -> None:
    """What the session does when the call is up with ``remote``."""
    visit._set_participants((local, *remote))
    if visit.started_at is None:
        visit.started_at = datetime.now(UTC) - timedelta(minutes=4, seconds=12)
    visit._set_state(VisitState.IN_CALL)


def stats(quality: CallQuality = CallQuality.GOOD, **call: object) -> CallStats:
    inbound = TrackStats(
        "video", "inbound", PATIENT.participant_id, "camera", "VP8", 1280, 720, 29.7, 1840.0,
        3, 0.4, 6.0,
    )  # fmt: skip
    audio = TrackStats("audio", "inbound", PATIENT.participant_id, "voice", "opus", jitter_ms=11.0)
    outbound = TrackStats("video", "outbound", "", "camera", "VP8", 1280, 720, 30.0, 1500.0)
    base = CallStats(
        rtt_ms=42.0,
        candidate_type="host",
        tracks=(inbound, audio, outbound),
        low_bandwidth=False,
        quality=quality,
    )
    return replace(base, **call)  # type: ignore[arg-type]


def color_bars(width: int = 1280, height: int = 720, phase: int = 0) -> np.ndarray:
    """Colour bars with a moving white block: an RGB24 frame like the decoder's."""
    bars = np.array(
        [
            [235, 235, 235],
            [235, 235, 16],
            [16, 235, 235],
            [16, 235, 16],
            [235, 16, 235],
            [235, 16, 16],
            [16, 16, 235],
        ],
        dtype=np.uint8,
    )
    columns = (np.arange(width) * len(bars) // width).astype(np.intp)
    frame = np.empty((height, width, 3), dtype=np.uint8)
    frame[:] = bars[columns][np.newaxis, :, :]
    lower = height * 3 // 4
    frame[lower:] = np.linspace(16, 235, width, dtype=np.uint8)[np.newaxis, :, np.newaxis]
    size = height // 6
    x = (phase * 24) % max(1, width - size)
    frame[height // 3 : height // 3 + size, x : x + size] = 255
    return frame


def solid(color: tuple[int, int, int], width: int = 640, height: int = 360) -> np.ndarray:
    frame = np.empty((height, width, 3), dtype=np.uint8)
    frame[:] = color
    return frame
