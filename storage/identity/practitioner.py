"""The record store's Practitioner and PractitionerRole as a clinician profile source
(app.identity.PractitionerDirectory).

FHIR R4's ``Practitioner.qualification`` has no field for where a licence is valid;
US directories (Da Vinci PDex Plan-Net, adopted by many US Core servers) carry it in
the ``practitioner-qualification`` extension's ``whereValid`` (a USPS state code or
an ISO 3166-2 code). The same extension on a ``PractitionerRole`` counts too. A
qualification whose ``period.end`` lies before today is not a licence any more.

The Practitioner is found by the ID token's ``fhirUser`` claim (SMART) when it names
one, else by the NPI (or local identifier) the token carries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

from app.identity import Licence, PractitionerInfo, valid_jurisdiction
from storage.fhir.client import FhirClient

QUALIFICATION_EXTENSION = (
    "http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/practitioner-qualification"
)
USPS_SYSTEM = "https://www.usps.com/"
ISO_3166_2_SYSTEM = "urn:iso:std:iso:3166:-2"
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
MAX_ROLES = 20


def _where_valid(extensions: Any) -> list[str]:
    codes: list[str] = []
    for ext in extensions if isinstance(extensions, list) else ():
        if not isinstance(ext, Mapping) or ext.get("url") != QUALIFICATION_EXTENSION:
            continue
        for sub in ext.get("extension") or ():
            if not isinstance(sub, Mapping) or sub.get("url") != "whereValid":
                continue
            concept = sub.get("valueCodeableConcept") or {}
            for coding in concept.get("coding") or () if isinstance(concept, Mapping) else ():
                if not isinstance(coding, Mapping):
                    continue
                code = str(coding.get("code") or "").upper()
                if coding.get("system") == USPS_SYSTEM and len(code) == 2:
                    code = f"US-{code}"
                if valid_jurisdiction(code) and code not in codes:
                    codes.append(code)
    return codes


def _name(resource: Mapping[str, Any]) -> str:
    names = [n for n in resource.get("name") or () if isinstance(n, Mapping)]
    names.sort(key=lambda n: {"official": 0, "usual": 1}.get(str(n.get("use", "")), 2))
    for name in names:
        if name.get("text"):
            return str(name["text"])
        given = " ".join(str(g) for g in name.get("given") or ())
        text = " ".join(
            p
            for p in (
                *(str(x) for x in name.get("prefix") or ()),
                given,
                str(name.get("family") or ""),
            )
            if p
        )
        if text:
            return text
    return ""


def _identifier(resource: Mapping[str, Any]) -> tuple[str, str]:
    ids = [i for i in resource.get("identifier") or () if isinstance(i, Mapping) and i.get("value")]
    ids.sort(key=lambda i: 0 if i.get("system") == NPI_SYSTEM else 1)
    return (str(ids[0]["value"]), str(ids[0].get("system") or "")) if ids else ("", "")


def practitioner_info(
    practitioner: Mapping[str, Any], roles: Iterable[Mapping[str, Any]] = (), *, today: str = ""
) -> PractitionerInfo:
    """The profile parts a Practitioner (and its roles) give; expired licences left out."""
    today = today or datetime.now(UTC).date().isoformat()
    licences: list[Licence] = []
    seen: set[str] = set()
    sources: list[tuple[Any, Mapping[str, Any]]] = [
        (q.get("extension"), q)
        for q in practitioner.get("qualification") or ()
        if isinstance(q, Mapping)
    ]
    sources += [(r.get("extension"), r) for r in roles if isinstance(r, Mapping)]
    for extensions, holder in sources:
        raw_period = holder.get("period")
        period: Mapping[str, Any] = raw_period if isinstance(raw_period, Mapping) else {}
        end = str(period.get("end") or "")[:10]
        if end and end < today:
            continue  # lapsed
        numbers = [i for i in holder.get("identifier") or () if isinstance(i, Mapping)]
        number = str(numbers[0].get("value") or "") if numbers else ""
        for code in _where_valid(extensions):
            if code not in seen:
                seen.add(code)
                licences.append(Licence(code, number, end))
    identifier, system = _identifier(practitioner)
    return PractitionerInfo(
        reference=f"Practitioner/{practitioner.get('id', '')}",
        name=_name(practitioner),
        identifier=identifier,
        identifier_system=system,
        licences=tuple(licences),
    )


class FhirPractitionerDirectory:
    """app.identity.PractitionerDirectory over the record store."""

    def __init__(
        self,
        client: Callable[[], AbstractAsyncContextManager[FhirClient]],
        *,
        identifier_system: str = NPI_SYSTEM,
    ) -> None:
        self._client = client
        self._system = identifier_system

    async def find(
        self, *, subject: str, identifier: str, fhir_user: str
    ) -> PractitionerInfo | None:
        async with self._client() as fhir:
            practitioner: dict[str, Any] | None = None
            parts = fhir_user.rstrip("/").rsplit("/", 2)
            if len(parts) >= 2 and parts[-2] == "Practitioner" and parts[-1]:
                practitioner = await fhir.read("Practitioner", parts[-1])
            elif identifier:
                token = f"{self._system}|{identifier}" if self._system else identifier
                async for found in fhir.search("Practitioner", {"identifier": token}):
                    practitioner = found
                    break
            if practitioner is None or practitioner.get("resourceType") != "Practitioner":
                return None
            roles: list[dict[str, Any]] = []
            reference = f"Practitioner/{practitioner.get('id', '')}"
            async for role in fhir.search("PractitionerRole", {"practitioner": reference}):
                if role.get("resourceType") == "PractitionerRole":
                    roles.append(role)
                if len(roles) >= MAX_ROLES:
                    break
            return practitioner_info(practitioner, roles)
