"""``plugin.toml``: what a plugin is and what it contributes, validated before any code runs.

Example (docs/plugins.md has the full reference)::

    id = "example.hello"
    name = "Hello"
    version = "1.0.0"
    api = ["1"]
    capabilities = ["ui.panel"]

    [contributions]
    activate = "example_hello.core:activate"

    [[contributions.panels]]
    id = "example.hello.panel"
    title = "Hello"
    where = "main"
    python_name = "example_hello._qt:make_panel"
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.errors import PluginManifestError
from clinician_console_api import Capability

# Lower-case words joined by single dots, dashes or underscores: safe as a directory
# and a logger name.
PLUGIN_ID_PATTERN = r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$"
# "package.module:attr" (attr may be dotted: "Class.method").
PYTHON_NAME_PATTERN = r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$"
KNOWN_CAPABILITIES = frozenset(c.value for c in Capability)
MAX_MANIFEST_BYTES = 256 * 1024


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PanelContribution(_Model):
    id: str = Field(pattern=PLUGIN_ID_PATTERN, max_length=200)
    title: str = Field(min_length=1, max_length=80)
    where: Literal["visit", "main"] = "visit"
    python_name: str = Field(pattern=PYTHON_NAME_PATTERN, max_length=300)


class CommandContribution(_Model):
    id: str = Field(pattern=PLUGIN_ID_PATTERN, max_length=200)
    title: str = Field(min_length=1, max_length=80)
    python_name: str = Field(pattern=PYTHON_NAME_PATTERN, max_length=300)


class Contributions(_Model):
    activate: str | None = Field(default=None, pattern=PYTHON_NAME_PATTERN, max_length=300)
    deactivate: str | None = Field(default=None, pattern=PYTHON_NAME_PATTERN, max_length=300)
    panels: tuple[PanelContribution, ...] = ()
    commands: tuple[CommandContribution, ...] = ()


class Manifest(_Model):
    id: str = Field(pattern=PLUGIN_ID_PATTERN, min_length=2, max_length=100)
    name: str = Field(min_length=1, max_length=100)
    version: str = Field(min_length=1, max_length=50, pattern=r"^[0-9A-Za-z.+_-]+$")
    api: tuple[str, ...] = Field(min_length=1)
    description: str = Field(default="", max_length=1000)
    capabilities: tuple[str, ...] = ()
    contributions: Contributions = Field(default_factory=Contributions)

    @field_validator("capabilities")
    @classmethod
    def _known_capabilities(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - KNOWN_CAPABILITIES)
        if unknown:
            known = ", ".join(sorted(KNOWN_CAPABILITIES))
            raise ValueError(f"unknown capability {unknown[0]!r} (known: {known})")
        return tuple(dict.fromkeys(value))

    def check_consistency(self) -> list[str]:
        """Rules across fields (problems as text; empty when consistent)."""
        problems: list[str] = []
        contributions = self.contributions
        if contributions.panels and Capability.UI_PANEL.value not in self.capabilities:
            problems.append("contributions.panels needs the capability 'ui.panel'")
        seen: set[str] = set()
        for kind, items in (("panels", contributions.panels), ("commands", contributions.commands)):
            for item in items:
                if not item.id.startswith(self.id + "."):
                    problems.append(
                        f"contributions.{kind}: id {item.id!r} must start with {self.id + '.'!r}"
                    )
                if item.id in seen:
                    problems.append(f"contributions.{kind}: id {item.id!r} is used twice")
                seen.add(item.id)
        return problems


def _describe(error: Any) -> str:
    """One pydantic error without the offending value (it could be anything)."""
    where = ".".join(str(p) for p in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown key"
    if error["type"] == "missing":
        return f"{where}: required"
    return f"{where}: {error['msg']}"


def parse_manifest(text: bytes | str, *, source: str) -> Manifest:
    """Validate a manifest's text; ``source`` names it in errors (a file name, not content)."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if len(raw) > MAX_MANIFEST_BYTES:
        raise PluginManifestError(path=source, reason="larger than 256 KiB")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PluginManifestError(path=source, reason="not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PluginManifestError(path=source, reason=f"not valid TOML ({exc})") from exc
    plugin_id = data.get("id") if isinstance(data.get("id"), str) else ""
    try:
        # Lax mode still never turns a number into a string (api = [1] is refused);
        # it only lets TOML arrays fill the tuple fields.
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        reason = _describe(errors[0])
        if len(errors) > 1:
            reason += f" (and {len(errors) - 1} more)"
        raise PluginManifestError(path=source, reason=reason, plugin_id=plugin_id) from exc
    problems = manifest.check_consistency()
    if problems:
        reason = problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
        raise PluginManifestError(path=source, reason=reason, plugin_id=manifest.id)
    return manifest


def load_manifest(path: Path) -> Manifest:
    """Read and validate ``path``; every failure is a :class:`PluginManifestError`."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        raise PluginManifestError(path=str(path), reason=exc.strerror or "unreadable") from exc
    return parse_manifest(raw, source=str(path))
