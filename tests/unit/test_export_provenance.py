"""A signed note's Provenance and the visit's Consents travel in the FHIR export and come
back on import (issue 13): CLI round trips into a fresh store, a signature that does not
verify kept but flagged, re-import idempotent, hostile entries refused one by one."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

from app.records import Encounter, Patient, new_id, utc_now
from app.templates import SHIPPED_DIR, load_templates
from app.visit_start import (
    ConsentAnswer,
    ConsentDecision,
    ConsentMethod,
    LocationKind,
    VisitStart,
    VisitStartForm,
)
from storage import signatures
from storage.consents import StoreVisitStart, visit_facts
from tests.conftest import open_test_store, run
from tests.signing_support import MemoryKeys, signing
from tests.unit.test_cli import cli


def _signed_visit(profile: Path) -> dict[str, str]:
    """A visit with both consents, a signed note and a signed addendum; the store closed."""

    async def scenario() -> dict[str, str]:
        store = await open_test_store(profile)
        patient = await store.add_patient(Patient(new_id(), "Roundtrip", "Rita", "1980-01-02"))
        enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
        use = VisitStart(StoreVisitStart(store), load_templates([SHIPPED_DIR]), actor="dr")
        started = await use.begin(
            enc.id,
            VisitStartForm(
                "US-CA",
                LocationKind.HOME,
                "photo ID",
                ConsentAnswer(ConsentDecision.PERMIT, ConsentMethod.VERBAL),
                ConsentAnswer(ConsentDecision.DENY, ConsentMethod.WRITTEN),
            ),
        )
        note = await store.create_note(enc.id, "Assessment: well.\nPlan: café, rest")
        keys = MemoryKeys()
        await signing(store, keys).sign(note.id)
        addendum = await signing(store, keys).add_addendum(note.id, "Called back: better.")
        await store.close()
        return {
            "patient": patient.id,
            "encounter": enc.id,
            "note": note.id,
            "addendum": addendum.note_id,
            "consent_given": started.consents[0].id,
            "consent_declined": started.consents[1].id,
        }

    result: dict[str, str] = run(scenario())
    return result


def _export(profile: Path, out: Path) -> dict[str, Any]:
    exported = cli(profile, "export", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    bundle: dict[str, Any] = json.loads(out.read_text())
    return bundle


def _import(profile: Path, path: Path) -> dict[str, Any]:
    result = cli(profile, "import", str(path), "--json")
    assert result.returncode == 0, result.stderr
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def _by_type(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def _write(path: Path, bundle: dict[str, Any]) -> Path:
    path.write_text(json.dumps(bundle))
    return path


def test_export_carries_provenance_and_consents_with_urn_references(
    fresh_profile: Path, tmp_path: Path
) -> None:
    ids = _signed_visit(fresh_profile)
    exported = cli(fresh_profile, "export", "--out", str(tmp_path / "out.json"))
    assert "(2 signatures, 2 consents)" in exported.stderr
    bundle = json.loads((tmp_path / "out.json").read_text())
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    provenances = _by_type(bundle, "Provenance")
    assert len(provenances) == 2
    targets = {p["resource"]["target"][0]["reference"] for p in provenances}
    assert targets == {f"urn:uuid:{ids['note']}", f"urn:uuid:{ids['addendum']}"}
    for p in provenances:
        assert p["fullUrl"].startswith("urn:uuid:")
        assert p["resource"]["signature"][0]["sigFormat"] == "application/jose"
    consents = _by_type(bundle, "Consent")
    assert {c["fullUrl"] for c in consents} == {
        f"urn:uuid:{ids['consent_given']}",
        f"urn:uuid:{ids['consent_declined']}",
    }
    for c in consents:
        res = c["resource"]
        assert res["patient"]["reference"] == f"urn:uuid:{ids['patient']}"
        assert res["provision"]["data"][0]["reference"]["reference"] == (
            f"urn:uuid:{ids['encounter']}"
        )
    # Every reference inside the Bundle resolves to one of its entries.
    text = json.dumps(bundle)
    for ref in {f"urn:uuid:{v}" for v in ids.values()}:
        assert ref in full_urls and ref in text
    [addendum_doc] = [
        d for d in _by_type(bundle, "DocumentReference") if d["fullUrl"].endswith(ids["addendum"])
    ]
    assert addendum_doc["resource"]["relatesTo"] == [
        {
            "code": "appends",
            "target": {"reference": f"urn:uuid:{ids['note']}", "type": "DocumentReference"},
        }
    ]


def test_round_trip_keeps_who_signed_and_consent_and_is_idempotent(
    fresh_profile: Path, tmp_path: Path
) -> None:
    ids = _signed_visit(fresh_profile)
    out = tmp_path / "out.json"
    notes = len(_by_type(_export(fresh_profile, out), "DocumentReference"))
    assert notes == 3  # the visit's own (started) note, the signed note, the addendum
    other = tmp_path / "other-console"
    first = _import(other, out)
    assert first["notes_created"] == notes
    assert first["signatures_imported"] == 2 and first["signatures_not_verified"] == 0
    assert first["consents_created"] == 2
    assert first["skipped"] == []
    verified = cli(other, "note", "verify", ids["note"], "--json")
    assert verified.returncode == 0, verified.stderr
    report = json.loads(verified.stdout)
    assert report["ok"] is True and report["signer"] == "os-user:dr-test"
    assert [a["ok"] for a in report["addenda"]] == [True]

    async def facts() -> Any:
        store = await open_test_store(other)
        try:
            return await store.transact(visit_facts, ids["encounter"])
        finally:
            await store.close()

    _, consents = run(facts())
    assert {(c.id, c.decision, c.method) for c in consents} == {
        (ids["consent_given"], ConsentDecision.PERMIT, ConsentMethod.VERBAL),
        (ids["consent_declined"], ConsentDecision.DENY, ConsentMethod.WRITTEN),
    }
    again = _import(other, out)
    assert again["notes_created"] == 0 and again["signatures_imported"] == 0
    assert again["consents_created"] == 0 and again["skipped"] == []
    # Exported again from the second console, it is the same record.
    second = _export(other, tmp_path / "again.json")
    assert len(_by_type(second, "Provenance")) == 2 and len(_by_type(second, "Consent")) == 2


def _retext(doc: dict[str, Any], text: str) -> None:
    raw = text.encode("utf-8")
    att = doc["resource"]["content"][0]["attachment"]
    att["data"] = base64.b64encode(raw).decode("ascii")
    att["hash"] = base64.b64encode(hashlib.sha1(raw).digest()).decode("ascii")
    att["size"] = len(raw)


def test_a_signature_that_does_not_verify_is_kept_but_flagged(
    fresh_profile: Path, tmp_path: Path
) -> None:
    ids = _signed_visit(fresh_profile)
    bundle = _export(fresh_profile, tmp_path / "out.json")
    [doc] = [d for d in _by_type(bundle, "DocumentReference") if d["fullUrl"].endswith(ids["note"])]
    _retext(doc, "Assessment: well.\nPlan: opioids, rest")
    other = tmp_path / "other-console"
    summary = _import(other, _write(tmp_path / "tampered.json", bundle))
    assert summary["signatures_imported"] == 2 and summary["signatures_not_verified"] == 1
    verified = cli(other, "note", "verify", ids["note"], "--json")
    assert json.loads(verified.stdout)["ok"] is False and verified.returncode != 0

    async def held() -> Any:
        store = await open_test_store(other)
        try:
            sig = await store.transact(signatures.get_signature, ids["note"])
            view = await signing(store).view(ids["note"])
            pending = await store.transact(
                lambda conn: conn.execute(
                    "SELECT entity_type, entity_id FROM outbox WHERE entity_type = 'provenance'"
                ).fetchall()
            )
            return sig, view, pending
        finally:
            await store.close()

    sig, view, pending = run(held())
    assert sig is not None and sig.import_problem, "flagged at import, never shown as valid"
    assert view.signature is not None and view.signature.import_problem
    # A signature known to be broken is not published to the record store as a valid one.
    assert [tuple(r) for r in pending] == [("provenance", ids["addendum"])]


def test_hostile_entries_are_refused_one_by_one(fresh_profile: Path, tmp_path: Path) -> None:
    ids = _signed_visit(fresh_profile)
    bundle = _export(fresh_profile, tmp_path / "out.json")
    entries = bundle["entry"]
    provs = _by_type(bundle, "Provenance")
    given = next(c for c in _by_type(bundle, "Consent") if ids["consent_given"] in c["fullUrl"])
    # 1. A Provenance pointing to a note not in the Bundle.
    stray = copy.deepcopy(provs[0])
    stray["fullUrl"] = f"urn:uuid:{new_id()}"
    stray["resource"]["id"] = stray["fullUrl"][9:]
    stray["resource"]["target"][0]["reference"] = f"urn:uuid:{new_id()}"
    # 2. A Consent with no patient.
    orphan = copy.deepcopy(given)
    orphan["fullUrl"] = f"urn:uuid:{new_id()}"
    orphan["resource"]["identifier"][0]["value"] = orphan["fullUrl"]
    del orphan["resource"]["patient"]
    del orphan["resource"]["performer"]
    # 3. An oversized signature (on the addendum's Provenance, replacing it).
    huge = next(p for p in provs if ids["addendum"] in p["resource"]["target"][0]["reference"])
    huge["resource"]["signature"][0]["data"] = base64.b64encode(b"A" * 200_000).decode()
    entries += [stray, orphan]
    indices = {id(e): i for i, e in enumerate(entries)}
    other = tmp_path / "other-console"
    summary = _import(other, _write(tmp_path / "hostile.json", bundle))
    skipped = summary["skipped"]
    assert len(skipped) == 3, skipped
    assert any(
        s.startswith(f"entry {indices[id(stray)]}: ") and "does not resolve" in s for s in skipped
    )
    assert any(
        s.startswith(f"entry {indices[id(orphan)]}: ") and "Consent.patient" in s for s in skipped
    )
    assert any(s.startswith(f"entry {indices[id(huge)]}: ") and "larger" in s for s in skipped)
    assert "Rita" not in json.dumps(skipped) and "Roundtrip" not in json.dumps(skipped)
    # Nothing else lost: both notes, the good signature, both real consents.
    assert summary["notes_created"] == len(_by_type(bundle, "DocumentReference"))
    assert summary["signatures_imported"] == 1 and summary["consents_created"] == 2
    assert json.loads(cli(other, "note", "verify", ids["note"], "--json").stdout)["ok"] is True


def _signed_base() -> dict[str, Any]:
    """An exported Bundle with a real signature over its first note and one consent; the
    signer's name is the canary (a value that must never be quoted back)."""
    from app.notes_signing import NoteSignature, SignedContent, Signer, canonical_json
    from app.visit_start import ConsentRecord, ConsentScope
    from storage.fhir.bundle import build_export_bundle
    from tests.unit.test_fhir_import import CANARY, records

    patients, encounters, notes = records()
    note = notes[0]
    content = SignedContent(
        note.id, note.patient_id, note.encounter_id, note.note_type.code, note.text
    )
    payload = canonical_json(content)
    when = utc_now()
    signer = Signer("os-user:dr-test", CANARY)
    jws, kid, jwk = run(MemoryKeys().sign(signer, when, payload))
    sig = NoteSignature(
        note.id,
        new_id(),
        signer.id,
        CANARY,
        when,
        jws,
        kid,
        jwk,
        hashlib.sha256(payload).hexdigest(),
    )
    consent = ConsentRecord(
        new_id(),
        encounters[0].id,
        ConsentScope.TELEHEALTH,
        ConsentDecision.PERMIT,
        ConsentMethod.VERBAL,
        "dr",
        when,
    )
    bundle = build_export_bundle(patients, encounters, notes, signatures=[sig], consents=[consent])
    result: dict[str, Any] = json.loads(json.dumps(bundle))
    return result


def test_a_real_signature_and_consent_parse_back() -> None:
    from storage.fhir.bundle import parse_import_bundle

    parsed = parse_import_bundle(_signed_base())
    [sig] = parsed.signatures
    assert sig.import_problem is None and parsed.skipped == ()
    [consent] = parsed.consents
    assert consent.decision is ConsentDecision.PERMIT
    # A signer's name from a file is shown in the editor: one bounded line.
    data = _signed_base()
    [prov] = _by_type(data, "Provenance")
    prov["resource"]["signature"][0]["who"]["display"] = "Dr\n\u202eX " * 10_000
    [sig] = parse_import_bundle(data).signatures
    assert sig.import_problem is None
    assert len(sig.signer_display) <= 200 and sig.signer_display.isprintable()


def _side_positions(data: dict[str, Any], side: list[int]) -> list[tuple[Any, ...]]:
    """Every position inside the (base Bundle's) Provenance and Consent entries."""
    from tests.unit.test_fhir_import import _positions

    return [("entry", i, *p) for i in side for p in _positions(data["entry"][i])]


def test_mutated_signatures_and_consents_never_break_the_import() -> None:
    """Hostile Provenance and Consent entries: the file still imports (or is refused
    whole with ImportRejectedError for the records' sake); a skipped entry's reason
    names its entry and never quotes a value."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from app.errors import ImportRejectedError
    from storage.fhir.bundle import parse_import_bundle
    from tests.unit.test_fhir_import import CANARY, JSON_VALUES, assert_no_canary

    base = _signed_base()
    side = [
        i
        for i, e in enumerate(base["entry"])
        if e["resource"]["resourceType"] in ("Provenance", "Consent")
    ]
    assert len(side) == 2

    @st.composite
    def mutated(draw: st.DrawFn) -> dict[str, Any]:
        data = copy.deepcopy(base)
        for _ in range(draw(st.integers(1, 4))):
            positions = _side_positions(data, side)
            if not positions:
                break
            path = draw(st.sampled_from(positions))
            parent: Any = data
            for key in path[:-1]:
                parent = parent[key]
            action = draw(st.sampled_from(["drop", "null", "replace"]))
            if action == "drop":
                del parent[path[-1]]
            else:
                parent[path[-1]] = None if action == "null" else draw(JSON_VALUES)
        return data

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(mutated())
    def check(data: dict[str, Any]) -> None:
        try:
            parsed = parse_import_bundle(data)
        except ImportRejectedError as exc:
            assert_no_canary(exc)
            return
        assert len(parsed.notes) == 3, "the records are never lost for a bad side entry"
        for reason in parsed.skipped:
            assert reason.startswith("entry ") and CANARY not in reason
        for sig in parsed.signatures:
            assert sig.import_problem is None or CANARY not in sig.import_problem

    check()
