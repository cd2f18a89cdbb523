"""Windows come back as the user left them (size, place, maximised), within the screen."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtWidgets import QWidget

from ui import geometry


@pytest.fixture
def state_file(tmp_path: Path):
    geometry.set_state_file(tmp_path / "window-state.ini")
    yield tmp_path / "window-state.ini"
    geometry.set_state_file(None)


def _window(qtbot) -> QWidget:
    window = QWidget()
    qtbot.addWidget(window)
    geometry.remember(window, "probe", QSize(5000, 4000))
    return window


def test_a_window_opens_inside_the_free_area_whatever_it_asks_for(qtbot) -> None:
    window = _window(qtbot)
    window.show()
    assert geometry.inside(window.frameGeometry(), geometry.available(window))


def test_maximised_state_is_remembered(qtbot, state_file: Path) -> None:
    first = _window(qtbot)
    first.show()
    first.showMaximized()
    qtbot.waitUntil(first.isMaximized)
    first.close()
    assert state_file.exists()
    second = _window(qtbot)
    assert second.windowState() & Qt.WindowState.WindowMaximized


def test_size_is_remembered_and_refit_when_the_screen_shrank(qtbot, state_file: Path) -> None:
    first = _window(qtbot)
    first.show()
    first.resize(500, 300)
    first.close()
    second = _window(qtbot)
    assert second.size() == QSize(500, 300)
    second.setGeometry(QRect(-3000, -3000, 9000, 9000))  # saved on a far bigger screen
    second.close()
    third = _window(qtbot)
    third.show()
    assert geometry.inside(third.frameGeometry(), geometry.available(third))
