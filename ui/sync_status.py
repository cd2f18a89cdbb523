"""QtSyncStatus: the status bar's sync indicator, and SyncRecords, what sync widgets read.

The indicator renders :class:`~storage.sync.service.SyncStatus` as published by
the :class:`~storage.sync.service.SyncService` (``status_did_change``). The
service runs on the asyncio loop, which qasync runs on the GUI thread, so its
psygnal signals arrive on the GUI thread and widgets update directly.

:class:`SyncRecords` is Qt-free on purpose: the widgets take it instead of the
store (STYLE.md §1), and it could move to ``storage/sync`` unchanged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QSizePolicy,
    QToolButton,
    QWidget,
)

from app.errors import RecordNotFoundError
from storage.sync import queue
from storage.sync.engine import SyncStore
from storage.sync.queue import Conflict
from storage.sync.service import SyncService, SyncState, SyncStatus
from ui.format import clock, day_and_clock, parse_time

NOT_SET_UP_TEXT = "Sync not set up"
NOT_SET_UP_TIP = (
    "No record store is configured (record_store.url in settings), "
    "so notes stay on this computer only."
)
RESOLUTIONS = ("keep_mine", "keep_theirs", "merge")
_KIND = {"patient": "Patient", "encounter": "Visit", "note": "Note"}
_STATE_MAX_WIDTH = 420  # px; the full text is in the tooltip and the details view

# Kept with the widgets it styles (resources/style.qss is shared); same palette.
STYLE = """
#syncState { border: none; background: transparent; padding: 2px 8px; color: #486581; }
#syncState:hover { text-decoration: underline; }
#syncState[state="online"] { color: #0b6b3a; font-weight: 600; }
#syncState[state="syncing"] { color: #0f766e; font-weight: 600; }
#syncState[state="offline"] { color: #b54708; font-weight: 600; }
#syncState[state="error"] { color: #b42318; font-weight: 600; }
#syncConflicts { border: none; background: #fef3f2; color: #b42318; font-weight: 600;
    border-radius: 8px; padding: 1px 8px; }
#syncConflicts:hover { text-decoration: underline; }
#syncNowButton { border: 1px solid #bcccdc; border-radius: 6px; background: #ffffff;
    padding: 1px 10px; color: #243b53; }
#syncNowButton:hover { background: #f0f4f8; }
#syncNowButton:disabled { color: #9aa5b1; border-color: #d9e2ec; }
#syncProgress { min-height: 8px; max-height: 8px; min-width: 90px; max-width: 90px;
    border: 1px solid #bcccdc; border-radius: 4px; background: #f0f4f8; }
#syncProgress::chunk { background: #0f766e; border-radius: 3px; }
"""


# --- what the sync widgets read (Qt-free) ---------------------------------------------


@dataclass(frozen=True)
class FailedItem:
    kind: str  # "Note", "Visit", "Patient"
    label: str  # whose record, for the clinician: "Note · Smith, Anna"
    reason: str  # stored last_error: already scrubbed server text
    attempts: int
    #: The outbox record, for "Retry" ("" for a quarantined server resource).
    entity_type: str = ""
    entity_id: str = ""


@dataclass(frozen=True)
class ConflictItem:
    conflict: Conflict
    label: str
    encounter_id: str | None  # where to open it, when known


@dataclass(frozen=True)
class SyncOverview:
    waiting: int
    failed: int
    conflicts: int
    failures: tuple[FailedItem, ...]
    open_conflicts: tuple[ConflictItem, ...]


class SyncRecords:
    """The sync side of the store, as the widgets need it; SQL runs on the store's worker."""

    def __init__(self, store: SyncStore) -> None:
        self._store = store

    async def conflicts(self, note_id: str | None = None) -> list[Conflict]:
        result: list[Conflict] = await self._store.transact(queue.open_conflicts, note_id)
        return result

    async def resolve(
        self, conflict_id: int, resolution: str, merged_text: str | None = None
    ) -> None:
        if resolution not in RESOLUTIONS:
            raise ValueError(resolution)
        await self._store.transact(
            queue.resolve_conflict, self._store.actor, conflict_id, resolution, merged_text
        )

    async def hold_pulled_as_conflict(self, note_id: str) -> None:
        """Keep the note's current (pulled) text as the server side of a conflict."""
        await self._store.transact(_hold_pulled, self._store.actor, note_id)

    async def retry(self, item: FailedItem) -> None:
        """The user's "Retry" on a refused record: it goes again at the next sync."""
        if item.entity_type:
            await self._store.transact(
                queue.retry_failed, self._store.actor, item.entity_type, item.entity_id
            )

    async def overview(self) -> SyncOverview:
        result: SyncOverview = await self._store.transact(_overview)
        return result


def _hold_pulled(conn: Any, actor: str, note_id: str) -> None:
    from storage import repository

    ref = queue.remote_ref(conn, "note", note_id)
    text = repository.get_note(conn, note_id).text
    queue.record_conflict(conn, actor, "note", note_id, ref.version_id if ref else "", text)


def _overview(conn: Any) -> SyncOverview:
    counts = queue.waiting(conn)
    failures = tuple(
        FailedItem(
            _KIND.get(kind, kind),
            _label(conn, kind, entity_id)[0],
            reason,
            attempts,
            kind,
            entity_id,
        )
        for kind, entity_id, reason, attempts in queue.failures(conn)
    ) + tuple(
        # Server resources sync set aside as malformed: which one, which rule.
        FailedItem("Server record", resource, f"set aside: {rule}", 1)
        for resource, rule in queue.quarantined(conn)
    )
    conflicts = []
    for conflict in queue.open_conflicts(conn):
        label, encounter_id = _label(conn, conflict.entity_type, conflict.entity_id)
        conflicts.append(ConflictItem(conflict, label, encounter_id))
    return SyncOverview(
        counts["waiting"], counts["failed"], counts["conflicts"], failures, tuple(conflicts)
    )


def _label(conn: Any, kind: str, entity_id: str) -> tuple[str, str | None]:
    """ "Note · Smith, Anna" and the visit to open; ids mean nothing to a clinician."""
    from storage import repository

    title = _KIND.get(kind, kind.capitalize())
    try:
        if kind == "note":
            encounter = repository.get_encounter(
                conn, repository.get_note(conn, entity_id).encounter_id
            )
        elif kind == "encounter":
            encounter = repository.get_encounter(conn, entity_id)
        else:
            return f"{title} · {repository.get_patient(conn, entity_id).display_name}", None
        patient = repository.get_patient(conn, encounter.patient_id)
    except RecordNotFoundError:
        return title, None
    return f"{title} · {patient.display_name}", encounter.id


# --- rendering --------------------------------------------------------------------------


def synced_text(iso: str | None, today: date | None = None) -> str:
    when = parse_time(iso) if iso else None
    if when is None:
        return ""
    if when.date() == (today or date.today()):
        return f"Synced {clock(iso)}"
    return f"Synced {day_and_clock(iso or '', today)}"


def state_text(status: SyncStatus | None, retry_in_s: float | None = None) -> str:
    """The indicator's words for ``status`` (``None``: no record store configured)."""
    if status is None or status.state is SyncState.DISABLED:
        return NOT_SET_UP_TEXT
    if status.state is SyncState.SYNCING:
        if status.progress_total > 0:
            done = min(status.progress_done, status.progress_total)
            return f"Syncing {done} of {status.progress_total}…"
        return "Syncing…"
    if status.state is SyncState.OFFLINE:
        if retry_in_s is None:
            return "Offline"
        if retry_in_s < 1:
            return "Offline — retrying…"
        return f"Offline — retrying in {int(retry_in_s + 0.5)} s"
    if status.state is SyncState.ERROR:
        return f"Sync error: {status.message}" if status.message else "Sync error"
    return "Online" if status.last_success else "Not synced yet"


def waiting_text(status: SyncStatus) -> str:
    if not status.waiting:
        return ""
    text = f"{status.waiting} waiting"
    return f"{text} · {status.failed} refused" if status.failed else text


def conflicts_text(count: int) -> str:
    return f"{count} conflict{'s' if count != 1 else ''}" if count else ""


class QtSyncStatus(QWidget):
    """State · progress · waiting · conflicts · last sync · [Sync now], in the status bar."""

    details_requested = Signal()

    def __init__(
        self,
        sync: SyncService | None,
        *,
        sync_action: QAction | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("syncStatus")
        self.setStyleSheet(STYLE)
        self._sync = sync
        self._status: SyncStatus | None = None
        self._retry_deadline: float | None = None

        self.state_button = QToolButton(self)
        self.state_button.setObjectName("syncState")
        self.state_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.state_button.clicked.connect(self.details_requested)
        self.progress = QProgressBar(self)
        self.progress.setObjectName("syncProgress")
        self.progress.setFormat("%v of %m")  # for screen readers; the words are in the state
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.waiting_label = QLabel(self)
        self.waiting_label.setObjectName("syncWaiting")
        self.conflicts_button = QToolButton(self)
        self.conflicts_button.setObjectName("syncConflicts")
        self.conflicts_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.conflicts_button.setToolTip("Notes changed both here and elsewhere: open to decide")
        self.conflicts_button.clicked.connect(self.details_requested)
        self.last_label = QLabel(self)
        self.last_label.setObjectName("syncLast")
        self.sync_now_button = QToolButton(self)
        self.sync_now_button.setObjectName("syncNowButton")
        if sync_action is not None:
            self.sync_now_button.setDefaultAction(sync_action)
        # Nothing to sync with: a greyed-out button would only puzzle.
        self.sync_now_button.setVisible(sync_action is not None and sync is not None)

        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 6, 0)
        row.setSpacing(2)
        for widget in (
            self.state_button,
            self.progress,
            self.waiting_label,
            self.conflicts_button,
            self.last_label,
            self.sync_now_button,
        ):
            row.addWidget(widget, 0, Qt.AlignmentFlag.AlignVCenter)
        self.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Preferred)

        # Counts the "retrying in N s" down between the service's publications.
        self._tick = QTimer(self, interval=1000)
        self._tick.timeout.connect(self._render)
        if sync is not None:
            sync.status_did_change.connect(self._on_status_did_change)
            self.set_status(sync.status)
        else:
            self.set_status(None)

    @property
    def status(self) -> SyncStatus | None:
        return self._status

    def text(self) -> str:
        """Everything the indicator says, in reading order (for tests and screen readers)."""
        parts = [self.state_button.text()]
        for label in (self.waiting_label, self.conflicts_button, self.last_label):
            if label.isVisibleTo(self) and label.text():
                parts.append(label.text())
        return " · ".join(parts)

    def _on_status_did_change(self, status: SyncStatus) -> None:
        self.set_status(status)

    def set_status(self, status: SyncStatus | None) -> None:
        self._status = status
        retry = status.next_attempt_s if status is not None else None
        offline = status is not None and status.state is SyncState.OFFLINE
        self._retry_deadline = time.monotonic() + retry if offline and retry is not None else None
        if self._retry_deadline is not None:
            self._tick.start()
        else:
            self._tick.stop()
        self._render()

    def retry_in_s(self) -> float | None:
        if self._retry_deadline is None:
            return None
        return max(0.0, self._retry_deadline - time.monotonic())

    def _render(self) -> None:
        status = self._status
        remaining = self.retry_in_s()
        if remaining is not None and remaining <= 0:
            self._tick.stop()
        text = state_text(status, remaining)
        state = "disabled" if status is None else status.state.value
        if status is not None and status.state is SyncState.IDLE and not status.last_success:
            state = "pending"
        metrics = self.state_button.fontMetrics()
        self.state_button.setText(
            metrics.elidedText(text, Qt.TextElideMode.ElideRight, _STATE_MAX_WIDTH)
        )
        if self.state_button.property("state") != state:
            self.state_button.setProperty("state", state)
            self.state_button.style().unpolish(self.state_button)
            self.state_button.style().polish(self.state_button)
        tip = NOT_SET_UP_TIP if status is None or status.state is SyncState.DISABLED else ""
        if status is not None and status.message:
            tip = status.message
        self.state_button.setToolTip(f"{tip}\nClick for details." if tip else "Click for details.")

        if status is None:
            for widget in (self.progress, self.waiting_label, self.conflicts_button):
                widget.hide()
            self.last_label.hide()
            return
        syncing = status.state is SyncState.SYNCING and status.progress_total > 0
        if syncing:
            self.progress.setRange(0, status.progress_total)
            self.progress.setValue(min(status.progress_done, status.progress_total))
        self.progress.setVisible(syncing)
        waiting = waiting_text(status)
        self.waiting_label.setText(waiting)
        self.waiting_label.setVisible(bool(waiting))
        self.waiting_label.setToolTip("Changes saved here that the record store does not have yet")
        conflicts = conflicts_text(status.conflicts)
        self.conflicts_button.setText(conflicts)
        self.conflicts_button.setVisible(bool(conflicts))
        synced = synced_text(status.last_success)
        self.last_label.setText(synced)
        self.last_label.setVisible(bool(synced))
