"""The exam-camera panel's "Take a picture at the cart" (plugins/image_capture/_qt.py) with
real widgets and a real store. The visit behind ``visit.stills`` is a stub here that hands
over a real photograph's JPEG bytes: the transport itself (Janus's data channels, chunks,
hash, hostile carts) is tested through the real Janus in
tests/integration/media/test_remote_still.py. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from app.errors import RemoteStillError
from app.events import ConsoleEvents
from app.images import ImagesService
from app.records import Encounter, Patient, new_id, utc_now
from app.services import AttachmentsService
from clinician_console_api import PluginContext, RemoteStill, StillOffer, Unsubscribe
from media.images.inspector import QualityInspector
from plugins._camera import CameraProvider
from plugins._providers import EncounterAttach
from plugins.image_capture._qt import QtImageCapturePanel
from plugins.image_capture.plugin import CaptureModel
from tests.conftest import open_test_store
from tests.ui.conftest import Aio
from tests.unit.images_support import photo_dir

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


class StubVisitStills:
    """``visit.stills`` with a visit that is "running" and a cart that answers with
    ``data`` (or fails with ``error``). Not the transport: see the module docstring."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.active = True
        self.error: RemoteStillError | None = None
        self.served: list[Callable[[], Awaitable[StillOffer]]] = []

    def visit_active(self) -> bool:
        return self.active

    def participants(self) -> list[str]:
        return ["7"] if self.active else []

    async def request_still(self, participant_id: str | None = None) -> RemoteStill:
        if self.error is not None:
            raise self.error
        return RemoteStill(
            participant_id="7",
            data=self.data,
            content_type="image/jpeg",
            sha256=hashlib.sha256(self.data).hexdigest(),
            remote_image_id="cart-image-1",
            metadata={"body_site": "5665001", "view": "fundus", "unknown_key": "x"},
        )

    def serve_stills(self, take: Callable[[], Awaitable[StillOffer]]) -> Unsubscribe:
        self.served.append(take)
        return lambda: self.served.remove(take)


def test_the_clinician_takes_a_picture_at_the_cart_and_sees_it(
    aio: Aio, qtbot: Any, fresh_profile: Path
) -> None:
    data = (photo_dir() / "retina.jpg").read_bytes()
    store = aio.run(open_test_store(fresh_profile))
    patient = aio.run(store.add_patient(Patient(new_id(), "Lens", "Ada", "1970-01-01")))
    enc = aio.run(store.add_encounter(Encounter(new_id(), patient.id, utc_now())))
    attachments = AttachmentsService(store, ConsoleEvents())
    encounter = EncounterAttach(attachments, ImagesService(attachments, QualityInspector()))
    encounter.set_current(enc.id)
    stills = StubVisitStills(data)
    ctx = PluginContext(
        "clinician-console.image-capture",
        settings={},
        data_root=fresh_profile / "plugins",
        granted=frozenset({"camera", "encounter.attach", "ui.panel", "visit.stills"}),
        providers={
            "camera": CameraProvider(lambda: []),
            "encounter.attach": encounter,
            "visit.stills": stills,
        },
    )
    panel = QtImageCapturePanel(CaptureModel(ctx))
    qtbot.addWidget(panel)
    panel.resize(760, 820)
    panel.show()
    try:
        assert stills.served == []  # no camera open: this console does not answer
        aio.wait_until(panel.remote_button.isEnabled)
        assert panel.remote_button.text() == "Take a picture at the cart"

        stills.error = RemoteStillError(reason="the still's hash does not match")
        aio.run(panel._reporting(panel.ask_remote()))  # as a click runs it
        assert "did not arrive" in panel.status_label.text()
        assert aio.run(store.list_attachments(enc.id)) == []  # nothing stored

        stills.error = None
        aio.run(panel.ask_remote())
        assert "Picture from the cart: 1411 × 1411" in panel.status_label.text()
        assert panel.view._image is not None and panel.view._source_size == (1411, 1411)
        [att] = aio.run(store.list_attachments(enc.id))
        assert att.sha256 == hashlib.sha256(data).hexdigest()
        assert att.metadata["received"] is True
        assert att.metadata["remote_image_id"] == "cart-image-1"
        assert (att.metadata["body_site"], att.metadata["view"]) == ("5665001", "fundus")
        assert aio.run(store.outbox_size()) == 2  # the patient and encounter: not the copy
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert panel.grab().save(str(ARTIFACTS / "image-capture-from-cart.png"), "PNG")

        stills.active = False  # the visit ended: nothing to ask
        aio.wait_until(lambda: not panel.remote_button.isEnabled())
        panel.close()
        panel.deleteLater()
    finally:
        aio.run(panel.model.close())
        aio.run(store.close())
