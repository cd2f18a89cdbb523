"""One sync pass: push the outbox, then pull changes to records this console holds.

Exactly once: every create is a conditional create (``If-None-Exist`` on the
record's ``urn:uuid`` identifier) inside a transaction Bundle, so a retry after
a crash or a cut connection finds the resource instead of making a second one;
an outbox row is deleted only after the server acknowledged the revision sent.
No silent overwrite: updates carry ``If-Match``; a 409/412, a ``200`` to a
conditional create that finds someone else's content, or a pulled change to a note
with unsent edits, becomes a recorded conflict for the user. A server version is
taken as our own only when it equals what this console sent and has not yet seen
acknowledged (``queue.sent_hashes``).

Every method raises only :class:`~app.errors.ConsoleError` subclasses for what a
server sends: a malformed resource is quarantined (``queue.quarantine``, which
resource and which rule) and the rest carries on.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from app.coding import ChargeDraft, CodedEncounter
from app.errors import (
    ConsoleError,
    InputRejectedError,
    RecordNotFoundError,
    SyncConflictError,
    SyncProtocolError,
    SyncRejectedError,
)
from app.records import Attachment, Encounter, Note, Patient
from storage.sync import queue
from storage.sync.queue import OutboxItem, PendingRecord, RemoteRef

log = logging.getLogger(__name__)

# storage.fhir.mapping.IDENTIFIER_SYSTEM, repeated so that importing the engine (at
# GUI start-up) does not import fhir.resources; test_sync_engine checks they agree.
IDENTIFIER_SYSTEM = "urn:ietf:rfc:3986"
MINIMAL = "return=minimal"
_RESOURCE_TYPE = {
    "patient": "Patient",
    "encounter": "Encounter",
    "note": "DocumentReference",
    "attachment": "Media",
    "charge_item": "ChargeItem",
}
_KIND = {v: k for k, v in _RESOURCE_TYPE.items()}
#: Pulls ask again for changes this far before the checkpoint: a server may commit a
#: change stamped a little earlier than one already seen (clock skew, long transactions).
PULL_OVERLAP = timedelta(minutes=5)
#: Server ids per pull query (``_id=a,b,...``): keeps the URL well under 8 kB.
PULL_IDS_PER_QUERY = 50
_FULL_URL_NS = uuid.UUID("6f1d0c55-3f7e-4a53-9a8e-0c1b2d3e4f50")


def full_url(resource_type: str, local_id: str) -> str:
    """The ``fullUrl`` of a record's entry in a transaction: a ``urn:uuid`` derived from,
    and never equal to, anything stored in a resource. Servers may rewrite every string
    equal to a fullUrl in the Bundle (Medplum does, identifier values included)."""
    return f"urn:uuid:{uuid.uuid5(_FULL_URL_NS, f'{resource_type}/{local_id}')}"


class QuarantinedError(SyncProtocolError):
    """A server resource broke a rule the console relies on; it is set aside, not applied."""

    def __init__(self, label: str, rule: str) -> None:
        super().__init__(reason=f"{label}: {rule}")
        self.label = label
        self.rule = rule


def parse_instant(value: object) -> datetime | None:
    """A FHIR instant as an aware datetime (compared as instants, not as strings)."""
    if not isinstance(value, str) or len(value) < 10 or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def format_instant(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _meta_of(resource: dict[str, Any], label: str) -> tuple[str, datetime]:
    """(versionId, lastUpdated) of a pulled resource; QuarantinedError when unusable."""
    meta = resource.get("meta")
    if not isinstance(meta, dict):
        raise QuarantinedError(label, "meta is missing or not an object")
    version = meta.get("versionId")
    if not isinstance(version, str) or not version:
        raise QuarantinedError(label, "meta.versionId is missing or not a string")
    updated = parse_instant(meta.get("lastUpdated"))
    if updated is None:
        raise QuarantinedError(label, "meta.lastUpdated is not an instant")
    return version, updated


def _reference_id(value: object, resource_type: str) -> str | None:
    from storage.fhir.mapping import local_id_from_reference

    if not isinstance(value, dict) or not isinstance(value.get("reference"), str):
        return None
    try:
        return local_id_from_reference(value["reference"], resource_type)
    except ConsoleError:
        return None


class FhirTransport(Protocol):
    """What the engine needs from storage.fhir.client.FhirClient."""

    async def transaction(self, bundle: dict[str, Any], *, prefer: str = ...) -> dict[str, Any]: ...

    async def batch(self, bundle: dict[str, Any], *, prefer: str = ...) -> dict[str, Any]: ...

    async def read(self, resource_type: str, resource_id: str) -> dict[str, Any]: ...

    def search(self, resource_type: str, params: dict[str, str]) -> Any: ...


class SyncStore(Protocol):
    """The store's hook for sync: run a function on its worker thread, in a transaction."""

    async def transact(self, fn: Callable[..., Any], *args: Any) -> Any: ...

    @property
    def actor(self) -> str: ...


@dataclass
class SyncReport:
    sent: int = 0
    acknowledged: int = 0
    pulled: int = 0
    conflicts: int = 0
    failed: int = 0
    #: Entries the server could not take now (408, 429, 5xx): sent again next pass.
    retry: int = 0
    #: Visits removed from the local cache by the retention policy (all on the server).
    purged: int = 0
    #: Server resources set aside as malformed ("Type/id: rule").
    quarantined: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    #: Notes whose local text a pull replaced: an open editor must reload them.
    updated_note_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "acknowledged": self.acknowledged,
            "pulled": self.pulled,
            "conflicts": self.conflicts,
            "failed": self.failed,
        }


def _acked_ref(entry: Any, record_hash: str) -> RemoteRef:
    from storage.fhir.client import entry_result

    result = entry_result(entry)
    if not result.id:
        raise SyncProtocolError(reason="the server's response named no stored resource")
    return RemoteRef(result.id, result.version_id or "", record_hash)


def _entry_status(entry: Any) -> int:
    from storage.fhir.client import entry_result

    return entry_result(entry).status


def _outcome_summary(entry: Any) -> str:
    from storage.fhir.client import summarize_outcome

    response = entry.get("response") if isinstance(entry, dict) else None
    outcome = response.get("outcome") if isinstance(response, dict) else None
    summary = summarize_outcome(outcome)
    text = (
        f"{summary.issue_code}: {summary.diagnostics}"
        if summary.diagnostics
        else summary.issue_code
    )
    return text[:300]


def note_text_of(resource: dict[str, Any]) -> str | None:
    """The inline UTF-8 text of a DocumentReference, or None when it has none we can read."""
    try:
        attachment = resource["content"][0]["attachment"]
        data = attachment["data"]
        raw = base64.b64decode(data, validate=True)
        return raw.decode("utf-8")
    except (KeyError, IndexError, TypeError, binascii.Error, UnicodeDecodeError, ValueError):
        return None


def local_uuid_of(resource: dict[str, Any]) -> str | None:
    """The local id a resource carries in its ``urn:uuid`` identifier (a valid UUID only)."""
    from storage.fhir.mapping import canonical_uuid

    identifiers = resource.get("identifier")
    if not isinstance(identifiers, list):
        return None
    for ident in identifiers:
        if not isinstance(ident, dict) or ident.get("system") != IDENTIFIER_SYSTEM:
            continue
        value = ident.get("value")
        if isinstance(value, str) and value[:9].lower() == "urn:uuid:":
            return canonical_uuid(value[9:])
    return None


class SyncEngine:
    def __init__(
        self,
        store: SyncStore,
        batch_size: int = 100,
        practitioner: str = "",
        patient_identifier_system: str = "",
        retention_days: int = 0,
    ) -> None:
        self.store = store
        self.batch_size = batch_size
        self.practitioner = practitioner  # "Practitioner/<id>": whose worklist to pull
        #: The MRN system IT configures: a Patient already on the server with the same
        #: MRN is linked instead of duplicated (empty: match by our own identifier only).
        self.patient_identifier_system = patient_identifier_system
        #: Local retention: fully synced visits that started more than this many days
        #: before today leave the local cache after a sync (0: keep everything).
        self.retention_days = retention_days
        self._binary_put: bool | None = None
        # Stills at least this large go as raw Binary (the server answered 413 to one).
        self._raw_binary_from: int | float = float("inf")
        self._deferred: set[int] = set()
        self._set_aside: set[str] = set()
        #: Entries per create transaction: learnt when a server refuses a large one that
        #: it takes in halves (Medplum refuses more than 8 conditional creates in one).
        self._create_limit = batch_size
        self._largest_ok = 0
        #: Whose e-consult Tasks to pull: the signed-in clinician (app.econsult's "me"),
        #: set by the composition root; else ``practitioner``.
        self.econsult_owner: Callable[[], str] | None = None

    async def sync_once(
        self,
        client: FhirTransport,
        progress: Callable[[int, int], Awaitable[None] | None] | None = None,
    ) -> SyncReport:
        report = SyncReport()
        await self._probe(client)
        await self.push(client, report, progress)
        await self.push_signatures(client, report)
        await self.push_annotations(client, report)
        await self.push_audit_events(client)
        await self.pull(client, report)
        if self.practitioner:
            from storage.sync.worklist import pull_worklist

            report.pulled += await pull_worklist(client, self.store, self.practitioner)
        # E-consults after the records they refer to (storage/sync/econsult.py).
        from storage.sync import econsult

        await econsult.push(client, self.store, report)
        owner = self.econsult_owner() if self.econsult_owner is not None else self.practitioner
        await econsult.pull(client, self.store, owner, report)
        if self.retention_days > 0:
            from storage import repository

            today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            cutoff = (today - timedelta(days=self.retention_days)).isoformat()
            report.purged = await self.store.transact(
                repository.purge_synced, self.store.actor, cutoff
            )
        return report

    async def push_signatures(self, client: FhirTransport, report: SyncReport) -> None:
        """Provenances of signed notes, once their final DocumentReference is on the server,
        visit consents and escalations (storage/fhir/provenance.py, consent.py, escalation.py)."""
        from storage.fhir.provenance import push_provenances

        pushed = await push_provenances(client, self.store)
        report.sent += pushed.sent
        report.acknowledged += pushed.acknowledged
        report.failed += pushed.failed
        report.reasons.extend(pushed.reasons or [])
        # Consents recorded at the start of a visit (storage/fhir/consent.py).
        from storage.fhir.consent import push_consents

        consents = await push_consents(client, self.store, report.reasons)
        report.sent += consents.sent
        report.acknowledged += consents.acknowledged
        report.failed += consents.failed
        # Escalations and their on-call outcomes (storage/fhir/escalation.py).
        from storage.fhir.escalation import push_escalations

        escalations = await push_escalations(client, self.store, report.reasons)
        report.sent += escalations.sent
        report.acknowledged += escalations.acknowledged
        report.failed += escalations.failed

    async def push_annotations(self, client: FhirTransport, report: SyncReport) -> None:
        """The latest annotation layer of each annotated still, once the still's Media is
        on the server (storage/sync/annotations.py)."""
        from storage.sync.annotations import push_annotations

        pushed = await push_annotations(client, self.store, report.reasons)
        report.sent += pushed.sent
        report.acknowledged += pushed.acknowledged
        report.failed += pushed.failed
        report.conflicts += pushed.conflicts
        report.retry += pushed.retry

    # --- audit entries as AuditEvents (store helper's hook; logic in storage/fhir/audit_event.py)

    async def push_audit_events(self, client: FhirTransport) -> None:
        """Send new audit log entries as AuditEvents, exactly once (conditional creates).

        After the records, so an event never reaches the server before the change
        it describes; a failure leaves the rest for the next sync.
        """
        from storage.fhir.audit_event import push_audit_events

        pushed = await push_audit_events(client, self.store)
        if pushed.waiting_reason:
            log.info("audit events wait for the next sync: %s", pushed.waiting_reason)

    # --- push ------------------------------------------------------------------------

    async def push(
        self,
        client: FhirTransport,
        report: SyncReport,
        progress: Callable[[int, int], Awaitable[None] | None] | None = None,
    ) -> None:
        def prepare(conn: Any) -> None:
            queue.drop_demo_rows(conn)
            queue.queue_appointment_encounters(conn)

        await self.store.transact(prepare)
        total = (await self.store.transact(queue.waiting))["waiting"]
        # Entries the server asked to retry later (408, 429, 5xx) wait for the next pass,
        # which the background loop schedules with backoff: not hammered in this one.
        self._deferred = set()
        # Rows edited while in flight stay queued; bound the rounds so a clinician
        # typing during a sync cannot keep it going forever.
        for _round in range(total // self.batch_size + 3):
            batch: list[PendingRecord] = await self.store.transact(
                queue.pending, self.batch_size + len(self._deferred)
            )
            batch = [p for p in batch if p.item.seq not in self._deferred][: self.batch_size]
            if not batch:
                return
            # Attachments go after the records they refer to, one Bundle each (they
            # are large, and never updated: a resend is idempotent, see _send_attachment).
            attachments = [p for p in batch if isinstance(p.record, Attachment)]
            records = [p for p in batch if not isinstance(p.record, Attachment)]
            creates = [p for p in records if p.remote is None]
            updates = [p for p in records if p.remote is not None]
            if creates and self.patient_identifier_system:
                creates = await self._match_patients(client, creates, report)
            for start in range(0, len(creates), self._create_limit):
                await self._send_creates(
                    client, creates[start : start + self._create_limit], report
                )
            if updates:
                await self._send_updates(client, updates, report)
            sent_any = bool(records)
            for p in attachments:
                sent_any = await self._send_attachment(client, p, report) or sent_any
            if not sent_any:
                return  # only attachments whose encounter is not on the server yet
            if progress is not None:
                maybe = progress(report.acknowledged, total)
                if maybe is not None:
                    await maybe

    async def _match_patients(
        self, client: FhirTransport, creates: list[PendingRecord], report: SyncReport
    ) -> list[PendingRecord]:
        """Link a new local patient to the server's Patient with the same MRN (one match),
        hold it for a decision (several), or let it be created (none)."""
        rest: list[PendingRecord] = []
        for p in creates:
            record = p.record
            if not isinstance(record, Patient) or not record.mrn:
                rest.append(p)
                continue
            found: list[dict[str, Any]] = []
            params = {"identifier": f"{self.patient_identifier_system}|{record.mrn}"}
            async for resource in client.search("Patient", {**params, "_count": "2"}):
                if isinstance(resource, dict) and resource.get("resourceType") == "Patient":
                    found.append(resource)
                if len(found) > 1:
                    break
            if not found:
                rest.append(p)
                continue
            if len(found) > 1:
                reason = "several patients on the record store have this MRN"
                await self.store.transact(queue.needs_decision, p.item, reason)
                report.failed += 1
                report.reasons.append(reason)
                continue
            server_id = found[0].get("id")
            meta = found[0].get("meta")
            version = meta.get("versionId") if isinstance(meta, dict) else None
            if not isinstance(server_id, str) or not server_id:
                raise SyncProtocolError(reason="a matching Patient has no id")
            ref = RemoteRef(server_id, version if isinstance(version, str) else "", "")
            await self._acknowledge([(p.item, ref)], report)
        return rest

    async def _reference_formatter(self, items: list[PendingRecord]) -> Callable[[str, str], str]:
        in_bundle = {(_RESOURCE_TYPE[p.item.entity_type], p.item.entity_id) for p in items}
        needed: set[tuple[str, str]] = set()
        for p in items:
            if isinstance(p.record, Encounter):
                needed.add(("patient", p.record.patient_id))
            elif isinstance(p.record, Note | ChargeDraft):
                needed.add(("patient", p.patient_id))
                if p.record.encounter_id is not None:  # None: a document without a visit
                    needed.add(("encounter", p.record.encounter_id))
                if p.appends:
                    needed.add(("note", p.appends))

        def lookup(conn: Any) -> dict[tuple[str, str], str]:
            found: dict[tuple[str, str], str] = {}
            for kind, local_id in needed:
                ref = queue.remote_ref(conn, kind, local_id)
                if ref is not None:
                    found[(_RESOURCE_TYPE[kind], local_id)] = ref.server_id
            return found

        known: dict[tuple[str, str], str] = await self.store.transact(lookup)

        def fmt(resource_type: str, local_id: str) -> str:
            if (resource_type, local_id) in in_bundle:
                return full_url(resource_type, local_id)
            if (resource_type, local_id) in known:
                return f"{resource_type}/{known[(resource_type, local_id)]}"
            # Not on the server and not in this Bundle: pending() sends what a record
            # refers to first, so this is a record that was refused; the server says so.
            return full_url(resource_type, local_id)

        return fmt

    def _resource(self, p: PendingRecord, fmt: Callable[[str, str], str]) -> dict[str, Any]:
        from storage.fhir import mapping

        record = p.record
        resource: dict[str, Any]
        if isinstance(record, Patient):
            resource = mapping.patient_to_fhir(record, self.patient_identifier_system)
        elif isinstance(record, Encounter):
            resource = mapping.encounter_to_fhir(record, references=fmt)
            if isinstance(record, CodedEncounter) and record.charge is not None:
                from storage.fhir.charge_item import add_encounter_coding

                add_encounter_coding(resource, record.charge)
            if p.visit is not None:  # what the start and end of the visit recorded
                from storage.fhir.consent import decorate_encounter

                decorate_encounter(resource, p.visit)
        elif isinstance(record, ChargeDraft):
            from storage.fhir.charge_item import charge_item_to_fhir

            resource = charge_item_to_fhir(record, p.patient_id, references=fmt)
        else:
            assert isinstance(record, Note)  # attachments go through _send_attachment
            resource = mapping.note_to_document_reference(record, p.patient_id, references=fmt)
            if p.appends:  # a signed addendum (app/notes_signing.py)
                resource["relatesTo"] = [
                    {
                        "code": "appends",
                        "target": {
                            "reference": fmt("DocumentReference", p.appends),
                            "type": "DocumentReference",
                        },
                    }
                ]
        resource.pop("meta", None)
        return resource

    async def _note_sent(self, items: list[PendingRecord]) -> dict[int, list[str]]:
        """Remember what goes out BEFORE it goes (a crash after sending must still know);
        returns, per outbox seq, what had been sent before this attempt."""

        def apply(conn: Any) -> dict[int, list[str]]:
            prior: dict[int, list[str]] = {}
            for p in items:
                kind, local_id = p.item.entity_type, p.item.entity_id
                prior[p.item.seq] = queue.sent_hashes(conn, kind, local_id)
                queue.note_sent(conn, kind, local_id, queue.sent_marker(p.item, p.record))
            return prior

        result: dict[int, list[str]] = await self.store.transact(apply)
        return result

    async def _note_coded_writes(
        self, items: list[PendingRecord], resources: list[dict[str, Any]]
    ) -> None:
        """What each coded Encounter or ChargeItem update says, remembered before it goes:
        after a lost acknowledgement and a newer local change, the server's copy is still
        recognised as our own write (not someone else's change)."""
        from storage.fhir.charge_item import write_marker

        coded = [
            (p, write_marker(r))
            for p, r in zip(items, resources, strict=True)
            if isinstance(p.record, Encounter | ChargeDraft)
        ]
        if not coded:
            return

        def apply(conn: Any) -> None:
            for p, marker in coded:
                queue.note_sent(conn, p.item.entity_type, p.item.entity_id, marker)

        await self.store.transact(apply)

    async def _send_creates(
        self, client: FhirTransport, items: list[PendingRecord], report: SyncReport
    ) -> None:
        fmt = await self._reference_formatter(items)
        entries = []
        for p in items:
            resource = self._resource(p, fmt)
            resource.pop("id", None)
            rtype = resource["resourceType"]
            entries.append(
                {
                    # Never the identifier value: a server may rewrite it (see full_url).
                    "fullUrl": full_url(rtype, p.item.entity_id),
                    "resource": resource,
                    "request": {
                        "method": "POST",
                        "url": rtype,
                        "ifNoneExist": f"identifier={IDENTIFIER_SYSTEM}|urn:uuid:"
                        f"{p.item.entity_id}",
                    },
                }
            )
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
        prior = await self._note_sent(items)
        report.sent += len(items)
        try:
            # Only ids and versions are needed back: 70 MB -> 0.2 MB per 1,000 notes.
            response = await client.transaction(bundle, prefer=MINIMAL)
        except (SyncRejectedError, SyncConflictError) as exc:
            # One bad entry fails the whole transaction: split to find it, so the
            # good records still go and the bad one is named in the status.
            if len(items) == 1:
                await self._refused(items[0], str(exc), report)
                return
            report.sent -= len(items)
            failed_before = report.failed
            half = len(items) // 2
            await self._send_creates(client, items[:half], report)
            if report.failed == failed_before and self._largest_ok:
                # The first half went through in smaller Bundles: the size was refused
                # (Medplum takes at most 8 conditional creates per transaction), so the
                # rest goes at the size that worked instead of being halved again.
                self._create_limit = min(self._create_limit, self._largest_ok)
            # Re-read: the first half's acknowledgements change how the rest refer to it.
            rest = await self._refresh(items[half:])
            for start in range(0, len(rest), self._create_limit):
                await self._send_creates(client, rest[start : start + self._create_limit], report)
            return
        self._largest_ok = max(self._largest_ok, len(items))
        results = response.get("entry") if isinstance(response, dict) else None
        if not isinstance(results, list) or len(results) != len(items):
            raise SyncProtocolError(reason="transaction response entries do not match the request")
        acks: list[tuple[OutboxItem, RemoteRef]] = []
        for p, entry in zip(items, results, strict=True):
            status = _entry_status(entry)
            ref = _acked_ref(entry, queue.record_hash(p.record))
            if status == 200:
                # "Already there" (FHIR conditional create): ours, or someone else's?
                try:
                    await self._already_there(
                        client, p, ref, entry, prior[p.item.seq], acks, report
                    )
                except QuarantinedError as exc:
                    # The server's copy cannot be compared: hold this record (the user
                    # sees why and can Retry), send the others.
                    await self._refused(p, f"the server's copy is unusable ({exc.rule})", report)
            else:
                acks.append((p.item, ref))
        if acks:
            await self._acknowledge(acks, report)

    async def _refused(self, p: PendingRecord, reason: str, report: SyncReport) -> None:
        await self.store.transact(queue.mark_failed, p.item, reason)
        report.failed += 1
        report.reasons.append(reason)

    async def _already_there(
        self,
        client: FhirTransport,
        p: PendingRecord,
        ref: RemoteRef,
        entry: Any,
        prior: list[str],
        acks: list[tuple[OutboxItem, RemoteRef]],
        report: SyncReport,
    ) -> None:
        """A conditional create answered 200: the resource exists. Compare before dropping
        the outbox row: the server may hold an older write of ours (acknowledgement lost,
        then edited here) or a colleague's version (a record imported from a Bundle)."""
        kind, local_id = p.item.entity_type, p.item.entity_id
        if not isinstance(p.record, Note):
            # What was noted as sent may never have arrived (the link or the process died
            # between noting it and sending it): only the server's copy says whether this
            # revision is there. A copy that does not hold everything we send stays
            # queued as an update against the server's version (one more PUT at worst,
            # never a lost edit).
            rtype = _RESOURCE_TYPE[kind]
            server_copy = await client.read(rtype, ref.server_id)
            version, _updated = _meta_of(server_copy, f"{rtype}/{ref.server_id}")
            fmt = await self._reference_formatter([p])
            ours = self._resource(p, fmt)
            ours.pop("id", None)
            if _holds(server_copy, ours):
                acks.append((p.item, RemoteRef(ref.server_id, version, "")))
                return
            await self.store.transact(
                queue.adopt_remote, kind, local_id, RemoteRef(ref.server_id, version, "")
            )
            return
        current = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(current, dict) or note_text_of(current) is None:
            current = await client.read("DocumentReference", ref.server_id)
        label = f"DocumentReference/{ref.server_id}"
        version, _updated = _meta_of(current, label)
        server_text = note_text_of(current)
        if server_text is None:
            raise QuarantinedError(label, "content[0].attachment.data is not UTF-8 text")
        server_hash = queue.document_hash(current, server_text)
        if server_hash == queue.record_hash(p.record):
            acks.append((p.item, RemoteRef(ref.server_id, version, server_hash)))
            return
        # Our own earlier write (a draft, or this note as signed): safe to write over. A
        # server copy that is final and not ours is never written over (a conflict).
        if server_hash in prior or queue.text_hash(server_text) in prior:
            # Our own earlier write: the edit made since goes up as an update (If-Match).
            await self.store.transact(
                queue.adopt_remote, kind, local_id, RemoteRef(ref.server_id, version, server_hash)
            )
            return
        await self._conflict(p, ref.server_id, version, server_text, report)

    async def _conflict(
        self, p: PendingRecord, server_id: str, version: str, server_text: str, report: SyncReport
    ) -> None:
        def apply(conn: Any) -> bool:
            queue.set_remote_ref(
                conn,
                "note",
                p.item.entity_id,
                RemoteRef(server_id, version, queue.text_hash(server_text)),
            )
            return queue.record_conflict(
                conn, self.store.actor, "note", p.item.entity_id, version, server_text
            )

        if await self.store.transact(apply):
            report.conflicts += 1

    async def _binary_put_supported(self, client: FhirTransport) -> bool:
        """Whether Binary can be written to an id the console chose (update-as-create)."""
        if self._binary_put is None:
            await self._probe(client)
        return self._binary_put is not False

    async def _probe(self, client: FhirTransport) -> None:
        """Read the CapabilityStatement: what the server can do, and, once per pass, that it
        answers at all (a pass with nothing to send or pull would otherwise say "online"
        without asking). An unreachable server raises SyncRetryableError here."""
        capabilities = getattr(client, "capabilities", None)
        if capabilities is None:
            return
        try:
            caps = await capabilities()
        except SyncProtocolError:
            return  # no usable statement: try update-as-create, as most servers allow
        binary = caps.resources.get("Binary")
        self._binary_put = not (binary is not None and binary.update_create is False)

    async def _send_attachment(
        self, client: FhirTransport, p: PendingRecord, report: SyncReport
    ) -> bool:
        """One attachment as a transaction: ``PUT Binary/<fixed id>`` (update-as-create:
        Binary has no identifier to create it conditionally by), then conditional
        creates of its Media and heart-rate Observation. Resending the same Bundle
        after a crash or a lost acknowledgement rewrites the same Binary and finds
        the Media and Observation, so nothing is duplicated.

        On a server without update-as-create (Medplum), the Binary is a plain create
        in the same transaction, and the Media is looked for first: a resend after a
        lost acknowledgement finds it and sends nothing.

        Returns False when it was not sent because its patient or encounter is not
        on the server yet (it stays queued).
        """
        att = p.record
        assert isinstance(att, Attachment)
        wanted = (("patient", p.patient_id), ("encounter", att.encounter_id))

        def lookup(conn: Any) -> dict[str, str]:
            found: dict[str, str] = {}
            for kind, local_id in wanted:
                ref = queue.remote_ref(conn, kind, local_id)
                if ref is not None:
                    found[kind] = ref.server_id
            return found

        known: dict[str, str] = await self.store.transact(lookup)
        if len(known) < len(wanted):
            await self.store.transact(
                queue.note_attempt, [p.item], "waiting for its encounter to reach the server"
            )
            return False
        from storage import repository

        try:
            data: bytes = await self.store.transact(repository.attachment_data, att.id)
        except ConsoleError:
            return False  # deleted since it was queued (its outbox row went with it)
        server_ids = {"Patient": known["patient"], "Encounter": known["encounter"]}
        binary_put = await self._binary_put_supported(client)
        if not binary_put:
            existing = await self._find_by_identifier(client, "Media", att.id)
            if existing is not None:
                await self._acknowledge(
                    [(p.item, RemoteRef(existing[0], existing[1], queue.record_hash(att)))],
                    report,
                )
                return True

        from storage.sync import raw_binary

        # A Binary uploaded raw in an earlier attempt (after a 413) is reused, never resent.
        raw_id = await raw_binary.recorded(self.store, att)
        raw_client = raw_binary.raw_client(client)
        if raw_id is None and raw_client is not None and len(data) >= self._raw_binary_from:
            raw_id = await raw_binary.upload(raw_client, self.store, att, data, known["patient"])

        def fmt(resource_type: str, local_id: str) -> str:
            if resource_type == "Binary":
                if raw_id is not None:
                    return f"Binary/{raw_id}"
                # Attachment.url is a url, not a Reference: servers need not rewrite a
                # urn:uuid there (SEKMET does not), so it names the fixed id directly;
                # without update-as-create it is the Binary's fullUrl (rewritten).
                return f"Binary/{local_id}" if binary_put else full_url("Binary", local_id)
            if resource_type == "Media":
                return full_url("Media", local_id)
            return f"{resource_type}/{server_ids[resource_type]}"

        # base64 and model checks of up to 50 MB: off the event loop.
        bundle = await asyncio.get_running_loop().run_in_executor(
            None, _attachment_bundle, att, data, p.patient_id, fmt, binary_put, raw_id is not None
        )
        report.sent += 1
        try:
            response = await client.transaction(bundle, prefer=MINIMAL)
        except SyncRejectedError as exc:
            if exc.params.get("status") != 413 or raw_id is not None or raw_client is None:
                await self._refused(p, str(exc), report)
                return True
            # The server refuses a JSON body this large (Medplum: 1 MB): the bytes go
            # raw from now on for stills this size, the Media follows next attempt.
            self._raw_binary_from = min(self._raw_binary_from, len(data))
            await raw_binary.upload(raw_client, self.store, att, data, known["patient"])
            report.sent -= 1
            return await self._send_attachment(client, p, report)  # now without the Binary
        except SyncConflictError as exc:
            await self._refused(p, str(exc), report)
            return True
        results = response.get("entry") if isinstance(response, dict) else None
        if not isinstance(results, list) or len(results) != len(bundle["entry"]):
            raise SyncProtocolError(reason="transaction response entries do not match the request")
        if raw_id is not None:  # no Binary entry: it was uploaded on its own
            results = [None, *results]
        binary_ref = (
            RemoteRef(raw_id, "", raw_binary.RAW_PREFIX + att.sha256)
            if raw_id is not None
            else _acked_ref(results[0], "")
        )
        media_ref = _acked_ref(results[1], queue.record_hash(att))
        observation_ref = _acked_ref(results[2], "") if len(results) > 2 else None

        def apply(conn: Any) -> None:
            queue.acknowledge(conn, p.item, media_ref)
            queue.set_remote_ref(conn, "attachment_binary", att.id, binary_ref)
            if observation_ref is not None:
                queue.set_remote_ref(conn, "observation", att.observation_id, observation_ref)

        await self.store.transact(apply)
        report.acknowledged += 1
        return True

    async def _find_by_identifier(
        self, client: FhirTransport, resource_type: str, local_id: str
    ) -> tuple[str, str] | None:
        params = {"identifier": f"{IDENTIFIER_SYSTEM}|urn:uuid:{local_id}", "_count": "2"}
        async for resource in client.search(resource_type, params):
            if isinstance(resource, dict) and isinstance(resource.get("id"), str):
                meta = resource.get("meta")
                version = meta.get("versionId") if isinstance(meta, dict) else ""
                return str(resource["id"]), version if isinstance(version, str) else ""
        return None

    async def _refresh(self, items: list[PendingRecord]) -> list[PendingRecord]:
        wanted = {p.item.seq for p in items}
        current: list[PendingRecord] = await self.store.transact(queue.pending, 10_000)
        return [p for p in current if p.item.seq in wanted and p.remote is None]

    async def _acknowledge(
        self, acks: list[tuple[OutboxItem, RemoteRef]], report: SyncReport
    ) -> None:
        def apply(conn: Any) -> None:
            for item, ref in acks:
                queue.acknowledge(conn, item, ref)

        await self.store.transact(apply)
        report.acknowledged += len(acks)

    async def _send_updates(
        self, client: FhirTransport, items: list[PendingRecord], report: SyncReport
    ) -> None:
        fmt = await self._reference_formatter(items)
        entries = []
        for p in items:
            assert p.remote is not None
            resource = self._resource(p, fmt)
            resource["id"] = p.remote.server_id
            request: dict[str, str] = {
                "method": "PUT",
                "url": f"{resource['resourceType']}/{p.remote.server_id}",
            }
            if p.remote.version_id:
                request["ifMatch"] = f'W/"{p.remote.version_id}"'
            entries.append({"resource": resource, "request": request})
        await self._note_sent(items)
        await self._note_coded_writes(items, [e["resource"] for e in entries])
        # A batch, not a transaction: one conflicting note must not hold back the others.
        report.sent += len(items)
        try:
            response = await client.batch(
                {"resourceType": "Bundle", "type": "batch", "entry": entries}, prefer=MINIMAL
            )
        except (SyncRejectedError, SyncConflictError) as exc:
            # The server refused the whole batch (one entry it could not even parse):
            # split to find that entry, let the others go.
            if len(items) == 1:
                await self._refused(items[0], str(exc), report)
                return
            report.sent -= len(items)
            half = len(items) // 2
            await self._send_updates(client, items[:half], report)
            await self._send_updates(client, items[half:], report)
            return
        results = response.get("entry") if isinstance(response, dict) else None
        if not isinstance(results, list) or len(results) != len(items):
            raise SyncProtocolError(reason="batch response entries do not match the request")
        acks: list[tuple[OutboxItem, RemoteRef]] = []
        retry: list[OutboxItem] = []
        for p, entry in zip(items, results, strict=True):
            status = _entry_status(entry)
            if 200 <= status < 300:
                acks.append((p.item, _acked_ref(entry, queue.record_hash(p.record))))
            elif status in (409, 412):  # both mean "not the version you think" (DESIGN §4)
                try:
                    await self._on_conflict(client, p, acks, report)
                except QuarantinedError as exc:
                    await self._refused(p, f"the server's copy is unusable ({exc.rule})", report)
            elif status in (408, 429) or status >= 500:
                # This entry, not the record, had a problem: it goes again next pass.
                retry.append(p.item)
                report.retry += 1
                report.reasons.append(_outcome_summary(entry) or f"HTTP {status}")
            elif 400 <= status < 500:
                await self._refused(p, _outcome_summary(entry), report)
            else:
                retry.append(p.item)
                report.retry += 1
        if retry:
            self._deferred.update(item.seq for item in retry)
            await self.store.transact(queue.note_attempt, retry, "the server asked to retry later")
        if acks:
            await self._acknowledge(acks, report)

    async def _on_conflict(
        self,
        client: FhirTransport,
        p: PendingRecord,
        acks: list[tuple[OutboxItem, RemoteRef]],
        report: SyncReport,
    ) -> None:
        assert p.remote is not None
        rtype = _RESOURCE_TYPE[p.item.entity_type]
        current = await client.read(rtype, p.remote.server_id)
        version, _updated = _meta_of(current, f"{rtype}/{p.remote.server_id}")
        if isinstance(p.record, Note):
            server_text = note_text_of(current)
            server_hash = (
                queue.document_hash(current, server_text) if server_text is not None else None
            )
            if server_hash == queue.record_hash(p.record):
                # Our own earlier write (its acknowledgement was lost in a crash or cut).
                acks.append((p.item, RemoteRef(p.remote.server_id, version, server_hash or "")))
                return
            own = server_text is not None and await self.store.transact(
                queue.is_own_text, p.item.entity_id, server_text
            )
            if own:
                # What we sent earlier and never saw acknowledged, edited again here:
                # nobody else changed it, so this is no conflict. The row stays queued
                # and goes up next round against the right version.
                assert server_text is not None
                await self.store.transact(
                    queue.adopt_server_version,
                    "note",
                    p.item.entity_id,
                    p.remote.server_id,
                    version,
                    server_text,
                )
                return
            await self._conflict(p, p.remote.server_id, version, server_text or "", report)
            return
        if isinstance(p.record, Encounter | ChargeDraft):
            # A coded Encounter or a ChargeItem draft: the server may hold our own write
            # whose acknowledgement was lost (storage/fhir/charge_item.py).
            from storage.fhir.charge_item import same_write

            fmt = await self._reference_formatter([p])
            if same_write(current, self._resource(p, fmt)):
                acks.append((p.item, RemoteRef(p.remote.server_id, version, "")))
                return
            from storage.fhir.charge_item import write_marker

            sent = await self.store.transact(
                queue.sent_hashes, p.item.entity_type, p.item.entity_id
            )
            if write_marker(current) in sent:
                # An earlier write of ours whose acknowledgement was lost, changed again
                # here since: no conflict. The row stays queued and goes up next round
                # against the server's version.
                server_id = p.remote.server_id
                await self.store.transact(
                    queue.set_remote_ref,
                    p.item.entity_type,
                    p.item.entity_id,
                    RemoteRef(server_id, version, p.remote.content_hash),
                )
                return
        reason = "changed on the server by someone else"
        await self._refused(p, reason, report)

    # --- pull ------------------------------------------------------------------------

    async def pull(self, client: FhirTransport, report: SyncReport) -> None:
        """Changes to the records this console holds (minimum necessary: asked for by
        server id, never "everything that changed"), notes first."""
        for resource_type in ("DocumentReference", "Patient", "Encounter"):
            await self._pull_type(client, report, resource_type)

    async def _pull_type(
        self, client: FhirTransport, report: SyncReport, resource_type: str
    ) -> None:
        kind = _KIND[resource_type]
        saved = parse_instant(await self.store.transact(queue.get_checkpoint, resource_type))
        held: list[str] = await self.store.transact(queue.held_server_ids, kind)
        if not held:
            return
        # First pull: changes from a little before this console first synced.
        since = saved or (datetime.now(UTC) - timedelta(days=1))
        ask_from = format_instant(since - PULL_OVERLAP)
        newest = since
        self._set_aside = {label for label, _rule in await self.store.transact(queue.quarantined)}
        for start in range(0, len(held), PULL_IDS_PER_QUERY):
            params = {
                "_id": ",".join(held[start : start + PULL_IDS_PER_QUERY]),
                "_lastUpdated": f"ge{ask_from}",
                "_sort": "_lastUpdated",
                "_count": "100",
            }
            async for resource in client.search(resource_type, params):
                updated = await self._pull_one(resource_type, resource, report)
                if updated is not None and updated > newest:
                    newest = updated
        # Only now, with every change of this pass applied (or quarantined): a local
        # error above (store locked, disk full) leaves the checkpoint where it was.
        if saved is None or newest > saved:
            await self.store.transact(queue.set_checkpoint, resource_type, format_instant(newest))

    async def _pull_one(
        self, resource_type: str, resource: Any, report: SyncReport
    ) -> datetime | None:
        """Apply one pulled resource; its lastUpdated, or None when it was set aside."""
        label = resource_type
        try:
            if not isinstance(resource, dict):
                raise QuarantinedError(label, "a search entry is not a resource")
            rid = resource.get("id")
            if not isinstance(rid, str) or not rid:
                raise QuarantinedError(label, "id is missing")
            label = f"{resource_type}/{rid[:64]}"
            if resource.get("resourceType") != resource_type:
                raise QuarantinedError(label, "resourceType is not the one searched for")
            version, updated = _meta_of(resource, label)
            if resource_type == "DocumentReference":
                result, note_id = await self._apply_pulled(resource, rid, version, label)
                report.pulled += result == "updated"
                report.conflicts += result == "conflict"
                if result == "updated" and note_id:
                    report.updated_note_ids.append(note_id)
            else:
                report.pulled += await self.store.transact(
                    _apply_details, self.store.actor, resource, rid, version, label
                )
            if label in self._set_aside:  # fixed on the server since: no longer set aside
                await self.store.transact(queue.unquarantine, label)
            return updated
        except QuarantinedError as exc:
            await self._quarantine(exc.label, exc.rule, report)
        except (InputRejectedError, SyncProtocolError) as exc:
            await self._quarantine(label, type(exc).__name__, report)
        except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
            # Malformed server data reaching code that trusted its shape: set it aside.
            await self._quarantine(label, f"unexpected structure ({type(exc).__name__})", report)
        return None

    async def _quarantine(self, label: str, rule: str, report: SyncReport) -> None:
        log.warning("a pulled resource was quarantined: %s", rule)
        await self.store.transact(queue.quarantine, label, rule)
        report.quarantined.append(f"{label}: {rule}")

    async def _apply_pulled(
        self, resource: dict[str, Any], server_id: str, version: str, label: str
    ) -> tuple[str, str | None]:
        """What a pulled DocumentReference did here, and to which local note. Bound by
        server id (never by identifier alone), and only when its subject (and encounter)
        are the ones this console holds for that note."""
        text = note_text_of(resource)
        if text is None:
            raise QuarantinedError(label, "content[0].attachment.data is not UTF-8 text")
        subject = _reference_id(resource.get("subject"), "Patient")
        context = resource.get("context")
        encounters = context.get("encounter") if isinstance(context, dict) else None
        encounter = (
            _reference_id(encounters[0], "Encounter")
            if isinstance(encounters, list) and encounters
            else None
        )
        actor = self.store.actor

        def apply(conn: Any) -> tuple[str, str | None]:
            from storage import repository

            note_id = queue.local_id_for_server(conn, "note", server_id)
            if note_id is None:
                return "skipped", None
            try:
                note = repository.get_note(conn, note_id)
            except RecordNotFoundError:
                return "skipped", None  # not a record this console holds
            patient_ref = queue.remote_ref(conn, "patient", note.patient_id)
            encounter_ref = (
                queue.remote_ref(conn, "encounter", note.encounter_id)
                if note.encounter_id is not None
                else None
            )
            if patient_ref is None or subject != patient_ref.server_id:
                raise QuarantinedError(label, "subject is not the patient this note belongs to")
            # A document without a visit stays one: a server that files it under a visit
            # has changed what it is, which the clinician must see, not sync.
            if encounter is not None and (
                encounter_ref is None or encounter != encounter_ref.server_id
            ):
                raise QuarantinedError(label, "context.encounter is not this note's visit")
            final = resource.get("docStatus") == "final"
            result = queue.apply_pulled_note(
                conn, actor, note_id, server_id, version, text, final=final
            )
            return result, note_id

        result: tuple[str, str | None] = await self.store.transact(apply)
        return result


def _holds(server: object, ours: object) -> bool:
    """Whether the server's copy says everything ours does (it may say more: meta, text,
    elements the server adds). Any difference, a normalised one included, is "no"."""
    if isinstance(ours, dict):
        return isinstance(server, dict) and all(
            key in server and _holds(server[key], value) for key, value in ours.items()
        )
    if isinstance(ours, list):
        return (
            isinstance(server, list)
            and len(server) == len(ours)
            and all(_holds(a, b) for a, b in zip(server, ours, strict=True))
        )
    return bool(server == ours)


def _attachment_bundle(
    att: Attachment,
    data: bytes,
    patient_id: str,
    fmt: Callable[[str, str], str],
    binary_put: bool = True,
    binary_uploaded: bool = False,
) -> dict[str, Any]:
    """The attachment's transaction; without its Binary when that was uploaded raw."""
    from storage.fhir import media_mapping

    made = media_mapping.attachment_resources(att, data, patient_id, references=fmt)
    binary = made.binary
    first: dict[str, Any] | None
    if binary_uploaded:
        first = None
    elif binary_put:
        first = {
            "resource": binary,
            "request": {"method": "PUT", "url": f"Binary/{binary['id']}"},
        }
    else:
        binary_id = binary.pop("id")
        first = {
            "fullUrl": full_url("Binary", binary_id),
            "resource": binary,
            "request": {"method": "POST", "url": "Binary"},
        }
    entries: list[dict[str, Any]] = [first] if first is not None else []
    for local_id, resource in ((att.id, made.media), (att.observation_id, made.observation)):
        if resource is None:
            continue
        resource.pop("id", None)
        rtype = resource["resourceType"]
        entries.append(
            {
                "fullUrl": full_url(rtype, local_id),
                "resource": resource,
                "request": {
                    "method": "POST",
                    "url": rtype,
                    "ifNoneExist": f"identifier={IDENTIFIER_SYSTEM}|urn:uuid:{local_id}",
                },
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _apply_details(
    conn: Any, actor: str, resource: dict[str, Any], server_id: str, version: str, label: str
) -> int:
    """A Patient or Encounter this console holds (bound by server id), changed on the server."""
    from storage import repository
    from storage.fhir import mapping

    kind = "patient" if resource["resourceType"] == "Patient" else "encounter"
    local = queue.local_id_for_server(conn, kind, server_id)
    if not local:
        return 0
    ref = queue.remote_ref(conn, kind, local)
    if ref is None or ref.version_id == version:
        return 0  # not held, or unchanged (already applied, or our own write)
    unsent = conn.execute(
        "SELECT 1 FROM outbox WHERE entity_type = ? AND entity_id = ?", (kind, local)
    ).fetchone()
    if unsent is not None:
        return 0
    record: Patient | Encounter
    if kind == "patient":
        repository.get_patient(conn, local)
        record = mapping.patient_from_fhir(resource, local_id=local)
    else:
        held = repository.get_encounter(conn, local)
        patient_ref = queue.remote_ref(conn, "patient", held.patient_id)
        subject = _reference_id(resource.get("subject"), "Patient")
        if patient_ref is None or subject != patient_ref.server_id:
            raise QuarantinedError(label, "subject is not the patient this visit belongs to")
        record = mapping.encounter_from_fhir(resource, patient_id=held.patient_id, local_id=local)
    repository.update_from_server(conn, actor, record)
    queue.set_remote_ref(conn, kind, local, RemoteRef(server_id, version, ""))
    return 1
