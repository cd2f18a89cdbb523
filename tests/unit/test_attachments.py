"""Attachments (stethoscope clips, stills): real SQLCipher store, audit, outbox, FHIR mapping."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import struct
import wave
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.binary import Binary
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.media import Media
from fhir.resources.R4B.observation import Observation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import InputRejectedError, RecordNotFoundError
from app.records import (
    ATTACHMENT_METADATA_KEYS,
    Attachment,
    AttachmentKind,
    AuscultationSite,
    Encounter,
    KeySource,
    Patient,
    new_id,
    utc_now,
)
from storage import migrations, repository
from storage.fhir import media_mapping
from storage.fhir.mapping import ReferenceStyle
from storage.store import DB_FILE, EncryptedStore
from storage.sync import queue
from storage.sync.engine import _attachment_bundle, full_url
from tests.conftest import TEST_PASSPHRASE, open_test_store, run
from tests.unit import test_migrations

_open = open_test_store
MARKER = b"PLAINTEXT-CANARY-7f3a"  # must never appear on disk unencrypted
PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
HEART = {
    "auscultation_site": "mitral",
    "filter": "bell",
    "duration_s": 0.25,
    "sample_rate_hz": 8000,
    "heart_rate_bpm": 72.4,
    "heart_rate_confidence": 0.91,
}


def wav_bytes(seconds: float = 0.25, rate: int = 8000, marker: bytes = b"") -> bytes:
    """A real mono 16-bit WAV (a 60 Hz tone), optionally with a marker appended to the samples."""
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 60 * i / rate)))
        for i in range(int(seconds * rate))
    )
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames + (marker + b"\x00" if len(marker) % 2 else marker))
    return buf.getvalue()


async def _encounter(store: EncryptedStore) -> Encounter:
    patient = await store.add_patient(Patient(new_id(), "Thistlewood", "Iona", "1961-03-03"))
    return await store.add_encounter(Encounter(new_id(), patient.id, utc_now(), reason="Murmur"))


async def _rows(store: EncryptedStore, sql: str) -> list[tuple[Any, ...]]:
    rows = await store.transact(lambda conn: conn.execute(sql).fetchall())
    return [tuple(r) for r in rows]


def test_round_trip_audit_outbox_and_encrypted_at_rest(fresh_profile: Path) -> None:
    data = wav_bytes(marker=MARKER)

    async def scenario() -> None:
        store = await _open(fresh_profile)
        enc = await _encounter(store)
        att = await store.add_attachment(
            enc.id, "audio", "audio/wav", data, "Mitral, bell", dict(HEART)
        )
        assert att.kind is AttachmentKind.AUDIO and att.content_type == "audio/wav"
        assert att.size_bytes == len(data)
        assert att.sha256 == hashlib.sha256(data).hexdigest()
        assert att.metadata == HEART and att.heart_rate_bpm == 72.4
        assert att.observation_id and att.observation_id != att.id
        assert await store.list_attachments(enc.id) == [att]
        assert await store.read_attachment(att.id) == data
        entries = [
            (e.action, e.entity_type, e.entity_id)
            for e in await store.audit_entries()
            if e.entity_type == "attachment"
        ]
        assert entries == [("create", "attachment", att.id), ("read", "attachment", att.id)]
        assert (await store.verify_audit()).ok
        outbox = await _rows(store, "SELECT entity_type, entity_id, op FROM outbox ORDER BY seq")
        assert outbox[-1] == ("attachment", att.id, "create")
        # The sync queue hands out metadata only, with the patient it belongs to.
        pending = [
            p for p in await store.transact(queue.pending, 100) if p.item.entity_id == att.id
        ]
        assert pending[0].record == att and pending[0].patient_id == enc.patient_id
        await store.close()

    run(scenario())
    for path in fresh_profile.iterdir():
        if path.name.startswith(DB_FILE):
            assert MARKER not in path.read_bytes(), path.name


def test_image_attachment_and_listing_order(fresh_profile: Path) -> None:
    async def scenario() -> None:
        store = await _open(fresh_profile)
        enc = await _encounter(store)
        first = await store.add_attachment(
            enc.id, AttachmentKind.IMAGE, "image/png", PNG_1PX, "", {"width_px": 1, "height_px": 1}
        )
        second = await store.add_attachment(enc.id, "audio", "audio/x-wav", wav_bytes())
        assert [a.id for a in await store.list_attachments(enc.id)] == [first.id, second.id]
        assert first.observation_id == "" and second.metadata == {}
        with pytest.raises(RecordNotFoundError):
            await store.list_attachments(new_id())
        await store.close()

    run(scenario())


@pytest.mark.parametrize(
    ("kind", "content_type", "data", "title", "metadata", "reason"),
    [
        ("video", "audio/wav", wav_bytes(), "", None, "kind must be audio or image"),
        ("audio", "audio/mpeg", wav_bytes(), "", None, "must be one of"),
        ("audio", "audio/wav", PNG_1PX, "", None, "first bytes do not match"),
        ("image", "image/jpeg", PNG_1PX, "", None, "first bytes do not match"),
        ("image", "image/png", wav_bytes(), "", None, "first bytes do not match"),
        ("audio", "audio/wav", b"", "", None, "empty"),
        ("audio", "audio/wav", "RIFF", "", None, "must be bytes"),
        ("audio", "audio/wav", wav_bytes(), "two\nlines", None, "one line"),
        ("audio", "audio/wav", wav_bytes(), "", {"colour": "red"}, "'colour' is not supported"),
        ("audio", "audio/wav", wav_bytes(), "", {"width_px": 3}, "does not apply to audio"),
        ("image", "image/png", PNG_1PX, "", {"filter": "bell"}, "does not apply to image"),
        ("audio", "audio/wav", wav_bytes(), "", {"heart_rate_bpm": 900}, "out of range"),
        ("audio", "audio/wav", wav_bytes(), "", {"heart_rate_bpm": True}, "must be a number"),
        ("audio", "audio/wav", wav_bytes(), "", {"heart_rate_bpm": math.nan}, "out of range"),
        ("audio", "audio/wav", wav_bytes(), "", {"sample_rate_hz": 44100.5}, "whole number"),
        ("audio", "audio/wav", wav_bytes(), "", {"auscultation_site": "knee"}, "site"),
        ("audio", "audio/wav", wav_bytes(), "", [1, 2], "JSON object"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    fresh_profile: Path,
    kind: str,
    content_type: str,
    data: Any,
    title: str,
    metadata: Any,
    reason: str,
) -> None:
    async def scenario() -> None:
        store = await _open(fresh_profile)
        enc = await _encounter(store)
        before = await store.counts()
        with pytest.raises(InputRejectedError) as info:
            await store.add_attachment(enc.id, kind, content_type, data, title, metadata)
        assert reason in str(info.value.params.get("reason"))
        assert await store.counts() == before
        assert await _rows(store, "SELECT count(*) FROM attachments") == [(0,)]
        await store.close()

    run(scenario())


def test_size_limit(fresh_profile: Path) -> None:
    too_big = wav_bytes()[:44] + bytes(repository.MAX_ATTACHMENT_BYTES)  # header + 50 MB

    async def scenario() -> None:
        store = await _open(fresh_profile)
        enc = await _encounter(store)
        with pytest.raises(InputRejectedError, match="limited to 50 MB"):
            await store.add_attachment(enc.id, "audio", "audio/wav", too_big)
        assert await _rows(store, "SELECT count(*) FROM attachments") == [(0,)]
        # Just under the limit is accepted and reads back whole.
        fits = too_big[: repository.MAX_ATTACHMENT_BYTES]
        att = await store.add_attachment(enc.id, "audio", "audio/wav", fits)
        assert att.size_bytes == repository.MAX_ATTACHMENT_BYTES
        assert await store.read_attachment(att.id) == fits
        await store.close()

    run(scenario())


def test_reasons_never_quote_values() -> None:
    with pytest.raises(InputRejectedError) as info:
        repository.check_attachment(
            "audio", "audio/wav", wav_bytes(), "", {"auscultation_site": "Mrs Quill's chest"}
        )
    assert "Quill" not in str(info.value.params) and "Quill" not in str(info.value)
    with pytest.raises(InputRejectedError) as info:
        repository.check_attachment("audio", "audio/wav", wav_bytes(), "", {"Quill Ada": 1})
    assert "Quill" not in str(info.value.params)


def test_attachments_service_emits_what_changed(fresh_profile: Path) -> None:
    from app.events import ConsoleEvents
    from app.services import AttachmentsService

    async def scenario() -> None:
        store = await _open(fresh_profile)
        enc = await _encounter(store)
        events = ConsoleEvents()
        service = AttachmentsService(store, events)
        added: list[Any] = []
        deleted: list[Any] = []
        events.attachment_did_add.connect(lambda att, src: added.append((att, src)))
        events.attachment_did_delete.connect(lambda gone, src: deleted.append((gone, src)))
        att = await service.attach(enc.id, "audio", "audio/wav", wav_bytes(), "", HEART, "me")
        assert added == [(att, "me")]
        assert await service.for_encounter(enc.id) == [att]
        assert await service.read(att.id) == wav_bytes()
        await service.delete(att.id)
        assert deleted[0][0].attachment_id == att.id
        await store.close()

    run(scenario())


def test_unknown_encounter_is_refused(fresh_profile: Path) -> None:
    async def scenario() -> None:
        store = await _open(fresh_profile)
        with pytest.raises(RecordNotFoundError):
            await store.add_attachment(new_id(), "audio", "audio/wav", wav_bytes())
        assert await store.outbox_size() == 0
        await store.close()

    run(scenario())


def test_delete_only_before_sync(fresh_profile: Path) -> None:
    async def scenario() -> None:
        store = await _open(fresh_profile)
        enc = await _encounter(store)
        mistaken = await store.add_attachment(enc.id, "audio", "audio/wav", wav_bytes())
        kept = await store.add_attachment(enc.id, "audio", "audio/wav", wav_bytes(0.5))
        gone = await store.delete_attachment(mistaken.id)
        assert (gone.attachment_id, gone.encounter_id) == (mistaken.id, enc.id)
        assert [a.id for a in await store.list_attachments(enc.id)] == [kept.id]
        assert await _rows(
            store, f"SELECT count(*) FROM outbox WHERE entity_id = '{mistaken.id}'"
        ) == [(0,)]
        actions = [(e.action, e.entity_id) for e in await store.audit_entries()]
        assert ("delete", mistaken.id) in actions
        with pytest.raises(RecordNotFoundError):
            await store.read_attachment(mistaken.id)
        # Once the record store acknowledged it, it stays.
        await store.transact(
            lambda conn: queue.set_remote_ref(
                conn, "attachment", kept.id, queue.RemoteRef("srv-1", "1", kept.sha256)
            )
        )
        with pytest.raises(InputRejectedError, match="synced"):
            await store.delete_attachment(kept.id)
        assert await store.read_attachment(kept.id) == wav_bytes(0.5)
        assert (await store.verify_audit()).ok
        await store.close()

    run(scenario())


def test_migration_from_the_previous_version_keeps_data(fresh_profile: Path) -> None:
    previous = migrations.LATEST - 1
    test_migrations._old_store(fresh_profile, previous)

    async def scenario() -> None:
        store = await EncryptedStore.open(
            fresh_profile, passphrase=TEST_PASSPHRASE, key_source=KeySource.PASSPHRASE
        )
        assert store.status.schema_version == migrations.LATEST
        note = await store.open_note(test_migrations.NOTE_ID)
        assert note.text.endswith("nebuliser twice daily")
        att = await store.add_attachment(
            test_migrations.ENC_ID, "audio", "audio/wav", wav_bytes(), "", dict(HEART)
        )
        assert await store.read_attachment(att.id) == wav_bytes()
        assert (await store.verify_audit()).ok
        await store.close()

    run(scenario())
    assert (fresh_profile / f"{DB_FILE}.v{previous}.bak").exists()


# --- FHIR mapping ---------------------------------------------------------------------------


def _attachment(metadata: dict[str, object], *, kind: str = "audio") -> tuple[Attachment, bytes]:
    data = wav_bytes() if kind == "audio" else PNG_1PX
    checked_kind, content_type, raw, title, checked = repository.check_attachment(
        kind, "audio/wav" if kind == "audio" else "image/png", data, "Clip", metadata
    )
    return (
        Attachment(
            id=new_id(),
            encounter_id=new_id(),
            kind=checked_kind,
            content_type=content_type,
            title=title,
            created_at=utc_now(),
            size_bytes=len(raw),
            sha256=hashlib.sha256(raw).hexdigest(),
            metadata=checked,
            observation_id=new_id() if "heart_rate_bpm" in checked else "",
        ),
        raw,
    )


def test_mapping_binary_media_observation_validate() -> None:
    att, data = _attachment(dict(HEART))
    patient_id = new_id()
    made = media_mapping.attachment_resources(att, data, patient_id)
    binary = Binary.model_validate(made.binary)
    assert base64.b64decode(made.binary["data"]) == data and binary.contentType == "audio/wav"
    assert made.binary["id"] == media_mapping.binary_id(att.id)
    assert made.binary["securityContext"]["reference"] == f"urn:uuid:{patient_id}"

    media = Media.model_validate(made.media)
    assert media.status == "completed"
    assert (media.type.coding[0].system, media.type.coding[0].code) == (
        media_mapping.MEDIA_TYPE_SYSTEM,
        "audio",
    )
    assert made.media["identifier"] == [
        {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{att.id}"}
    ]
    assert made.media["subject"]["reference"] == f"urn:uuid:{patient_id}"
    assert made.media["encounter"]["reference"] == f"urn:uuid:{att.encounter_id}"
    content = made.media["content"]
    assert content["url"] == f"urn:uuid:{made.binary['id']}"
    assert content["size"] == len(data)
    assert base64.b64decode(content["hash"]) == hashlib.sha1(data).digest()
    assert made.media["bodySite"]["coding"][0]["code"] == "91134007"  # mitral valve structure
    assert made.media["duration"] == 0.25
    assert "bell" in made.media["note"][0]["text"]

    assert made.observation is not None
    obs = Observation.model_validate(made.observation)
    assert obs.status == "final"
    assert obs.category[0].coding[0].code == "vital-signs"
    assert (obs.code.coding[0].system, obs.code.coding[0].code) == ("http://loinc.org", "8867-4")
    assert made.observation["valueQuantity"] == {
        "value": 72.4,
        "unit": "beats/minute",
        "system": "http://unitsofmeasure.org",
        "code": "/min",
    }
    assert made.observation["derivedFrom"][0]["reference"] == f"urn:uuid:{att.id}"
    assert "0.91" in made.observation["note"][0]["text"]
    assert "autocorrelation" in made.observation["method"]["text"]


@pytest.mark.parametrize(
    "metadata",
    [{}, {"heart_rate_bpm": None, "heart_rate_confidence": 0.1}, {"auscultation_site": "lung"}],
)
def test_observation_only_with_a_heart_rate(metadata: dict[str, object]) -> None:
    att, data = _attachment(metadata)
    assert "heart_rate_confidence" not in att.metadata
    made = media_mapping.attachment_resources(att, data, new_id())
    assert made.observation is None
    Media.model_validate(made.media)


def test_image_media_and_every_site_maps() -> None:
    att, data = _attachment({"width_px": 1, "height_px": 1}, kind="image")
    media = media_mapping.media_resource(att, data, new_id(), references=ReferenceStyle.RELATIVE)
    assert media["type"]["coding"][0]["code"] == "image"
    assert (media["width"], media["height"]) == (1, 1)
    assert media["content"]["url"] == f"Binary/{media_mapping.binary_id(att.id)}"
    assert media["subject"]["reference"].startswith("Patient/")
    for site in AuscultationSite:
        concept = media_mapping.body_site(site.value)
        assert concept["coding"][0]["system"] == "http://snomed.info/sct" and concept["text"]


def test_bytes_that_do_not_match_the_digest_are_not_mapped() -> None:
    att, data = _attachment({})
    with pytest.raises(InputRejectedError, match="digest"):
        media_mapping.binary_resource(att, data + b"x", new_id())


def test_sync_bundle_is_put_binary_then_conditional_creates() -> None:
    att, data = _attachment(dict(HEART))
    server = {"Patient": "p-1", "Encounter": "e-1"}

    def fmt(rtype: str, local_id: str) -> str:
        if rtype == "Binary":
            return f"Binary/{local_id}"
        if rtype == "Media":
            return full_url("Media", local_id)
        return f"{rtype}/{server[rtype]}"

    bundle = _attachment_bundle(att, data, new_id(), fmt)
    Bundle.model_validate(bundle)
    binary, media, obs = bundle["entry"]
    assert binary["request"] == {
        "method": "PUT",
        "url": f"Binary/{media_mapping.binary_id(att.id)}",
    }
    assert media["request"]["ifNoneExist"] == f"identifier=urn:ietf:rfc:3986|urn:uuid:{att.id}"
    assert obs["request"]["ifNoneExist"].endswith(f"urn:uuid:{att.observation_id}")
    assert "id" not in media["resource"] and "id" not in obs["resource"]
    assert media["resource"]["content"]["url"] == binary["request"]["url"]
    assert media["resource"]["encounter"]["reference"] == "Encounter/e-1"
    assert obs["resource"]["derivedFrom"][0]["reference"] == media["fullUrl"]
    # A fullUrl never equals a stored string (servers may rewrite those, DESIGN.md §4).
    assert media["fullUrl"] != f"urn:uuid:{att.id}"


def test_export_with_and_without_attachments(fresh_profile: Path) -> None:
    async def scenario() -> None:
        store = await _open(fresh_profile)
        enc = await _encounter(store)
        await store.create_note(enc.id, "Plan:\nrecheck")
        att = await store.add_attachment(enc.id, "audio", "audio/wav", wav_bytes(), "", HEART)
        plain = await store.export_bundle()
        assert {e["resource"]["resourceType"] for e in plain["entry"]} == {
            "Patient",
            "Encounter",
            "DocumentReference",
        }
        full = await store.export_bundle(include_attachments=True)
        Bundle.model_validate(full)
        by_type = {e["resource"]["resourceType"]: e for e in full["entry"]}
        assert set(by_type) >= {"Binary", "Media", "Observation"}
        assert base64.b64decode(by_type["Binary"]["resource"]["data"]) == wav_bytes()
        assert by_type["Media"]["resource"]["content"]["url"] == by_type["Binary"]["fullUrl"]
        assert by_type["Media"]["fullUrl"] == f"urn:uuid:{att.id}"
        await store.close()

    run(scenario())


_json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**7),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from([s.value for s in AuscultationSite] + ["bell", "diaphragm", "lung", "wide"]),
)
_json_value = st.recursive(
    _json_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner)
)
_keys = st.one_of(st.sampled_from(sorted(ATTACHMENT_METADATA_KEYS)), st.text(max_size=12))


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    kind=st.sampled_from(["audio", "image"]),
    metadata=st.one_of(_json_value, st.dictionaries(_keys, _json_value, max_size=6)),
)
def test_metadata_garbage_is_a_clear_error_or_maps(kind: str, metadata: Any) -> None:
    data = wav_bytes(0.01) if kind == "audio" else PNG_1PX
    content_type = "audio/wav" if kind == "audio" else "image/png"
    try:
        checked = repository.check_attachment(kind, content_type, data, "", metadata)[4]
    except InputRejectedError as exc:
        reason = str(exc.params.get("reason"))
        assert reason.startswith(("attachment metadata", "an attachment"))
        return
    assert set(checked) <= set(ATTACHMENT_METADATA_KEYS)
    att, raw = _attachment(checked, kind=kind)
    made = media_mapping.attachment_resources(att, raw, new_id())
    Media.model_validate(made.media)
    if made.observation is not None:
        Observation.model_validate(made.observation)


def test_a_refused_attachment_is_marked_failed_and_a_5xx_keeps_it_queued(
    fresh_profile: Path,
) -> None:
    """A mock server, because a real one will not refuse or fail on demand (SEKMET paths
    are in tests/integration/test_attachment_sync.py)."""
    import httpx

    from app.errors import SyncRetryableError
    from storage.fhir.client import FhirClient
    from storage.sync.engine import SyncEngine

    seen: list[dict[str, Any]] = []
    status = {"code": 503}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content) if request.content else {})
        if request.method == "GET":  # the pull after the push: nothing new
            return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset"})
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "too-costly", "diagnostics": "too large"}],
        }
        return httpx.Response(status["code"], json=outcome)

    async def scenario() -> None:
        store = await _open(fresh_profile)
        enc = await _encounter(store)
        att = await store.add_attachment(enc.id, "audio", "audio/wav", wav_bytes(), "", HEART)

        def on_server(conn: Any) -> None:  # patient and encounter already synced
            for kind, local_id in (("patient", enc.patient_id), ("encounter", enc.id)):
                queue.set_remote_ref(conn, kind, local_id, queue.RemoteRef("s-" + kind, "1", ""))
                conn.execute("DELETE FROM outbox WHERE entity_id = ?", (local_id,))

        await store.transact(on_server)
        client = FhirClient(
            "https://fhir.test/fhir", transport=httpx.MockTransport(handler), timeout=2
        )
        async with client:
            with pytest.raises(SyncRetryableError):
                await SyncEngine(store).sync_once(client)
            assert (await store.transact(queue.waiting))["waiting"] == 1  # still queued
            status["code"] = 422
            report = await SyncEngine(store).sync_once(client)
            assert (report.sent, report.failed) == (1, 1)
            failures = await store.transact(queue.failures)
            assert failures[0][:2] == ("attachment", att.id) and "422" in failures[0][2]
            # Record Bundles only: audit entries follow in their own (AuditEvent) Bundles.
            posts = [
                b
                for b in seen
                if b.get("type") == "transaction"
                and any(e["request"]["url"] != "AuditEvent" for e in b["entry"])
            ]
            entry_urls = [e["request"]["url"] for e in posts[-1]["entry"]]
            assert entry_urls == [
                f"Binary/{media_mapping.binary_id(att.id)}",
                "Media",
                "Observation",
            ]
            # Refused: not sent again until something changes (attachments never do).
            again = await SyncEngine(store).sync_once(client)
            assert again.sent == 0
        await store.close()

    run(scenario())


def test_still_metadata_maps_to_media_elements() -> None:
    att, data = _attachment(
        {
            "width_px": 1,
            "height_px": 1,
            "body_site": "14975008",
            "laterality": "left",
            "view": "close-up",
            "captured_at": "2026-12-05T10:00:00+00:00",
            "captured_by": "Nurse Example",
            "camera": "USB exam camera",
            "scale_points": [10, 10, 110, 10],
            "scale_distance_mm": 5,
            "quality_problems": ["blurred"],
            "quality_kept_anyway": True,
        },
        kind="image",
    )
    assert att.metadata["scale_mm_per_px"] == 0.05  # derived, never taken from the caller
    media = media_mapping.media_resource(att, data, new_id())
    Media.model_validate(media)
    assert media["bodySite"]["coding"][0] == {
        "system": "http://snomed.info/sct",
        "code": "14975008",
        "display": "Forearm structure",
    }
    assert media["bodySite"]["text"] == "Forearm, left"
    assert media["view"] == {"text": "close-up"}
    assert media["createdDateTime"] == "2026-12-05T10:00:00+00:00"
    assert media["operator"] == {"display": "Nurse Example"}
    assert media["deviceName"] == "USB exam camera"
    notes = media["note"][0]["text"]
    assert "0.05 mm per pixel" in notes and "blurred" in notes
    scale = {e["url"]: e for e in media["extension"][0]["extension"]}
    assert scale["distance"]["valueQuantity"]["value"] == 5


@pytest.mark.parametrize(
    "metadata",
    [
        {"scale_points": [0, 0, 10, 0]},  # no distance
        {"scale_distance_mm": 10},  # no points
        {"scale_points": [0, 0, 1, 0], "scale_distance_mm": 10},  # 1 px apart
        {"scale_mm_per_px": 0.1},  # derived only
        {"body_site": "not-a-code"},
        {"laterality": "up"},
        {"captured_at": "2026-12-05T10:00:00"},  # no offset
        {"quality_problems": ["ugly"]},
        {"captured_by": "two\nlines"},
    ],
)
def test_bad_still_metadata_is_refused(metadata: dict[str, object]) -> None:
    with pytest.raises(InputRejectedError, match="attachment metadata"):
        repository.check_attachment("image", "image/png", PNG_1PX, "", metadata)
