"""The e-consult screens as real widgets over the real use case and a SQLCipher store:
"Ask a specialist…" sends the visit's chosen still and note, the queue shows the
request with its still, a question goes back, and "Answer and close" closes it.
Screenshots go to tests/artifacts/ for people to look at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QWidget

from app.econsult import ConsultStatus, EconsultService, Urgency
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

    queue.answer_edit.setPlainText("Nummular eczema: emollients, mid-potency steroid.")
    qtbot.mouseClick(queue.answer_button, Qt.MouseButton.LeftButton)
    aio.wait_until(lambda: queue.list.count() == 0)
    done = aio.run(service.open(sent.id))
    assert done.status is ConsultStatus.COMPLETED and done.answer is not None
    assert "Nummular eczema" in queue.answer_view.text()
    assert not queue.answer_button.isVisible()
    _shot(queue, "econsult_answered.png")
