"""Child process for the kill -9 escalation test: new visits, escalations (the on-call
webhook answering or failing at random) and sync in a loop until killed."""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from app.escalation import EmergencyNumbers, EscalationAction, EscalationService, OnCallNotifyError
from app.records import Encounter, KeySource, Patient, new_id, utc_now
from storage.coding_store import StoreSafety
from storage.fhir.client import FhirClient
from storage.store import EncryptedStore
from storage.sync.engine import SyncEngine
from tests.conftest import TEST_PASSPHRASE


class _Webhook:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    async def notify(self, payload: Mapping[str, Any]) -> None:
        await asyncio.sleep(self.rng.uniform(0.0, 0.2))  # a webhook takes a moment: a kill may land
        if self.rng.random() < 0.5:
            raise OnCallNotifyError(reason="HTTP 502")


async def main(profile: Path, base_url: str, seed: int) -> None:
    rng = random.Random(seed)
    store = await EncryptedStore.open(
        profile, key_source=KeySource.PASSPHRASE, passphrase=TEST_PASSPHRASE, actor="kill-escalate"
    )
    escalation = EscalationService(StoreSafety(store), EmergencyNumbers.shipped(), _Webhook(rng))
    engine = SyncEngine(store, batch_size=3)  # small batches: many places to be killed
    print("ready", flush=True)
    async with FhirClient(base_url, timeout=10) as client:
        while True:
            if rng.random() < 0.5:
                patient = await store.add_patient(Patient(new_id(), "Kill", "Escal", "1970-01-01"))
                await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
            summaries = await store.list_encounters()
            for summary in rng.sample(summaries, min(len(summaries), rng.randint(1, 3))):
                actions = rng.sample(list(EscalationAction), rng.randint(1, 3))
                await escalation.escalate(summary.encounter.id, actions, location="US-WA")
            await engine.sync_once(client)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
