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

Credentials (``[pacs] auth``): HTTP Basic (``username`` + the keyring secret
``pacs``) or a bearer token (the keyring secret). A 401 or 403 is no fault of the
still: no attempt is counted, the pass stops, and a marker in ``meta`` remembers a
salted digest of the refused credentials. Later rounds do not ask the PACS again
with the same credentials (a retry loop could lock the account); a new secret
(``clinician-console secret set pacs``), a changed user name or the Retry action
in the sync details clears the way. The marker is also what the sync details show.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

import httpx

from app.errors import ConsoleError, PacsAuthError, PacsConfigError, PacsSecretMissingError
from app.records import utc_now
from storage import audit, repository
from storage.dicom.writer import instance_uid, write_still

if TYPE_CHECKING:
    from app.settings import PacsSettings

log = logging.getLogger(__name__)

#: The keyring entry (``clinician-console secret set pacs``).
SECRET_NAME: Final = "pacs"
#: ``meta`` key of the "the PACS refused these credentials" marker.
AUTH_MARKER: Final = "pacs_auth_refused"
# RFC 6750 b64token, so a token can never smuggle whitespace or a line break into a header.
_TOKEN_RE: Final = re.compile(r"[A-Za-z0-9\-._~+/]{1,16384}=*")

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
    #: Set when the PACS refused the credentials (401/403); the pass stopped there.
    auth_error: PacsAuthError | None = None


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


def retry(conn: Any, actor: str, attachment_id: str) -> bool:
    """The user's Retry on a still the PACS refused five times: five more attempts."""
    cur = conn.execute(
        "UPDATE dicom_outbox SET attempts = 0, last_error = '' "
        "WHERE attachment_id = ? AND attempts >= ? AND last_error NOT LIKE ?",
        (attachment_id, MAX_ATTEMPTS, UNSUPPORTED + "%"),
    )
    if cur.rowcount:
        audit.append(conn, actor, "sync_retry", "pacs", attachment_id)
    return bool(cur.rowcount)


def given_up(conn: Any) -> list[tuple[str, str, int]]:
    """(attachment id, reason, attempts) of stills no longer sent: the attempt limit
    reached, or a still the PACS can never take."""
    rows = conn.execute(
        "SELECT attachment_id, last_error, attempts FROM dicom_outbox "
        "WHERE attempts >= ? OR last_error LIKE ? ORDER BY created_at, attachment_id",
        (MAX_ATTEMPTS, UNSUPPORTED + "%"),
    ).fetchall()
    return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]


# --- credentials ------------------------------------------------------------------------


def auth_headers(settings: PacsSettings, get_secret: Callable[[str], str | None]) -> dict[str, str]:
    """The ``Authorization`` header ``[pacs] auth`` asks for, its secret from the keyring
    (``get_secret`` is :func:`storage.secrets.get_secret`)."""
    mode = settings.auth
    if mode == "none":
        return {}
    if mode not in ("basic", "bearer"):
        raise PacsConfigError(reason="[pacs] auth must be none, basic or bearer")
    if mode == "basic" and (not settings.username or ":" in settings.username):
        raise PacsConfigError(reason="[pacs] username is empty or contains ':'")
    secret = get_secret(SECRET_NAME)
    if not secret:
        raise PacsSecretMissingError(auth=mode)
    if mode == "basic":
        pair = f"{settings.username}:{secret.rstrip(chr(10)).rstrip(chr(13))}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode("ascii")}
    token = secret.strip()
    if not _TOKEN_RE.fullmatch(token):
        raise PacsConfigError(reason="the PACS bearer token in the keyring is not a b64token")
    return {"Authorization": f"Bearer {token}"}


def _digest(salt: bytes, url: str, headers: Mapping[str, str]) -> str:
    material = json.dumps([url, sorted(headers.items())]).encode()
    return hmac.new(salt, material, hashlib.sha256).hexdigest()


def auth_refusal(conn: Any) -> dict[str, Any] | None:
    """The marker left when the PACS refused the credentials (or none were there), if any."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (AUTH_MARKER,)).fetchone()
    if row is None:
        return None
    try:
        marker = json.loads(str(row[0]))
    except ValueError:
        return {"status": 0, "key": "pacs.auth"}
    return marker if isinstance(marker, dict) else {"status": 0, "key": "pacs.auth"}


def _refused_again(conn: Any, url: str, headers: Mapping[str, str]) -> dict[str, Any] | None:
    """The marker, when it was left for exactly these credentials to this URL."""
    marker = auth_refusal(conn)
    if marker is None:
        return None
    try:
        salt = bytes.fromhex(str(marker.get("salt", "")))
    except ValueError:
        return None
    same = salt and hmac.compare_digest(str(marker.get("digest", "")), _digest(salt, url, headers))
    return marker if same else None


def _mark_refused(
    conn: Any,
    actor: str,
    url: str,
    headers: Mapping[str, str],
    error: PacsAuthError | PacsConfigError,
) -> None:
    held = _refused_again(conn, url, headers)
    if held is not None and refusal_error(held).user_message() == error.user_message():
        return  # the same refusal, already kept (and audited): no entry every round
    salt = secrets.token_bytes(16)
    marker = {
        "at": utc_now(),
        "key": error.message_key,
        "status": error.status or 0,
        "auth": str(error.params.get("auth", "")),
        "reason": str(error.params.get("reason", "")),
        "salt": salt.hex(),
        "digest": _digest(salt, url, headers),
    }
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
        "value = excluded.value",
        (AUTH_MARKER, json.dumps(marker)),
    )
    audit.append(conn, actor, "pacs_auth_refused", "pacs", str(error.status or 0))


def clear_refusal(conn: Any, actor: str | None = None) -> bool:
    """Forget the marker (credentials accepted, or the user's Retry)."""
    cur = conn.execute("DELETE FROM meta WHERE key = ?", (AUTH_MARKER,))
    if cur.rowcount and actor is not None:
        audit.append(conn, actor, "sync_retry", "pacs", "credentials")
    return bool(cur.rowcount)


def refusal_error(marker: Mapping[str, Any]) -> PacsAuthError | PacsConfigError:
    """The error a marker stands for (its text is what the user sees)."""
    if marker.get("key") == PacsSecretMissingError.message_key:
        return PacsSecretMissingError(auth=str(marker.get("auth", "")))
    if marker.get("key") == PacsConfigError.message_key:
        return PacsConfigError(reason=str(marker.get("reason", ""))[:200])
    status = marker.get("status")
    return PacsAuthError(status=status if isinstance(status, int) else 0)


async def push_authenticated(
    store: _TransactStore,
    settings: PacsSettings,
    get_secret: Callable[[str], str | None],
    **options: Any,
) -> StowReport:
    """One pass to ``settings.stow_url`` with ``[pacs]`` credentials; never raises for
    refused credentials: the report carries the failure and the marker keeps it."""
    report = StowReport()
    try:
        headers = auth_headers(settings, get_secret)
    except (PacsSecretMissingError, PacsConfigError) as exc:
        await store.transact(_mark_refused, store.actor, settings.stow_url, {}, exc)
        report.failed += 1
        report.reasons.append(exc.user_message())
        return report
    marker = await store.transact(_refused_again, settings.stow_url, headers)
    if marker is not None:
        # Refused before with exactly these credentials: do not knock again.
        report.failed += 1
        report.reasons.append(refusal_error(marker).user_message())
        return report
    report = await StowSender(store, settings.stow_url, headers=headers, **options).push()
    refused = report.auth_error
    if refused is not None:
        log.warning("STOW-RS: the PACS refused the console's credentials (%s)", refused.status)
        await store.transact(_mark_refused, store.actor, settings.stow_url, headers, refused)
        report.failed += 1
        report.reasons.append(refused.user_message())
    elif report.sent or not await store.transact(waiting):
        # Accepted (or nothing to send): any earlier refusal is history.
        await store.transact(clear_refusal, None)
    return report


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
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        self.stow_url = stow_url
        self._auth = dict(headers or {})
        self.timeout_s = timeout_s
        self.client_factory = client_factory or (
            lambda: httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False)
        )

    def __repr__(self) -> str:  # never the credentials
        return f"StowSender(auth={bool(self._auth)})"

    async def push(self) -> StowReport:
        """Send each waiting still once; stop early when the PACS is away.

        A 401/403 stops it with ``report.auth_error`` set; no row is charged for it."""
        report = StowReport()
        tried: set[str] = set()
        async with self.client_factory() as client:
            while True:
                items: list[StowItem] = await self.store.transact(pending, BATCH, frozenset(tried))
                if not items:
                    return report
                for item in items:
                    tried.add(item.attachment_id)
                    try:
                        outcome = await self._send(client, item)
                    except PacsAuthError as exc:  # the credentials: no row is charged
                        report.auth_error = exc
                        return report
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
                headers={
                    **self._auth,
                    "Content-Type": content_type,
                    "Accept": "application/dicom+json",
                },
            )
        except httpx.HTTPError as exc:
            log.info("STOW-RS: PACS unreachable (%s)", type(exc).__name__)
            return None
        if response.status_code in (401, 403):
            # The credentials, not the still: stop the pass, charge no attempt.
            raise PacsAuthError(status=response.status_code)
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


__all__ = [
    "StowReport",
    "StowSender",
    "auth_headers",
    "auth_refusal",
    "clear_refusal",
    "given_up",
    "multipart",
    "pending",
    "push_authenticated",
    "retry",
    "stored_uids",
    "waiting",
]
