"""Audit entries map to AuditEvents that validate as FHIR R4B and carry no patient data."""

from __future__ import annotations

import pytest

from app.records import AuditEntry, new_id, utc_now
from storage.fhir import audit_event

ACTIONS = [
    ("create", "C", "110110"),
    ("read", "R", "110110"),
    ("read_history", "R", "110110"),
    ("update", "U", "110110"),
    ("delete", "D", "110110"),
    ("sign_in", "E", "110114"),
    ("unlock_failed", "E", "110114"),
    ("export", "E", "110106"),
    ("import", "U", "110107"),
    ("audit_reanchor", "E", "110100"),
]


@pytest.mark.parametrize(("action", "crud", "dcm"), ACTIONS)
def test_each_action_validates(action: str, crud: str, dcm: str) -> None:
    record = new_id()
    entry = AuditEntry(7, utc_now(), "jdoe", action, "note", record, "a" * 64, "b" * 64)
    resource = audit_event.audit_event("store-1", entry)  # raises if R4B rejects it
    assert resource["action"] == crud and resource["type"]["code"] == dcm
    assert resource["outcome"] == ("4" if action == "unlock_failed" else "0")
    assert resource["agent"][0]["who"]["identifier"]["value"] == "jdoe"
    assert resource["entity"][0]["what"]["identifier"]["value"] == f"urn:uuid:{record}"


def test_event_ids_are_stable_and_never_reused_for_other_content() -> None:
    a = AuditEntry(3, utc_now(), "jdoe", "read", "note", new_id(), "0" * 64, "1" * 64)
    b = AuditEntry(3, a.ts, "jdoe", "read", "note", a.entity_id, "0" * 64, "2" * 64)
    assert audit_event.event_uuid("s", a) == audit_event.event_uuid("s", a)
    assert audit_event.event_uuid("s", a) != audit_event.event_uuid("s", b)


def test_a_non_uuid_entity_is_described_not_referenced() -> None:
    entry = AuditEntry(1, utc_now(), "jdoe", "export", "bundle", "40 notes", "0" * 64, "1" * 64)
    entity = audit_event.audit_event("s", entry)["entity"][0]
    assert "what" not in entity and entity["description"] == "40 notes"
