"""One sync pass: push the outbox, then pull changes to records this console holds.

Exactly once: every create is a conditional create (``If-None-Exist`` on the
record's ``urn:uuid`` identifier) inside a transaction Bundle, so a retry after
a crash or a cut connection finds the resource instead of making a second one;
an outbox row is deleted only after the server acknowledged the revision sent.
No silent overwrite: updates carry ``If-Match``; a 409/412, or a pulled change
to a note with unsent edits, becomes a recorded conflict for the user.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from app.errors import ConsoleError, SyncConflictError, SyncProtocolError, SyncRejectedError
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
}


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
    def __init__(self, store: SyncStore, batch_size: int = 100, practitioner: str = "") -> None:
        self.store = store
        self.batch_size = batch_size
        self.practitioner = practitioner  # "Practitioner/<id>": whose worklist to pull

    async def sync_once(
        self,
        client: FhirTransport,
        progress: Callable[[int, int], Awaitable[None] | None] | None = None,
    ) -> SyncReport:
        report = SyncReport()
        await self.push(client, report, progress)
        await self.push_audit_events(client)
        await self.pull(client, report)
        if self.practitioner:
            from storage.sync.worklist import pull_worklist

            report.pulled += await pull_worklist(client, self.store, self.practitioner)
        return report

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
        total = (await self.store.transact(queue.waiting))["waiting"]
        # Rows edited while in flight stay queued; bound the rounds so a clinician
        # typing during a sync cannot keep it going forever.
        for _round in range(total // self.batch_size + 3):
            batch: list[PendingRecord] = await self.store.transact(queue.pending, self.batch_size)
            if not batch:
                return
            # Attachments go after the records they refer to, one Bundle each (they
            # are large, and never updated: a resend is idempotent, see _send_attachment).
            attachments = [p for p in batch if isinstance(p.record, Attachment)]
            records = [p for p in batch if not isinstance(p.record, Attachment)]
            creates = [p for p in records if p.remote is None]
            updates = [p for p in records if p.remote is not None]
            if creates:
                await self._send_creates(client, creates, report)
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

    async def _reference_formatter(self, items: list[PendingRecord]) -> Callable[[str, str], str]:
        in_bundle = {(_RESOURCE_TYPE[p.item.entity_type], p.item.entity_id) for p in items}
        needed: set[tuple[str, str]] = set()
        for p in items:
            if isinstance(p.record, Encounter):
                needed.add(("patient", p.record.patient_id))
            elif isinstance(p.record, Note):
                needed.add(("patient", p.patient_id))
                needed.add(("encounter", p.record.encounter_id))

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
                return f"urn:uuid:{local_id}"
            if (resource_type, local_id) in known:
                return f"{resource_type}/{known[(resource_type, local_id)]}"
            return f"urn:uuid:{local_id}"  # unresolvable: the server will say so

        return fmt

    @staticmethod
    def _resource(p: PendingRecord, fmt: Callable[[str, str], str]) -> dict[str, Any]:
        from storage.fhir import mapping

        record = p.record
        resource: dict[str, Any]
        if isinstance(record, Patient):
            resource = mapping.patient_to_fhir(record)
        elif isinstance(record, Encounter):
            resource = mapping.encounter_to_fhir(record, references=fmt)
        else:
            assert isinstance(record, Note)  # attachments go through _send_attachment
            resource = mapping.note_to_document_reference(record, p.patient_id, references=fmt)
        resource.pop("meta", None)
        return resource

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
                    "fullUrl": f"urn:uuid:{p.item.entity_id}",
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
        report.sent += len(items)
        try:
            # Only ids and versions are needed back (every create is conditional, so
            # nothing depends on the echoed body): 70 MB -> 0.2 MB per 1,000 notes.
            response = await client.transaction(bundle, prefer=MINIMAL)
        except (SyncRejectedError, SyncConflictError) as exc:
            # One bad entry fails the whole transaction: split to find it, so the
            # good records still go and the bad one is named in the status.
            if len(items) == 1:
                await self.store.transact(queue.mark_failed, items[0].item, str(exc))
                report.failed += 1
                report.reasons.append(str(exc))
                return
            report.sent -= len(items)
            half = len(items) // 2
            await self._send_creates(client, items[:half], report)
            # Re-read: the first half's acknowledgements change how the rest refer to it.
            rest = await self._refresh(items[half:])
            if rest:
                await self._send_creates(client, rest, report)
            return
        results = response.get("entry")
        if not isinstance(results, list) or len(results) != len(items):
            raise SyncProtocolError(reason="transaction response entries do not match the request")
        acks = [
            (p.item, _acked_ref(entry, queue.record_hash(p.record)))
            for p, entry in zip(items, results, strict=True)
        ]
        await self._acknowledge(acks, report)

    async def _send_attachment(
        self, client: FhirTransport, p: PendingRecord, report: SyncReport
    ) -> bool:
        """One attachment as a transaction: ``PUT Binary/<fixed id>`` (update-as-create:
        Binary has no identifier to create it conditionally by), then conditional
        creates of its Media and heart-rate Observation. Resending the same Bundle
        after a crash or a lost acknowledgement rewrites the same Binary and finds
        the Media and Observation, so nothing is duplicated.

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

        def fmt(resource_type: str, local_id: str) -> str:
            if resource_type == "Binary":
                # Attachment.url is a url, not a Reference: servers need not rewrite a
                # urn:uuid there (SEKMET does not), so it names the fixed id directly.
                return f"Binary/{local_id}"
            if resource_type == "Media":
                return f"urn:uuid:{local_id}"
            return f"{resource_type}/{server_ids[resource_type]}"

        # base64 and model checks of up to 50 MB: off the event loop.
        bundle = await asyncio.get_running_loop().run_in_executor(
            None, _attachment_bundle, att, data, p.patient_id, fmt
        )
        report.sent += 1
        try:
            response = await client.transaction(bundle, prefer=MINIMAL)
        except (SyncRejectedError, SyncConflictError) as exc:
            await self.store.transact(queue.mark_failed, p.item, str(exc))
            report.failed += 1
            report.reasons.append(str(exc))
            return True
        results = response.get("entry")
        if not isinstance(results, list) or len(results) != len(bundle["entry"]):
            raise SyncProtocolError(reason="transaction response entries do not match the request")
        binary_ref = _acked_ref(results[0], "")
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
        # A batch, not a transaction: one conflicting note must not hold back the others.
        report.sent += len(items)
        response = await client.batch(
            {"resourceType": "Bundle", "type": "batch", "entry": entries}, prefer=MINIMAL
        )
        results = response.get("entry")
        if not isinstance(results, list) or len(results) != len(items):
            raise SyncProtocolError(reason="batch response entries do not match the request")
        acks: list[tuple[OutboxItem, RemoteRef]] = []
        for p, entry in zip(items, results, strict=True):
            status = _entry_status(entry)
            if 200 <= status < 300:
                acks.append((p.item, _acked_ref(entry, queue.record_hash(p.record))))
            elif status in (409, 412):  # both mean "not the version you think" (DESIGN §4)
                await self._on_conflict(client, p, acks, report)
            elif 400 <= status < 500:
                reason = _outcome_summary(entry)
                await self.store.transact(queue.mark_failed, p.item, reason)
                report.failed += 1
                report.reasons.append(reason)
            else:
                await self.store.transact(queue.note_attempt, [p.item], _outcome_summary(entry))
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
        version = str((current.get("meta") or {}).get("versionId", ""))
        if isinstance(p.record, Note):
            server_text = note_text_of(current)
            if server_text is not None and queue.text_hash(server_text) == queue.record_hash(
                p.record
            ):
                # Our own earlier write (its acknowledgement was lost in a crash or cut).
                acks.append(
                    (p.item, RemoteRef(p.remote.server_id, version, queue.text_hash(server_text)))
                )
                return
            if server_text is not None and await self.store.transact(
                queue.is_own_text, p.item.entity_id, server_text
            ):
                # An earlier write of ours whose acknowledgement was lost, then edited
                # again here: nobody else changed it, so this is no conflict. The row
                # stays queued and goes up next round against the right version.
                await self.store.transact(
                    queue.adopt_server_version,
                    "note",
                    p.item.entity_id,
                    p.remote.server_id,
                    version,
                    server_text,
                )
                return
            await self.store.transact(
                queue.record_conflict,
                self.store.actor,
                "note",
                p.item.entity_id,
                version,
                server_text or "",
            )
            report.conflicts += 1
            return
        reason = "changed on the server by someone else"
        await self.store.transact(queue.mark_failed, p.item, reason)
        report.failed += 1

    # --- pull ------------------------------------------------------------------------

    async def pull(self, client: FhirTransport, report: SyncReport) -> None:
        since = await self.store.transact(queue.get_checkpoint, "DocumentReference")
        if since is None:
            # First pull: changes from a little before this console first synced.
            since = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="seconds")
        params = {"_lastUpdated": f"ge{since}", "_sort": "_lastUpdated", "_count": "100"}
        newest = since
        seen = 0
        async for resource in client.search("DocumentReference", params):
            if (
                not isinstance(resource, dict)
                or resource.get("resourceType") != "DocumentReference"
            ):
                continue
            updated = str((resource.get("meta") or {}).get("lastUpdated", ""))
            newest = max(newest, updated)
            try:
                result, note_id = await self._apply_pulled(resource)
            except ConsoleError as exc:  # one unreadable record must not stop the pull
                log.warning("a pulled DocumentReference was skipped (%s)", type(exc).__name__)
                continue
            report.pulled += result == "updated"
            report.conflicts += result == "conflict"
            if result == "updated" and note_id:
                report.updated_note_ids.append(note_id)
            seen += 1
            if seen % 100 == 0:  # resumable: a cut mid-pull restarts near here
                await self.store.transact(queue.set_checkpoint, "DocumentReference", newest)
        await self.store.transact(queue.set_checkpoint, "DocumentReference", newest)
        for resource_type in ("Patient", "Encounter"):
            report.pulled += await self._pull_details(client, resource_type, since)

    async def _pull_details(
        self, client: FhirTransport, resource_type: str, default_since: str
    ) -> int:
        """Patients and visits this console holds, changed on the server: take the change.

        They are never edited here, so a newer server version simply wins; one with
        an unsent local create is left for the push to reconcile.
        """
        since = await self.store.transact(queue.get_checkpoint, resource_type) or default_since
        params = {"_lastUpdated": f"ge{since}", "_sort": "_lastUpdated", "_count": "100"}
        newest, updated = since, 0
        async for resource in client.search(resource_type, params):
            if not isinstance(resource, dict) or resource.get("resourceType") != resource_type:
                continue
            newest = max(newest, str((resource.get("meta") or {}).get("lastUpdated", "")))
            try:
                updated += await self.store.transact(_apply_details, self.store.actor, resource)
            except ConsoleError as exc:
                log.warning("a pulled %s was skipped (%s)", resource_type, type(exc).__name__)
        await self.store.transact(queue.set_checkpoint, resource_type, newest)
        return updated

    async def _apply_pulled(self, resource: dict[str, Any]) -> tuple[str, str | None]:
        """What a pulled DocumentReference did here, and to which local note."""
        server_id = str(resource.get("id", ""))
        version = str((resource.get("meta") or {}).get("versionId", ""))
        text = note_text_of(resource)
        if not server_id or text is None:
            return "skipped", None
        local = local_uuid_of(resource)
        actor = self.store.actor

        def apply(conn: Any) -> tuple[str, str | None]:
            from storage import repository

            note_id = local or queue.local_id_for_server(conn, "note", server_id)
            if note_id is None:
                return "skipped", None
            try:
                repository.get_note(conn, note_id)
            except ConsoleError:
                return "skipped", None  # not a record this console holds
            return queue.apply_pulled_note(conn, actor, note_id, server_id, version, text), note_id

        result: tuple[str, str | None] = await self.store.transact(apply)
        return result


def _attachment_bundle(
    att: Attachment, data: bytes, patient_id: str, fmt: Callable[[str, str], str]
) -> dict[str, Any]:
    from storage.fhir import media_mapping

    made = media_mapping.attachment_resources(att, data, patient_id, references=fmt)
    binary = made.binary
    entries: list[dict[str, Any]] = [
        {"resource": binary, "request": {"method": "PUT", "url": f"Binary/{binary['id']}"}}
    ]
    for local_id, resource in ((att.id, made.media), (att.observation_id, made.observation)):
        if resource is None:
            continue
        resource.pop("id", None)
        rtype = resource["resourceType"]
        entries.append(
            {
                "fullUrl": f"urn:uuid:{local_id}",
                "resource": resource,
                "request": {
                    "method": "POST",
                    "url": rtype,
                    "ifNoneExist": f"identifier={IDENTIFIER_SYSTEM}|urn:uuid:{local_id}",
                },
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _apply_details(conn: Any, actor: str, resource: dict[str, Any]) -> int:
    from storage import repository
    from storage.fhir import mapping

    kind = "patient" if resource["resourceType"] == "Patient" else "encounter"
    server_id = str(resource.get("id", ""))
    version = str((resource.get("meta") or {}).get("versionId", ""))
    local = local_uuid_of(resource) or queue.local_id_for_server(conn, kind, server_id)
    if not local or not server_id:
        return 0
    ref = queue.remote_ref(conn, kind, local)
    if ref is None or ref.version_id == version or ref.server_id != server_id:
        return 0  # not held, unchanged, or our own write
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
        record = mapping.encounter_from_fhir(resource, patient_id=held.patient_id, local_id=local)
    repository.update_from_server(conn, actor, record)
    queue.set_remote_ref(conn, kind, local, RemoteRef(server_id, version, ""))
    return 1
