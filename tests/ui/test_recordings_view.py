"""Recordings on the encounter: listed under the note's header (site, length, heart
rate, Play) and counted in the worklist; real store, real AttachmentsService."""

from __future__ import annotations

import numpy as np

from app.records import AttachmentKind
from app.services import AttachmentsService
from media.steth.recording import encode_wav
from tests.ui.conftest import Aio


def test_an_attached_recording_shows_on_the_encounter_and_in_the_worklist(
    aio: Aio, make_console
) -> None:
    console = make_console()
    window = console.window
    played: list[bytes] = []
    service = AttachmentsService(console.store, console.events)
    window.set_attachments(service, lambda wav: played.append(wav) or "")
    summary = next(s for s in window.worklist.summaries() if s.note_id is not None)
    window.worklist.select_encounter(summary.encounter.id)
    aio.wait_until(lambda: window.editor.note is not None)
    assert not window.recordings.isVisible()  # nothing attached yet
    wav = encode_wav(np.zeros(48_000), 48_000)
    metadata = {"auscultation_site": "mitral", "duration_s": 12.0, "heart_rate_bpm": 73.2}
    aio.run(
        service.attach(summary.encounter.id, AttachmentKind.AUDIO, "audio/wav", wav, "", metadata)
    )
    aio.wait_until(lambda: window.recordings.rows() == ["Mitral  ·  12.0 s  ·  73 /min"])
    assert window.recordings.isVisible()
    aio.wait_until(lambda: window.worklist.recording_count(summary.encounter.id) == 1)
    from PySide6.QtWidgets import QPushButton

    window.recordings.findChild(QPushButton, "playRecording").click()
    aio.wait_until(lambda: played == [wav])
    other = next(s for s in window.worklist.summaries() if s.encounter.id != summary.encounter.id)
    window.worklist.select_encounter(other.encounter.id)
    aio.wait_until(lambda: not window.recordings.isVisible())
