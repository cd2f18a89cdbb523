"""The headless commands as IT and scripts use them: exit codes, one-line reasons, JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import TEST_PASSPHRASE, env_without_keyring, file_digests


def cli(
    profile: Path, *args: str, stdin: str = TEST_PASSPHRASE + "\n"
) -> subprocess.CompletedProcess[str]:
    # Passphrase mode and keyring 'fail' backend: these tests need no keyring daemon.
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "--profile",
            str(profile),
            "--key-source",
            "passphrase",
            "--passphrase-stdin",
            *args,
        ],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=env_without_keyring(),
    )


def test_check_before_any_store_exists(fresh_profile: Path) -> None:
    result = cli(fresh_profile, "check", "--json")
    report = json.loads(result.stdout)
    assert report["store"]["state"] == "not created"
    assert report["keyring"]["available"] is False
    assert report["disk"]["free_bytes"] > 0
    assert not (fresh_profile / "store.db").exists()


def test_demo_check_export_import_round_trip(fresh_profile: Path, tmp_path: Path) -> None:
    assert cli(fresh_profile, "demo").returncode == 0
    again = cli(fresh_profile, "demo")
    assert "nothing seeded" in again.stdout
    report = json.loads(cli(fresh_profile, "check", "--json").stdout)
    assert report["ok"] is True
    assert report["store"]["state"] == "unlocked"
    assert report["store"]["schema_version"] == report["store"]["latest_schema"]
    assert report["store"]["integrity"] == "ok"
    assert report["store"]["counts"]["encounters"] == 6
    assert report["store"]["key_source"] == "passphrase"

    out = tmp_path / "bundle.json"
    exported = cli(fresh_profile, "export", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    bundle = json.loads(out.read_text())
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("DocumentReference") == 2 and kinds.count("Patient") == 6

    other = tmp_path / "other-profile"
    first = cli(other, "import", str(out), "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["notes_created"] == 2
    second = json.loads(cli(other, "import", str(out), "--json").stdout)
    assert second["notes_created"] == 0 and second["patients_created"] == 0  # idempotent


def test_rejected_import_changes_nothing(fresh_profile: Path, tmp_path: Path) -> None:
    assert cli(fresh_profile, "demo").returncode == 0
    before = file_digests(fresh_profile)
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [
                    {
                        "fullUrl": "urn:uuid:5b6e3d3a-1111-4111-8111-111111111111",
                        "resource": {
                            "resourceType": "Patient",
                            "gender": "banana",
                            "name": [{"family": "Zebediah"}],
                        },
                    }
                ],
            }
        )
    )
    result = cli(fresh_profile, "import", str(bad))
    assert result.returncode != 0
    assert "rejected" in result.stderr and "Zebediah" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert file_digests(fresh_profile) == before
    for junk in (b"", b"{", b"[" * 100_000, "\u00e9".encode("latin-1")):
        bad.write_bytes(junk)
        assert cli(fresh_profile, "import", str(bad)).returncode != 0
    assert file_digests(fresh_profile) == before


def test_wrong_passphrase_is_one_line(fresh_profile: Path) -> None:
    assert cli(fresh_profile, "demo").returncode == 0
    result = cli(fresh_profile, "audit", "verify", stdin="nope nope nope\n")
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == "clinician-console: The passphrase does not open the record store. Try again."
    )


def test_usage_errors_exit_2(fresh_profile: Path) -> None:
    assert cli(fresh_profile, "frobnicate").returncode == 2
