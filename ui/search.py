"""QtSearchPanel: full-text search over notes; a click opens the note."""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable, Sequence

from PySide6.QtCore import (
    QCoreApplication,
    QModelIndex,
    QPersistentModelIndex,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAbstractTextDocumentLayout, QPainter, QPalette, QTextDocument
from PySide6.QtWidgets import (
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QSizePolicy,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from app.records import EncounterSummary, SearchHit
from app.services import NotesService
from ui.errors import user_text
from ui.format import day_and_clock
from ui.ops import run_op

HIT_ROLE = Qt.ItemDataRole.UserRole + 2
SEARCHING_TEXT = QCoreApplication.translate("search", "Searching…")
DEBOUNCE_MS = 250

_Index = QModelIndex | QPersistentModelIndex


def no_match_text(query: str) -> str:
    return QCoreApplication.translate(
        "QtSearchPanel", "No patients or notes match “%1”.\nTry fewer or different words."
    ).replace("%1", query.strip())


# Patient hits carry this in place of a snippet (they match the name or MRN, not a note).
PATIENT_SNIPPET = "\x00patient"


def patient_hits(query: str, summaries: Sequence[EncounterSummary]) -> list[SearchHit]:
    """Patients whose name or MRN holds every word of ``query`` (case-insensitive),
    one hit per patient (their latest encounter in the list)."""
    words = [w.casefold() for w in query.split() if w]
    seen: dict[str, SearchHit] = {}
    for summary in summaries:
        patient = summary.patient
        haystack = (
            f"{patient.display_name} {patient.given_name} {patient.family_name} {patient.mrn}"
        )
        if words and all(w in haystack.casefold() for w in words):
            current = seen.get(patient.id)
            if current is None or summary.encounter.start > current.updated_at:
                seen[patient.id] = SearchHit(
                    note_id=summary.note_id or "",
                    encounter_id=summary.encounter.id,
                    patient_id=patient.id,
                    patient_display=patient.display_name,
                    snippet=PATIENT_SNIPPET + (f" {patient.mrn}" if patient.mrn else ""),
                    updated_at=summary.encounter.start,
                )
    return sorted(seen.values(), key=lambda h: h.patient_display)


def snippet_html(hit: SearchHit) -> str:
    """The hit as rich text; the store marks matches with [[ ]] and cuts with "…"."""
    if hit.snippet.startswith(PATIENT_SNIPPET):
        mrn = hit.snippet[len(PATIENT_SNIPPET) :].strip()
        kind = QCoreApplication.translate("QtSearchPanel", "Patient")
        line = f"{kind} · MRN {html.escape(mrn)}" if mrn else kind
        return (
            f'<div style="font-weight:600">{html.escape(hit.patient_display)}</div>'
            f'<div style="color:#0f766e">{line}</div>'
        )
    snippet = html.escape(" ".join(hit.snippet.split()))
    snippet = snippet.replace("[[", '<span style="background:#fde68a;font-weight:600">')
    snippet = snippet.replace("]]", "</span>")
    edited = QCoreApplication.translate("QtSearchPanel", "edited %1").replace(
        "%1", day_and_clock(hit.updated_at)
    )
    return (
        f'<div style="font-weight:600">{html.escape(hit.patient_display)}'
        f'<span style="font-weight:400;color:#52606d">  ·  {html.escape(edited)}'
        f"</span></div>"
        f'<div style="color:#334e68">{snippet}</div>'
    )


class _HitDelegate(QStyledItemDelegate):
    PAD = 10

    def _document(self, option: QStyleOptionViewItem, index: _Index, width: int) -> QTextDocument:
        doc = QTextDocument()
        doc.setDefaultFont(option.font)  # type: ignore[attr-defined]
        doc.setHtml(snippet_html(index.data(HIT_ROLE)))
        doc.setTextWidth(max(80, width - 2 * self.PAD))
        return doc

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:  # noqa: N802
        view = self.parent()
        width = view.viewport().width() if isinstance(view, QListWidget) else 280
        doc = self._document(option, index, width)
        return QSize(width, int(doc.size().height()) + 2 * self.PAD)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        rect = option.rect  # type: ignore[attr-defined]
        palette: QPalette = option.palette  # type: ignore[attr-defined]
        selected = bool(option.state & QStyle.StateFlag.State_Selected)  # type: ignore[attr-defined]
        painter.save()
        if selected:
            painter.fillRect(rect, palette.color(QPalette.ColorRole.AlternateBase))
        painter.setPen(palette.color(QPalette.ColorRole.Mid))
        painter.drawLine(rect.bottomLeft(), rect.bottomRight())
        doc = self._document(option, index, rect.width())
        painter.translate(rect.left() + self.PAD, rect.top() + self.PAD)
        ctx = QAbstractTextDocumentLayout.PaintContext()
        doc.documentLayout().draw(painter, ctx)
        painter.restore()


class QtSearchPanel(QWidget):
    hit_activated = Signal(object)  # SearchHit
    active_changed = Signal(bool)  # True while a query is shown instead of the worklist

    def __init__(self, notes: NotesService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("searchPanel")
        self._notes = notes
        self._task: asyncio.Task[list[SearchHit]] | None = None
        self._active = False
        self.last_query = ""

        self.field = QLineEdit(self)
        self.field.setObjectName("searchField")
        self.field.setPlaceholderText(self.tr("Search patients and notes…"))
        self.field.setAccessibleName(self.tr("Search patients and notes"))
        self._patients: Callable[[], Sequence[EncounterSummary]] = list
        self.field.setClearButtonEnabled(True)
        self.field.textChanged.connect(self._on_text_changed)
        self.field.returnPressed.connect(self._on_return_pressed)

        self.message = QLabel(self)
        self.message.setObjectName("searchMessage")
        self.message.setProperty("role", "placeholder")
        # Top-aligned: the message answers the query right above it.
        self.message.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.message.setWordWrap(True)
        self.results = QListWidget(self)
        self.results.setObjectName("searchResults")
        self.results.setItemDelegate(_HitDelegate(self.results))
        self.results.setWordWrap(True)
        self.results.itemClicked.connect(self._on_item_activated)
        self.results.itemActivated.connect(self._on_item_activated)
        self._stack = QStackedWidget(self)
        self._stack.addWidget(self.message)
        self._stack.addWidget(self.results)
        self._stack.hide()

        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(self._start_search)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 4)
        layout.setSpacing(6)
        layout.addWidget(self.field)
        layout.addWidget(self._stack, 1)
        self._set_active(False)

    @property
    def active(self) -> bool:
        return self._active

    def _set_active(self, active: bool) -> None:
        self._stack.setVisible(active)
        # Collapsed to the search field when idle, so the worklist below gets the room.
        policy = QSizePolicy.Policy.Expanding if active else QSizePolicy.Policy.Maximum
        self.setSizePolicy(QSizePolicy.Policy.Preferred, policy)
        if active != self._active:
            self._active = active
            self.active_changed.emit(active)

    def set_patient_source(self, summaries: Callable[[], Sequence[EncounterSummary]]) -> None:
        """Where patient names and MRNs are matched (the worklist's rows)."""
        self._patients = summaries

    def hits(self) -> list[SearchHit]:
        return [self.results.item(i).data(HIT_ROLE) for i in range(self.results.count())]

    def message_text(self) -> str:
        return self.message.text() if self._stack.currentWidget() is self.message else ""

    def _on_text_changed(self, text: str) -> None:
        if not text.strip():
            self._debounce.stop()
            self._cancel()
            self.results.clear()
            self._set_active(False)
            return
        self._debounce.start()

    def _on_return_pressed(self) -> None:
        self._debounce.stop()
        self._start_search()

    def _cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None

    def _start_search(self) -> None:
        query = self.field.text().strip()
        if not query:
            return
        self._cancel()
        self._set_active(True)
        self.message.setText(SEARCHING_TEXT)
        self._stack.setCurrentWidget(self.message)
        self._task = run_op(
            self,
            self._notes.search(query),
            busy=False,
            context="Search",
            on_done=lambda hits: self._show_hits(
                query, [*patient_hits(query, self._patients()), *hits]
            ),
            on_error=self._on_search_error,
        )

    def _show_hits(self, query: str, hits: list[SearchHit]) -> None:
        self.last_query = query
        self.results.clear()
        for hit in hits:
            item = QListWidgetItem()
            item.setData(HIT_ROLE, hit)
            item.setData(
                Qt.ItemDataRole.AccessibleTextRole, f"{hit.patient_display}: {hit.snippet}"
            )
            self.results.addItem(item)
        if hits:
            self._stack.setCurrentWidget(self.results)
        else:
            self.message.setText(no_match_text(query))
            self._stack.setCurrentWidget(self.message)

    def _on_search_error(self, exc: BaseException) -> None:
        found = patient_hits(self.field.text().strip(), self._patients())
        if found:  # a note-text failure (a bad FTS query) still finds the patient
            self._show_hits(self.field.text().strip(), found)
            return
        self.message.setText(user_text(exc))
        self._stack.setCurrentWidget(self.message)

    def _on_item_activated(self, item: QListWidgetItem) -> None:
        self.hit_activated.emit(item.data(HIT_ROLE))
