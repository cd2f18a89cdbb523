"""A note's signature as a FHIR R4 ``Provenance``, sent exactly once through the outbox.

The Provenance names the signer (``agent`` and ``signature.who``) and carries the
detached JWS in ``signature.data`` (base64 of its compact form; ``sigFormat``
``application/jose``, ``targetFormat`` the canonical JSON's media type). The public
key travels in the JWS protected header (``jwk``, thumbprint ``kid``), so another
console verifies a signature from the DocumentReference and the Provenance alone
(:func:`verify_from_fhir`; docs/notes.md).

Provenance has no ``identifier`` in R4, so a conditional create by our own id is not
possible. Exactly once instead: the Provenance is looked for by its target and its
signature before it is created, and the outbox row goes only once the server holds
it. A lost reply or a crash after the create finds it on the next pass.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from fhir.resources.R4B.provenance import Provenance

from app.errors import (
    ConsoleError,
    ImportRejectedError,
    SyncConflictError,
    SyncProtocolError,
    SyncRejectedError,
)
from app.notes_signing import (
    CONTENT_TYPE,
    NoteSignature,
    SignedContent,
    SigningKeys,
    VerifyResult,
    verify_signature,
)
from storage import signatures
from storage.fhir.mapping import LOINC_SYSTEM, export_validated, local_id_from_reference
from storage.sync import queue
from storage.sync.queue import OutboxItem, RemoteRef

log = logging.getLogger(__name__)

SIGNATURE_TYPE_SYSTEM = "urn:iso-astm:E1762-95:2013"
AUTHOR_SIGNATURE = "1.2.840.10065.1.12.1.1"
PARTICIPANT_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
#: The identifier system of a signer known only by their OS account (no Practitioner).
OS_USER_SYSTEM = "urn:clinician-console:os-user"
SIG_FORMAT = "application/jose"


def signer_reference(sig: NoteSignature) -> dict[str, Any]:
    """``Provenance.agent.who``: the Practitioner when the signer is one, else an
    identifier naming the OS account."""
    if sig.signer_id.startswith("Practitioner/"):
        return {"reference": sig.signer_id, "type": "Practitioner", "display": sig.signer_display}
    if sig.signer_id.startswith("id:"):  # a signed-in clinician's NPI or local identifier
        system, _, value = sig.signer_id.removeprefix("id:").partition("|")
        return {"identifier": {"system": system, "value": value}, "display": sig.signer_display}
    value = sig.signer_id.removeprefix("os-user:")
    return {"identifier": {"system": OS_USER_SYSTEM, "value": value}, "display": sig.signer_display}


def signer_id_of(who: object) -> str | None:
    """The inverse of :func:`signer_reference` (what a verifier compares)."""
    if not isinstance(who, dict):
        return None
    ref = who.get("reference")
    if isinstance(ref, str) and ref.startswith("Practitioner/"):
        return ref
    ident = who.get("identifier")
    if not isinstance(ident, dict):
        return None
    system, value = ident.get("system"), ident.get("value")
    if not isinstance(system, str) or not isinstance(value, str):
        return None
    return f"os-user:{value}" if system == OS_USER_SYSTEM else f"id:{system}|{value}"


def provenance_resource(
    sig: NoteSignature, document_server_id: str, *, target_reference: str | None = None
) -> dict[str, Any]:
    """The Provenance of ``sig`` for the DocumentReference the server holds, validated.

    ``target_reference``: the target as written instead (``urn:uuid:<note id>`` in an
    export Bundle, which also gives the Provenance its local id)."""
    who = signer_reference(sig)
    target = target_reference or f"DocumentReference/{document_server_id}"
    resource: dict[str, Any] = {
        "resourceType": "Provenance",
        "target": [{"reference": target, "type": "DocumentReference"}],
        "recorded": sig.signed_at,
        "agent": [
            {
                "type": {
                    "coding": [
                        {"system": PARTICIPANT_TYPE_SYSTEM, "code": "author", "display": "Author"}
                    ]
                },
                "who": who,
            }
        ],
        "signature": [
            {
                "type": [
                    {
                        "system": SIGNATURE_TYPE_SYSTEM,
                        "code": AUTHOR_SIGNATURE,
                        "display": "Author's Signature",
                    }
                ],
                "when": sig.signed_at,
                "who": who,
                "targetFormat": CONTENT_TYPE,
                "sigFormat": SIG_FORMAT,
                "data": base64.b64encode(sig.jws.encode("ascii")).decode("ascii"),
            }
        ],
    }
    if target_reference is not None:
        resource = {"resourceType": "Provenance", "id": sig.provenance_id} | {
            k: v for k, v in resource.items() if k != "resourceType"
        }
    return export_validated(Provenance, resource, f"the signature of note {sig.note_id}")


#: Largest ``Provenance.signature.data`` taken on import (base64 characters). A note
#: signature (ES256 JWS with its public key in the header) is under 1 KiB.
MAX_SIGNATURE_DATA_CHARS = 16 * 1024
#: Longest signer name kept from an imported Provenance.
MAX_SIGNER_DISPLAY = 200


def signature_from_fhir(
    resource: dict[str, Any], provenance_id: str, note_id: str, appends: str | None
) -> NoteSignature:
    """The note signature an imported Provenance carries (the form
    :func:`provenance_resource` writes), not yet verified: ``content_sha256`` is left
    for the caller, who rebuilds the signed content. ImportRejectedError names the
    element, never a value."""
    sigs = [
        (i, s)
        for i, s in enumerate(resource.get("signature") or [])
        if isinstance(s, dict) and s.get("sigFormat") == SIG_FORMAT
    ]
    if not sigs:
        raise ImportRejectedError(
            reason=f"Provenance carries no note signature (sigFormat {SIG_FORMAT})"
        )
    if len(sigs) > 1:
        raise ImportRejectedError(reason="Provenance carries more than one note signature")
    index, sig_el = sigs[0]
    path = f"Provenance.signature[{index}]"
    data = sig_el.get("data")
    if not isinstance(data, str):
        raise ImportRejectedError(reason=f"{path}.data is missing")
    if len(data) > MAX_SIGNATURE_DATA_CHARS:
        raise ImportRejectedError(
            reason=f"{path}.data is larger than {MAX_SIGNATURE_DATA_CHARS // 1024} KiB"
        )
    try:
        token = base64.b64decode(data, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ImportRejectedError(reason=f"{path}.data is not a base64 JWS") from None
    header = _jws_header(token)
    if header is None:
        raise ImportRejectedError(reason=f"{path}.data has no readable JWS header")
    signer_id = signer_id_of(sig_el.get("who"))
    if signer_id is None:
        raise ImportRejectedError(reason=f"{path}.who names no signer")
    when = sig_el.get("when")
    if not isinstance(when, str):
        raise ImportRejectedError(reason=f"{path}.when is missing")
    who = sig_el["who"]
    display = who.get("display") if isinstance(who.get("display"), str) else ""
    # Shown in the editor: one line, bounded (a file may hold anything here).
    display = " ".join("".join(c for c in display if c.isprintable()).split())
    display = display[:MAX_SIGNER_DISPLAY]
    jwk = header.get("jwk")
    return NoteSignature(
        note_id=note_id,
        provenance_id=provenance_id,
        signer_id=signer_id,
        signer_display=display or signer_id,
        signed_at=when,
        jws=token,
        key_id=str(header.get("kid", "")),
        public_jwk=jwk if isinstance(jwk, dict) else {},
        content_sha256="",
        appends=appends,
    )


# --- push --------------------------------------------------------------------------------


class _Client(Protocol):
    async def transaction(self, bundle: dict[str, Any], *, prefer: str = ...) -> dict[str, Any]: ...

    async def read(self, resource_type: str, resource_id: str) -> dict[str, Any]: ...

    def search(self, resource_type: str, params: dict[str, str]) -> Any: ...


class _Store(Protocol):
    async def transact(self, fn: Any, *args: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class _Waiting:
    item: OutboxItem
    signature: NoteSignature | None
    document_server_id: str | None  # None: the note is not on the server yet
    note_unsent: bool  # the final DocumentReference has not been acknowledged yet


@dataclass
class ProvenancePush:
    sent: int = 0
    acknowledged: int = 0
    waiting: int = 0
    failed: int = 0
    reasons: list[str] | None = None


def _pending(conn: Any) -> list[_Waiting]:
    rows = conn.execute(
        "SELECT seq, entity_type, entity_id, op, revision, attempts FROM outbox "
        "WHERE entity_type = 'provenance' AND failed_revision != revision ORDER BY seq"
    ).fetchall()
    out: list[_Waiting] = []
    for row in rows:
        item = OutboxItem(
            int(row[0]), str(row[1]), str(row[2]), str(row[3]), int(row[4]), int(row[5])
        )
        ref = queue.remote_ref(conn, "note", item.entity_id)
        unsent = conn.execute(
            "SELECT 1 FROM outbox WHERE entity_type = 'note' AND entity_id = ?", (item.entity_id,)
        ).fetchone()
        out.append(
            _Waiting(
                item,
                signatures.get_signature(conn, item.entity_id),
                ref.server_id if ref is not None and ref.server_id else None,
                unsent is not None,
            )
        )
    return out


def _data_of(resource: dict[str, Any]) -> list[str]:
    found: list[str] = []
    sigs = resource.get("signature")
    if isinstance(sigs, list):
        for s in sigs:
            if isinstance(s, dict) and isinstance(s.get("data"), str):
                found.append(s["data"])
    return found


async def find_provenance(
    client: _Client, document_server_id: str, data: str
) -> tuple[str, str] | None:
    """(id, versionId) of the Provenance of that DocumentReference carrying ``data``."""
    params = {"target": f"DocumentReference/{document_server_id}", "_count": "50"}
    async for resource in client.search("Provenance", params):
        if not isinstance(resource, dict) or not isinstance(resource.get("id"), str):
            continue
        if data in _data_of(resource):
            meta = resource.get("meta")
            version = meta.get("versionId") if isinstance(meta, dict) else ""
            return str(resource["id"]), version if isinstance(version, str) else ""
    return None


async def push_provenances(client: _Client, store: _Store) -> ProvenancePush:
    """Send the Provenance of each signed note whose final DocumentReference the server
    acknowledged; exactly once (looked for first, acknowledged only once held)."""
    from storage.fhir.client import entry_result
    from storage.sync.engine import MINIMAL, full_url

    result = ProvenancePush(reasons=[])
    assert result.reasons is not None
    for waiting in await store.transact(_pending):
        item, sig = waiting.item, waiting.signature
        if sig is None or sig.import_problem is not None:
            # The note left the store (retention), or its imported signature does not
            # verify (never published as a valid one): nothing to send.
            await store.transact(_drop, item)
            continue
        if waiting.document_server_id is None or waiting.note_unsent:
            result.waiting += 1
            continue
        resource = provenance_resource(sig, waiting.document_server_id)
        data = resource["signature"][0]["data"]
        found = await find_provenance(client, waiting.document_server_id, data)
        if found is None:
            bundle = {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [
                    {
                        "fullUrl": full_url("Provenance", sig.provenance_id),
                        "resource": resource,
                        "request": {"method": "POST", "url": "Provenance"},
                    }
                ],
            }
            result.sent += 1
            try:
                response = await client.transaction(bundle, prefer=MINIMAL)
            except (SyncRejectedError, SyncConflictError) as exc:
                await store.transact(queue.mark_failed, item, str(exc))
                result.failed += 1
                result.reasons.append(str(exc))
                continue
            entries = response.get("entry") if isinstance(response, dict) else None
            if not isinstance(entries, list) or len(entries) != 1:
                raise SyncProtocolError(reason="transaction response entries do not match")
            written = entry_result(entries[0])
            if not written.id:
                raise SyncProtocolError(reason="the server's response named no stored resource")
            found = (written.id, written.version_id or "")
        await store.transact(
            queue.acknowledge, item, RemoteRef(found[0], found[1], sig.content_sha256)
        )
        result.acknowledged += 1
    return result


def _drop(conn: Any, item: OutboxItem) -> None:
    conn.execute("DELETE FROM outbox WHERE seq = ?", (item.seq,))


# --- verify from the record store ----------------------------------------------------------


async def find_document(client: _Client, note_id: str) -> str | None:
    """The server id of the DocumentReference carrying the note's ``urn:uuid`` identifier."""
    params = {"identifier": f"urn:ietf:rfc:3986|urn:uuid:{note_id}", "_count": "2"}
    async for resource in client.search("DocumentReference", params):
        if isinstance(resource, dict) and isinstance(resource.get("id"), str):
            return str(resource["id"])
    return None


async def verify_from_fhir(
    client: _Client, keys: SigningKeys, document_server_id: str
) -> VerifyResult:
    """Verify a signed note as the record store holds it (another console's view): the
    canonical content is rebuilt from the DocumentReference (its identifier, type and
    text), its subject's and encounter's identifiers and, for an addendum, the note it
    appends to; the signature is the Provenance's."""
    from storage.sync.engine import local_uuid_of, note_text_of

    doc = await client.read("DocumentReference", document_server_id)
    note_id = local_uuid_of(doc) or ""
    fail = VerifyResult(note_id or document_server_id, False, "")

    def failed(reason: str) -> VerifyResult:
        return VerifyResult(fail.note_id, False, reason)

    text = note_text_of(doc)
    if text is None or not note_id:
        return failed("the DocumentReference has no readable text or identifier")
    if doc.get("docStatus") != "final":
        return failed("the DocumentReference is not final")
    try:
        patient = await _identifier_of(client, doc.get("subject"), "Patient")
        context = doc.get("context") if isinstance(doc.get("context"), dict) else {}
        encounters = context.get("encounter") if isinstance(context, dict) else None
        encounter = await _identifier_of(
            client,
            encounters[0] if isinstance(encounters, list) and encounters else None,
            "Encounter",
        )
        appends: str | None = None
        for rel in doc.get("relatesTo") or []:
            if isinstance(rel, dict) and rel.get("code") == "appends":
                appends = await _identifier_of(client, rel.get("target"), "DocumentReference")
    except ConsoleError:
        return failed("a record the note refers to could not be read")
    kind = _document_type(doc)
    has_visit = isinstance(encounters, list) and bool(encounters)
    if patient is None or (has_visit and encounter is None) or kind is None:
        return failed("the DocumentReference lacks its patient, visit or type")
    system, code = kind
    prov = None
    async for resource in client.search(
        "Provenance", {"target": f"DocumentReference/{document_server_id}", "_count": "50"}
    ):
        if isinstance(resource, dict) and _data_of(resource):
            prov = resource
    if prov is None:
        return failed("no signature (Provenance) is on the record store for this note")
    sig_el = prov["signature"][0]
    try:
        token = base64.b64decode(sig_el["data"], validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, KeyError, TypeError, ValueError):
        return failed("the Provenance's signature data is unreadable")
    raw_header = _jws_header(token)
    if raw_header is None:
        return failed("the Provenance's signature data is unreadable")
    signer = raw_header.get("signer") if isinstance(raw_header, dict) else None
    signer_id = signer_id_of(sig_el.get("who"))
    sig = NoteSignature(
        note_id=note_id,
        provenance_id="",
        signer_id=signer_id or "",
        signer_display=str(signer.get("display", "")) if isinstance(signer, dict) else "",
        signed_at=str(raw_header.get("sigT", "")),
        jws=token,
        key_id=str(raw_header.get("kid", "")),
        public_jwk=jwk if isinstance(jwk := raw_header.get("jwk"), dict) else {},
        content_sha256="",
        appends=appends,
    )
    content = SignedContent(note_id, patient, encounter, code, text, appends, system)
    return verify_signature(keys, sig, content)


def _jws_header(token: str) -> dict[str, Any] | None:
    """The protected header of a compact JWS, unverified (verify_signature checks it)."""
    import json

    head = token.split(".", maxsplit=1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, TypeError):
        return None
    return header if isinstance(header, dict) else None


def _document_type(doc: dict[str, Any]) -> tuple[str, str] | None:
    """The signed type: the LOINC coding, else the first coding, else none (a type given
    only as text signs as empty system and code, as the console stores it)."""
    kind = doc.get("type")
    if not isinstance(kind, dict):
        return None
    codings = [c for c in kind.get("coding") or [] if isinstance(c, dict)]
    chosen = next((c for c in codings if c.get("system") == LOINC_SYSTEM), None)
    chosen = chosen or (codings[0] if codings else None)
    if chosen is None:
        return ("", "") if isinstance(kind.get("text"), str) else None
    system, code = chosen.get("system", ""), chosen.get("code", "")
    return (system, code) if isinstance(system, str) and isinstance(code, str) else None


async def _identifier_of(client: _Client, ref: object, resource_type: str) -> str | None:
    from storage.sync.engine import local_uuid_of

    if not isinstance(ref, dict) or not isinstance(ref.get("reference"), str):
        return None
    server_id = local_id_from_reference(ref["reference"], resource_type)
    if not server_id:
        return None
    return local_uuid_of(await client.read(resource_type, server_id))
