"""Child process for the kill -9 attachment sync test: records clips and syncs until killed."""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

from storage.fhir.client import FhirClient
from storage.sync.engine import SyncEngine
from tests.conftest import open_test_store
from tests.unit.test_attachments import wav_bytes


async def main(profile: Path, base_url: str, seed: int) -> None:
    rng = random.Random(seed)
    store = await open_test_store(profile)
    encounter_id = (await store.list_encounters())[0].encounter.id
    engine = SyncEngine(store, batch_size=2)
    print("ready", flush=True)
    async with FhirClient(base_url, timeout=10) as client:
        while True:
            for _ in range(rng.randint(1, 2)):
                # Distinct bytes and heart rates, so every clip is its own Binary and Observation.
                clip = wav_bytes(rng.uniform(0.05, 0.3), 8000, marker=rng.randbytes(8))
                metadata = {"auscultation_site": "aortic", "heart_rate_bpm": rng.randint(40, 180)}
                await store.add_attachment(encounter_id, "audio", "audio/wav", clip, "", metadata)
            await engine.sync_once(client)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
