"""The raw Binary upload fallback for servers that refuse large JSON bodies.

Medplum's server limits JSON request bodies (``maxJsonSize``, 1 MB by default)
and answers 413 to a transaction carrying a larger still as base64 ``data``;
it accepts the same bytes as a raw ``POST [base]/Binary``. SEKMET is the
opposite (500 on raw uploads), so the JSON transaction stays the first choice
and this path is only taken after a 413 (docs/sync.md, "Attachments").

Exactly-once: the raw Binary's server id is recorded (``remote_refs``,
``attachment_binary``, content hash ``raw:<sha256>``) in its own transaction as
soon as the server answers, and every later attempt (a lost acknowledgement of
the Media, a crash, the next sync round) reuses it instead of uploading again;
the Media and Observation are conditional creates as usual. The one window
left is a crash between the server storing the Binary and the console
recording its id: the next attempt uploads the bytes again and the first
Binary stays unreferenced on the server (never a second Media).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from app.records import Attachment
from storage.sync import queue
from storage.sync.queue import RemoteRef

ENTITY = "attachment_binary"
RAW_PREFIX = "raw:"


@runtime_checkable
class RawBinaryClient(Protocol):
    async def create_binary_raw(
        self, content_type: str, data: bytes, *, security_context: str | None = None
    ) -> Any: ...


class _Store(Protocol):
    async def transact(self, fn: Any, *args: Any) -> Any: ...


def raw_client(client: object) -> RawBinaryClient | None:
    """``client`` as a raw-upload client, or None when it cannot upload raw (a test fake)."""
    return client if isinstance(client, RawBinaryClient) else None


async def recorded(store: _Store, att: Attachment) -> str | None:
    """The server id of a Binary already uploaded raw for ``att``, if any."""
    ref: RemoteRef | None = await store.transact(queue.remote_ref, ENTITY, att.id)
    if ref is None or ref.content_hash != RAW_PREFIX + att.sha256:
        return None
    return ref.server_id


async def upload(
    client: RawBinaryClient, store: _Store, att: Attachment, data: bytes, patient_server_id: str
) -> str:
    """Upload the bytes raw and record the Binary's id at once; returns that id."""
    result = await client.create_binary_raw(
        att.content_type, data, security_context=f"Patient/{patient_server_id}"
    )
    ref = RemoteRef(str(result.id), result.version_id or "", RAW_PREFIX + att.sha256)
    await store.transact(queue.set_remote_ref, ENTITY, att.id, ref)
    return ref.server_id
