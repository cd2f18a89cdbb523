"""The accepted coding reaches both FHIR test servers (SEKMET and Medplum) exactly once:
a ChargeItem draft (status ``planned``) and the coded Encounter (class VR, type,
serviceType), through the outbox, with a lost acknowledgement, a changed coding and
a billing system that took the draft over in between."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from app.coding import (
    CodingService,
    Modality,
    PatientSetting,
    PatientStatus,
    Performer,
    VisitFacts,
    load_table,
)
from app.errors import StoreError, SyncRetryableError
from app.records import Encounter, Patient, new_id, utc_now
from storage.coding_store import StoreCoding
from storage.fhir.charge_item import CPT_SYSTEM, MODIFIER_URL, NPI_SYSTEM, POS_URL
from storage.fhir.client import FhirClient
from storage.store import EncryptedStore
from storage.sync import queue
from storage.sync.adapter import StoreSyncQueue
from storage.sync.engine import SyncEngine
from tests.conftest import open_test_store, run

pytestmark = pytest.mark.integration

IDENT = "urn:ietf:rfc:3986|urn:uuid:"


async def _seed(store: EncryptedStore) -> Encounter:
    patient = await store.add_patient(Patient(new_id(), "Coder", "Ada", "1960-02-03"))
    enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now(), reason="rash"))
    await store.create_note(enc.id, "Assessment: contact dermatitis")
    return enc


def _facts(minutes: int, modality: Modality = Modality.VIDEO) -> VisitFacts:
    return VisitFacts(
        minutes,
        PatientStatus.ESTABLISHED,
        modality,
        PatientSetting.HOME,
        date_of_service=date(2026, 12, 5),
    )


PERFORMER = Performer(npi="1234567893", name="Dr Grace Hopper")


async def _accept(store: EncryptedStore, enc: Encounter, facts: VisitFacts) -> Any:
    service = CodingService(load_table(), StoreCoding(store), PERFORMER)
    return await service.accept(enc.id, facts, service.suggest(facts))


async def _charge_items(client: FhirClient, local_id: str) -> list[dict[str, Any]]:
    return [r async for r in client.search("ChargeItem", {"identifier": IDENT + local_id})]


def _ext(resource: dict[str, Any], url: str) -> list[str]:
    return [
        e["valueCodeableConcept"]["coding"][0]["code"]
        for e in resource.get("extension", [])
        if e["url"] == url
    ]


def test_coding_syncs_as_charge_item_and_coded_encounter(
    fresh_profile: Path, fhir_server: Any
) -> None:
    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        enc = await _seed(store)
        async with FhirClient(fhir_server.base_url, timeout=30) as client:
            # The visit first reaches the server uncoded, as it does in practice.
            first = await SyncEngine(store).sync_once(client)
            assert first.failed == 0, first.reasons
            draft = await _accept(store, enc, _facts(25))
            assert draft.code == "99213" and draft.modifiers == ("95",) and draft.pos == "10"
            report = await SyncEngine(store).sync_once(client)
            assert report.failed == 0, report.reasons
            assert await store.outbox_size() == 0

            patient_ref = await store.transact(queue.remote_ref, "patient", enc.patient_id)
            encounter_ref = await store.transact(queue.remote_ref, "encounter", enc.id)
            [item] = await _charge_items(client, draft.id)
            assert item["status"] == "planned"
            assert item["code"]["coding"][0] == {"system": CPT_SYSTEM, "code": "99213"}
            assert _ext(item, MODIFIER_URL) == ["95"]
            assert _ext(item, POS_URL) == ["10"]
            assert item["subject"]["reference"] == f"Patient/{patient_ref.server_id}"
            assert item["context"]["reference"] == f"Encounter/{encounter_ref.server_id}"
            assert item["occurrenceDateTime"] == "2026-12-05"
            [performer] = item["performer"]
            assert performer["actor"]["identifier"] == {
                "system": NPI_SYSTEM,
                "value": "1234567893",
            }
            assert performer["actor"]["display"] == "Dr Grace Hopper"

            encounter = await client.read("Encounter", encounter_ref.server_id)
            assert encounter["class"]["code"] == "VR"
            assert encounter["type"][0]["coding"][0]["code"] == "99213"
            assert "audio-video" in encounter["serviceType"]["text"]

            # Nothing goes twice.
            assert (await SyncEngine(store).sync_once(client)).sent == 0
            assert len(await _charge_items(client, draft.id)) == 1

            # The clinician changes the coding (audio-only, longer): the same ChargeItem
            # and the Encounter are updated, not duplicated.
            changed = await _accept(store, enc, _facts(31, Modality.AUDIO))
            assert changed.id == draft.id and changed.code == "99214"
            report = await SyncEngine(store).sync_once(client)
            assert report.failed == 0, report.reasons
            [item] = await _charge_items(client, draft.id)
            assert item["code"]["coding"][0]["code"] == "99214"
            assert _ext(item, MODIFIER_URL) == ["93"]
            encounter = await client.read("Encounter", encounter_ref.server_id)
            assert encounter["type"][0]["coding"][0]["code"] == "99214"
            assert "audio-only" in encounter["serviceType"]["text"]
        await store.close()

    run(scenario())


def test_coding_accepted_before_the_first_sync_goes_in_one_pass(
    fresh_profile: Path, fhir_server: Any
) -> None:
    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        enc = await _seed(store)
        draft = await _accept(store, enc, _facts(45))
        async with FhirClient(fhir_server.base_url, timeout=30) as client:
            report = await SyncEngine(store).sync_once(client)
            assert report.failed == 0, report.reasons
            assert await store.outbox_size() == 0
            encounter_ref = await store.transact(queue.remote_ref, "encounter", enc.id)
            [item] = await _charge_items(client, draft.id)
            assert item["code"]["coding"][0]["code"] == "99215"
            assert item["context"]["reference"] == f"Encounter/{encounter_ref.server_id}"
            await client.read("Encounter", encounter_ref.server_id)
            encounter = await client.read("Encounter", encounter_ref.server_id)
            assert encounter["type"][0]["coding"][0]["code"] == "99215"
        await store.close()

    run(scenario())


def test_lost_acknowledgement_does_not_duplicate_the_charge_item(
    fresh_profile: Path, fhir_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        enc = await _seed(store)
        async with FhirClient(fhir_server.base_url, timeout=30) as client:
            await SyncEngine(store).sync_once(client)
            draft = await _accept(store, enc, _facts(12))
            real = queue.acknowledge

            def lost(conn: Any, item: Any, ref: Any) -> bool:
                if item.entity_type == "charge_item":
                    raise ConnectionResetError("simulated: acknowledgement lost")
                return real(conn, item, ref)

            monkeypatch.setattr(queue, "acknowledge", lost)
            with pytest.raises(StoreError):
                await SyncEngine(store).sync_once(client)
            monkeypatch.setattr(queue, "acknowledge", real)
            report = await SyncEngine(store).sync_once(client)
            assert report.failed == 0, report.reasons
            assert await store.outbox_size() == 0
            items = await _charge_items(client, draft.id)
            assert len(items) == 1 and items[0]["code"]["coding"][0]["code"] == "99212"
        await store.close()

    run(scenario())


def test_a_draft_billing_took_over_is_not_overwritten(
    fresh_profile: Path, fhir_server: Any
) -> None:
    """Billing moved the ChargeItem on (status billable); a later change of the coding at
    the console must not overwrite it: it is refused with a reason, the server keeps
    billing's version."""

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        enc = await _seed(store)
        draft = await _accept(store, enc, _facts(22))
        async with FhirClient(fhir_server.base_url, timeout=30) as client:
            await SyncEngine(store).sync_once(client)
            [item] = await _charge_items(client, draft.id)
            item["status"] = "billable"
            await client.update("ChargeItem", item["id"], item, None)  # billing's write
            billed = await client.read("ChargeItem", item["id"])
            assert billed["status"] == "billable"
            await _accept(store, enc, _facts(41))
            report = await SyncEngine(store).sync_once(client)
            assert report.failed == 1
            assert any("changed on the server" in r for r in report.reasons)
            [item] = await _charge_items(client, draft.id)
            assert item["status"] == "billable"
            assert item["code"]["coding"][0]["code"] == "99213"
            # Sync details name it for a clinician (with Retry).
            overview = await StoreSyncQueue(store).overview()
            [failure] = [f for f in overview.failures if f.entity_type == "charge_item"]
            assert failure.label == "Coding · Coder, Ada"
            assert "changed on the server" in failure.reason
        await store.close()

    run(scenario())


@pytest.mark.parametrize("lost", ["encounter", "charge_item"])
def test_lost_acknowledgement_of_an_update_is_no_conflict(
    fresh_profile: Path, fhir_server: Any, monkeypatch: pytest.MonkeyPatch, lost: str
) -> None:
    """The coded Encounter (and a changed draft) are updates with If-Match: when the
    server took one but the console never recorded it, the resend meets a newer version
    that is our own write, not someone else's change."""

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        enc = await _seed(store)
        async with FhirClient(fhir_server.base_url, timeout=30) as client:
            await _accept(store, enc, _facts(12))
            assert (await SyncEngine(store).sync_once(client)).failed == 0
            draft = await _accept(store, enc, _facts(35))
            real = queue.acknowledge

            def lost_ack(conn: Any, item: Any, ref: Any) -> bool:
                if item.entity_type == lost:
                    raise ConnectionResetError("simulated: acknowledgement lost")
                return real(conn, item, ref)

            monkeypatch.setattr(queue, "acknowledge", lost_ack)
            with pytest.raises(StoreError):
                await SyncEngine(store).sync_once(client)
            monkeypatch.setattr(queue, "acknowledge", real)
            report = await SyncEngine(store).sync_once(client)
            assert report.failed == 0, report.reasons
            assert await store.outbox_size() == 0
            encounter_ref = await store.transact(queue.remote_ref, "encounter", enc.id)
            encounter = await client.read("Encounter", encounter_ref.server_id)
            assert encounter["type"][0]["coding"][0]["code"] == "99214"
            [item] = await _charge_items(client, draft.id)
            assert item["code"]["coding"][0]["code"] == "99214"
        await store.close()

    run(scenario())


@pytest.mark.parametrize("lost", ["encounter", "charge_item"])
def test_lost_acknowledgement_then_a_newer_coding_is_no_conflict(
    fresh_profile: Path, fhir_server: Any, monkeypatch: pytest.MonkeyPatch, lost: str
) -> None:
    """The server took an update whose acknowledgement was lost, and the clinician then
    changed the coding again here: the server's copy is still our own write (found by
    the marker kept before it went out), so the newer coding goes up, nothing is refused.
    (Seen as a rare failure of the kill -9 coding test before the fix.)"""

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        enc = await _seed(store)
        async with FhirClient(fhir_server.base_url, timeout=30) as client:
            await _accept(store, enc, _facts(12))
            assert (await SyncEngine(store).sync_once(client)).failed == 0
            await _accept(store, enc, _facts(35))
            real = queue.acknowledge

            def lost_ack(conn: Any, item: Any, ref: Any) -> bool:
                if item.entity_type == lost:
                    raise ConnectionResetError("simulated: acknowledgement lost")
                return real(conn, item, ref)

            monkeypatch.setattr(queue, "acknowledge", lost_ack)
            with pytest.raises(StoreError):
                await SyncEngine(store).sync_once(client)
            monkeypatch.setattr(queue, "acknowledge", real)
            draft = await _accept(store, enc, _facts(45))  # changed again, here
            report = await SyncEngine(store).sync_once(client)
            assert report.failed == 0, report.reasons
            assert await store.transact(queue.waiting) == {
                "waiting": 0,
                "failed": 0,
                "conflicts": 0,
            }
            encounter_ref = await store.transact(queue.remote_ref, "encounter", enc.id)
            encounter = await client.read("Encounter", encounter_ref.server_id)
            assert encounter["type"][0]["coding"][0]["code"] == "99215"
            [item] = await _charge_items(client, draft.id)
            assert item["code"]["coding"][0]["code"] == "99215"
        await store.close()

    run(scenario())


@pytest.mark.parametrize("cut_resend", [False, True], ids=["resent", "resend-cut"])
@pytest.mark.parametrize("first", ["uncoded", "coded"])
def test_lost_acknowledgement_of_the_visit_create_then_coding_reaches_the_server(
    fresh_profile: Path,
    fhir_server: Any,
    monkeypatch: pytest.MonkeyPatch,
    first: str,
    cut_resend: bool,
) -> None:
    """The visit's create reached the server but its acknowledgement was lost (uncoded, or
    with an earlier coding), and the clinician coded the visit here before the next
    sync: the resend finds the server's copy, and the coding still goes up to it (not
    acknowledged as if the server already held it). With ``resend-cut`` the first resend
    of the coded revision is remembered as sent but never reaches the server (the link
    or the process died in between): what the server holds decides, not what we meant
    to send. (Seen as a rare failure of the kill -9 coding test on Medplum.)"""

    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        enc = await _seed(store)
        async with FhirClient(fhir_server.base_url, timeout=30) as client:
            if first == "coded":
                await _accept(store, enc, _facts(12))
            real = queue.acknowledge

            def lost_ack(conn: Any, item: Any, ref: Any) -> bool:
                if item.entity_type == "encounter":
                    raise ConnectionResetError("simulated: acknowledgement lost")
                return real(conn, item, ref)

            monkeypatch.setattr(queue, "acknowledge", lost_ack)
            with pytest.raises(StoreError):
                await SyncEngine(store).sync_once(client)
            monkeypatch.setattr(queue, "acknowledge", real)
            draft = await _accept(store, enc, _facts(45))
            if cut_resend:
                real_transaction = FhirClient.transaction

                async def cut(self: FhirClient, *args: Any, **kwargs: Any) -> Any:
                    raise SyncRetryableError(reason="simulated: link lost before sending")

                monkeypatch.setattr(FhirClient, "transaction", cut)
                with pytest.raises(SyncRetryableError):
                    await SyncEngine(store).sync_once(client)
                monkeypatch.setattr(FhirClient, "transaction", real_transaction)
            for _ in range(2):  # the resend, then what it leaves to send
                report = await SyncEngine(store).sync_once(client)
                assert report.failed == 0, report.reasons
            assert await store.transact(queue.waiting) == {
                "waiting": 0,
                "failed": 0,
                "conflicts": 0,
            }
            encounters = [
                r async for r in client.search("Encounter", {"identifier": IDENT + enc.id})
            ]
            assert len(encounters) == 1
            assert encounters[0]["type"][0]["coding"][0]["code"] == "99215"
            [item] = await _charge_items(client, draft.id)
            assert item["code"]["coding"][0]["code"] == "99215"
        await store.close()

    run(scenario())
