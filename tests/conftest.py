"""Fixtures shared by every test tier: a fresh profile per test, stores, the real keyring."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# plugin_host / make_plugin: the fixtures plugin authors get (clinician_console_api/testing.py).
pytest_plugins = ["clinician_console_api.testing"]

TEST_PASSPHRASE = "correct horse battery"


@pytest.fixture(autouse=True)
def fresh_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own profile and no managed policy (napari's _fresh_settings)."""
    profile = tmp_path / "profile"
    monkeypatch.setenv("CLINICIAN_CONSOLE_PROFILE", str(profile))
    monkeypatch.setenv("CLINICIAN_CONSOLE_POLICY", str(tmp_path / "no-policy.toml"))
    return profile


def file_digests(directory: Path) -> dict[str, str]:
    """sha256 of every file below ``directory`` (to prove a failure changed nothing)."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


async def open_test_store(profile: Path) -> Any:
    """A real store in passphrase mode: no keyring needed (SQLCipher KDF, ~0.4 s)."""
    from app.records import KeySource
    from storage.store import EncryptedStore

    return await EncryptedStore.open(
        profile, key_source=KeySource.PASSPHRASE, passphrase=TEST_PASSPHRASE
    )


def need(condition: object, what: str) -> None:
    """A real part a test needs: skipped on a developer's machine without it, a failure
    under CI (which installs every part), so a missing install step cannot pass silently."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing; .ci/run should have installed it")
    pytest.skip(f"{what} is missing")


def need_module(name: str) -> Any:
    """``pytest.importorskip`` that fails under CI (see :func:`need`)."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        need(False, f"the Python module {name}")


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


@pytest.fixture
def real_keyring() -> Iterator[str]:
    """The OS keyring (Secret Service under D-Bus here); fails loudly when absent.

    ``scripts/test`` (which ``.ci/run`` runs) starts gnome-keyring-daemon on a
    private D-Bus session (scripts/with-services). No keyring is mocked: a
    missing daemon is a setup error.
    """
    import keyring
    from keyring.backends import fail

    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring) or type(backend).__module__.startswith("keyrings.alt"):
        pytest.fail(
            "no usable OS keyring: run the tests through scripts/test, which starts "
            f"gnome-keyring-daemon on a private D-Bus session (found {type(backend).__name__})"
        )
    probe = f"probe-{uuid.uuid4()}"
    keyring.set_password("clinician-console-tests", probe, "ok")
    assert keyring.get_password("clinician-console-tests", probe) == "ok"
    keyring.delete_password("clinician-console-tests", probe)
    yield type(backend).__name__


def env_without_keyring() -> dict[str, str]:
    """An environment in which keyring's own configuration selects its 'fail' backend."""
    env = dict(os.environ)
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    return env
