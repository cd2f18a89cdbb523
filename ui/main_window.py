"""QtMainWindow: worklist and search on the left, the encounter's note on the right.

The window starts on the startup view (opening the store) and switches to the
console once the composition root calls :meth:`attach`. Closing the window
(or Quit) flushes autosave before the window really closes; the composition
root waits for ``closed`` and then stops everything in reverse order.

Locking and unlocking are app/session.py's use case (``Session``): this window
asks it to lock (File › Lock now, idle, suspend, OS session lock) or unlock (the
lock screen's PIN or passphrase), and renders its events: ``session_will_lock``
covers the window and hides every dialog before any await, ``session_did_unlock``
brings them back.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, QSize, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.errors import ConsoleError, StoreLockedError, UnlockThrottledError
from app.events import ConsoleEvents
from app.logging_setup import log_user_action
from app.records import EncounterSummary, SearchHit
from app.services import NotesService
from app.session import HeldVisit, LockReason, Session
from app.sync import SyncRoundResult, SyncService
from app.techcheck import TechCheck
from ui import geometry
from ui.about import QtAboutDialog
from ui.autosave import DEBOUNCE_MS, RETRY_MS, Autosaver, SaveKind
from ui.conflict import QtConflictBanner
from ui.errors import ErrorPresenter, QtNoticeBar, user_text
from ui.history import QtNoteHistory
from ui.note_editor import QtNoteEditor
from ui.ops import BusyTracker, run_op
from ui.search import QtSearchPanel
from ui.startup import LockableStore, QtStartupView
from ui.status import QtStoreStatus
from ui.sync_details import QtSyncDetails
from ui.sync_status import QtSyncStatus
from ui.techcheck_dialog import QtTechCheckDialog
from ui.unlock import IdleWatcher, QtLockScreen
from ui.worklist import QtWorklist

if TYPE_CHECKING:
    # Imported when the first visit starts: keeps the visit window off the start-up path.
    from app.visit import JoinRequest, Visit
    from ui.visit.join_dialog import QtJoinDialog
    from ui.visit.qt_visit_window import QtVisitWindow

log = logging.getLogger(__name__)

UNSAVED_ON_CLOSE = (
    "The note could not be saved, so the console stayed open. Free some disk space "
    "(the console keeps retrying), or close again to quit without the last changes."
)


# ``factory(encounter_id)`` -> the started visit (media session running), or an awaitable of it.
VisitFactory = Callable[[str], "Visit | Awaitable[Visit]"]
# ``factory(request)`` -> the joined visit (media session starting), or an awaitable of it.
JoinFactory = Callable[["JoinRequest"], "Visit | Awaitable[Visit]"]


# From this width (logical px) the note opens docked beside the video (1920x1080 at 100 %).
WIDE_SCREEN_PX = 1600

LOCK_TEXTS = {
    LockReason.USER: QCoreApplication.translate("main_window", "You locked the console."),
    LockReason.IDLE: QCoreApplication.translate(
        "main_window", "The console locked itself after a period without input."
    ),
    LockReason.SUSPEND: QCoreApplication.translate(
        "main_window", "The console locked because the computer went to sleep."
    ),
    LockReason.OS_LOCK: QCoreApplication.translate(
        "main_window", "The console locked together with your desktop session."
    ),
    LockReason.SWITCH: QCoreApplication.translate(
        "main_window", "The console is ready for the next clinician."
    ),
}


def idle_reason(timeout_ms: int) -> str:
    minutes = timeout_ms / 60_000
    if minutes == 1:
        return QCoreApplication.translate(
            "main_window", "The console locked itself after 1 minute without input."
        )
    if minutes > 1 and minutes == int(minutes):
        return QtMainWindow.tr(
            "The console locked itself after %n minutes without input.",  # type: ignore[arg-type]
            "",
            int(minutes),  # type: ignore[arg-type]
        )
    return QCoreApplication.translate(
        "main_window", "The console locked itself after a period without input."
    )


class QtMainWindow(QMainWindow):
    closed = Signal()
    # A visit window opened (QtVisitWindow): the plugin host adds its panels with add_panel().
    visit_window_opened = Signal(object)
    # File > Settings saved settings.toml (the composition root re-reads what it passes on).
    settings_saved = Signal()
    # Video visits (see set_visit_factory); class defaults keep __init__ as it was.
    visit_window: QtVisitWindow | None = None
    _visit_factory: VisitFactory | None = None
    _starting_visit = False
    _join_factory: JoinFactory | None = None
    join_dialog: QtJoinDialog | None = None
    _note_placeholder: QLabel | None = None

    def __init__(
        self,
        events: ConsoleEvents,
        *,
        idle_lock_ms: int | None = None,
        debounce_ms: int = DEBOUNCE_MS,
        retry_ms: int = RETRY_MS,
        sqlcipher_version: Callable[[], str | None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle(QCoreApplication.translate("QtMainWindow", "Clinician Console"))
        self.events = events
        self._idle_lock_ms = idle_lock_ms
        self._debounce_ms = debounce_ms
        self._retry_ms = retry_ms
        self._sqlcipher_version = sqlcipher_version
        self.presenter = ErrorPresenter(self)
        self.busy = BusyTracker(self)
        self.notes: NotesService | None = None
        self.store: LockableStore | None = None
        self.autosaver: Autosaver | None = None
        self.worklist: QtWorklist | None = None
        self.search: QtSearchPanel | None = None
        self.editor: QtNoteEditor | None = None
        self.history_dialog: QtNoteHistory | None = None
        self.about_dialog: QtAboutDialog | None = None
        self.sync: SyncService | None = None
        self.sync_status: QtSyncStatus | None = None
        self.sync_details: QtSyncDetails | None = None
        self.conflict_banner: QtConflictBanner | None = None
        self.idle: IdleWatcher | None = None
        self.session: Session | None = None
        self._locked = False
        self._lock_message: str | None = None
        self._hidden_while_locked: list[QWidget] = []
        self._may_close = False
        self._close_refused = False
        self._closing: asyncio.Task[None] | None = None

        central = QWidget(self)
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        self.notice = QtNoticeBar(central)
        self.presenter.notice.connect(self.notice.show_message)
        self._stack = QStackedWidget(central)
        self.startup = QtStartupView(self._stack)
        self.startup.quit_requested.connect(self.close)
        self._stack.addWidget(self.startup)
        column.addWidget(self.notice)
        self.in_visit_bar = self._build_in_visit_bar(central)
        column.addWidget(self.in_visit_bar)
        column.addWidget(self._stack, 1)
        self.setCentralWidget(central)
        self.lock_screen = QtLockScreen(central)
        self.lock_screen.unlock_requested.connect(self._on_unlock_requested)
        self.lock_screen.quit_requested.connect(self.close)

        self.status = QtStoreStatus(events, self)
        self.setStatusBar(self.status)
        self.busy.busy_changed.connect(self.status.set_busy)
        self.startup.page_changed.connect(self.status.set_startup_page)
        self._build_menus()
        self.place_on_screen()

    def _build_in_visit_bar(self, parent: QWidget) -> QFrame:
        """ "In a video visit" across the top while a visit window is open."""
        bar = QFrame(parent)
        bar.setObjectName("inVisitBar")
        row = QHBoxLayout(bar)
        row.setContentsMargins(16, 6, 12, 6)
        self.in_visit_label = QLabel(self.tr("In a video visit"), bar)
        self.in_visit_label.setObjectName("inVisitText")
        show = QPushButton(self.tr("Show visit"), bar)
        show.setObjectName("showVisitButton")
        show.clicked.connect(self._raise_visit_window)
        row.addWidget(self.in_visit_label, 1)
        row.addWidget(show)
        bar.hide()
        return bar

    def _raise_visit_window(self) -> None:
        window = self.visit_window
        if window is not None:
            window.showNormal() if window.isMinimized() else window.show()
            window.raise_()
            window.activateWindow()

    def _update_in_visit(self, *_args: object) -> None:
        window = self.visit_window
        from_ui = window is not None
        self.in_visit_bar.setVisible(from_ui)
        if self.editor is not None:
            enc = window.visit.encounter_id if window is not None else ""
            current = self.editor.summary
            running = from_ui and current is not None and current.encounter.id == enc
            invite = window.visit.invite if window is not None else None
            if window is not None and window.docked_note() is self.editor:
                running = False  # inside the visit window: it has its own invite
            self.editor.set_visit_offer(
                self._visit_factory is not None and not from_ui and not self._locked,
                running=running,
                link=invite.link if running and invite is not None else "",
            )

    def place_on_screen(self) -> None:
        """Open within the screen's free area, as the user last left the window."""
        geometry.remember(self, "main", QSize(1280, 800))

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu(QCoreApplication.translate("QtMainWindow", "&File"))
        self.sync_action = QAction(QCoreApplication.translate("QtMainWindow", "Sync &now"), self)
        self.sync_action.setObjectName("syncNowAction")
        self.sync_action.setShortcut(QKeySequence("Ctrl+Shift+S"))
        self.sync_action.setToolTip(
            QCoreApplication.translate(
                "QtMainWindow", "Send and fetch changes with the record store now (Ctrl+Shift+S)"
            )
        )
        self.sync_action.triggered.connect(self._on_sync_now_triggered)
        self.sync_action.setEnabled(False)
        file_menu.addAction(self.sync_action)
        self.lock_action = QAction(QCoreApplication.translate("QtMainWindow", "&Lock now"), self)
        self.lock_action.setShortcut(QKeySequence("Ctrl+L"))
        self.lock_action.triggered.connect(self._on_lock_triggered)
        self.lock_action.setEnabled(False)
        file_menu.addAction(self.lock_action)
        # "Switch clinician" (app/identity.py): shown once set_identity() is called.
        self.switch_action = QAction(
            QCoreApplication.translate("QtMainWindow", "S&witch clinician"), self
        )
        self.switch_action.triggered.connect(self._on_switch_triggered)
        self.switch_action.setVisible(False)
        self.switch_action.setEnabled(False)
        file_menu.addAction(self.switch_action)
        self.identity: Any = None
        self.settings_action = QAction(
            QCoreApplication.translate("QtMainWindow", "&Settings…"), self
        )
        self.settings_action.setObjectName("settingsAction")
        self.settings_action.setShortcut(QKeySequence.StandardKey.Preferences)
        self.settings_action.triggered.connect(self.show_settings)
        self.settings_action.setEnabled(False)  # until set_settings_location()
        file_menu.addAction(self.settings_action)
        self.plugins_action = QAction(QCoreApplication.translate("QtMainWindow", "&Add-ons…"), self)
        self.plugins_action.setObjectName("pluginsAction")
        self.plugins_action.triggered.connect(self.show_plugins)
        self.plugins_action.setEnabled(False)  # until set_plugin_host()
        file_menu.addAction(self.plugins_action)
        file_menu.addSeparator()
        quit_action = QAction(QCoreApplication.translate("QtMainWindow", "&Quit"), self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        note_menu = self.menuBar().addMenu(QCoreApplication.translate("QtMainWindow", "&Note"))
        self.history_action = QAction(QCoreApplication.translate("QtMainWindow", "&History…"), self)
        self.history_action.setShortcut(QKeySequence("Ctrl+H"))
        self.history_action.triggered.connect(self._on_history_triggered)
        self.history_action.setEnabled(False)
        note_menu.addAction(self.history_action)
        self.find_action = QAction(
            QCoreApplication.translate("QtMainWindow", "&Find in notes"), self
        )
        self.find_action.setShortcut(QKeySequence.StandardKey.Find)
        self.find_action.triggered.connect(self._on_find_triggered)
        self.find_action.setEnabled(False)
        note_menu.addAction(self.find_action)
        visit_menu = self.menuBar().addMenu(QCoreApplication.translate("QtMainWindow", "&Visit"))
        self.start_visit_action = QAction(
            QCoreApplication.translate("QtMainWindow", "Start &video visit"), self
        )
        self.start_visit_action.setObjectName("startVisitAction")
        self.start_visit_action.setShortcut(QKeySequence("Ctrl+Shift+V"))
        self.start_visit_action.setToolTip(
            QCoreApplication.translate(
                "QtMainWindow", "Open a video visit for the selected encounter (Ctrl+Shift+V)"
            )
        )
        self.start_visit_action.triggered.connect(self._on_start_visit_triggered)
        self.demo_visit_action = QAction(
            QCoreApplication.translate("QtMainWindow", "Start &demo visit"), self
        )
        self.demo_visit_action.setObjectName("demoVisitAction")
        self.demo_visit_action.setShortcut(QKeySequence("Ctrl+Shift+V"))
        self.demo_visit_action.setToolTip(
            QCoreApplication.translate(
                "QtMainWindow",
                "Try the visit window with a simulated patient on this computer (Ctrl+Shift+V)",
            )
        )
        self.demo_visit_action.triggered.connect(self._on_start_visit_triggered)
        self.join_visit_action = QAction(
            QCoreApplication.translate("QtMainWindow", "&Join a visit…"), self
        )
        self.join_visit_action.setObjectName("joinVisitAction")
        self.join_visit_action.setToolTip(
            QCoreApplication.translate(
                "QtMainWindow",
                "Join a visit another console started, with its invite link or room and PIN",
            )
        )
        self.join_visit_action.triggered.connect(self._on_join_visit_triggered)
        self.tech_check_action = QAction(
            QCoreApplication.translate("QtMainWindow", "&Tech check…"), self
        )
        self.tech_check_action.setObjectName("techCheckAction")
        self.tech_check_action.setToolTip(
            QCoreApplication.translate(
                "QtMainWindow", "Check the camera, microphone, speaker and network before a visit"
            )
        )
        self.tech_check_action.triggered.connect(self.show_tech_check)
        self._tech_check: tuple[Callable[[], TechCheck], Any] | None = None
        for act in (
            self.start_visit_action,
            self.demo_visit_action,
            self.join_visit_action,
            self.tech_check_action,
        ):
            act.setVisible(False)  # until set_visit_factory() / set_join_factory() / ...
            act.setEnabled(False)
            visit_menu.addAction(act)
        self._visit_menu = visit_menu
        visit_menu.menuAction().setVisible(False)
        help_menu = self.menuBar().addMenu(QCoreApplication.translate("QtMainWindow", "&Help"))
        about = QAction(
            QCoreApplication.translate("QtMainWindow", "&About Clinician Console"), self
        )
        about.triggered.connect(self.show_about)
        help_menu.addAction(about)

    # -- settings (ui/settings_dialog.py) --------------------------------
    def set_settings_location(self, profile, policy_path=None) -> None:
        """Where File > Settings reads and writes (the composition root says)."""
        self._settings_location = (profile, policy_path)
        self.settings_action.setEnabled(not self._locked)

    def show_settings(self):
        from ui.settings_dialog import QtSettingsDialog

        location = getattr(self, "_settings_location", None)
        if location is None or self._locked:
            return None
        previous = getattr(self, "settings_dialog", None)
        if previous is not None:
            previous.deleteLater()
        dialog = QtSettingsDialog(
            location[0],
            location[1],
            self,
            devices=getattr(self, "_device_lister", None),
            checker=getattr(self, "_device_checker", None),
        )
        dialog.saved.connect(self._on_settings_saved)
        dialog.test_devices_requested.connect(self.show_tech_check)
        self.settings_dialog = dialog
        dialog.open()
        return dialog

    def set_attachments(self, attachments: Any, play: Callable[[bytes], str] | None = None) -> None:
        """Recordings and stills: listed under the note's header (site, length, heart
        rate, Play) and counted in the worklist. ``play(wav)`` is the composition
        root's (ui/ never touches audio devices)."""
        from ui.recordings import QtEncounterRecordings

        if self.editor is None:
            return
        self._attachments = attachments
        self.recordings = QtEncounterRecordings(attachments, self.events, play, self.editor)
        self.editor.add_banner(self.recordings)
        summary = self.editor.summary
        self.recordings.show_encounter(summary.encounter.id if summary is not None else None)
        self.events.attachment_did_add.connect(self._count_recordings)
        self.events.attachment_did_delete.connect(self._count_recordings)
        self._count_recordings()

    def _count_recordings(self, *_args: object) -> None:
        if getattr(self, "_attachments", None) is not None and self.worklist is not None:
            run_op(self, self._recount(), busy=False, context="Count recordings")

    async def _recount(self) -> None:
        attachments, worklist = self._attachments, self.worklist
        if worklist is None:
            return
        counts: dict[str, int] = {}
        try:
            for summary in worklist.summaries():  # today's visits: a handful of reads
                counts[summary.encounter.id] = len(
                    await attachments.for_encounter(summary.encounter.id)
                )
        except StoreLockedError:
            return  # locked under it (idle, suspend, quit): counted again at unlock
        worklist.set_recording_counts(counts)

    def set_device_lister(self, devices: Callable[[], list[Any]] | None) -> None:
        """How Settings > Devices lists cameras, microphones and speakers."""
        self._device_lister = devices

    def set_device_checker(self, checker: Any) -> None:
        """Settings > Devices' per-device tests (an app.device_check.DeviceChecker)."""
        self._device_checker = checker

    def _on_settings_saved(self, _path: object = None) -> None:
        self.settings_saved.emit()
        language_changed = self.apply_display_settings()
        if language_changed:
            text = self.tr(
                "Settings saved. The console speaks the new language in windows opened from "
                "now on, and everywhere the next time it starts."
            )
        else:
            text = self.tr("Settings saved. Some take effect the next time the console starts.")
        self.notice.show_message(text, "info")

    def apply_display_settings(self) -> bool:
        """Text size and language from the settings, applied now; True when the
        language changed (windows already built keep their words until a restart)."""
        from app.errors import ConsoleError as _SettingsError
        from app.settings import load_settings
        from ui import i18n, theme

        location = getattr(self, "_settings_location", None)
        if location is None:
            return False
        try:
            display = load_settings(location[0], location[1]).settings.display
        except _SettingsError:
            return False  # the settings error is shown where settings are read
        app = QApplication.instance()
        if not isinstance(app, QApplication):
            return False
        if app.property("consoleTextSize") != display.text_size:
            theme.set_text_size(app, display.text_size)
        changed = i18n.current_language() != display.language
        i18n.set_language(display.language)
        return changed

    # -- plugins (ui/plugins_dialog.py) -----------------------------------
    def set_plugin_host(self, host) -> None:
        """The composition root's PluginHost: File > Plugins… and the visit window's panels."""
        self.plugin_host = host
        self.plugins_action.setEnabled(host is not None and not self._locked)

    def show_plugins(self):
        from ui.plugins_dialog import QtPluginsDialog

        host = getattr(self, "plugin_host", None)
        if host is None or self._locked:
            return None
        previous = getattr(self, "plugins_dialog", None)
        if previous is not None:
            previous.deleteLater()
        self.plugins_dialog = QtPluginsDialog(host, self)
        self.plugins_dialog.open()
        return self.plugins_dialog

    def _mount_plugin_panels(self, window) -> None:
        host = getattr(self, "plugin_host", None)
        if host is None:
            return
        from ui.plugins_dialog import PluginPanelMount

        mount = PluginPanelMount(
            host, "visit", window.plugin_area, window.add_panel, window.plugin_area.remove_panel
        )
        window.destroyed.connect(lambda _obj=None: mount.close())
        mount.mount()

    # -- attaching the opened store --------------------------------------
    async def attach(self, notes: NotesService, store: LockableStore, *, session: Session) -> None:
        """Build the console over an open store and load the worklist.

        ``session`` (app/session.py) owns lock and unlock; the window renders them.
        """
        self.notes = notes
        self.store = store
        self.session = session
        self.autosaver = Autosaver(
            notes, debounce_ms=self._debounce_ms, retry_ms=self._retry_ms, parent=self
        )
        session.set_autosave(self.autosaver)
        session.set_visits(self._open_visits)
        session.session_will_lock.connect(self._on_session_will_lock)
        session.session_did_lock.connect(self._on_session_did_lock)
        session.session_did_unlock.connect(self._on_session_did_unlock)
        self.events.attachment_did_add.connect(self._on_attachment_did_add)
        console = QSplitter(Qt.Orientation.Horizontal, self._stack)
        console.setObjectName("console")
        console.setChildrenCollapsible(False)
        console.setHandleWidth(1)
        sidebar = QFrame(console)
        sidebar.setObjectName("sidebar")
        side = QVBoxLayout(sidebar)
        side.setContentsMargins(0, 0, 0, 0)
        side.setSpacing(0)
        self.search = QtSearchPanel(notes, sidebar)
        self.worklist = QtWorklist(notes, self.events, sidebar)
        side.addWidget(self.search)
        side.addWidget(self.worklist, 1)
        self.editor = QtNoteEditor(notes, self.events, self.autosaver, console)
        console.addWidget(sidebar)
        console.addWidget(self.editor)
        console.setStretchFactor(1, 1)
        console.setSizes([380, 900])
        self._console = console
        self._stack.addWidget(console)
        self._stack.setCurrentWidget(console)

        self.worklist.encounter_selected.connect(self._on_encounter_selected)
        self.worklist.encounter_selected.connect(self._update_visit_actions)
        self.search.hit_activated.connect(self._on_hit_activated)
        self.search.set_patient_source(self.worklist.summaries)
        self.search.active_changed.connect(self._on_search_active_changed)
        self.editor.history_requested.connect(self.show_history)
        self.editor.start_visit_requested.connect(self._on_header_start_visit)
        self.editor.note_opened.connect(self._update_in_visit)
        self.worklist.encounter_selected.connect(self._update_in_visit)
        self.editor.note_opened.connect(self._on_note_opened)
        self.autosaver.state_changed.connect(self.status.set_save_state)
        self.status.set_save_state(self.autosaver.state)
        self.autosaver.saved.connect(self.editor.set_version)
        self.lock_action.setEnabled(True)
        self.switch_action.setEnabled(self.identity is not None)
        self.find_action.setEnabled(True)

        self.events.store_did_change_state.emit(store.status)
        if self._idle_lock_ms:
            self.idle = IdleWatcher(self._idle_lock_ms, self)
            self.idle.idle.connect(self._on_idle)
            self._update_idle()
        await self.worklist.reload()

    def attach_sync(self, sync: SyncService) -> None:
        """Show sync in the status bar and conflicts in the editor (after :meth:`attach`).

        Without a record store ``sync.enabled`` is False: the indicator says so,
        and conflicts already in the store can still be resolved.
        """
        if self.editor is None or self.autosaver is None:
            raise RuntimeError("attach_sync() needs attach() first")
        self.sync = sync
        if self.session is not None:
            self.session.set_sync(sync)
        self.sync_status = QtSyncStatus(sync, sync_action=self.sync_action, parent=self.status)
        self.sync_status.details_requested.connect(self.show_sync_details)
        self.status.add_sync(self.sync_status)
        self.sync_action.setEnabled(sync.enabled and not self._locked)
        editor = self.editor
        self.conflict_banner = QtConflictBanner(
            sync, flush=self.autosaver.flush, current_text=editor.text, parent=editor
        )
        editor.add_banner(self.conflict_banner)
        editor.note_opened.connect(self._on_note_opened_for_sync)
        sync.sync_did_finish.connect(self._on_sync_did_finish)
        self.conflict_banner.resolved.connect(self._on_conflict_resolved)
        if editor.note is not None:
            self.conflict_banner.show_for(editor.note.id)

    def _on_sync_did_finish(self, report: SyncRoundResult) -> None:
        """A pull replaced the open note's text: show it, or keep the typing as a conflict.

        Never let the next autosave write over a pulled change unseen.
        """
        editor, autosaver = self.editor, self.autosaver
        if report.pulled and self.worklist is not None:
            # The pull may have brought today's visits or changed a patient's details.
            run_op(self, self.worklist.reload(), busy=False, context="Reload worklist")
        note = editor.note if editor is not None else None
        if note is None or note.id not in report.updated_note_ids:
            return
        if autosaver is not None and autosaver.has_unsaved and self.sync is not None:
            run_op(self, self._pulled_while_typing(note.id), busy=False, context="Sync")
        elif editor is not None:
            editor.reload()

    async def _pulled_while_typing(self, note_id: str) -> None:
        # The pulled text is stored now; the clinician's unsaved typing is about to be
        # saved over it. Record the pulled text as a conflict first, so the banner asks.
        sync = self.sync
        assert sync is not None
        await sync.hold_pulled_as_conflict(note_id)
        if self.conflict_banner is not None:
            self.conflict_banner.refresh()

    def _on_note_opened_for_sync(self, note: object) -> None:
        if self.conflict_banner is not None:
            self.conflict_banner.show_for(getattr(note, "id", None))

    def _on_conflict_resolved(self, note_id: str, _resolution: str) -> None:
        # keep_theirs and merge changed the stored text: show it.
        note = self.editor.note if self.editor is not None else None
        if self.editor is not None and note is not None and note.id == note_id:
            self.editor.reload()
        if self.worklist is not None:  # the note's version chip changed
            run_op(self, self.worklist.reload(), busy=False, context="Reload worklist")

    def _on_sync_now_triggered(self) -> None:
        if self.sync is not None and self.sync.enabled and not self._locked:
            # The outcome shows in the status bar (status_did_change), not in a dialog.
            run_op(self, self.sync.sync_now(), busy=False, context="Sync")

    # -- video visits (ui/visit/) ----------------------------------------
    def set_visit_factory(self, factory: VisitFactory | None, *, demo: bool = False) -> None:
        """Offer Visit > Start video visit (or Start demo visit) for the selected encounter.

        ``factory(encounter_id)`` returns the :class:`Visit` with its media session
        started (or an awaitable of it); the composition root knows which one
        (Janus, or the in-process demo patient). ``None`` hides the actions.
        """
        self._visit_factory = factory
        self.start_visit_action.setVisible(factory is not None and not demo)
        self.demo_visit_action.setVisible(factory is not None and demo)
        self._update_visit_menu()
        self._update_visit_actions()

    def set_join_factory(self, factory: JoinFactory | None) -> None:
        """Offer Visit > Join a visit… (only with a media server; the demo has nothing to join).

        ``factory(request)`` returns the :class:`Visit` of the room in the
        :class:`JoinRequest` with its media session starting (or an awaitable of it).
        """
        self._join_factory = factory
        self.join_visit_action.setVisible(factory is not None)
        self._update_visit_menu()
        self._update_visit_actions()

    def set_tech_check(self, make_check: Callable[[], TechCheck] | None, on_report=None) -> None:
        """Offer Visit > Tech check… (camera, microphone, speaker, network); ``make_check()``
        builds the :class:`TechCheck` with this console's devices and network settings."""
        self._tech_check = (make_check, on_report) if make_check is not None else None
        self.tech_check_action.setVisible(make_check is not None)
        self.tech_check_action.setEnabled(make_check is not None)
        self._update_visit_menu()

    def _update_visit_menu(self) -> None:
        self._visit_menu.menuAction().setVisible(
            self._visit_factory is not None
            or self._join_factory is not None
            or self._tech_check is not None
        )

    def show_tech_check(self) -> QtTechCheckDialog | None:
        if self._tech_check is None:
            return None
        make_check, on_report = self._tech_check
        dialog = QtTechCheckDialog(make_check, on_report, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def _update_visit_actions(self, _summary: object = None) -> None:
        self._update_in_visit()
        selected = self.worklist is not None and self.worklist.current_summary() is not None
        enabled = self._visit_factory is not None and selected and not self._locked
        self.start_visit_action.setEnabled(enabled)
        self.demo_visit_action.setEnabled(enabled)
        self.join_visit_action.setEnabled(self._join_factory is not None and not self._locked)

    def _on_header_start_visit(self, encounter_id: str) -> None:
        if self.visit_window is not None:
            self._raise_visit_window()
            return
        run_op(self, self.start_visit(encounter_id), context="Start visit")

    def _on_start_visit_triggered(self) -> None:
        summary = self.worklist.current_summary() if self.worklist is not None else None
        if summary is not None:
            run_op(self, self.start_visit(summary.encounter.id), context="Start visit")

    async def start_visit(self, encounter_id: str) -> QtVisitWindow | None:
        """Open the visit window (one visit at a time: a second start shows the first)."""
        if self.visit_window is not None:
            self.visit_window.showNormal()
            self.visit_window.raise_()
            self.visit_window.activateWindow()
            return self.visit_window
        factory = self._visit_factory
        if factory is None:
            return None
        window = await self._open_visit(lambda: factory(encounter_id))
        if window is not None:
            self._name_patient(window, encounter_id)
            self._offer_note(window, encounter_id)
        return window

    def _name_patient(self, window: QtVisitWindow, encounter_id: str) -> None:
        from ui.format import age_from

        summary = next(
            (s for s in self.worklist.summaries() if s.encounter.id == encounter_id), None
        ) if self.worklist is not None else None  # fmt: skip
        if summary is not None:
            patient = summary.patient
            window.set_patient(patient.display_name, age_from(patient.birth_date), patient.mrn)

    # -- the note beside the video ----------------------------------------
    def _offer_note(self, window: QtVisitWindow, encounter_id: str) -> None:
        """The visit window's Note button docks the encounter's note beside the video:
        docked from the start on a wide screen, one click away on a narrow one."""
        if self.editor is None or self.worklist is None:
            return
        current = self.worklist.current_summary()
        if current is None or current.encounter.id != encounter_id:
            self.worklist.select_encounter(encounter_id)
        window.note_button.show()
        window.note_button.toggled.connect(self._on_note_button_toggled)
        wide = geometry.available(window).width() >= WIDE_SCREEN_PX
        window.note_button.setChecked(wide)

    def _on_note_button_toggled(self, docked: bool) -> None:
        window = self.visit_window
        editor = self.editor
        if window is None or editor is None:
            return
        if docked and window.docked_note() is None:
            placeholder = QLabel(self.tr("The note is open beside the video in the visit window."))
            placeholder.setObjectName("noteDockedPlaceholder")
            placeholder.setProperty("role", "placeholder")
            placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
            placeholder.setWordWrap(True)
            self._console.replaceWidget(1, placeholder)
            self._note_placeholder = placeholder
            window.dock_note(editor)
            self._update_in_visit()
        elif not docked:
            self._undock_note()

    def _undock_note(self) -> None:
        editor = self.editor
        placeholder = getattr(self, "_note_placeholder", None)
        if editor is None or placeholder is None:
            return
        self._note_placeholder = None
        if self.visit_window is not None:
            self.visit_window.dock_note(None)
        self._console.replaceWidget(1, editor)  # reparents the editor back here
        editor.show()
        placeholder.deleteLater()
        self._update_in_visit()

    def _on_join_visit_triggered(self) -> None:
        self.show_join_dialog()

    def show_join_dialog(self) -> QtJoinDialog | None:
        """Visit > Join a visit…: ask for the link (or room and PIN), then join (join_visit)."""
        if self._join_factory is None or self._locked:
            return None
        if self.visit_window is not None:  # one visit at a time: show the running one
            self.visit_window.showNormal()
            self.visit_window.raise_()
            self.visit_window.activateWindow()
            return None
        from ui.visit.join_dialog import QtJoinDialog

        previous = self.join_dialog
        if previous is not None:
            previous.deleteLater()
        dialog = QtJoinDialog(self)
        dialog.join_requested.connect(lambda request: self._join_from_dialog(dialog, request))
        self.join_dialog = dialog
        dialog.open()
        return dialog

    def _join_from_dialog(self, dialog: QtJoinDialog, request: JoinRequest) -> None:
        def failed(exc: BaseException) -> None:
            # Retry in place: the dialog comes back with what was typed and the reason.
            dialog.show_failure(exc)
            dialog.open()

        run_op(self, self.join_visit(request), context="Join visit", on_error=failed)

    async def join_visit(self, request: JoinRequest) -> QtVisitWindow | None:
        """Join the room in ``request`` and open the visit window, as start_visit does."""
        if self.visit_window is not None:
            self.visit_window.showNormal()
            self.visit_window.raise_()
            self.visit_window.activateWindow()
            return self.visit_window
        factory = self._join_factory
        if factory is None:
            return None
        window = await self._open_visit(lambda: factory(request))
        if window is not None:
            # A visit that could not connect offers "Try again" in its own window.
            window.offer_retry(lambda: run_op(self, self._rejoin(request), context="Join visit"))
        return window

    async def _rejoin(self, request: JoinRequest) -> None:
        window = self.visit_window
        if window is not None:
            window._may_close = True
            window.close()
        await self.join_visit(request)

    async def _open_visit(
        self, make: Callable[[], Visit | Awaitable[Visit]]
    ) -> QtVisitWindow | None:
        """The shared path of start_visit and join_visit: make the visit, show its window."""
        if self._starting_visit:
            return None
        from ui.visit.qt_visit_window import QtVisitWindow

        self._starting_visit = True
        try:
            made = make()
            visit = await made if inspect.isawaitable(made) else made
        finally:
            self._starting_visit = False
        window = QtVisitWindow(visit, parent=self)
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        window.closed.connect(self._on_visit_window_closed)
        self.visit_window = window
        # Talking to a patient is not "idle": no automatic lock while the call is live,
        # but an ended visit's window no longer holds the lock off.
        visit.state_changed.connect(self._update_idle)
        self._update_idle()
        self._mount_plugin_panels(window)
        self.visit_window = window
        self._update_in_visit()
        log_user_action("visit_start", encounter=visit.encounter_id or None)
        window.show()
        self.visit_window_opened.emit(window)
        return window

    def _on_visit_window_closed(self) -> None:
        self._undock_note()  # before the window (the editor's parent) is deleted
        window = self.visit_window
        self.visit_window = None
        self._update_in_visit()
        if window is not None:
            log_user_action("visit_end", encounter=window.visit.encounter_id or None)
            with contextlib.suppress(Exception):
                window.visit.state_changed.disconnect(self._update_idle)
        self._update_idle()

    async def _end_visit(self) -> None:
        """Hang up a running visit (the console is quitting) and close its window."""
        window = self.visit_window
        if window is None:
            return
        from ui.visit.qt_visit_window import LIVE_STATES

        visit = window.visit
        if visit.state in LIVE_STATES and visit.controls is not None:
            try:
                await asyncio.wait_for(visit.controls.hang_up(), 5.0)
            except Exception as exc:  # quitting goes on; the media server times the peer out
                log.warning(
                    "Hang up on quit failed: %s",
                    type(exc).__name__,
                )
        window._may_close = True
        window.close()

    def _on_attachment_did_add(self, attachment: object, _source: object = None) -> None:
        kind = getattr(attachment, "kind", None)
        log_user_action(
            "attach",
            kind=getattr(kind, "value", None),
            attachment=getattr(attachment, "id", None),
            encounter=getattr(attachment, "encounter_id", None),
        )

    # -- navigation ------------------------------------------------------
    def _on_encounter_selected(self, summary: EncounterSummary) -> None:
        recordings = getattr(self, "recordings", None)
        if recordings is not None:
            recordings.show_encounter(summary.encounter.id)
        if self.editor is not None:
            run_op(self, self.editor.open_encounter(summary), context="Open note")

    def _on_hit_activated(self, hit: SearchHit) -> None:
        if self.worklist is None or self.editor is None:
            return
        current = self.worklist.current_summary()
        note = self.editor.note
        if (
            hit.note_id
            and note is not None
            and note.id == hit.note_id
            and not self.editor.is_loading()
        ):
            return  # already open (a double click reports the hit twice)
        if current is not None and current.encounter.id == hit.encounter_id:
            # Already selected: re-open in case the editor shows another note.
            run_op(self, self.editor.open_encounter(current), context="Open note")
        elif not self.worklist.select_encounter(hit.encounter_id):
            run_op(self, self._open_after_reload(hit.encounter_id), context="Open note")

    async def _open_after_reload(self, encounter_id: str) -> None:
        if self.worklist is not None:
            await self.worklist.reload()
            self.worklist.select_encounter(encounter_id)

    def _on_search_active_changed(self, active: bool) -> None:
        if self.worklist is not None:
            self.worklist.setVisible(not active)

    def _on_note_opened(self, _note: object) -> None:
        self.history_action.setEnabled(True)

    def _on_find_triggered(self) -> None:
        if self.search is not None:
            self.search.field.setFocus(Qt.FocusReason.ShortcutFocusReason)
            self.search.field.selectAll()

    # -- dialogs ---------------------------------------------------------
    def _on_history_triggered(self) -> None:
        if self.editor is not None and self.editor.note is not None:
            self.show_history(self.editor.note.id)

    def show_history(self, note_id: str) -> QtNoteHistory | None:
        if self.notes is None or self.autosaver is None or self._locked:
            return None
        if self.history_dialog is not None:
            self.history_dialog.close()
        dialog = QtNoteHistory(self.notes, note_id, flush=self.autosaver.flush, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.destroyed.connect(self._on_history_destroyed)
        self.history_dialog = dialog
        dialog.load()
        dialog.show()
        return dialog

    def _on_history_destroyed(self, _obj: object = None) -> None:
        self.history_dialog = None

    def show_sync_details(self) -> QtSyncDetails | None:
        if self.sync is None or self._locked:
            return None
        if self.sync_details is not None:
            self.sync_details.close()
        dialog = QtSyncDetails(self.sync, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open_requested.connect(self._on_open_requested)
        dialog.destroyed.connect(self._on_sync_details_destroyed)
        self.sync_details = dialog
        dialog.load()
        dialog.show()
        return dialog

    def _on_sync_details_destroyed(self, _obj: object = None) -> None:
        self.sync_details = None

    def _on_open_requested(self, encounter_id: str) -> None:
        if self.worklist is not None and not self.worklist.select_encounter(encounter_id):
            run_op(self, self._open_after_reload(encounter_id), context="Open note")

    def show_about(self) -> QtAboutDialog:
        version = self._sqlcipher_version() if self._sqlcipher_version is not None else None
        status = self.store.status if self.store is not None else None
        self.about_dialog = QtAboutDialog(
            sqlcipher_version=version, store_status=status, parent=self
        )
        self.about_dialog.show()
        return self.about_dialog

    # -- locking (the sequence is app.session.Session's; this only renders it) -------
    @property
    def locked(self) -> bool:
        return self._locked

    def _on_idle(self) -> None:
        if self._idle_lock_ms and not self._locked:
            run_op(self, self.lock(LockReason.IDLE), busy=False, context="Lock")

    def _on_lock_triggered(self) -> None:
        run_op(self, self.lock(LockReason.USER), busy=False, context="Lock")

    # -- clinician sign-in (app/identity.py, ui/signin.py) -------------------------
    def set_identity(self, identity: Any, open_browser: Any) -> None:
        """An identity provider is configured: the lock screen signs a clinician in,
        and File > Switch clinician locks for the next one."""
        from ui.signin import QtSignInCard

        self.identity = identity
        self.lock_screen.use_sign_in(QtSignInCard(identity, open_browser, self.lock_screen))
        self.switch_action.setVisible(True)
        self.switch_action.setEnabled(self.session is not None and not self._locked)
        identity.clinician_did_sign_in.connect(self._on_clinician_changed)
        identity.clinician_did_sign_out.connect(self._on_clinician_changed)
        self._on_clinician_changed()

    def _on_clinician_changed(self, *_args: object) -> None:
        """The title names who is signed in (on a shared cart: whose session this is)."""
        who = self.identity.current_clinician() if self.identity is not None else None
        name = (who.name or who.login) if who is not None else ""
        if name:
            self.setWindowTitle(self.tr("Clinician Console — {name}").format(name=name))
        else:
            self.setWindowTitle(self.tr("Clinician Console"))

    def _on_switch_triggered(self) -> None:
        from app.identity import switch_clinician

        if self.session is None or self.identity is None or self._locked:
            return
        run_op(
            self,
            switch_clinician(self.session, self.identity, LockReason.SWITCH),
            busy=False,
            context="Switch clinician",
        )

    def request_lock(self, reason: LockReason) -> asyncio.Task[None] | None:
        """Lock from outside the widget (system suspend, OS session lock); the task, so
        the caller can wait for the store to be locked (the cover is immediate)."""
        if self.session is None or self._locked:
            return None
        return run_op(self, self.lock(reason), busy=False, context="Lock")

    async def lock(self, reason: LockReason | str = LockReason.USER) -> None:
        """Lock through the session use case; the window is covered before any await
        (session_will_lock), whatever the steps after it do."""
        if self.session is None or self._locked:
            return
        if isinstance(reason, str) and not isinstance(reason, LockReason):
            self._lock_message = reason  # a caller's own wording (screenshots)
            reason = LockReason.USER
        await self.session.lock(reason)

    def _lock_text(self, reason: LockReason) -> str:
        custom, self._lock_message = self._lock_message, None
        if custom:
            return custom
        if reason is LockReason.IDLE and self._idle_lock_ms:
            return idle_reason(self._idle_lock_ms)
        return LOCK_TEXTS.get(reason, LOCK_TEXTS[LockReason.USER])

    def _on_session_will_lock(self, reason: LockReason) -> None:
        """Cover everything that can show patient data, and disable configuration."""
        self._locked = True
        log_user_action("lock", reason=getattr(reason, "value", str(reason)))
        if self.idle is not None:
            self.idle.pause()
        kind = self.session.credential_kind if self.session is not None else None
        self.lock_screen.cover(kind=kind, reason=self._lock_text(reason))
        self._console.setEnabled(False)
        self._set_actions_enabled(False)
        for dialog in (self.history_dialog, self.about_dialog, self.sync_details):
            if dialog is not None:
                dialog.close()
        for name in ("settings_dialog", "plugins_dialog"):
            dialog = getattr(self, name, None)
            if dialog is not None and dialog.isVisible():
                dialog.reject()  # configuration is never changed while locked
        # Every other window or dialog (merge dialog, join dialog with its typed text,
        # the visit window, plugin windows) is hidden, not closed: its draft stays, and
        # it comes back at unlock.
        self._hidden_while_locked = []
        for widget in QApplication.topLevelWidgets():
            if widget is self or not widget.isVisible() or widget is self.lock_screen:
                continue
            if widget.windowType() in (Qt.WindowType.ToolTip, Qt.WindowType.Popup):
                widget.hide()  # menus, completers, tooltips: gone, not brought back
                continue
            if not self._owned(widget):
                continue
            widget.hide()
            self._hidden_while_locked.append(widget)
        self._update_visit_actions()

    def _owned(self, widget: QWidget) -> bool:
        """Whether a top-level window belongs to this console window (a dialog or window
        parented here, however deep), or is a parentless window of the console's own."""
        parent = widget.parentWidget()
        while parent is not None:
            if parent is self:
                return True
            parent = parent.parentWidget()
        return widget.parent() is None and not isinstance(widget, QMainWindow)

    def _on_session_did_lock(self, _result: object) -> None:
        if self.store is not None:
            self.events.store_did_change_state.emit(self.store.status)

    def _on_unlock_requested(self, secret: object) -> None:
        run_op(self, self.unlock(secret if isinstance(secret, str) else None), context="Unlock")

    async def unlock(self, secret: str | None) -> bool:
        """Ask the session to unlock; False (and the reason on the lock screen) if refused."""
        if self.session is None or not self._locked:
            return True
        try:
            await self.session.unlock(secret)
        except UnlockThrottledError as exc:
            self.lock_screen.reject(user_text(exc))
            self.lock_screen.hold_for(float(exc.params.get("wait_s", 1)))
            return False
        except ConsoleError as exc:
            self.lock_screen.reject(user_text(exc))
            wait = self.session.credentials.wait_s()
            if wait > 0:
                self.lock_screen.hold_for(wait)
            return False
        return True

    def _on_session_did_unlock(self) -> None:
        self._locked = False
        log_user_action("unlock")
        self.lock_screen.hide()
        hidden, self._hidden_while_locked = self._hidden_while_locked, []
        for widget in hidden:
            with contextlib.suppress(RuntimeError):  # deleted meanwhile (a visit ended)
                widget.show()
        self._console.setEnabled(True)
        self._set_actions_enabled(True)
        self._update_idle()
        self._update_visit_actions()
        self._count_recordings()  # a count the lock refused
        if self.store is not None:
            self.events.store_did_change_state.emit(self.store.status)

    def set_idle_lock_ms(self, idle_lock_ms: int) -> None:
        """A new idle-lock timeout; a running watch restarts with it, counted from now."""
        self._idle_lock_ms = idle_lock_ms
        if self.idle is not None:
            self.idle.timeout_ms = idle_lock_ms

    def _update_idle(self, *_args: object) -> None:
        """The idle timer runs whenever the console is unlocked and no call is live."""
        if self.idle is None:
            return
        if self._locked or (self.session is not None and self.session.any_visit_live()):
            self.idle.pause()
        elif not self.idle.is_running:
            self.idle.start()

    def _open_visits(self) -> list[HeldVisit]:
        window = self.visit_window
        return [window.visit] if window is not None else []

    def _set_actions_enabled(self, enabled: bool) -> None:
        self.lock_action.setEnabled(enabled)
        self.switch_action.setEnabled(enabled and self.identity is not None)
        self.find_action.setEnabled(enabled)
        note_open = self.editor is not None and self.editor.note is not None
        self.history_action.setEnabled(enabled and note_open)
        self.sync_action.setEnabled(enabled and self.sync is not None and self.sync.enabled)
        # Configuration: nobody changes the record store, plugins or updates while locked.
        self.settings_action.setEnabled(
            enabled and getattr(self, "_settings_location", None) is not None
        )
        self.plugins_action.setEnabled(enabled and getattr(self, "plugin_host", None) is not None)

    # -- closing ---------------------------------------------------------
    async def shutdown(self) -> bool:
        """Flush autosave and stop background work; True when nothing typed is unsaved."""
        if self.idle is not None:
            self.idle.stop()
        await self._end_visit()
        if self.session is not None:
            return await self.session.quit()
        if self.autosaver is None:
            return True
        return await self.autosaver.flush()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        if self._may_close:
            super().closeEvent(event)
            self.closed.emit()
            return
        self.startup.cancel()
        if self.autosaver is None and self.session is None and self.visit_window is None:
            # Nothing attached yet (the start-up view): nothing to flush or hang up.
            self._may_close = True
            super().closeEvent(event)
            self.closed.emit()
            return
        event.ignore()
        if self._closing is None or self._closing.done():
            self._closing = run_op(self, self._close_after_flush(), busy=False, context="Quit")

    async def _close_after_flush(self) -> None:
        saved = await self.shutdown()
        failed = self.autosaver is not None and self.autosaver.state.kind is SaveKind.FAILED
        if not saved and failed and not self._close_refused:
            # The second close is the user's explicit "quit anyway".
            self._close_refused = True
            self.presenter.show_text(UNSAVED_ON_CLOSE)
            self._update_idle()
            return
        self._may_close = True
        self.close()
