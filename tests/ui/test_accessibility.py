"""Accessibility: every control has an accessible name (read through Qt's accessibility
interface, QAccessible, as a screen reader would), keyboard focus reaches the controls,
and the palette's text colours meet WCAG AA contrast (4.5:1)."""

from __future__ import annotations

import os

import pytest
from PySide6.QtGui import QAccessible, QColor, QPalette
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QWidget,
)

from tests.ui._visit_script import PATIENT, join, make_visit, stats
from tests.ui.conftest import Aio
from ui import theme

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

CONTROLS = (QAbstractButton, QComboBox, QLineEdit, QAbstractSpinBox, QPlainTextEdit)


def unnamed_controls(window: QWidget) -> list[str]:
    missing = []
    for widget in window.findChildren(QWidget):
        if not isinstance(widget, CONTROLS) or not widget.isVisible():
            continue
        if isinstance(widget, QLineEdit) and isinstance(
            widget.parentWidget(), QComboBox | QAbstractSpinBox
        ):
            continue  # a combo or spin box's own line edit: the box carries the name
        iface = QAccessible.queryAccessibleInterface(widget)
        assert iface is not None and iface.isValid()
        if not iface.text(QAccessible.Text.Name).strip():
            missing.append(f"{type(widget).__name__}#{widget.objectName()}")
    return missing


def test_main_window_controls_have_names(make_console, aio: Aio) -> None:
    console = make_console()
    window = console.window
    summary = next(s for s in window.worklist.summaries() if s.note_id is not None)
    window.worklist.select_encounter(summary.encounter.id)
    aio.wait_until(lambda: window.editor.note is not None)
    assert unnamed_controls(window) == []


def test_visit_window_and_stethoscope_controls_have_names(qtbot) -> None:
    from plugins.stethoscope._qt import QtStethoscopePanel
    from plugins.stethoscope.plugin import StethoscopeModel
    from ui.visit.qt_visit_window import QtVisitWindow

    visit, _controls = make_visit()
    window = QtVisitWindow(visit)
    qtbot.addWidget(window)
    window.add_panel("Stethoscope", QtStethoscopePanel(StethoscopeModel(sample_rate_hz=48_000)))
    join(visit, PATIENT)
    visit._set_stats(stats())
    window.show()
    assert unnamed_controls(window) == []


def test_dialogs_controls_have_names(make_console, tmp_path) -> None:
    console = make_console()
    window = console.window
    window.set_settings_location(tmp_path)
    settings = window.show_settings()
    settings.advanced_button.setChecked(True)
    assert unnamed_controls(settings) == []
    settings.reject()
    window.set_join_factory(lambda request: None)
    join_dialog = window.show_join_dialog()
    assert unnamed_controls(join_dialog) == []


def test_tab_reaches_every_control_of_the_join_dialog(qtbot) -> None:
    from ui.visit.join_dialog import QtJoinDialog

    dialog = QtJoinDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    chain = []
    widget = dialog.link_edit
    for _ in range(12):
        chain.append(widget)
        widget = widget.nextInFocusChain()
        while not (widget.focusPolicy() & widget.focusPolicy().TabFocus) or not widget.isVisible():
            widget = widget.nextInFocusChain()
    for edit in (dialog.server_edit, dialog.room_edit, dialog.pin_edit, dialog.display_edit):
        assert edit in chain


def _luminance(color: QColor) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return (
        0.2126 * channel(color.redF())
        + 0.7152 * channel(color.greenF())
        + 0.0722 * channel(color.blueF())
    )


def contrast(a: str | QColor, b: str | QColor) -> float:
    la, lb = sorted((_luminance(QColor(a)), _luminance(QColor(b))), reverse=True)
    return (la + 0.05) / (lb + 0.05)


R = QPalette.ColorRole
PAIRS = [
    (R.WindowText, R.Window),
    (R.Text, R.Base),
    (R.Text, R.AlternateBase),
    (R.ButtonText, R.Button),
    (R.HighlightedText, R.Highlight),
    (R.PlaceholderText, R.Base),
    (R.ToolTipText, R.ToolTipBase),
]


@pytest.mark.parametrize(("fg", "bg"), PAIRS, ids=[f"{f.name}-on-{b.name}" for f, b in PAIRS])
def test_palette_contrast_is_wcag_aa(fg: QPalette.ColorRole, bg: QPalette.ColorRole) -> None:
    pal = theme.palette()
    assert contrast(pal.color(fg), pal.color(bg)) >= 4.5


@pytest.mark.parametrize(
    ("fg", "bg"),
    [
        ("#065f46", "#d1fae5"),  # in call, in-a-visit bar
        ("#075985", "#e0f2fe"),  # waiting
        ("#93370d", "#fef0c7"),  # reconnecting, low bandwidth
        ("#912018", "#fee4e2"),  # ended
        ("#7a2e0e", "#fef0c7"),  # device banner
        ("#b42318", "#f4f6f8"),  # form errors, recording timer
        ("#0f766e", "#ffffff"),  # patient in the visit's top bar
        ("#1e40af", "#dbeafe"),  # worklist: note not signed yet
        ("#92400e", "#fef3c7"),  # worklist: not signed, overdue
        ("#374151", "#e5e7eb"),  # worklist: no note yet
    ],
)
def test_status_colours_are_wcag_aa(fg: str, bg: str) -> None:
    assert contrast(fg, bg) >= 4.5


def test_the_style_sheet_scales_with_the_text_size(qapp: QApplication) -> None:
    normal = theme.stylesheet("normal")
    larger = theme.stylesheet("larger")
    assert "font-size: 10pt" in normal and "font-size: 14.0pt" in larger
