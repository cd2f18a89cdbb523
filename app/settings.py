"""Profile location, user settings and IT's managed policy (DESIGN.md §3).

Both files share one TOML shape. A key set in the policy wins over the user's
``settings.toml`` and is reported as locked so the UI can show it greyed out
("set by your organisation"). Secrets never live in either file.
"""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.errors import ConfigError

PROFILE_ENV = "CLINICIAN_CONSOLE_PROFILE"
POLICY_ENV = "CLINICIAN_CONSOLE_POLICY"
APP_NAME = "ClinicianConsole"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RecordStoreSettings(_Section):
    url: str = ""
    auth: Literal["none", "basic", "smart-backend"] = "none"
    username: str = ""
    ca_file: str = ""
    # The signed-in clinician on the server ("Practitioner/<id>"): whose worklist to pull.
    practitioner: str = ""


class MediaServerSettings(_Section):
    url: str = ""
    turn: list[str] = Field(default_factory=list)
    force_relay: bool = False
    interfaces: list[str] = Field(default_factory=list)


class SecuritySettings(_Section):
    idle_lock_minutes: int = Field(default=10, ge=1, le=240)


class PluginSettings(_Section):
    allow: list[str] = Field(
        default_factory=lambda: ["clinician-console.stethoscope", "clinician-console.image-capture"]
    )


class StoreSettings(_Section):
    # "auto": keyring when one is available, else ask for a passphrase.
    key_source: Literal["auto", "keyring", "passphrase"] = "auto"


class Settings(_Section):
    record_store: RecordStoreSettings = Field(default_factory=RecordStoreSettings)
    media_server: MediaServerSettings = Field(default_factory=MediaServerSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    plugins: PluginSettings = Field(default_factory=PluginSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)


@dataclass(frozen=True)
class EffectiveSettings:
    settings: Settings
    locked: frozenset[str] = field(default_factory=frozenset)  # "section.key" set by policy
    policy_path: Path | None = None


def resolve_profile(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get(PROFILE_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_policy_path() -> Path:
    env = os.environ.get(POLICY_ENV)
    if env:
        return Path(env)
    if sys.platform.startswith("win"):
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / APP_NAME / "policy.toml"
    if sys.platform == "darwin":
        return Path("/Library/Application Support") / APP_NAME / "policy.toml"
    return Path("/etc/clinician-console/policy.toml")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path=path.name, reason=str(exc)) from exc
    except OSError as exc:
        raise ConfigError(path=path.name, reason=exc.strerror or "unreadable") from exc


def _validate(data: dict[str, Any], path: Path) -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(path=path.name, reason=f"{where}: {first['msg']}") from exc


def load_settings(profile: Path, policy_path: Path | None = None) -> EffectiveSettings:
    """Merge the user's settings with the policy; a malformed file is an error, never ignored."""
    user_path = profile / "settings.toml"
    user: dict[str, Any] = _read_toml(user_path) if user_path.exists() else {}
    _validate(user, user_path)

    policy_file = policy_path if policy_path is not None else default_policy_path()
    policy: dict[str, Any] = {}
    if policy_file.exists():
        policy = _read_toml(policy_file)
        _validate(policy, policy_file)

    merged: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in user.items()}
    locked: set[str] = set()
    for section, values in policy.items():
        if isinstance(values, dict):
            merged.setdefault(section, {}).update(values)
            locked.update(f"{section}.{key}" for key in values)
    settings = _validate(merged, policy_file if policy else user_path)
    return EffectiveSettings(
        settings=settings,
        locked=frozenset(locked),
        policy_path=policy_file if policy else None,
    )
