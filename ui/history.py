"""QtNoteHistory: every saved version of a note, viewable, and restorable.

Restoring never rewrites history: the store saves the old text as a new
version, so the restore itself can be undone from this same list.
"""

from __future__ import annotations

import asyncio
import difflib
import html
from collections.abc import Awaitable, Callable

from PySide6.QtCore import QCoreApplication, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.records import NoteVersion, SaveResult
from app.services import NotesService
from ui import geometry
from ui.errors import user_text
from ui.format import day_and_clock
from ui.ops import run_op

VERSION_ROLE = Qt.ItemDataRole.UserRole + 3


def diff_html(before: str, after: str) -> str:
    """``after`` line by line: added lines green, removed ones red and struck through."""
    rows: list[str] = []
    for line in difflib.ndiff(before.splitlines(), after.splitlines()):
        tag, text = line[:2], html.escape(line[2:]) or "&nbsp;"
        if tag == "+ ":
            rows.append(f'<div style="background:#d1fae5;color:#065f46">+ {text}</div>')
        elif tag == "- ":
            rows.append(f'<div style="background:#fee4e2;color:#912018"><s>- {text}</s></div>')
        elif tag == "  ":
            rows.append(f'<div style="color:#334e68">&nbsp;&nbsp;{text}</div>')
    return "".join(rows)


LOADING_TEXT = QCoreApplication.translate("history", "Loading versions…")
UNSAVED_TEXT = QCoreApplication.translate(
    "history", "The current text could not be saved yet, so no version was restored."
)


class QtNoteHistory(QDialog):
    restored = Signal(object)  # SaveResult

    def __init__(
        self,
        notes: NotesService,
        note_id: str,
        *,
        flush: Callable[[], Awaitable[bool]] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("historyDialog")
        self.setWindowTitle(QCoreApplication.translate("QtNoteHistory", "Note history"))
        self._notes = notes
        self._note_id = note_id
        self._flush = flush
        self.loaded: asyncio.Task[list[NoteVersion]] | None = None

        self.list = QListWidget(self)
        self.list.setObjectName("versionList")
        self.list.currentItemChanged.connect(self._on_current_item_changed)
        self.viewer = QPlainTextEdit(self)
        self.viewer.setObjectName("versionText")
        self.viewer.setReadOnly(True)
        self.viewer.setPlaceholderText(LOADING_TEXT)
        # What this version changed, against the one before it (shown first).
        self.diff_view = QTextBrowser(self)
        self.diff_view.setObjectName("versionDiff")
        self.diff_view.setAccessibleName(self.tr("Changes in this version"))
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("versionTabs")
        self.tabs.addTab(self.diff_view, self.tr("Changes"))
        self.tabs.addTab(self.viewer, self.tr("Full text"))
        self.status = QLabel(LOADING_TEXT, self)
        self.status.setObjectName("historyStatus")
        self.status.setWordWrap(True)
        self.restore_button = QPushButton(
            QCoreApplication.translate("QtNoteHistory", "Restore this version"), self
        )
        self.restore_button.setObjectName("restoreButton")
        self.restore_button.setEnabled(False)
        self.restore_button.clicked.connect(self._on_restore_clicked)
        close = QPushButton(QCoreApplication.translate("QtNoteHistory", "Close"), self)
        close.clicked.connect(self.reject)

        splitter = QSplitter(self)
        splitter.addWidget(self.list)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(1, 3)
        self.list.setMinimumWidth(240)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        splitter.setSizes([270, 490])
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        buttons.addWidget(self.restore_button)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addLayout(buttons)
        geometry.fit(self, QSize(780, 480))

    def load(self) -> asyncio.Task[list[NoteVersion]]:
        self.loaded = run_op(
            self,
            self._notes.history(self._note_id),
            context="Load history",
            on_done=self._show_versions,
        )
        return self.loaded

    def versions(self) -> list[NoteVersion]:
        return [self.list.item(i).data(VERSION_ROLE) for i in range(self.list.count())]

    def _show_versions(self, versions: list[NoteVersion]) -> None:
        self.list.clear()
        ordered = sorted(versions, key=lambda v: v.version, reverse=True)
        self._ordered = ordered
        for i, version in enumerate(ordered):
            parts = [
                self.tr("Version %1").replace("%1", str(version.version)),
                day_and_clock(version.saved_at, seconds=True),
            ]
            if version.author:
                parts.append(version.author)
            if i == 0:
                parts.append(self.tr("current"))
            item = QListWidgetItem("  ·  ".join(parts))
            item.setData(VERSION_ROLE, version)
            self.list.addItem(item)
        count = len(ordered)
        self.status.setText(
            self.tr("1 version") if count == 1 else self.tr("%1 versions").replace("%1", str(count))
        )
        if ordered:
            self.list.setCurrentRow(0)
        else:
            self.viewer.setPlaceholderText(
                QCoreApplication.translate("QtNoteHistory", "This note has no saved versions yet.")
            )

    def _on_current_item_changed(
        self, current: QListWidgetItem | None, _previous: QListWidgetItem | None
    ) -> None:
        if current is None:
            self.viewer.clear()
            self.restore_button.setEnabled(False)
            return
        version: NoteVersion = current.data(VERSION_ROLE)
        self.viewer.setPlainText(version.text)
        older = [v for v in getattr(self, "_ordered", []) if v.version < version.version]
        previous = older[0].text if older else ""
        self.diff_view.setHtml(diff_html(previous, version.text))
        self.restore_button.setEnabled(self.list.row(current) != 0)

    def select_version(self, number: int) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(VERSION_ROLE).version == number:
                self.list.setCurrentRow(i)
                return
        raise KeyError(number)

    def _on_restore_clicked(self) -> None:
        item = self.list.currentItem()
        if item is None:
            return
        self.restore_button.setEnabled(False)
        version: NoteVersion = item.data(VERSION_ROLE)
        run_op(self, self.restore(version.version), context="Restore version")

    async def restore(self, version: int) -> SaveResult | None:
        # Unsaved typing must land first, or restoring would silently
        # overwrite it; if it cannot be saved, refuse rather than lose it.
        if self._flush is not None and not await self._flush():
            self.status.setText(UNSAVED_TEXT)
            return None
        try:
            result = await self._notes.restore(self._note_id, version, source=self)
        except Exception as exc:
            self.status.setText(user_text(exc))
            raise
        self.restored.emit(result)
        self._show_versions(await self._notes.history(self._note_id))
        self.status.setText(
            self.tr("Version {version} restored as version {new}.").format(
                version=version, new=result.version
            )
        )
        return result
