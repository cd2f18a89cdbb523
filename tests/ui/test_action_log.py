"""User actions (lock, unlock, visit start and end, attach) are logged, with ids only."""

from __future__ import annotations

import logging

import numpy as np

from app.logging_setup import ACTIONS_LOGGER
from app.records import AttachmentKind
from app.services import AttachmentsService
from app.session import LockReason
from media.steth.recording import encode_wav
from tests.ui._visit_script import make_visit
from tests.ui.conftest import PASSPHRASE, Aio


def test_user_actions_reach_the_log_without_patient_data(aio: Aio, make_console, caplog) -> None:
    caplog.set_level(logging.INFO, logger=ACTIONS_LOGGER)
    console = make_console()
    window = console.window
    summary = window.worklist.summaries()[0]
    visit, _controls = make_visit()
    window.set_visit_factory(lambda _enc: visit, demo=True)
    aio.run(window.start_visit(summary.encounter.id))
    aio.run(window.lock(LockReason.USER))
    assert aio.run(window.unlock(PASSPHRASE))
    service = AttachmentsService(console.store, console.events)
    wav = encode_wav(np.zeros(4800), 48_000)
    aio.run(service.attach(summary.encounter.id, AttachmentKind.AUDIO, "audio/wav", wav))
    window.visit_window._may_close = True
    window.visit_window.close()
    actions = [r.getMessage() for r in caplog.records if r.name == ACTIONS_LOGGER]
    kinds = [m.split()[2] for m in actions]
    assert kinds == ["visit_start", "lock", "unlock", "attach", "visit_end"], actions
    patient = summary.patient
    for message in actions:
        for private in (patient.family_name, patient.given_name, patient.mrn, patient.birth_date):
            assert not private or private not in message
