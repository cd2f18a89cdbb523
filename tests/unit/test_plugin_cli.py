"""``clinician-console plugins validate|list``: exit codes, one-line reasons, JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXAMPLE_MANIFEST = (
    Path(__file__).parents[1] / "plugins/example_plugin/cc_example_plugin/plugin.toml"
)


def cli(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "--profile", str(profile), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_validate_good_manifest(fresh_profile: Path) -> None:
    result = cli(fresh_profile, "plugins", "validate", str(EXAMPLE_MANIFEST))
    assert result.returncode == 0, result.stderr
    assert "valid (example.hello 1.2.0, API 1)" in result.stdout
    report = json.loads(
        cli(fresh_profile, "plugins", "validate", str(EXAMPLE_MANIFEST), "--json").stdout
    )
    assert report["ok"] is True
    assert report["compatible"] is True
    assert report["panels"] == ["example.hello.panel"]
    assert report["capabilities"] == ["ui.panel", "encounter.attach"]


def test_validate_with_import_checks_signatures(fresh_profile: Path, tmp_path: Path) -> None:
    ok = cli(fresh_profile, "plugins", "validate", "--import", str(EXAMPLE_MANIFEST))
    assert ok.returncode == 0, ok.stderr
    package = tmp_path / "wrongsig"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "core.py").write_text("def activate(context):\n    pass\n")
    manifest = package / "plugin.toml"
    manifest.write_text(
        'id = "acme.wrongsig"\nname = "W"\nversion = "1"\napi = ["1"]\n'
        '[contributions]\nactivate = "wrongsig.core:activate"\n'
    )
    assert cli(fresh_profile, "plugins", "validate", str(manifest)).returncode == 0
    bad = cli(fresh_profile, "plugins", "validate", "--import", str(manifest), "--json")
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["ok"] is False
    assert "must take (ctx), not (context)" in bad.stderr


def test_validate_bad_manifests(fresh_profile: Path, tmp_path: Path) -> None:
    garbage = tmp_path / "plugin.toml"
    garbage.write_bytes(b"id = [unterminated\n\x00")
    result = cli(fresh_profile, "plugins", "validate", str(garbage))
    assert result.returncode == 1
    assert result.stderr.startswith("clinician-console: The plugin manifest")
    assert "not valid TOML" in result.stderr
    assert result.stderr.count("\n") == 1  # one line

    future = tmp_path / "future.toml"
    future.write_text('id = "acme.future"\nname = "F"\nversion = "1"\napi = ["9"]\n')
    result = cli(fresh_profile, "plugins", "validate", str(future), "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["compatible"] is False
    assert "needs API 9" in report["problems"][0]

    missing = cli(fresh_profile, "plugins", "validate", str(tmp_path / "absent.toml"))
    assert missing.returncode == 1
    assert "No such file" in missing.stderr

    usage = cli(fresh_profile, "plugins", "validate")
    assert usage.returncode == 2


def test_list_follows_the_policy(fresh_profile: Path, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[plugins]\nallow = ["someone.else"]\n')
    result = cli(fresh_profile, "--policy", str(policy), "plugins", "list", "--json")
    assert result.returncode == 0, result.stderr
    plugins = {p["id"]: p for p in json.loads(result.stdout)["plugins"]}
    # Our own pyproject.toml registers the stethoscope through the same entry point.
    assert plugins["clinician-console.stethoscope"]["state"] == "not_allowed"
    assert plugins["clinician-console.stethoscope"]["granted"] == []
