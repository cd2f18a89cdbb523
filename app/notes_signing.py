"""Signing notes and their addenda: the safety sequences, over ports.

A signed note is final: its canonical content (see :func:`canonical_json` and
docs/notes.md, "What a signature covers") is signed with a detached JWS (ES256)
by the clinician's own key, kept in the OS keyring; the store then marks the note
signed, keeps the signature and queues the final DocumentReference and its
Provenance for sync, in ONE transaction. After that the note is never edited
again: later words are addenda (new notes that ``append`` to it), signed too.

Each sequence is one method here (STYLE.md §2b). None of them changes anything
before its last step: a failure or a crash anywhere before the store's commit
leaves the note exactly as it was (a draft stays an editable draft, no half
signature, nothing queued); the commit itself is atomic.
"""

from __future__ import annotations

import getpass
import hashlib
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import rfc8785

from app.clinician import CurrentClinician
from app.errors import InputRejectedError, NoteChangedError, SigningError
from app.events import ConsoleEvents
from app.records import Note, NoteStatus, new_id, utc_now

#: Version of the canonical form (a field of the canonical JSON itself, so a later
#: form can never be confused with this one).
CANONICAL_VERSION = 1
#: JWS ``typ`` of a note signature, and the media type of what it covers.
SIGNATURE_TYP = "clinician-console-note+jws"
CONTENT_TYPE = "application/vnd.clinician-console.note+json"
LOINC_SYSTEM = "http://loinc.org"
MAX_ADDENDUM_CHARS = 200_000


@dataclass(frozen=True, slots=True)
class Signer:
    """Who signs: ``id`` is stable ("Practitioner/<id>" on the record store, or
    "os-user:<login>"), ``display`` is what people read."""

    id: str
    display: str


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in the environment (some containers)
        return "unknown-os-user"


def signer_from_settings(practitioner: str = "") -> Signer:
    """The signer until clinician sign-in provides one: the practitioner configured in
    ``[record_store] practitioner``, else the OS account. Swap it for the identity
    port's ``current_clinician()`` (pass another ``SignerSource`` to NoteSigning)."""
    practitioner = practitioner.strip()
    if practitioner:
        return Signer(practitioner, practitioner)
    login = os_user()
    return Signer(f"os-user:{login}", login)


SignerSource = Callable[[], Signer]

#: The identifier system of a signed-in clinician known only by their identity
#: provider's subject (no Practitioner on the record store, no NPI in the token).
IDP_SUBJECT_SYSTEM = "urn:clinician-console:idp-subject"


def signer_from_clinician(current: CurrentClinician, practitioner: str = "") -> SignerSource:
    """The signed-in clinician signs: their ``Practitioner/<id>``, else their NPI (or local
    identifier), else their identity provider's subject; the configured practitioner or
    the OS account only while nobody is signed in (docs/identity.md)."""

    def source() -> Signer:
        who = current.current_clinician()
        if who is None:
            return signer_from_settings(practitioner)
        display = who.name or who.audit_actor
        if who.practitioner.startswith("Practitioner/"):
            return Signer(who.practitioner, display)
        if who.identifier and who.identifier_system:
            return Signer(f"id:{who.identifier_system}|{who.identifier}", display)
        if who.subject:
            return Signer(f"id:{IDP_SUBJECT_SYSTEM}|{who.subject}", display)
        return signer_from_settings(practitioner)

    return source


@dataclass(frozen=True, slots=True)
class SignedContent:
    """What a note's signature covers (docs/notes.md)."""

    note_id: str
    patient_id: str
    encounter_id: str | None  # None: a document without a visit
    type_code: str  # the document type's code (LOINC for the console's own notes)
    text: str
    appends: str | None = None  # the note an addendum appends to
    type_system: str = LOINC_SYSTEM


def canonical_json(content: SignedContent) -> bytes:
    """RFC 8785 (JSON Canonicalization Scheme) of the content, text in Unicode NFC.

    NFC because the same words typed on two systems may arrive as different code
    point sequences (é as one or two code points); JCS fixes key order, spacing
    and string escaping, so any console rebuilds the same bytes from the
    DocumentReference.
    """
    return rfc8785.dumps(
        {
            "canonical": CANONICAL_VERSION,
            "note": content.note_id,
            "patient": content.patient_id,
            "encounter": content.encounter_id,
            "type": {"system": content.type_system, "code": content.type_code},
            "appends": content.appends,
            "text": unicodedata.normalize("NFC", content.text),
        }
    )


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """A signature as the store keeps it (and Provenance publishes it)."""

    note_id: str
    provenance_id: str  # local id of the Provenance (sync)
    signer_id: str
    signer_display: str
    signed_at: str
    jws: str  # compact serialization, detached payload ("header..signature")
    key_id: str  # RFC 7638 thumbprint of the public key
    public_jwk: dict[str, Any]
    content_sha256: str  # hex digest of the canonical JSON
    appends: str | None = None
    #: Why a signature that came in an imported Bundle did not verify against the
    #: imported text; None for a signature made here or one that verified on import.
    #: Such a signature is kept (the record as it came) but never shown as valid.
    import_problem: str | None = None


@dataclass(frozen=True, slots=True)
class SigningMaterial:
    """Everything the store knows about a note that signing needs, read in one go."""

    note: Note
    patient_id: str
    signature: NoteSignature | None
    open_conflicts: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class SignResult:
    """What ``note sign`` / ``note addendum`` print."""

    note_id: str
    status: str  # "signed" | "already_signed"
    provenance_id: str
    signed_at: str
    signer: str
    appends: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "note_id": self.note_id,
            "status": self.status,
            "provenance_id": self.provenance_id,
            "signed_at": self.signed_at,
            "signer": self.signer,
        }
        if self.appends:
            out["appends"] = self.appends
        return out


@dataclass(frozen=True, slots=True)
class VerifyResult:
    note_id: str
    ok: bool
    reason: str  # "" when ok; never note text
    signer: str = ""
    signed_at: str = ""
    key_id: str = ""
    addenda: tuple[VerifyResult, ...] = field(default=())

    @property
    def all_ok(self) -> bool:
        return self.ok and all(a.all_ok for a in self.addenda)

    def as_dict(self) -> dict[str, Any]:
        return {
            "note_id": self.note_id,
            "ok": self.ok,
            "reason": self.reason,
            "signer": self.signer,
            "signed_at": self.signed_at,
            "key_id": self.key_id,
            "addenda": [a.as_dict() for a in self.addenda],
        }


class NoteFlag(StrEnum):
    """A note's signing state as the worklist shows it."""

    SIGNED = "signed"
    UNSIGNED = "unsigned"
    #: A draft older than the configured age (``[notes] unsigned_flag_hours``).
    OVERDUE = "overdue"
    #: Final, with an imported signature that does not verify against its text.
    NOT_VERIFIED = "not_verified"


def flag_for(
    status: NoteStatus, created_at: str, now: datetime, overdue_after: timedelta
) -> NoteFlag:
    if status is NoteStatus.SIGNED:
        return NoteFlag.SIGNED
    try:
        created = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return NoteFlag.UNSIGNED
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return NoteFlag.OVERDUE if now - created >= overdue_after else NoteFlag.UNSIGNED


@dataclass(frozen=True, slots=True)
class SignedNoteView:
    """What the editor shows about a note's signature: who and when, and its addenda
    (each with its own signature), oldest first."""

    signature: NoteSignature | None
    addenda: tuple[tuple[Note, NoteSignature], ...] = ()
    #: Open conflicts on the note: (conflict id, the record store's text).
    conflicts: tuple[tuple[int, str], ...] = ()


# --- ports -----------------------------------------------------------------------------


class SigningKeys(Protocol):
    """Per-clinician signing keys (storage.signing.KeyringSigningKeys)."""

    async def sign(
        self, signer: Signer, signed_at: str, payload: bytes
    ) -> tuple[str, str, dict[str, Any]]:
        """(detached compact JWS, key id, public JWK). Creates the signer's key on first
        use. Raises SigningKeyError when the key cannot be had (keyring locked/absent)."""
        ...

    def verify(self, jws: str, payload: bytes) -> dict[str, Any]:
        """The protected header when ``jws`` signs ``payload`` with the key in its own
        header (``jwk``, whose thumbprint is ``kid``); raises SigningError otherwise."""
        ...


class SignatureStore(Protocol):
    """The store's side (storage.signatures.StoreSignatures)."""

    async def signing_material(self, note_id: str) -> SigningMaterial: ...

    async def commit_signature(self, signature: NoteSignature, expected_version: int) -> None:
        """In one transaction: the note (still a draft at ``expected_version``, else
        NoteChangedError) becomes signed, the signature is kept, the note and its
        Provenance are queued for sync, the audit log records it."""
        ...

    async def commit_addendum(
        self, addendum: Note, signature: NoteSignature, resolves_conflict: int | None
    ) -> None:
        """In one transaction: the signed addendum note, its signature, their outbox rows,
        the audit entry, and (``resolves_conflict``) the conflict marked resolved by it
        with the signed note queued again as it was signed."""
        ...

    async def addenda(self, note_id: str) -> list[str]:
        """Ids of the addenda appended to ``note_id``, oldest first."""
        ...

    async def read_addendum(self, note_id: str) -> tuple[Note, NoteSignature]:
        """An addendum's text and signature for display (an audited read)."""
        ...

    async def note_states(self, note_ids: list[str]) -> list[tuple[str, NoteStatus, str]]:
        """(id, status, created_at) of those notes (unknown ids are left out)."""
        ...

    async def read_conflicts(self, note_id: str) -> list[tuple[int, str]]:
        """Open conflicts of the note with the server's text (an audited read)."""
        ...

    async def unverified(self, note_ids: list[str]) -> set[str]:
        """Those of the notes whose imported signature did not verify."""
        ...


# --- the use case ----------------------------------------------------------------------


class NoteSigning:
    def __init__(
        self,
        store: SignatureStore,
        keys: SigningKeys,
        signer: SignerSource,
        events: ConsoleEvents | None = None,
    ) -> None:
        self.store = store
        self.keys = keys
        self.signer = signer
        self.events = events

    async def sign(self, note_id: str, *, seen_text: str | None = None) -> SignResult:
        """Sign a draft. ``seen_text``: the text the clinician saw (the editor's, after its
        autosave flushed); refused when the saved text differs, so what is signed is what
        was read. Signing a note already signed returns its signature (a retry after a lost
        reply is harmless)."""
        material = await self.store.signing_material(note_id)
        if material.signature is not None:
            return _result(material.signature, "already_signed")
        if material.note.status is NoteStatus.SIGNED:
            raise SigningError(reason="the note is already final (signed elsewhere)")
        if material.open_conflicts:
            raise NoteChangedError(reason="it has an unresolved sync conflict")
        if seen_text is not None and seen_text != material.note.text:
            raise NoteChangedError(reason="the text on screen is not the saved text")
        note = material.note
        signature = await self._signature(
            SignedContent(
                note.id,
                material.patient_id,
                note.encounter_id,
                note.note_type.code,
                note.text,
                type_system=note.note_type.system,
            )
        )
        # The only step that changes anything, atomic: before it nothing happened.
        await self.store.commit_signature(signature, note.version)
        self._announce(note.id)
        return _result(signature, "signed")

    async def add_addendum(
        self, note_id: str, text: str, *, resolves_conflict: int | None = None
    ) -> SignResult:
        """Append signed words to a signed note (a new note with ``relatesTo appends``).
        ``resolves_conflict``: the id of a conflict on the signed note that this addendum
        answers; the signed note goes back to the record store as it was signed."""
        _check_addendum_text(text)
        parent = await self.store.signing_material(note_id)
        if parent.signature is None and parent.note.status is not NoteStatus.SIGNED:
            raise SigningError(reason="only a signed note takes addenda; edit the draft instead")
        if parent.signature is not None and parent.signature.appends:
            raise SigningError(
                reason="an addendum is appended to the note itself, not to another addendum"
            )
        if resolves_conflict is not None and resolves_conflict not in parent.open_conflicts:
            raise NoteChangedError(reason="the conflict is not open on this note")
        now = utc_now()
        addendum = Note(
            new_id(),
            parent.note.encounter_id,
            text,
            1,
            parent.note.note_type,
            NoteStatus.SIGNED,
            now,
            now,
            parent.patient_id,
        )
        signature = await self._signature(
            SignedContent(
                addendum.id,
                parent.patient_id,
                addendum.encounter_id,
                addendum.note_type.code,
                text,
                appends=note_id,
                type_system=addendum.note_type.system,
            )
        )
        await self.store.commit_addendum(addendum, signature, resolves_conflict)
        self._announce(addendum.id)
        return _result(signature, "signed")

    async def verify(self, note_id: str) -> VerifyResult:
        """Check a note's signature (and its addenda's) against the text held here."""
        result = await self._verify_one(note_id)
        addenda = tuple([await self._verify_one(a) for a in await self.store.addenda(note_id)])
        return VerifyResult(
            result.note_id,
            result.ok,
            result.reason,
            result.signer,
            result.signed_at,
            result.key_id,
            addenda,
        )

    async def view(self, note_id: str) -> SignedNoteView:
        """The signature and addenda of a note, for the editor."""
        material = await self.store.signing_material(note_id)
        addenda = tuple(
            [await self.store.read_addendum(a) for a in await self.store.addenda(note_id)]
        )
        conflicts = (
            tuple(await self.store.read_conflicts(note_id)) if material.open_conflicts else ()
        )
        return SignedNoteView(material.signature, addenda, conflicts)

    async def note_flags(
        self, note_ids: list[str], overdue_after: timedelta, now: datetime | None = None
    ) -> dict[str, NoteFlag]:
        """The worklist's badges: signed, unsigned, or unsigned for too long."""
        when = now or datetime.now(UTC)
        states = await self.store.note_states(note_ids)
        unverified = await self.store.unverified(note_ids)
        return {
            nid: NoteFlag.NOT_VERIFIED
            if nid in unverified
            else flag_for(status, created, when, overdue_after)
            for nid, status, created in states
        }

    async def _verify_one(self, note_id: str) -> VerifyResult:
        material = await self.store.signing_material(note_id)
        signature = material.signature
        if signature is None:
            return VerifyResult(note_id, False, "the note has no signature held here")
        note = material.note
        content = SignedContent(
            note.id,
            material.patient_id,
            note.encounter_id,
            note.note_type.code,
            note.text,
            signature.appends,
            note.note_type.system,
        )
        return verify_signature(self.keys, signature, content)

    async def _signature(self, content: SignedContent) -> NoteSignature:
        signer = self.signer()
        signed_at = utc_now()
        payload = canonical_json(content)
        jws, key_id, public_jwk = await self.keys.sign(signer, signed_at, payload)
        # Check our own signature before keeping it: a keyring handing back another
        # key than the one it generated must fail here, not at someone's verify.
        self.keys.verify(jws, payload)
        return NoteSignature(
            note_id=content.note_id,
            provenance_id=new_id(),
            signer_id=signer.id,
            signer_display=signer.display,
            signed_at=signed_at,
            jws=jws,
            key_id=key_id,
            public_jwk=public_jwk,
            content_sha256=hashlib.sha256(payload).hexdigest(),
            appends=content.appends,
        )

    def _announce(self, note_id: str) -> None:
        if self.events is not None:
            self.events.note_did_sign.emit(note_id, self)


def verify_signature(
    keys: SigningKeys, signature: NoteSignature, content: SignedContent
) -> VerifyResult:
    """A signature against content rebuilt by the verifier (locally, or from FHIR)."""
    base = VerifyResult(
        content.note_id, False, "", signature.signer_id, signature.signed_at, signature.key_id
    )
    payload = canonical_json(content)
    try:
        header = keys.verify(signature.jws, payload)
    except SigningError as exc:
        return _with(base, ok=False, reason=str(exc.params.get("reason", "bad signature")))
    if header.get("kid") != signature.key_id:
        return _with(base, ok=False, reason="the key is not the one recorded at signing")
    signer = header.get("signer")
    if not isinstance(signer, dict) or signer.get("id") != signature.signer_id:
        return _with(base, ok=False, reason="the signer is not the one recorded at signing")
    if header.get("sigT") != signature.signed_at:
        return _with(base, ok=False, reason="the signing time is not the one recorded")
    return _with(base, ok=True, reason="")


def _with(base: VerifyResult, *, ok: bool, reason: str) -> VerifyResult:
    return VerifyResult(base.note_id, ok, reason, base.signer, base.signed_at, base.key_id)


def _result(signature: NoteSignature, status: str) -> SignResult:
    return SignResult(
        signature.note_id,
        status,
        signature.provenance_id,
        signature.signed_at,
        signature.signer_id,
        signature.appends,
    )


def _check_addendum_text(text: object) -> None:
    if not isinstance(text, str) or not text.strip():
        raise InputRejectedError(reason="an addendum needs some text")
    if len(text) > MAX_ADDENDUM_CHARS:
        raise InputRejectedError(
            reason=f"an addendum is limited to {MAX_ADDENDUM_CHARS:,} characters"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InputRejectedError(reason="the addendum is not valid Unicode") from None
