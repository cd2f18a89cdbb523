"""QtWorklist: the day's visits, with patient, time, reason and note state.

Below the visits, one "Documents without a visit" row per patient lists the notes
kept under the patient alone (imported or pulled from other systems, issue 14).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtCore import (
    QCoreApplication,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from app.events import ConsoleEvents
from app.records import EncounterSummary, Note, PatientDocuments, SaveResult
from app.services import NotesService
from ui.format import clock, day_and_clock, note_state
from ui.ops import run_op
from ui.readiness import report_ready

LOADING_TEXT = QCoreApplication.translate("worklist", "Loading today's visits…")
EMPTY_TEXT = QCoreApplication.translate(
    "worklist", "No visits on the worklist yet.\nImported or scheduled visits will appear here."
)
SUMMARY_ROLE = Qt.ItemDataRole.UserRole + 1
DOCUMENTS_ROLE = Qt.ItemDataRole.UserRole + 2


def documents_title() -> str:
    return QCoreApplication.translate("QtWorklist", "Documents without a visit")


def documents_count(count: int) -> str:
    # Through the class's tr: lupdate marks only tr(text, "", n) as a plural message,
    # not translate(); the context is the same ("QtWorklist"). PySide6 binds tr to the
    # class when called on it; its stubs declare an instance method.
    return QtWorklist.tr("%n document(s)", "", count)  # type: ignore[arg-type]


def documents_text(group: PatientDocuments) -> str:
    """One line naming the documents by type, e.g. "Referral note, Discharge summary"."""
    return ", ".join(d.document_type.label for d in group.documents)


FLAG_ROLE = Qt.ItemDataRole.UserRole + 3  # app.notes_signing.NoteFlag of the row's note
RECORDINGS_ROLE = Qt.ItemDataRole.UserRole + 4  # how many attachments the encounter has

_Index = QModelIndex | QPersistentModelIndex


class _VisitDelegate(QStyledItemDelegate):
    """Two lines per visit: time + patient, then reason and a note-state badge."""

    PAD = 10

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:  # noqa: N802
        metrics = QFontMetrics(option.font)  # type: ignore[attr-defined]
        return QSize(240, metrics.height() * 2 + self.PAD * 2 + 6)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        summary: EncounterSummary | None = index.data(SUMMARY_ROLE)
        if summary is None:
            group: PatientDocuments | None = index.data(DOCUMENTS_ROLE)
            if group is not None:
                self._paint_documents(painter, option, group)
            return
        rect: QRect = option.rect  # type: ignore[attr-defined]
        state = option.state  # type: ignore[attr-defined]
        palette: QPalette = option.palette  # type: ignore[attr-defined]
        selected = bool(state & QStyle.StateFlag.State_Selected)
        hovered = bool(state & QStyle.StateFlag.State_MouseOver)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        card = rect.adjusted(4, 3, -4, -3)
        if selected:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(palette.color(QPalette.ColorRole.Highlight))
            painter.drawRoundedRect(card, 6, 6)
        elif hovered:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor("#eef3f7"))
            painter.drawRoundedRect(card, 6, 6)
        text_color = palette.color(
            QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        )
        muted = QColor(text_color)
        muted.setAlpha(170)

        base: QFont = QFont(option.font)  # type: ignore[attr-defined]
        bold = QFont(base)
        bold.setBold(True)
        metrics = QFontMetrics(base)
        line_h = metrics.height()
        inner = card.adjusted(self.PAD, self.PAD - 2, -self.PAD, -self.PAD + 2)
        time_w = QFontMetrics(bold).horizontalAdvance("00:00") + 12

        painter.setFont(bold)
        painter.setPen(QColor("#0f766e") if not selected else text_color)
        top = QRect(inner.left(), inner.top(), time_w, line_h)
        painter.drawText(
            top,
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            clock(summary.encounter.start),
        )
        painter.setPen(text_color)
        name_rect = QRect(inner.left() + time_w, inner.top(), inner.width() - time_w, line_h)
        name = QFontMetrics(bold).elidedText(
            summary.patient.display_name, Qt.TextElideMode.ElideRight, name_rect.width()
        )
        painter.drawText(
            name_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, name
        )

        badge = note_state(summary)
        flag = index.data(FLAG_ROLE)
        if flag is not None:
            from ui.note_signing import flag_text

            badge = flag_text(flag)
        # Drawn as a warning: an overdue draft, or an imported signature that does not verify.
        overdue = flag is not None and str(flag) in ("overdue", "not_verified")
        recordings = index.data(RECORDINGS_ROLE)
        if recordings:  # the encounter has stethoscope recordings (or stills)
            badge = (
                QCoreApplication.translate("QtWorklist", "%1 · %2 rec.")
                .replace("%1", badge)
                .replace("%2", str(recordings))
            )
        painter.setFont(base)
        badge_w = metrics.horizontalAdvance(badge) + 14
        second_top = inner.top() + line_h + 4
        badge_rect = QRect(inner.right() - badge_w, second_top, badge_w, line_h)
        painter.setPen(Qt.PenStyle.NoPen)
        # Green means done: a signed note (or, with no signing, a note at all); a
        # draft waiting for a signature is blue, an overdue one amber.
        has_note = summary.note_id is not None
        draft = flag is not None and str(flag) == "unsigned"
        badge_bg, ink = (
            (QColor("#d1fae5"), "#065f46") if has_note else (QColor("#e5e7eb"), "#374151")
        )
        if draft:
            badge_bg, ink = QColor("#dbeafe"), "#1e40af"
        if overdue:
            badge_bg, ink = QColor("#fef3c7"), "#92400e"
        if selected:
            badge_bg = QColor(255, 255, 255, 60)
        painter.setBrush(badge_bg)
        painter.drawRoundedRect(badge_rect, line_h / 2, line_h / 2)
        painter.setPen(text_color if selected else QColor(ink))
        painter.drawText(badge_rect, Qt.AlignmentFlag.AlignCenter, badge)

        painter.setPen(muted)
        reason_rect = QRect(
            inner.left() + time_w, second_top, inner.width() - time_w - badge_w - 8, line_h
        )
        reason = metrics.elidedText(
            summary.encounter.reason or "No reason recorded",
            Qt.TextElideMode.ElideRight,
            reason_rect.width(),
        )
        painter.drawText(
            reason_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, reason
        )
        painter.restore()

    def _paint_documents(
        self, painter: QPainter, option: QStyleOptionViewItem, group: PatientDocuments
    ) -> None:
        """Patient name + "Documents without a visit", then the documents' types + a count."""
        rect: QRect = option.rect  # type: ignore[attr-defined]
        state = option.state  # type: ignore[attr-defined]
        palette: QPalette = option.palette  # type: ignore[attr-defined]
        selected = bool(state & QStyle.StateFlag.State_Selected)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        card = rect.adjusted(4, 3, -4, -3)
        if selected:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(palette.color(QPalette.ColorRole.Highlight))
            painter.drawRoundedRect(card, 6, 6)
        text_color = palette.color(
            QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        )
        muted = QColor(text_color)
        muted.setAlpha(170)
        base: QFont = QFont(option.font)  # type: ignore[attr-defined]
        bold = QFont(base)
        bold.setBold(True)
        metrics = QFontMetrics(base)
        line_h = metrics.height()
        inner = card.adjusted(self.PAD, self.PAD - 2, -self.PAD, -self.PAD + 2)
        painter.setFont(bold)
        painter.setPen(text_color)
        first = QRect(inner.left(), inner.top(), inner.width(), line_h)
        title = f"{group.patient.display_name} · {documents_title()}"
        painter.drawText(
            first,
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            QFontMetrics(bold).elidedText(title, Qt.TextElideMode.ElideRight, first.width()),
        )
        painter.setFont(base)
        badge = documents_count(len(group.documents))
        badge_w = metrics.horizontalAdvance(badge) + 14
        second_top = inner.top() + line_h + 4
        badge_rect = QRect(inner.right() - badge_w, second_top, badge_w, line_h)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(255, 255, 255, 60) if selected else QColor("#e0e7ff"))
        painter.drawRoundedRect(badge_rect, line_h / 2, line_h / 2)
        painter.setPen(text_color if selected else QColor("#3730a3"))
        painter.drawText(badge_rect, Qt.AlignmentFlag.AlignCenter, badge)
        painter.setPen(muted)
        types_rect = QRect(inner.left(), second_top, inner.width() - badge_w - 8, line_h)
        painter.drawText(
            types_rect,
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            metrics.elidedText(
                documents_text(group), Qt.TextElideMode.ElideRight, types_rect.width()
            ),
        )
        painter.restore()


class QtWorklist(QWidget):
    encounter_selected = Signal(object)  # EncounterSummary
    documents_selected = Signal(object)  # PatientDocuments
    summaries_did_change = Signal()  # after set_summaries (ui/note_signing.py refreshes badges)

    def __init__(
        self, notes: NotesService, events: ConsoleEvents, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("worklist")
        self._notes = notes
        self._ready_reported = False
        header = QHBoxLayout()
        header.setContentsMargins(12, 10, 12, 4)
        title = QLabel(QCoreApplication.translate("QtWorklist", "Visits"), self)
        title.setObjectName("paneTitle")
        self.count_label = QLabel("", self)
        self.count_label.setObjectName("paneCount")
        header.addWidget(title)
        header.addStretch(1)
        header.addWidget(self.count_label)

        self.list = QListWidget(self)
        self.list.setObjectName("visitList")
        self.list.setItemDelegate(_VisitDelegate(self.list))
        self.list.setMouseTracking(True)
        self.list.setUniformItemSizes(True)
        self.list.currentItemChanged.connect(self._on_current_item_changed)
        self.message = QLabel(LOADING_TEXT, self)
        self.message.setObjectName("worklistMessage")
        self.message.setProperty("role", "placeholder")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self._stack = QStackedWidget(self)
        self._stack.addWidget(self.message)
        self._stack.addWidget(self.list)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(header)
        layout.addWidget(self._stack, 1)

        events.note_did_create.connect(self._on_note_did_create)
        events.note_did_save.connect(self._on_note_did_save)
        events.note_did_restore.connect(self._on_note_did_save)
        events.records_did_import.connect(self._on_records_did_import)

    # -- loading ---------------------------------------------------------
    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self._stack.setCurrentWidget(self.message)

    async def reload(self) -> list[EncounterSummary]:
        if self.list.count() == 0:
            self.show_message(LOADING_TEXT)
        summaries = await self._notes.worklist()
        documents = await self._notes.documents_without_visit()
        self.set_summaries(summaries, documents)
        return summaries

    def set_summaries(
        self,
        summaries: list[EncounterSummary],
        documents: list[PatientDocuments] | None = None,
    ) -> None:
        current = self.current_summary()
        current_group = self.current_documents()
        self.list.blockSignals(True)
        try:
            self.list.clear()
            for summary in sorted(summaries, key=lambda s: s.encounter.start):
                item = QListWidgetItem()
                item.setData(SUMMARY_ROLE, summary)
                counts = getattr(self, "_recording_counts", {})
                item.setData(RECORDINGS_ROLE, counts.get(summary.encounter.id, 0))
                # Accessible text: screen readers and tests read the row as one string.
                item.setData(
                    Qt.ItemDataRole.AccessibleTextRole,
                    f"{day_and_clock(summary.encounter.start)}, "
                    f"{summary.patient.display_name}, {summary.encounter.reason}, "
                    f"{note_state(summary)}",
                )
                self.list.addItem(item)
                if current is not None and current.encounter.id == summary.encounter.id:
                    self.list.setCurrentItem(item)
            for group in documents or []:
                item = QListWidgetItem()
                item.setData(DOCUMENTS_ROLE, group)
                item.setData(
                    Qt.ItemDataRole.AccessibleTextRole,
                    f"{group.patient.display_name}, {documents_title()}, "
                    f"{documents_count(len(group.documents))}: {documents_text(group)}",
                )
                self.list.addItem(item)
                if current_group is not None and current_group.patient.id == group.patient.id:
                    self.list.setCurrentItem(item)
        finally:
            self.list.blockSignals(False)
        self.count_label.setText(f"{len(summaries)}" if summaries else "")
        if summaries or documents:
            self._stack.setCurrentWidget(self.list)
        else:
            self.show_message(EMPTY_TEXT)
        self.summaries_did_change.emit()
        if not self._ready_reported:
            self._ready_reported = True
            # Once the loop has painted these rows the worklist is usable: bench.startup's mark.
            QTimer.singleShot(0, report_ready)

    def set_note_flags(self, flags: dict[str, Any]) -> None:
        """Signing badges by note id (app.notes_signing.NoteFlag), drawn instead of the
        plain note state (ui/note_signing.py)."""
        for row in range(self.list.count()):
            item = self.list.item(row)
            summary: EncounterSummary | None = item.data(SUMMARY_ROLE)
            if summary is not None and summary.note_id in flags:
                from ui.note_signing import flag_text

                item.setData(FLAG_ROLE, flags[summary.note_id])
                # Screen readers hear the badge that is drawn.
                item.setData(
                    Qt.ItemDataRole.AccessibleTextRole,
                    f"{day_and_clock(summary.encounter.start)}, "
                    f"{summary.patient.display_name}, {summary.encounter.reason}, "
                    f"{flag_text(flags[summary.note_id])}",
                )
        self.list.viewport().update()

    # -- selection -------------------------------------------------------
    def summaries(self) -> list[EncounterSummary]:
        rows = (self.list.item(i).data(SUMMARY_ROLE) for i in range(self.list.count()))
        return [s for s in rows if s is not None]

    def document_groups(self) -> list[PatientDocuments]:
        rows = (self.list.item(i).data(DOCUMENTS_ROLE) for i in range(self.list.count()))
        return [g for g in rows if g is not None]

    def current_summary(self) -> EncounterSummary | None:
        item = self.list.currentItem()
        return None if item is None else item.data(SUMMARY_ROLE)

    def current_documents(self) -> PatientDocuments | None:
        item = self.list.currentItem()
        return None if item is None else item.data(DOCUMENTS_ROLE)

    def row_of(self, encounter_id: str) -> int:
        for i in range(self.list.count()):
            summary = self.list.item(i).data(SUMMARY_ROLE)
            if summary is not None and summary.encounter.id == encounter_id:
                return i
        return -1

    def select_encounter(self, encounter_id: str) -> bool:
        row = self.row_of(encounter_id)
        if row < 0:
            return False
        self.list.setCurrentRow(row)
        return True

    def _on_current_item_changed(
        self, current: QListWidgetItem | None, _previous: QListWidgetItem | None
    ) -> None:
        if current is None:
            return
        summary = current.data(SUMMARY_ROLE)
        if summary is not None:
            self.encounter_selected.emit(summary)
        elif current.data(DOCUMENTS_ROLE) is not None:
            self.documents_selected.emit(current.data(DOCUMENTS_ROLE))

    # -- events ----------------------------------------------------------
    def _update(self, encounter_id: str | None, note_id: str, version: int) -> None:
        for i in range(self.list.count()):
            item = self.list.item(i)
            summary: EncounterSummary | None = item.data(SUMMARY_ROLE)
            if summary is None:
                continue
            if summary.note_id == note_id or (
                encounter_id is not None and summary.encounter.id == encounter_id
            ):
                item.setData(
                    SUMMARY_ROLE,
                    dataclasses.replace(summary, note_id=note_id, note_version=version),
                )
                return

    def _on_note_did_create(self, note: Note, source: object) -> None:
        self._update(note.encounter_id, note.id, note.version)

    def _on_note_did_save(self, result: SaveResult, source: object) -> None:
        self._update(None, result.note_id, result.version)

    def _on_records_did_import(self, result: object) -> None:
        run_op(self, self.reload(), busy=False, context="Reload worklist")

    def set_recording_counts(self, counts: dict[str, int]) -> None:
        """Mark visits that have recordings or stills (encounter id -> how many)."""
        self._recording_counts = dict(counts)
        self.list.viewport().update()
        for row in range(self.list.count()):
            item = self.list.item(row)
            summary = item.data(SUMMARY_ROLE)
            if summary is not None:
                item.setData(RECORDINGS_ROLE, counts.get(summary.encounter.id, 0))

    def recording_count(self, encounter_id: str) -> int:
        row = self.row_of(encounter_id)
        if row is None or row < 0:
            return 0
        return int(self.list.item(row).data(RECORDINGS_ROLE) or 0)
