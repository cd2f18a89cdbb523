"""The second FHIR server itself: what sync relies on, and how it differs (DESIGN.md §5)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.integration.medplum import MedplumServer

pytestmark = pytest.mark.integration
SYSTEM = "urn:ietf:rfc:3986"


def _tx(base: str, entries: list[dict[str, object]], kind: str = "transaction") -> httpx.Response:
    return httpx.post(
        base, json={"resourceType": "Bundle", "type": kind, "entry": entries}, timeout=30
    )


def test_medplum_supports_what_sync_needs_and_rewrites_full_urls(medplum: MedplumServer) -> None:
    base = medplum.base_url
    assert httpx.get(f"{base}/metadata", timeout=10).json()["fhirVersion"] == "4.0.1"
    local = f"urn:uuid:{uuid.uuid4()}"
    patient = {"resourceType": "Patient", "identifier": [{"system": SYSTEM, "value": local}]}
    cond = f"identifier={SYSTEM}|{local}"
    # The pitfall: a fullUrl equal to a stored string is rewritten in the stored resource.
    same = _tx(
        base,
        [
            {
                "fullUrl": local,
                "resource": patient,
                "request": {"method": "POST", "url": "Patient", "ifNoneExist": cond},
            }
        ],
    )
    stored = same.json()["entry"][0]["resource"]["identifier"][0]["value"]
    assert stored.startswith("Patient/"), "Medplum rewrites every string equal to a fullUrl"
    # With a fullUrl stored nowhere, conditional create finds the first copy (200).
    local = f"urn:uuid:{uuid.uuid4()}"
    patient = {"resourceType": "Patient", "identifier": [{"system": SYSTEM, "value": local}]}
    entry = {
        "fullUrl": f"urn:uuid:{uuid.uuid4()}",
        "resource": patient,
        "request": {
            "method": "POST",
            "url": "Patient",
            "ifNoneExist": f"identifier={SYSTEM}|{local}",
        },
    }
    first = _tx(base, [entry]).json()["entry"][0]["response"]
    again = _tx(base, [entry]).json()["entry"][0]["response"]
    assert (first["status"][:3], again["status"][:3]) == ("201", "200")
    assert first["location"] == again["location"]
    server_id = first["location"].split("/")[1]
    read = httpx.get(f"{base}/Patient/{server_id}", timeout=10)
    version = read.json()["meta"]["versionId"]
    assert uuid.UUID(version) and read.headers["etag"] == f'W/"{version}"'
    body = read.json()
    stale = httpx.put(
        f"{base}/Patient/{server_id}",
        json=body,
        headers={"If-Match": 'W/"not-the-version"'},
        timeout=10,
    )
    assert stale.status_code == 412
    assert (
        httpx.put(
            f"{base}/Patient/{server_id}",
            json=body,
            headers={"If-Match": f'W/"{version}"'},
            timeout=10,
        ).status_code
        == 200
    )
    page = httpx.get(
        f"{base}/Patient",
        params={"_lastUpdated": "ge2000-01-01T00:00:00Z", "_sort": "_lastUpdated", "_count": "1"},
        timeout=10,
    ).json()
    assert len(page["entry"]) == 1 and any(link["relation"] == "next" for link in page["link"])
    # Structural validation on create, and a failed transaction leaves nothing behind.
    marker = str(uuid.uuid4())
    bad = _tx(
        base,
        [
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "request": {"method": "POST", "url": "Patient"},
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [{"system": "t", "value": marker}],
                },
            },
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "request": {"method": "POST", "url": "Patient"},
                "resource": {"resourceType": "Patient", "gender": 5},
            },
        ],
    )
    assert bad.status_code == 400
    left = httpx.get(f"{base}/Patient", params={"identifier": f"t|{marker}"}, timeout=10).json()
    assert not left.get("entry")
    # No update-as-create: a Binary cannot be written to an id the client chose.
    put = httpx.put(
        f"{base}/Binary/{uuid.uuid4()}",
        timeout=10,
        json={"resourceType": "Binary", "contentType": "text/plain", "data": "aGk="},
    )
    assert put.status_code >= 400
