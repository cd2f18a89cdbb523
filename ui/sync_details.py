"""QtSyncDetails: what is waiting to be sent, why anything failed, which notes conflict.

A still's annotations that a colleague changed on the record store are listed with the
notes' conflicts and decided here: keep mine (sent over theirs) or take theirs (they
become the newest local version; ours stay in the still's version history).

The reasons shown are the outbox's stored ``last_error``: server text that the
sync engine scrubbed before storing it, so no patient data from the server; the
console's own words among them are shown in the user's language (ui.reasons).
Records are named by patient, as in the worklist, so the clinician knows
which note is meant; what a row is comes from app/ as a code (``RecordKind``),
named here (:data:`KIND_LABELS`).
"""

from __future__ import annotations

import asyncio

from PySide6.QtCore import QCoreApplication, QSize, Qt, Signal
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

from app.sync import (
    ConflictItem,
    FailedRecord,
    FailureNote,
    RecordKind,
    Resolution,
    SyncOutcome,
    SyncOverview,
    SyncRoundResult,
    SyncService,
    SyncState,
    SyncStatus,
)
from ui import geometry
from ui.format import day_and_clock
from ui.i18n import QT_TRANSLATE_NOOP
from ui.ops import run_op
from ui.reasons import reason_text
from ui.sync_status import NOT_SET_UP_TIP, state_text, status_message, synced_text

ITEM_ROLE = Qt.ItemDataRole.UserRole + 7
LOADING_TEXT = QCoreApplication.translate("sync_details", "Reading the outbox…")
NO_FAILURES_TEXT = QCoreApplication.translate("sync_details", "Nothing has failed.")
NO_CONFLICTS_TEXT = QCoreApplication.translate("sync_details", "No conflicts.")

STYLE = """
#syncDetailsState { font-size: 12pt; font-weight: 600; color: #102a43; }
#syncDetailsMessage { color: #334e68; }
#syncDetailsCounts { color: #334e68; }
#syncDetailsHeading { font-weight: 600; color: #334e68; margin-top: 6px; }
QListWidget { border: 1px solid #d9e2ec; border-radius: 6px; }
QListWidget::item { padding: 6px 8px; border-bottom: 1px solid #eef2f6; }
QListWidget::item:selected { background: #e6f2f1; color: #0b4f4a; }
"""


#: What each row is, by its code (app.sync.RecordKind), in the user's language.
KIND_LABELS: dict[RecordKind, str] = {
    RecordKind.PATIENT: QT_TRANSLATE_NOOP("SyncKinds", "Patient"),
    RecordKind.VISIT: QT_TRANSLATE_NOOP("SyncKinds", "Visit"),
    RecordKind.NOTE: QT_TRANSLATE_NOOP("SyncKinds", "Note"),
    RecordKind.SIGNATURE: QT_TRANSLATE_NOOP("SyncKinds", "Signature"),
    RecordKind.ATTACHMENT: QT_TRANSLATE_NOOP("SyncKinds", "Attachment"),
    RecordKind.CODING: QT_TRANSLATE_NOOP("SyncKinds", "Coding"),
    RecordKind.ANNOTATIONS: QT_TRANSLATE_NOOP("SyncKinds", "Annotations"),
    RecordKind.CONSENT: QT_TRANSLATE_NOOP("SyncKinds", "Consent"),
    RecordKind.ESCALATION: QT_TRANSLATE_NOOP("SyncKinds", "Escalation"),
    RecordKind.ONCALL_NOTICE: QT_TRANSLATE_NOOP("SyncKinds", "On-call notification"),
    RecordKind.ECONSULT: QT_TRANSLATE_NOOP("SyncKinds", "E-consult"),
    RecordKind.ECONSULT_REQUEST: QT_TRANSLATE_NOOP("SyncKinds", "E-consult request"),
    RecordKind.ECONSULT_MESSAGE: QT_TRANSLATE_NOOP("SyncKinds", "E-consult message"),
    RecordKind.ECONSULT_ANSWER: QT_TRANSLATE_NOOP("SyncKinds", "E-consult answer"),
    RecordKind.ECONSULT_STATUS: QT_TRANSLATE_NOOP("SyncKinds", "E-consult status"),
    RecordKind.PACS_STILL: QT_TRANSLATE_NOOP("SyncKinds", "PACS still"),
    RecordKind.PACS_SIGN_IN: QT_TRANSLATE_NOOP("SyncKinds", "PACS · sign-in"),
    RecordKind.SERVER_RECORD: QT_TRANSLATE_NOOP("SyncKinds", "Server record"),
    RecordKind.OTHER: QT_TRANSLATE_NOOP("SyncKinds", "Record"),
}


def kind_text(kind: RecordKind) -> str:
    return QCoreApplication.translate("SyncKinds", KIND_LABELS.get(kind, "Record"))


def row_label(kind: RecordKind, whose: str) -> str:
    """ "Nota · Smith, Anna": what the row is, and whose."""
    name = kind_text(kind)
    return f"{name} · {whose}" if whose else name


def reason_line(item: FailedRecord) -> str:
    """Why a row did not go, in the user's language (the server's own words as they are)."""
    detail = reason_text(item.detail)
    if item.note is FailureNote.SET_ASIDE:
        return QCoreApplication.translate("QtSyncDetails", "set aside: %1").replace("%1", detail)
    if item.note is FailureNote.PACS_GAVE_UP:
        text = QtSyncDetails.tr(
            "%1; not sent again after %n attempts (Retry: 5 more)",  # type: ignore[arg-type]
            "",
            item.attempts,  # type: ignore[arg-type]
        )
        return text.replace("%1", detail)
    if item.note is FailureNote.NOT_DICOM:
        return QCoreApplication.translate(
            "QtSyncDetails",
            "this still cannot be made into DICOM (%1); the record store keeps it",
        ).replace("%1", detail)
    return detail


def failure_text(item: FailedRecord) -> str:
    if item.attempts == 1:
        tries = QCoreApplication.translate("QtSyncDetails", "1 attempt")
    else:
        tries = QtSyncDetails.tr("%n attempts", "", item.attempts)  # type: ignore[arg-type]
    return f"{row_label(item.kind, item.whose)}  ·  {tries}\n{reason_line(item)}"


def conflict_text(item: ConflictItem) -> str:
    noticed = QCoreApplication.translate("QtSyncDetails", "changed elsewhere, noticed %1")
    when = noticed.replace("%1", day_and_clock(item.conflict.detected_at))
    return f"{row_label(item.kind, item.whose)}  ·  {when}"


def counts_text(overview: SyncOverview) -> str:
    return (
        QCoreApplication.translate(
            "QtSyncDetails",
            "Waiting to be sent: %1   ·   Refused by the server: %2   ·   Conflicts: %3",
        )
        .replace("%1", str(overview.waiting))
        .replace("%2", str(overview.failed))
        .replace("%3", str(overview.conflicts))
    )


class QtSyncDetails(QDialog):
    open_requested = Signal(str)  # encounter_id of a conflicting note

    def __init__(self, sync: SyncService, *, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("syncDetails")
        self.setWindowTitle(QCoreApplication.translate("QtSyncDetails", "Sync details"))
        self.setStyleSheet(STYLE)
        self._sync: SyncService | None = sync
        self._service = sync  # kept after close, for a read still finishing
        self._overview: SyncOverview | None = None
        self.loaded: asyncio.Task[SyncOverview] | None = None

        self.state_label = QLabel(self)
        self.state_label.setObjectName("syncDetailsState")
        self.message_label = QLabel(self)
        self.message_label.setObjectName("syncDetailsMessage")
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.counts_label = QLabel(LOADING_TEXT, self)
        self.counts_label.setObjectName("syncDetailsCounts")
        self.failures = QListWidget(self)
        self.failures.setObjectName("syncFailures")
        self.failures.setWordWrap(True)
        self.conflicts = QListWidget(self)
        self.conflicts.setObjectName("syncConflictList")
        self.conflicts.itemActivated.connect(self._on_conflict_activated)
        self.conflicts.currentItemChanged.connect(self._on_conflict_current_changed)

        self.open_button = QPushButton(
            QCoreApplication.translate("QtSyncDetails", "Open note"), self
        )
        self.open_button.setObjectName("openConflictButton")
        self.open_button.setEnabled(False)
        self.open_button.clicked.connect(self._on_open_clicked)
        self.keep_mine_button = QPushButton(
            QCoreApplication.translate("QtSyncDetails", "Keep my annotations"), self
        )
        self.keep_mine_button.setObjectName("keepMyAnnotationsButton")
        self.keep_mine_button.setToolTip(
            QCoreApplication.translate(
                "QtSyncDetails", "Send the annotations saved here over the version saved elsewhere"
            )
        )
        self.keep_theirs_button = QPushButton(
            QCoreApplication.translate("QtSyncDetails", "Take their annotations"), self
        )
        self.keep_theirs_button.setObjectName("takeTheirAnnotationsButton")
        self.keep_theirs_button.setToolTip(
            QCoreApplication.translate(
                "QtSyncDetails",
                "Keep the version saved elsewhere; yours stay in the still's version history",
            )
        )
        for button, choice in (
            (self.keep_mine_button, Resolution.KEEP_MINE),
            (self.keep_theirs_button, Resolution.KEEP_THEIRS),
        ):
            button.setVisible(False)
            button.clicked.connect(lambda _c=False, r=choice: self._on_resolve_clicked(r))
        self.retry_button = QPushButton(QCoreApplication.translate("QtSyncDetails", "Retry"), self)
        self.retry_button.setObjectName("retryFailedButton")
        self.retry_button.setToolTip(
            QCoreApplication.translate(
                "QtSyncDetails", "Send the selected refused record again at the next sync"
            )
        )
        self.retry_button.setEnabled(False)
        self.retry_button.clicked.connect(self._on_retry_clicked)
        self.failures.currentItemChanged.connect(self._on_failure_current_changed)
        self.sync_now_button = QPushButton(
            QCoreApplication.translate("QtSyncDetails", "Sync now"), self
        )
        self.sync_now_button.setObjectName("syncNowDetails")
        self.sync_now_button.setEnabled(sync.enabled)
        self.syncing: asyncio.Task[SyncOutcome] | None = None
        self.sync_now_button.clicked.connect(self._on_sync_now_clicked)
        close = QPushButton(QCoreApplication.translate("QtSyncDetails", "Close"), self)
        close.clicked.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.state_label)
        layout.addWidget(self.message_label)
        layout.addWidget(self.counts_label)
        layout.addWidget(
            _heading(
                QCoreApplication.translate("QtSyncDetails", "Why something was not sent"), self
            )
        )
        layout.addWidget(self.failures, 3)
        layout.addWidget(
            _heading(
                QCoreApplication.translate(
                    "QtSyncDetails", "Notes and annotations changed both here and elsewhere"
                ),
                self,
            )
        )
        layout.addWidget(self.conflicts, 2)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.keep_mine_button)
        buttons.addWidget(self.keep_theirs_button)
        buttons.addWidget(self.retry_button)
        buttons.addStretch(1)
        buttons.addWidget(self.sync_now_button)
        buttons.addWidget(close)
        layout.addLayout(buttons)
        geometry.fit(self, QSize(720, 520))

        self._render_status(sync.status)
        sync.status_did_change.connect(self._on_status_did_change)
        sync.sync_did_finish.connect(self._on_sync_did_finish)
        # The service outlives this dialog: stop listening once it closes.
        self.finished.connect(self._disconnect)

    # -- loading ---------------------------------------------------------
    def load(self) -> asyncio.Task[SyncOverview]:
        self.loaded = run_op(
            self, self._service.overview(), busy=False, context="Sync details", on_done=self._show
        )
        return self.loaded

    @property
    def overview(self) -> SyncOverview | None:
        return self._overview

    def _show(self, overview: SyncOverview) -> None:
        self._overview = overview
        self.counts_label.setText(counts_text(overview))
        self.failures.clear()
        for failure in overview.failures:
            item = QListWidgetItem(failure_text(failure))
            item.setData(ITEM_ROLE, failure)
            self.failures.addItem(item)
        if not overview.failures:
            self.failures.addItem(_placeholder(NO_FAILURES_TEXT))
        self.conflicts.clear()
        for conflict in overview.open_conflicts:
            item = QListWidgetItem(conflict_text(conflict))
            item.setData(ITEM_ROLE, conflict)
            self.conflicts.addItem(item)
        if not overview.open_conflicts:
            self.conflicts.addItem(_placeholder(NO_CONFLICTS_TEXT))
        self.open_button.setEnabled(False)
        self.retry_button.setEnabled(False)
        for button in (self.keep_mine_button, self.keep_theirs_button):
            button.setVisible(False)

    def failure_texts(self) -> list[str]:
        return [self.failures.item(i).text() for i in range(self.failures.count())]

    def conflict_texts(self) -> list[str]:
        return [self.conflicts.item(i).text() for i in range(self.conflicts.count())]

    # -- service events --------------------------------------------------
    def _on_status_did_change(self, status: SyncStatus) -> None:
        self._render_status(status)

    def _on_sync_did_finish(self, _result: SyncRoundResult) -> None:
        if self.loaded is not None:
            self.loaded.cancel()  # the newer read wins
        self.load()

    def _render_status(self, status: SyncStatus | None) -> None:
        text = state_text(status)
        if status is not None and status.state is SyncState.ERROR:
            # the message has its own line below
            text = QCoreApplication.translate("sync_status", "Sync error")
        synced = synced_text(status.last_success) if status is not None else ""
        self.state_label.setText(f"{text}  ·  {synced}" if synced else text)
        if status is None or status.state is SyncState.DISABLED:
            message = NOT_SET_UP_TIP
        else:
            message = status_message(status)
        self.message_label.setText(message)
        self.message_label.setVisible(bool(message))

    def _disconnect(self, _result: int = 0) -> None:
        # WA_DeleteOnClose frees the widgets soon: a read still running must not render.
        if self.loaded is not None:
            self.loaded.cancel()
        if self._sync is not None:
            self._sync.status_did_change.disconnect(self._on_status_did_change)
            self._sync.sync_did_finish.disconnect(self._on_sync_did_finish)
            self._sync = None

    # -- actions ---------------------------------------------------------
    def _on_sync_now_clicked(self) -> None:
        if self._sync is not None and self._sync.enabled:
            # The outcome shows in the status line (status_did_change); no dialog.
            self.syncing = run_op(self, self._sync.sync_now(), busy=False, context="Sync")

    def _on_failure_current_changed(self, current: QListWidgetItem | None, _prev: object) -> None:
        failure = current.data(ITEM_ROLE) if current is not None else None
        self.retry_button.setEnabled(
            isinstance(failure, FailedRecord) and bool(failure.entity_type)
        )

    def _on_retry_clicked(self) -> None:
        current = self.failures.currentItem()
        failure = current.data(ITEM_ROLE) if current is not None else None
        if self._sync is None or not isinstance(failure, FailedRecord):
            return
        if not failure.entity_type:
            return  # a server resource set aside: nothing of ours to send again
        self.retry_button.setEnabled(False)
        sync = self._sync

        async def retry_then_reload() -> SyncOverview:
            await sync.retry(failure.entity_type, failure.entity_id)  # and asks for a sync
            return await sync.overview()

        self.loaded = run_op(
            self, retry_then_reload(), busy=False, context="Sync details", on_done=self._show
        )

    def _on_conflict_current_changed(self, current: QListWidgetItem | None, _prev: object) -> None:
        conflict = current.data(ITEM_ROLE) if current is not None else None
        self.open_button.setEnabled(
            isinstance(conflict, ConflictItem) and conflict.encounter_id is not None
        )
        annotations = (
            isinstance(conflict, ConflictItem) and conflict.conflict.entity_type == "annotation"
        )
        for button in (self.keep_mine_button, self.keep_theirs_button):
            button.setVisible(annotations)
            button.setEnabled(annotations)

    def _on_resolve_clicked(self, choice: Resolution) -> None:
        """A still's annotations: the clinician's choice (audited), then the list again."""
        current = self.conflicts.currentItem()
        conflict = current.data(ITEM_ROLE) if current is not None else None
        if self._sync is None or not isinstance(conflict, ConflictItem):
            return
        for button in (self.keep_mine_button, self.keep_theirs_button):
            button.setEnabled(False)
        sync = self._sync

        async def resolve_then_reload() -> SyncOverview:
            await sync.resolve(conflict.conflict.id, choice)  # and asks for a sync
            return await sync.overview()

        self.loaded = run_op(
            self, resolve_then_reload(), busy=False, context="Sync details", on_done=self._show
        )

    def _on_open_clicked(self) -> None:
        self._on_conflict_activated(self.conflicts.currentItem())

    def _on_conflict_activated(self, item: QListWidgetItem | None) -> None:
        conflict = item.data(ITEM_ROLE) if item is not None else None
        if isinstance(conflict, ConflictItem) and conflict.encounter_id is not None:
            self.open_requested.emit(conflict.encounter_id)
            self.accept()


def _heading(text: str, parent: QWidget) -> QLabel:
    label = QLabel(text, parent)
    label.setObjectName("syncDetailsHeading")
    return label


def _placeholder(text: str) -> QListWidgetItem:
    item = QListWidgetItem(text)
    item.setFlags(Qt.ItemFlag.NoItemFlags)
    return item
