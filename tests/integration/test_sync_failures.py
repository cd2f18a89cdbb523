"""The failures of issue 11, each against both real FHIR servers (SEKMET and Medplum).

Every test here failed on the engine before the acknowledgement model was rebuilt; the
server that showed it is named in each docstring.
"""

from __future__ import annotations

import base64
import contextlib
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.records import Encounter, Patient, new_id, utc_now
from storage.fhir.client import FhirClient
from storage.store import EncryptedStore
from storage.sync import queue
from storage.sync.engine import SyncEngine, SyncReport
from tests.conftest import open_test_store, run

pytestmark = pytest.mark.integration
SYSTEM = "urn:ietf:rfc:3986"
MRN_SYSTEM = "https://hospital.example/mrn"


async def _seed(store: EncryptedStore, notes: int, tag: str, mrn: str = "") -> list[str]:
    patient = await store.add_patient(
        Patient(new_id(), f"Fail{tag}", "Test", "1970-01-01", mrn=mrn)
    )
    enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now(), reason=tag))
    return [(await store.create_note(enc.id, f"Plan:\n{tag} {i}")).id for i in range(notes)]


def _by_identifier(base: str, resource_type: str, local_id: str) -> list[dict[str, Any]]:
    found = httpx.get(
        f"{base}/{resource_type}",
        params={"identifier": f"{SYSTEM}|urn:uuid:{local_id}"},
        timeout=10,
    ).json()
    return [e["resource"] for e in found.get("entry", [])]


def _text(resource: dict[str, Any]) -> str:
    return base64.b64decode(resource["content"][0]["attachment"]["data"]).decode()


def _put_text(base: str, server_id: str, text: str) -> None:
    """A colleague edits the note on the server (plain REST, no console)."""
    current = httpx.get(f"{base}/DocumentReference/{server_id}", timeout=10).json()
    current["content"][0]["attachment"]["data"] = base64.b64encode(text.encode()).decode()
    current["content"][0]["attachment"].pop("hash", None)
    current["content"][0]["attachment"].pop("size", None)
    httpx.put(f"{base}/DocumentReference/{server_id}", json=current, timeout=10).raise_for_status()


async def _sync(store: EncryptedStore, base: str, **kwargs: Any) -> SyncReport:
    async with FhirClient(base, timeout=30) as client:
        return await SyncEngine(store, **kwargs).sync_once(client)


async def _push_losing_the_ack(store: EncryptedStore, base: str) -> None:
    """One push whose acknowledgement never arrives: the server commits, the console
    hears nothing (kill -9, a cut link), so its outbox is unchanged."""
    engine = SyncEngine(store)

    async def lost(*_args: Any) -> None:
        raise ConnectionResetError("simulated: acknowledgement lost after the server stored it")

    engine._acknowledge = lost  # type: ignore[method-assign]
    async with FhirClient(base, timeout=30) as client:
        with pytest.raises(ConnectionResetError):
            await engine.push(client, SyncReport())


def test_lost_acknowledgement_then_an_edit_reaches_the_server(
    fresh_profile: Path, fhir_server: Any
) -> None:
    """Old engine: the retried conditional create was answered 200 and taken as success;
    the outbox row went, the edit never left (SEKMET and Medplum)."""
    base = fhir_server.base_url

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        (note_id,) = await _seed(store, 1, "lostedit")
        await _push_losing_the_ack(store, base)
        assert (await store.transact(queue.waiting))["waiting"] == 3
        await store.save_note_text(note_id, "Plan:\nedited after the lost acknowledgement")
        report = await _sync(store, base)
        assert report.failed == 0 and report.conflicts == 0
        assert await store.outbox_size() == 0
        [on_server] = _by_identifier(base, "DocumentReference", note_id)  # exactly once
        assert _text(on_server) == (await store.open_note(note_id)).text
        # The identifier is stored as sent (a server rewriting fullUrls left it alone).
        assert on_server["identifier"][0]["value"] == f"urn:uuid:{note_id}"
        await store.close()

    run(scenario())


def test_a_colleague_restoring_an_earlier_wording_is_a_conflict(
    fresh_profile: Path, fhir_server: Any
) -> None:
    """Old engine (``is_own_text``: any text the note ever held): the colleague's change
    was taken for our own write and pushed over without a conflict (both servers)."""
    base = fhir_server.base_url

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        (note_id,) = await _seed(store, 1, "restore")
        first = (await store.open_note(note_id)).text
        await _sync(store, base)
        await store.save_note_text(note_id, "Plan:\nsecond wording")
        await _sync(store, base)
        ref = await store.transact(queue.remote_ref, "note", note_id)
        _put_text(base, ref.server_id, first)  # a colleague puts the first wording back
        await store.save_note_text(note_id, "Plan:\nthird wording, written here offline")
        report = await _sync(store, base)
        assert report.conflicts == 1
        [conflict] = await store.transact(queue.open_conflicts, note_id)
        assert conflict.server_text == first
        [on_server] = _by_identifier(base, "DocumentReference", note_id)
        assert _text(on_server) == first, "the colleague's change was written over"
        await store.close()

    run(scenario())


def test_pull_binds_by_server_id_not_by_identifier(fresh_profile: Path, fhir_server: Any) -> None:
    """Old engine: a DocumentReference for another patient that carried our note's
    identifier replaced our note's text (both servers)."""
    base = fhir_server.base_url

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        (note_id,) = await _seed(store, 1, "bind")
        await _sync(store, base)
        mine = (await store.open_note(note_id)).text
        other = httpx.post(
            f"{base}/Patient",
            json={"resourceType": "Patient", "name": [{"family": "Other"}]},
            timeout=10,
        ).json()["id"]
        foreign = {
            "resourceType": "DocumentReference",
            "status": "current",
            "identifier": [{"system": SYSTEM, "value": f"urn:uuid:{note_id}"}],
            "subject": {"reference": f"Patient/{other}"},
            "content": [
                {
                    "attachment": {
                        "contentType": "text/plain; charset=utf-8",
                        "data": base64.b64encode(b"someone else's note").decode(),
                    }
                }
            ],
        }
        httpx.post(f"{base}/DocumentReference", json=foreign, timeout=10).raise_for_status()
        await _sync(store, base)
        assert (await store.open_note(note_id)).text == mine
        await store.close()

    run(scenario())


def test_a_patient_already_on_the_server_is_linked_not_duplicated(
    fresh_profile: Path, fhir_server: Any
) -> None:
    """Old engine: matched only by our own identifier, so a patient registered on the
    server with the same MRN became a second Patient (both servers)."""
    base = fhir_server.base_url
    mrn = f"M{uuid.uuid4().hex[:10]}"
    existing = httpx.post(
        f"{base}/Patient",
        json={
            "resourceType": "Patient",
            "identifier": [{"system": MRN_SYSTEM, "value": mrn}],
            "name": [{"family": "Registered"}],
        },
        timeout=10,
    ).json()["id"]
    twice = f"T{uuid.uuid4().hex[:10]}"
    for _ in range(2):
        httpx.post(
            f"{base}/Patient",
            json={
                "resourceType": "Patient",
                "identifier": [{"system": MRN_SYSTEM, "value": twice}],
            },
            timeout=10,
        ).raise_for_status()

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        await _seed(store, 1, "mrn", mrn=mrn)
        report = await _sync(store, base, patient_identifier_system=MRN_SYSTEM)
        assert report.failed == 0 and await store.outbox_size() == 0
        found = httpx.get(
            f"{base}/Patient", params={"identifier": f"{MRN_SYSTEM}|{mrn}"}, timeout=10
        ).json()
        assert [e["resource"]["id"] for e in found.get("entry", [])] == [existing]
        # The visit and note refer to the existing Patient.
        (visit,) = [v for v in await store.list_encounters() if v.encounter.reason == "mrn"]
        enc_ref = await store.transact(queue.remote_ref, "encounter", visit.encounter.id)
        encounter = httpx.get(f"{base}/Encounter/{enc_ref.server_id}", timeout=10).json()
        assert encounter["subject"]["reference"] == f"Patient/{existing}"

        # Two server patients share the MRN: never merged, it waits for a decision.
        await _seed(store, 1, "ambiguous", mrn=twice)
        report = await _sync(store, base, patient_identifier_system=MRN_SYSTEM)
        failures = await store.transact(queue.failures)
        assert any(
            kind == "patient" and "needs a decision" in why for kind, _i, why, _n in failures
        )
        assert report.failed >= 1
        await store.close()

    run(scenario())


def test_notes_of_an_appointment_visit_reference_its_encounter(
    fresh_profile: Path, fhir_server: Any
) -> None:
    """Old engine: a visit pulled from an Appointment had no Encounter on the server, so
    its notes were sent with a dangling reference (refused) (both servers)."""
    base = fhir_server.base_url
    now = datetime.now(UTC).replace(microsecond=0, minute=0)
    practitioner = (
        "Practitioner/"
        + httpx.post(
            f"{base}/Practitioner",
            json={"resourceType": "Practitioner", "name": [{"family": "Appt"}]},
            timeout=10,
        ).json()["id"]
    )
    patient = httpx.post(
        f"{base}/Patient",
        json={"resourceType": "Patient", "name": [{"family": "Appointed"}]},
        timeout=10,
    ).json()["id"]
    httpx.post(
        f"{base}/Appointment",
        json={
            "resourceType": "Appointment",
            "status": "booked",
            "start": now.isoformat(),
            "end": now.replace(minute=30).isoformat(),
            "description": "Appointment visit",
            "participant": [
                {"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"},
                {"actor": {"reference": practitioner}, "status": "accepted"},
            ],
        },
        timeout=10,
    ).raise_for_status()

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        assert (await _sync(store, base, practitioner=practitioner)).pulled == 1
        (visit,) = await store.list_encounters()
        note = await store.create_note(visit.encounter.id, "Plan:\nseen by video")
        report = await _sync(store, base, practitioner=practitioner)
        assert report.failed == 0 and await store.outbox_size() == 0
        enc_ref = await store.transact(queue.remote_ref, "encounter", visit.encounter.id)
        assert enc_ref is not None, "the visit's Encounter was created"
        [doc] = _by_identifier(base, "DocumentReference", note.id)
        assert doc["context"]["encounter"][0]["reference"] == f"Encounter/{enc_ref.server_id}"
        assert doc["subject"]["reference"] == f"Patient/{patient}"
        encounter = httpx.get(f"{base}/Encounter/{enc_ref.server_id}", timeout=10).json()
        assert encounter["subject"]["reference"] == f"Patient/{patient}"
        assert (await _sync(store, base, practitioner=practitioner)).sent == 0
        await store.close()

    run(scenario())


def test_a_transient_local_error_does_not_move_the_checkpoint_past_a_change(
    fresh_profile: Path, fhir_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Old engine: a store error (disk full, locked) while applying one pulled note was
    skipped like a bad record, and a later change moved the checkpoint past it for good
    (both servers)."""
    from app.errors import DiskFullError

    base = fhir_server.base_url

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        first, second = await _seed(store, 2, "checkpoint")
        await _sync(store, base)
        refs = [await store.transact(queue.remote_ref, "note", n) for n in (first, second)]
        _put_text(base, refs[0].server_id, "Plan:\nfirst, changed by a colleague")
        _put_text(base, refs[1].server_id, "Plan:\nsecond, changed later")
        real = queue.apply_pulled_note

        def disk_full(conn: Any, actor: str, note_id: str, *args: Any) -> str:
            if note_id == first:
                raise DiskFullError()
            return real(conn, actor, note_id, *args)

        monkeypatch.setattr(queue, "apply_pulled_note", disk_full)
        with contextlib.suppress(DiskFullError):  # reported; the background loop retries
            await _sync(store, base)
        monkeypatch.setattr(queue, "apply_pulled_note", real)
        await _sync(store, base)
        assert (await store.open_note(first)).text.startswith("Plan:\nfirst, changed")
        assert (await store.open_note(second)).text.startswith("Plan:\nsecond, changed")
        await store.close()

    run(scenario())


def test_retention_removes_only_old_fully_synced_visits(
    fresh_profile: Path, fhir_server: Any
) -> None:
    """Old engine: nothing ever left the local cache (a stolen cart held every visit)."""
    from datetime import timedelta

    base = fhir_server.base_url
    old_start = (datetime.now(UTC) - timedelta(days=30)).isoformat(timespec="seconds")

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        patient = await store.add_patient(Patient(new_id(), "Retain", "Test", "1960-01-01"))
        old = await store.add_encounter(Encounter(new_id(), patient.id, old_start, "finished"))
        kept_old = await store.add_encounter(Encounter(new_id(), patient.id, old_start, "finished"))
        recent = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
        await store.create_note(old.id, "Plan:\nold and synced")
        unsent = await store.create_note(kept_old.id, "Plan:\nold, edited after the sync")
        await store.create_note(recent.id, "Plan:\nthis week")
        await _sync(store, base)  # no retention: everything synced, everything kept
        assert len(await store.list_encounters()) == 3
        await store.save_note_text(unsent.id, "Plan:\nold, edit not sent yet")

        async with FhirClient(base, timeout=30) as client:
            engine = SyncEngine(store, retention_days=7)
            await engine.pull(client, SyncReport())  # pull only: the edit stays unsent
            from storage import repository

            today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            cutoff = (today - timedelta(days=7)).isoformat()
            removed = await store.transact(repository.purge_synced, store.actor, cutoff)
        assert removed == 1
        left = {v.encounter.id for v in await store.list_encounters()}
        assert left == {kept_old.id, recent.id}, "unsent changes and this week's visits stay"
        # Sent later, then removed by the next sync's retention step.
        report = await _sync(store, base, retention_days=7)
        assert report.purged == 1
        assert {v.encounter.id for v in await store.list_encounters()} == {recent.id}
        assert (await store.get_patient(patient.id)).id == patient.id  # still has a visit
        audited = await store.transact(
            lambda conn: conn.execute(
                "SELECT count(*) FROM audit_log WHERE action = 'retention_purge'"
            ).fetchone()[0]
        )
        assert audited == 2
        await store.close()

    run(scenario())
