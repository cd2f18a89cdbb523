"""QtNoteEditor: the encounter's note, as four SOAP sections, autosaved.

The stored text is always ``soap.compose(sections)``; a note that is not in
SOAP shape (imported from elsewhere) is shown and saved as one free text, so
nothing is rewritten behind the clinician's back.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt, Signal
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
from ui.i18n import QT_TRANSLATE_NOOP
from ui.ops import run_op

log = logging.getLogger(__name__)

EMPTY_TEXT = QCoreApplication.translate(
    "note_editor", "No encounter selected — pick a visit on the left"
)
LOADING_TEXT = QCoreApplication.translate("note_editor", "Opening note…")

_HINTS = {
    "Subjective": QCoreApplication.translate(
        "note_editor", "History, symptoms and concerns in the patient's words"
    ),
    "Objective": QCoreApplication.translate("note_editor", "Vitals, examination findings, results"),
    "Assessment": QCoreApplication.translate("note_editor", "Diagnosis or differential"),
    "Plan": QCoreApplication.translate(
        "note_editor", "Treatment, prescriptions, follow-up, referrals"
    ),
}


# Shown translated: the SOAP headings (stored in English in the note text, which is a
# record, not UI), note types and states.
SECTION_TITLES = (
    QT_TRANSLATE_NOOP("QtNoteEditor", "Subjective"),
    QT_TRANSLATE_NOOP("QtNoteEditor", "Objective"),
    QT_TRANSLATE_NOOP("QtNoteEditor", "Assessment"),
    QT_TRANSLATE_NOOP("QtNoteEditor", "Plan"),
    QT_TRANSLATE_NOOP("QtNoteEditor", "Progress note"),
    QT_TRANSLATE_NOOP("QtNoteEditor", "Consult note"),
)
STATUS_TEXT = {
    "draft": QT_TRANSLATE_NOOP("QtNoteEditor", "Draft"),
    "signed": QT_TRANSLATE_NOOP("QtNoteEditor", "Signed"),
    "final": QT_TRANSLATE_NOOP("QtNoteEditor", "Final"),
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
    start_visit_requested = Signal(str)  # encounter_id
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
        self._creating = False
        # Notes created here, by encounter: a worklist row read before the creation
        # must not show the draft again (and create a second note).
        self._created: dict[str, str] = {}

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
        self.history_button = QPushButton(
            QCoreApplication.translate("QtNoteEditor", "History…"), header
        )
        self.history_button.setObjectName("historyButton")
        self.history_button.clicked.connect(self._on_history_clicked)
        # The visit starts from the encounter it belongs to, and its invite link is here.
        self.start_visit_button = QPushButton(self.tr("Start video visit"), header)
        self.start_visit_button.setObjectName("startVisitButton")
        self.start_visit_button.setToolTip(self.tr("Start a video visit for this encounter"))
        self.start_visit_button.clicked.connect(self._on_start_visit_clicked)
        self.start_visit_button.hide()
        self.invite_button = QPushButton(self.tr("Copy invite link"), header)
        self.invite_button.setObjectName("copyInviteButton")
        self.invite_button.setToolTip(self.tr("Copy the link the patient opens to join"))
        self.invite_button.clicked.connect(self._on_copy_invite)
        self.invite_button.hide()
        self._invite_link = ""
        buttons = QHBoxLayout()
        buttons.setSpacing(6)
        buttons.addWidget(self.invite_button)
        buttons.addWidget(self.start_visit_button)
        buttons.addWidget(self.history_button)
        meta.addWidget(self.version_label)
        meta.addLayout(buttons)
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
            title = QLabel(QCoreApplication.translate("QtNoteEditor", name), frame)
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
        """Show ``summary``'s note; an encounter without one shows the empty template,
        and the note is created by the first keystroke (not by opening)."""
        self._open_seq += 1
        seq = self._open_seq
        # Best effort: a failing save keeps its text pending in the autosaver,
        # so moving on to another visit loses nothing.
        self._autosaver.save_now()
        self._stack.setCurrentWidget(self.loading_label)
        note_id = summary.note_id or self._created.get(summary.encounter.id)
        if note_id is None:
            self._summary = summary
            self._creating = False
            self._show_draft()
            return None
        try:
            note = await self._notes.open_or_create_note(summary.encounter.id, note_id, source=self)
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

    def _show_draft(self) -> None:
        """The template of a note that does not exist yet (nothing stored)."""
        self._note = None
        self._loading = True
        try:
            for edit in self.sections.values():
                edit.setPlainText("")
        finally:
            self._loading = False
        self._soap_mode = True
        for frame in self._section_frames:
            frame.setVisible(True)
        self.free_text.setVisible(False)
        self._render_header()
        self._stack.setCurrentIndex(2)

    def is_draft(self) -> bool:
        """An encounter is open whose note is not created yet."""
        return self._note is None and self._summary is not None and not self.is_empty_state()

    async def _create_from_first_keystroke(self, seq: int) -> None:
        summary = self._summary
        assert summary is not None
        try:
            note = await self._notes.create_note(summary.encounter.id, self.text(), source=self)
        finally:
            self._creating = False
        self._created[summary.encounter.id] = note.id
        if seq != self._open_seq:
            return  # another encounter was opened meanwhile; the note is stored anyway
        self._note = note
        self._version = note.version
        self._render_header()
        self.note_opened.emit(note)
        if self.text() != note.text:  # typed on while the note was being created
            self._autosaver.schedule(note.id, self.text())

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
        if self._summary is None:
            return
        patient = self._summary.patient
        encounter = self._summary.encounter
        self.patient_label.setText(patient.display_name)
        translate = QCoreApplication.translate
        parts = [
            translate("QtNoteEditor", "Born %1 (%2)")
            .replace("%1", short_date(patient.birth_date))
            .replace("%2", age_from(patient.birth_date))
        ]
        if patient.mrn:
            parts.append(translate("QtNoteEditor", "MRN %1").replace("%1", patient.mrn))
        parts.append(day_and_clock(encounter.start))
        if encounter.reason:
            parts.append(encounter.reason)
        self.details_label.setText("  ·  ".join(parts))
        self.history_button.setEnabled(self._note is not None)
        if self._note is None:
            self.version_label.setText(self.tr("New note · saved when you start typing"))
            return
        self._version = self._note.version
        self._render_version()

    def _render_version(self) -> None:
        if self._note is not None:
            note = self._note
            translate = QCoreApplication.translate
            status = STATUS_TEXT.get(note.status.value, note.status.value.capitalize())
            self.version_label.setText(
                translate("QtNoteEditor", "%1 · %2 · version %3")
                .replace("%1", translate("QtNoteEditor", note.note_type.display))
                .replace("%2", translate("QtNoteEditor", status))
                .replace("%3", str(self._version))
            )

    # -- editing ---------------------------------------------------------
    def _on_text_changed(self) -> None:
        if self._loading:
            return
        if self._note is None:
            typed = any(e.toPlainText().strip() for e in self.sections.values())
            if self._summary is not None and not self._creating and typed:
                self._creating = True
                run_op(
                    self,
                    self._create_from_first_keystroke(self._open_seq),
                    busy=False,
                    context="Create note",
                )
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

    def set_visit_offer(self, available: bool, *, running: bool = False, link: str = "") -> None:
        """What the header offers: "Start video visit" (or "Show video visit" while one
        runs) and, with a running visit, its invite link."""
        self.start_visit_button.setVisible(available or running)
        self.start_visit_button.setText(
            self.tr("Show video visit") if running else self.tr("Start video visit")
        )
        self._invite_link = link if running else ""
        self.invite_button.setVisible(bool(self._invite_link))

    def _on_start_visit_clicked(self) -> None:
        if self._summary is not None:
            self.start_visit_requested.emit(self._summary.encounter.id)

    def _on_copy_invite(self) -> None:
        from PySide6.QtGui import QGuiApplication

        if self._invite_link:
            QGuiApplication.clipboard().setText(self._invite_link)
            self.invite_button.setText(self.tr("Link copied"))

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
