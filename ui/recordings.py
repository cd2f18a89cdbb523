"""QtEncounterRecordings: the encounter's stethoscope recordings (and stills) under the
note's header: site, length, heart rate, and Play.

It renders :class:`app.services.AttachmentsService` (``for_encounter``) and refreshes on
``attachment_did_add`` / ``attachment_did_delete``; playing is the composition root's
(a ``play(wav_bytes) -> problem text`` callable), since ``ui/`` never touches audio
devices. Nothing here names the patient: the list shows clinical metadata only.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.events import ConsoleEvents
from app.records import Attachment, AttachmentKind
from app.services import AttachmentsService
from ui.i18n import QT_TRANSLATE_NOOP
from ui.ops import run_op

PlayWav = Callable[[bytes], str]  # "" when playing, else a one-line reason

SITE_WORDS = {  # the stethoscope panel's site names, in the catalogue's words
    "aortic": QT_TRANSLATE_NOOP("QtEncounterRecordings", "Aortic"),
    "pulmonic": QT_TRANSLATE_NOOP("QtEncounterRecordings", "Pulmonic"),
    "tricuspid": QT_TRANSLATE_NOOP("QtEncounterRecordings", "Tricuspid"),
    "mitral": QT_TRANSLATE_NOOP("QtEncounterRecordings", "Mitral"),
}


def _tr(text: str) -> str:
    return QCoreApplication.translate("QtEncounterRecordings", text)


def describe(attachment: Attachment) -> str:
    """ "Mitral · 12.0 s · 73 /min" for a recording, the title for a still."""
    meta = attachment.metadata
    if attachment.kind is not AttachmentKind.AUDIO:
        return attachment.title or QCoreApplication.translate("QtEncounterRecordings", "Image")
    site = str(meta.get("auscultation_site", ""))
    parts = [_tr(SITE_WORDS[site]) if site in SITE_WORDS else site.replace("_", " ").capitalize()]
    duration = meta.get("duration_s")
    if isinstance(duration, int | float):
        parts.append(f"{duration:.1f} s")
    bpm = meta.get("heart_rate_bpm")
    if isinstance(bpm, int | float):
        parts.append(
            QCoreApplication.translate("QtEncounterRecordings", "%1 /min").replace(
                "%1", f"{bpm:.0f}"
            )
        )
    return "  ·  ".join(p for p in parts if p)


class QtEncounterRecordings(QFrame):
    def __init__(
        self,
        attachments: AttachmentsService,
        events: ConsoleEvents,
        play: PlayWav | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("encounterRecordings")
        self._attachments = attachments
        self._play = play
        self._encounter_id: str | None = None
        self._rows: list[tuple[Attachment, QWidget]] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(4)
        self.title = QLabel(
            QCoreApplication.translate("QtEncounterRecordings", "Recordings and images"), self
        )
        self.title.setObjectName("recordingsTitle")
        self.status = QLabel("", self)
        self.status.setObjectName("recordingsStatus")
        self.status.hide()
        layout.addWidget(self.title)
        self._list = QVBoxLayout()
        self._list.setSpacing(2)
        layout.addLayout(self._list)
        layout.addWidget(self.status)
        self.hide()
        events.attachment_did_add.connect(self._on_changed)
        events.attachment_did_delete.connect(self._on_changed)

    def show_encounter(self, encounter_id: str | None) -> None:
        self._encounter_id = encounter_id
        if encounter_id is None:
            self._render([])
            return
        run_op(self, self._load(encounter_id), busy=False, context="Load recordings")

    def rows(self) -> list[str]:
        return [describe(a) for a, _ in self._rows]

    async def _load(self, encounter_id: str) -> None:
        found = await self._attachments.for_encounter(encounter_id)
        if encounter_id == self._encounter_id:
            self._render(found)

    def _on_changed(self, changed: object, _source: object = None) -> None:
        encounter = getattr(changed, "encounter_id", None)
        if self._encounter_id is not None and encounter in (None, self._encounter_id):
            self.show_encounter(self._encounter_id)

    def _render(self, found: list[Attachment]) -> None:
        for _, row in self._rows:
            self._list.removeWidget(row)
            row.deleteLater()
        self._rows = []
        for attachment in found:
            row = QWidget(self)
            line = QHBoxLayout(row)
            line.setContentsMargins(0, 0, 0, 0)
            text = QLabel(describe(attachment), row)
            text.setObjectName("recordingText")
            line.addWidget(text, 1)
            if attachment.kind is AttachmentKind.AUDIO and self._play is not None:
                play = QPushButton(QCoreApplication.translate("QtEncounterRecordings", "Play"), row)
                play.setObjectName("playRecording")
                play.setAccessibleName(
                    QCoreApplication.translate("QtEncounterRecordings", "Play %1").replace(
                        "%1", describe(attachment)
                    )
                )
                play.clicked.connect(lambda _c=False, a=attachment: self._on_play(a))
                line.addWidget(play)
            self._list.addWidget(row)
            self._rows.append((attachment, row))
        self.setVisible(bool(found))

    def _on_play(self, attachment: Attachment) -> None:
        play = self._play
        if play is None:
            return

        async def start() -> None:
            problem = play(await self._attachments.read(attachment.id))
            self.status.setText(problem)
            self.status.setVisible(bool(problem))

        run_op(self, start(), busy=False, context="Play recording")
