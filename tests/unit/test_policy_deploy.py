"""Managed policy for IT (DESIGN.md §3, issue 6): precedence, locking, bad files, the template.

Real files in temp directories and the real CLI entry point; nothing mocked.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app import __version__
from app.cli import main
from app.errors import ConfigError, PolicyError
from app.settings import (
    Settings,
    dumps_toml,
    load_settings,
    read_user_settings,
    write_user_settings,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "installers" / "policy" / "policy.toml"

# Every setting that matters to IT (issue 6), with a non-default value.
POLICY_VALUES: dict[str, Any] = {
    "record_store.url": "https://fhir.example.org/fhir",
    "record_store.ca_file": "/etc/ssl/certs/clinic-ca.pem",
    "record_store.auth": "basic",
    "record_store.username": "console-01",
    "media_server.url": "wss://visits.example.org/janus",
    "media_server.turn": ["turns:turn.example.org:443?transport=tcp"],
    "media_server.force_relay": True,
    "media_server.interfaces": ["eth1"],
    "plugins.allow": ["clinician-console.stethoscope"],
    "security.idle_lock_minutes": 3,
    "demo.allowed": False,
    "updates.channel": "beta",
    "updates.enabled": False,
    "updates.url": "https://updates.example.org/cc",
    "store.key_source": "keyring",
}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def value_of(settings: Settings, dotted: str) -> Any:
    section, key = dotted.split(".")
    return getattr(getattr(settings, section), key)


def test_policy_wins_over_the_user_and_locks_only_its_keys(tmp_path: Path) -> None:
    profile = tmp_path / "profile"
    write(
        profile / "settings.toml",
        '[security]\nidle_lock_minutes = 30\n[media_server]\nurl = "wss://mine/janus"\n',
    )
    policy = write(tmp_path / "policy.toml", "[security]\nidle_lock_minutes = 5\n")
    eff = load_settings(profile, policy)
    assert eff.settings.security.idle_lock_minutes == 5
    assert eff.settings.media_server.url == "wss://mine/janus"  # not managed: the user's
    assert eff.locked == frozenset({"security.idle_lock_minutes"})
    assert eff.policy_path == policy


@pytest.mark.parametrize("dotted", sorted(POLICY_VALUES))
def test_every_it_setting_can_be_set_and_locked_by_policy(tmp_path: Path, dotted: str) -> None:
    section, key = dotted.split(".")
    value = POLICY_VALUES[dotted]
    user = {section: {key: _other(value)}}
    write_user_settings(tmp_path / "profile", user)
    policy = write(tmp_path / "policy.toml", dumps_toml({section: {key: value}}))
    eff = load_settings(tmp_path / "profile", policy)
    assert value_of(eff.settings, dotted) == value
    assert dotted in eff.locked


def _other(value: Any) -> Any:
    """A different valid value of the same type (what the user had chosen)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 7
    if isinstance(value, list):
        return []
    if value in ("basic", "keyring", "beta"):
        return {"basic": "none", "keyring": "passphrase", "beta": "stable"}[value]
    return value + "/other"


def test_no_policy_file_means_nothing_locked(tmp_path: Path) -> None:
    eff = load_settings(tmp_path / "profile", tmp_path / "absent.toml")
    assert eff.locked == frozenset() and eff.policy_path is None
    assert eff.settings == Settings()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[security\nidle_lock_minutes = 5\n", "Expected ']'"),
        ("[updates]\nchanel = 'beta'\n", "updates.chanel: unknown key"),
        ("[update]\nchannel = 'beta'\n", "update: unknown key"),
        ("idle_lock_minutes = 5\n", "idle_lock_minutes: unknown key"),
        ("[media_server]\nforce_relay = 'yes'\n", "media_server.force_relay"),
        ("[security]\nidle_lock_minutes = '10'\n", "security.idle_lock_minutes"),
        ("[security]\nidle_lock_minutes = 0\n", "security.idle_lock_minutes"),
        ("[updates]\nchannel = 'nightly'\n", "updates.channel"),
        ("[plugins]\nallow = 'clinician-console.stethoscope'\n", "plugins.allow"),
        ("[demo]\nallowed = 1\n", "demo.allowed"),
    ],
)
def test_a_malformed_policy_is_a_clear_error(tmp_path: Path, text: str, expected: str) -> None:
    policy = write(tmp_path / "policy.toml", text)
    with pytest.raises(PolicyError) as err:
        load_settings(tmp_path / "profile", policy)
    message = str(err.value)
    assert expected in message
    assert str(policy) in message  # IT needs the full path
    assert "will not run until IT corrects it" in message


def test_a_policy_that_is_not_utf8_or_not_a_file(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_bytes(b"[security]\nidle_lock_minutes = 5 # \xff\xfe\n")
    with pytest.raises(PolicyError):
        load_settings(tmp_path / "profile", policy)
    (tmp_path / "dir.toml").mkdir()
    with pytest.raises(PolicyError):
        load_settings(tmp_path / "profile", tmp_path / "dir.toml")


def test_a_malformed_user_file_is_a_config_error_not_a_policy_error(tmp_path: Path) -> None:
    write(tmp_path / "profile" / "settings.toml", "[security]\nidle = 5\n")
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path / "profile", tmp_path / "absent.toml")
    assert not isinstance(err.value, PolicyError)
    assert "settings.toml" in str(err.value) and "security.idle: unknown key" in str(err.value)


def test_cli_refuses_to_run_on_a_malformed_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = write(tmp_path / "policy.toml", "[security]\nidle_lock_minutes = 'ten'\n")
    for argv in (["audit", "verify"], ["demo"], ["update", "check"], ["export", "--out", "-"]):
        assert main(["--policy", str(policy), *argv]) == 1, argv
        err = capsys.readouterr().err
        assert "managed policy" in err and "security.idle_lock_minutes" in err, argv
    # check reports it among its findings, and fails too.
    assert main(["--policy", str(policy), "check", "--json"]) == 1
    out = capsys.readouterr().out
    assert '"settings": "error"' in out


def test_demo_mode_can_be_turned_off_by_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = write(tmp_path / "policy.toml", "[demo]\nallowed = false\n")
    assert main(["--policy", str(policy), "demo"]) == 1
    assert "Demo mode is turned off" in capsys.readouterr().err
    assert main(["--policy", str(policy), "--demo", "gui"]) == 1
    assert "Demo mode is turned off" in capsys.readouterr().err


def test_updates_can_be_turned_off_by_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = write(
        tmp_path / "policy.toml",
        '[updates]\nenabled = false\nurl = "http://127.0.0.1:9/"\nchannel = "stable"\n',
    )
    assert main(["--policy", str(policy), "update", "check", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"reason": "updates are turned off (updates.enabled)"' in out
    assert '"updates.channel"' in out and '"updates.enabled"' in out  # reported as locked


def _uncommented_template() -> str:
    """The shipped template with every commented setting switched on."""
    lines = []
    for line in TEMPLATE.read_text().splitlines():
        m = re.match(r"^# (\[[a-z_]+\]|[a-z_]+ = .*?)(\s+#.*)?$", line)
        if m:
            lines.append(m.group(1))
    return "\n".join(lines) + "\n"


def test_the_shipped_template_sets_nothing_and_documents_every_key(tmp_path: Path) -> None:
    # As shipped (all comments) it manages nothing.
    assert tomllib.loads(TEMPLATE.read_text()) == {}
    eff = load_settings(tmp_path / "profile", TEMPLATE)
    assert eff.locked == frozenset()
    # Switched on, every line is a valid policy, and every key is there.
    on = write(tmp_path / "on.toml", _uncommented_template())
    eff = load_settings(tmp_path / "profile", on)
    every_key = {
        f"{section}.{key}"
        for section, model in Settings.model_fields.items()
        for key in model.annotation.model_fields  # type: ignore[union-attr]
    }
    assert eff.locked == every_key
    docs = (ROOT / "docs" / "deploy.md").read_text()
    missing = [k for k in sorted(every_key) if f"`{k}`" not in docs]
    assert not missing, f"docs/deploy.md does not document {missing}"


def test_user_settings_round_trip(tmp_path: Path) -> None:
    data = {
        "record_store": {"url": 'https://x/"q"\\path', "username": "clínica ünit"},
        "media_server": {"turn": ["turn:a:3478", "turns:b:443"], "force_relay": True},
        "security": {"idle_lock_minutes": 15},
    }
    path = write_user_settings(tmp_path / "profile", data)
    assert tomllib.loads(path.read_text()) == data
    assert read_user_settings(tmp_path / "profile") == data


def test_writing_invalid_user_settings_is_refused_and_keeps_the_file(tmp_path: Path) -> None:
    profile = tmp_path / "profile"
    write_user_settings(profile, {"security": {"idle_lock_minutes": 15}})
    before = (profile / "settings.toml").read_bytes()
    with pytest.raises(ConfigError):
        write_user_settings(profile, {"security": {"idle_lock_minutes": 999}})
    assert (profile / "settings.toml").read_bytes() == before


@settings(max_examples=200, deadline=None)
@given(st.text(), st.lists(st.text(), max_size=4))
def test_dumps_toml_strings_read_back_exactly(text: str, items: list[str]) -> None:
    data = {"record_store": {"url": text}, "media_server": {"turn": items}}
    assert tomllib.loads(dumps_toml(data)) == data


def test_version_is_single_sourced() -> None:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        assert tomllib.load(fh)["project"]["version"] == __version__
    spec = (ROOT / "installers" / "clinician-console.spec").read_text()
    assert 'tomllib.load(fh)["project"]' in spec
    for recipe in ("windows/build.ps1", "macos/build.sh"):
        text = (ROOT / "installers" / recipe).read_text()
        assert "pyproject.toml" in text, recipe
