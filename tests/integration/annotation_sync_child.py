"""Child process for the kill -9 annotation sync test: saves annotation versions on the
one still and syncs, until killed."""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

from app.annotations import AnnotationsService, Shape, ShapeKind
from storage.annotations import StoreAnnotations
from storage.fhir.client import FhirClient
from storage.sync.engine import SyncEngine
from tests.conftest import open_test_store


async def main(profile: Path, base_url: str, seed: int) -> None:
    rng = random.Random(seed)
    store = await open_test_store(profile)
    encounter_id = (await store.list_encounters())[0].encounter.id
    [still] = await store.list_attachments(encounter_id)
    service = AnnotationsService(StoreAnnotations(store))
    engine = SyncEngine(store)
    print("ready", flush=True)
    async with FhirClient(base_url, timeout=10) as client:
        while True:
            latest = await service.latest(still.id)
            x, y = rng.uniform(1, 300), rng.uniform(1, 200)
            arrow = Shape(ShapeKind.ARROW, ((x, y), (x + 50, y + 40)))
            await service.save(still.id, latest.version, [*latest.shapes[-3:], arrow])
            await engine.sync_once(client)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
