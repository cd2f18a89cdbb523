"""The exam-camera panel (plugins/image_capture/_qt.py) with real widgets, a real store
and a fake multi-mode camera that shows a real photograph (no camera exists on these
machines): preview, full-resolution still, verdict, retake / keep (anyway), metadata
and a two-point scale. Screenshots go to tests/artifacts/ to be looked at."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt

from app.events import ConsoleEvents
from app.images import ImagesService
from app.records import Encounter, Patient, new_id, utc_now
from app.services import AttachmentsService
from clinician_console_api import PluginContext
from media.devices.v4l2 import MJPEG, YUYV, CameraMode, RawFrame
from media.images.inspector import QualityInspector
from plugins._camera import CameraProvider
from plugins._providers import EncounterAttach
from plugins.image_capture._qt import QtImageCapturePanel
from plugins.image_capture.plugin import CaptureModel
from tests.conftest import open_test_store
from tests.ui.conftest import Aio
from tests.unit.images_support import gaussian, photo

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
MODES = [CameraMode(YUYV, 640, 480), CameraMode(MJPEG, 1280, 960), CameraMode(MJPEG, 1600, 1200)]


class PhotoCamera:
    """A fake multi-mode camera (``RawCamera``) that films a real photograph: scikit-image's
    fundus photograph cropped to 4:3, delivered as JPEG (MJPEG modes) or YUYV at each
    mode's size; ``blur_px`` defocuses it."""

    def __init__(self, blur_px: float = 0.0) -> None:
        self.blur_px = blur_px
        self.sent: dict[CameraMode, bytes] = {}

    def modes(self) -> list[CameraMode]:
        return list(MODES)

    def _picture(self, width: int, height: int) -> Any:
        import cv2

        rgb = photo("retina.jpg")[176:1234, :]  # 1411 x 1058: 4:3
        rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
        return gaussian(rgb, self.blur_px) if self.blur_px else rgb

    @contextlib.contextmanager
    def frames(self, mode: CameraMode, fps: int) -> Iterator[Iterator[RawFrame]]:
        import time

        from PIL import Image

        rgb = self._picture(mode.width, mode.height)
        if mode.pixel_format == MJPEG:
            buf = io.BytesIO()
            Image.fromarray(rgb).save(buf, format="JPEG", quality=90)
            data = buf.getvalue()
        else:
            import av

            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuyv422")
            data = frame.to_ndarray().tobytes()

        def stream() -> Iterator[RawFrame]:
            while True:
                time.sleep(1 / fps)
                self.sent[mode] = data
                yield RawFrame(mode.pixel_format, mode.width, mode.height, data)

        yield stream()


@pytest.fixture
def setup(loop: Any, aio: Aio, fresh_profile: Path, qtbot: Any) -> Iterator[Any]:
    store = aio.run(open_test_store(fresh_profile))
    patient = aio.run(store.add_patient(Patient(new_id(), "Lens", "Ada", "1970-01-01")))
    enc = aio.run(store.add_encounter(Encounter(new_id(), patient.id, utc_now())))
    attachments = AttachmentsService(store, ConsoleEvents())
    encounter = EncounterAttach(attachments, ImagesService(attachments, QualityInspector()))
    encounter.set_current(enc.id)
    made: list[QtImageCapturePanel] = []

    def panel(camera: PhotoCamera) -> QtImageCapturePanel:
        provider = CameraProvider(lambda: [("cam", "Exam camera", camera)])
        ctx = PluginContext(
            "clinician-console.image-capture",
            settings={},
            data_root=fresh_profile / "plugins",
            granted=frozenset({"camera", "encounter.attach", "ui.panel"}),
            providers={"camera": provider, "encounter.attach": encounter},
        )
        widget = QtImageCapturePanel(CaptureModel(ctx))
        qtbot.addWidget(widget)
        widget.resize(760, 820)
        widget.show()
        made.append(widget)
        return widget

    yield panel, store, enc.id
    for widget in made:
        aio.run(widget.model.close())
    aio.run(store.close())


def _save(widget: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    assert widget.grab().save(str(path), "PNG")
    return path


def _click_on_still(panel: QtImageCapturePanel, qtbot: Any, x_px: float, y_px: float) -> None:
    view = panel.view
    target = view._target()
    sw, sh = view._source_size
    pos = QPoint(
        round(target.x() + x_px / sw * target.width()),
        round(target.y() + y_px / sh * target.height()),
    )
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=pos)


def test_a_sharp_still_is_kept_with_its_site_and_scale(setup: Any, aio: Aio, qtbot: Any) -> None:
    make, store, enc_id = setup
    camera = PhotoCamera()
    panel = make(camera)
    assert panel.device_combo.count() == 1
    assert "1600×1200" in panel.device_combo.itemText(0)
    aio.run(panel.open_device("cam"))
    aio.wait_until(lambda: panel.view._image is not None)  # the preview is painted
    frame = panel.model.preview()
    assert frame is not None and (frame.width_px, frame.height_px) == (1280, 960)
    assert (panel.view._image.width(), panel.view._image.height()) == (1280, 960)
    _save(panel, "image-capture-preview.png")

    aio.run(panel.take_still())
    candidate = panel.model.candidate
    assert candidate is not None
    assert (candidate.still.width_px, candidate.still.height_px) == (1600, 1200)
    assert candidate.still.data == camera.sent[MODES[2]]  # the camera's JPEG, as delivered
    assert candidate.problems == ()
    assert "Sharp" in panel.verdict_label.text()
    assert panel.keep_button.text() == "Keep" and panel.keep_button.isEnabled()
    assert not panel.take_button.isEnabled()

    panel.site_combo.setCurrentIndex(panel.site_combo.findData("5665001"))
    panel.laterality_combo.setCurrentIndex(panel.laterality_combo.findData("left"))
    panel.view_combo.setCurrentIndex(panel.view_combo.findData("fundus"))
    panel.scale_button.setChecked(True)
    _click_on_still(panel, qtbot, 200, 600)
    _click_on_still(panel, qtbot, 1400, 600)
    panel.distance_spin.setValue(6.0)
    assert "mm per pixel" in panel.scale_label.text()
    _save(panel, "image-capture-still-sharp.png")

    aio.run(panel.keep())
    assert "Kept" in panel.status_label.text()
    assert panel.model.candidate is None
    [att] = aio.run(store.list_attachments(enc_id))
    assert att.kind == "image" and att.content_type == "image/jpeg"
    assert att.size_bytes == len(camera.sent[MODES[2]])
    meta = att.metadata
    assert (meta["width_px"], meta["height_px"]) == (1600, 1200)
    assert (meta["body_site"], meta["laterality"], meta["view"]) == ("5665001", "left", "fundus")
    assert meta["camera"] == "Exam camera"
    x1, y1, x2, y2 = meta["scale_points"]
    assert abs((x2 - x1) - 1200) < 6 and abs(y2 - y1) < 6  # clicks map to still pixels
    assert abs(meta["scale_mm_per_px"] - 6.0 / 1200) < 1e-4
    assert "quality_problems" not in meta
    aio.wait_until(lambda: panel.model.preview() is not None)
    assert panel.take_button.isEnabled()  # ready for the next still


def test_a_blurred_still_says_why_and_can_be_retaken_or_kept_anyway(setup: Any, aio: Aio) -> None:
    make, store, enc_id = setup
    camera = PhotoCamera(blur_px=3.0)
    panel = make(camera)
    aio.run(panel.open_device("cam"))
    aio.wait_until(lambda: panel.model.preview() is not None)
    aio.run(panel.take_still())
    assert panel.model.candidate is not None
    assert panel.model.candidate.problems == ("blurred",)
    assert "Blurred" in panel.verdict_label.text()
    assert panel.keep_button.text() == "Keep anyway"
    _save(panel, "image-capture-still-blurred.png")

    panel.retake_button.click()  # retake: nothing stored, the preview is back
    assert panel.model.candidate is None and panel.take_button.isEnabled()
    assert aio.run(store.list_attachments(enc_id)) == []

    aio.run(panel.take_still())
    aio.run(panel.keep())
    [att] = aio.run(store.list_attachments(enc_id))
    assert att.metadata["quality_problems"] == ["blurred"]
    assert att.metadata["quality_kept_anyway"] is True


def test_no_camera_says_so(setup: Any) -> None:
    make, _store, _enc = setup
    panel = make(PhotoCamera())
    panel.model.ctx._providers = {}  # type: ignore[attr-defined]  # nothing behind "camera"
    panel.refresh_devices()
    assert panel.device_combo.count() == 0
    assert "No camera" in panel.status_label.text()
    assert not panel.take_button.isEnabled()


def test_the_built_in_plugin_loads_through_the_host_and_offers_its_panel(
    aio: Aio, qtbot: Any, tmp_path: Path
) -> None:
    """Through the manifest, like a third-party plugin (never imported by the host)."""
    import plugins.image_capture
    from clinician_console_api.testing import make_host

    camera = PhotoCamera()
    host = make_host(
        tmp_path / "data",
        providers={"camera": CameraProvider(lambda: [("cam", "Exam camera", camera)])},
    )
    host.add_manifest(Path(plugins.image_capture.__file__).parent / "plugin.toml")
    info = aio.run(host.activate("clinician-console.image-capture"))
    assert info.state == "active", info
    assert set(info.granted) >= {"camera", "encounter.attach", "ui.panel"}
    [slot] = host.panels("visit")
    assert slot.title == "Exam camera"
    from PySide6.QtWidgets import QWidget

    parent = QWidget()
    qtbot.addWidget(parent)
    widget = slot.make(parent)
    assert isinstance(widget, QtImageCapturePanel)
    assert widget.device_combo.count() == 1
