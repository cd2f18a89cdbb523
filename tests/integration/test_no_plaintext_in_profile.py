"""After a demo session, no note text or patient name is readable anywhere in the profile."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from app import demo, logging_setup
from storage import keys
from storage.store import EncryptedStore
from tests.conftest import run

pytestmark = [pytest.mark.integration, pytest.mark.keyring]

NOTE_CANARY = "Auscultation revealed a grade-three pansystolic murmur"


def _needles() -> list[str]:
    names = [part for patient in demo._PATIENTS for part in patient[:2]]
    note_lines = [line for sections in demo._NOTES.values() for line in sections.values()]
    return [*names, NOTE_CANARY, *note_lines]


def _encodings(needle: str) -> list[bytes]:
    return [needle.encode("utf-8"), needle.encode("utf-16-le"), needle.lower().encode("utf-8")]


def test_profile_holds_no_plaintext_after_a_demo_session(
    fresh_profile: Path, tmp_path: Path, real_keyring: str
) -> None:
    cli = [sys.executable, "-m", "app.cli", "--profile", str(fresh_profile)]
    subprocess.run([*cli, "demo"], check=True, capture_output=True, timeout=120)
    logging_setup.configure(fresh_profile)

    async def session() -> None:
        store = await EncryptedStore.open(fresh_profile)
        for summary in await store.list_encounters():
            if summary.note_id:
                note = await store.open_note(summary.note_id)
                await store.save_note_text(note.id, note.text + "\n" + NOTE_CANARY)
            logging.getLogger("test.session").info("opened encounter %s", summary.encounter.id)
        assert await store.search_notes("pansystolic")
        await store.lock()
        await store.unlock()
        await store.close()

    try:
        run(session())
    finally:
        logging_setup.configure(None)
    subprocess.run(
        [*cli, "export", "--out", str(tmp_path / "export.json")],
        check=True,
        capture_output=True,
        timeout=120,
    )
    subprocess.run([*cli, "check", "--json"], check=True, capture_output=True, timeout=120)
    exported = json.loads((tmp_path / "export.json").read_text())
    texts = [
        base64.b64decode(e["resource"]["content"][0]["attachment"]["data"]).decode()
        for e in exported["entry"]
        if e["resource"]["resourceType"] == "DocumentReference"
    ]
    assert any(NOTE_CANARY in t for t in texts)  # the canary really was saved

    files = [p for p in fresh_profile.rglob("*") if p.is_file()]
    assert any(p.name == "store.db" for p in files)
    assert any(p.suffix == ".log" for p in files)
    for path in files:
        data = path.read_bytes()
        for needle in _needles():
            for encoded in _encodings(needle):
                assert encoded not in data, f"{needle[:12]}… readable in {path.name}"
    meta = keys.read_meta(fresh_profile)
    assert meta is not None
    keys.delete_keyring_key(meta)
