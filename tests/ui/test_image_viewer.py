"""The specialist's review with real widgets offscreen and a real SQLCipher store: a 12 MP
still opens preview-first without blocking the GUI thread, annotations are drawn with the
mouse, measured in mm, saved as versions apart from the pixels and shown or hidden as a
layer, and two stills compare with linked zoom. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage

from app.annotations import AnnotationsService, Shape, ShapeKind
from app.errors import AnnotationConflictError, InputRejectedError
from app.events import ConsoleEvents
from app.records import Attachment, Encounter, Patient, new_id
from app.services import AttachmentsService
from storage.annotations import StoreAnnotations
from tests.conftest import open_test_store
from tests.ui.conftest import Aio
from ui import image_viewer
from ui.image_viewer import QtStillCompare, QtStillViewer, Tool

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _save(widget: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    assert widget.grab().save(str(path), "PNG")
    return path


def _jpeg(width: int, height: int, seed: int = 3) -> bytes:
    """A textured still (gradients and noise: JPEG cannot shrink it to nothing)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack(
        [(x * 255 // width), (y * 255 // height), ((x + y) * 255 // (width + height))], axis=-1
    ).astype(np.int16)
    noise = rng.integers(-20, 20, size=(height // 8, width // 8, 3), dtype=np.int16)
    base += np.kron(noise, np.ones((8, 8, 1), dtype=np.int16))
    out = io.BytesIO()
    Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(out, "JPEG", quality=92)
    return out.getvalue()


@dataclass
class Review:
    store: Any
    attachments: AttachmentsService
    annotations: AnnotationsService
    patient: Patient

    async def still(self, width: int, height: int, start: str, **meta: object) -> Attachment:
        enc = await self.store.add_encounter(Encounter(new_id(), self.patient.id, start))
        metadata: dict[str, object] = {
            "width_px": width,
            "height_px": height,
            "captured_at": start,
            **meta,
        }
        return await self.attachments.attach(
            enc.id, "image", "image/jpeg", _jpeg(width, height), metadata=metadata
        )


@pytest.fixture
def review(loop: Any, aio: Aio, fresh_profile: Path) -> Iterator[Review]:
    store = aio.run(open_test_store(fresh_profile))
    patient = aio.run(store.add_patient(Patient(new_id(), "Skin", "Sol", "1955-03-03")))
    attachments = AttachmentsService(store, ConsoleEvents())
    try:
        yield Review(store, attachments, AnnotationsService(StoreAnnotations(store)), patient)
    finally:
        aio.run(store.close())


def test_a_12_mp_still_paints_its_preview_first_without_blocking_the_gui(
    review: Review, aio: Aio, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    still = aio.run(review.still(4000, 3000, "2026-01-05T10:00:00+00:00"))
    # Record which thread decodes.
    decoded_on: list[str] = []
    real_preview, real_full = image_viewer.decode_preview, image_viewer.decode_full

    def preview(data: bytes) -> Any:
        decoded_on.append(threading.current_thread().name)
        return real_preview(data)

    def full(data: bytes) -> Any:
        decoded_on.append(threading.current_thread().name)
        return real_full(data)

    monkeypatch.setattr(image_viewer, "decode_preview", preview)
    monkeypatch.setattr(image_viewer, "decode_full", full)
    viewer = QtStillViewer(review.attachments, review.annotations)
    qtbot.addWidget(viewer)
    viewer.resize(1200, 800)
    viewer.show()
    loaded: list[bool] = []
    viewer.view.loaded.connect(lambda: loaded.append(True))
    aio.run(viewer.open(still))
    picture = viewer.view.picture
    # The first paint came from a DCT-scaled decode; the full image followed.
    assert picture.levels[-1].width() == 4000 and picture.levels[0].width() <= 2000
    assert loaded and picture.painted_at is not None
    gui = threading.main_thread().name
    assert len(decoded_on) == 2 and gui not in decoded_on, decoded_on
    rows = [
        (
            viewer.meta_form.itemAt(i, viewer.meta_form.ItemRole.LabelRole).widget().text(),
            viewer.meta_form.itemAt(i, viewer.meta_form.ItemRole.FieldRole).widget().text(),
        )
        for i in range(viewer.meta_form.rowCount())
    ]
    assert ("Size", "4000 × 3000 px") in rows and ("Scale", "not calibrated") in rows


def test_draw_measure_save_versions_and_hide_the_layer(
    review: Review, aio: Aio, qtbot: Any
) -> None:
    still = aio.run(
        review.still(
            1600,
            1200,
            "2026-01-05T10:00:00+00:00",
            body_site="14975008",
            scale_points=[100, 100, 500, 100],
            scale_distance_mm=20,
        )
    )  # 0.05 mm per pixel
    original = aio.run(review.store.read_attachment(still.id))
    viewer = QtStillViewer(review.attachments, review.annotations)
    qtbot.addWidget(viewer)
    viewer.resize(1000, 700)
    viewer.show()
    aio.run(viewer.open(still))
    view = viewer.view
    view.fit()

    def to_view(x: float, y: float) -> QPoint:
        return view.mapFromScene(x, y)

    # A length line drawn with the mouse from (200, 600) to (1000, 600) in the still.
    viewer.tool_buttons[Tool.LENGTH].click()
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=to_view(200, 600))
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=to_view(1000, 600))
    [line] = view.layer.shapes
    assert line.kind is ShapeKind.LENGTH
    # 800 px at 0.05 mm/px = 40 mm (within a screen pixel's worth of still pixels).
    assert "mm" in viewer.measurements.item(0).text()
    assert abs(float(viewer.measurements.item(0).text().split()[1]) - 40.0) < 0.2
    # An outline by clicks, closed by a double click.
    viewer.tool_buttons[Tool.OUTLINE].click()
    for x, y in ((300, 200), (700, 200), (700, 500), (300, 500)):
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=to_view(x, y))
    assert view.finish_outline() is not None
    assert "mm²" in viewer.measurements.item(1).text()  # 20 mm x 15 mm = 300 mm²
    assert abs(float(viewer.measurements.item(1).text().split()[1]) - 300.0) < 5.0
    view.add_shape(Shape(ShapeKind.ARROW, ((1300.0, 300.0), (900.0, 400.0))))
    view.add_shape(Shape(ShapeKind.TEXT, ((1200.0, 250.0),), "scaly edge"))
    assert viewer.save_button.isEnabled()
    saved = aio.run(viewer.save())
    assert saved.version == 1 and len(saved.shapes) == 4
    assert not viewer.save_button.isEnabled()
    shown = _save(viewer, "viewer-annotated.png")
    # The layer hides and shows as a whole; the still's pixels are what was stored.
    with_layer = view.grab().toImage()
    viewer.layer_box.setChecked(False)
    without = view.grab().toImage()
    _save(viewer, "viewer-layer-hidden.png")
    assert with_layer != without
    assert aio.run(review.store.read_attachment(still.id)) == original
    assert QImage(str(shown)).width() >= 1000

    # Another reviewer who opened version 1 saves first; ours is refused, nothing lost.
    other = QtStillViewer(review.attachments, review.annotations)
    qtbot.addWidget(other)
    aio.run(other.open(still))
    other.view.add_shape(Shape(ShapeKind.TEXT, ((10.0, 10.0),), "second opinion"))
    assert aio.run(other.save()).version == 2
    viewer.undo()
    with pytest.raises(AnnotationConflictError):
        aio.run(viewer.save())
    assert viewer.dirty and viewer.save_button.isEnabled()
    assert [v.version for v in aio.run(review.annotations.history(still.id))] == [1, 2]


def test_compare_with_an_earlier_visit_links_zoom_and_pan(
    review: Review, aio: Aio, qtbot: Any
) -> None:
    site = {"body_site": "14975008", "laterality": "left"}
    before = aio.run(review.still(1600, 1200, "2025-09-01T10:00:00+00:00", **site))
    now = aio.run(review.still(3200, 2400, "2026-01-05T10:00:00+00:00", **site))
    aio.run(review.still(1600, 1200, "2025-10-01T10:00:00+00:00", body_site="85562004"))
    compare = QtStillCompare(review.attachments, review.annotations)
    qtbot.addWidget(compare)
    compare.resize(1400, 700)
    compare.show()
    aio.run(compare.open(now))
    assert [c.id for c in compare.candidates] == [before.id]
    assert compare.left.still_size.width() == 1600 and compare.right.still_size.width() == 3200

    def close(a: Any, b: Any) -> bool:
        sa, sb = a.view_state(), b.view_state()
        return (
            abs(sa.zoom - sb.zoom) < 0.02 * sa.zoom
            and abs(sa.cx - sb.cx) < 0.01
            and abs(sa.cy - sb.cy) < 0.01
        )

    compare.right.zoom_by(3.0)
    compare.right.centerOn(2400, 600)  # the upper right of the newer still
    aio.wait_until(lambda: close(compare.left, compare.right))
    state = compare.left.view_state()
    assert state.zoom > 2.5 and state.cx > 0.6 and state.cy < 0.4
    # Panning the left one moves the right one too.
    compare.left.centerOn(400, 900)
    aio.wait_until(lambda: close(compare.left, compare.right))
    _save(compare, "viewer-compare.png")
    # Unlinked, they move on their own.
    compare.link_box.setChecked(False)
    compare.left.zoom_by(0.5)
    assert not close(compare.left, compare.right)


def test_review_menu_opens_the_selected_visits_stills(make_console: Any, aio: Aio) -> None:
    from ui.review_hooks import install_review

    console = make_console()
    window = console.window
    attachments = AttachmentsService(console.store, console.events)
    action = install_review(
        window, attachments, AnnotationsService(StoreAnnotations(console.store))
    )
    summary = window.worklist.current_summary()
    if summary is None:
        window.worklist.list.setCurrentRow(0)
        summary = window.worklist.current_summary()
    assert summary is not None
    aio.run(
        attachments.attach(
            summary.encounter.id,
            "image",
            "image/jpeg",
            _jpeg(800, 600),
            metadata={"width_px": 800, "height_px": 600, "body_site": "85562004"},
        )
    )
    action.trigger()
    dialog = window.review_dialog
    aio.wait_until(lambda: dialog.list.count() == 1)
    assert dialog.list.item(0).text().startswith("Hand structure")
    _save(dialog, "viewer-encounter-stills.png")
    viewer = aio.run(dialog.open_viewer(dialog.stills[0]))
    assert viewer.view.still_size.width() == 800
    viewer.close()


def test_older_versions_are_shown_read_only_and_the_draft_is_kept(
    review: Review, aio: Aio, qtbot: Any
) -> None:
    still = aio.run(review.still(800, 600, "2026-01-05T10:00:00+00:00"))
    first = Shape(ShapeKind.ARROW, ((10.0, 10.0), (200.0, 100.0)))
    second = Shape(ShapeKind.TEXT, ((300.0, 300.0),), "ulcer base")
    aio.run(review.annotations.save(still.id, 0, [first]))
    aio.run(review.annotations.save(still.id, 1, [first, second]))
    viewer = QtStillViewer(review.attachments, review.annotations)
    qtbot.addWidget(viewer)
    viewer.resize(1000, 700)
    viewer.show()
    aio.run(viewer.open(still))
    assert viewer.version_box.count() == 2 and viewer.version_box.currentData() == 2
    draft = Shape(ShapeKind.LENGTH, ((100.0, 500.0), (700.0, 500.0)))
    viewer.view.add_shape(draft)
    viewer.show_version(1)
    assert viewer.view.layer.shapes == [first]
    assert not viewer.save_button.isEnabled()
    assert not viewer.tool_buttons[Tool.ARROW].isEnabled()
    assert "read-only" in viewer.version_label.text()
    _save(viewer, "viewer-old-version.png")
    viewer.show_version(2)  # back to the latest: the unsaved drawing is still there
    assert viewer.view.layer.shapes == [first, second, draft]
    assert viewer.save_button.isEnabled() and viewer.tool_buttons[Tool.ARROW].isEnabled()
    assert aio.run(viewer.save()).version == 3
    assert viewer.version_box.count() == 3


def test_outline_keys_and_a_damaged_still(review: Review, aio: Aio, qtbot: Any) -> None:
    still = aio.run(review.still(800, 600, "2026-01-05T10:00:00+00:00"))
    viewer = QtStillViewer(review.attachments, review.annotations)
    qtbot.addWidget(viewer)
    viewer.resize(1000, 700)
    viewer.show()
    aio.run(viewer.open(still))
    view = viewer.view
    viewer.tool_buttons[Tool.OUTLINE].click()
    for x, y in ((100, 100), (300, 100), (300, 300)):
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene(x, y))
    assert len(view.layer.pending) == 3  # drawn dashed while being drawn
    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert view.layer.pending == [] and view.layer.shapes == []
    for x, y in ((100, 100), (300, 100), (300, 300)):
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene(x, y))
    qtbot.keyClick(view, Qt.Key.Key_Return)
    [outline] = view.layer.shapes
    assert outline.kind is ShapeKind.OUTLINE and len(outline.points) == 3

    # Damaged bytes (a JPEG cut short, a header claiming 200 MP): a clear refusal.
    good = _jpeg(800, 600)
    header_only = good[:200]
    with pytest.raises(InputRejectedError):
        image_viewer.decode_preview(header_only)
    huge = io.BytesIO()
    Image.new("L", (20_000, 5_001)).save(huge, "PNG")
    with pytest.raises(InputRejectedError, match="100 megapixels"):
        image_viewer.decode_preview(huge.getvalue())
    with pytest.raises(InputRejectedError):
        image_viewer.decode_full(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)


def test_wheel_zooms_about_the_cursor_and_1_to_1(review: Review, aio: Aio, qtbot: Any) -> None:
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    still = aio.run(review.still(3200, 2400, "2026-01-05T10:00:00+00:00"))
    viewer = QtStillViewer(review.attachments, review.annotations)
    qtbot.addWidget(viewer)
    viewer.resize(1000, 700)
    viewer.show()
    aio.run(viewer.open(still))
    view = viewer.view
    fitted = view.scale_factor()
    # Zoomed in past the fit, so that the picture scrolls both ways (while it is smaller
    # than the viewport, Qt centres it and no point can stay under the cursor).
    view.zoom_by(2.0)
    at = QPointF(200, 150)
    under = view.mapToScene(at.toPoint())
    before = view.scale_factor()
    for _ in range(3):
        wheel = QWheelEvent(
            at,
            view.viewport().mapToGlobal(at),
            QPoint(0, 0),
            QPoint(0, 120),
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        QApplication.sendEvent(view.viewport(), wheel)
    assert view.scale_factor() == pytest.approx(before * 1.25**3, rel=1e-3)
    after = view.mapToScene(at.toPoint())
    # The point under the cursor stays put (within a screen pixel's worth of still).
    assert abs(after.x() - under.x()) < 2 / view.scale_factor() + 1
    assert abs(after.y() - under.y()) < 2 / view.scale_factor() + 1
    viewer.actual_button.click()
    assert view.scale_factor() == pytest.approx(1.0)
    viewer.fit_button.click()
    assert view.scale_factor() == pytest.approx(fitted, rel=1e-3)


def test_a_newer_choice_wins_and_closing_mid_load_is_quiet(
    review: Review, aio: Aio, qtbot: Any
) -> None:
    site = {"body_site": "14975008"}
    big = aio.run(review.still(4000, 3000, "2025-01-05T10:00:00+00:00", **site))
    small = aio.run(review.still(800, 600, "2025-06-05T10:00:00+00:00", **site))
    now = aio.run(review.still(1600, 1200, "2026-01-05T10:00:00+00:00", **site))
    compare = QtStillCompare(review.attachments, review.annotations)
    qtbot.addWidget(compare)
    compare.resize(1200, 600)
    compare.show()
    aio.run(compare.open(now))
    assert compare.left.still_size.width() == 800  # the newest earlier one

    async def race() -> None:
        # The slow 12 MP still is asked for first, the small one right after: the
        # small one must stay on screen whatever finishes last.
        await asyncio.gather(compare.show_left(big), compare.show_left(small))

    aio.run(race())
    assert compare.left.still_size.width() == 800
    assert compare.left.picture.levels[-1].width() == 800

    # The user closes a viewer while the 12 MP still is still decoding.
    viewer = QtStillViewer(review.attachments, review.annotations)
    viewer.show()

    async def close_mid_load() -> None:
        task = asyncio.ensure_future(viewer.open(big))
        await asyncio.sleep(0)
        viewer.close()
        viewer.deleteLater()
        await task  # no "C++ object already deleted" from a late decode

    aio.run(close_mid_load())


def test_remove_one_annotation_from_the_list(review: Review, aio: Aio, qtbot: Any) -> None:
    still = aio.run(review.still(800, 600, "2026-01-05T10:00:00+00:00"))
    viewer = QtStillViewer(review.attachments, review.annotations)
    qtbot.addWidget(viewer)
    viewer.resize(1000, 700)
    viewer.show()
    aio.run(viewer.open(still))
    a = Shape(ShapeKind.ARROW, ((10.0, 10.0), (200.0, 100.0)))
    b = Shape(ShapeKind.TEXT, ((300.0, 300.0),), "keep me")
    c = Shape(ShapeKind.LENGTH, ((100.0, 500.0), (700.0, 500.0)))
    for shape in (a, b, c):
        viewer.view.add_shape(shape)
    viewer.measurements.setCurrentRow(0)
    viewer.measurements.setFocus()
    qtbot.keyClick(viewer.measurements, Qt.Key.Key_Delete)
    assert viewer.view.layer.shapes == [b, c]
    viewer.measurements.setCurrentRow(1)
    viewer.remove_button.click()
    assert viewer.view.layer.shapes == [b]
    assert aio.run(viewer.save()).shapes == (b,)
