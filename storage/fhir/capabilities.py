"""What a FHIR server says it can do: its CapabilityStatement, parsed (DESIGN.md §4).

Only what sync decides on is kept: the FHIR version, the software, whether
transaction and batch Bundles are accepted, conditional create / update and
versioning per resource type, history (``_history?_since`` is only used where
``history-system`` or ``history-type`` is listed) and the SMART OAuth endpoints
when the statement advertises them.

The statement comes from the network and may be hostile: anything of the
wrong JSON type where the structure matters raises
:class:`~app.errors.SyncProtocolError`; unknown or extra elements are ignored.
Error reasons name element paths, never values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from app.errors import SyncProtocolError

#: The resource types the console writes or reads (DESIGN.md §4 mapping).
CONSOLE_RESOURCE_TYPES: Final = (
    "Patient",
    "Encounter",
    "DocumentReference",
    "Media",
    "Binary",
    "Observation",
)
OAUTH_URIS_EXTENSION: Final = (
    "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
)
_RESOURCE_TYPE_RE: Final = re.compile(r"[A-Z][A-Za-z]{1,63}")
_VERSION_RE: Final = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}[\w.\-]{0,32}")
_CODE_RE: Final = re.compile(r"[A-Za-z0-9\-._:/]{1,128}")


@dataclass(frozen=True, slots=True)
class ResourceCapabilities:
    """``CapabilityStatement.rest.resource`` for one type."""

    type: str
    #: Interaction codes listed for the type ("read", "update", "create", "history-type", ...).
    interactions: frozenset[str] = frozenset()
    conditional_create: bool = False
    conditional_update: bool = False
    #: "no-version" | "versioned" | "versioned-update" (If-Match honoured), or None if absent.
    versioning: str | None = None
    #: Search parameter names the server lists for the type.
    search_params: frozenset[str] = frozenset()
    #: ``updateCreate``: True / False as stated, None when the statement does not say
    #: (sync then tries update-as-create for Binary, which most servers allow).
    update_create: bool | None = None

    @property
    def version_aware_updates(self) -> bool:
        """Whether the server says it checks ``If-Match`` on update."""
        return self.versioning == "versioned-update"


@dataclass(frozen=True, slots=True)
class SmartEndpoints:
    """OAuth endpoints from the ``oauth-uris`` security extension."""

    token_url: str | None = None
    authorize_url: str | None = None
    revoke_url: str | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    fhir_version: str
    software_name: str | None = None
    software_version: str | None = None
    transaction: bool = False
    batch: bool = False
    history_system: bool = False
    #: Security service codes ("SMART-on-FHIR", "Basic", "OAuth", ...).
    security_services: frozenset[str] = frozenset()
    smart: SmartEndpoints | None = None
    resources: Mapping[str, ResourceCapabilities] = field(
        default_factory=lambda: MappingProxyType({})
    )

    @property
    def is_r4(self) -> bool:
        """FHIR R4 (4.0.x); R4B (4.3.x) is wire-compatible for everything the console uses."""
        return self.fhir_version.startswith(("4.0.", "4.3."))

    def resource(self, resource_type: str) -> ResourceCapabilities | None:
        return self.resources.get(resource_type)

    def supports_conditional_create(self, resource_type: str) -> bool:
        res = self.resources.get(resource_type)
        return res is not None and res.conditional_create

    def supports_history_since(self, resource_type: str | None = None) -> bool:
        """Whether ``[base]/_history?_since`` (or ``[base]/Type/_history``) may be used."""
        if resource_type is None:
            return self.history_system
        res = self.resources.get(resource_type)
        return res is not None and "history-type" in res.interactions

    @property
    def conditional_create(self) -> Mapping[str, bool]:
        """Conditional create support for each type the console writes."""
        return {t: self.supports_conditional_create(t) for t in CONSOLE_RESOURCE_TYPES}


def _bad(path: str) -> SyncProtocolError:
    return SyncProtocolError(reason=f"the CapabilityStatement's {path} is malformed")


def _list(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad(path)
    return value


def _dict(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(path)
    return value


def _opt_str(value: Any, path: str, limit: int = 200) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(path)
    # Free text from the server: bounded, and shown only as the software's name.
    return value[:limit]


def _opt_bool(value: Any, path: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _bad(path)
    return value


def _codes(items: list[Any], path: str, key: str) -> frozenset[str]:
    codes: set[str] = set()
    for i, item in enumerate(items):
        code = _dict(item, f"{path}[{i}]").get(key)
        if isinstance(code, str) and _CODE_RE.fullmatch(code):
            codes.add(code)
        elif code is not None and not isinstance(code, str):
            raise _bad(f"{path}[{i}].{key}")
    return frozenset(codes)


def _smart_endpoints(security: dict[str, Any], path: str) -> SmartEndpoints | None:
    for i, item in enumerate(_list(security.get("extension"), f"{path}.extension")):
        ext = _dict(item, f"{path}.extension[{i}]")
        if ext.get("url") != OAUTH_URIS_EXTENSION:
            continue
        uris: dict[str, str] = {}
        sub_path = f"{path}.extension[{i}].extension"
        for j, sub_item in enumerate(_list(ext.get("extension"), sub_path)):
            sub = _dict(sub_item, f"{sub_path}[{j}]")
            url, value = sub.get("url"), sub.get("valueUri")
            if isinstance(url, str) and isinstance(value, str):
                uris[url] = value
        return SmartEndpoints(
            token_url=uris.get("token"),
            authorize_url=uris.get("authorize"),
            revoke_url=uris.get("revoke"),
        )
    return None


def _resource(entry: Any, path: str) -> ResourceCapabilities | None:
    entry = _dict(entry, path)
    rtype = entry.get("type")
    if not isinstance(rtype, str):
        raise _bad(f"{path}.type")
    if not _RESOURCE_TYPE_RE.fullmatch(rtype):
        return None  # not a resource type name we could ever ask for
    versioning = entry.get("versioning")
    if versioning is not None and not isinstance(versioning, str):
        raise _bad(f"{path}.versioning")
    return ResourceCapabilities(
        type=rtype,
        interactions=_codes(
            _list(entry.get("interaction"), f"{path}.interaction"), f"{path}.interaction", "code"
        ),
        conditional_create=_opt_bool(entry.get("conditionalCreate"), f"{path}.conditionalCreate"),
        conditional_update=_opt_bool(entry.get("conditionalUpdate"), f"{path}.conditionalUpdate"),
        versioning=versioning,
        update_create=(
            entry["updateCreate"] if isinstance(entry.get("updateCreate"), bool) else None
        ),
        search_params=_codes(
            _list(entry.get("searchParam"), f"{path}.searchParam"), f"{path}.searchParam", "name"
        ),
    )


def parse_capabilities(statement: Any) -> Capabilities:
    """A CapabilityStatement JSON object as :class:`Capabilities`; raises SyncProtocolError."""
    if not isinstance(statement, dict) or statement.get("resourceType") != "CapabilityStatement":
        raise SyncProtocolError(reason="the metadata endpoint did not return a CapabilityStatement")
    fhir_version = statement.get("fhirVersion")
    if not isinstance(fhir_version, str) or not _VERSION_RE.fullmatch(fhir_version):
        raise _bad("fhirVersion")
    software = statement.get("software")
    name = version = None
    if software is not None:
        software = _dict(software, "software")
        name = _opt_str(software.get("name"), "software.name")
        version = _opt_str(software.get("version"), "software.version", limit=64)

    rests = _list(statement.get("rest"), "rest")
    # A statement may describe client and server modes; the server one is ours.
    server: dict[str, Any] | None = None
    for i, item in enumerate(rests):
        rest = _dict(item, f"rest[{i}]")
        if rest.get("mode") == "server":
            server = rest
            break
    if server is None:
        return Capabilities(fhir_version=fhir_version, software_name=name, software_version=version)

    system = _codes(
        _list(server.get("interaction"), "rest.interaction"), "rest.interaction", "code"
    )
    resources: dict[str, ResourceCapabilities] = {}
    for i, entry in enumerate(_list(server.get("resource"), "rest.resource")):
        res = _resource(entry, f"rest.resource[{i}]")
        if res is not None:
            resources.setdefault(res.type, res)

    services: set[str] = set()
    smart: SmartEndpoints | None = None
    if server.get("security") is not None:
        security = _dict(server["security"], "rest.security")
        for i, item in enumerate(_list(security.get("service"), "rest.security.service")):
            service = _dict(item, f"rest.security.service[{i}]")
            codings = _list(service.get("coding"), f"rest.security.service[{i}].coding")
            services |= _codes(codings, f"rest.security.service[{i}].coding", "code")
        smart = _smart_endpoints(security, "rest.security")

    return Capabilities(
        fhir_version=fhir_version,
        software_name=name,
        software_version=version,
        transaction="transaction" in system,
        batch="batch" in system,
        history_system="history-system" in system,
        security_services=frozenset(services),
        smart=smart,
        resources=MappingProxyType(resources),
    )
