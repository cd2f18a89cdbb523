"""QtNoteEditor: the encounter's note, as four SOAP sections, autosaved.

The stored text is always ``soap.compose(sections)``; a note that is not in
SOAP shape (imported from elsewhere) is shown and saved as one free text, so
nothing is rewritten behind the clinician's back.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app import soap, templates
from app.events import ConsoleEvents
from app.records import EncounterSummary, Note, SaveResult
from app.services import NotesService
from ui.autosave import Autosaver
from ui.format import age_from, day_and_clock, short_date
from ui.ops import run_op

log = logging.getLogger(__name__)

EMPTY_TEXT = "No encounter selected — pick a visit on the left"
LOADING_TEXT = "Opening note…"

_HINTS = {
    "Subjective": "History, symptoms and concerns in the patient's words",
    "Objective": "Vitals, examination findings, results",
    "Assessment": "Diagnosis or differential",
    "Plan": "Treatment, prescriptions, follow-up, referrals",
}


def _placeholder(text: str, name: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName(name)
    label.setProperty("role", "placeholder")
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    return label


class QtNoteEditor(QWidget):
    history_requested = Signal(str)  # note_id
    note_opened = Signal(object)  # Note

    def __init__(
        self,
        notes: NotesService,
        events: ConsoleEvents,
        autosaver: Autosaver,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("noteEditor")
        self._notes = notes
        self._events = events
        self._autosaver = autosaver
        self._summary: EncounterSummary | None = None
        self._note: Note | None = None
        self._soap_mode = True
        self._loading = False
        self._open_seq = 0
        self._version = 0
        self._header = ""  # the telehealth header block (app/templates.py), shown read-only

        self._stack = QStackedWidget(self)
        self.empty_label = _placeholder(EMPTY_TEXT, "editorEmpty")
        self.loading_label = _placeholder(LOADING_TEXT, "editorLoading")
        self._stack.addWidget(self.empty_label)
        self._stack.addWidget(self.loading_label)
        self._stack.addWidget(self._build_page())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._stack)

        events.note_did_restore.connect(self._on_note_did_restore)

    # -- construction ----------------------------------------------------
    def _build_page(self) -> QWidget:
        page = QWidget()
        page.setObjectName("editorPage")
        outer = QVBoxLayout(page)
        self._page_layout = outer
        outer.setContentsMargins(20, 16, 20, 16)
        outer.setSpacing(10)

        header = QFrame(page)
        header.setObjectName("encounterHeader")
        head = QHBoxLayout(header)
        head.setContentsMargins(16, 12, 16, 12)
        names = QVBoxLayout()
        names.setSpacing(2)
        self.patient_label = QLabel(header)
        self.patient_label.setObjectName("patientName")
        self.details_label = QLabel(header)
        self.details_label.setObjectName("patientDetails")
        self.details_label.setWordWrap(True)
        names.addWidget(self.patient_label)
        names.addWidget(self.details_label)
        head.addLayout(names, 1)
        meta = QVBoxLayout()
        meta.setSpacing(6)
        self.version_label = QLabel(header)
        self.version_label.setObjectName("noteVersion")
        self.version_label.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.history_button = QPushButton("History…", header)
        self.history_button.setObjectName("historyButton")
        self.history_button.clicked.connect(self._on_history_clicked)
        meta.addWidget(self.version_label)
        meta.addWidget(self.history_button, 0, Qt.AlignmentFlag.AlignRight)
        head.addLayout(meta, 0)
        outer.addWidget(header)

        self.header_label = QLabel(page)
        self.header_label.setObjectName("telehealthHeader")
        self.header_label.setWordWrap(True)
        self.header_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.header_label.hide()
        outer.addWidget(self.header_label)

        self.sections: dict[str, QPlainTextEdit] = {}
        self._section_frames: list[QWidget] = []
        for name in soap.SECTIONS:
            frame = QWidget(page)
            frame.setObjectName("soapSection")
            box = QVBoxLayout(frame)
            box.setContentsMargins(0, 0, 0, 0)
            box.setSpacing(4)
            title = QLabel(name, frame)
            title.setObjectName("sectionTitle")
            edit = QPlainTextEdit(frame)
            edit.setObjectName(f"section{name}")
            edit.setPlaceholderText(_HINTS[name])
            edit.setTabChangesFocus(True)
            edit.textChanged.connect(self._on_text_changed)
            edit.installEventFilter(self)
            title.setBuddy(edit)
            box.addWidget(title)
            box.addWidget(edit, 1)
            outer.addWidget(frame, 1)
            self.sections[name] = edit
            self._section_frames.append(frame)

        self.free_text = QPlainTextEdit(page)
        self.free_text.setObjectName("freeText")
        self.free_text.textChanged.connect(self._on_text_changed)
        self.free_text.installEventFilter(self)
        self.free_text.hide()
        outer.addWidget(self.free_text, 4)
        return page

    # -- state -----------------------------------------------------------
    @property
    def note(self) -> Note | None:
        return self._note

    @property
    def summary(self) -> EncounterSummary | None:
        return self._summary

    def is_empty_state(self) -> bool:
        return self._stack.currentWidget() is self.empty_label

    def is_loading(self) -> bool:
        return self._stack.currentWidget() is self.loading_label

    def text(self) -> str:
        if self._soap_mode:
            body = soap.compose({n: e.toPlainText() for n, e in self.sections.items()})
            return templates.join_header(self._header, body)
        return self.free_text.toPlainText()

    def section(self, name: str) -> QPlainTextEdit:
        return self.sections[name]

    def clear(self) -> None:
        self._open_seq += 1
        self._summary = None
        self._note = None
        self._stack.setCurrentWidget(self.empty_label)

    # -- opening ---------------------------------------------------------
    async def open_encounter(self, summary: EncounterSummary) -> Note | None:
        """Show ``summary``'s note (created from the template if it has none)."""
        self._open_seq += 1
        seq = self._open_seq
        # Best effort: a failing save keeps its text pending in the autosaver,
        # so moving on to another visit loses nothing.
        self._autosaver.save_now()
        self._stack.setCurrentWidget(self.loading_label)
        try:
            note = await self._notes.open_or_create_note(
                summary.encounter.id, summary.note_id, source=self
            )
        except BaseException:
            if seq == self._open_seq:  # back to what was shown; run_op reports the error
                self._stack.setCurrentIndex(2 if self._note is not None else 0)
            raise
        if seq != self._open_seq:
            return None  # the user picked another visit meanwhile
        self._summary = summary
        self._show_note(note)
        self.note_opened.emit(note)
        return note

    def _show_note(self, note: Note) -> None:
        self._note = note
        text = self._autosaver.pending_text(note.id)
        text = note.text if text is None else text
        # The visit's telehealth header stays as written; the sections below it are edited.
        header, body = templates.split_header(text)
        sections = soap.parse(body)
        self._soap_mode = sections is not None
        self._header = header if sections is not None else ""
        self.header_label.setText(self._header)
        self.header_label.setVisible(bool(self._header))
        self._loading = True
        try:
            if sections is not None:
                for name, edit in self.sections.items():
                    edit.setPlainText(sections.get(name, ""))
            else:
                self.free_text.setPlainText(text)
        finally:
            self._loading = False
        for frame in self._section_frames:
            frame.setVisible(self._soap_mode)
        self.free_text.setVisible(not self._soap_mode)
        self._render_header()
        self._stack.setCurrentIndex(2)

    def _render_header(self) -> None:
        if self._summary is None or self._note is None:
            return
        patient = self._summary.patient
        encounter = self._summary.encounter
        self.patient_label.setText(patient.display_name)
        parts = [f"Born {short_date(patient.birth_date)} ({age_from(patient.birth_date)})"]
        if patient.mrn:
            parts.append(f"MRN {patient.mrn}")
        parts.append(day_and_clock(encounter.start))
        if encounter.reason:
            parts.append(encounter.reason)
        self.details_label.setText("  ·  ".join(parts))
        self._version = self._note.version
        self._render_version()

    def _render_version(self) -> None:
        if self._note is not None:
            note = self._note
            self.version_label.setText(
                f"{note.note_type.display} · {note.status.value.capitalize()} · "
                f"version {self._version}"
            )

    # -- editing ---------------------------------------------------------
    def _on_text_changed(self) -> None:
        if self._loading or self._note is None:
            return
        self._autosaver.schedule(self._note.id, self.text())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.FocusOut and self._note is not None:
            self._autosaver.save_now()
        return super().eventFilter(watched, event)

    def set_version(self, result: SaveResult) -> None:
        if self._note is not None and result.note_id == self._note.id:
            self._version = result.version
            self._render_version()

    def _on_history_clicked(self) -> None:
        if self._note is not None:
            self.history_requested.emit(self._note.id)

    def set_header(self, note_id: str, note_text: str) -> None:
        """The visit rewrote the note's telehealth header (ui/visit_start.py): show it, and
        make the next autosave carry it, so typing saved later never puts the old one back."""
        if self._note is None or self._note.id != note_id or not self._soap_mode:
            return
        header, _body = templates.split_header(note_text)
        if header == self._header:
            return
        self._header = header
        self.header_label.setText(header)
        self.header_label.setVisible(bool(header))
        if self._autosaver.pending_text(note_id) is not None:
            self._autosaver.schedule(note_id, self.text())

    def set_read_only(self, read_only: bool) -> None:
        """A signed note is shown, never edited (ui/note_signing.py)."""
        for edit in (*self.sections.values(), self.free_text):
            edit.setReadOnly(read_only)

    def add_banner(self, banner: QWidget) -> None:
        """Show ``banner`` (e.g. a sync conflict) between the header and the note."""
        self._page_layout.insertWidget(1, banner)

    def reload(self) -> None:
        """Show the open note as stored now (after a change the editor did not make)."""
        if self._note is not None:
            run_op(self, self._reload(self._note.id), busy=False, context="Reload note")

    # -- events ----------------------------------------------------------
    def _on_note_did_restore(self, result: SaveResult, source: object) -> None:
        if self._note is None or result.note_id != self._note.id:
            return
        run_op(self, self._reload(result.note_id), busy=False, context="Reload note")

    async def _reload(self, note_id: str) -> None:
        seq = self._open_seq
        if self._summary is None:
            return
        note = await self._notes.open_or_create_note(self._summary.encounter.id, note_id)
        if seq == self._open_seq and self._note is not None and self._note.id == note_id:
            self._show_note(note)

    async def flush(self) -> bool:
        return await self._autosaver.flush()
