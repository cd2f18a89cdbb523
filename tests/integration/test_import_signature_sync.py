"""A signed record exported from one console and imported in another reaches both FHIR
servers with its signature and consents, verifies there, and is never duplicated when
both consoles sync it (in either order)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.records import Encounter, Patient, new_id, utc_now
from app.templates import SHIPPED_DIR, load_templates
from app.visit_start import (
    ConsentAnswer,
    ConsentDecision,
    ConsentMethod,
    LocationKind,
    VisitStart,
    VisitStartForm,
)
from storage.consents import StoreVisitStart
from storage.fhir.client import FhirClient
from storage.fhir.provenance import verify_from_fhir
from storage.store import EncryptedStore
from storage.sync.engine import IDENTIFIER_SYSTEM, SyncEngine, SyncReport
from tests.conftest import open_test_store, run
from tests.signing_support import MemoryKeys, signing

pytestmark = pytest.mark.integration


async def _sync(store: EncryptedStore, base: str) -> SyncReport:
    async with FhirClient(base, timeout=30) as client:
        return await SyncEngine(store).sync_once(client)


async def _search(client: FhirClient, kind: str, params: dict[str, str]) -> list[dict[str, Any]]:
    return [r async for r in client.search(kind, params)]


def _by_identifier(local_id: str) -> dict[str, str]:
    return {"identifier": f"{IDENTIFIER_SYSTEM}|urn:uuid:{local_id}"}


def test_an_imported_signed_visit_syncs_with_its_signature_and_consents_once(
    fresh_profile: Path, fhir_server: Any, tmp_path: Path
) -> None:
    async def scenario() -> None:
        origin = await open_test_store(fresh_profile)
        patient = await origin.add_patient(Patient(new_id(), "Carried", "Cora", "1977-07-07"))
        enc = await origin.add_encounter(Encounter(new_id(), patient.id, utc_now()))
        use = VisitStart(StoreVisitStart(origin), load_templates([SHIPPED_DIR]), actor="dr")
        started = await use.begin(
            enc.id,
            VisitStartForm(
                "US-NY",
                LocationKind.HOME,
                "photo ID",
                ConsentAnswer(ConsentDecision.PERMIT, ConsentMethod.VERBAL),
                ConsentAnswer(ConsentDecision.PERMIT, ConsentMethod.WRITTEN),
            ),
        )
        note = await origin.create_note(enc.id, "Assessment: stable.\nPlan: Café 5 mg")
        keys = MemoryKeys()
        await signing(origin, keys).sign(note.id)
        added = await signing(origin, keys).add_addendum(note.id, "Addendum: labs normal.")
        bundle = await origin.export_bundle()

        # The importing console syncs first: it carries the signature and consents.
        other = await open_test_store(tmp_path / "other-console")
        result = await other.import_bundle(bundle)
        assert result.signatures_imported == 2 and result.signatures_not_verified == 0
        assert result.consents_created == 2 and result.skipped == ()
        report = await _sync(other, fhir_server.base_url)
        assert report.failed == 0, report.reasons
        assert await other.outbox_size() == 0
        # Then the console where it was signed: the server already holds all of it.
        report = await _sync(origin, fhir_server.base_url)
        assert report.failed == 0, report.reasons
        assert await origin.outbox_size() == 0
        async with FhirClient(fhir_server.base_url, timeout=30) as client:
            for note_id in (note.id, added.note_id):
                [doc] = await _search(client, "DocumentReference", _by_identifier(note_id))
                assert doc["docStatus"] == "final"
                provs = await _search(
                    client, "Provenance", {"target": f"DocumentReference/{doc['id']}"}
                )
                assert len(provs) == 1, "one Provenance, whichever console sent it"
                checked = await verify_from_fhir(client, MemoryKeys(), doc["id"])
                assert checked.ok, checked.reason
                assert checked.signer == "os-user:dr-test"
            for consent in started.consents:
                [held] = await _search(client, "Consent", _by_identifier(consent.id))
                assert held["status"] == "active"
                [patient_on_server] = await _search(client, "Patient", _by_identifier(patient.id))
                assert held["patient"]["reference"].endswith(f"Patient/{patient_on_server['id']}")
            # A further pass from either console sends nothing.
            assert (await SyncEngine(other).sync_once(client)).sent == 0
            assert (await SyncEngine(origin).sync_once(client)).sent == 0
        await other.close()
        await origin.close()

    run(scenario())
