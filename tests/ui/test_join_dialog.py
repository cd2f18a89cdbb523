"""Visit > Join a visit…: the dialog's parsing and validation, and the join path of the
main window (the dialog accepts -> the join factory -> the visit window).

The join factory here is scripted (``make_visit`` from tests/ui/_visit_script.py): it
stands in for the media session (media/visit/session.py), which has its own tests
against a real Janus. The real dialog, real main window, real store and real Qt
event handling are under test.
"""

from __future__ import annotations

import logging

import pytest
from PySide6.QtWidgets import QPushButton

from app.visit import Invite, JoinRequest, VisitState
from tests.ui._visit_script import make_visit
from tests.ui.conftest import Aio
from ui.visit.join_dialog import QtJoinDialog

PIN = "81&27#x"
INVITE = Invite(
    page_url="https://clinic.example.org/patient/",
    server_url="wss://media.example.org/janus",
    room=4821,
    pin=PIN,
)


@pytest.fixture
def dialog(qtbot) -> QtJoinDialog:
    made = QtJoinDialog()
    qtbot.addWidget(made)
    made.show()
    return made


def _join(dialog: QtJoinDialog) -> None:
    dialog.findChild(QPushButton, "joinButton").click()


def test_a_valid_link_fills_server_room_and_pin(dialog: QtJoinDialog) -> None:
    dialog.link_edit.setText(INVITE.link)
    assert dialog.server_edit.text() == INVITE.server_url
    assert dialog.room_edit.text() == "4821"
    assert dialog.pin_edit.text() == PIN
    assert dialog.error_text() == ""
    dialog.display_edit.setText("Dr Lee (cardiology)")
    accepted: list[JoinRequest] = []
    dialog.join_requested.connect(accepted.append)
    _join(dialog)
    assert accepted == [JoinRequest(INVITE.server_url, 4821, PIN, "Dr Lee (cardiology)")]
    assert dialog.request == accepted[0]
    assert dialog.result() == QtJoinDialog.DialogCode.Accepted


def test_the_hosts_key_comes_from_the_link_only(dialog: QtJoinDialog) -> None:
    """The sealed waiting room needs the host's key: the link carries it, nothing typed does."""
    key = "B" * 87
    keyed = Invite(INVITE.page_url, INVITE.server_url, INVITE.room, PIN, host_key=key)
    dialog.link_edit.setText(keyed.link)
    dialog.display_edit.setText("Dr Lee")
    accepted: list[JoinRequest] = []
    dialog.join_requested.connect(accepted.append)
    _join(dialog)
    assert [r.host_key for r in accepted] == [key]
    assert PIN not in repr(accepted[0])


@pytest.mark.parametrize(
    ("link", "server", "room", "pin", "display", "error"),
    [
        ("https://clinic.example.org/patient/", "", "", "", "Dr Lee", "not a visit invite link"),
        ("#server=wss://m/j&room=12", "", "", "", "Dr Lee", "has no PIN"),
        ("", "wss://m/j", "twelve", "1234", "Dr Lee", "The room must be a number"),
        ("", "wss://m/j", "12", "", "Dr Lee", "Enter the room PIN"),
        ("", "mailto:x", "12", "1234", "Dr Lee", "must start with wss://"),
        ("", "wss://m/j", "12", "1234", "  ", "Enter your name as others see it"),
    ],
)
def test_invalid_input_shows_why_and_does_not_accept(
    dialog: QtJoinDialog, link: str, server: str, room: str, pin: str, display: str, error: str
) -> None:
    dialog.server_edit.setText(server)
    dialog.room_edit.setText(room)
    dialog.pin_edit.setText(pin)
    dialog.display_edit.setText(display)
    dialog.link_edit.setText(link)
    accepted: list[JoinRequest] = []
    dialog.join_requested.connect(accepted.append)
    _join(dialog)
    assert error in dialog.error_text()
    assert accepted == [] and dialog.request is None
    assert dialog.isVisible() and dialog.result() != QtJoinDialog.DialogCode.Accepted
    if pin:
        assert pin not in dialog.error_text()


def test_a_bad_link_is_reported_while_typing_and_cleared_when_fixed(dialog: QtJoinDialog) -> None:
    dialog.link_edit.setText(INVITE.link.replace("room=4821", "room=abc"))
    assert "The room must be a number" in dialog.error_text()
    assert dialog.room_edit.text() == ""  # nothing filled from a link that did not parse
    dialog.link_edit.setText(INVITE.link)
    assert dialog.error_text() == "" and dialog.room_edit.text() == "4821"


def test_join_from_the_visit_menu_opens_the_visit_window(
    make_console, aio: Aio, qtbot, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    window = make_console(idle_lock_ms=600_000).window
    assert not window.join_visit_action.isVisible()
    assert window.show_join_dialog() is None  # no media server configured: nothing to join

    requests: list[JoinRequest] = []
    made: list = []

    def join_factory(request: JoinRequest):
        visit, controls = make_visit(host=False)
        made.append(controls)
        visit.encounter_id = ""
        visit._set_state(VisitState.CONNECTING)
        requests.append(request)
        return visit

    window.set_join_factory(join_factory)
    assert window.join_visit_action.isVisible() and window.join_visit_action.isEnabled()
    assert window._visit_menu.menuAction().isVisible()
    window.join_visit_action.trigger()
    dialog = window.join_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.link_edit.setText(INVITE.link)
    dialog.display_edit.setText("Nurse cart 3")
    _join(dialog)
    aio.wait_until(lambda: window.visit_window is not None)
    assert requests == [JoinRequest(INVITE.server_url, 4821, PIN, "Nurse cart 3")]
    visit_window = window.visit_window
    assert visit_window.isVisible() and not dialog.isVisible()
    assert visit_window.visit.state is VisitState.CONNECTING
    assert not window.idle._timer.isActive()  # no automatic lock mid-call
    # One visit at a time: joining again shows the running visit, no second join.
    assert window.show_join_dialog() is None
    assert aio.run(window.join_visit(requests[0])) is visit_window
    assert len(requests) == 1
    # Quitting hangs up the joined visit as it does a hosted one.
    with qtbot.waitSignal(visit_window.closed, timeout=3000):
        aio.run(window._end_visit())
    assert made[0].calls == [("hang_up", None)]
    assert window.visit_window is None and window.idle._timer.isActive()
    logged = caplog.text
    assert PIN not in logged and "pin=" not in logged and str(INVITE.room) not in logged


def test_join_is_disabled_while_locked(make_console, aio: Aio) -> None:
    window = make_console().window
    window.set_join_factory(lambda request: make_visit(host=False)[0])
    aio.run(window.lock("You locked the console."))
    assert not window.join_visit_action.isEnabled()
    assert window.show_join_dialog() is None


def test_the_real_join_factory_reports_an_unreachable_server_in_the_visit_window(
    make_console, aio: Aio, qtbot
) -> None:
    """app.main's join factory with the real media session, against a port nobody
    listens on (no Janus needed): the window opens, then shows why the visit ended."""
    import socket

    from app.main import _VISIT_TASKS, _offer_visits
    from app.settings import MediaServerSettings

    with socket.socket() as probe:  # a free loopback port, closed again: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    window = make_console(idle_lock_ms=600_000).window
    _offer_visits(window, MediaServerSettings(url=f"ws://127.0.0.1:{port}"), False, None)
    assert window.start_visit_action.isVisible() and window.join_visit_action.isVisible()
    request = JoinRequest(f"ws://127.0.0.1:{port}", 4821, PIN, "Dr Lee")
    visit_window = aio.run(window.join_visit(request))
    assert visit_window is not None and visit_window.isVisible()
    visit = visit_window.visit
    aio.wait_until(lambda: visit.state is VisitState.ENDED, timeout=20)
    assert "could not be reached" in visit.end_reason
    assert PIN not in visit.end_reason
    aio.wait_until(lambda: not _VISIT_TASKS)  # the background start finished and was dropped
    with qtbot.waitSignal(visit_window.closed, timeout=3000):
        aio.run(window._end_visit())


# -- issue 15: wide link field, no focus jumps, Retry in place, remembered name/server --


@pytest.fixture
def ui_state(tmp_path):
    from ui import geometry

    geometry.set_state_file(tmp_path / "window-state.ini")
    yield
    geometry.set_state_file(None)


def test_typing_a_link_keeps_the_focus_in_the_link_field(dialog: QtJoinDialog, qtbot) -> None:
    dialog.activateWindow()
    dialog.link_edit.setFocus()
    qtbot.waitUntil(dialog.link_edit.hasFocus, timeout=3000)
    qtbot.keyClicks(dialog.link_edit, INVITE.link)
    assert dialog.link_edit.hasFocus()
    assert dialog.link_edit.text() == INVITE.link  # nothing typed landed elsewhere
    assert dialog.room_edit.text() == "4821"
    assert dialog.link_edit.width() >= 560


def test_name_and_last_server_are_remembered_not_the_pin(qtbot, ui_state) -> None:
    first = QtJoinDialog()
    qtbot.addWidget(first)
    first.link_edit.setText(INVITE.link)
    first.display_edit.setText("Nurse cart 3")
    _join(first)
    second = QtJoinDialog()
    qtbot.addWidget(second)
    assert second.display_edit.text() == "Nurse cart 3"
    assert second.server_edit.text() == INVITE.server_url
    assert second.pin_edit.text() == "" and second.room_edit.text() == ""


def test_a_failed_join_reopens_the_dialog_with_retry(make_console, aio: Aio) -> None:
    from app.errors import VisitConnectError

    window = make_console().window
    attempts: list[JoinRequest] = []

    def flaky(request: JoinRequest):
        attempts.append(request)
        if len(attempts) == 1:
            raise VisitConnectError(reason="the server did not answer")
        visit, _controls = make_visit(host=False)
        visit.encounter_id = ""
        return visit

    window.set_join_factory(flaky)
    dialog = window.show_join_dialog()
    dialog.link_edit.setText(INVITE.link)
    dialog.display_edit.setText("Nurse cart 3")
    _join(dialog)
    aio.wait_until(lambda: dialog.isVisible() and dialog.error_text() != "")
    assert dialog.join_button().text() == "&Retry"
    assert dialog.link_edit.text() == INVITE.link  # everything typed is still there
    _join(dialog)
    aio.wait_until(lambda: window.visit_window is not None)
    assert len(attempts) == 2 and not dialog.isVisible()


def test_a_visit_that_never_connected_offers_try_again(make_console, aio: Aio) -> None:
    window = make_console().window
    made: list = []

    def factory(request: JoinRequest):
        visit, _controls = make_visit(host=False)
        visit.encounter_id = ""
        made.append(visit)
        return visit

    window.set_join_factory(factory)
    request = JoinRequest(INVITE.server_url, 4821, PIN, "Nurse cart 3")
    first = aio.run(window.join_visit(request))
    made[0]._set_state(VisitState.ENDED, "The video server could not be reached.")
    assert first.retry_button.isVisible()
    first.retry_button.click()
    aio.wait_until(lambda: len(made) == 2 and window.visit_window is not first)
    assert window.visit_window is not None and window.visit_window.isVisible()
