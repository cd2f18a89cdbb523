"""QtVisitWindow: the video visit as the clinician sees it.

It renders one :class:`app.visit.Visit` and asks its :class:`VisitControls`
for everything it wants done (STYLE.md §1): the window never changes the
model itself. A click on Mute calls ``controls.set_microphone_muted`` and the
button changes only when the visit reports ``local_media_changed``, so what the
button says is what the media session really does.

Layout: a top bar (state, call timer, quality badge), the stage (remote video
one-up, or a grid with two or more remote participants; the self-view as a
draggable overlay; the call details as an overlay), a side column (waiting
room, invite, plugin panels) and the control bar. Keyboard shortcuts are in
:data:`SHORTCUTS` and in every tooltip; docs/visit-window.md lists them.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime

from PySide6.QtCore import QCoreApplication, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence, QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.logging_setup import log_user_action
from app.visit import (
    CallQuality,
    CallStats,
    MediaDevice,
    Participant,
    TrackStats,
    Visit,
    VisitState,
    WaitingPatient,
)
from ui import geometry
from ui.errors import ErrorPresenter, QtNoticeBar
from ui.i18n import QT_TRANSLATE_NOOP, device_label, message
from ui.ops import run_op
from ui.visit.invite import QtInvitePanel
from ui.visit.plugin_area import QtPluginArea
from ui.visit.video_view import QtSelfView, QtVideoView
from ui.visit.waiting_room import QtWaitingRoom, confirm, is_host

log = logging.getLogger(__name__)

# Key sequences (portable text; Qt shows Ctrl as ⌘ on macOS). Google Meet and
# Teams use the same keys for mute, camera and hang up, so clinicians who know
# those find them here.
SHORTCUTS = {
    "mute": "Ctrl+D",
    "camera": "Ctrl+E",
    "hang_up": "Ctrl+Shift+H",
    "details": "Ctrl+Shift+I",
    "people": "Ctrl+Shift+P",
    "full_screen": "F11",
}

STATE_TEXT = {
    VisitState.IDLE: QCoreApplication.translate("qt_visit_window", "Starting"),
    VisitState.CONNECTING: QCoreApplication.translate("qt_visit_window", "Connecting…"),
    VisitState.WAITING: QCoreApplication.translate("qt_visit_window", "Waiting"),
    VisitState.IN_CALL: QCoreApplication.translate("qt_visit_window", "In call"),
    VisitState.RECONNECTING: QCoreApplication.translate("qt_visit_window", "Reconnecting…"),
    VisitState.ENDED: QCoreApplication.translate("qt_visit_window", "Ended"),
}
QUALITY_TEXT = {
    CallQuality.UNKNOWN: QCoreApplication.translate("qt_visit_window", "Checking connection…"),
    CallQuality.GOOD: QCoreApplication.translate("qt_visit_window", "Good connection"),
    CallQuality.FAIR: QCoreApplication.translate("qt_visit_window", "Fair connection"),
    CallQuality.POOR: QCoreApplication.translate("qt_visit_window", "Poor connection"),
}
RECONNECTING_TEXT = QCoreApplication.translate("qt_visit_window", "Connection lost, reconnecting…")
RECONNECTING_TITLE = QCoreApplication.translate("qt_visit_window", "Reconnecting…")
RECONNECTING_STAGE_TEXT = QCoreApplication.translate(
    "qt_visit_window",
    "The network connection was lost. The console reconnects by itself; the call "
    "resumes as soon as the network is back.",
)
CONNECTING_TITLE = QCoreApplication.translate("qt_visit_window", "Connecting to the visit…")
CONNECTING_TEXT = QCoreApplication.translate(
    "qt_visit_window",
    "Setting up the call with the media server. This usually takes a few seconds.",
)
WAITING_HOST_TITLE = QCoreApplication.translate("qt_visit_window", "Waiting for the patient")
WAITING_HOST_TEXT = QCoreApplication.translate(
    "qt_visit_window",
    "Send the invite link on the right. People who open it wait in the waiting room "
    "until you admit them.",
)
WAITING_GUEST_TITLE = QCoreApplication.translate("qt_visit_window", "Waiting to be admitted")
WAITING_GUEST_TEXT = QCoreApplication.translate(
    "qt_visit_window", "The clinician has been told you are here and will let you in shortly."
)
ALONE_TITLE = QCoreApplication.translate("qt_visit_window", "Nobody else is in the visit")
ALONE_TEXT = QCoreApplication.translate(
    "qt_visit_window", "The others have left. Admit someone from the waiting room, or hang up."
)
ENDED_TITLE = QCoreApplication.translate("qt_visit_window", "The visit has ended")
ENDED_DEFAULT_REASON = QCoreApplication.translate("qt_visit_window", "The call is over.")
HANG_UP_QUESTION = QCoreApplication.translate(
    "qt_visit_window",
    "Hang up and end the visit? Everyone in the call is disconnected. The encounter "
    "note stays open.",
)
LIVE_STATES = frozenset(
    {VisitState.CONNECTING, VisitState.WAITING, VisitState.IN_CALL, VisitState.RECONNECTING}
)
# The rows' English names are their keys (details_values, tests); shown translated.
ROW_NAMES = (
    QT_TRANSLATE_NOOP("QtCallDetails", "Codec"),
    QT_TRANSLATE_NOOP("QtCallDetails", "Resolution"),
    QT_TRANSLATE_NOOP("QtCallDetails", "Frame rate"),
    QT_TRANSLATE_NOOP("QtCallDetails", "Bitrate"),
    QT_TRANSLATE_NOOP("QtCallDetails", "Round-trip time"),
    QT_TRANSLATE_NOOP("QtCallDetails", "Packet loss"),
    QT_TRANSLATE_NOOP("QtCallDetails", "Jitter"),
    QT_TRANSLATE_NOOP("QtCallDetails", "Connection"),
    QT_TRANSLATE_NOOP("QtCallDetails", "Low-bandwidth mode"),
)
ROW_KEYS = (
    "Codec",
    "Resolution",
    "Frame rate",
    "Bitrate",
    "Round-trip time",
    "Packet loss",
    "Jitter",
    "Connection",
    "Low-bandwidth mode",
)
DEVICE_MENUS = {  # kind -> what the menu says when there is none
    "microphone": QCoreApplication.translate("qt_visit_window", "No microphone found"),
    "camera": QCoreApplication.translate("qt_visit_window", "No camera found"),
    "speaker": QCoreApplication.translate("qt_visit_window", "No speaker found"),
}
DEVICE_CACHE_S = 5.0
# The side column (waiting room, invite, stethoscope): every plugin control fits this.
SIDE_MIN_WIDTH_PX = 360
CANDIDATE_TEXT = {
    "host": QCoreApplication.translate("qt_visit_window", "Direct (host)"),
    "srflx": QCoreApplication.translate("qt_visit_window", "Through NAT (srflx)"),
    "prflx": QCoreApplication.translate("qt_visit_window", "Through NAT (prflx)"),
    "relay": QCoreApplication.translate("qt_visit_window", "Relayed by TURN (relay)"),
}


def _tip(text: str, action: str) -> str:
    return f"{text} ({SHORTCUTS[action]})"


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def format_bitrate(kbps: float) -> str:
    if kbps >= 1000:
        return f"{kbps / 1000:.2f} Mbps"
    return f"{kbps:.0f} kbps"


def _joined(values: list[str]) -> str:
    shown = [v for v in values if v]
    return " / ".join(shown) if shown else "—"


def _track_values(tracks: tuple[TrackStats, ...]) -> dict[str, str]:
    return {
        "Codec": _joined(sorted({t.codec for t in tracks if t.codec})),
        "Resolution": _joined(
            [f"{t.width_px}×{t.height_px}" for t in tracks if t.width_px and t.height_px]
        ),
        "Frame rate": _joined([f"{t.frames_per_s:.0f} fps" for t in tracks if t.frames_per_s]),
        "Bitrate": _joined([format_bitrate(t.bitrate_kbps) for t in tracks if t.bitrate_kbps]),
    }


def details_values(stats: CallStats) -> dict[tuple[str, str], str]:
    """The details panel's text, keyed by (row, "received" | "sent" | "call")."""
    inbound_video = stats.inbound_video()
    outbound_video = tuple(
        t for t in stats.tracks if t.kind == "video" and t.direction == "outbound"
    )
    inbound = tuple(t for t in stats.tracks if t.direction == "inbound")
    values: dict[tuple[str, str], str] = {}
    for column, tracks in (("received", inbound_video), ("sent", outbound_video)):
        for row, text in _track_values(tracks).items():
            values[row, column] = text
    values["Round-trip time", "call"] = (
        f"{stats.rtt_ms:.0f} ms" if stats.rtt_ms is not None else "—"
    )
    values["Packet loss", "call"] = f"{max(t.loss_pct for t in inbound):.1f} %" if inbound else "—"
    values["Jitter", "call"] = f"{max(t.jitter_ms for t in inbound):.0f} ms" if inbound else "—"
    connection = CANDIDATE_TEXT.get(stats.candidate_type, stats.candidate_type or "—")
    if stats.candidate_type == "relay" and stats.relay_protocol:
        connection = QCoreApplication.translate(
            "qt_visit_window", "Relayed by TURN (relay, %1)"
        ).replace("%1", stats.relay_protocol.upper())
    values["Connection", "call"] = connection
    values["Low-bandwidth mode", "call"] = (
        QCoreApplication.translate("qt_visit_window", "On: sending less to keep the call going")
        if stats.low_bandwidth
        else QCoreApplication.translate("qt_visit_window", "Off")
    )
    return values


def grid_shape(count: int) -> tuple[int, int]:
    """(rows, columns) for ``count`` tiles: 1 → 1x1, 2 → 1x2, 3-4 → 2x2, 5-6 → 2x3..."""
    if count <= 1:
        return 1, 1
    columns = math.ceil(math.sqrt(count))
    return math.ceil(count / columns), columns


def _repolish(widget: QWidget) -> None:
    # Qt re-applies [property="..."] selectors only after an unpolish/polish.
    widget.style().unpolish(widget)
    widget.style().polish(widget)


class QtQualityBadge(QPushButton):
    """ "Good / Fair / Poor connection" in green / amber / red; click for details."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("qualityBadge")
        self.setCheckable(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(
            _tip(
                QCoreApplication.translate(
                    "QtQualityBadge",
                    "Call quality, from round-trip time, packet loss and frame rate. "
                    "Click for the details",
                ),
                "details",
            )
        )
        self.quality = CallQuality.UNKNOWN
        self.set_quality(CallQuality.UNKNOWN)

    def set_quality(self, quality: CallQuality) -> None:
        self.quality = quality
        self.setText(f"●  {QUALITY_TEXT[quality]}")
        self.setProperty("quality", quality.value)
        _repolish(self)


class QtCallDetails(QFrame):
    """Codec, resolution, frame rate, bitrate (received and sent), RTT, loss, jitter,
    connection path and low-bandwidth mode, refreshed with every stats update."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("callDetails")
        grid = QGridLayout(self)
        grid.setContentsMargins(14, 10, 14, 12)
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(4)
        title = QLabel(QCoreApplication.translate("QtCallDetails", "Call details"), self)
        title.setObjectName("detailsTitle")
        grid.addWidget(title, 0, 0, 1, 3)
        heads = (
            (1, QCoreApplication.translate("QtCallDetails", "Received")),
            (2, QCoreApplication.translate("QtCallDetails", "Sent")),
        )
        for column, text in heads:
            head = QLabel(text, self)
            head.setObjectName("detailsHead")
            grid.addWidget(head, 1, column)
        self._labels: dict[tuple[str, str], QLabel] = {}
        empty = details_values(CallStats())
        for row, key in enumerate(ROW_KEYS, start=2):
            name = QLabel(QCoreApplication.translate("QtCallDetails", key), self)
            name.setObjectName("detailsKey")
            grid.addWidget(name, row, 0)
            if (key, "call") in empty:
                value = QLabel(self)
                value.setObjectName("detailsValue")
                grid.addWidget(value, row, 1, 1, 2)
                self._labels[key, "call"] = value
                continue
            for column, which in ((1, "received"), (2, "sent")):
                value = QLabel(self)
                value.setObjectName("detailsValue")
                grid.addWidget(value, row, column)
                self._labels[key, which] = value
        self.set_stats(CallStats())

    def set_stats(self, stats: CallStats) -> None:
        for key, text in details_values(stats).items():
            self._labels[key].setText(text)
        self.adjustSize()

    def text(self, row: str, column: str = "call") -> str:
        return self._labels[row, column].text()


class _Stage(QWidget):
    """The video area; keeps its overlays (self-view, details) in place on resize."""

    resized = Signal()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self.resized.emit()


class QtVisitWindow(QWidget):
    """The visit window. ``closed`` is emitted once the window really closed."""

    closed = Signal()

    def __init__(self, visit: Visit, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if parent is not None:
            self.setWindowFlag(Qt.WindowType.Window)  # its own window, closed with the parent
        self.setObjectName("visitWindow")
        self.setWindowTitle(
            QCoreApplication.translate("QtVisitWindow", "Video visit · Clinician Console")
        )
        self.visit = visit
        self.presenter = ErrorPresenter(self)
        self.confirm_box: QMessageBox | None = None
        self._tiles: dict[str, QtVideoView] = {}
        self._current_device: dict[str, str] = {}
        self._device_cache: tuple[float, list[MediaDevice]] | None = None
        self._may_close = False
        self._close_after_hang_up = False
        self._ended_at: datetime | None = None
        self.layout_mode = "none"  # "one-up" | "grid" | "none" (tests, screenshots)

        self._build()
        self._build_actions()
        geometry.remember(self, "visit", QSize(1280, 800))
        self._clock = QTimer(self)
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._update_timer)
        self._clock.start()

        visit.state_changed.connect(self._on_state_changed)
        visit.participants_changed.connect(self._on_participants_changed)
        visit.waiting_changed.connect(self._on_waiting_changed)
        visit.stats_updated.connect(self._on_stats_updated)
        visit.local_media_changed.connect(self._on_local_media_changed)
        visit.notice.connect(self._on_notice)
        self._connected = True
        self._on_participants_changed(visit.participants)
        self._on_stats_updated(visit.stats)
        self._on_local_media_changed(visit.microphone_muted, visit.camera_enabled)
        self._on_state_changed(visit.state, visit.end_reason)
        if visit.controls is not None:
            self.check_devices()

    # -- building ---------------------------------------------------------------
    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(0)

        top = QFrame(self)
        top.setObjectName("visitTopBar")
        top.setMinimumHeight(44)  # no jump when the quality badge hides at the end
        bar = QHBoxLayout(top)
        bar.setContentsMargins(16, 8, 12, 8)
        bar.setSpacing(10)
        title = QLabel(self.tr("Video visit"), top)
        title.setObjectName("visitTitle")
        self.title_label = title
        # Who the visit is with: name, age and MRN (set_patient); a guest's join has none.
        self.patient_label = QLabel("", top)
        self.patient_label.setObjectName("visitPatient")
        self.patient_label.setAccessibleName(self.tr("Patient"))
        self.patient_label.hide()
        self.state_label = QLabel(top)
        self.state_label.setObjectName("visitState")
        self.timer_label = QLabel("", top)
        self.timer_label.setObjectName("callTimer")
        self.timer_label.setToolTip(
            QCoreApplication.translate("QtVisitWindow", "Time since the first other person joined")
        )
        self.low_bandwidth_label = QLabel(
            QCoreApplication.translate("QtVisitWindow", "Low-bandwidth mode"), top
        )
        self.low_bandwidth_label.setObjectName("lowBandwidth")
        self.low_bandwidth_label.setToolTip(
            QCoreApplication.translate(
                "QtVisitWindow",
                "The network is struggling, so video is sent at a lower resolution and frame "
                "rate. It steps back up by itself when the link recovers.",
            )
        )
        self.low_bandwidth_label.hide()
        self.quality_badge = QtQualityBadge(top)
        self.quality_badge.toggled.connect(self._on_details_toggled)
        bar.addWidget(title)
        bar.addWidget(self.patient_label)
        bar.addWidget(self.state_label)
        bar.addWidget(self.timer_label)
        bar.addStretch(1)
        bar.addWidget(self.low_bandwidth_label)
        bar.addWidget(self.quality_badge)
        root.addWidget(top)

        self.notice = QtNoticeBar(self)
        self.presenter.notice.connect(self.notice.show_message)
        root.addWidget(self.notice)
        self.reconnect_banner = QFrame(self)
        self.reconnect_banner.setObjectName("reconnectBanner")
        banner_row = QHBoxLayout(self.reconnect_banner)
        banner_row.setContentsMargins(16, 8, 16, 8)
        self.reconnect_text = QLabel(RECONNECTING_TEXT, self.reconnect_banner)
        self.reconnect_text.setObjectName("reconnectText")
        banner_row.addWidget(self.reconnect_text, 1)
        self.reconnect_banner.hide()
        root.addWidget(self.reconnect_banner)
        # A missing speaker or microphone is said once, plainly, above the video.
        self.device_banner = QLabel(self)
        self.device_banner.setObjectName("deviceBanner")
        self.device_banner.setWordWrap(True)
        self.device_banner.hide()
        root.addWidget(self.device_banner)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("visitSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setHandleWidth(1)
        self.stage = _Stage(self.splitter)
        self.stage.setObjectName("visitStage")
        self.stage.resized.connect(self._place_overlays)
        stage_layout = QVBoxLayout(self.stage)
        stage_layout.setContentsMargins(0, 0, 0, 0)
        self.pages = QStackedWidget(self.stage)
        stage_layout.addWidget(self.pages)
        self._build_status_page()
        self.grid_page = QWidget(self.pages)
        self.grid_page.setObjectName("videoGrid")
        self.grid = QGridLayout(self.grid_page)
        self.grid.setContentsMargins(8, 8, 8, 8)
        self.grid.setSpacing(8)
        self.pages.addWidget(self.grid_page)
        self.self_view = QtSelfView(self.visit, parent=self.stage)
        self.self_view.set_participant("", self.tr("You"))
        self.details = QtCallDetails(self.stage)
        self.details.hide()

        side = QFrame(self.splitter)
        side.setObjectName("visitSide")
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.setSpacing(0)
        scroller = QScrollArea(side)
        scroller.setObjectName("visitSideScroll")
        scroller.setWidgetResizable(True)
        scroller.setFrameShape(QFrame.Shape.NoFrame)
        scroller.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        inner = QWidget(scroller)
        inner.setObjectName("visitSideInner")
        column = QVBoxLayout(inner)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        self.waiting_room = QtWaitingRoom(self.visit, inner)
        self.invite = QtInvitePanel(self.visit.invite, inner)
        self.plugin_area = QtPluginArea(inner)
        column.addWidget(self.waiting_room)
        column.addWidget(self.invite)
        column.addWidget(self.plugin_area, 1)
        column.addStretch(0)
        scroller.setWidget(inner)
        side_layout.addWidget(scroller)
        self.side = side
        side.setMinimumWidth(SIDE_MIN_WIDTH_PX)
        self.splitter.addWidget(self.stage)
        self.splitter.addWidget(side)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setSizes([860, 420])
        root.addWidget(self.splitter, 1)

        controls = QFrame(self)
        controls.setObjectName("visitControls")
        row = QHBoxLayout(controls)
        row.setContentsMargins(16, 10, 16, 10)
        row.setSpacing(10)
        self.mic_button = self._tool_button("micButton", controls)
        self.microphone_menu = QMenu(self.mic_button)
        self.microphone_menu.setObjectName("microphoneMenu")
        self.microphone_menu.aboutToShow.connect(lambda: self._fill_device_menu("microphone"))
        self.mic_button.setMenu(self.microphone_menu)
        self.mic_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.mic_button.clicked.connect(self.toggle_microphone)
        self.camera_button = self._tool_button("cameraButton", controls)
        self.camera_menu = QMenu(self.camera_button)
        self.camera_menu.setObjectName("cameraMenu")
        self.camera_menu.aboutToShow.connect(lambda: self._fill_device_menu("camera"))
        self.camera_button.setMenu(self.camera_menu)
        self.camera_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.camera_button.clicked.connect(self.toggle_camera)
        self.speaker_button = self._tool_button("speakerButton", controls)
        self.speaker_button.setText(QCoreApplication.translate("QtVisitWindow", "Speaker"))
        self.speaker_button.setToolTip(
            QCoreApplication.translate("QtVisitWindow", "Choose where you hear the call")
        )
        self.speaker_menu = QMenu(self.speaker_button)
        self.speaker_menu.setObjectName("speakerMenu")
        self.speaker_menu.aboutToShow.connect(lambda: self._fill_device_menu("speaker"))
        self.speaker_button.setMenu(self.speaker_menu)
        self.speaker_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.people_button = self._tool_button("peopleButton", controls)
        self.people_button.setText(QCoreApplication.translate("QtVisitWindow", "People"))
        self.people_button.setCheckable(True)
        self.people_button.setChecked(True)
        self.people_button.setToolTip(
            _tip(
                QCoreApplication.translate(
                    "QtVisitWindow", "Show or hide the waiting room and invite"
                ),
                "people",
            )
        )
        self.people_button.toggled.connect(self.side.setVisible)
        self.note_button = self._tool_button("noteButton", controls)
        self.note_button.setText(self.tr("Note"))
        self.note_button.setCheckable(True)
        self.note_button.setToolTip(self.tr("Show the encounter note beside the video"))
        self.note_button.hide()  # until the main window offers the note (dock_note)
        self.hang_up_button = QPushButton(
            QCoreApplication.translate("QtVisitWindow", "Hang up"), controls
        )
        self.hang_up_button.setObjectName("hangUpButton")
        self.hang_up_button.setToolTip(
            _tip(QCoreApplication.translate("QtVisitWindow", "End the visit"), "hang_up")
        )
        self.hang_up_button.clicked.connect(self.request_hang_up)
        row.addWidget(self.mic_button)
        row.addWidget(self.camera_button)
        row.addWidget(self.speaker_button)
        row.addStretch(1)
        row.addWidget(self.hang_up_button)
        row.addStretch(1)
        row.addWidget(self.note_button)
        row.addWidget(self.people_button)
        root.addWidget(controls)
        self.control_bar = controls
        for kind in DEVICE_MENUS:
            self._fill_device_menu(kind, devices=[])  # filled from controls when opened

    def _tool_button(self, name: str, parent: QWidget) -> QToolButton:
        button = QToolButton(parent)
        button.setObjectName(name)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        button.setMinimumHeight(36)
        return button

    def _build_status_page(self) -> None:
        page = QWidget(self.pages)
        page.setObjectName("statusPage")
        outer = QVBoxLayout(page)
        outer.addStretch(1)
        card = QFrame(page)
        card.setObjectName("statusCard")
        card.setMaximumWidth(560)
        box = QVBoxLayout(card)
        box.setContentsMargins(32, 28, 32, 28)
        box.setSpacing(12)
        self.status_title = QLabel(card)
        self.status_title.setObjectName("statusTitle")
        self.status_title.setWordWrap(True)
        self.status_text = QLabel(card)
        self.status_text.setObjectName("statusText")
        self.status_text.setWordWrap(True)
        self.status_progress = QProgressBar(card)
        self.status_progress.setObjectName("statusProgress")
        self.status_progress.setRange(0, 0)  # indeterminate: "working on it"
        self.status_progress.setTextVisible(False)
        self.status_progress.setFixedHeight(6)
        self.ended_close_button = QPushButton(self.tr("Close"), card)
        self.ended_close_button.setObjectName("primaryButton")
        self.ended_close_button.clicked.connect(self.close)
        self.retry_button = QPushButton(self.tr("Try again"), card)
        self.retry_button.setObjectName("retryVisitButton")
        self.retry_button.setToolTip(self.tr("Join the same visit again"))
        self.retry_button.clicked.connect(self._on_retry)
        self.retry_button.hide()
        self._retry: Callable[[], object] | None = None
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.retry_button)
        buttons.addWidget(self.ended_close_button)
        box.addWidget(self.status_title)
        box.addWidget(self.status_text)
        box.addWidget(self.status_progress)
        box.addLayout(buttons)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(card, 10)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)
        self.status_page = page
        self.pages.addWidget(page)

    def _build_actions(self) -> None:
        def action(name: str, text: str, key: str, slot) -> QAction:
            act = QAction(text, self)
            act.setObjectName(name)
            act.setShortcut(QKeySequence(SHORTCUTS[key]))
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            act.triggered.connect(slot)
            self.addAction(act)
            return act

        self.mute_action = action("muteAction", "Mute microphone", "mute", self.toggle_microphone)
        self.camera_action = action("cameraAction", "Camera on/off", "camera", self.toggle_camera)
        self.hang_up_action = action("hangUpAction", "Hang up", "hang_up", self.request_hang_up)
        self.details_action = action(
            "detailsAction", "Call details", "details", self.quality_badge.toggle
        )
        self.people_action = action("peopleAction", "People", "people", self.people_button.toggle)
        self.full_screen_action = action(
            "fullScreenAction", "Full screen", "full_screen", self.toggle_full_screen
        )

    # -- what the user does -----------------------------------------------------
    def toggle_microphone(self) -> None:
        # The button shows the model's state, not the click: undo Qt's own toggle.
        self._show_local_media()
        controls = self.visit.controls
        if controls is None or self.visit.state is VisitState.ENDED:
            return
        run_op(
            self,
            controls.set_microphone_muted(not self.visit.microphone_muted),
            busy=False,
            context="Microphone",
        )

    def toggle_camera(self) -> None:
        self._show_local_media()
        controls = self.visit.controls
        if controls is None or self.visit.state is VisitState.ENDED:
            return
        run_op(
            self,
            controls.set_camera_enabled(not self.visit.camera_enabled),
            busy=False,
            context="Camera",
        )

    def select_device(self, device: MediaDevice) -> None:
        controls = self.visit.controls
        if controls is None:
            return
        switch = {
            "camera": controls.switch_camera,
            "microphone": controls.switch_microphone,
            "speaker": controls.set_speaker,
        }.get(device.kind)
        if switch is None:
            return

        def done(_result: object) -> None:
            self._current_device[device.kind] = device.device_id
            for act in self._device_menu(device.kind).actions():
                act.setChecked(act.data() == device.device_id)

        run_op(self, switch(device.device_id), busy=False, context="Switch device", on_done=done)

    def request_hang_up(self) -> QMessageBox | None:
        """Ask before hanging up (a stray click must not end a consultation)."""
        if self.visit.state not in LIVE_STATES and self.visit.state is not VisitState.IDLE:
            return None
        if self.confirm_box is not None and self.confirm_box.isVisible():
            return self.confirm_box
        self.confirm_box = confirm(
            self,
            title=QCoreApplication.translate("QtVisitWindow", "Hang up"),
            text=HANG_UP_QUESTION,
            accept_text=QCoreApplication.translate("QtVisitWindow", "Hang up"),
            reject_text=QCoreApplication.translate("QtVisitWindow", "Stay in the visit"),
            on_accept=self._on_hang_up_confirmed,
            on_reject=self._on_hang_up_declined,
        )
        return self.confirm_box

    def _on_hang_up_confirmed(self) -> None:
        self.confirm_box = None
        log_user_action("hang_up", encounter=self.visit.encounter_id or None)
        self.hang_up()

    def _on_hang_up_declined(self) -> None:
        self.confirm_box = None
        self._close_after_hang_up = False  # "Stay in the visit" also keeps the window

    def hang_up(self) -> None:
        controls = self.visit.controls
        if controls is None:
            self._finish_close()
            return
        self.hang_up_button.setEnabled(False)

        def done(_result: object) -> None:
            if self._close_after_hang_up:
                self._finish_close()

        def failed(exc: BaseException) -> None:
            self.hang_up_button.setEnabled(True)
            self.presenter.present(exc, context="Hang up")

        run_op(self, controls.hang_up(), busy=False, context="Hang up", on_done=done,
               on_error=failed)  # fmt: skip

    def toggle_full_screen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
        else:
            self.showFullScreen()

    def add_panel(self, title: str, widget: QWidget) -> QWidget:
        """Plugin panels (the stethoscope...) go into the side column."""
        self.people_button.setChecked(True)
        return self.plugin_area.add_panel(title, widget)

    # -- what the visit reports -------------------------------------------------
    def _on_state_changed(self, state: VisitState, reason: str = "") -> None:
        self.state_label.setText(STATE_TEXT.get(state, str(state)))
        self.state_label.setProperty("state", state.value)
        _repolish(self.state_label)
        self.reconnect_banner.setVisible(state is VisitState.RECONNECTING)
        ended = state is VisitState.ENDED
        if ended and self._ended_at is None:
            self._ended_at = datetime.now(UTC)
            self._clock.stop()
            if self.confirm_box is not None:
                self.confirm_box.close()
        for widget in (self.mic_button, self.camera_button, self.speaker_button):
            widget.setEnabled(not ended)
        for act in (self.mute_action, self.camera_action, self.hang_up_action):
            act.setEnabled(not ended)
        self.hang_up_button.setVisible(not ended)
        self.hang_up_button.setEnabled(not ended)
        # Over: nobody left to admit, invite or rate; plugin panels (a recording) stay.
        self.quality_badge.setVisible(not ended)
        self.low_bandwidth_label.setVisible(not ended and self.visit.stats.low_bandwidth)
        self.waiting_room.setVisible(not ended)
        self.invite.setVisible(not ended and self.invite.link != "")
        # In the call the QR code gives its room to the panels below (the stethoscope
        # on a 768 px cart); the link and Copy stay for inviting someone else.
        self.invite.qr_label.setVisible(state is not VisitState.IN_CALL and not ended)
        if ended:
            self.quality_badge.setChecked(False)
            self.people_button.setChecked(bool(self.plugin_area.panels()))
            self.people_button.setEnabled(bool(self.plugin_area.panels()))
        self._update_timer()
        self._show_stage()
        if ended and self._close_after_hang_up:
            self._finish_close()

    def _on_participants_changed(self, participants: tuple[Participant, ...]) -> None:
        local = next((p for p in participants if p.is_local), None)
        self.self_view.set_participant(local.participant_id if local else "", self.tr("You"))
        remote = [p for p in participants if not p.is_local]
        live = {p.participant_id for p in remote}
        for pid in [pid for pid in self._tiles if pid not in live]:
            gone = self._tiles.pop(pid)
            self.grid.removeWidget(gone)
            gone.setParent(None)
            gone.deleteLater()
        rows, columns = grid_shape(len(remote))
        for index, participant in enumerate(remote):
            tile = self._tiles.get(participant.participant_id)
            if tile is None:
                tile = QtVideoView(self.visit, parent=self.grid_page)
                self._tiles[participant.participant_id] = tile
            tile.set_participant(participant.participant_id, participant.display)
            tile.set_camera_off(not participant.has_video)
            tile.set_badge("" if participant.has_audio else "no sound")
            self.grid.removeWidget(tile)
            self.grid.addWidget(tile, index // columns, index % columns)
        # Equal tiles: reset stretches left over from a bigger grid.
        for r in range(self.grid.rowCount()):
            self.grid.setRowStretch(r, 1 if r < rows else 0)
        for c in range(self.grid.columnCount()):
            self.grid.setColumnStretch(c, 1 if c < columns else 0)
        self.layout_mode = "none" if not remote else "one-up" if len(remote) == 1 else "grid"
        self._show_stage()

    def _on_waiting_changed(self, _waiting: tuple[WaitingPatient, ...]) -> None:
        self._show_stage()

    def _on_stats_updated(self, stats: CallStats) -> None:
        self.quality_badge.set_quality(stats.quality)
        self.details.set_stats(stats)
        ended = self.visit.state is VisitState.ENDED
        self.low_bandwidth_label.setVisible(stats.low_bandwidth and not ended)
        self._place_overlays()

    def _on_local_media_changed(self, _muted: bool, _camera: bool) -> None:
        self._show_local_media()

    def _on_notice(self, text: str) -> None:
        self.presenter.show_text(text, "info")

    def _on_details_toggled(self, shown: bool) -> None:
        self.details.setVisible(shown)
        self._place_overlays()

    # -- rendering --------------------------------------------------------------
    def _show_local_media(self) -> None:
        muted, camera = self.visit.microphone_muted, self.visit.camera_enabled
        self.mic_button.setText(
            QCoreApplication.translate("QtVisitWindow", "Unmute")
            if muted
            else QCoreApplication.translate("QtVisitWindow", "Mute")
        )
        self.mic_button.setToolTip(
            _tip(
                QCoreApplication.translate("QtVisitWindow", "Unmute the microphone")
                if muted
                else QCoreApplication.translate("QtVisitWindow", "Mute the microphone"),
                "mute",
            )
        )
        self.mic_button.setProperty("off", muted)
        self.mute_action.setText(
            QCoreApplication.translate("QtVisitWindow", "Unmute microphone")
            if muted
            else QCoreApplication.translate("QtVisitWindow", "Mute microphone")
        )
        self.camera_button.setText(
            QCoreApplication.translate("QtVisitWindow", "Stop camera")
            if camera
            else QCoreApplication.translate("QtVisitWindow", "Start camera")
        )
        self.camera_button.setToolTip(
            _tip(
                QCoreApplication.translate("QtVisitWindow", "Turn the camera on")
                if not camera
                else QCoreApplication.translate("QtVisitWindow", "Turn the camera off"),
                "camera",
            )
        )
        self.camera_button.setProperty("off", not camera)
        self.camera_action.setText(
            QCoreApplication.translate("QtVisitWindow", "Turn camera on")
            if not camera
            else QCoreApplication.translate("QtVisitWindow", "Turn camera off")
        )
        _repolish(self.mic_button)
        _repolish(self.camera_button)
        self.self_view.set_camera_off(not camera)
        self.self_view.set_badge("muted" if muted else "")

    def _show_stage(self) -> None:
        state = self.visit.state
        remote = self.visit.remote_participants()
        self.status_progress.setVisible(state in (VisitState.IDLE, VisitState.CONNECTING))
        self.ended_close_button.setVisible(state is VisitState.ENDED)
        self.retry_button.setVisible(
            state is VisitState.ENDED and self._retry is not None and self.visit.started_at is None
        )
        self.self_view.setVisible(state is not VisitState.ENDED)
        if state in (VisitState.IN_CALL, VisitState.RECONNECTING) and remote:
            self.pages.setCurrentWidget(self.grid_page)
        else:
            title, text = self._status_texts(state)
            self.status_title.setText(title)
            self.status_text.setText(text)
            self.pages.setCurrentWidget(self.status_page)
        self._place_overlays()

    def set_patient(self, name: str, age: str = "", mrn: str = "") -> None:
        """Name the patient in the top bar (name, age, MRN); the window title stays generic
        so the patient's name never reaches the OS task switcher or screen recorders."""
        parts = [name]
        if age:
            parts.append(age)
        if mrn:
            parts.append(self.tr("MRN %1").replace("%1", mrn))
        self.patient_label.setText("  ·  ".join(p for p in parts if p))
        self.patient_label.setVisible(bool(name))

    def check_devices(self) -> None:
        """Warn when the call has no speaker (the clinician would not hear the patient) or
        no microphone (the patient would hear a test tone instead of the clinician)."""
        kinds = {d.kind for d in self._devices()}
        problems = []
        if "speaker" not in kinds:
            problems.append(self.tr("No speaker found: you will not hear the patient."))
        if "microphone" not in kinds:
            problems.append(
                self.tr("No microphone found: the patient hears a test tone instead of you.")
            )
        if "camera" not in kinds:
            problems.append(self.tr("No camera found: the patient sees a test pattern."))
        self.device_banner.setText("  ".join(problems))
        self.device_banner.setVisible(bool(problems))

    def dock_note(self, note: QWidget | None) -> None:
        """Put ``note`` (the encounter's note editor) beside the video; None takes it out.
        The main window owns the editor and takes it back when the window closes."""
        if note is None:
            self._docked_note = None
            return
        self._docked_note = note
        self.splitter.insertWidget(1, note)
        note.show()
        # Video, note and side column must fit the screen: on a narrow one the side
        # column (waiting room, invite) steps aside; People brings it back.
        room = geometry.available(self).width() - geometry.FRAME_MARGIN_PX * 2
        if self.minimumSizeHint().width() > room or self.width() > room:
            self.people_button.setChecked(False)
        if self.width() > room:
            geometry.fit(self, self.size())
        sizes = self.splitter.sizes()
        total = sum(sizes)
        side = sizes[2] if len(sizes) > 2 else 0
        self.splitter.setSizes([max(1, (total - side) * 3 // 5), (total - side) * 2 // 5, side])

    def docked_note(self) -> QWidget | None:
        return getattr(self, "_docked_note", None)

    def offer_retry(self, retry: Callable[[], object] | None) -> None:
        """Show "Try again" when the visit ends before anyone was reached (a network or
        server failure on joining); ``retry()`` joins the same room again."""
        self._retry = retry
        self._show_stage()

    def _on_retry(self) -> None:
        if self._retry is not None:
            self.retry_button.setEnabled(False)
            self._retry()

    def _status_texts(self, state: VisitState) -> tuple[str, str]:
        if state is VisitState.ENDED:
            ended = self.visit.end_message
            reason = (
                message(ended.key, ended.params)
                if ended is not None
                else self.visit.end_reason or ENDED_DEFAULT_REASON
            )
            started = self.visit.started_at
            if started is not None and self._ended_at is not None:
                length = format_duration((self._ended_at - started).total_seconds())
                call = QCoreApplication.translate("QtVisitWindow", "Call length %1.")
                reason = f"{reason}\n{call.replace('%1', length)}"
            return ENDED_TITLE, reason
        if state is VisitState.WAITING:
            if not is_host(self.visit):
                return WAITING_GUEST_TITLE, WAITING_GUEST_TEXT
            waiting = len(self.visit.waiting)
            if waiting:
                text = (
                    self.tr(
                        "1 person is in the waiting room. Press Admit on the right to let them in."
                    )
                    if waiting == 1
                    else self.tr(
                        "%n people are in the waiting room. "
                        "Press Admit on the right to let them in.",
                        "",
                        waiting,
                    )
                )
                return WAITING_HOST_TITLE, text
            return WAITING_HOST_TITLE, WAITING_HOST_TEXT
        if state is VisitState.RECONNECTING:
            return RECONNECTING_TITLE, RECONNECTING_STAGE_TEXT
        if state is VisitState.IN_CALL:
            return ALONE_TITLE, ALONE_TEXT
        return CONNECTING_TITLE, CONNECTING_TEXT

    def _update_timer(self) -> None:
        started = self.visit.started_at
        if started is None:
            self.timer_label.setText("")
            self.timer_label.hide()
            return
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        end = self._ended_at or datetime.now(UTC)
        self.timer_label.setText(format_duration((end - started).total_seconds()))
        self.timer_label.show()

    def _place_overlays(self) -> None:
        self.self_view.place()
        if self.details.isVisible():
            self.details.adjustSize()
            margin = 12
            self.details.move(self.stage.width() - self.details.width() - margin, margin)
            self.details.raise_()

    def _devices(self) -> list[MediaDevice]:
        """``controls.devices()``, remembered briefly: it runs on the GUI thread and may
        probe hardware, so opening the three menus one after another asks once."""
        now = time.monotonic()
        if self._device_cache is None or now - self._device_cache[0] > DEVICE_CACHE_S:
            controls = self.visit.controls
            devices: list[MediaDevice] = []
            if controls is not None:
                try:
                    devices = list(controls.devices())
                except Exception as exc:  # a broken driver must not break the menu
                    self.presenter.present(exc, context="List devices")
            self._device_cache = (now, devices)
        return self._device_cache[1]

    def _device_menu(self, kind: str) -> QMenu:
        return {
            "microphone": self.microphone_menu,
            "camera": self.camera_menu,
            "speaker": self.speaker_menu,
        }[kind]

    def _fill_device_menu(self, kind: str, devices: list[MediaDevice] | None = None) -> None:
        menu = self._device_menu(kind)
        menu.clear()
        group = QActionGroup(menu)
        group.setExclusive(True)
        found = [d for d in (self._devices() if devices is None else devices) if d.kind == kind]
        for device in found:
            act = menu.addAction(device_label(device.label))
            act.setCheckable(True)
            act.setChecked(self._current_device.get(kind) == device.device_id)
            act.setData(device.device_id)
            group.addAction(act)
            act.triggered.connect(lambda _checked=False, d=device: self.select_device(d))
        if not found:
            menu.addAction(DEVICE_MENUS[kind]).setEnabled(False)

    def device_actions(self, kind: str) -> list[QAction]:
        return [a for a in self._device_menu(kind).actions() if a.isEnabled()]

    def tiles(self) -> list[QtVideoView]:
        return [self._tiles[p.participant_id] for p in self.visit.remote_participants()
                if p.participant_id in self._tiles]  # fmt: skip

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(1280, 800)

    # -- closing ----------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        live = self.visit.state in LIVE_STATES and self.visit.controls is not None
        if live and not self._may_close:
            # Closing the window is hanging up: ask first, close once the call ended.
            event.ignore()
            self._close_after_hang_up = True
            self.request_hang_up()
            return
        self._disconnect_model()
        super().closeEvent(event)
        self.closed.emit()

    def _finish_close(self) -> None:
        self._may_close = True
        self._close_after_hang_up = False
        self.close()

    def _disconnect_model(self) -> None:
        if not self._connected:
            return
        self._connected = False
        self._clock.stop()
        visit = self.visit
        visit.state_changed.disconnect(self._on_state_changed)
        visit.participants_changed.disconnect(self._on_participants_changed)
        visit.waiting_changed.disconnect(self._on_waiting_changed)
        visit.stats_updated.disconnect(self._on_stats_updated)
        visit.local_media_changed.disconnect(self._on_local_media_changed)
        visit.notice.disconnect(self._on_notice)
        self.waiting_room.disconnect_model()
