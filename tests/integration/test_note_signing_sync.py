"""Signed notes, addenda and their Provenance reach both FHIR servers exactly once,
through lost replies and crashes, and verify there as another console would."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.errors import StoreError
from app.records import Encounter, NoteStatus, Patient, new_id, utc_now
from storage.fhir.client import FhirClient
from storage.fhir.provenance import verify_from_fhir
from storage.store import EncryptedStore
from storage.sync import queue
from storage.sync.engine import SyncEngine, SyncReport, local_uuid_of, note_text_of
from tests.conftest import env_without_keyring, open_test_store, run
from tests.signing_support import MemoryKeys, signing

pytestmark = pytest.mark.integration


def _verify_elsewhere(tmp: Path, base_url: str, note_id: str) -> tuple[int, dict[str, Any]]:
    """``note verify --record-store`` from another console: a fresh profile with no store
    and no keyring, only the record store's URL."""
    profile = tmp / "other-console"
    profile.mkdir(exist_ok=True)
    (profile / "settings.toml").write_text(f'[record_store]\nurl = "{base_url}"\n')
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "--profile",
            str(profile),
            "note",
            "verify",
            note_id,
            "--record-store",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env_without_keyring(),
    )
    return result.returncode, json.loads(result.stdout) if result.stdout else {}


async def _seed(store: EncryptedStore, text: str = "Plan:\nrest") -> str:
    patient = await store.add_patient(Patient(new_id(), "Signer", "Sam", "1970-03-03"))
    enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
    return (await store.create_note(enc.id, text)).id


async def _sync(store: EncryptedStore, base: str) -> SyncReport:
    async with FhirClient(base, timeout=30) as client:
        return await SyncEngine(store).sync_once(client)


async def _docs(client: FhirClient, local_id: str) -> list[dict[str, Any]]:
    from storage.sync.engine import IDENTIFIER_SYSTEM

    found = []
    params = {"identifier": f"{IDENTIFIER_SYSTEM}|urn:uuid:{local_id}"}
    async for resource in client.search("DocumentReference", params):
        found.append(resource)
    return found


async def _provenances(client: FhirClient, doc_id: str) -> list[dict[str, Any]]:
    found = []
    async for resource in client.search("Provenance", {"target": f"DocumentReference/{doc_id}"}):
        found.append(resource)
    return found


async def _one_signed(client: FhirClient, note_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    [doc] = await _docs(client, note_id)
    assert doc["docStatus"] == "final"
    [prov] = await _provenances(client, doc["id"])
    sig = prov["signature"][0]
    assert sig["sigFormat"] == "application/jose"
    token = base64.b64decode(sig["data"]).decode("ascii")
    assert token.count(".") == 2 and token.split(".")[1] == "", "a detached JWS"
    return doc, prov


def test_signed_note_and_addendum_reach_the_server_once_and_verify_there(
    fresh_profile: Path, fhir_server: Any, tmp_path: Path
) -> None:
    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        note_id = await _seed(store, "Plan:\nrest, fluids. Café 5 mg")
        keys = MemoryKeys()
        use = signing(store, keys)
        # Synced as a draft first, then signed: the final version is an update.
        assert (await _sync(store, fhir_server.base_url)).failed == 0
        await use.sign(note_id)
        added = await use.add_addendum(note_id, "Addendum: called back, better.")
        report = await _sync(store, fhir_server.base_url)
        assert report.failed == 0, report.reasons
        assert await store.outbox_size() == 0
        async with FhirClient(fhir_server.base_url, timeout=30) as client:
            doc, _prov = await _one_signed(client, note_id)
            addendum, _ = await _one_signed(client, added.note_id)
            [rel] = addendum["relatesTo"]
            assert rel["code"] == "appends"
            assert rel["target"]["reference"].endswith(f"DocumentReference/{doc['id']}")
            # Another console's view: rebuilt from the server's resources only.
            assert (await verify_from_fhir(client, keys, doc["id"])).ok
            assert (await verify_from_fhir(client, keys, addendum["id"])).ok
            # Nothing more to send; a further pass sends nothing.
            assert (await SyncEngine(store).sync_once(client)).sent == 0
            assert len(await _provenances(client, doc["id"])) == 1
        await store.close()
        return note_id

    note_id = run(scenario())
    code, report = _verify_elsewhere(tmp_path, fhir_server.base_url, note_id)
    assert code == 0 and report["ok"] and report["note_id"] == note_id, report


def test_a_provenance_whose_reply_was_lost_is_not_duplicated(
    fresh_profile: Path, fhir_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        note_id = await _seed(store)
        await signing(store).sign(note_id)
        real = queue.acknowledge

        def lost(conn: Any, item: Any, ref: Any) -> bool:
            if item.entity_type == "provenance":
                raise ConnectionResetError("simulated: the Provenance's reply was lost")
            return real(conn, item, ref)

        monkeypatch.setattr(queue, "acknowledge", lost)
        with pytest.raises(StoreError):
            await _sync(store, fhir_server.base_url)
        monkeypatch.setattr(queue, "acknowledge", real)
        assert (await store.transact(queue.waiting))["waiting"] == 1  # the Provenance
        report = await _sync(store, fhir_server.base_url)
        assert report.failed == 0 and await store.outbox_size() == 0
        async with FhirClient(fhir_server.base_url, timeout=30) as client:
            await _one_signed(client, note_id)  # exactly one DocumentReference, one Provenance
        await store.close()

    run(scenario())


def test_a_final_version_whose_reply_was_lost_is_no_conflict(
    fresh_profile: Path, fhir_server: Any
) -> None:
    """Draft synced; signed; the PUT of the final version reaches the server but its
    reply is lost. The next pass finds the server's copy is our signed note: no
    conflict, no second version, then the Provenance."""

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        note_id = await _seed(store)
        assert (await _sync(store, fhir_server.base_url)).failed == 0
        await signing(store).sign(note_id)
        engine = SyncEngine(store)

        async def lost(*_args: Any) -> None:
            raise ConnectionResetError("simulated: acknowledgement lost")

        engine._acknowledge = lost  # type: ignore[method-assign]
        async with FhirClient(fhir_server.base_url, timeout=30) as client:
            with pytest.raises(ConnectionResetError):
                await engine.push(client, SyncReport())
            report = await SyncEngine(store).sync_once(client)
            assert (report.failed, report.conflicts) == (0, 0), report.reasons
            assert await store.outbox_size() == 0
            await _one_signed(client, note_id)
        await store.close()

    run(scenario())


def test_signed_before_the_first_sync_and_the_store_reopened(
    fresh_profile: Path, fhir_server: Any
) -> None:
    """A crash after signing, before any sync: the store reopens with the note signed and
    both records queued; one sync sends the final note, then its Provenance."""

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        note_id = await _seed(store)
        keys = MemoryKeys()
        await signing(store, keys).sign(note_id)
        await store.close()
        store = await open_test_store(fresh_profile)
        report = await _sync(store, fhir_server.base_url)
        assert report.failed == 0 and await store.outbox_size() == 0
        async with FhirClient(fhir_server.base_url, timeout=30) as client:
            doc, _ = await _one_signed(client, note_id)
            assert (await verify_from_fhir(client, keys, doc["id"])).ok
        await store.close()

    run(scenario())


def test_a_server_change_to_a_signed_note_is_a_conflict_resolved_by_an_addendum(
    fresh_profile: Path, fhir_server: Any, tmp_path: Path
) -> None:
    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        note_id = await _seed(store, "Plan:\nsigned words")
        keys = MemoryKeys()
        use = signing(store, keys)
        await use.sign(note_id)
        assert (await _sync(store, fhir_server.base_url)).failed == 0
        async with FhirClient(fhir_server.base_url, timeout=30) as client:
            [doc] = await _docs(client, note_id)
            # Someone else edits the signed note on the record store.
            changed = dict(doc)
            changed["content"] = [
                {
                    "attachment": {
                        "contentType": "text/plain; charset=utf-8",
                        "data": base64.b64encode(b"Plan:\nedited elsewhere").decode(),
                    }
                }
            ]
            await client.update("DocumentReference", doc["id"], changed, None)
            # Another console sees that the note on the server no longer matches its signature.
            code, report = _verify_elsewhere(tmp_path, fhir_server.base_url, note_id)
            assert code == 1 and not report["ok"], report
            report = await SyncEngine(store).sync_once(client)
            assert report.conflicts == 1
            local = await store.open_note(note_id)
            assert local.status is NoteStatus.SIGNED and local.text == "Plan:\nsigned words"
            [conflict] = await store.transact(queue.open_conflicts, note_id)
            assert conflict.server_text == "Plan:\nedited elsewhere"
            added = await use.add_addendum(
                note_id,
                "Addendum: the change made elsewhere, reviewed.",
                resolves_conflict=conflict.id,
            )
            report = await SyncEngine(store).sync_once(client)
            assert (report.failed, report.conflicts) == (0, 0), report.reasons
            assert await store.outbox_size() == 0
            assert await store.transact(queue.open_conflicts, note_id) == []
            [doc] = await _docs(client, note_id)
            assert note_text_of(doc) == "Plan:\nsigned words" and doc["docStatus"] == "final"
            assert (await verify_from_fhir(client, keys, doc["id"])).ok
            [addendum] = await _docs(client, added.note_id)
            assert local_uuid_of(addendum) == added.note_id
            assert (await verify_from_fhir(client, keys, addendum["id"])).ok
        await store.close()

    run(scenario())


def test_a_signed_note_made_preliminary_on_the_server_goes_back_as_final(
    fresh_profile: Path, fhir_server: Any
) -> None:
    """Someone sets the signed note back to preliminary on the record store (same words):
    the next sync sends it again as signed."""

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        note_id = await _seed(store)
        await signing(store).sign(note_id)
        assert (await _sync(store, fhir_server.base_url)).failed == 0
        async with FhirClient(fhir_server.base_url, timeout=30) as client:
            [doc] = await _docs(client, note_id)
            await client.update(
                "DocumentReference", doc["id"], {**doc, "docStatus": "preliminary"}, None
            )
            report = await SyncEngine(store).sync_once(client)
            assert (report.failed, report.conflicts) == (0, 0), report.reasons
            if await store.outbox_size():  # queued by the pull: goes up on the next pass
                report = await SyncEngine(store).sync_once(client)
                assert report.failed == 0, report.reasons
            assert await store.outbox_size() == 0
            await _one_signed(client, note_id)
        await store.close()

    run(scenario())
