"""The e-consult screens as real widgets over the real use case and a SQLCipher store:
"Ask a specialist…" sends the visit's chosen still and note, the queue shows the
request with its still, a question goes back, and "Answer and close" closes it.
Screenshots go to tests/artifacts/ for people to look at."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QWidget

from app.econsult import ConsultStatus, EconsultService, NewConsult, Urgency
from app.records import AttachmentKind, Encounter, NoteType, Patient, new_id, utc_now
from storage.econsult import StoreEconsult
from storage.store import EncryptedStore
from tests.ui.conftest import Aio, open_store
from tests.unit.images_support import at_megapixels, jpeg_bytes, photo
from ui.econsult_queue import QtAskSpecialistDialog, QtEconsultQueue

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ME = "Practitioner/spec-1"


def _shot(widget: QWidget, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    QApplication.processEvents()
    assert widget.grab().save(str(ARTIFACTS / name), "PNG")


@pytest.fixture
def store(aio: Aio, tmp_path: Path) -> Iterator[EncryptedStore]:
    s = aio.run(open_store(tmp_path / "profile"))
    yield s
    aio.run(s.close())


def test_ask_a_specialist_then_review_and_answer(
    aio: Aio, qtbot: Any, store: EncryptedStore
) -> None:
    patient = aio.run(store.add_patient(Patient(new_id(), "Rivera", "Lena", "1980-04-04")))
    enc = aio.run(store.add_encounter(Encounter(new_id(), patient.id, utc_now())))
    still = aio.run(
        store.add_attachment(
            enc.id,
            AttachmentKind.IMAGE,
            "image/jpeg",
            jpeg_bytes(at_megapixels(photo("astronaut.png"), 0.3)),
            "Forearm",
            {"width_px": 632, "height_px": 474},
        )
    )
    note = aio.run(store.create_note(enc.id, "S: rash", NoteType.PROGRESS))
    service = EconsultService(StoreEconsult(store), practitioner=ME)

    dialog = QtAskSpecialistDialog(enc.id, [still], note.id, specialist=ME)
    qtbot.addWidget(dialog)
    dialog.question.setPlainText("Eczema or psoriasis?")
    dialog.urgency.setCurrentIndex(dialog.urgency.findData(Urgency.URGENT.value))
    dialog.show()
    _shot(dialog, "econsult_ask.png")
    new = dialog.new_consult()
    assert list(new.still_ids) == [still.id] and new.note_id == note.id
    sent = aio.run(service.send(new))

    queue = QtEconsultQueue(service)
    qtbot.addWidget(queue)
    queue.resize(1000, 640)
    queue.show()
    aio.run(queue.refresh())
    assert queue.list.count() == 1
    queue.list.setCurrentRow(0)
    aio.wait_until(lambda: queue.current is not None and queue.current.id == sent.id)
    assert queue.question.text() == "Eczema or psoriasis?"
    labels = queue.findChildren(QLabel, "econsultStill")
    aio.wait_until(
        lambda: any(label.pixmap() is not None and not label.pixmap().isNull() for label in labels)
    )
    _shot(queue, "econsult_queue.png")

    queue.message_edit.setText("How long has it been there?")
    qtbot.mouseClick(queue.send_message, Qt.MouseButton.LeftButton)
    aio.wait_until(lambda: queue.messages.count() == 1)

    assert "no code" in queue.coding_hint.text()  # under 5 minutes
    queue.minutes.setValue(12)
    assert queue.coding_hint.text().startswith("Coding: 99451: written report only")
    _shot(queue, "econsult_review.png")
    queue.answer_edit.setPlainText("Nummular eczema: emollients, mid-potency steroid.")
    qtbot.mouseClick(queue.answer_button, Qt.MouseButton.LeftButton)
    aio.wait_until(lambda: queue.list.count() == 0)
    done = aio.run(service.open(sent.id))
    assert done.status is ConsultStatus.COMPLETED and done.answer is not None
    assert "Nummular eczema" in queue.answer_view.text()
    assert not queue.answer_button.isVisible()
    _shot(queue, "econsult_answered.png")


async def _sent(service: EconsultService) -> list[Any]:
    """The requests once the dialog's send has stored one (polled on the loop)."""
    while not (found := await service.sent()):
        await asyncio.sleep(0.02)
    return found


def test_ask_a_specialist_from_the_main_window(aio: Aio, make_console: Any) -> None:
    """The E-consult menu on a real main window (demo store): "Ask a specialist…" for the
    selected visit stores the request; the queue dock lists it for the specialist."""
    from app.services import AttachmentsService
    from app.sync import SyncRoundResult, SyncService
    from storage.sync.adapter import StoreSyncQueue
    from ui.econsult_queue import install_econsult

    console = make_console()
    window = console.window
    window.attach_sync(SyncService(StoreSyncQueue(console.store)))  # no record store
    service = EconsultService(StoreEconsult(console.store), practitioner=ME)
    hooks = install_econsult(window, service, AttachmentsService(console.store, console.events))
    menus = [a.text() for a in window.menuBar().actions()]
    assert "E-&consult" in menus and menus[-1] != "E-&consult"  # Help stays last
    summary = window.worklist.summaries()[0]
    window.worklist.select_encounter(summary.encounter.id)
    hooks.ask_action.trigger()
    aio.wait_until(lambda: hooks.dialog is not None and hooks.dialog.isVisible())
    dialog = hooks.dialog
    assert dialog is not None and dialog.encounter_id == summary.encounter.id
    dialog.question.setPlainText("Second opinion on this rash?")
    dialog.specialist.setText(ME)
    dialog.accept()
    [sent] = aio.run(_sent(service))
    assert sent.encounter_id == summary.encounter.id and sent.performer == ME
    hooks.queue_action.trigger()
    aio.wait_until(lambda: hooks.queue.list.count() == 1)
    window.resize(1600, 900)
    _shot(window, "main_window_econsult_dock.png")
    # What a sync round brought (here: stored directly) shows up when the round ends.
    other = window.worklist.summaries()[1].encounter.id
    aio.run(service.store.create_consult(NewConsult(other, "Pulled meanwhile", ME), ""))
    assert window.sync is not None
    window.sync.sync_did_finish.emit(SyncRoundResult(pulled=1))
    aio.wait_until(lambda: hooks.queue.list.count() == 2)
    # Locked: the dock (names, stills) goes with the rest and comes back on unlock.
    from app.session import LockReason
    from tests.ui.conftest import PASSPHRASE

    aio.run(window.lock(LockReason.USER))
    assert not hooks.dock.isVisible() and not hooks.ask_action.isEnabled()
    assert aio.run(window.unlock(PASSPHRASE))
    assert hooks.dock.isVisible() and hooks.ask_action.isEnabled()
