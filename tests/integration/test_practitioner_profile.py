"""The clinician profile from the record store's Practitioner / PractitionerRole, on both
real FHIR test servers (SEKMET and Medplum's router): found by NPI and by ``fhirUser``,
licences from the qualification's ``whereValid`` (Plan-Net extension), lapsed ones left
out, and the ID token still winning where it has a part."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from app.identity import Licence, resolve_profile
from storage.fhir.client import FhirClient, entry_result
from storage.identity.practitioner import (
    ISO_3166_2_SYSTEM,
    QUALIFICATION_EXTENSION,
    USPS_SYSTEM,
    FhirPractitionerDirectory,
    practitioner_info,
)
from tests.conftest import run

pytestmark = pytest.mark.integration


def _where(system: str, code: str) -> dict[str, Any]:
    return {
        "url": QUALIFICATION_EXTENSION,
        "extension": [
            {"url": "status", "valueCode": "active"},
            {
                "url": "whereValid",
                "valueCodeableConcept": {"coding": [{"system": system, "code": code}]},
            },
        ],
    }


def _bundle(npi: str) -> dict[str, Any]:
    practitioner_url = f"urn:uuid:{uuid.uuid4()}"
    practitioner = {
        "resourceType": "Practitioner",
        "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": npi}],
        "name": [{"use": "official", "family": "Ames", "given": ["Alice"], "prefix": ["Dr"]}],
        "qualification": [
            {
                "identifier": [{"value": "CA-A12345"}],
                "code": {"text": "Physician and surgeon licence"},
                "period": {"end": "2099-01-31"},
                "extension": [_where(USPS_SYSTEM, "CA")],
            },
            {
                "identifier": [{"value": "NV-OLD"}],
                "code": {"text": "Lapsed licence"},
                "period": {"end": "2001-01-31"},
                "extension": [_where(USPS_SYSTEM, "NV")],
            },
        ],
    }
    role = {
        "resourceType": "PractitionerRole",
        "practitioner": {"reference": practitioner_url},
        "extension": [_where(ISO_3166_2_SYSTEM, "US-OR")],
    }
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": practitioner_url,
                "resource": practitioner,
                "request": {"method": "POST", "url": "Practitioner"},
            },
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": role,
                "request": {"method": "POST", "url": "PractitionerRole"},
            },
        ],
    }


def test_profile_from_practitioner_and_role_on_each_fhir_server(fhir_server: Any) -> None:
    npi = str(uuid.uuid4().int)[:10]

    def client() -> FhirClient:
        return FhirClient(fhir_server.base_url)

    directory = FhirPractitionerDirectory(client)

    async def scenario() -> None:
        async with client() as fhir:
            reply = await fhir.transaction(_bundle(npi))
        practitioner_id = entry_result(reply["entry"][0]).id
        assert practitioner_id
        by_npi = await directory.find(subject="s", identifier=npi, fhir_user="")
        assert by_npi is not None
        assert by_npi.reference == f"Practitioner/{practitioner_id}"
        assert by_npi.name == "Dr Alice Ames"
        assert by_npi.identifier == npi
        assert by_npi.licences == (
            Licence("US-CA", "CA-A12345", "2099-01-31"),
            Licence("US-OR"),  # from the PractitionerRole
        )
        by_fhir_user = await directory.find(
            subject="s",
            identifier="",
            fhir_user=f"{fhir_server.base_url}/Practitioner/{practitioner_id}",
        )
        assert by_fhir_user == by_npi
        assert await directory.find(subject="s", identifier="0000000000", fhir_user="") is None
        # The token's own licences still win; its missing name comes from the store.
        who = resolve_profile(subject="s", claims={"licenses": ["US-WA"]}, practitioner=by_npi)
        assert (who.name, who.licensed_in(), who.practitioner) == (
            "Dr Alice Ames",
            ("US-WA",),
            f"Practitioner/{practitioner_id}",
        )

    run(scenario())


def test_hostile_practitioner_content_yields_no_licence() -> None:
    info = practitioner_info(
        {
            "id": "x",
            "name": "not a list",
            "qualification": [
                {"extension": [_where(USPS_SYSTEM, "C")]},  # not a state
                {"extension": [_where("http://other", "California")]},
                {"extension": "nope"},
                "junk",
            ],
        },
        [{"extension": [{"url": QUALIFICATION_EXTENSION, "extension": [{"url": "whereValid"}]}]}],
    )
    assert info.licences == () and info.name == ""
