"""Child process for the kill -9 sync test: writes notes and syncs in a loop until killed."""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

from storage import repository
from storage.fhir.client import FhirClient
from storage.store import EncryptedStore
from storage.sync.engine import SyncEngine


async def main(profile: Path, base_url: str, seed: int) -> None:
    rng = random.Random(seed)
    store = await EncryptedStore.open(profile, actor="kill-sync")
    encounter_id = (await store.list_encounters())[0].encounter.id
    engine = SyncEngine(store, batch_size=4)  # small batches: many places to be killed
    print("ready", flush=True)
    async with FhirClient(base_url, timeout=10) as client:
        while True:
            for _ in range(rng.randint(1, 5)):
                await store.create_note(encounter_id, f"Plan:\nnote {rng.random()}")
            summaries = await store.list_encounters()
            note_id = summaries[0].note_id
            if note_id:
                await store.save_note_text(note_id, f"Plan:\nedited {rng.random()}")
            # Several notes edited between syncs, so kills land between an edit and its ack.
            _, _, notes = await store.transact(repository.all_records)
            for note in rng.sample(list(notes), min(len(notes), rng.randint(0, 3))):
                await store.save_note_text(note.id, f"Plan:\nedited again {rng.random()}")
            await engine.sync_once(client)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
