"""Every control inside the screen, run once per simulated screen by test_geometry.py.

Not collected on its own (no ``test_`` prefix): ``test_geometry.py`` runs this file in
a child pytest whose offscreen platform has the clinic's screen size
(``QT_QPA_PLATFORM=offscreen:configfile=...``) and scaling (``QT_SCALE_FACTOR``), as a
QApplication's screen cannot change within one process. Real widgets, real store.
"""

from __future__ import annotations

import os

import pytest
from PySide6.QtCore import QSize
from PySide6.QtGui import QGuiApplication

from tests.ui._visit_script import PATIENT, join, make_visit, stats
from tests.ui.conftest import Aio
from ui import geometry

SCREEN = os.environ.get("CONSOLE_TEST_SCREEN", "")


@pytest.fixture(autouse=True)
def _on_the_clinic_screen() -> None:
    # Never pass by accident on the default 800x600 offscreen screen.
    width, height = (int(v) for v in SCREEN.split("x"))
    scale = float(os.environ.get("QT_SCALE_FACTOR", "1"))
    screen = QGuiApplication.primaryScreen()
    expected = QSize(round(width / scale), round(height / scale))
    assert abs(screen.geometry().width() - expected.width()) <= 1
    assert abs(screen.geometry().height() - expected.height()) <= 1


def _assert_fits(window) -> None:
    window.show()
    QGuiApplication.processEvents()
    assert geometry.offscreen_controls(window) == [], geometry.available(window)


def test_main_window_fits(make_console, aio: Aio) -> None:
    console = make_console()
    window = console.window
    window.place_on_screen()  # what the app does at start (the fixture resized it)
    with_note = next(s for s in window.worklist.summaries() if s.note_id is not None)
    window.worklist.select_encounter(with_note.encounter.id)
    aio.wait_until(lambda: window.editor.note is not None)
    _assert_fits(window)
    assert window.statusBar().isVisible()


@pytest.mark.parametrize("phase", ["waiting", "in_call", "ended"])
def test_visit_window_fits_with_the_stethoscope(qtbot, aio: Aio, phase: str) -> None:
    from app.visit import VisitState
    from plugins.stethoscope._qt import QtStethoscopePanel
    from plugins.stethoscope.plugin import StethoscopeModel
    from ui.visit.qt_visit_window import QtVisitWindow

    visit, _controls = make_visit()
    visit._set_state(VisitState.WAITING)
    window = QtVisitWindow(visit)
    qtbot.addWidget(window)
    window.add_panel("Stethoscope", QtStethoscopePanel(StethoscopeModel(sample_rate_hz=48_000)))
    if phase != "waiting":
        join(visit, PATIENT)
        visit._set_stats(stats())
    if phase == "ended":
        visit._set_state(VisitState.ENDED, "The patient left.")
    _assert_fits(window)
    assert window.control_bar.isVisible() or phase == "ended"


def test_settings_dialog_fits(make_console, tmp_path) -> None:
    console = make_console()
    console.window.place_on_screen()
    console.window.set_settings_location(tmp_path)
    dialog = console.window.show_settings()
    _assert_fits(dialog)
    assert dialog.buttons.isVisible()
    # Every device's test result shown (the camera's picture, the meters, the longest
    # sentences): the Test buttons and the form still fit.
    from ui.settings_dialog import REASONS, WORKING

    longest = max((*WORKING.values(), *REASONS.values()), key=len)
    for test in dialog.device_tests.values():
        test.show_text(longest, working=False)
    _assert_fits(dialog)
    assert all(t.button.isVisible() for t in dialog.device_tests.values())


def test_join_dialog_fits(make_console) -> None:
    console = make_console()
    console.window.place_on_screen()
    console.window.set_join_factory(lambda request: None)
    dialog = console.window.show_join_dialog()
    _assert_fits(dialog)


def test_history_and_about_fit(make_console, aio: Aio) -> None:
    console = make_console()
    window = console.window
    window.place_on_screen()
    with_note = next(s for s in window.worklist.summaries() if s.note_id is not None)
    window.worklist.select_encounter(with_note.encounter.id)
    aio.wait_until(lambda: window.editor.note is not None)
    history = window.show_history(window.editor.note.id)
    aio.wait_until(history.isVisible)
    _assert_fits(history)
    history.close()
    _assert_fits(window.show_about())
