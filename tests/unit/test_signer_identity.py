"""The signed-in clinician signs notes as themselves (issue 13: "each person's actions
are audited under their name (the audit actor and Provenance.agent)").

The identity port is an in-memory stand-in of app.clinician.CurrentClinician (the real
provider flow is tests/integration/test_oidc_signin.py); the store is real SQLCipher and
the JWS code is real (tests/signing_support.MemoryKeys holds the keys in a dict).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from app.clinician import Licence
from app.notes_signing import (
    IDP_SUBJECT_SYSTEM,
    NoteSignature,
    NoteSigning,
    Signer,
    signer_from_clinician,
)
from app.records import Encounter, Patient, new_id, utc_now
from storage import signatures
from storage.fhir.provenance import signer_id_of, signer_reference
from storage.signatures import StoreSignatures
from tests.conftest import open_test_store, run
from tests.signing_support import MemoryKeys

NPI = "http://hl7.org/fhir/sid/us-npi"


@dataclass
class _Clinician:
    subject: str = ""
    name: str = ""
    identifier: str = ""
    identifier_system: str = ""
    licences: tuple[Licence, ...] = ()
    practitioner: str = ""
    audit_actor: str = ""

    def licensed_in(self) -> tuple[str, ...]:
        return ()


@dataclass
class _Identity:
    who: _Clinician | None = None
    history: list[str] = field(default_factory=list)

    def current_clinician(self) -> _Clinician | None:
        return self.who


def test_the_signer_follows_whoever_is_signed_in() -> None:
    identity = _Identity()
    source = signer_from_clinician(identity, practitioner="Practitioner/configured")
    # Nobody signed in: the configured practitioner (as before sign-in existed).
    assert source() == Signer("Practitioner/configured", "Practitioner/configured")
    identity.who = _Clinician("sub-1", "Dr Ada Ito", practitioner="Practitioner/ada")
    assert source() == Signer("Practitioner/ada", "Dr Ada Ito")
    # Switch clinician on a shared cart: the next signature is the next person's.
    identity.who = _Clinician("sub-2", "Dr Ben Oru", "1234567893", NPI)
    assert source() == Signer(f"id:{NPI}|1234567893", "Dr Ben Oru")
    identity.who = _Clinician("sub-3", "", audit_actor="cnurse [sub-3]")
    assert source() == Signer(f"id:{IDP_SUBJECT_SYSTEM}|sub-3", "cnurse [sub-3]")


def test_provenance_agent_names_the_clinician_and_reads_back() -> None:
    for signer_id in (
        "Practitioner/ada",
        f"id:{NPI}|1234567893",
        f"id:{IDP_SUBJECT_SYSTEM}|sub-3",
        "os-user:nurse",
    ):
        sig = NoteSignature(
            note_id="n",
            provenance_id="p",
            signer_id=signer_id,
            signer_display="Dr",
            signed_at=utc_now(),
            jws="x.y.z",
            key_id="k",
            public_jwk={},
            content_sha256="",
            appends=None,
        )
        who = signer_reference(sig)
        assert signer_id_of(who) == signer_id
    npi_agent = signer_reference(
        NoteSignature("n", "p", f"id:{NPI}|1234567893", "Dr", "", "", "", {}, "")
    )
    assert npi_agent["identifier"] == {"system": NPI, "value": "1234567893"}


def test_two_clinicians_sign_two_notes_each_as_themselves(fresh_profile: Path) -> None:
    async def scenario() -> None:
        store = await open_test_store(fresh_profile)
        patient = await store.add_patient(Patient(new_id(), "Sign", "Two", "1970-01-01"))
        enc = await store.add_encounter(Encounter(new_id(), patient.id, utc_now()))
        first = (await store.create_note(enc.id, "Plan:\nfirst")).id
        second = (await store.create_note(enc.id, "Plan:\nsecond")).id
        identity = _Identity(_Clinician("sub-a", "Dr A", practitioner="Practitioner/a"))
        use = NoteSigning(StoreSignatures(store), MemoryKeys(), signer_from_clinician(identity))
        await use.sign(first)
        identity.who = _Clinician("sub-b", "Dr B", "1234567893", NPI)
        await use.sign(second)
        a = await store.transact(signatures.get_signature, first)
        b = await store.transact(signatures.get_signature, second)
        assert a is not None and (a.signer_id, a.signer_display) == ("Practitioner/a", "Dr A")
        assert b is not None and (b.signer_id, b.signer_display) == (f"id:{NPI}|1234567893", "Dr B")
        assert (await use.verify(first)).ok and (await use.verify(second)).ok
        await store.close()

    run(scenario())
