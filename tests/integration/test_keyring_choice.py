"""Start-up picks the OS keyring without keyring's full discovery, and only where that is
certain to be keyring's own answer (real Secret Service on a private D-Bus; no mocks).

Each case runs in a fresh interpreter: keyring keeps its choice for the process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import env_without_keyring

pytestmark = [pytest.mark.integration, pytest.mark.keyring]

_PROBE = """
import json, sys, uuid
from storage import keys
out = {"backend": keys.keyring_backend_name(), "available": keys.keyring_available()}
out["slow_modules"] = sorted(
    m for m in ("keyring.backends.macOS.api", "keyring.backends.libsecret",
                "keyring.backends.kwallet", "keyring.backends.Windows", "gi.repository.Gio")
    if m in sys.modules
)
if out["available"]:
    import keyring
    backend = keys.usable_keyring()
    name = f"probe-{uuid.uuid4()}"
    keys.keyring_call(backend.set_password, "clinician-console-tests", name, "ok")
    out["round_trip"] = keyring.get_password("clinician-console-tests", name)
    backend.delete_password("clinician-console-tests", name)
print(json.dumps(out))
"""


def _probe(env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout)
    return result


def _desktop_env(desktop: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHON_KEYRING_BACKEND", None)
    env["XDG_CURRENT_DESKTOP"] = desktop
    return env


def test_secret_service_is_chosen_without_loading_every_backend(real_keyring: str) -> None:
    found = _probe(_desktop_env("GNOME"))
    assert found["backend"] == "SecretService.Keyring"
    assert found["available"] is True and found["round_trip"] == "ok"
    # keyring's discovery imports these (and runs gcc/ldconfig for the macOS one).
    assert found["slow_modules"] == []


def test_an_explicit_keyring_configuration_still_wins() -> None:
    found = _probe(env_without_keyring())  # PYTHON_KEYRING_BACKEND=...fail.Keyring
    assert found["backend"] == "fail.Keyring" and found["available"] is False


def test_a_keyring_config_file_is_read_as_keyring_reads_it(
    real_keyring: str, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    (config / "python_keyring").mkdir(parents=True)
    (config / "python_keyring" / "keyringrc.cfg").write_text(
        "[backend]\ndefault-keyring=keyring.backends.fail.Keyring\n"
    )
    found = _probe(_desktop_env("GNOME") | {"XDG_CONFIG_HOME": str(config)})
    assert found["backend"] == "fail.Keyring" and found["available"] is False


def test_a_kde_session_leaves_the_choice_to_keyring(real_keyring: str) -> None:
    found = _probe(_desktop_env("KDE"))
    assert found["available"] is True and found["round_trip"] == "ok"
    assert "keyring.backends.libsecret" in found["slow_modules"]  # full discovery ran
