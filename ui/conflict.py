"""QtConflictBanner: "this note was also changed elsewhere", and the clinician's choice.

Nothing is decided silently: the banner only offers Keep mine / Keep theirs /
Merge…, and the store changes only after a click. Every choice leaves the
other side in the note's history (resolving saves a new version), so it can be
undone from History. The typed text is flushed first, so "mine" is what is on
screen.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from PySide6.QtCore import QCoreApplication, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.sync import Conflict, Resolution, SyncRoundResult, SyncService
from ui import geometry
from ui.format import day_and_clock
from ui.ops import run_op

log = logging.getLogger(__name__)

BANNER_TITLE = QCoreApplication.translate("conflict", "This note was also changed elsewhere")
BANNER_TEXT = QCoreApplication.translate(
    "conflict",
    "Another copy of this note was changed on the record store (noticed {when}). "
    "Choose which version to keep: nothing is changed until you do, and the "
    "other version stays in History.",
)
UNSAVED_TEXT = QCoreApplication.translate(
    "conflict", "Your latest typing could not be saved yet, so nothing was resolved. Try again."
)

STYLE = """
#conflictBanner { background: #fffaeb; border: 1px solid #fedf89;
    border-left: 4px solid #dc6803; border-radius: 8px; }
#conflictTitle { font-size: 11pt; font-weight: 600; color: #93370d; }
#conflictText { color: #7a2e0e; }
#conflictError { color: #b42318; }
"""

MERGE_STYLE = """
#mergeCaption { font-weight: 600; color: #334e68; }
#mergeHint { color: #52606d; }
QPlainTextEdit#mergeTheirs { background: #eef2f6; color: #334e68; }
QPushButton#primaryButton { background: #0f766e; border: 1px solid #0f766e; color: #ffffff;
    font-weight: 600; padding: 6px 18px; border-radius: 6px; }
"""


class QtMergeDialog(QDialog):
    """Theirs (read-only) beside the merged text, which starts as mine."""

    def __init__(self, mine: str, theirs: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mergeDialog")
        self.setWindowTitle(QCoreApplication.translate("QtMergeDialog", "Merge the two versions"))
        self.setStyleSheet(MERGE_STYLE)
        hint = QLabel(
            QCoreApplication.translate(
                "QtMergeDialog",
                "Edit the text on the right until it says what the note should say, then save. "
                "The other version is on the left for reference.",
            ),
            self,
        )
        hint.setObjectName("mergeHint")
        hint.setWordWrap(True)

        self.theirs = QPlainTextEdit(self)
        self.theirs.setObjectName("mergeTheirs")
        self.theirs.setReadOnly(True)
        self.theirs.setPlainText(theirs)
        self.merged = QPlainTextEdit(self)
        self.merged.setObjectName("mergeResult")
        self.merged.setPlainText(mine)
        self.theirs.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.merged.setFocus(Qt.FocusReason.OtherFocusReason)

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(_captioned("Changed elsewhere (read-only)", self.theirs))
        splitter.addWidget(_captioned("Merged note (starts as yours)", self.merged))
        splitter.setSizes([450, 450])

        self.save_button = QPushButton(
            QCoreApplication.translate("QtMergeDialog", "Save merged note"), self
        )
        self.save_button.setObjectName("primaryButton")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self.accept)
        cancel = QPushButton(QCoreApplication.translate("QtMergeDialog", "Cancel"), self)
        cancel.setObjectName("mergeCancel")
        cancel.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(cancel)
        buttons.addWidget(self.save_button)

        layout = QVBoxLayout(self)
        layout.addWidget(hint)
        layout.addWidget(splitter, 1)
        layout.addLayout(buttons)
        geometry.fit(self, QSize(960, 560))

    def merged_text(self) -> str:
        return self.merged.toPlainText()


def _captioned(caption: str, editor: QPlainTextEdit) -> QWidget:
    box = QWidget()
    column = QVBoxLayout(box)
    column.setContentsMargins(0, 0, 0, 0)
    column.setSpacing(4)
    label = QLabel(caption, box)
    label.setObjectName("mergeCaption")
    label.setBuddy(editor)
    column.addWidget(label)
    column.addWidget(editor, 1)
    return box


class QtConflictBanner(QFrame):
    """Shown above the open note while it has an unresolved sync conflict."""

    resolved = Signal(str, str)  # note_id, resolution

    def __init__(
        self,
        sync: SyncService,
        *,
        flush: Callable[[], Awaitable[bool]] | None = None,
        current_text: Callable[[], str] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("conflictBanner")
        self.setStyleSheet(STYLE)
        self._sync = sync
        self._flush = flush
        self._current_text = current_text
        self._note_id: str | None = None
        self._conflict: Conflict | None = None
        self._refresh_seq = 0
        self.merge_dialog: QtMergeDialog | None = None
        self.refreshed: asyncio.Task[Conflict | None] | None = None
        self.resolving: asyncio.Task[None] | None = None

        self.title = QLabel(BANNER_TITLE, self)
        self.title.setObjectName("conflictTitle")
        self.text_label = QLabel(self)
        self.text_label.setObjectName("conflictText")
        self.text_label.setWordWrap(True)
        self.error_label = QLabel(self)
        self.error_label.setObjectName("conflictError")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        self.keep_mine_button = QPushButton(
            QCoreApplication.translate("QtConflictBanner", "Keep mine"), self
        )
        self.keep_mine_button.setObjectName("keepMineButton")
        self.keep_mine_button.setToolTip(
            QCoreApplication.translate(
                "QtConflictBanner", "Send this console's text; the other version stays in History"
            )
        )
        self.keep_mine_button.clicked.connect(self._on_keep_mine_clicked)
        self.keep_theirs_button = QPushButton(
            QCoreApplication.translate("QtConflictBanner", "Keep theirs"), self
        )
        self.keep_theirs_button.setObjectName("keepTheirsButton")
        self.keep_theirs_button.setToolTip(
            QCoreApplication.translate(
                "QtConflictBanner", "Use the text changed elsewhere; your text stays in History"
            )
        )
        self.keep_theirs_button.clicked.connect(self._on_keep_theirs_clicked)
        self.merge_button = QPushButton(
            QCoreApplication.translate("QtConflictBanner", "Merge…"), self
        )
        self.merge_button.setObjectName("mergeButton")
        self.merge_button.setToolTip(
            QCoreApplication.translate(
                "QtConflictBanner", "Compare both texts side by side and combine them"
            )
        )
        self.merge_button.clicked.connect(self._on_merge_clicked)

        words = QVBoxLayout()
        words.setSpacing(2)
        words.addWidget(self.title)
        words.addWidget(self.text_label)
        words.addWidget(self.error_label)
        buttons = QHBoxLayout()
        buttons.setSpacing(6)
        for button in (self.keep_mine_button, self.keep_theirs_button, self.merge_button):
            buttons.addWidget(button)
        row = QHBoxLayout(self)
        row.setContentsMargins(14, 10, 12, 10)
        row.setSpacing(12)
        row.addLayout(words, 1)
        row.addLayout(buttons, 0)
        self.hide()

        sync.sync_did_finish.connect(self._on_sync_did_finish)

    @property
    def conflict(self) -> Conflict | None:
        return self._conflict

    # -- which note, which conflict ---------------------------------------
    def show_for(self, note_id: str | None) -> asyncio.Task[Conflict | None] | None:
        """The editor opened ``note_id`` (``None``: no note): look its conflicts up."""
        if note_id != self._note_id:
            self._set_conflict(None)
            if self.merge_dialog is not None:
                self.merge_dialog.reject()
        self._note_id = note_id
        return self.refresh()

    def refresh(self) -> asyncio.Task[Conflict | None] | None:
        self._refresh_seq += 1
        if self._note_id is None:
            self._set_conflict(None)
            return None
        self.refreshed = run_op(
            self, self._lookup(self._note_id, self._refresh_seq), busy=False, context="Sync"
        )
        return self.refreshed

    async def _lookup(self, note_id: str, seq: int) -> Conflict | None:
        found = await self._sync.conflicts(note_id)
        conflict = found[0] if found else None
        # A newer lookup (another note opened meanwhile) wins.
        if seq == self._refresh_seq and note_id == self._note_id:
            self._set_conflict(conflict)
        return conflict

    def _on_sync_did_finish(self, _result: SyncRoundResult) -> None:
        self.refresh()

    def _set_conflict(self, conflict: Conflict | None) -> None:
        self._conflict = conflict
        self.error_label.hide()
        if conflict is None:
            self.hide()
            return
        self.text_label.setText(BANNER_TEXT.format(when=day_and_clock(conflict.detected_at)))
        self._set_buttons_enabled(True)
        self.show()

    def _set_buttons_enabled(self, enabled: bool) -> None:
        for button in (self.keep_mine_button, self.keep_theirs_button, self.merge_button):
            button.setEnabled(enabled)

    # -- the three choices -----------------------------------------------
    def _on_keep_mine_clicked(self) -> None:
        self.resolve(Resolution.KEEP_MINE)

    def _on_keep_theirs_clicked(self) -> None:
        self.resolve(Resolution.KEEP_THEIRS)

    def _on_merge_clicked(self) -> None:
        self.open_merge()

    def open_merge(self) -> QtMergeDialog | None:
        if self._conflict is None:
            return None
        mine = self._current_text() if self._current_text is not None else ""
        dialog = QtMergeDialog(mine, self._conflict.server_text, self.window())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        conflict_id = self._conflict.id
        dialog.accepted.connect(
            lambda: self.resolve(Resolution.MERGE, dialog.merged_text(), conflict_id=conflict_id)
        )
        dialog.destroyed.connect(self._on_merge_destroyed)
        self.merge_dialog = dialog
        run_op(self, self._sync.open_conflict(self._conflict), busy=False, context="Sync")
        # open(), not exec(): a nested Qt loop would step asyncio tasks mid-step.
        dialog.open()
        return dialog

    def _on_merge_destroyed(self, _obj: object = None) -> None:
        self.merge_dialog = None

    def resolve(
        self,
        resolution: Resolution | str,
        merged_text: str | None = None,
        *,
        conflict_id: int | None = None,
    ) -> asyncio.Task[None] | None:
        conflict = self._conflict
        note_id = self._note_id
        if conflict is None or note_id is None:
            return None
        if conflict_id is not None and conflict_id != conflict.id:
            return None  # the merge dialog outlived its conflict
        self._set_buttons_enabled(False)
        self.resolving = run_op(
            self,
            self._resolve(note_id, conflict, Resolution(resolution), merged_text),
            context="Resolve conflict",
            on_error=self._on_resolve_failed,
        )
        return self.resolving

    async def _resolve(
        self, note_id: str, conflict: Conflict, resolution: Resolution, merged_text: str | None
    ) -> None:
        if self._flush is not None and not await self._flush():
            self._show_error(UNSAVED_TEXT)
            return
        if resolution is Resolution.MERGE and merged_text is None:
            merged_text = self._current_text() if self._current_text is not None else ""
        # The use case applies the choice and asks sync to send it right away.
        await self._sync.resolve(conflict.id, resolution, merged_text)
        log.info("conflict %d resolved: %s", conflict.id, resolution.value)
        if note_id == self._note_id:
            self._set_conflict(None)
        self.resolved.emit(note_id, resolution.value)
        # Another, newer conflict on the same note shows up right away.
        if note_id == self._note_id:
            await self._lookup(note_id, self._refresh_seq)

    def _on_resolve_failed(self, exc: BaseException) -> None:
        from ui.errors import user_text

        log.warning(
            "resolving a conflict failed: %s",
            type(exc).__name__,
        )
        self._show_error(user_text(exc))

    def _show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.show()
        self._set_buttons_enabled(self._conflict is not None)
