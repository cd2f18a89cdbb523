"""QtVideoView's paint observer (bench.glass_to_glass reads the painted pixels through it).

Real widgets: a shown QtVisitWindow tile (offscreen platform) over a Visit whose
frames carry media/framestamp.py's barcode. The observer must be handed the frame
object that was painted, after the pixels reached the window's backing store, so
the stamp read back from those pixels (scaled to the tile) is the frame's own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from app.visit import VisitState
from bench._g2g_console import Recorder, painted_code_region, read_painted_stamp
from media import framestamp
from tests.ui._visit_script import LOCAL, PATIENT, make_visit
from ui.visit.qt_visit_window import QtVisitWindow
from ui.visit.video_view import QtVideoView


def _stamped(counter: int, width: int = 1280, height: int = 720) -> np.ndarray:
    frame = np.full((height, width, 3), 90, dtype=np.uint8)
    frame[:, width // 2 :] = (200, 40, 40)  # something that is not the code
    framestamp.stamp(frame, counter, timestamp_us=1_000_000 + counter)
    return frame


def test_observer_gets_each_painted_frame_and_its_pixels(qtbot) -> None:
    visit, _controls = make_visit(host=True)
    visit._set_state(VisitState.IN_CALL)
    visit._set_participants((LOCAL, PATIENT))
    first = _stamped(7)
    visit._set_frame(PATIENT.participant_id, first)
    window = QtVisitWindow(visit)
    qtbot.addWidget(window)
    window.resize(1100, 760)  # the tile is not 1280 wide: the picture is painted scaled
    seen: list[tuple[Any, int | None]] = []

    def observer(view: QtVideoView, frame: Any) -> None:
        region = painted_code_region(view, frame.shape[1])
        stamp = read_painted_stamp(region, frame.shape[1]) if region is not None else None
        seen.append((frame, stamp.counter if stamp is not None else None))

    tile = window.tiles()[0]
    tile.paint_observer = observer
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: any(f is first for f, _ in seen), timeout=3000)
    assert tile.video_rect.width() not in (0, 1280)  # really scaled
    assert {c for f, c in seen if f is first} == {7}, seen

    second = _stamped(8)
    visit._set_frame(PATIENT.participant_id, second)
    qtbot.waitUntil(lambda: any(f is second for f, _ in seen), timeout=3000)
    assert {c for f, c in seen if f is second} == {8}


def test_no_observer_paints_as_before(qtbot) -> None:
    visit, _controls = make_visit(host=True)
    visit._set_participants((LOCAL, PATIENT))
    visit._set_frame(PATIENT.participant_id, _stamped(1, 640, 360))
    view = QtVideoView(visit, PATIENT.participant_id, "Sam")
    qtbot.addWidget(view)
    view.resize(320, 180)
    view.show()
    qtbot.waitExposed(view)
    qtbot.waitUntil(view.has_frame, timeout=3000)
    assert view.paint_observer is None
    image = view.grab().toImage()
    assert image.width() == 320  # painted without an observer
    assert view.video_rect.width() == 320


def test_a_placeholder_paint_reports_nothing(qtbot) -> None:
    visit, _controls = make_visit(host=True)
    visit._set_participants((LOCAL, PATIENT))
    view = QtVideoView(visit, PATIENT.participant_id, "Sam")
    qtbot.addWidget(view)
    calls: list[Any] = []
    view.paint_observer = lambda _view, frame: calls.append(frame)
    view.show()
    qtbot.waitExposed(view)
    view.repaint()
    assert calls == []  # "Waiting for video…" is not a frame


def test_recorder_times_a_frame_from_capture_through_hand_over_to_paint(qtbot) -> None:
    visit, _controls = make_visit(host=True)
    visit._set_state(VisitState.IN_CALL)
    visit._set_participants((LOCAL, PATIENT))
    recorder = Recorder(recording=True)
    window = QtVisitWindow(visit)
    qtbot.addWidget(window)
    window.resize(1000, 700)
    window.show()
    qtbot.waitExposed(window)
    window.tiles()[0].paint_observer = recorder.on_painted
    frame = np.full((720, 1280, 3), 90, dtype=np.uint8)
    framestamp.stamp(frame, 31, timestamp_us=framestamp.now_us() - 5_000)  # captured 5 ms ago
    recorder.on_frame_set(frame)  # what the bench's wrapped Visit._set_frame does
    visit._set_frame(PATIENT.participant_id, frame)
    qtbot.waitUntil(lambda: bool(recorder.samples), timeout=3000)
    sample = recorder.samples[0]
    assert sample.counter == 31 and sample.size == (1280, 720)
    assert sample.capture_to_decoded_ms is not None and sample.decoded_to_paint_ms is not None
    assert 5.0 <= sample.capture_to_decoded_ms <= sample.capture_to_paint_ms
    assert sample.capture_to_paint_ms == pytest.approx(
        sample.capture_to_decoded_ms + sample.decoded_to_paint_ms, abs=0.01
    )
    assert recorder.unreadable == 0
