"""The visit window's controls and states, driven through a scripted Visit.

``ScriptedControls`` (tests/ui/_visit_script.py) stands in for the media
session, which has its own tests against real Janus and aiortc peers; here
the real widgets, real Qt event handling, real clipboard and real QR encoder
are under test.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
import segno
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel, QPushButton

from app.errors import DeviceUnavailableError
from app.visit import CallQuality, Participant, ParticipantRole, VisitState
from tests.ui._visit_script import (
    INTERPRETER,
    INVITE,
    LOCAL,
    PATIENT,
    SPECIALIST,
    join,
    make_visit,
    solid,
    stats,
    waiting_patient,
)
from tests.ui.conftest import Aio
from ui.visit.invite import QR_BORDER, QR_SCALE
from ui.visit.plugin_area import QtPluginArea
from ui.visit.qt_visit_window import (
    RECONNECTING_TEXT,
    SHORTCUTS,
    QtVisitWindow,
    grid_shape,
)
from ui.visit.video_view import CAMERA_OFF_TEXT, QtVideoView


@pytest.fixture
def opened(qtbot, aio: Aio):
    """Open a window over a fresh scripted visit; returns (window, visit, controls)."""

    def factory(*, host: bool = True, size: tuple[int, int] = (1280, 800)):
        visit, controls = make_visit(host=host)
        visit._set_state(VisitState.CONNECTING)
        window = QtVisitWindow(visit)
        qtbot.addWidget(window)
        window.resize(*size)
        window.show()
        qtbot.waitExposed(window)
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow, timeout=3000)  # shortcuts need it
        return window, visit, controls

    return factory


def _accept(box) -> None:
    box.findChild(QPushButton, "confirmAccept").click()


def _reject(box) -> None:
    box.findChild(QPushButton, "confirmReject").click()


def _press(window, key: str) -> None:
    """Type a shortcut into the window as a user would (it must be the active window:
    activation after a dialog closed is asynchronous, hence the wait)."""
    window.activateWindow()
    deadline = time.monotonic() + 3
    while not window.isActiveWindow() and time.monotonic() < deadline:
        QApplication.processEvents()
    assert window.isActiveWindow(), "the visit window never became active"
    QTest.keySequence(window, key)


# -- local media ---------------------------------------------------------------


def test_mute_calls_controls_and_shows_what_the_visit_reports(opened, aio: Aio) -> None:
    window, visit, controls = opened()
    join(visit, PATIENT)
    assert window.mic_button.text() == "Mute"

    window.mic_button.click()
    aio.wait_until(lambda: controls.calls == [("set_microphone_muted", True)])
    assert visit.microphone_muted
    assert window.mic_button.text() == "Unmute"
    assert window.mic_button.property("off") is True
    assert window.self_view.badge == "muted"

    _press(window, SHORTCUTS["mute"])
    aio.wait_until(lambda: len(controls.calls) == 2)
    assert controls.calls[-1] == ("set_microphone_muted", False)
    assert window.mic_button.text() == "Mute"

    # The media session muted on its own (e.g. the device vanished): the button follows.
    visit._set_local_media(True, True)
    assert window.mic_button.text() == "Unmute"


def test_mute_button_does_not_claim_what_did_not_happen(opened, aio: Aio) -> None:
    window, visit, controls = opened()
    join(visit, PATIENT)
    controls.fail["set_microphone_muted"] = DeviceUnavailableError(
        device="microphone", reason="unplugged"
    )
    window.mic_button.click()
    aio.wait_until(window.notice.isVisible)
    assert "microphone" in window.notice.text
    assert not visit.microphone_muted
    assert window.mic_button.text() == "Mute"
    assert not window.mic_button.isChecked()


def test_camera_toggle_and_shortcut(opened, aio: Aio) -> None:
    window, visit, controls = opened()
    join(visit, PATIENT)
    assert window.camera_button.text() == "Stop camera"
    window.camera_button.click()
    aio.wait_until(lambda: controls.calls == [("set_camera_enabled", False)])
    assert window.camera_button.text() == "Start camera"
    assert window.self_view.placeholder_text() == CAMERA_OFF_TEXT
    _press(window, SHORTCUTS["camera"])
    aio.wait_until(lambda: len(controls.calls) == 2)
    assert controls.calls[-1] == ("set_camera_enabled", True)
    assert window.camera_button.text() == "Stop camera"


def test_device_menus_switch_camera_microphone_and_speaker(opened, aio: Aio) -> None:
    window, visit, controls = opened()
    join(visit, PATIENT)
    window.camera_menu.aboutToShow.emit()
    cameras = window.device_actions("camera")
    assert [a.text() for a in cameras] == ["Test pattern", "USB exam camera"]
    assert not any(a.isChecked() for a in cameras)
    cameras[1].trigger()
    aio.wait_until(lambda: ("switch_camera", "/dev/video0") in controls.calls)
    window.camera_menu.aboutToShow.emit()
    checked = [a.text() for a in window.device_actions("camera") if a.isChecked()]
    assert checked == ["USB exam camera"]

    window.microphone_menu.aboutToShow.emit()
    mics = window.device_actions("microphone")
    assert [a.text() for a in mics] == ["Built-in microphone", "Headset microphone"]
    mics[1].trigger()
    aio.wait_until(lambda: ("switch_microphone", "pulse:headset") in controls.calls)

    window.speaker_menu.aboutToShow.emit()
    speakers = window.device_actions("speaker")
    assert [a.text() for a in speakers] == ["Speakers", "Headphones"]
    speakers[1].trigger()
    aio.wait_until(lambda: ("set_speaker", "pulse:headphones") in controls.calls)


def test_no_devices_and_failed_switch_say_so(opened, aio: Aio) -> None:
    window, _visit, controls = opened()
    controls._devices = [d for d in controls._devices if d.kind != "camera"]
    window._device_cache = None  # the list read at open (device banner) is old now
    window.camera_menu.aboutToShow.emit()
    assert window.device_actions("camera") == []
    assert [a.text() for a in window.camera_menu.actions()] == ["No camera found"]

    controls.fail["switch_microphone"] = DeviceUnavailableError(
        device="Headset microphone", reason="busy"
    )
    window.microphone_menu.aboutToShow.emit()
    window.device_actions("microphone")[1].trigger()
    aio.wait_until(window.notice.isVisible)
    assert "not available" in window.notice.text
    window.microphone_menu.aboutToShow.emit()
    assert not any(a.isChecked() for a in window.device_actions("microphone"))


def test_devices_are_listed_once_for_the_three_menus_and_failures_are_shown(
    opened, aio: Aio
) -> None:
    window, _visit, controls = opened()
    asked = []
    real = controls.devices
    controls.devices = lambda: asked.append(1) or real()
    window._device_cache = None  # as if the list read at open (device banner) had expired
    for menu in (window.microphone_menu, window.camera_menu, window.speaker_menu):
        menu.aboutToShow.emit()
    assert asked == [1]  # it may probe hardware on the GUI thread: once is enough

    def broken():
        raise DeviceUnavailableError(device="audio", reason="PortAudio failed")

    controls.devices = broken
    window._device_cache = None
    window.speaker_menu.aboutToShow.emit()
    assert [a.text() for a in window.speaker_menu.actions()] == ["No speaker found"]
    assert window.notice.isVisible() and "not available" in window.notice.text


# -- hanging up ------------------------------------------------------------------


def test_hang_up_asks_first_then_ends(opened, aio: Aio, qtbot) -> None:
    window, visit, controls = opened()
    join(visit, PATIENT)
    window.hang_up_button.click()
    box = window.confirm_box
    assert box is not None and box.isVisible()
    _reject(box)
    aio.run(_turn())
    assert controls.calls == []
    assert visit.state is VisitState.IN_CALL

    _press(window, SHORTCUTS["hang_up"])
    box = window.confirm_box
    assert box is not None and box.isVisible()
    _accept(box)
    aio.wait_until(lambda: visit.state is VisitState.ENDED)
    assert controls.calls == [("hang_up", None)]
    # Ended: the reason, a Close button, and no call controls left to press.
    assert window.pages.currentWidget() is window.status_page
    assert window.status_title.text() == "The visit has ended"
    assert window.status_text.text().startswith("You ended the visit.")
    assert "Call length 04:1" in window.status_text.text()
    assert window.ended_close_button.isVisible()
    assert not window.hang_up_button.isVisible()
    assert not window.mic_button.isEnabled() and not window.camera_button.isEnabled()
    assert not window.self_view.isVisible()
    assert window.isVisible()  # the clinician reads the reason and closes it

    with qtbot.waitSignal(window.closed, timeout=2000):
        window.ended_close_button.click()
    assert not window.isVisible()


def test_closing_the_window_in_a_call_is_hanging_up(opened, aio: Aio, qtbot) -> None:
    window, visit, controls = opened()
    join(visit, PATIENT)
    window.close()
    assert window.isVisible(), "closed without asking"
    _reject(window.confirm_box)
    aio.run(_turn())
    assert window.isVisible() and controls.calls == []

    window.close()
    with qtbot.waitSignal(window.closed, timeout=3000):
        _accept(window.confirm_box)
        aio.wait_until(lambda: not window.isVisible())
    assert controls.calls == [("hang_up", None)]
    # The window let go of the model: later updates reach nothing.
    assert len(visit.state_changed) == 0


def test_remote_end_shows_reason(opened) -> None:
    window, visit, _ = opened()
    join(visit, PATIENT)
    visit._set_state(VisitState.ENDED, "The host removed you from the visit.")
    assert window.state_label.text() == "Ended"
    assert window.state_label.property("state") == "ended"
    assert window.status_text.text().startswith("The host removed you from the visit.")
    assert window.ended_close_button.isVisible()
    # Nothing left to admit, invite or rate.
    assert not window.quality_badge.isVisible()
    assert not window.invite.isVisible() and not window.waiting_room.isVisible()


# -- quality ----------------------------------------------------------------------

EXPECTED_BADGE = {
    CallQuality.GOOD: ("Good connection", "#d1fae5"),
    CallQuality.FAIR: ("Fair connection", "#fef0c7"),
    CallQuality.POOR: ("Poor connection", "#fee4e2"),
    CallQuality.UNKNOWN: ("Checking connection…", "#eef2f6"),
}


@pytest.mark.parametrize("quality", list(CallQuality))
def test_quality_badge_text_and_colour(opened, quality: CallQuality) -> None:
    window, visit, _ = opened()
    join(visit, PATIENT)
    visit._set_stats(stats(quality))
    badge = window.quality_badge
    text, background = EXPECTED_BADGE[quality]
    assert badge.text().endswith(text)
    assert badge.property("quality") == quality.value
    image = badge.grab().toImage()
    # Inside the rounded edge, past the text: the badge's own background colour.
    pixel = QColor(image.pixel(image.width() - 8, image.height() // 2))
    assert pixel.name() == background, (quality, pixel.name())
    assert SHORTCUTS["details"] in badge.toolTip()


def test_details_panel_values(opened, qtbot) -> None:
    window, visit, _ = opened()
    join(visit, PATIENT)
    visit._set_stats(stats(CallQuality.FAIR, rtt_ms=231.0))
    assert not window.details.isVisible()
    qtbot.mouseClick(window.quality_badge, Qt.MouseButton.LeftButton)
    assert window.details.isVisible()
    d = window.details
    assert d.text("Codec", "received") == "VP8"
    assert d.text("Resolution", "received") == "1280×720"
    assert d.text("Frame rate", "received") == "30 fps"
    assert d.text("Bitrate", "received") == "1.84 Mbps"
    assert d.text("Bitrate", "sent") == "1.50 Mbps"
    assert d.text("Round-trip time") == "231 ms"
    assert d.text("Packet loss") == "0.4 %"
    assert d.text("Jitter") == "11 ms"
    assert d.text("Connection") == "Direct (host)"
    assert d.text("Low-bandwidth mode") == "Off"
    # The panel sits inside the stage, top right, fully visible.
    assert window.stage.rect().contains(d.geometry())

    visit._set_stats(
        stats(CallQuality.POOR, candidate_type="relay", relay_protocol="tcp", low_bandwidth=True)
    )
    assert d.text("Connection") == "Relayed by TURN (relay, TCP)"
    assert d.text("Low-bandwidth mode").startswith("On")
    assert window.low_bandwidth_label.isVisible()

    window.details_action.trigger()  # Ctrl+Shift+I closes it again
    assert not window.details.isVisible()


# -- states ---------------------------------------------------------------------


def test_each_state_is_shown(opened) -> None:
    window, visit, _ = opened()
    assert window.state_label.text() == "Connecting…"
    assert window.pages.currentWidget() is window.status_page
    assert window.status_title.text() == "Connecting to the visit…"
    assert window.status_progress.isVisible()
    assert not window.timer_label.isVisible()

    visit._set_participants((LOCAL,))
    visit._set_state(VisitState.WAITING)
    assert window.state_label.text() == "Waiting"
    assert window.status_title.text() == "Waiting for the patient"
    assert not window.status_progress.isVisible()
    visit._set_waiting((waiting_patient(),))
    assert "1 person is in the waiting room" in window.status_text.text()

    join(visit, PATIENT)
    assert window.state_label.text() == "In call"
    assert window.pages.currentWidget() is window.grid_page
    assert window.timer_label.isVisible()

    visit._set_state(VisitState.RECONNECTING)
    assert window.state_label.text() == "Reconnecting…"
    assert window.pages.currentWidget() is window.grid_page  # last frames stay up

    visit._set_state(VisitState.ENDED, "The connection could not be restored.")
    assert window.state_label.text() == "Ended"
    assert window.status_text.text().startswith("The connection could not be restored.")


def test_guest_waits_to_be_admitted(opened) -> None:
    window, visit, _ = opened(host=False)
    guest = Participant("me", "Dr. Lee", ParticipantRole.CLINICIAN, is_local=True)
    visit._set_participants((guest,))
    visit._set_state(VisitState.WAITING)
    assert window.status_title.text() == "Waiting to be admitted"
    assert not window.invite.isVisible()
    assert not window.waiting_room.waiting_title.isVisible()


def test_reconnecting_banner_shows_and_hides(opened) -> None:
    window, visit, _ = opened()
    join(visit, PATIENT)
    assert not window.reconnect_banner.isVisible()
    visit._set_state(VisitState.RECONNECTING)
    assert window.reconnect_banner.isVisible()
    assert window.reconnect_text.text() == RECONNECTING_TEXT == "Connection lost, reconnecting…"
    visit._set_state(VisitState.IN_CALL)
    assert not window.reconnect_banner.isVisible()


def test_call_timer_counts_from_started_at_and_stops_at_the_end(opened, aio: Aio) -> None:
    window, visit, _ = opened()
    visit.started_at = datetime.now(UTC) - timedelta(seconds=75)
    join(visit, PATIENT)
    assert window.timer_label.text() in {"01:15", "01:16"}
    visit.started_at = datetime.now(UTC) - timedelta(hours=1, minutes=2, seconds=3)
    aio.wait_until(lambda: window.timer_label.text() in {"1:02:03", "1:02:04"}, timeout=3)
    visit._set_state(VisitState.ENDED, "You hung up.")
    frozen = window.timer_label.text()
    assert not window._clock.isActive()
    window._update_timer()
    assert window.timer_label.text() == frozen


def test_notices_from_the_session_are_shown(opened) -> None:
    window, visit, _ = opened()
    visit.notice.emit("Switched to low-bandwidth mode.")
    assert window.notice.isVisible()
    assert window.notice.text == "Switched to low-bandwidth mode."
    assert window.notice.property("level") == "info"


# -- video ------------------------------------------------------------------------


def test_one_up_then_grid_with_three_remote_participants(opened, aio: Aio) -> None:
    window, visit, _ = opened()
    join(visit, PATIENT)
    assert window.layout_mode == "one-up"
    (tile,) = window.tiles()
    aio.run(_turn())
    assert tile.width() > 800  # one-up: the remote video takes the stage

    join(visit, PATIENT, SPECIALIST, INTERPRETER)
    aio.run(_turn())
    assert window.layout_mode == "grid"
    tiles = window.tiles()
    assert [t.name for t in tiles] == [p.display for p in (PATIENT, SPECIALIST, INTERPRETER)]
    positions = [window.grid.getItemPosition(window.grid.indexOf(t))[:2] for t in tiles]
    assert positions == [(0, 0), (0, 1), (1, 0)]
    widths, heights = {t.width() for t in tiles}, {t.height() for t in tiles}
    # Equal tiles (give or take the pixel the layout rounds away).
    assert max(widths) - min(widths) <= 2 and max(heights) - min(heights) <= 2, (widths, heights)
    rects = [t.geometry() for t in tiles]
    assert not any(a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1 :])
    # The interpreter has no camera: a placeholder, not a black tile.
    assert tiles[2].placeholder_text() == CAMERA_OFF_TEXT
    assert grid_shape(2) == (1, 2) and grid_shape(5) == (2, 3)

    join(visit, PATIENT)  # the others left
    assert window.layout_mode == "one-up"
    assert len(window.tiles()) == 1


def test_video_view_paints_only_the_latest_frame_aspect_fit(opened, aio: Aio) -> None:
    window, visit, _ = opened()
    join(visit, PATIENT)
    (tile,) = window.tiles()
    aio.run(_turn())
    shown = tile.frames_shown
    # Three frames arrive between two display ticks: only the last is painted.
    for color in ((255, 0, 0), (0, 255, 0), (0, 0, 255)):
        visit._set_frame(PATIENT.participant_id, solid(color))
    aio.wait_until(lambda: tile.frames_shown > shown)
    assert tile.frames_shown == shown + 1
    image = tile.grab().toImage()
    center = QColor(image.pixel(image.width() // 2, image.height() // 2))
    assert (center.red(), center.green(), center.blue()) == (0, 0, 255)
    # 16:9 video in a wider or taller tile: bars beside or above it, never stretched.
    w, h = image.width(), image.height()
    edge = QColor(image.pixel(2, h // 2) if w / h > 16 / 9 else image.pixel(w // 2, 2))
    if abs(w / h - 16 / 9) > 0.05:
        assert (edge.red(), edge.green(), edge.blue()) == (11, 18, 23)
    # No new frame: nothing repainted.
    assert tile.refresh() is False


def test_view_ignores_frames_it_cannot_show(qtbot) -> None:
    visit, _ = make_visit()
    view = QtVideoView(visit, "x", "X")
    qtbot.addWidget(view)
    visit._set_frame("x", solid((1, 2, 3))[:, :, :2])  # not RGB24
    assert view.refresh() is False
    visit._set_frame("x", solid((1, 2, 3))[:, ::2])  # not contiguous: copied, shown
    assert view.refresh() is True and view.has_frame()


def test_self_view_shows_the_local_camera(opened, aio: Aio) -> None:
    window, visit, _ = opened()
    join(visit, PATIENT)
    view = window.self_view
    assert view.participant_id == LOCAL.participant_id
    visit._set_frame(LOCAL.participant_id, solid((10, 200, 30)))
    aio.wait_until(view.has_frame)
    # A session that keys its own camera "local" (before it knows its id) works too.
    visit._set_frame("local", solid((200, 10, 30)))
    del visit._frames[LOCAL.participant_id]
    shown = view.frames_shown
    aio.wait_until(lambda: view.frames_shown > shown)
    image = view.grab().toImage()
    center = QColor(image.pixel(image.width() // 2, image.height() // 3))
    assert (center.red(), center.green(), center.blue()) == (200, 10, 30)


def test_self_view_is_draggable_and_stays_inside_the_stage(opened, aio: Aio) -> None:
    window, visit, _ = opened()
    join(visit, PATIENT)
    aio.run(_turn())
    view = window.self_view
    stage = window.stage
    assert view.isVisible()
    start = view.pos()
    assert view.geometry().bottom() <= stage.height() and view.x() > stage.width() // 2
    QTest.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(20, 20))
    QTest.mouseMove(view, QPoint(20 - 300, 20 - 200))
    QTest.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(20 - 300, 20 - 200))
    assert view.moved_by_user
    assert view.pos() != start
    assert (start.x() - view.x(), start.y() - view.y()) == (300, 200)
    # Way off the edge: clamped inside.
    QTest.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(10, 10))
    QTest.mouseMove(view, QPoint(-5000, -5000))
    QTest.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(-5000, -5000))
    assert view.pos() == QPoint(0, 0)
    window.resize(900, 600)
    aio.run(_turn())
    assert stage.rect().contains(view.geometry())


# -- waiting room, participants ----------------------------------------------------


def test_waiting_room_shows_time_waiting_and_admits(opened, aio: Aio) -> None:
    window, visit, controls = opened()
    visit._set_participants((LOCAL,))
    visit._set_state(VisitState.WAITING)
    room = window.waiting_room
    assert room.empty_label.isVisible()
    visit._set_waiting((waiting_patient(seconds_ago=42),))
    (row,) = room.waiting_rows()
    assert row.name.text() == "Sam Rivera"
    assert row.waited.text() in {"waiting 42 s", "waiting 43 s"}
    assert room.waiting_count.text() == "1"
    assert not room.empty_label.isVisible()
    first = row.waited.text()
    aio.wait_until(lambda: row.waited.text() != first, timeout=3)  # it keeps counting

    visit._set_waiting((waiting_patient(seconds_ago=3 * 60 + 5),))
    (row,) = room.waiting_rows()
    assert row.waited.text() == "waiting 3 min"
    row.admit_button.click()
    aio.wait_until(lambda: visit.state is VisitState.IN_CALL)
    assert controls.calls == [("admit", "wait-1")]
    assert room.waiting_rows() == []
    assert [r.name.text() for r in room.participant_rows()] == ["Dr. Ada Quinn (you)", "Sam Rivera"]
    assert window.layout_mode == "one-up"


def test_host_removes_a_participant_after_confirming(opened, aio: Aio) -> None:
    window, visit, controls = opened()
    join(visit, PATIENT, SPECIALIST)
    rows = window.waiting_room.participant_rows()
    assert not rows[0].remove_button.isVisible()  # not yourself
    specialist = next(r for r in rows if r.participant.participant_id == SPECIALIST.participant_id)
    specialist.remove_button.click()
    box = window.waiting_room.confirm_box
    assert box is not None and box.isVisible()
    _reject(box)
    aio.run(_turn())
    assert controls.calls == []

    specialist.remove_button.click()
    _accept(window.waiting_room.confirm_box)
    aio.wait_until(lambda: controls.calls == [("remove_participant", "spec-2")])
    assert window.layout_mode == "one-up"
    assert [t.name for t in window.tiles()] == ["Sam Rivera"]


def test_guest_cannot_remove_or_admit(opened) -> None:
    window, visit, _ = opened(host=False)
    me = Participant("me", "Dr. Lee", ParticipantRole.CLINICIAN, is_local=True)
    visit._set_participants((me, PATIENT))
    visit._set_waiting((waiting_patient(),))
    visit._set_state(VisitState.IN_CALL)
    room = window.waiting_room
    assert not any(r.remove_button.isVisible() for r in room.participant_rows())
    assert not any(r.admit_button.isVisible() for r in room.waiting_rows())


# -- invite ------------------------------------------------------------------------


def test_invite_copy_puts_the_link_on_the_clipboard(opened, qtbot) -> None:
    window, _visit, _ = opened()
    panel = window.invite
    assert panel.isVisible()
    assert panel.link_field.text() == INVITE.link
    assert "#" in INVITE.link and "pin=" in INVITE.link.split("#", 1)[1]
    QGuiApplication.clipboard().clear()
    qtbot.mouseClick(panel.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == INVITE.link
    assert panel.copied_label.isVisible()


def test_invite_qr_image_encodes_the_link(opened) -> None:
    window, _visit, _ = opened()
    panel = window.invite
    expected = segno.make(INVITE.link, error="m")
    modules = expected.symbol_size(scale=1, border=0)[0]
    assert panel.qr_modules == modules
    assert not panel.qr.isNull()
    side = (modules + 2 * QR_BORDER) * QR_SCALE
    assert (panel.qr.width(), panel.qr.height()) == (side, side)
    # Pixel for pixel the same matrix segno computed for the link.
    matrix = expected.matrix
    for y in range(modules):
        for x in range(modules):
            px = QColor(
                panel.qr.pixel(
                    (x + QR_BORDER) * QR_SCALE + QR_SCALE // 2,
                    (y + QR_BORDER) * QR_SCALE + QR_SCALE // 2,
                )
            )
            assert (px.lightness() < 128) == bool(matrix[y][x]), (x, y)


def test_the_invite_link_and_pin_never_reach_the_log(opened, caplog, qtbot) -> None:
    caplog.set_level(logging.DEBUG)
    window, visit, _ = opened()
    join(visit, PATIENT)
    qtbot.mouseClick(window.invite.copy_button, Qt.MouseButton.LeftButton)
    visit._set_state(VisitState.ENDED, "You hung up.")
    assert INVITE.pin not in caplog.text
    assert "room=" not in caplog.text


# -- plugin panels, shortcuts --------------------------------------------------------


def test_plugin_panels_are_added_and_removed(opened) -> None:
    window, _visit, _ = opened()
    area = window.plugin_area
    assert isinstance(area, QtPluginArea) and not area.isVisible()
    panel = QLabel("stethoscope goes here")
    window.add_panel("Stethoscope", panel)
    assert area.isVisible() and area.titles() == ["Stethoscope"]
    assert panel.isVisible()
    other = QLabel("camera")
    area.add_panel("Exam camera", other)
    assert area.titles() == ["Stethoscope", "Exam camera"]
    assert area.remove_panel(panel)
    assert area.titles() == ["Exam camera"]
    assert not area.remove_panel(panel)
    assert area.remove_panel(other) and not area.isVisible()


def test_shortcuts_are_set_and_shown_in_tooltips(opened) -> None:
    window, _visit, _ = opened()
    actions = {
        "mute": window.mute_action,
        "camera": window.camera_action,
        "hang_up": window.hang_up_action,
        "details": window.details_action,
        "people": window.people_action,
        "full_screen": window.full_screen_action,
    }
    for key, action in actions.items():
        assert action.shortcut().toString() == SHORTCUTS[key]
    for button, key in (
        (window.mic_button, "mute"),
        (window.camera_button, "camera"),
        (window.hang_up_button, "hang_up"),
        (window.quality_badge, "details"),
        (window.people_button, "people"),
    ):
        assert f"({SHORTCUTS[key]})" in button.toolTip(), button.objectName()
    window.people_action.trigger()
    assert not window.side.isVisible()
    window.people_action.trigger()
    assert window.side.isVisible()


async def _turn() -> None:
    """Let queued Qt events and asyncio callbacks run once or twice."""
    import asyncio

    for _ in range(3):
        await asyncio.sleep(0.01)


# -- the main window's Visit menu ---------------------------------------------------


def test_main_window_hides_visits_without_a_factory(make_console) -> None:
    window = make_console().window
    assert not window.start_visit_action.isVisible()
    assert not window.demo_visit_action.isVisible()
    assert not window._visit_menu.menuAction().isVisible()


def test_main_window_starts_a_demo_visit_for_the_selected_encounter(
    make_console, aio: Aio, qtbot
) -> None:
    from tests.ui.conftest import PASSPHRASE

    console = make_console(idle_lock_ms=600_000)
    window = console.window
    made: list = []

    async def factory(encounter_id: str):  # the composition root's may be sync or async
        visit, controls = make_visit()
        visit.encounter_id = encounter_id
        visit._set_state(VisitState.CONNECTING)
        made.append((visit, controls))
        return visit

    window.set_visit_factory(factory, demo=True)
    assert window.demo_visit_action.isVisible() and not window.start_visit_action.isVisible()
    window.worklist.list.setCurrentRow(-1)
    window._update_visit_actions()
    assert not window.demo_visit_action.isEnabled()  # no encounter selected
    summary = window.worklist.summaries()[0]
    window.worklist.select_encounter(summary.encounter.id)
    assert window.demo_visit_action.isEnabled()

    opened_windows: list = []
    window.visit_window_opened.connect(opened_windows.append)
    window.demo_visit_action.trigger()
    aio.wait_until(lambda: window.visit_window is not None)
    visit_window = window.visit_window
    assert opened_windows == [visit_window]  # where the plugin host adds its panels
    visit, controls = made[0]
    assert visit.encounter_id == summary.encounter.id
    assert visit_window.visit is visit and visit_window.isVisible()
    assert not window.idle._timer.isActive()  # no automatic lock mid-call
    # One visit at a time: starting again brings the same window forward.
    assert aio.run(window.start_visit("another")) is visit_window
    assert len(made) == 1

    # Locking hides the call's window; unlocking brings it back.
    join(visit, PATIENT)
    aio.run(window.lock("You locked the console."))
    assert not visit_window.isVisible()
    # Locked mid-call: the microphone is muted and remote audio paused until unlock,
    # through Visit.privacy_hold -> the media session's set_privacy_hold.
    assert controls.calls == [("set_privacy_hold", True)]
    assert aio.run(window.unlock(PASSPHRASE))
    assert visit_window.isVisible()
    assert controls.calls[-1] == ("set_privacy_hold", False)  # as it was before
    assert not window.idle._timer.isActive()
    controls.calls.clear()

    # Quitting hangs up first, then the window goes.
    with qtbot.waitSignal(visit_window.closed, timeout=3000):
        aio.run(window._end_visit())
    assert controls.calls == [("hang_up", None)]
    assert window.visit_window is None
    assert window.idle._timer.isActive()


def test_a_new_frame_is_picked_up_at_once_not_at_the_next_poll(opened, aio: Aio) -> None:
    """Glass to glass: the view repaints when a frame arrives (the poll is a safety net)."""
    window, visit, _ = opened()
    join(visit, PATIENT)
    (tile,) = window.tiles()
    aio.run(_turn())
    tile._timer.stop()  # no polling: only the arrival can bring the frame in
    shown = tile.frames_shown
    visit._set_frame(PATIENT.participant_id, solid((9, 99, 199)))
    aio.run(_turn())
    assert tile.frames_shown == shown + 1
    tile.hide()  # a hidden tile stops listening
    visit._set_frame(PATIENT.participant_id, solid((1, 1, 1)))
    aio.run(_turn())
    assert tile.frames_shown == shown + 1
