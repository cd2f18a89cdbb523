"""The managed policy cannot be switched off or overridden, and plain transport is refused
(issue 10 §5). Real files in temp directories and the real CLI entry point; the OS
policy location is the constructor seam (``os_policy=``), so nothing writes to /etc.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from app.errors import (
    ConfigError,
    InsecureTransportError,
    PolicyError,
    PolicyOnlyError,
    PolicyOverrideError,
)
from app.records import KeySource
from app.settings import (
    dumps_toml,
    load_settings,
    policy_location,
    resolve_key_source,
    write_user_settings,
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def os_policy(tmp_path: Path) -> Path:
    return write(
        tmp_path / "etc" / "policy.toml",
        '[security]\nidle_lock_minutes = 3\n[store]\nkey_source = "passphrase"\n',
    )


def test_a_missing_file_named_by_the_variable_does_not_switch_the_os_policy_off(
    tmp_path: Path, os_policy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLINICIAN_CONSOLE_POLICY", str(tmp_path / "nothing-here.toml"))
    eff = load_settings(tmp_path / "profile", os_policy=os_policy)
    assert eff.policy_path == os_policy
    assert eff.settings.security.idle_lock_minutes == 3
    assert "security.idle_lock_minutes" in eff.locked


def test_neither_flag_nor_variable_replaces_the_os_policy(
    tmp_path: Path, os_policy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lax = write(tmp_path / "lax.toml", "[security]\nidle_lock_minutes = 240\n")
    monkeypatch.setenv("CLINICIAN_CONSOLE_POLICY", str(lax))
    for explicit in (None, lax, tmp_path / "absent.toml"):
        assert policy_location(explicit, os_policy=os_policy) == os_policy
        eff = load_settings(tmp_path / "profile", explicit, os_policy=os_policy)
        assert eff.settings.security.idle_lock_minutes == 3, explicit


def test_without_an_os_policy_the_flag_or_variable_names_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    absent_os = tmp_path / "etc" / "policy.toml"
    staging = write(tmp_path / "staging.toml", "[security]\nidle_lock_minutes = 7\n")
    monkeypatch.setenv("CLINICIAN_CONSOLE_POLICY", str(staging))
    eff = load_settings(tmp_path / "p", os_policy=absent_os)
    assert eff.settings.security.idle_lock_minutes == 7
    flag = write(tmp_path / "flag.toml", "[security]\nidle_lock_minutes = 8\n")
    eff = load_settings(tmp_path / "p", flag, os_policy=absent_os)
    assert eff.settings.security.idle_lock_minutes == 8


def test_an_unreadable_os_policy_stops_the_console_rather_than_counting_as_absent(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "etc" / "policy.toml"
    directory.mkdir(parents=True)
    with pytest.raises(PolicyError):
        load_settings(tmp_path / "p", tmp_path / "absent.toml", os_policy=directory)
    dangling = tmp_path / "etc2" / "policy.toml"
    dangling.parent.mkdir()
    dangling.symlink_to(tmp_path / "gone.toml")
    with pytest.raises(PolicyError):
        load_settings(tmp_path / "p", os_policy=dangling)


def test_key_source_flag_cannot_override_the_policy(tmp_path: Path, os_policy: Path) -> None:
    eff = load_settings(tmp_path / "profile", os_policy=os_policy)
    assert resolve_key_source(eff, None) is KeySource.PASSPHRASE
    assert resolve_key_source(eff, KeySource.PASSPHRASE) is KeySource.PASSPHRASE
    with pytest.raises(PolicyOverrideError) as err:
        resolve_key_source(eff, KeySource.KEYRING)
    assert "store.key_source" in str(err.value) and "--key-source" in str(err.value)
    # Not managed: the flag is the user's to choose.
    free = load_settings(tmp_path / "profile", tmp_path / "absent.toml", os_policy=tmp_path / "x")
    assert resolve_key_source(free, KeySource.KEYRING) is KeySource.KEYRING


def test_cli_refuses_key_source_against_the_policy(
    tmp_path: Path, os_policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "profile"
    argv = ["--profile", str(profile), "--key-source", "keyring", "demo"]
    assert main(argv, os_policy=os_policy) == 1
    err = capsys.readouterr().err
    assert "store.key_source" in err and "managed policy" in err
    assert not (profile / "store.db").exists()  # nothing was created with the wrong key source
    # The GUI entry refuses before any window opens.
    assert main([*argv[:-1], "gui"], os_policy=os_policy) == 1


@pytest.mark.parametrize(
    ("section", "key", "url"),
    [
        ("record_store", "url", "http://fhir.example.org/fhir"),
        ("media_server", "url", "ws://visits.example.org/janus"),
        ("media_server", "url", "http://visits.example.org/janus"),
        ("media_server", "browser_url", "ws://10.0.0.5:8188/"),
        ("updates", "url", "http://updates.example.org/cc"),
        ("record_store", "url", "http://user:s3cret-pw@fhir.example.org/fhir"),
        ("pacs", "stow_url", "http://pacs.example.org/dicom-web/studies"),
    ],
)
def test_plain_transport_to_a_remote_host_is_refused(
    tmp_path: Path, section: str, key: str, url: str
) -> None:
    write(tmp_path / "profile" / "settings.toml", dumps_toml({section: {key: url}}))
    with pytest.raises(InsecureTransportError) as err:
        load_settings(tmp_path / "profile", tmp_path / "absent.toml")
    text = str(err.value)
    assert f"{section}.{key}" in text and "security.allow_insecure_hosts" in text
    assert "s3cret" not in text and "user:" not in text  # never the credentials
    # The settings dialog's writer refuses it before writing (the console would not start).
    before = (tmp_path / "profile" / "settings.toml").read_bytes()
    with pytest.raises(InsecureTransportError):
        write_user_settings(tmp_path / "profile", {section: {key: url}}, tmp_path / "absent.toml")
    assert (tmp_path / "profile" / "settings.toml").read_bytes() == before


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/fhir",
        "http://127.8.9.10/fhir",
        "http://localhost:8080/fhir",
        "http://[::1]:8080/fhir",
        "https://fhir.example.org/fhir",
    ],
)
def test_loopback_and_tls_are_accepted(tmp_path: Path, url: str) -> None:
    write_user_settings(tmp_path / "profile", {"record_store": {"url": url}})
    assert load_settings(tmp_path / "profile", tmp_path / "a.toml").settings.record_store.url == url


def test_policy_may_allow_plain_transport_for_a_named_host_only(tmp_path: Path) -> None:
    policy = write(
        tmp_path / "policy.toml",
        '[security]\nallow_insecure_hosts = ["janus.lab.internal"]\n'
        '[media_server]\nurl = "ws://janus.lab.internal:8188/"\n',
    )
    eff = load_settings(tmp_path / "profile", policy)
    assert eff.settings.media_server.url == "ws://janus.lab.internal:8188/"
    # The named host only: another one is refused, when written and when loaded.
    with pytest.raises(InsecureTransportError):
        write_user_settings(
            tmp_path / "profile", {"record_store": {"url": "http://other.host/fhir"}}, policy
        )
    write(tmp_path / "profile" / "settings.toml", '[record_store]\nurl = "http://other.host/x"\n')
    with pytest.raises(InsecureTransportError):
        load_settings(tmp_path / "profile", policy)
    # A user may use the host the policy allows.
    write_user_settings(
        tmp_path / "profile", {"record_store": {"url": "http://janus.lab.internal/fhir"}}, policy
    )


def test_only_the_policy_may_allow_insecure_hosts(tmp_path: Path) -> None:
    with pytest.raises(PolicyOnlyError):
        write_user_settings(
            tmp_path / "profile", {"security": {"allow_insecure_hosts": ["fhir.example.org"]}}
        )
    write(
        tmp_path / "profile" / "settings.toml",
        '[security]\nallow_insecure_hosts = ["fhir.example.org"]\n'
        '[record_store]\nurl = "http://fhir.example.org/fhir"\n',
    )
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path / "profile", tmp_path / "absent.toml")
    assert "security.allow_insecure_hosts" in str(err.value)
    assert "managed policy" in str(err.value)
