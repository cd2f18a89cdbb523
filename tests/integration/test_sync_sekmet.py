"""Sync against real FHIR servers (SEKMET, and Medplum where the test takes ``fhir_server``):
exactly once, no lost edits, conflicts kept."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from app.errors import SyncRetryableError
from app.records import Encounter, Patient, new_id, utc_now
from storage.fhir.client import FhirClient
from storage.store import EncryptedStore
from storage.sync import queue
from storage.sync.engine import SyncEngine
from tests.conftest import TEST_PASSPHRASE, env_without_keyring, open_test_store, run
from tests.integration.sekmet import SekmetServer

pytestmark = pytest.mark.integration


_open = open_test_store


async def _seed(store: EncryptedStore, notes: int, tag: str) -> list[str]:
    patient = await store.add_patient(Patient(new_id(), f"Sync{tag}", "Test", "1980-02-02"))
    enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now(), reason="offline"))
    ids = []
    for i in range(notes):
        note = await store.create_note(enc.id, f"Plan:\n{tag} note {i}")
        ids.append(note.id)
    return ids


async def _server_identifiers(base_url: str, resource_type: str) -> Counter[str]:
    found: Counter[str] = Counter()
    async with FhirClient(base_url) as client:
        async for resource in client.search(resource_type, {"_count": "200"}):
            for ident in resource.get("identifier", []):
                if ident.get("system") == "urn:ietf:rfc:3986":
                    found[ident["value"][9:]] += 1
    return found


async def _sync(store: EncryptedStore, base_url: str) -> Any:
    async with FhirClient(base_url, timeout=10) as client:
        return await SyncEngine(store).sync_once(client)


def test_the_offline_day(fresh_profile: Path, fresh_fhir_server: Any) -> None:
    server = fresh_fhir_server
    server.stop()

    async def scenario() -> None:
        store = await _open(fresh_profile)
        ids = await _seed(store, 200, "offline")
        with pytest.raises(SyncRetryableError):
            await _sync(store, server.base_url)
        assert (await store.transact(queue.waiting))["waiting"] == 202
        server.start()
        report = await _sync(store, server.base_url)
        assert report.acknowledged == 202 and report.failed == 0
        assert await store.transact(queue.waiting) == {"waiting": 0, "failed": 0, "conflicts": 0}
        on_server = await _server_identifiers(server.base_url, "DocumentReference")
        assert all(on_server[i] == 1 for i in ids), "every note exactly once"
        assert len(on_server) == 200
        # A second sync sends nothing and duplicates nothing.
        again = await _sync(store, server.base_url)
        assert again.sent == 0
        assert (
            sum((await _server_identifiers(server.base_url, "DocumentReference")).values()) == 200
        )
        await store.close()

    run(scenario())


def test_lost_acknowledgement_is_not_a_duplicate_nor_a_lost_edit(
    fresh_profile: Path, fhir_server: Any
) -> None:
    """The server stored the batch but the console never heard back (crash, cut link),
    and the clinician edited one note before the retry: every note once, the edit on
    the server (the old engine took the retry's 200 for success and dropped the edit)."""
    from storage.sync.engine import SyncReport

    async def scenario() -> None:
        store = await _open(fresh_profile)
        ids = await _seed(store, 3, "lostack")
        engine = SyncEngine(store)
        async with FhirClient(fhir_server.base_url) as client:
            real_ack = engine._acknowledge

            async def lost(*_args: Any) -> None:
                raise ConnectionResetError(
                    "simulated: acknowledgement lost after the server stored it"
                )

            engine._acknowledge = lost  # type: ignore[method-assign]
            with pytest.raises(ConnectionResetError):
                await engine.push(client, SyncReport())
            engine._acknowledge = real_ack  # type: ignore[method-assign]
            await store.save_note_text(ids[1], "Plan:\nedited before the retry")
            report = await engine.sync_once(client)
        assert report.failed == 0 and report.conflicts == 0
        assert await store.outbox_size() == 0
        on_server = await _server_identifiers(fhir_server.base_url, "DocumentReference")
        assert [on_server[i] for i in ids] == [1, 1, 1]
        async with FhirClient(fhir_server.base_url) as client:
            ref = await store.transact(queue.remote_ref, "note", ids[1])
            current = await client.read("DocumentReference", ref.server_id)
        from storage.sync.engine import note_text_of

        assert note_text_of(current) == "Plan:\nedited before the retry"
        await store.close()

    run(scenario())


def test_two_consoles_edit_the_same_note_offline(tmp_path: Path, fhir_server: Any) -> None:
    a_profile, b_profile = tmp_path / "console-a", tmp_path / "console-b"

    async def scenario() -> None:
        a = await _open(a_profile)
        (note_id,) = await _seed(a, 1, "shared")
        await _sync(a, fhir_server.base_url)
        # Console B gets the same records (as a referral bundle) and syncs: no duplicates.
        b = await _open(b_profile)
        await b.import_bundle(await a.export_bundle())
        await _sync(b, fhir_server.base_url)
        assert (await _server_identifiers(fhir_server.base_url, "DocumentReference"))[note_id] == 1

        # Both edit offline; A syncs first.
        await a.save_note_text(note_id, "Plan:\nA says: start amoxicillin")
        await b.save_note_text(note_id, "Plan:\nB says: watchful waiting")
        assert (await _sync(a, fhir_server.base_url)).acknowledged == 1
        report_b = await _sync(b, fhir_server.base_url)
        assert report_b.conflicts == 1

        # Nothing decided silently: B keeps its text, and A's is held in the conflict.
        assert (await b.open_note(note_id)).text.endswith("watchful waiting")
        conflicts = await b.transact(queue.open_conflicts, note_id)
        assert len(conflicts) == 1 and conflicts[0].server_text.endswith("start amoxicillin")
        # The conflicted note is not pushed again until resolved.
        assert (await _sync(b, fhir_server.base_url)).sent == 0

        merged = "Plan:\nAgreed: start amoxicillin if no better in 48 h"
        await b.transact(queue.resolve_conflict, b.actor, conflicts[0].id, "merge", merged)
        report = await _sync(b, fhir_server.base_url)
        assert report.acknowledged == 1 and report.conflicts == 0
        assert await b.transact(queue.open_conflicts, note_id) == []

        # A had no unsent edits, so it takes the merged text on its next pull.
        pulled = await _sync(a, fhir_server.base_url)
        assert pulled.pulled == 1
        assert (await a.open_note(note_id)).text == merged
        history = [v.text for v in await a.note_history(note_id)]
        assert any(t.endswith("start amoxicillin") for t in history)  # A's own version kept
        await a.close()
        await b.close()

    run(scenario())


def test_sync_once_cli_never_sends_demo_data(fresh_profile: Path, sekmet: SekmetServer) -> None:
    fresh_profile.mkdir(parents=True)
    (fresh_profile / "settings.toml").write_text(
        f'[record_store]\nurl = "{sekmet.base_url}"\nauth = "none"\n'
    )
    cli = [
        sys.executable,
        "-m",
        "app.cli",
        "--profile",
        str(fresh_profile),
        "--key-source",
        "passphrase",
        "--passphrase-stdin",
    ]
    env = env_without_keyring()
    subprocess.run(
        [*cli, "demo"],
        input=TEST_PASSPHRASE + "\n",
        check=True,
        text=True,
        capture_output=True,
        env=env,
        timeout=120,
    )
    result = subprocess.run(
        [*cli, "sync", "--once", "--json"],
        input=TEST_PASSPHRASE + "\n",
        text=True,
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    # Demo data is never sent to a record store (its outbox rows are dropped at push).
    assert summary["acknowledged"] == 0 and summary["waiting"] == 0 and summary["ok"] is True
    import httpx

    found = httpx.get(f"{sekmet.base_url}/Patient", params={"_count": "500"}, timeout=30).json()
    mrns = [
        ident.get("value", "")
        for entry in found.get("entry", [])
        for ident in entry["resource"].get("identifier", [])
    ]
    assert not [m for m in mrns if m.startswith("DEMO-")], "demo patients reached the server"

    (fresh_profile / "settings.toml").write_text(
        # Nothing to send or pull: the worklist search is what must reach the server.
        '[record_store]\nurl = "http://127.0.0.1:9/fhir"\nauth = "none"\n'
        'practitioner = "Practitioner/p1"\n'
    )
    down = subprocess.run(
        [*cli, "sync", "--once", "--json"],
        input=TEST_PASSPHRASE + "\n",
        text=True,
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert down.returncode != 0
    assert json.loads(down.stdout)["ok"] is False
    assert len(down.stderr.strip().splitlines()) == 1


def test_check_reports_the_record_store(fresh_profile: Path, sekmet: SekmetServer) -> None:
    fresh_profile.mkdir(parents=True)
    (fresh_profile / "settings.toml").write_text(
        f'[record_store]\nurl = "{sekmet.base_url}"\nauth = "none"\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "--profile", str(fresh_profile), "check", "--json"],
        text=True,
        capture_output=True,
        env=env_without_keyring(),
        timeout=120,
    )
    store = json.loads(result.stdout)["record_store"]
    assert store["reachable"] is True and store["auth_ok"] is True
    assert store["fhir_version"].startswith("4.0") and store["transaction"] is True
    assert all(store["conditional_create"].values())


def test_wrong_password_is_a_clear_status_and_loses_nothing(
    fresh_profile: Path, sekmet_basic: SekmetServer, caplog: pytest.LogCaptureFixture
) -> None:
    import contextlib
    import logging

    from app.settings import RecordStoreSettings
    from app.sync import SyncState
    from storage.fhir.auth import BasicAuth
    from storage.sync.adapter import sync_service
    from tests.integration.conftest import BASIC_PASSWORD, BASIC_USER

    def factory_for(password: str) -> Any:
        @contextlib.asynccontextmanager
        async def factory(settings: RecordStoreSettings) -> Any:
            async with FhirClient(settings.url, auth=BasicAuth(BASIC_USER, password)) as client:
                yield client

        return factory

    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        store = await _open(fresh_profile)
        await _seed(store, 3, "auth")
        settings = RecordStoreSettings(url=sekmet_basic.base_url, auth="basic", username=BASIC_USER)
        wrong = sync_service(store, settings, client_factory=factory_for("not-the-password"))
        await wrong.sync_now()
        assert wrong.status.state is SyncState.ERROR
        assert "sign" in wrong.status.message.lower() or "auth" in wrong.status.message.lower()
        assert wrong.status.waiting == 5  # patient, encounter, three notes: all still queued
        right = sync_service(store, settings, client_factory=factory_for(BASIC_PASSWORD))
        await right.sync_now()
        assert right.status.state is SyncState.IDLE and right.status.waiting == 0
        await store.close()

    run(scenario())
    assert BASIC_PASSWORD not in caplog.text and "not-the-password" not in caplog.text


def test_service_syncs_by_itself_when_the_server_comes_back(
    fresh_profile: Path, sekmet_factory: Any
) -> None:
    import asyncio

    from app.settings import RecordStoreSettings
    from app.sync import SyncState
    from storage.sync.adapter import sync_service

    server: SekmetServer = sekmet_factory("comes-back")
    server.stop()

    async def scenario() -> None:
        store = await _open(fresh_profile)
        await _seed(store, 5, "comeback")
        # A long backoff, a quick probe: only the probe can bring the sync forward.
        service = sync_service(
            store,
            RecordStoreSettings(url=server.base_url),
            backoff_base_s=3600,
            backoff_max_s=3600,
            probe_interval_s=0.2,
        )
        offline = asyncio.Event()
        finished = asyncio.Event()
        service.status_did_change.connect(
            lambda s: offline.set() if s.state is SyncState.OFFLINE else None
        )
        service.sync_did_finish.connect(lambda _r: finished.set())
        await service.start()
        try:
            await asyncio.wait_for(offline.wait(), timeout=30)
            assert service.status.next_attempt_s is not None
            server.start()
            await asyncio.wait_for(finished.wait(), timeout=30)
        finally:
            await service.stop()
        assert service.status.state is SyncState.IDLE and service.status.waiting == 0
        await store.close()

    run(scenario())


def test_demographics_changed_on_the_server_update_the_local_copy(
    fresh_profile: Path, fhir_server: Any
) -> None:
    import httpx

    async def scenario() -> None:
        store = await _open(fresh_profile)
        await _seed(store, 1, "demog")
        await _sync(store, fhir_server.base_url)
        (visit,) = await store.list_encounters()
        ref = await store.transact(queue.remote_ref, "patient", visit.patient.id)
        assert ref is not None
        # Registration corrects the spelling of the name on the record store.
        current = httpx.get(f"{fhir_server.base_url}/Patient/{ref.server_id}", timeout=10).json()
        current["name"] = [{"use": "official", "family": "Syncdemog-Corrected", "given": ["Test"]}]
        httpx.put(
            f"{fhir_server.base_url}/Patient/{ref.server_id}", json=current, timeout=10
        ).raise_for_status()
        report = await _sync(store, fhir_server.base_url)
        assert report.pulled >= 1
        assert (await store.get_patient(visit.patient.id)).family_name == "Syncdemog-Corrected"
        assert (await _sync(store, fhir_server.base_url)).pulled == 0  # taken once
        assert await store.outbox_size() == 0  # not echoed back
        await store.close()

    run(scenario())
