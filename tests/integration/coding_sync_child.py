"""Child process for the kill -9 coding test: new visits, accepted and changed coding, and
sync in a loop until killed."""

from __future__ import annotations

import asyncio
import random
import sys
from datetime import date
from pathlib import Path

from app.coding import CodingService, Modality, PatientStatus, VisitFacts, load_table
from app.records import Encounter, KeySource, Patient, new_id, utc_now
from storage.coding_store import StoreCoding
from storage.fhir.client import FhirClient
from storage.store import EncryptedStore
from storage.sync.engine import SyncEngine
from tests.conftest import TEST_PASSPHRASE


async def main(profile: Path, base_url: str, seed: int) -> None:
    rng = random.Random(seed)
    store = await EncryptedStore.open(
        profile, key_source=KeySource.PASSPHRASE, passphrase=TEST_PASSPHRASE, actor="kill-coding"
    )
    coding = CodingService(load_table(), StoreCoding(store))
    engine = SyncEngine(store, batch_size=3)  # small batches: many places to be killed
    print("ready", flush=True)
    async with FhirClient(base_url, timeout=10) as client:
        while True:
            if rng.random() < 0.5:
                patient = await store.add_patient(Patient(new_id(), "Kill", "Coder", "1970-01-01"))
                await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
            summaries = await store.list_encounters()
            for summary in rng.sample(summaries, min(len(summaries), rng.randint(1, 3))):
                facts = VisitFacts(
                    rng.randint(10, 70),
                    PatientStatus.ESTABLISHED,
                    rng.choice([Modality.VIDEO, Modality.AUDIO]),
                    date_of_service=date(2026, 12, 5),
                )
                await coding.accept(summary.encounter.id, facts, coding.suggest(facts))
            await engine.sync_once(client)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
