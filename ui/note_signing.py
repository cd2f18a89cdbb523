"""Signing in the note editor: the Sign bar, the addendum dialog, worklist badges.

The bar sits between the encounter header and the note (``QtNoteEditor.add_banner``):
for a draft it offers **Sign note**; once signed it says who signed and when, makes
the note read-only, lists the signed addenda and offers **Add addendum…**. When the
record store changed a signed note, the bar says so and the addendum answers it
(app.notes_signing.NoteSigning.add_addendum with ``resolves_conflict``).

Every action goes through the use case (app/notes_signing.py); the editor's pending
typing is saved first, and the text on screen is what gets signed (``seen_text``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from PySide6.QtCore import QCoreApplication, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.notes_signing import NoteFlag, NoteSigning, SignedNoteView
from app.records import Note
from ui.format import day_and_clock
from ui.ops import run_op


def flag_text(flag: NoteFlag) -> str:
    """The worklist badge for a note's signing state."""
    return {
        NoteFlag.SIGNED: QCoreApplication.translate("NoteSigning", "Signed"),
        NoteFlag.UNSIGNED: QCoreApplication.translate("NoteSigning", "Not signed"),
        NoteFlag.OVERDUE: QCoreApplication.translate("NoteSigning", "Not signed — overdue"),
        NoteFlag.NOT_VERIFIED: QCoreApplication.translate(
            "NoteSigning", "Signature does not verify"
        ),
    }[flag]


class QtAddendumDialog(QDialog):
    """Write an addendum; **Sign addendum** signs and appends it."""

    def __init__(self, server_text: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("addendumDialog")
        self.setWindowTitle(self.tr("Add addendum"))
        self.resize(640, 420)
        layout = QVBoxLayout(self)
        intro = QLabel(
            self.tr(
                "A signed note is not changed. Write what you add or correct; it is signed "
                "with your key and kept with the note."
            ),
            self,
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        if server_text is not None:
            label = QLabel(self.tr("Changed on the record store after signing:"), self)
            theirs = QPlainTextEdit(self)
            theirs.setObjectName("serverText")
            theirs.setPlainText(server_text)
            theirs.setReadOnly(True)
            theirs.setAccessibleName(self.tr("Text changed on the record store"))
            layout.addWidget(label)
            layout.addWidget(theirs, 1)
        self.text_edit = QPlainTextEdit(self)
        self.text_edit.setObjectName("addendumText")
        self.text_edit.setAccessibleName(self.tr("Addendum text"))
        self.text_edit.setPlaceholderText(self.tr("Addendum"))
        layout.addWidget(self.text_edit, 2)
        buttons = QDialogButtonBox(self)
        self.sign_button = buttons.addButton(
            self.tr("Sign addendum"), QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.sign_button.setObjectName("signAddendumButton")
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.sign_button.setEnabled(False)
        self.text_edit.textChanged.connect(
            lambda: self.sign_button.setEnabled(bool(self.text_edit.toPlainText().strip()))
        )

    def text(self) -> str:
        return self.text_edit.toPlainText()


class QtSignBar(QFrame):
    """The signing state of the open note, with Sign / Add addendum."""

    did_sign = Signal(str)  # note id (the note, or the new addendum)

    def __init__(self, signing: NoteSigning, editor: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("signBar")
        self._signing = signing
        self._editor = editor
        self._note: Note | None = None
        self._view: SignedNoteView | None = None
        self.dialog: QtAddendumDialog | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        row = QHBoxLayout()
        self.state_label = QLabel(self)
        self.state_label.setObjectName("signState")
        self.state_label.setWordWrap(True)
        row.addWidget(self.state_label, 1)
        self.sign_button = QPushButton(self.tr("Sign note"), self)
        self.sign_button.setObjectName("signButton")
        self.sign_button.setAccessibleName(self.tr("Sign note"))
        self.sign_button.clicked.connect(self._on_sign_clicked)
        self.addendum_button = QPushButton(self.tr("Add addendum…"), self)
        self.addendum_button.setObjectName("addendumButton")
        self.addendum_button.setAccessibleName(self.tr("Add addendum"))
        self.addendum_button.clicked.connect(self._on_addendum_clicked)
        row.addWidget(self.sign_button)
        row.addWidget(self.addendum_button)
        layout.addLayout(row)
        self.addenda_view = QPlainTextEdit(self)
        self.addenda_view.setObjectName("addendaView")
        self.addenda_view.setReadOnly(True)
        self.addenda_view.setAccessibleName(self.tr("Signed addenda"))
        self.addenda_view.setMaximumHeight(140)
        self.addenda_view.hide()
        layout.addWidget(self.addenda_view)
        self.hide()

    # -- state -----------------------------------------------------------------
    def show_for(self, note: Note | None) -> None:
        self._note = note
        if note is None:
            self.hide()
            return
        run_op(self, self._refresh(note.id), busy=False, context=self.tr("Note signature"))

    async def _refresh(self, note_id: str) -> None:
        view = await self._signing.view(note_id)
        if self._note is None or self._note.id != note_id:
            return
        self._view = view
        self._render()

    def _render(self) -> None:
        view = self._view
        signed = view is not None and view.signature is not None
        self._editor.set_read_only(signed)
        self.sign_button.setVisible(not signed)
        self.addendum_button.setVisible(signed)
        if view is None or view.signature is None:
            self.state_label.setText(self.tr("Draft — not signed yet."))
            self.addenda_view.hide()
        else:
            sig = view.signature
            if sig.import_problem is not None:
                # An imported signature that does not verify: kept, never shown as valid.
                text = self.tr(
                    "Imported as signed by {signer} on {when}, but the signature does NOT "
                    "match this text: do not rely on it. The note can no longer be changed."
                )
            else:
                text = self.tr("Signed by {signer} on {when}. The note can no longer be changed.")
            text = text.format(signer=sig.signer_display, when=day_and_clock(sig.signed_at))
            if view.conflicts:
                text += " " + self.tr(
                    "It was changed on the record store after signing: answer with an addendum."
                )
            self.state_label.setText(text)
            parts = []
            for note, asig in view.addenda:
                head = self.tr("Addendum by {signer}, {when}").format(
                    signer=asig.signer_display, when=day_and_clock(asig.signed_at)
                )
                if asig.import_problem is not None:
                    head += " " + self.tr("(imported; its signature does NOT match its text)")
                parts.append(f"{head}\n{note.text}")
            self.addenda_view.setPlainText("\n\n".join(parts))
            self.addenda_view.setVisible(bool(parts))
        self.show()

    # -- actions ---------------------------------------------------------------
    def _on_sign_clicked(self) -> None:
        if self._note is not None:
            run_op(self, self._sign(self._note.id), context=self.tr("Sign note"))

    async def _sign(self, note_id: str) -> None:
        # What is signed is what is on screen: no typing from here on, save what is
        # pending, then sign exactly that text. A refusal gives the draft back.
        self._editor.set_read_only(True)
        try:
            await self._editor.flush()
            await self._signing.sign(note_id, seen_text=self._editor.text())
        except BaseException:
            self._editor.set_read_only(False)
            raise
        await self._refresh(note_id)
        self._editor.reload()  # the header shows the note's new status
        self.did_sign.emit(note_id)

    def _on_addendum_clicked(self) -> None:
        if self._note is None or self._view is None:
            return
        conflicts = self._view.conflicts
        server_text = conflicts[0][1] if conflicts else None
        self.dialog = QtAddendumDialog(server_text, self)
        self.dialog.accepted.connect(self._on_addendum_accepted)
        self.dialog.open()

    def _on_addendum_accepted(self) -> None:
        if self._note is None or self.dialog is None or self._view is None:
            return
        conflicts = self._view.conflicts
        run_op(
            self,
            self._add(self._note.id, self.dialog.text(), conflicts[0][0] if conflicts else None),
            context=self.tr("Add addendum"),
        )

    async def _add(self, note_id: str, text: str, conflict: int | None) -> None:
        result = await self._signing.add_addendum(note_id, text, resolves_conflict=conflict)
        await self._refresh(note_id)
        self.did_sign.emit(result.note_id)


def install_signing(window: Any, signing: NoteSigning, overdue_after: timedelta) -> QtSignBar:
    """Wire signing into an attached main window (app/main.py calls this after attach)."""
    editor, worklist = window.editor, window.worklist
    bar = QtSignBar(signing, editor, editor)
    editor.add_banner(bar)
    editor.note_opened.connect(bar.show_for)
    if editor.note is not None:
        bar.show_for(editor.note)

    def refresh_flags(*_args: object) -> None:
        ids = [s.note_id for s in worklist.summaries() if s.note_id]
        if ids:
            run_op(
                worklist,
                signing.note_flags(ids, overdue_after),
                busy=False,
                context=QCoreApplication.translate("NoteSigning", "Note signatures"),
                on_done=worklist.set_note_flags,
            )

    worklist.summaries_did_change.connect(refresh_flags)
    bar.did_sign.connect(refresh_flags)
    refresh_flags()
    return bar
