"""``clinician-console image check`` and ``image add`` (app/commands/image.py), as subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.images_support import at_megapixels, gaussian, jpeg_bytes, photo


def cli(profile: Path, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "--profile", str(profile), *args],
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,  # type: ignore[call-overload]
    )


def test_check_prints_one_json_object_with_the_verdict(fresh_profile: Path, tmp_path: Path) -> None:
    sharp = at_megapixels(photo("retina.jpg"), 1.0)
    good = tmp_path / "fundus.jpg"
    good.write_bytes(jpeg_bytes(sharp))
    blurred = tmp_path / "fundus-blurred.jpg"
    blurred.write_bytes(jpeg_bytes(gaussian(sharp, 2.0)))

    result = cli(fresh_profile, "image", "check", str(good), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["problems"] == []
    assert (report["width"], report["height"]) == (sharp.shape[1], sharp.shape[0])

    result = cli(fresh_profile, "image", "check", str(blurred), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["problems"] == ["blurred"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"just some text, not a picture\n", "not a JPEG or PNG"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 64, "could not be used"),
    ],
)
def test_check_refuses_a_bad_file_with_one_line(
    fresh_profile: Path, tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    result = cli(fresh_profile, "image", "check", str(path), "--json")
    assert result.returncode == 1
    assert result.stdout == ""
    assert reason in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# --- image add -------------------------------------------------------------------------


def store_cli(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Passphrase mode: these tests need no keyring daemon."""
    from tests.conftest import TEST_PASSPHRASE
    from tests.unit.test_cli import env_without_keyring

    return cli(
        profile,
        "--key-source",
        "passphrase",
        "--passphrase-stdin",
        *args,
        input=TEST_PASSPHRASE + "\n",
        env=env_without_keyring(),
    )


def _seed(profile: Path) -> str:
    from app.records import Encounter, Patient, new_id, utc_now
    from tests.conftest import open_test_store, run

    async def seed() -> str:
        store = await open_test_store(profile)
        try:
            patient = await store.add_patient(Patient(new_id(), "Lens", "Ada", "1970-01-01"))
            enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
            return enc.id
        finally:
            await store.close()

    return run(seed())


def _state(profile: Path) -> tuple[list[object], int, int]:
    from tests.conftest import open_test_store, run

    async def read(enc_ids: list[str]) -> tuple[list[object], int, int]:
        store = await open_test_store(profile)
        try:
            found: list[object] = []
            for enc in await store.list_encounters():
                found += await store.list_attachments(enc.encounter.id)
            from storage import audit

            logged = await store.transact(audit.entries)
            touched = sum(1 for e in logged if e.entity_type == "attachment")
            return found, await store.outbox_size(), touched
        finally:
            await store.close()

    return run(read([]))


def test_add_stores_the_still_with_its_metadata(fresh_profile: Path, tmp_path: Path) -> None:
    import hashlib

    enc_id = _seed(fresh_profile)
    still = at_megapixels(photo("retina.jpg"), 1.0)
    path = tmp_path / "fundus.jpg"
    data = jpeg_bytes(still)
    path.write_bytes(data)
    result = store_cli(
        fresh_profile,
        "image",
        "add",
        str(path),
        "--encounter",
        enc_id,
        "--site",
        "5665001",
        "--laterality",
        "left",
        "--view",
        "fundus",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["encounter_id"] == enc_id
    assert out["sha256"] == hashlib.sha256(data).hexdigest()
    assert out["problems"] == []
    attachments, _outbox, _audit = _state(fresh_profile)
    assert len(attachments) == 1
    att = attachments[0]
    assert att.id == out["image_id"]
    assert att.kind == "image"
    assert att.content_type == "image/jpeg"
    assert att.metadata["body_site"] == "5665001"
    assert att.metadata["laterality"] == "left"
    assert att.metadata["view"] == "fundus"
    assert att.metadata["width_px"] == still.shape[1]
    assert att.metadata["captured_by"]
    assert "quality_problems" not in att.metadata


def test_add_keeps_a_blurred_still_with_the_warning(fresh_profile: Path, tmp_path: Path) -> None:
    enc_id = _seed(fresh_profile)
    path = tmp_path / "soft.jpg"
    path.write_bytes(jpeg_bytes(gaussian(at_megapixels(photo("retina.jpg"), 1.0), 2.0)))
    result = store_cli(fresh_profile, "image", "add", str(path), "--encounter", enc_id, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["problems"] == ["blurred"]
    (att,), _o, _a = _state(fresh_profile)
    assert att.metadata["quality_problems"] == ["blurred"]
    assert att.metadata["quality_kept_anyway"] is True


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    import zlib

    good = jpeg_bytes(photo("astronaut.png"))
    files = {
        "text": (b"hello, not an image\n", "not a JPEG or PNG"),
        "truncated": (good[: len(good) // 2], "damaged"),
        "garbage-jpeg": (b"\xff\xd8\xff\xe0" + bytes(5000), "could not be used"),
        "gif": (b"GIF89a" + bytes(100), "not a JPEG or PNG"),
    }
    # 120 MP PNG header (a decompression bomb), 50 MB + 1 byte.
    import struct

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    header = struct.pack(">IIBBBBB", 12000, 10000, 8, 2, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
    files["bomb"] = (bomb + chunk(b"IEND", b""), "100 megapixels")
    files["huge"] = (good + bytes(50 * 1024 * 1024), "50 MB")
    out = {}
    for name, (content, reason) in files.items():
        path = tmp_path / f"{name}.jpg"
        path.write_bytes(content)
        out[name] = (path, reason)
    return out


def test_add_refuses_bad_input_and_writes_nothing(fresh_profile: Path, tmp_path: Path) -> None:
    from tests.conftest import file_digests

    enc_id = _seed(fresh_profile)
    good = tmp_path / "good.jpg"
    good.write_bytes(jpeg_bytes(photo("astronaut.png")))
    _none, outbox_before, audit_before = _state(fresh_profile)
    before = file_digests(fresh_profile)
    bad = _bad_files(tmp_path).values()
    cases = [(path, ["--encounter", enc_id], reason) for path, reason in bad]
    cases += [
        (good, ["--encounter", "0190c0de-0000-7000-8000-000000000000"], "does not exist"),
        (good, ["--encounter", enc_id, "--site", "12345"], "body site"),
        (good, ["--encounter", enc_id, "--view", "x" * 300], "view"),
    ]
    for path, flags, reason in cases:
        result = store_cli(fresh_profile, "image", "add", str(path), *flags, "--json")
        assert result.returncode == 1, (path.name, result.stdout)
        assert result.stdout == ""
        assert reason in result.stderr, (path.name, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1
    attachments, outbox, audit_entries = _state(fresh_profile)
    assert attachments == []
    assert (outbox, audit_entries) == (outbox_before, audit_before)
    # Nothing but the store's own bookkeeping changed (no stray files, no partial writes).
    after = file_digests(fresh_profile)
    assert not [p for p in after if p not in before and "store.db" not in p]
