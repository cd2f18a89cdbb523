"""Screenshots of every visit window state, saved as tests/artifacts/visit-*.png.

The visit is scripted (``ScriptedControls`` stands in for the media session,
which has its own tests against real peers) and fed synthetic RGB frames
(colour bars with a moving block) through ``Visit._set_frame``, exactly where
the media session puts decoded frames. ``QWidget.grab()`` renders the same
under the offscreen platform and a real X server; to render through Xvfb's
X server run
``bash scripts/with-services --services xvfb -- env QT_QPA_PLATFORM=xcb
.venv/bin/python -m pytest tests/ui/test_visit_screenshots.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtGui import QColor, QImage

from app.visit import CallQuality, VisitState
from tests.ui._visit_script import (
    INTERPRETER,
    LOCAL,
    PATIENT,
    SPECIALIST,
    color_bars,
    join,
    make_visit,
    stats,
    waiting_patient,
)
from tests.ui.conftest import Aio
from ui.visit.qt_visit_window import QtVisitWindow

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _save(widget, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    assert widget.grab().save(str(path), "PNG")
    return path


def _assert_non_trivial(path: Path, min_colors: int = 12) -> QImage:
    image = QImage(str(path))
    assert image.width() >= 1000 and image.height() >= 600
    colors: set[int] = set()
    for y in range(0, image.height(), 7):
        for x in range(0, image.width(), 7):
            colors.add(image.pixel(x, y))
    assert len(colors) >= min_colors, f"only {len(colors)} colours: a blank window?"
    return image


@pytest.fixture
def shot(qtbot, aio: Aio):
    def factory(*, host: bool = True):
        visit, controls = make_visit(host=host)
        window = QtVisitWindow(visit)
        qtbot.addWidget(window)
        window.resize(1280, 800)
        window.show()
        qtbot.waitExposed(window)
        return window, visit, controls

    return factory


def _feed(aio: Aio, window: QtVisitWindow, visit, *participants, phase: int = 3) -> None:
    """One synthetic frame per participant (the local camera too), then wait until painted."""
    for index, participant in enumerate(participants):
        width, height = (1280, 720) if index % 2 == 0 else (640, 480)
        visit._set_frame(participant.participant_id, color_bars(width, height, phase + index))
    visit._set_frame(LOCAL.participant_id, color_bars(640, 360, phase + 7))
    views = [*window.tiles(), window.self_view]
    aio.wait_until(lambda: all(v.has_frame() or v.camera_off for v in views))
    aio.wait_until(lambda: True)  # one more turn: paint


def test_connecting(aio: Aio, shot) -> None:
    window, visit, _ = shot()
    visit._set_state(VisitState.CONNECTING)
    aio.wait_until(window.status_progress.isVisible)
    _assert_non_trivial(_save(window, "visit-connecting.png"))


def test_waiting_with_a_patient(aio: Aio, shot) -> None:
    window, visit, _ = shot()
    visit._set_participants((LOCAL,))
    visit._set_state(VisitState.WAITING)
    visit._set_waiting((waiting_patient(seconds_ago=95),))
    visit._set_stats(stats(CallQuality.GOOD))
    _feed(aio, window, visit)
    assert window.waiting_room.waiting_rows()
    _assert_non_trivial(_save(window, "visit-waiting.png"))


def test_in_call_one_up(aio: Aio, shot) -> None:
    window, visit, _ = shot()
    join(visit, PATIENT)
    visit._set_stats(stats(CallQuality.GOOD))
    _feed(aio, window, visit, PATIENT)
    assert window.layout_mode == "one-up"
    image = _assert_non_trivial(_save(window, "visit-in-call.png"), min_colors=24)
    # The remote video really is on screen (a bar colour from the test pattern).
    tile = window.tiles()[0]
    middle = tile.mapTo(window, tile.rect().center())
    assert QColor(image.pixel(middle.x(), middle.y())) != QColor("#0b1217")


def test_in_call_details_open(aio: Aio, shot) -> None:
    window, visit, _ = shot()
    join(visit, PATIENT)
    visit._set_stats(stats(CallQuality.FAIR, rtt_ms=238.0, candidate_type="relay",
                           relay_protocol="udp"))  # fmt: skip
    _feed(aio, window, visit, PATIENT)
    window.quality_badge.click()
    aio.wait_until(window.details.isVisible)
    _assert_non_trivial(_save(window, "visit-details.png"), min_colors=24)


def test_in_call_grid(aio: Aio, shot) -> None:
    window, visit, _ = shot()
    join(visit, PATIENT, SPECIALIST, INTERPRETER)
    visit._set_stats(stats(CallQuality.GOOD))
    _feed(aio, window, visit, PATIENT, SPECIALIST)
    assert window.layout_mode == "grid"
    _assert_non_trivial(_save(window, "visit-grid.png"), min_colors=24)


def test_reconnecting(aio: Aio, shot) -> None:
    window, visit, _ = shot()
    join(visit, PATIENT)
    _feed(aio, window, visit, PATIENT)
    visit._set_state(VisitState.RECONNECTING)
    visit._set_stats(stats(CallQuality.POOR, rtt_ms=None, low_bandwidth=True))
    assert window.reconnect_banner.isVisible()
    aio.wait_until(lambda: True)
    _assert_non_trivial(_save(window, "visit-reconnecting.png"))


def test_ended(aio: Aio, shot) -> None:
    window, visit, _ = shot()
    join(visit, PATIENT)
    _feed(aio, window, visit, PATIENT)
    visit._set_state(VisitState.ENDED, "You hung up.")
    assert window.ended_close_button.isVisible()
    aio.wait_until(lambda: True)
    _assert_non_trivial(_save(window, "visit-ended.png"), min_colors=8)


def test_muted_and_camera_off_in_a_small_window(aio: Aio, shot) -> None:
    window, visit, _ = shot()
    window.resize(1024, 640)
    join(visit, PATIENT)
    visit._set_stats(stats(CallQuality.FAIR))
    visit._set_local_media(True, False)
    _feed(aio, window, visit, PATIENT)
    assert window.mic_button.text() == "Unmute"
    # Nothing in the control bar is cut off at this size.
    for button in (window.mic_button, window.camera_button, window.hang_up_button):
        assert button.width() >= button.sizeHint().width(), button.objectName()
    image = QImage(str(_save(window, "visit-muted-small.png")))
    assert (image.width(), image.height()) == (1024, 640)
