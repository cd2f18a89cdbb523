"""The visit and the note together: Start video visit on the encounter header, the
patient named in the visit's top bar, the note docked beside the video, the main
window's "in a visit" state, and device warnings. Real main window, real store; the
visit is scripted (tests/ui/_visit_script.py) as in the visit window's tests."""

from __future__ import annotations

from app.visit import MediaDevice, VisitState
from tests.ui._visit_script import ScriptedControls, make_visit
from tests.ui.conftest import Aio
from ui.format import age_from


def _console_with_visits(make_console, aio: Aio):
    console = make_console()
    window = console.window
    made: list = []

    def factory(encounter_id: str):
        visit, controls = make_visit()
        visit.encounter_id = encounter_id
        made.append((visit, controls))
        return visit

    window.set_visit_factory(factory)
    summary = next(s for s in window.worklist.summaries() if s.note_id is not None)
    window.worklist.select_encounter(summary.encounter.id)
    aio.wait_until(lambda: window.editor.note is not None)
    return console, summary, made


def test_start_video_visit_from_the_encounter_header(make_console, aio: Aio, qtbot) -> None:
    console, summary, made = _console_with_visits(make_console, aio)
    window = console.window
    editor = window.editor
    assert editor.start_visit_button.isVisible()
    assert not window.in_visit_bar.isVisible()
    editor.start_visit_button.click()
    aio.wait_until(lambda: window.visit_window is not None)
    visit_window = window.visit_window
    patient = summary.patient
    top = visit_window.patient_label.text()
    assert patient.display_name in top and age_from(patient.birth_date) in top
    assert patient.mrn in top
    assert patient.display_name not in visit_window.windowTitle()  # task switchers
    assert window.in_visit_bar.isVisible()
    assert editor.invite_button.isVisible()
    editor.invite_button.click()
    from PySide6.QtGui import QGuiApplication

    assert QGuiApplication.clipboard().text() == made[0][0].invite.link
    assert editor.start_visit_button.text() == "Show video visit"
    made[0][0]._set_state(VisitState.ENDED, "Done.")
    visit_window._may_close = True
    visit_window.close()
    aio.wait_until(lambda: window.visit_window is None)
    assert not window.in_visit_bar.isVisible()


def test_the_note_docks_beside_the_video_and_comes_back(make_console, aio: Aio, qtbot) -> None:
    console, summary, made = _console_with_visits(make_console, aio)
    window = console.window
    editor = window.editor
    aio.run(window.start_visit(summary.encounter.id))
    visit_window = window.visit_window
    assert visit_window.note_button.isVisible()
    visit_window.note_button.setChecked(True)
    assert editor.window() is visit_window and visit_window.docked_note() is editor
    qtbot.keyClicks(editor.section("Plan"), " docked typing")
    aio.run(window.autosaver.flush())
    assert "docked typing" in aio.run(console.notes.open_or_create_note("", editor.note.id)).text
    visit_window.note_button.setChecked(False)
    assert editor.window() is window
    visit_window.note_button.setChecked(True)
    made[0][0]._set_state(VisitState.ENDED, "Done.")
    visit_window._may_close = True
    visit_window.close()
    aio.wait_until(lambda: window.visit_window is None)
    assert editor.window() is window and editor.isVisible()  # back home, not deleted
    assert window._console.widget(1) is editor


def test_missing_speaker_and_microphone_are_announced(qtbot) -> None:
    from ui.visit.qt_visit_window import QtVisitWindow

    visit, _ = make_visit()
    visit.controls = ScriptedControls(visit, devices=[MediaDevice("cam", "Camera", "camera")])
    window = QtVisitWindow(visit)
    qtbot.addWidget(window)
    window.show()
    text = window.device_banner.text()
    assert window.device_banner.isVisible()
    assert "you will not hear the patient" in text and "test tone" in text


def test_no_banner_with_every_device(qtbot) -> None:
    from ui.visit.qt_visit_window import QtVisitWindow

    visit, controls = make_visit()
    asked: list[int] = []
    real = controls.devices
    controls.devices = lambda: asked.append(1) or real()
    window = QtVisitWindow(visit)
    qtbot.addWidget(window)
    window.show()
    assert not window.device_banner.isVisible()
    for menu in (window.microphone_menu, window.camera_menu, window.speaker_menu):
        menu.aboutToShow.emit()
    assert asked == [1]  # probed once at open, the menus reuse it
