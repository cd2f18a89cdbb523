"""A still taken at the far end's cart reaches the clinician's console over the visit's
data channels, through the real Janus (VideoRoom relays each publisher's data channel).

The clinician's console hosts; the cart joins through the waiting room. The cart's
"camera" is a fake: it returns a real photograph's JPEG bytes (scikit-image's
retina.jpg, or a 12 MP JPEG made of it) as the image-capture plugin's ``take``
would after storing it. Hostile carts are the same session with their sending
step replaced: a flipped byte, a lying header, a stall, a dropped connection.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import math
from pathlib import Path
from typing import Any

import pytest

from app.errors import RemoteStillError
from clinician_console_api import StillOffer
from media.visit.stills import CHUNK_BYTES, SessionStills, chunk_frames
from tests.integration.media._helpers import new_session, session_config, wait_until
from tests.integration.media.services import JanusServer, MediaNet
from tests.unit.images_support import photo_dir

pytestmark = pytest.mark.integration


def _retina() -> bytes:
    return (photo_dir() / "retina.jpg").read_bytes()


def _twelve_megapixels() -> bytes:
    from PIL import Image

    with Image.open(photo_dir() / "retina.jpg") as img:
        big = img.convert("RGB").resize((4000, 3000), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    big.save(out, "JPEG", quality=95)
    return out.getvalue()


class HostileStills(SessionStills):
    """The cart side with its sending step replaceable (the protocol's other rules kept)."""

    mode = "honest"
    halfway: asyncio.Event

    async def send_still(self, feed_id: int, request_id: bytes, offer: StillOffer) -> None:
        data = offer.data
        if self.mode == "honest":
            await super().send_still(feed_id, request_id, offer)
            return
        header: dict[str, Any] = {
            "size": len(data),
            "chunks": math.ceil(len(data) / CHUNK_BYTES),
            "sha256": hashlib.sha256(data).hexdigest(),
            "content_type": offer.content_type,
            "image_id": offer.image_id,
            "metadata": {},
        }
        frames = chunk_frames(request_id, data)
        if self.mode == "flipped":  # one byte changed on the way: the hash must catch it
            bad = bytearray(frames[3])
            bad[-1] ^= 0xFF
            frames[3] = bytes(bad)
        elif self.mode == "too_big":
            header["size"] = 60 * 1024 * 1024
            header["chunks"] = math.ceil(header["size"] / CHUNK_BYTES)
        elif self.mode == "short_chunk":
            frames[2] = frames[2][:-10]
        elif self.mode == "missing":
            del frames[5]
        await self._send_json({"op": "begin", "id": request_id.hex(), "to": feed_id, **header})
        for i, frame in enumerate(frames):
            if self.mode == "drop" and i == len(frames) // 2:
                self.halfway.set()
                await asyncio.Event().wait()  # the test closes the cart's session here
            await self._send(frame)
        await self._reply(feed_id, request_id, "end")


def test_a_still_from_the_cart_arrives_whole_and_hostile_transfers_fail_cleanly(
    janus: JanusServer, clean_net: MediaNet, tmp_path: Path
) -> None:
    async def scenario() -> None:
        _hv, clinician = new_session(session_config(janus, clean_net, create=True, auto_admit=True))
        asked = SessionStills(clinician)
        await clinician.start()
        _gv, cart = new_session(
            session_config(
                janus, clean_net, room=clinician.cfg.room, pin=clinician.cfg.pin,
                host_key=clinician.lobby_key, display="Cart",
            )
        )  # fmt: skip
        serving = HostileStills(cart)
        serving.min_interval_s = 0.0  # many requests in a row here (the limit: below)
        serving.halfway = asyncio.Event()
        photo = {"bytes": _retina()}
        taken: list[str] = []

        async def take() -> StillOffer:
            taken.append("still")
            return StillOffer(
                data=photo["bytes"],
                content_type="image/jpeg",
                image_id=f"cart-image-{len(taken)}",
                metadata={"body_site": "5665001", "view": "fundus"},
            )

        try:
            await cart.start()
            await wait_until(lambda: len(asked.reachable()) == 1, 30, "the cart's channel")
            assert cart.joined is not None
            cart_id = str(cart.joined.participant_id)
            # Before the cart serves: a clear refusal at once, or from the cart when asked.
            with pytest.raises(RemoteStillError, match="nobody in the visit has an exam camera"):
                await asked.request_still()
            with pytest.raises(RemoteStillError, match="no exam camera open"):
                await asked.request_still(cart_id)
            serving.serve_stills(take)
            await wait_until(lambda: asked.participants() == [cart_id], 10, "the cart's hello")

            still = await asked.request_still()
            assert still.data == photo["bytes"]
            assert still.sha256 == hashlib.sha256(photo["bytes"]).hexdigest()
            assert still.remote_image_id == "cart-image-1"
            assert still.metadata == {"body_site": "5665001", "view": "fundus"}
            assert still.participant_id == cart_id

            # 12 MP at full resolution: ~320 chunks through Janus's SCTP relay.
            photo["bytes"] = _twelve_megapixels()
            loop = asyncio.get_running_loop()
            started = loop.time()
            big = await asked.request_still()
            print(f"12 MP still, {len(big.data)} bytes, in {loop.time() - started:.2f} s")
            assert big.data == photo["bytes"]

            for mode, words in (
                ("flipped", "hash does not match"),
                ("too_big", "size is not allowed"),
                ("short_chunk", "wrong length"),
                ("missing", "chunks are missing"),
            ):
                serving.mode = mode
                with pytest.raises(RemoteStillError, match=words):
                    await asked.request_still()

            # Still works after all of that.
            serving.mode = "honest"
            photo["bytes"] = _retina()
            assert (await asked.request_still()).data == photo["bytes"]

            # A participant asking in a loop gets "busy", not a store full of stills.
            serving.min_interval_s = 30.0
            with pytest.raises(RemoteStillError, match="taking another picture"):
                await asked.request_still()
            serving.min_interval_s = 0.0

            # The cart drops out mid-transfer: a clear error, no partial still.
            serving.mode = "drop"
            photo["bytes"] = _twelve_megapixels()
            request = asyncio.ensure_future(asked.request_still())
            await asyncio.wait_for(serving.halfway.wait(), 30)
            await cart.close()
            with pytest.raises(RemoteStillError, match="dropped|stalled"):
                await asyncio.wait_for(request, 60)
            assert not asked._pending
        finally:
            await cart.close()
            await clinician.close()

    asyncio.run(scenario())


def test_the_image_capture_plugin_asks_the_cart_through_the_real_janus(
    janus: JanusServer, clean_net: MediaNet, fresh_profile: Path
) -> None:
    """The plugin end to end: the cart's panel model takes the still with its camera (the
    plugin's camera path, the synthetic camera's 2592x1944 MJPEG mode) and stores it (its
    outbox queues it); the clinician's model stores the copy marked received (not queued)."""
    from app.events import ConsoleEvents
    from app.images import ImagesService
    from app.records import Encounter, Patient, new_id, utc_now
    from app.services import AttachmentsService
    from clinician_console_api import PluginContext
    from media.images.inspector import QualityInspector
    from media.visit.stills import StillsHub
    from plugins._camera import TEST_CAMERA_ID, CameraProvider, os_cameras
    from plugins._providers import EncounterAttach
    from plugins.image_capture.plugin import CaptureModel
    from tests.conftest import open_test_store

    async def console(name: str, hub: StillsHub) -> tuple[Any, CaptureModel, str]:
        store = await open_test_store(fresh_profile / name)
        patient = await store.add_patient(Patient(new_id(), "Lens", "Ada", "1970-01-01"))
        enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
        attachments = AttachmentsService(store, ConsoleEvents())
        encounter = EncounterAttach(attachments, ImagesService(attachments, QualityInspector()))
        encounter.set_current(enc.id)
        ctx = PluginContext(
            "clinician-console.image-capture",
            settings={},
            data_root=fresh_profile / name / "plugins",
            granted=frozenset({"camera", "encounter.attach", "ui.panel", "visit.stills"}),
            providers={
                "camera": CameraProvider(os_cameras(test_camera=True)),
                "encounter.attach": encounter,
                "visit.stills": hub,
            },
        )
        return store, CaptureModel(ctx), enc.id

    async def queued(store: Any) -> list[str]:
        def op(conn: Any) -> list[str]:
            rows = conn.execute("SELECT entity_id FROM outbox WHERE entity_type = 'attachment'")
            return [str(r[0]) for r in rows.fetchall()]

        result: list[str] = await store._run(op)
        return result

    async def scenario() -> None:
        clinician_hub, cart_hub = StillsHub(), StillsHub()
        clin_store, clin_model, clin_enc = await console("clinician", clinician_hub)
        cart_store, cart_model, cart_enc = await console("cart", cart_hub)
        _hv, clinician = new_session(session_config(janus, clean_net, create=True, auto_admit=True))
        clinician_stills = SessionStills(clinician)
        clinician_hub.attach(clinician_stills)

        def asked_servers() -> dict[int, float]:
            return clinician_stills._servers

        await clinician.start()
        _gv, cart = new_session(
            session_config(
                janus, clean_net, room=clinician.cfg.room, pin=clinician.cfg.pin,
                host_key=clinician.lobby_key, display="Cart",
            )
        )  # fmt: skip
        cart_hub.attach(SessionStills(cart))
        try:
            await cart.start()
            await wait_until(lambda: len(clinician_hub.reachable()) == 1, 30, "the cart")
            assert not clin_model.can_ask_remote()  # nobody has a camera open yet
            with pytest.raises(RemoteStillError, match="exam camera open"):
                await clin_model.request_remote()
            assert await clin_store.list_attachments(clin_enc) == []
            await cart_model.open(TEST_CAMERA_ID)  # now it serves, and says so
            assert cart.joined is not None
            cart_feed = cart.joined.participant_id
            await wait_until(clin_model.can_ask_remote, 15, "the cart's hello at the clinician")
            assert cart_feed in asked_servers()
            record = await clin_model.request_remote()
            [copy] = await clin_store.list_attachments(clin_enc)
            [owned] = await cart_store.list_attachments(cart_enc)
            assert copy.id == record.attachment_id
            assert copy.sha256 == owned.sha256
            assert (copy.metadata["width_px"], copy.metadata["height_px"]) == (2592, 1944)
            assert copy.metadata["received"] is True
            assert copy.metadata["remote_image_id"] == owned.id
            assert "received" not in owned.metadata
            assert await queued(cart_store) == [owned.id]  # the cart syncs it
            assert await queued(clin_store) == []  # the copy never
        finally:
            await cart_model.close()
            await cart.close()
            await clinician.close()
            await cart_store.close()
            await clin_store.close()

    asyncio.run(scenario())
