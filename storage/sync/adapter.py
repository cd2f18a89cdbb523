"""storage's side of the sync use case: the ports of :mod:`app.sync`, implemented.

- :class:`StoreSyncQueue` (``SyncQueue``): the outbox, conflicts and refused records
  of the encrypted store, as typed operations (SQL stays on the store's worker).
- :class:`FhirSyncEngine` (``SyncEngine``): one push-then-pull round of
  :class:`storage.sync.engine.SyncEngine` over a FHIR client opened per round.
- :class:`TcpReachability` (``Reachability``): a TCP connect to the record store.
- :func:`sync_service`: the three wired into an :class:`app.sync.SyncService`, for the
  composition root (``app.main``, ``app.cli``) and tests.

These wrap the public functions of ``engine.py`` and ``queue.py`` without changing
them, so the engine can evolve behind the ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol
from urllib.parse import urlsplit

from app.errors import RecordNotFoundError
from app.settings import PacsSettings, RecordStoreSettings
from app.sync import (
    Conflict,
    ConflictItem,
    FailedRecord,
    FailureNote,
    Progress,
    RecordKind,
    Resolution,
    SyncCounts,
    SyncOverview,
    SyncRoundResult,
    SyncService,
)
from storage.sync import queue
from storage.sync.engine import SyncEngine, SyncReport, SyncStore

#: Opens a FHIR client for the record store (an async context manager).
ClientFactory = Callable[[RecordStoreSettings], AbstractAsyncContextManager[Any]]

#: The main outbox's entity types, as the kinds the sync details name (any other: OTHER).
_KIND = {
    kind.value: kind
    for kind in (
        RecordKind.PATIENT,
        RecordKind.VISIT,
        RecordKind.NOTE,
        RecordKind.SIGNATURE,
        RecordKind.ATTACHMENT,
        RecordKind.CODING,
        RecordKind.ANNOTATIONS,
        RecordKind.CONSENT,
        RecordKind.ESCALATION,
        RecordKind.ONCALL_NOTICE,
    )
}

#: FailedRecord kinds beyond the main outbox's (their Retry goes elsewhere: :func:`_retry`).
PACS_STILL = "pacs"
PACS_CREDENTIALS = "pacs_credentials"
ECONSULT = "econsult"
_ECONSULT_KIND = {
    "request": RecordKind.ECONSULT_REQUEST,
    "message": RecordKind.ECONSULT_MESSAGE,
    "answer": RecordKind.ECONSULT_ANSWER,
    "status": RecordKind.ECONSULT_STATUS,
}


class _TransactStore(Protocol):
    """What the adapters need of storage.store.EncryptedStore (storage-internal)."""

    async def transact(self, fn: Callable[..., Any], *args: Any) -> Any: ...

    async def record_read(self, entity_type: str, entity_id: str) -> None: ...

    @property
    def actor(self) -> str: ...


@contextlib.asynccontextmanager
async def open_client(settings: RecordStoreSettings) -> AsyncIterator[Any]:
    """A FHIR client for the configured record store, secrets from the OS keyring."""
    from storage import secrets
    from storage.fhir.auth import auth_from_settings
    from storage.fhir.client import FhirClient

    auth = auth_from_settings(settings, secrets.get_secret)
    async with FhirClient(settings.url, auth=auth, ca_file=settings.ca_file or None) as client:
        yield client


# --- SyncQueue --------------------------------------------------------------------------


class StoreSyncQueue:
    """``app.sync.SyncQueue`` over the encrypted store."""

    def __init__(self, store: _TransactStore) -> None:
        self._store = store

    async def counts(self) -> SyncCounts:
        waiting: dict[str, int] = await self._store.transact(_waiting)
        return SyncCounts(waiting["waiting"], waiting["failed"], waiting["conflicts"])

    async def overview(self) -> SyncOverview:
        result: SyncOverview = await self._store.transact(_overview)
        return result

    async def conflicts(self, note_id: str | None = None) -> list[Conflict]:
        found: list[queue.Conflict] = await self._store.transact(queue.open_conflicts, note_id)
        return [_conflict(c) for c in found]

    async def record_conflict_read(self, conflict_id: int) -> None:
        await self._store.record_read("conflict", str(conflict_id))

    async def resolve_conflict(
        self, conflict_id: int, resolution: Resolution, merged_text: str | None = None
    ) -> Conflict:
        actor = self._store.actor

        def resolve(conn: Any) -> Conflict:
            open_ = [c for c in queue.open_conflicts(conn) if c.id == conflict_id]
            if not open_:
                raise RecordNotFoundError(kind="conflict", record_id=str(conflict_id))
            queue.resolve_conflict(conn, actor, conflict_id, resolution.value, merged_text)
            return _conflict(open_[0])

        result: Conflict = await self._store.transact(resolve)
        return result

    async def hold_pulled_as_conflict(self, note_id: str) -> None:
        await self._store.transact(_hold_pulled, self._store.actor, note_id)

    async def retry(self, entity_type: str, entity_id: str) -> int:
        actor = self._store.actor
        requeued: bool = await self._store.transact(_retry, actor, entity_type, entity_id)
        return int(requeued)


def _retry(conn: Any, actor: str, entity_type: str, entity_id: str) -> bool:
    """Retry in the sync details: the main outbox's, the PACS's or an e-consult row."""
    from storage.dicom import stow
    from storage.sync import econsult

    if entity_type == PACS_STILL:
        return stow.retry(conn, actor, entity_id)
    if entity_type == PACS_CREDENTIALS:
        return stow.clear_refusal(conn, actor)
    if entity_type == ECONSULT:
        return econsult.retry(conn, actor, int(entity_id)) if entity_id.isdigit() else False
    return queue.retry_failed(conn, actor, entity_type, entity_id)


def _conflict(c: queue.Conflict) -> Conflict:
    return Conflict(
        c.id, c.entity_type, c.entity_id, c.server_version_id, c.server_text, c.detected_at
    )


def _hold_pulled(conn: Any, actor: str, note_id: str) -> None:
    from storage import repository

    ref = queue.remote_ref(conn, "note", note_id)
    text = repository.get_note(conn, note_id).text
    queue.record_conflict(conn, actor, "note", note_id, ref.version_id if ref else "", text)


def _waiting(conn: Any) -> dict[str, int]:
    """The outbox's counts, e-consult rows (their own outbox) included in "waiting",
    and the rows of the e-consult and PACS outboxes that need the user in "failed"."""
    from storage.dicom import stow
    from storage.sync import econsult

    counts = queue.waiting(conn)
    given_up = len(stow.given_up(conn))
    return {
        **counts,
        "waiting": counts["waiting"] + econsult.waiting(conn) + given_up,
        "failed": counts["failed"] + len(econsult.refused(conn)) + given_up,
    }


def _overview(conn: Any) -> SyncOverview:
    counts = _waiting(conn)
    outbox = []
    for entity_type, entity_id, reason, attempts in queue.failures(conn):
        kind, whose, _visit = _label(conn, entity_type, entity_id)
        outbox.append(FailedRecord(entity_type, entity_id, kind, whose, reason, attempts))
    failures = (
        tuple(outbox)
        + _econsult_failures(conn)
        + _pacs_failures(conn)
        + tuple(
            # Server resources sync set aside as malformed: which one, which rule. Nothing of
            # ours to send again (no entity), so no Retry: they clear once fixed on the server.
            FailedRecord("", "", RecordKind.SERVER_RECORD, resource, rule, 1, FailureNote.SET_ASIDE)
            for resource, rule in queue.quarantined(conn)
        )
    )
    conflicts = []
    for conflict in queue.open_conflicts(conn):
        kind, whose, encounter_id = _label(conn, conflict.entity_type, conflict.entity_id)
        conflicts.append(ConflictItem(_conflict(conflict), kind, whose, encounter_id))
    return SyncOverview(
        counts["waiting"], counts["failed"], counts["conflicts"], failures, tuple(conflicts)
    )


def _econsult_failures(conn: Any) -> tuple[FailedRecord, ...]:
    """E-consult rows the record store refused (or that cannot be sent), by patient."""
    from storage import econsult as consults
    from storage.sync import econsult

    out = []
    for seq, entity_type, consult_id, reason, attempts in econsult.refused(conn):
        kind = _ECONSULT_KIND.get(entity_type, RecordKind.ECONSULT)
        try:
            whose = consults.get_consult(conn, consult_id).patient_display
        except RecordNotFoundError:
            whose = ""
        out.append(FailedRecord(ECONSULT, str(seq), kind, whose, reason, attempts))
    return tuple(out)


def _pacs_failures(conn: Any) -> tuple[FailedRecord, ...]:
    """The PACS's refusal of the credentials, and stills it will not be sent again."""
    from storage.dicom import stow

    out = []
    marker = stow.auth_refusal(conn)
    if marker is not None:
        reason = stow.refusal_error(marker).user_message()
        out.append(FailedRecord(PACS_CREDENTIALS, "pacs", RecordKind.PACS_SIGN_IN, "", reason, 1))
    for attachment_id, last_error, attempts in stow.given_up(conn):
        whose = _label(conn, "attachment", attachment_id)[1]
        if last_error.startswith(stow.UNSUPPORTED):
            # Nothing to retry: the still cannot be written as DICOM; the record store has it.
            why = last_error[len(stow.UNSUPPORTED) :]
            out.append(
                FailedRecord(
                    "",
                    attachment_id,
                    RecordKind.PACS_STILL,
                    whose,
                    why,
                    attempts,
                    FailureNote.NOT_DICOM,
                )
            )
        else:
            out.append(
                FailedRecord(
                    PACS_STILL,
                    attachment_id,
                    RecordKind.PACS_STILL,
                    whose,
                    last_error,
                    attempts,
                    FailureNote.PACS_GAVE_UP,
                )
            )
    return tuple(out)


def _label(conn: Any, entity_type: str, entity_id: str) -> tuple[RecordKind, str, str | None]:
    """What a row is (a code the window words), whose it is (the patient's name, as in
    the worklist) and the visit to open; ids mean nothing to a clinician."""
    from storage import repository

    kind = _KIND.get(entity_type, RecordKind.OTHER)
    try:
        if entity_type in ("note", "provenance"):  # provenance: the signed note's id
            note = repository.get_note(conn, entity_id)
            if note.encounter_id is None:  # a document without a visit: no visit to open
                return kind, repository.get_patient(conn, note.patient_id).display_name, None
            encounter = repository.get_encounter(conn, note.encounter_id)
        elif entity_type == "encounter":
            encounter = repository.get_encounter(conn, entity_id)
        elif entity_type in ("attachment", "annotation"):  # annotation: the still's id
            encounter = repository.get_encounter(
                conn, repository.get_attachment(conn, entity_id).encounter_id
            )
        elif entity_type == "charge_item":
            from storage import coding_store

            encounter = repository.get_encounter(
                conn, coding_store.get_charge(conn, entity_id).encounter_id
            )
        elif entity_type in ("escalation", "oncall_notice", "consent"):
            encounter_id = _visit_of(conn, entity_type, entity_id)
            if encounter_id is None:
                return kind, "", None
            encounter = repository.get_encounter(conn, encounter_id)
        elif entity_type == "patient":
            return kind, repository.get_patient(conn, entity_id).display_name, None
        else:
            return kind, "", None
        patient = repository.get_patient(conn, encounter.patient_id)
    except RecordNotFoundError:
        return kind, "", None
    return kind, patient.display_name, encounter.id


def _visit_of(conn: Any, kind: str, entity_id: str) -> str | None:
    """The visit of a record kept in a table of its own (escalations, consents)."""
    table = "consents" if kind == "consent" else "escalations"
    row = conn.execute(f"SELECT encounter_id FROM {table} WHERE id = ?", (entity_id,)).fetchone()
    return None if row is None else str(row[0])


# --- SyncEngine ---------------------------------------------------------------------------


class FhirSyncEngine:
    """``app.sync.SyncEngine``: one round of the FHIR sync engine, client opened per round."""

    def __init__(
        self,
        store: SyncStore,
        settings: RecordStoreSettings,
        client_factory: ClientFactory | None = None,
        pacs: PacsSettings | None = None,
    ) -> None:
        self.settings = settings
        self.client_factory = client_factory or open_client
        self.store = store
        self.pacs = pacs if pacs is not None and pacs.stow_url else None
        self.engine = SyncEngine(
            store,
            practitioner=settings.practitioner,
            patient_identifier_system=settings.patient_identifier_system,
            retention_days=settings.retention_days,
        )

    async def run_round(self, progress: Progress | None = None) -> SyncRoundResult:
        async with self.client_factory(self.settings) as client:
            report = await self.engine.sync_once(client, progress)
        result = round_result(report)
        if self.pacs is not None:
            # Stills to the PACS ride along each round (storage/dicom/stow.py); a PACS
            # that is away only leaves its rows for the next round, one that refuses
            # the credentials is not asked again with them.
            from storage import secrets
            from storage.dicom.stow import push_authenticated

            stow = await push_authenticated(self.store, self.pacs, secrets.get_secret)
            result = dataclasses.replace(
                result,
                sent=result.sent + stow.sent,
                acknowledged=result.acknowledged + stow.sent,
                failed=result.failed + stow.failed,
                reasons=result.reasons + tuple(stow.reasons),
            )
        return result


def round_result(report: SyncReport) -> SyncRoundResult:
    return SyncRoundResult(
        sent=report.sent,
        acknowledged=report.acknowledged,
        pulled=report.pulled,
        conflicts=report.conflicts,
        failed=report.failed,
        reasons=tuple(report.reasons),
        updated_note_ids=tuple(report.updated_note_ids),
    )


# --- Reachability -----------------------------------------------------------------------------


class TcpReachability:
    """``app.sync.Reachability``: can a TCP connection to the record store be opened?"""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)

    async def reachable(self, timeout_s: float) -> bool:
        try:
            _reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), timeout=timeout_s
            )
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True


# --- wiring ---------------------------------------------------------------------------------


def sync_service(
    store: _TransactStore,
    settings: RecordStoreSettings | None,
    *,
    client_factory: ClientFactory | None = None,
    pacs: PacsSettings | None = None,
    **options: Any,
) -> SyncService:
    """The sync use case over this store; disabled (no engine) without a record store URL.

    ``options`` are :class:`app.sync.SyncService`'s timing keywords."""
    queue_port = StoreSyncQueue(store)
    if settings is None or not settings.url:
        return SyncService(queue_port, **options)
    return SyncService(
        queue_port,
        FhirSyncEngine(store, settings, client_factory, pacs),
        TcpReachability(settings.url),
        **options,
    )
