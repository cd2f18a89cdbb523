"""Child process for the kill -9 e-consult test: new visits, requests, messages and answers,
and sync in a loop until killed."""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

from app.econsult import EconsultService, NewConsult
from app.records import Encounter, KeySource, Patient, new_id, utc_now
from storage.econsult import StoreEconsult
from storage.fhir.client import FhirClient
from storage.store import EncryptedStore
from storage.sync.engine import SyncEngine
from tests.conftest import TEST_PASSPHRASE


async def main(profile: Path, base_url: str, performer: str, seed: int) -> None:
    rng = random.Random(seed)
    store = await EncryptedStore.open(
        profile, key_source=KeySource.PASSPHRASE, passphrase=TEST_PASSPHRASE, actor="kill-econsult"
    )
    econsult = EconsultService(StoreEconsult(store), practitioner=performer)
    engine = SyncEngine(store)
    print("ready", flush=True)
    async with FhirClient(base_url, timeout=10) as client:
        while True:
            patient = await store.add_patient(Patient(new_id(), "Kill", "Consult", "1970-01-01"))
            enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
            await econsult.send(NewConsult(enc.id, "Kill -9 question", performer))
            for consult in rng.sample(await econsult.queue(), min(2, len(await econsult.queue()))):
                if rng.random() < 0.5:
                    await econsult.ask(consult.id, "A question back")
                else:
                    await econsult.answer(consult.id, "An answer")
            await engine.sync_once(client)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])))
