"""A still's annotations reach both FHIR test servers (docs/images.md, "Sync"): the latest
layer as one DocumentReference (rendered JPEG + vector JSON) related to the still's Media,
updated in place with If-Match; a lost acknowledgement or a kill -9 never duplicates it;
a colleague's version is a conflict, never overwritten; the still is never changed; a
synced annotated visit leaves the local cache like any other synced visit."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from app.annotations import AnnotationsService, Shape, ShapeKind
from app.errors import SyncRetryableError
from app.records import Attachment, Encounter, Patient, new_id, utc_now
from app.sync import Resolution
from storage import repository
from storage.annotations import StoreAnnotations
from storage.fhir import annotation_mapping as am
from storage.fhir.client import FhirClient
from storage.sync import queue
from storage.sync.adapter import StoreSyncQueue
from storage.sync.engine import SyncEngine
from tests.conftest import open_test_store, run
from tests.unit.images_support import jpeg_bytes, photo

pytestmark = pytest.mark.integration

IDENT = "urn:ietf:rfc:3986|urn:uuid:"
KILL9_CYCLES = int(os.environ.get("KILL9_ANNOTATION_CYCLES", "8"))
CHILD = Path(__file__).with_name("annotation_sync_child.py")

ARROW = Shape(ShapeKind.ARROW, ((100.0, 100.0), (400.0, 300.0)))
LABEL = Shape(ShapeKind.TEXT, ((500.0, 200.0),), "lesion border")
OUTLINE = Shape(ShapeKind.OUTLINE, ((600.0, 400.0), (800.0, 400.0), (700.0, 600.0)))
LENGTH = Shape(ShapeKind.LENGTH, ((50.0, 700.0), (450.0, 700.0)))


async def _setup(profile: Path) -> tuple[Any, Attachment, AnnotationsService]:
    store = await open_test_store(profile)
    patient = await store.add_patient(Patient(new_id(), "Lens", "Ada", "1970-01-01"))
    enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now(), reason="rash"))
    import cv2

    # 2223 x 1500: larger than the rendering, so the rendering is a scaled copy.
    rgb = cv2.resize(photo("motorcycle_left.png"), (2223, 1500), interpolation=cv2.INTER_CUBIC)
    data = jpeg_bytes(rgb)
    height, width = rgb.shape[:2]
    still: Attachment = await store.add_attachment(
        enc.id, "image", "image/jpeg", data, "", {"width_px": width, "height_px": height}
    )
    return store, still, AnnotationsService(StoreAnnotations(store))


async def _documents(client: FhirClient, still_id: str) -> list[dict[str, Any]]:
    ident = IDENT + am.document_id(still_id)
    return [r async for r in client.search("DocumentReference", {"identifier": ident})]


async def _media(client: FhirClient, still_id: str) -> list[dict[str, Any]]:
    return [r async for r in client.search("Media", {"identifier": IDENT + still_id})]


def _shapes(doc: dict[str, Any]) -> tuple[Shape, ...] | None:
    return am.parse_shapes(am.shapes_json_of(doc))


def _rendering(doc: dict[str, Any]) -> Image.Image:
    attachment = doc["content"][0]["attachment"]
    assert attachment["contentType"] == "image/jpeg"
    return Image.open(io.BytesIO(base64.b64decode(attachment["data"]))).convert("RGB")


async def _colleague_writes(client: FhirClient, doc: dict[str, Any], shapes: list[Shape]) -> None:
    """Another console saves its own version of the layer on the server."""
    raw = json.loads(am.shapes_json_of(doc) or b"{}")
    raw["shapes"] = [
        {"kind": s.kind.value, "points": [list(p) for p in s.points], "text": s.text}
        for s in shapes
    ]
    changed = json.loads(json.dumps(doc))
    changed["content"][1]["attachment"]["data"] = base64.b64encode(
        json.dumps(raw).encode()
    ).decode()
    await client.update("DocumentReference", doc["id"], changed, doc["meta"]["versionId"])


def test_the_latest_layer_reaches_the_record_store_as_one_document_and_the_still_is_unchanged(
    fresh_profile: Path, fhir_server: Any
) -> None:
    async def scenario() -> None:
        store, still, service = await _setup(fresh_profile)
        async with FhirClient(fhir_server.base_url, timeout=60) as client:
            await service.save(still.id, 0, [ARROW, LABEL, OUTLINE, LENGTH])
            report = await SyncEngine(store).sync_once(client)
            assert report.failed == 0, report.reasons
            assert await store.outbox_size() == 0
            [media] = await _media(client, still.id)
            [doc] = await _documents(client, still.id)
            assert _shapes(doc) == (ARROW, LABEL, OUTLINE, LENGTH)
            assert doc["context"]["related"][0]["reference"] == f"Media/{media['id']}"
            assert doc["subject"]["reference"].startswith("Patient/")
            assert doc["context"]["encounter"][0]["reference"].startswith("Encounter/")
            picture = _rendering(doc)
            assert max(picture.size) <= am.RENDER_LONG_SIDE
            sx = picture.width / still.metadata["width_px"]  # type: ignore[operator]
            r, g, b = picture.getpixel((round(250 * sx), round(200 * sx)))  # on the arrow
            assert r > 200 and g > 170 and b < 90, (r, g, b)  # burnt in, yellow
            # The still is never changed: not here, not on the server.
            data = await store.transact(repository.attachment_data, still.id)
            assert hashlib.sha256(data).hexdigest() == still.sha256
            kind, binary_id = media["content"]["url"].split("/")[-2:]
            binary = await client.read(kind, binary_id)
            assert hashlib.sha256(base64.b64decode(binary["data"])).hexdigest() == still.sha256

            # A new version replaces the previous one on the server (same record).
            await service.save(still.id, 1, [ARROW])
            report = await SyncEngine(store).sync_once(client)
            assert report.failed == 0 and report.conflicts == 0, report.reasons
            [again] = await _documents(client, still.id)
            assert again["id"] == doc["id"]
            assert again["meta"]["versionId"] != doc["meta"]["versionId"]
            assert _shapes(again) == (ARROW,)
            assert (await SyncEngine(store).sync_once(client)).sent == 0
            assert len(await _media(client, still.id)) == 1

            # Retention: a synced annotated visit leaves the local cache like any other.
            purged = await store.transact(
                repository.purge_synced, "test", "2999-01-01T00:00:00+00:00"
            )
            assert purged == 1
        await store.close()

    run(scenario())


def test_a_lost_acknowledgement_never_duplicates_the_document(
    fresh_profile: Path, fhir_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server applies the write and the answer is lost: for the create (then found by
    its identifier: ours) and for an update edited again before the next round (then a
    412 on the old version, the server's copy recognised as ours, the newer one sent)."""
    lose = {"on": False}
    real_tx, real_batch = FhirClient.transaction, FhirClient.batch

    def losing(real: Any) -> Any:
        async def send(self: FhirClient, bundle: dict[str, Any], **kw: Any) -> dict[str, Any]:
            answer: dict[str, Any] = await real(self, bundle, **kw)
            kinds = {e.get("resource", {}).get("resourceType") for e in bundle["entry"]}
            if lose["on"] and kinds == {"DocumentReference"}:
                lose["on"] = False
                raise SyncRetryableError(reason="network error (lost answer)")
            return answer

        return send

    monkeypatch.setattr(FhirClient, "transaction", losing(real_tx))
    monkeypatch.setattr(FhirClient, "batch", losing(real_batch))

    async def scenario() -> None:
        store, still, service = await _setup(fresh_profile)
        async with FhirClient(fhir_server.base_url, timeout=60) as client:
            await service.save(still.id, 0, [ARROW])
            lose["on"] = True
            with pytest.raises(SyncRetryableError):
                await SyncEngine(store).sync_once(client)
            assert len(await _documents(client, still.id)) == 1  # the server has it
            report = await SyncEngine(store).sync_once(client)
            assert report.failed == 0 and report.conflicts == 0, report.reasons
            assert await store.outbox_size() == 0

            await service.save(still.id, 1, [ARROW, LABEL])
            lose["on"] = True
            with pytest.raises(SyncRetryableError):
                await SyncEngine(store).sync_once(client)
            await service.save(still.id, 2, [ARROW, LABEL, OUTLINE])  # edited again
            report = await SyncEngine(store).sync_once(client)
            assert report.failed == 0 and report.conflicts == 0, report.reasons
            assert await store.transact(queue.waiting) == {
                "waiting": 0,
                "failed": 0,
                "conflicts": 0,
            }
            [doc] = await _documents(client, still.id)
            assert _shapes(doc) == (ARROW, LABEL, OUTLINE)
        await store.close()

    run(scenario())


def test_a_colleagues_version_is_a_conflict_and_never_overwritten(
    fresh_profile: Path, fhir_server: Any
) -> None:
    async def scenario() -> None:
        store, still, service = await _setup(fresh_profile)
        sync_queue = StoreSyncQueue(store)
        async with FhirClient(fhir_server.base_url, timeout=60) as client:
            await service.save(still.id, 0, [ARROW])
            assert (await SyncEngine(store).sync_once(client)).failed == 0
            [doc] = await _documents(client, still.id)
            await _colleague_writes(client, doc, [OUTLINE])

            await service.save(still.id, 1, [ARROW, LABEL])
            report = await SyncEngine(store).sync_once(client)
            assert report.conflicts == 1, report.reasons
            [theirs] = await _documents(client, still.id)
            assert _shapes(theirs) == (OUTLINE,)  # not overwritten
            overview = await sync_queue.overview()
            [item] = overview.open_conflicts
            assert item.label == "Annotations · Lens, Ada"
            assert item.encounter_id == still.encounter_id
            assert (await SyncEngine(store).sync_once(client)).sent == 0  # waits for the user

            # Keep mine: ours goes up over their version (a decision, audited).
            await sync_queue.resolve_conflict(item.conflict.id, Resolution.KEEP_MINE)
            report = await SyncEngine(store).sync_once(client)
            assert report.failed == 0 and report.conflicts == 0, report.reasons
            [mine] = await _documents(client, still.id)
            assert _shapes(mine) == (ARROW, LABEL)

            # Again, and keep theirs: their shapes become the newest local version.
            await _colleague_writes(client, mine, [LENGTH])
            await service.save(still.id, 2, [ARROW])
            assert (await SyncEngine(store).sync_once(client)).conflicts == 1
            [item] = (await sync_queue.overview()).open_conflicts
            await sync_queue.resolve_conflict(item.conflict.id, Resolution.KEEP_THEIRS)
            latest = await service.latest(still.id)
            assert latest.version == 4 and latest.shapes == (LENGTH,)
            assert [v.shapes for v in await service.history(still.id)][2] == (ARROW,)
            assert (await SyncEngine(store).sync_once(client)).sent == 0
            [final] = await _documents(client, still.id)
            assert _shapes(final) == (LENGTH,)
        await store.close()

    run(scenario())


def test_a_colleagues_layer_created_first_is_a_conflict_not_adopted(
    fresh_profile: Path, fhir_server: Any
) -> None:
    """Another console annotated the same still and synced first: our conditional create
    answers 200 with their content, which is a conflict (not an acknowledgement)."""

    async def scenario() -> None:
        store, still, service = await _setup(fresh_profile)
        async with FhirClient(fhir_server.base_url, timeout=60) as client:
            assert (await SyncEngine(store).sync_once(client)).failed == 0  # the still
            await service.save(still.id, 0, [ARROW])
            colleague = await service.latest(still.id)
            await store.transact(
                lambda c: c.execute("DELETE FROM outbox WHERE entity_type = 'annotation'")
            )
            # The colleague's document: same identifier (derived from the still), other shapes.
            [media] = await _media(client, still.id)
            other = type(colleague)(still.id, 1, (OUTLINE,), colleague.saved_at, "colleague")
            resource = am.annotation_resource(
                layer=other,
                still=still,
                rendering=b"\xff\xd8\xff\xd9",
                shapes_json=am.shapes_document(other, still, None),
                patient_server_id=media["subject"]["reference"].split("/")[-1],
                encounter_server_id=media["encounter"]["reference"].split("/")[-1],
                media_server_id=media["id"],
            )
            await client.transaction(
                {
                    "resourceType": "Bundle",
                    "type": "transaction",
                    "entry": [
                        {
                            "resource": resource,
                            "request": {"method": "POST", "url": "DocumentReference"},
                        }
                    ],
                }
            )
            await service.save(still.id, 1, [ARROW, LABEL])
            report = await SyncEngine(store).sync_once(client)
            assert report.conflicts == 1, report.reasons
            [doc] = await _documents(client, still.id)
            assert _shapes(doc) == (OUTLINE,)
        await store.close()

    run(scenario())


def test_kill_minus_9_during_annotation_sync(fresh_profile: Path, fhir_server: Any) -> None:
    """Real SIGKILL at random points while versions are saved and synced; then one clean
    sync: one DocumentReference holding the latest local version, no conflict (every
    version on the server was ours). Seed: KILL9_ANNOTATION_SEED."""
    seed = int(os.environ.get("KILL9_ANNOTATION_SEED", random.SystemRandom().randrange(1 << 30)))
    rng = random.Random(seed)
    print(f"kill -9 annotation sync seed {seed}")

    async def prepare() -> None:
        store, _still, _service = await _setup(fresh_profile)
        await store.close()

    run(prepare())
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    for cycle in range(KILL9_CYCLES):
        child = subprocess.Popen(
            [
                sys.executable,
                str(CHILD),
                str(fresh_profile),
                fhir_server.base_url,
                str(rng.random())[2:],
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert child.stdout is not None and child.stderr is not None
        assert child.stdout.readline().strip() == "ready", (
            f"cycle {cycle}: child failed: {child.stderr.read()}"
        )
        # A random delay before SIGKILL (not synchronisation: the event is never set).
        threading.Event().wait(rng.uniform(0.3, 2.5))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)

    async def verify() -> None:
        store = await open_test_store(fresh_profile)
        enc = (await store.list_encounters())[0].encounter
        [still] = await store.list_attachments(enc.id)
        service = AnnotationsService(StoreAnnotations(store))
        async with FhirClient(fhir_server.base_url, timeout=30) as client:
            report = await SyncEngine(store).sync_once(client)
            assert report.failed == 0 and report.conflicts == 0, report.reasons
            assert await store.transact(queue.waiting) == {
                "waiting": 0,
                "failed": 0,
                "conflicts": 0,
            }
            latest = await service.latest(still.id)
            assert latest.version >= 1, "the child saved versions"
            [doc] = await _documents(client, still.id)
            assert _shapes(doc) == latest.shapes
            assert len(await _media(client, still.id)) == 1
            print(f"{KILL9_CYCLES} kills; {latest.version} versions; one document")
        await store.close()

    run(verify())
