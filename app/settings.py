"""Profile location, user settings and IT's managed policy (DESIGN.md §3).

Both files share one TOML shape. A key set in the policy wins over the user's
``settings.toml`` and is reported as locked so the UI can show it greyed out
("set by your organisation"). Secrets never live in either file.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import platformdirs

# The console uses no pydantic plugins; without this, defining the first model scans
# the entry points of every installed distribution for them (start-up, see
# docs/performance.md). setdefault: an explicit value in the environment still wins.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.errors import (
    ConfigError,
    InsecureTransportError,
    PolicyError,
    PolicyOnlyError,
    PolicyOverrideError,
)
from app.records import KeySource

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
    # Sync (docs/sync.md): the MRN identifier system IT configures; a patient already on
    # the server with the same MRN is linked, not duplicated ("" = our identifier only).
    patient_identifier_system: str = ""
    # Fully synced visits older than this many days (before today) leave the local cache.
    retention_days: int = Field(default=7, ge=1, le=3650)


class MediaServerSettings(_Section):
    url: str = ""
    turn: list[str] = Field(default_factory=list)
    force_relay: bool = False
    interfaces: list[str] = Field(default_factory=list)
    # Visits (docs/visits.md): where the clinic serves resources/web/patient/, the media
    # server URL as browsers reach it (default: url), and the video bitrate of new rooms.
    patient_page_url: str = ""
    browser_url: str = ""
    room_bitrate_bps: int = Field(default=1_500_000, ge=64_000, le=20_000_000)


class SecuritySettings(_Section):
    idle_lock_minutes: int = Field(default=10, ge=1, le=240)
    # Host names (or addresses) to which plain http:// and ws:// are allowed although
    # they are not loopback. Policy only (POLICY_ONLY_KEYS): a user cannot downgrade
    # their own transport, and neither can a passer-by at an unlocked console.
    allow_insecure_hosts: list[str] = Field(default_factory=list)


class PluginSettings(_Section):
    allow: list[str] = Field(
        default_factory=lambda: ["clinician-console.stethoscope", "clinician-console.image-capture"]
    )
    # Each plugin's own settings, `[plugins.settings."<plugin id>"]`: read-only to the
    # plugin (PluginContext.settings). A policy that sets this table replaces the user's.
    settings: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # Capabilities the policy lets a plugin have, by plugin id; a plugin not named
    # here gets what its manifest requests (plugins/host.py).
    capabilities: dict[str, list[str]] = Field(default_factory=dict)


class StoreSettings(_Section):
    # "auto": keyring when one is available, else ask for a passphrase.
    key_source: Literal["auto", "keyring", "passphrase"] = "auto"


class UpdateSettings(_Section):
    """Signed updates (app/updates.py, The Update Framework through tufup)."""

    enabled: bool = True
    # "stable" takes final releases only; "beta" also betas and release
    # candidates; "alpha" every pre-release (PEP 440 a/b/rc).
    channel: Literal["stable", "beta", "alpha"] = "stable"
    # The update repository's base URL: metadata/ and targets/ lie below it.
    url: str = ""
    # The trusted root metadata (root.json) the updater starts from; empty:
    # the one shipped beside the frozen executable (update-root.json).
    root_file: str = ""


class DemoSettings(_Section):
    # Whether `--demo` and `clinician-console demo` may seed demo patients.
    allowed: bool = True


class IdentitySettings(_Section):
    """Clinician sign-in through the clinic's OpenID Connect provider (docs/identity.md).

    ``issuer`` empty: no identity provider, the console PIN stays the credential."""

    issuer: str = ""
    client_id: str = ""
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "offline_access"])
    # Days after the last online sign-in during which a clinician may re-enter with
    # their offline PIN while the provider is unreachable; 0 turns offline re-entry off.
    # Policy only (POLICY_ONLY_KEYS): a user must not lengthen their own offline period.
    offline_days: int = Field(default=3, ge=0, le=30)
    # ID token claims that carry the NPI (or local id) and the licence jurisdictions.
    identifier_claim: str = "npi"
    identifier_system: str = "http://hl7.org/fhir/sid/us-npi"
    licenses_claim: str = "licenses"
    # Seconds the console waits for the browser to come back to the loopback redirect.
    browser_timeout_s: int = Field(default=300, ge=30, le=3600)
    # The loopback redirect's port; 0: any free port (RFC 8252 §7.3), for providers
    # that match the registered redirect URI's port exactly.
    redirect_port: int = Field(default=0, ge=0, le=65535)


class ClinicianSettings(_Section):
    """Who uses the console, where no identity provider or record store says it
    (docs/coding.md): licence jurisdictions are ISO 3166-2 codes ("US-CA") or a country."""

    name: str = ""
    npi: str = ""
    licenses: list[str] = Field(default_factory=list)


class CodingSettings(_Section):
    # The payer rules the coding suggestion uses unless one is picked (resources/coding/).
    payer: str = "default"


class EmergencySettings(_Section):
    # Emergency numbers by ISO 3166-1/3166-2 code, over the shipped table
    # (resources/emergency/numbers.toml): {"US-WA" = "911"}.
    numbers: dict[str, str] = Field(default_factory=dict)
    # Escalate notifies the on-call contact here (POST, JSON, ids only); "" = nobody.
    oncall_webhook_url: str = ""


class NotesSettings(_Section):
    """Notes (docs/notes.md): a draft older than this is flagged in the worklist."""

    unsigned_flag_hours: int = Field(default=24, ge=1, le=24 * 90)
    # A visit starts only once the patient's consent to telehealth is recorded as given.
    require_telehealth_consent: bool = True


class DisplaySettings(_Section):
    """How the console looks for this user (the desktop's Settings > Display)."""

    text_size: Literal["small", "normal", "large", "larger"] = "normal"
    language: Literal["en", "es"] = "en"


class DeviceSettings(_Section):
    """This workstation's preferred devices ("" = the system default)."""

    camera: str = ""
    microphone: str = ""
    speaker: str = ""
    stethoscope: str = ""


class PacsSettings(_Section):
    # DICOMweb STOW-RS endpoint of the clinic's PACS, e.g. https://pacs/dicom-web/studies
    # ("" = no PACS: stills go to the record store only). docs/images.md.
    stow_url: str = ""
    # How the console proves who it is to the PACS: "basic" (username below, password
    # from `clinician-console secret set pacs`) or "bearer" (the token from the same
    # secret). docs/images.md.
    auth: Literal["none", "basic", "bearer"] = "none"
    username: str = ""


class Settings(_Section):
    record_store: RecordStoreSettings = Field(default_factory=RecordStoreSettings)
    media_server: MediaServerSettings = Field(default_factory=MediaServerSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    plugins: PluginSettings = Field(default_factory=PluginSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    updates: UpdateSettings = Field(default_factory=UpdateSettings)
    demo: DemoSettings = Field(default_factory=DemoSettings)
    clinician: ClinicianSettings = Field(default_factory=ClinicianSettings)
    coding: CodingSettings = Field(default_factory=CodingSettings)
    emergency: EmergencySettings = Field(default_factory=EmergencySettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    notes: NotesSettings = Field(default_factory=NotesSettings)
    display: DisplaySettings = Field(default_factory=DisplaySettings)
    devices: DeviceSettings = Field(default_factory=DeviceSettings)
    pacs: PacsSettings = Field(default_factory=PacsSettings)


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


#: Keys only IT's policy may set; in a user's settings.toml they are an error.
POLICY_ONLY_KEYS = frozenset({"security.allow_insecure_hosts", "identity.offline_days"})

#: URLs the console connects to (or hands to patients): plain http:// and ws:// are refused
#: for them unless the host is loopback or named in security.allow_insecure_hosts.
TRANSPORT_KEYS = (
    "record_store.url",
    "media_server.url",
    "media_server.browser_url",
    "media_server.patient_page_url",
    "updates.url",
    "emergency.oncall_webhook_url",
    "identity.issuer",
    "pacs.stow_url",
)
_SECURE_SCHEME = {"http": "https", "ws": "wss"}


def os_policy_path() -> Path:
    """Where IT installs the managed policy on this OS (DESIGN.md §3). Never from the
    environment: a file there always applies (see :func:`policy_location`)."""
    if sys.platform.startswith("win"):
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / APP_NAME / "policy.toml"
    if sys.platform == "darwin":
        return Path("/Library/Application Support") / APP_NAME / "policy.toml"
    return Path("/etc/clinician-console/policy.toml")


def policy_location(explicit: Path | None = None, *, os_policy: Path | None = None) -> Path:
    """The policy file that applies (it may not exist: then nothing is managed).

    The OS policy, when present, always wins: neither ``--policy`` (``explicit``) nor
    ``$CLINICIAN_CONSOLE_POLICY`` can replace or remove it. Only where no OS policy
    exists do they name one (development, tests, staging). ``os_policy`` is the test
    seam for the OS location (tests do not write to /etc).
    """
    os_path = os_policy if os_policy is not None else os_policy_path()
    # lexists: a dangling symlink or an unreadable entry still counts as "IT put a
    # policy here"; reading it then fails as a PolicyError (the console stops), never
    # as "no policy".
    if os.path.lexists(os_path):
        return os_path
    if explicit is not None:
        return explicit
    env = os.environ.get(POLICY_ENV)
    if env:
        return Path(env)
    return os_path


def default_policy_path() -> Path:
    """The policy file that applies with no ``--policy`` flag (kept for callers)."""
    return policy_location()


def _read_toml(path: Path, *, policy: bool) -> dict[str, Any]:
    error = PolicyError if policy else ConfigError
    name = str(path) if policy else path.name
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise error(path=name, reason=str(exc)) from exc
    except UnicodeDecodeError as exc:
        raise error(path=name, reason="not UTF-8 text") from exc
    except OSError as exc:
        raise error(path=name, reason=exc.strerror or "unreadable") from exc


def _describe(error: Any) -> str:
    """One pydantic error as IT reads it: where, then what is wrong."""
    where = ".".join(str(p) for p in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown key"
    return f"{where}: {error['msg']}"


def _validate(data: dict[str, Any], path: Path, *, policy: bool = False) -> Settings:
    if not policy:
        for dotted in sorted(POLICY_ONLY_KEYS):
            section, key = dotted.split(".")
            values = data.get(section)
            if isinstance(values, dict) and key in values:
                raise PolicyOnlyError(key=dotted, path=path.name)
    # Strict: TOML has real types, so "yes" for a boolean or "10" for a number
    # is a mistake in the file, not something to coerce quietly.
    try:
        return Settings.model_validate(data, strict=True)
    except ValidationError as exc:
        errors = exc.errors()
        reason = _describe(errors[0])
        if len(errors) > 1:
            reason += f" (and {len(errors) - 1} more)"
        error = PolicyError if policy else ConfigError
        raise error(path=str(path) if policy else path.name, reason=reason) from exc


def load_settings(
    profile: Path, policy_path: Path | None = None, *, os_policy: Path | None = None
) -> EffectiveSettings:
    """Merge the user's settings with the policy; a malformed file is an error, never ignored.

    A policy that cannot be read or has an unknown key or a wrong type raises
    :class:`PolicyError`: the console then refuses to start (GUI) or to run a
    command (CLI) rather than fall back on defaults IT did not choose.
    """
    user_path = profile / "settings.toml"
    user: dict[str, Any] = _read_toml(user_path, policy=False) if user_path.exists() else {}
    return _effective(user, user_path, policy_path, os_policy=os_policy)


def _effective(
    user: dict[str, Any],
    user_path: Path,
    policy_path: Path | None,
    *,
    os_policy: Path | None = None,
) -> EffectiveSettings:
    """The user's values under the policy that applies, transport checked."""
    _validate(user, user_path)
    policy_file = policy_location(policy_path, os_policy=os_policy)
    policy: dict[str, Any] = {}
    if os.path.lexists(policy_file):
        policy = _read_toml(policy_file, policy=True)
        _validate(policy, policy_file, policy=True)

    merged: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in user.items()}
    locked: set[str] = set()
    for section, values in policy.items():
        if isinstance(values, dict):
            merged.setdefault(section, {}).update(values)
            locked.update(f"{section}.{key}" for key in values)
    settings = _validate(merged, policy_file if policy else user_path, policy=bool(policy))
    check_transport(settings)
    return EffectiveSettings(
        settings=settings,
        locked=frozenset(locked),
        policy_path=policy_file if policy else None,
    )


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 and ``localhost``: traffic that never leaves the machine."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_transport(settings: Settings) -> None:
    """Refuse plain http:// and ws:// except to loopback or a host the policy names.

    Plain transport would carry the record store's credentials, room PINs and DTLS
    fingerprints in clear. The error names the key and the host, never the URL (it
    may carry user:password@).
    """
    allowed = {h.lower().rstrip(".") for h in settings.security.allow_insecure_hosts}
    for dotted in TRANSPORT_KEYS:
        section, key = dotted.split(".")
        url = getattr(getattr(settings, section), key)
        if not url:
            continue
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _SECURE_SCHEME:
            continue
        try:
            host = (parts.hostname or "").rstrip(".")
        except ValueError:
            host = ""
        if host and (is_loopback_host(host) or host.lower() in allowed):
            continue
        raise InsecureTransportError(
            key=dotted, scheme=scheme, host=host or "(no host)", secure=_SECURE_SCHEME[scheme]
        )


def resolve_key_source(
    effective: EffectiveSettings, requested: KeySource | None, *, option: str = "--key-source"
) -> KeySource | None:
    """The key source for a new store: the policy's if it sets one (a flag that differs is
    refused, never silently obeyed), else ``requested``, else the user's setting."""
    configured = effective.settings.store.key_source
    if "store.key_source" in effective.locked:
        if requested is not None and requested.value != configured:
            raise PolicyOverrideError(key="store.key_source", option=option)
        return None if configured == "auto" else KeySource(configured)
    if requested is not None:
        return requested
    return None if configured == "auto" else KeySource(configured)


def user_settings_path(profile: Path) -> Path:
    return profile / "settings.toml"


def read_user_settings(profile: Path) -> dict[str, Any]:
    """The user's own settings.toml as a dict (empty when there is none)."""
    path = user_settings_path(profile)
    if not path.exists():
        return {}
    data = _read_toml(path, policy=False)
    _validate(data, path)
    return data


def write_user_settings(
    profile: Path,
    data: dict[str, Any],
    policy_path: Path | None = None,
    *,
    os_policy: Path | None = None,
) -> Path:
    """Validate and write the user's settings.toml atomically; return its path.

    Only the user's own values go here (the settings dialog leaves out what
    the policy locks): the policy keeps winning when it changes later. Values
    the console would then refuse to start with (plain http:// to a remote host)
    are refused here, before anything is written.
    """
    path = user_settings_path(profile)
    _effective(data, path, policy_path, os_policy=os_policy)
    text = dumps_toml(data)
    profile.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(path=path.name, reason=exc.strerror or "cannot write") from exc
    return path


def dumps_toml(data: dict[str, Any]) -> str:
    """TOML for our settings shape: tables of strings, booleans, numbers and string lists.

    tomllib only reads; this small writer covers exactly what ``Settings``
    holds, and the result is read back and validated by the callers' tests.
    """
    lines: list[str] = []
    for section in sorted(data):
        values = data[section]
        if not isinstance(values, dict):
            raise ConfigError(path="settings.toml", reason=f"{section}: not a table")
        if lines:
            lines.append("")
        lines.append(f"[{section}]")
        for key in sorted(values):
            lines.append(f"{key} = {_toml_value(values[key])}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # A JSON string is a TOML basic string, except that TOML also forbids DEL raw.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table (plugins.settings holds them)
        items = ", ".join(f"{_toml_value(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{" + items + "}" if items else "{}"
    raise ConfigError(path="settings.toml", reason=f"cannot store a {type(value).__name__}")
