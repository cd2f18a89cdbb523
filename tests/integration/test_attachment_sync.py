"""Attachments sync to the real FHIR server (SEKMET) as Binary + Media (+ Observation), once."""

from __future__ import annotations

import base64
import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from app.errors import StoreError
from app.records import Attachment, Encounter, Patient, new_id, utc_now
from storage.fhir import media_mapping
from storage.fhir.client import FhirClient
from storage.store import EncryptedStore
from storage.sync import queue
from storage.sync.engine import SyncEngine, _attachment_bundle, full_url
from tests.conftest import open_test_store, run
from tests.integration.sekmet import SekmetServer
from tests.unit.test_attachments import HEART, PNG_1PX, wav_bytes

pytestmark = pytest.mark.integration

IDENT = "urn:ietf:rfc:3986|urn:uuid:"
KILL9_CYCLES = int(os.environ.get("KILL9_ATTACH_CYCLES", "25"))
CHILD = Path(__file__).with_name("attachment_sync_child.py")


async def _seed(store: EncryptedStore) -> Encounter:
    patient = await store.add_patient(Patient(new_id(), "Auscult", "Wren", "1948-08-08"))
    enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now(), reason="murmur"))
    await store.create_note(enc.id, "Plan:\nlisten again")
    return enc


async def _search(client: FhirClient, rtype: str, params: dict[str, str]) -> list[dict[str, Any]]:
    return [r async for r in client.search(rtype, params)]


async def _by_identifier(client: FhirClient, rtype: str, local_id: str) -> list[dict[str, Any]]:
    return await _search(client, rtype, {"identifier": IDENT + local_id})


async def _server_state(client: FhirClient, att: Attachment) -> tuple[int, int, int]:
    """How many Media, Observations and Binary versions the server holds for ``att``."""
    media = await _by_identifier(client, "Media", att.id)
    observations = (
        await _by_identifier(client, "Observation", att.observation_id)
        if att.observation_id
        else []
    )
    binaries = await _search(client, "Binary", {"_id": media_mapping.binary_id(att.id)})
    return len(media), len(observations), len(binaries)


def _fmt(server_ids: dict[str, str]) -> Any:
    def fmt(rtype: str, local_id: str) -> str:
        if rtype == "Binary":
            return f"Binary/{local_id}"
        if rtype == "Media":
            return full_url("Media", local_id)
        return f"{rtype}/{server_ids[rtype]}"

    return fmt


def test_audio_with_heart_rate_syncs_once_with_resolving_references(
    fresh_profile: Path, sekmet: SekmetServer
) -> None:
    data = wav_bytes(2.0, 48_000)  # ~190 KB

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        enc = await _seed(store)
        att = await store.add_attachment(
            enc.id, "audio", "audio/wav", data, "Mitral, bell", dict(HEART)
        )
        still = await store.add_attachment(
            enc.id, "image", "image/png", PNG_1PX, "", {"width_px": 1, "height_px": 1}
        )
        async with FhirClient(sekmet.base_url, timeout=30) as client:
            report = await SyncEngine(store).sync_once(client)
            assert report.failed == 0, report.reasons
            assert await store.transact(queue.waiting) == {
                "waiting": 0,
                "failed": 0,
                "conflicts": 0,
            }
            assert await _server_state(client, att) == (1, 1, 1)
            assert await _server_state(client, still) == (1, 0, 1)

            patient_ref = await store.transact(queue.remote_ref, "patient", enc.patient_id)
            encounter_ref = await store.transact(queue.remote_ref, "encounter", enc.id)
            media_ref = await store.transact(queue.remote_ref, "attachment", att.id)
            assert patient_ref and encounter_ref and media_ref

            [media] = await _by_identifier(client, "Media", att.id)
            assert media["id"] == media_ref.server_id
            assert media["status"] == "completed"
            assert media["type"]["coding"][0]["code"] == "audio"
            assert media["subject"]["reference"] == f"Patient/{patient_ref.server_id}"
            assert media["encounter"]["reference"] == f"Encounter/{encounter_ref.server_id}"
            # The references resolve: each target can be read from the server.
            await client.read("Patient", patient_ref.server_id)
            await client.read("Encounter", encounter_ref.server_id)
            binary_type, binary_id = media["content"]["url"].split("/")
            assert binary_type == "Binary"
            binary = await client.read("Binary", binary_id)
            assert base64.b64decode(binary["data"]) == data
            assert binary["contentType"] == media["content"]["contentType"] == "audio/wav"
            assert media["content"]["size"] == len(data)

            [obs] = await _by_identifier(client, "Observation", att.observation_id)
            assert obs["code"]["coding"][0]["code"] == "8867-4"
            assert obs["valueQuantity"]["value"] == 72.4
            assert obs["valueQuantity"]["code"] == "/min"
            assert obs["derivedFrom"][0]["reference"] == f"Media/{media['id']}"
            assert obs["subject"]["reference"] == f"Patient/{patient_ref.server_id}"
            assert obs["encounter"]["reference"] == f"Encounter/{encounter_ref.server_id}"

            # A second sync sends nothing and duplicates nothing.
            again = await SyncEngine(store).sync_once(client)
            assert again.sent == 0
            assert await _server_state(client, att) == (1, 1, 1)

            # kill -9 style: the same Bundle arrives again (the console died after
            # sending it, before recording the acknowledgement).
            server_ids = {"Patient": patient_ref.server_id, "Encounter": encounter_ref.server_id}
            bundle = _attachment_bundle(att, data, enc.patient_id, _fmt(server_ids))
            response = await client.transaction(bundle)
            statuses = [e["response"]["status"].split()[0] for e in response["entry"]]
            assert statuses[1:] == ["200", "200"], "Media and Observation found, not created"
            assert await _server_state(client, att) == (1, 1, 1)
            [media_again] = await _by_identifier(client, "Media", att.id)
            assert media_again["id"] == media["id"]
        await store.close()

    run(scenario())


def test_lost_acknowledgement_is_resent_without_duplicates(
    fresh_profile: Path, sekmet: SekmetServer
) -> None:
    """The server stored the attachment's Bundle but the console never recorded it."""
    data = wav_bytes(0.5, 8000)

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        enc = await _seed(store)
        async with FhirClient(sekmet.base_url, timeout=30) as client:
            assert (await SyncEngine(store).sync_once(client)).failed == 0
            att = await store.add_attachment(enc.id, "audio", "audio/wav", data, "", dict(HEART))
            patient_ref = await store.transact(queue.remote_ref, "patient", enc.patient_id)
            encounter_ref = await store.transact(queue.remote_ref, "encounter", enc.id)
            server_ids = {"Patient": patient_ref.server_id, "Encounter": encounter_ref.server_id}
            # What the engine would send, sent with no acknowledgement recorded here.
            await client.transaction(
                _attachment_bundle(att, data, enc.patient_id, _fmt(server_ids))
            )
            assert await store.transact(queue.remote_ref, "attachment", att.id) is None
            report = await SyncEngine(store).sync_once(client)
            assert (report.sent, report.acknowledged, report.failed) == (1, 1, 0)
            assert await _server_state(client, att) == (1, 1, 1)
            [media] = await _by_identifier(client, "Media", att.id)
            ref = await store.transact(queue.remote_ref, "attachment", att.id)
            assert ref is not None and ref.server_id == media["id"]
            assert await store.transact(queue.waiting) == {
                "waiting": 0,
                "failed": 0,
                "conflicts": 0,
            }
        await store.close()

    run(scenario())


def test_attachment_waits_for_an_encounter_the_server_refused(
    fresh_profile: Path, sekmet: SekmetServer
) -> None:
    """An attachment whose encounter is not on the server stays queued (no dangling refs)."""

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        enc = await _seed(store)
        att = await store.add_attachment(enc.id, "audio", "audio/wav", wav_bytes())

        def refuse_encounter(conn: Any) -> None:
            # As if the server refused the encounter: failed, not retried until it changes.
            conn.execute(
                "UPDATE outbox SET failed_revision = revision, last_error = 'refused' "
                "WHERE entity_type = 'encounter'"
            )

        await store.transact(refuse_encounter)
        async with FhirClient(sekmet.base_url, timeout=30) as client:
            report = await SyncEngine(store).sync_once(client)
            assert await _by_identifier(client, "Media", att.id) == []
        assert report.acknowledged == 1  # the patient only
        failures = await store.transact(queue.failures)
        assert ("attachment", att.id) in [(f[0], f[1]) for f in failures]
        await store.close()

    run(scenario())


async def _count_all(client: FhirClient, rtype: str) -> int:
    return len(await _search(client, rtype, {"_count": "500"}))


@pytest.mark.slow
def test_kill_minus_9_during_attachment_sync(fresh_profile: Path, sekmet: SekmetServer) -> None:
    """Real SIGKILL at random points while clips are recorded and synced; then one clean sync.

    Every clip must be on the server exactly once (one Media, one Observation, one
    Binary) and nothing else may have been created. The seed is printed for replay
    (KILL9_ATTACH_SEED).
    """
    seed = int(os.environ.get("KILL9_ATTACH_SEED", random.SystemRandom().randrange(1 << 30)))
    rng = random.Random(seed)
    print(f"kill -9 attachment sync seed {seed}")

    async def prepare() -> dict[str, int]:
        store = await open_test_store(fresh_profile)
        await _seed(store)
        await store.close()
        async with FhirClient(sekmet.base_url, timeout=30) as client:
            return {t: await _count_all(client, t) for t in ("Binary", "Media", "Observation")}

    before = run(prepare())
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    for cycle in range(KILL9_CYCLES):
        child = subprocess.Popen(
            [
                sys.executable,
                str(CHILD),
                str(fresh_profile),
                sekmet.base_url,
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
        threading.Event().wait(rng.uniform(0.0, 0.8))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)

    async def verify() -> None:
        store = await open_test_store(fresh_profile)
        async with FhirClient(sekmet.base_url, timeout=30) as client:
            report = await SyncEngine(store).sync_once(client)
            assert report.failed == 0, report.reasons
            assert await store.transact(queue.waiting) == {
                "waiting": 0,
                "failed": 0,
                "conflicts": 0,
            }
            enc = (await store.list_encounters())[0].encounter
            clips = await store.list_attachments(enc.id)
            assert clips, "the child recorded clips"
            wrong = {
                a.id: state for a in clips if (state := await _server_state(client, a)) != (1, 1, 1)
            }
            assert wrong == {}, f"{len(wrong)} of {len(clips)} clips not on the server once"
            after = {t: await _count_all(client, t) for t in ("Binary", "Media", "Observation")}
            made = {t: after[t] - before[t] for t in after}
            assert made == {"Binary": len(clips), "Media": len(clips), "Observation": len(clips)}
            print(f"{KILL9_CYCLES} kills; {len(clips)} clips on the server exactly once")
        await store.close()

    run(verify())


def test_a_still_whose_acknowledgement_was_lost_is_not_duplicated_on_either_server(
    fresh_profile: Path, fhir_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SEKMET writes the Binary to a fixed id (update-as-create); Medplum has no
    update-as-create, so the Binary is a plain create and the Media is looked for before
    a resend. Either way: one Media, its Binary holds the bytes, nothing sent twice."""

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        enc = await _seed(store)
        data = PNG_1PX
        att = await store.add_attachment(enc.id, "image", "image/png", data, "Still")
        real = queue.acknowledge

        def lost(conn: Any, item: Any, ref: Any) -> bool:
            if item.entity_type == "attachment":
                raise ConnectionResetError("simulated: acknowledgement lost")
            return real(conn, item, ref)

        async with FhirClient(fhir_server.base_url, timeout=30) as client:
            monkeypatch.setattr(queue, "acknowledge", lost)
            # The store reports the failed transaction as a StoreError; nothing was recorded.
            with pytest.raises(StoreError):
                await SyncEngine(store).sync_once(client)
            monkeypatch.setattr(queue, "acknowledge", real)
            report = await SyncEngine(store).sync_once(client)
            assert report.failed == 0 and await store.outbox_size() == 0
            [media] = await _by_identifier(client, "Media", att.id)
            binary_type, binary_id = media["content"]["url"].split("/")[-2:]
            assert binary_type == "Binary"
            binary = await client.read("Binary", binary_id)
            assert base64.b64decode(binary["data"]) == data
            ref = await store.transact(queue.remote_ref, "attachment", att.id)
            assert ref is not None and ref.server_id == media["id"]
            assert (await SyncEngine(store).sync_once(client)).sent == 0
        await store.close()

    run(scenario())
