"""QtStoreStatus: the status bar; store state, key source, schema, sync, autosave."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from app.events import ConsoleEvents
from app.records import KeySource, StoreState, StoreStatus
from ui.autosave import SaveKind, SaveState
from ui.format import clock
from ui.i18n import QT_TRANSLATE_NOOP

SAVE_FAILED_TEXT = QT_TRANSLATE_NOOP("QtStoreStatus", "Save failed — will retry")
SAVING_TEXT = QT_TRANSLATE_NOOP("QtStoreStatus", "Saving…")


def _chip(name: str, parent: QWidget) -> QLabel:
    label = QLabel(parent)
    label.setObjectName(name)
    return label


def store_text(status: StoreStatus) -> str:
    return {
        StoreState.UNLOCKED: QCoreApplication.translate("QtStoreStatus", "Records open"),
        StoreState.LOCKED: QCoreApplication.translate("QtStoreStatus", "Locked"),
        StoreState.CLOSED: QCoreApplication.translate("QtStoreStatus", "Closed"),
    }[status.state]


def key_text(status: StoreStatus) -> str:
    """Where the records' key is kept, in words for clinicians (the keyring's technical
    name is in the tooltip, for IT: :func:`key_tip`)."""
    if status.key_source is KeySource.KEYRING:
        return QCoreApplication.translate("QtStoreStatus", "Protected by this computer's keychain")
    if status.key_source is KeySource.PASSPHRASE:
        return QCoreApplication.translate("QtStoreStatus", "Protected by your passphrase")
    return ""


def key_tip(status: StoreStatus) -> str:
    parts = []
    if status.keyring_backend:
        parts.append(f"Keyring: {status.keyring_backend}")
    if status.schema_version is not None:
        parts.append(f"Database schema v{status.schema_version}")
    return " · ".join(parts)


def _tr(text: str) -> str:
    return QCoreApplication.translate("QtStoreStatus", text)


def save_text(state: SaveState) -> str:
    if state.kind is SaveKind.FAILED:
        return _tr(SAVE_FAILED_TEXT)
    if state.kind in (SaveKind.PENDING, SaveKind.SAVING):
        return _tr(SAVING_TEXT)
    if state.saved_at:
        return QCoreApplication.translate("QtStoreStatus", "Saved %1").replace(
            "%1", clock(state.saved_at, seconds=True)
        )
    return QCoreApplication.translate("QtStoreStatus", "All changes saved")


class QtStoreStatus(QStatusBar):
    def __init__(self, events: ConsoleEvents, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("storeStatus")
        self.setSizeGripEnabled(False)
        self.store_label = _chip("storeState", self)
        self.key_label = _chip("keySource", self)
        self.schema_label = _chip("schemaVersion", self)
        self.busy_label = _chip("busyState", self)
        self.save_label = _chip("saveState", self)
        self.addWidget(self.store_label)
        self.addWidget(self.key_label)
        self.addWidget(self.schema_label)
        self.addWidget(self.busy_label)
        self.addPermanentWidget(self.save_label)
        self.store_label.setText(QCoreApplication.translate("QtStoreStatus", "Opening records…"))
        self.store_label.setProperty("state", "closed")
        self.busy_label.hide()
        events.store_did_change_state.connect(self._on_store_did_change_state)

    def _restyle(self, label: QLabel, state: str) -> None:
        if label.property("state") != state:
            label.setProperty("state", state)
            label.style().unpolish(label)
            label.style().polish(label)

    def _on_store_did_change_state(self, status: StoreStatus) -> None:
        self.set_store_status(status)

    def set_store_status(self, status: StoreStatus) -> None:
        self.store_label.setText(store_text(status))
        self._restyle(self.store_label, status.state.value)
        self.store_label.setToolTip(
            QCoreApplication.translate("QtStoreStatus", "Encrypted records: %1").replace(
                "%1", str(status.path)
            )
        )
        self.key_label.setText(key_text(status))
        self.key_label.setToolTip(key_tip(status))  # IT's details: keyring and schema
        self.schema_label.setText("")
        self.schema_label.hide()

    def set_startup_page(self, page: str) -> None:
        """Before the store is open: say where start-up stands."""
        text = {
            "loading": QCoreApplication.translate("QtStoreStatus", "Opening records…"),
            "passphrase": QCoreApplication.translate(
                "QtStoreStatus", "Locked — PIN or passphrase needed"
            ),
            "error": QCoreApplication.translate("QtStoreStatus", "Records not opened"),
            "signin": QCoreApplication.translate("QtStoreStatus", "Locked — sign-in needed"),
        }[page]
        self.store_label.setText(text)
        self._restyle(self.store_label, "error" if page == "error" else "closed")

    def set_save_state(self, state: SaveState) -> None:
        self.save_label.setText(save_text(state))
        self._restyle(self.save_label, state.kind.value)
        self.save_label.setToolTip(state.message)

    def add_sync(self, widget: QWidget) -> None:
        """The sync indicator (ui.sync_status.QtSyncStatus), left of the save state."""
        # insertPermanentWidget() counts the temporary widgets too; re-adding is simpler.
        self.removeWidget(self.save_label)
        self.addPermanentWidget(widget)
        self.addPermanentWidget(self.save_label)
        self.save_label.show()

    def set_busy(self, busy: bool) -> None:
        self.busy_label.setText(QCoreApplication.translate("QtStoreStatus", "Working…"))
        self.busy_label.setVisible(busy)
