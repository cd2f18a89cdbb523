"""Change events (psygnal: Qt-style signals without Qt, so the domain stays Qt-free).

Names follow ``<subject>_did_<verb>`` (STYLE.md §6). A widget subscribes to
the events it renders and skips changes it made itself (``source`` is the
object that asked for the change).
"""

from __future__ import annotations

from psygnal import Signal


class ConsoleEvents:
    """One bus per running console; services emit, widgets listen."""

    note_did_save = Signal(object, object)  # SaveResult, source
    note_did_create = Signal(object, object)  # Note, source
    note_did_restore = Signal(object, object)  # SaveResult, source
    store_did_change_state = Signal(object)  # StoreStatus
    records_did_import = Signal(object)  # ImportResult
    save_did_fail = Signal(object, object)  # note_id, ConsoleError
    attachment_did_add = Signal(object, object)  # Attachment, source
    attachment_did_delete = Signal(object, object)  # AttachmentDeleted, source
    note_did_sign = Signal(object, object)  # note_id (the note or its new addendum), source
    econsult_did_change = Signal(object, object)  # e-consult id, source
