"""Wires the specialist's review into the console without the main window knowing it.

``install_review(window, attachments, annotations)`` (called by the composition root
once the store is open) adds a "Review" menu with "Stills of this visit…": a small
list of the selected encounter's stills, from which a still opens in the viewer
(:class:`ui.image_viewer.QtStillViewer`) or in compare with the patient's other
stills of the same site (:class:`ui.image_viewer.QtStillCompare`).
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.annotations import AnnotationsService
from app.records import Attachment, AttachmentKind
from app.services import AttachmentsService
from ui.image_viewer import QtStillCompare, QtStillViewer, caption
from ui.ops import run_op

log = logging.getLogger(__name__)


class QtEncounterStills(QDialog):
    """The stills of one encounter; Open shows one in the viewer, Compare beside others."""

    def __init__(
        self,
        attachments: AttachmentsService,
        annotations: AnnotationsService,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("encounterStills")
        self.setWindowTitle(self.tr("Stills of this visit"))
        self.attachments = attachments
        self.annotations = annotations
        self.stills: list[Attachment] = []
        self.windows: list[QWidget] = []  # kept alive while open
        self.list = QListWidget(self)
        self.list.itemDoubleClicked.connect(lambda _i: self._on_open_clicked())
        self.empty = QLabel(self.tr("This visit has no stills."), self)
        self.open_button = QPushButton(self.tr("Open"), self)
        self.open_button.clicked.connect(self._on_open_clicked)
        self.compare_button = QPushButton(self.tr("Compare…"), self)
        self.compare_button.clicked.connect(self._on_compare_clicked)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.compare_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.empty)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self.resize(420, 320)

    async def load(self, encounter_id: str) -> None:
        found = await self.attachments.for_encounter(encounter_id)
        self.stills = [a for a in found if a.kind is AttachmentKind.IMAGE]
        self.list.clear()
        for still in self.stills:
            item = QListWidgetItem(caption(still) or self.tr("Still"))
            item.setData(Qt.ItemDataRole.UserRole, still.id)
            self.list.addItem(item)
        if self.stills:
            self.list.setCurrentRow(0)
        has = bool(self.stills)
        self.empty.setVisible(not has)
        self.open_button.setEnabled(has)
        self.compare_button.setEnabled(has)

    def _selected(self) -> Attachment | None:
        row = self.list.currentRow()
        return self.stills[row] if 0 <= row < len(self.stills) else None

    def _on_open_clicked(self) -> None:
        still = self._selected()
        if still is not None:
            run_op(self, self.open_viewer(still), context="Open still")

    def _on_compare_clicked(self) -> None:
        still = self._selected()
        if still is not None:
            run_op(self, self.open_compare(still), context="Compare stills")

    async def open_viewer(self, still: Attachment) -> QtStillViewer:
        viewer = QtStillViewer(self.attachments, self.annotations)
        viewer.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        self._keep(viewer)
        viewer.resize(1200, 800)
        viewer.show()
        await viewer.open(still)
        return viewer

    async def open_compare(self, still: Attachment) -> QtStillCompare:
        compare = QtStillCompare(self.attachments, self.annotations)
        compare.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        self._keep(compare)
        compare.resize(1400, 800)
        compare.show()
        await compare.open(still)
        return compare

    def _keep(self, widget: QWidget) -> None:
        self.windows.append(widget)
        widget.destroyed.connect(lambda *_: self._forget(widget))

    def _forget(self, widget: QWidget) -> None:
        self.windows = [w for w in self.windows if w is not widget]


def install_review(
    window: Any, attachments: AttachmentsService, annotations: AnnotationsService
) -> QAction:
    """Add Review > Stills of this visit… to the main window; returns the action."""
    menu = window.menuBar().addMenu(QCoreApplication.translate("ReviewHooks", "&Review"))
    action = QAction(QCoreApplication.translate("ReviewHooks", "&Stills of this visit…"), window)
    action.setShortcut(QKeySequence("Ctrl+Shift+I"))
    menu.addAction(action)

    def show() -> None:
        worklist = getattr(window, "worklist", None)
        summary = worklist.current_summary() if worklist is not None else None
        if summary is None:
            window.notice.show_message(
                QCoreApplication.translate("ReviewHooks", "Select a visit first."), "info"
            )
            return
        dialog = QtEncounterStills(attachments, annotations, window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dialog.show()
        run_op(window, dialog.load(summary.encounter.id), context="Stills of this visit")
        window.review_dialog = dialog  # for tests and to keep it reachable

    action.triggered.connect(show)
    window.review_action = action
    return action


__all__ = ["QtEncounterStills", "install_review"]
