"""QtSyncStatus: the status bar's sync indicator.

The indicator renders :class:`~app.sync.SyncStatus` as published by the
:class:`~app.sync.SyncService` use case (``status_did_change``). The service runs
on the asyncio loop, which qasync runs on the GUI thread, so its psygnal signals
arrive on the GUI thread and widgets update directly. Like every sync widget it
knows only app/ (DESIGN.md §2): what it lists comes from the use case's typed
operations (``overview``, ``conflicts``, ``resolve``, ``retry``), never from SQL.
"""

from __future__ import annotations

import time
from datetime import date

from PySide6.QtCore import QCoreApplication, Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QSizePolicy,
    QToolButton,
    QWidget,
)

from app.sync import SyncService, SyncState, SyncStatus
from ui.format import clock, day_and_clock, parse_time
from ui.i18n import message

NOT_SET_UP_TEXT = QCoreApplication.translate("sync_status", "Sync not set up")
NOT_SET_UP_TIP = QCoreApplication.translate(
    "sync_status",
    "No record server is set up (IT sets it under Settings › Advanced), "
    "so notes stay on this computer only.",
)
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


# --- rendering --------------------------------------------------------------------------


def status_message(status: SyncStatus) -> str:
    """The status's message in the user's language (its message key through the catalogue)."""
    if status.message_key:
        return message(status.message_key, dict(status.message_params))
    return status.message


def synced_text(iso: str | None, today: date | None = None) -> str:
    when = parse_time(iso) if iso else None
    if when is None:
        return ""
    synced = QCoreApplication.translate("sync_status", "Synced %1")
    if when.date() == (today or date.today()):
        return synced.replace("%1", clock(iso))
    return synced.replace("%1", day_and_clock(iso or "", today))


def state_text(status: SyncStatus | None, retry_in_s: float | None = None) -> str:
    """The indicator's words for ``status`` (``None``: no record store configured)."""
    if status is None or status.state is SyncState.DISABLED:
        return NOT_SET_UP_TEXT
    translate = QCoreApplication.translate
    if status.state is SyncState.SYNCING:
        if status.progress_total > 0:
            done = min(status.progress_done, status.progress_total)
            return (
                translate("sync_status", "Syncing %1 of %2…")
                .replace("%1", str(done))
                .replace("%2", str(status.progress_total))
            )
        return translate("sync_status", "Syncing…")
    if status.state is SyncState.OFFLINE:
        if retry_in_s is None:
            return translate("sync_status", "Offline")
        if retry_in_s < 1:
            return translate("sync_status", "Offline — retrying…")
        return translate("sync_status", "Offline — retrying in %1 s").replace(
            "%1", str(int(retry_in_s + 0.5))
        )
    if status.state is SyncState.ERROR:
        if status.message:
            return translate("sync_status", "Sync error: %1").replace("%1", status_message(status))
        return translate("sync_status", "Sync error")
    if status.last_success:
        return translate("sync_status", "Online")
    return translate("sync_status", "Not synced yet")


def waiting_text(status: SyncStatus) -> str:
    if not status.waiting:
        return ""
    translate = QCoreApplication.translate
    if status.waiting == 1:
        text = translate("QtSyncStatus", "1 change to send")
    else:
        text = translate("QtSyncStatus", "%1 changes to send").replace("%1", str(status.waiting))
    if status.failed:
        refused = translate("QtSyncStatus", "%1 not accepted").replace("%1", str(status.failed))
        return f"{text} · {refused}"
    return text


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
        self.conflicts_button.setToolTip(
            QCoreApplication.translate(
                "QtSyncStatus", "Notes changed both here and elsewhere: open to decide"
            )
        )
        self.conflicts_button.clicked.connect(self.details_requested)
        self.last_label = QLabel(self)
        self.last_label.setObjectName("syncLast")
        self.sync_now_button = QToolButton(self)
        self.sync_now_button.setObjectName("syncNowButton")
        if sync_action is not None:
            self.sync_now_button.setDefaultAction(sync_action)
        # Nothing to sync with: a greyed-out button would only puzzle.
        self.sync_now_button.setVisible(
            sync_action is not None and sync is not None and sync.enabled
        )

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
            tip = status_message(status)
        self.state_button.setToolTip(
            f"{tip}\n{QCoreApplication.translate('QtSyncStatus', 'Click for details.')}"
            if tip
            else QCoreApplication.translate("QtSyncStatus", "Click for details.")
        )

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
        self.waiting_label.setToolTip(
            QCoreApplication.translate(
                "QtSyncStatus", "Changes saved here that the record store does not have yet"
            )
        )
        conflicts = conflicts_text(status.conflicts)
        self.conflicts_button.setText(conflicts)
        self.conflicts_button.setVisible(bool(conflicts))
        synced = synced_text(status.last_success)
        self.last_label.setText(synced)
        self.last_label.setVisible(bool(synced))
