"""Child process for the kill -9 test: types into notes and autosaves until killed.

After each save *returns* it prints ``saved <note_id> <version> <sha256>``;
the parent kills it at a random moment and checks every reported save is intact.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import sys
from pathlib import Path

from app.records import NoteType
from storage.store import EncryptedStore


async def main(profile: Path, seed: int) -> None:
    rng = random.Random(seed)
    store = await EncryptedStore.open(profile, actor="kill-test")
    encounter_id = (await store.list_encounters())[0].encounter.id
    note = await store.create_note(encounter_id, "", NoteType.PROGRESS)
    text = ""
    print("ready", flush=True)
    saves = 0
    while True:
        # A burst of "keystrokes", then the autosave the editor would do.
        text += "".join(rng.choice("abcdefghij klmnop\nΩé🫀") for _ in range(rng.randint(1, 40)))
        result = await store.save_note_text(note.id, text)
        digest = hashlib.sha256(text.encode()).hexdigest()
        print(f"saved {note.id} {result.version} {digest}", flush=True)
        saves += 1
        if saves % 15 == 0:
            note = await store.create_note(encounter_id, "", NoteType.PROGRESS)
            text = ""


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
