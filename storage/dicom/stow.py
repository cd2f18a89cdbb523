"""Stills to the clinic's PACS over DICOMweb STOW-RS (PS3.18 10.5), through ``dicom_outbox``.

Exactly once: the row is queued in the transaction that stores the still (a
trigger, storage/migrations.py ``_V_DICOM``) and deleted only after the PACS
named the instance among those it stored. The SOP Instance UID is derived from
the still's id (storage/dicom/writer.py), so a retry after a lost answer sends
the same instance again and the PACS keeps one copy.

Each instance goes in its own request: one bad still cannot hold back the others,
and a 12 MP still is a few MB. A network failure or a 5xx stops the pass (the
PACS is away; the next sync round tries again); a 4xx or an answer that lists the
instance as failed is recorded on the row and retried at most ``MAX_ATTEMPTS``
times; a still that cannot be made into DICOM (e.g. a progressive JPEG) is set
aside at once. Logs carry ids and statuses only, never patient data.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from app.errors import ConsoleError
from storage import audit, repository
from storage.dicom.writer import instance_uid, write_still

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BATCH = 20
#: "The PACS will never take this still": rows so marked are no longer sent.
UNSUPPORTED = "unsupported: "
_REFERENCED_SOP_SEQUENCE = "00081199"
_FAILED_SOP_SEQUENCE = "00081198"
_REFERENCED_SOP_INSTANCE_UID = "00081155"


class _TransactStore(Protocol):
    @property
    def actor(self) -> str: ...

    async def transact(self, fn: Any, *args: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class StowItem:
    attachment_id: str
    sop_instance_uid: str
    dicom: bytes


@dataclass(slots=True)
class StowReport:
    sent: int = 0
    failed: int = 0
    reasons: list[str] = field(default_factory=list)


def waiting(conn: Any) -> int:
    row = conn.execute(
        "SELECT count(*) FROM dicom_outbox WHERE attempts < ? AND last_error NOT LIKE ?",
        (MAX_ATTEMPTS, UNSUPPORTED + "%"),
    ).fetchone()
    return int(row[0])


def pending(conn: Any, limit: int, skip: frozenset[str] = frozenset()) -> list[StowItem]:
    """The next stills to send (not in ``skip``: tried in this pass), each written as
    DICOM; a still that cannot be written is set aside for good."""
    rows = conn.execute(
        "SELECT attachment_id FROM dicom_outbox WHERE attempts < ? AND last_error NOT LIKE ? "
        "ORDER BY created_at, attachment_id",
        (MAX_ATTEMPTS, UNSUPPORTED + "%"),
    ).fetchall()
    ids = [str(r[0]) for r in rows if str(r[0]) not in skip][:limit]
    out: list[StowItem] = []
    for attachment_id in ids:
        attachment = repository.get_attachment(conn, attachment_id)
        encounter = repository.get_encounter(conn, attachment.encounter_id)
        patient = repository.get_patient(conn, encounter.patient_id)
        try:
            data = repository.attachment_data(conn, attachment.id)
            dicom = write_still(data, patient=patient, encounter=encounter, attachment=attachment)
        except ConsoleError as exc:
            conn.execute(
                "UPDATE dicom_outbox SET last_error = ? WHERE attachment_id = ?",
                (UNSUPPORTED + type(exc).__name__, attachment.id),
            )
            continue
        out.append(StowItem(attachment.id, str(instance_uid(attachment.id)), dicom))
    return out


def _acknowledge(conn: Any, actor: str, attachment_id: str) -> None:
    conn.execute("DELETE FROM dicom_outbox WHERE attachment_id = ?", (attachment_id,))
    audit.append(conn, actor, "pacs_stored", "attachment", attachment_id)


def _note_failure(conn: Any, attachment_id: str, reason: str) -> None:
    conn.execute(
        "UPDATE dicom_outbox SET attempts = attempts + 1, last_error = ? WHERE attachment_id = ?",
        (reason[:200], attachment_id),
    )


def multipart(dicom: bytes) -> tuple[bytes, str]:
    """One instance as ``multipart/related; type="application/dicom"`` (PS3.18 8.6.1.2)."""
    boundary = "cc-" + secrets.token_hex(16)
    body = b"".join(
        (
            f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode(),
            dicom,
            f"\r\n--{boundary}--\r\n".encode(),
        )
    )
    return body, f'multipart/related; type="application/dicom"; boundary={boundary}'


def stored_uids(reply: Any) -> tuple[set[str], set[str]]:
    """(stored, failed) SOP Instance UIDs named by a STOW-RS response (DICOM JSON)."""

    def uids(tag: str) -> set[str]:
        out: set[str] = set()
        if not isinstance(reply, dict):
            return out
        seq = reply.get(tag)
        items = seq.get("Value", []) if isinstance(seq, dict) else []
        for item in items if isinstance(items, list) else []:
            attr = item.get(_REFERENCED_SOP_INSTANCE_UID) if isinstance(item, dict) else None
            values = attr.get("Value", []) if isinstance(attr, dict) else []
            out.update(v for v in values if isinstance(v, str))
        return out

    return uids(_REFERENCED_SOP_SEQUENCE), uids(_FAILED_SOP_SEQUENCE)


class StowSender:
    """One pass over ``dicom_outbox`` to the STOW-RS endpoint ``stow_url``."""

    def __init__(
        self,
        store: _TransactStore,
        stow_url: str,
        *,
        client_factory: Any = None,
        timeout_s: float = 60.0,
    ) -> None:
        self.store = store
        self.stow_url = stow_url
        self.timeout_s = timeout_s
        self.client_factory = client_factory or (
            lambda: httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False)
        )

    async def push(self) -> StowReport:
        """Send each waiting still once; stop early when the PACS is away."""
        report = StowReport()
        tried: set[str] = set()
        async with self.client_factory() as client:
            while True:
                items: list[StowItem] = await self.store.transact(pending, BATCH, frozenset(tried))
                if not items:
                    return report
                for item in items:
                    tried.add(item.attachment_id)
                    outcome = await self._send(client, item)
                    if outcome is None:  # the PACS is away: stop, the row stays
                        report.reasons.append("the PACS could not be reached")
                        return report
                    if outcome == "":
                        await self.store.transact(
                            _acknowledge, self.store.actor, item.attachment_id
                        )
                        report.sent += 1
                    else:
                        await self.store.transact(_note_failure, item.attachment_id, outcome)
                        report.failed += 1
                        report.reasons.append(outcome)
                        log.warning(
                            "STOW-RS refused attachment %s: %s", item.attachment_id, outcome
                        )

    async def _send(self, client: httpx.AsyncClient, item: StowItem) -> str | None:
        """ "" when stored, a reason when refused, None when the PACS is away (retry later)."""
        body, content_type = multipart(item.dicom)
        try:
            response = await client.post(
                self.stow_url,
                content=body,
                headers={"Content-Type": content_type, "Accept": "application/dicom+json"},
            )
        except httpx.HTTPError as exc:
            log.info("STOW-RS: PACS unreachable (%s)", type(exc).__name__)
            return None
        if response.status_code >= 500 or response.status_code in (408, 429):
            log.info("STOW-RS: PACS answered %s", response.status_code)
            return None
        try:
            reply = response.json() if response.content else {}
        except ValueError:
            reply = {}
        stored, failed = stored_uids(reply)
        if response.status_code in (200, 202) and item.sop_instance_uid in stored:
            return ""
        if item.sop_instance_uid in failed:
            return f"the PACS refused the instance (HTTP {response.status_code})"
        if response.status_code in (200, 202):
            return "the PACS did not confirm the instance"
        return f"the PACS refused the request (HTTP {response.status_code})"


__all__ = ["StowReport", "StowSender", "multipart", "pending", "stored_uids", "waiting"]
