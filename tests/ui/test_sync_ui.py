"""What a clinician sees of sync: the status bar indicator, the details view, conflicts.

Real widgets over a real store; the SyncService use case and its storage
adapters are real too, pointed at a port where nothing listens (127.0.0.1:9),
so "offline" is the genuine article.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

from app import soap
from app.errors import SyncRejectedError
from app.records import EncounterSummary, KeySource, utc_now
from app.settings import RecordStoreSettings
from app.sync import SyncRoundResult, SyncService, SyncState
from storage.sync import queue
from storage.sync.adapter import FhirSyncEngine, StoreSyncQueue, TcpReachability
from tests.ui.conftest import PASSPHRASE, Aio, fresh_text, until
from ui.main_window import QtMainWindow
from ui.sync_status import NOT_SET_UP_TEXT

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
DEAD_SERVER = RecordStoreSettings(url="http://127.0.0.1:9/fhir")
THEIR_TEXT = "their text"


class _CountingSync(SyncService):
    """The real use case; only counts "Sync now" and "sync as soon as possible" (what a
    resolution asks for) so tests can see they were asked."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sync_now_calls = 0
        self.sync_requests = 0

    def sync_now(self) -> Any:
        self.sync_now_calls += 1
        return super().sync_now()

    def request_sync(self) -> None:
        self.sync_requests += 1
        super().request_sync()


def _save(aio: Aio, widget, name: str) -> Path:
    # Let the loop run so Qt lays out what changed (a grab paints the old geometry).
    aio.run(asyncio.sleep(0.05))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    assert widget.grab().save(str(path), "PNG")
    return path


def _with_sync(console, *, service: bool = True) -> _CountingSync:
    store = console.store
    if service:  # as storage.sync.adapter.sync_service wires it, but counting
        # A wide backoff keeps "retrying in N s" well above zero for the assertions.
        sync = _CountingSync(
            StoreSyncQueue(store),
            FhirSyncEngine(store, DEAD_SERVER),
            TcpReachability(DEAD_SERVER.url),
            backoff_base_s=60.0,
        )
    else:
        sync = _CountingSync(StoreSyncQueue(store))  # no record store configured
    console.window.attach_sync(sync)
    return sync


def _summary_with_note(console) -> EncounterSummary:
    return next(s for s in console.window.worklist.summaries() if s.note_id is not None)


def _open(aio: Aio, console, summary: EncounterSummary):
    editor = console.window.editor
    assert console.window.worklist.select_encounter(summary.encounter.id)
    aio.wait_until(lambda: editor.note is not None and editor.summary == summary)
    return editor


def _record_conflict(aio: Aio, store, note_id: str, text: str = THEIR_TEXT) -> None:
    assert aio.run(store.transact(queue.record_conflict, store.actor, "note", note_id, "v9", text))


def _conflict_rows(aio: Aio, store, note_id: str) -> list[tuple[str | None, str | None]]:
    def rows(conn) -> list[tuple[str | None, str | None]]:
        found = conn.execute(
            "SELECT resolved_at, resolution FROM conflicts WHERE entity_id = ?", (note_id,)
        ).fetchall()
        return [(r[0], r[1]) for r in found]

    return aio.run(store.transact(rows))


# --- the status bar indicator ---------------------------------------------------------


def test_indicator_without_a_record_store_says_not_set_up(aio: Aio, make_console) -> None:
    console = make_console()
    _with_sync(console, service=False)
    indicator = console.window.sync_status
    assert indicator.state_button.text() == NOT_SET_UP_TEXT
    assert "record_store.url" not in indicator.state_button.toolTip()  # words for clinicians
    assert "No record server is set up" in indicator.state_button.toolTip()
    assert not console.window.sync_action.isEnabled()
    assert not indicator.sync_now_button.isVisibleTo(indicator)
    _save(aio, console.window.status, "sync_status_not_set_up.png")


def test_indicator_renders_each_state(aio: Aio, make_console, qtbot) -> None:
    console = make_console()
    sync = _with_sync(console)
    window = console.window
    indicator = window.sync_status
    assert indicator.state_button.text() == "Not synced yet"

    # OFFLINE, for real: nothing listens on port 9.
    delay = aio.run(sync.sync_now()).status.next_attempt_s
    sync.sync_now_calls = 0
    assert sync.status.state is SyncState.OFFLINE
    assert re.fullmatch(r"Offline — retrying( in \d+ s|…)", indicator.state_button.text())
    assert "cannot be reached" in indicator.state_button.toolTip()
    assert abs(indicator.retry_in_s() - delay) < 2
    waiting = sync.status.waiting
    assert waiting > 0  # the demo records have never been sent
    assert (
        indicator.waiting_label.text() == f"{waiting} change{'s' if waiting != 1 else ''} to send"
    )
    _save(aio, window.status, "sync_status_offline.png")

    # SYNCING with progress.
    sync._publish(state=SyncState.SYNCING, progress_done=3, progress_total=8, next_attempt_s=None)
    assert indicator.state_button.text() == "Syncing 3 of 8…"
    assert indicator.progress.isVisibleTo(indicator)
    assert indicator.progress.text() == "3 of 8"
    assert indicator.retry_in_s() is None
    _save(aio, window.status, "sync_status_syncing.png")
    sync._publish(progress_done=0, progress_total=0)
    assert indicator.state_button.text() == "Syncing…"
    assert not indicator.progress.isVisibleTo(indicator)  # no total yet: no bar

    # ERROR: the service's safe message, in full in the tooltip.
    message = SyncRejectedError(status=422, issue_code="invalid").user_message()
    sync._publish(state=SyncState.ERROR, message=message, failed=1)
    assert indicator.state_button.text().startswith("Sync error: The record store refused")
    assert message in indicator.state_button.toolTip()
    assert indicator.waiting_label.text().endswith("to send · 1 not accepted")
    _save(aio, window.status, "sync_status_error.png")

    # ONLINE after a successful sync, with conflicts waiting for the clinician.
    sync._publish(
        state=SyncState.IDLE, message="", last_success=utc_now(), waiting=0, failed=0, conflicts=2
    )
    assert indicator.state_button.text() == "Online"
    assert re.fullmatch(r"Synced \d\d:\d\d", indicator.last_label.text())
    assert indicator.conflicts_button.text() == "2 conflicts"
    assert not indicator.waiting_label.isVisibleTo(indicator)
    _save(aio, window.status, "sync_status_online.png")
    _save(aio, window, "sync_window_online.png")

    # "Sync now": the status bar button and the File menu share one action.
    assert window.sync_action.isEnabled()
    assert window.sync_action.shortcut() == QKeySequence("Ctrl+Shift+S")
    file_menu = window.menuBar().actions()[0].menu()
    assert window.sync_action in file_menu.actions()
    qtbot.mouseClick(indicator.sync_now_button, Qt.MouseButton.LeftButton)
    assert sync.sync_now_calls == 1
    window.sync_action.trigger()
    assert sync.sync_now_calls == 2


# --- conflicts in the editor ----------------------------------------------------------


def test_conflict_banner_appears_and_keep_theirs_takes_their_text(
    aio: Aio, make_console, qtbot
) -> None:
    console = make_console()
    sync = _with_sync(console)
    summary = _summary_with_note(console)
    _record_conflict(aio, console.store, summary.note_id)
    editor = _open(aio, console, summary)
    banner = console.window.conflict_banner
    aio.wait_until(banner.isVisible)
    assert banner.title.text() == "This note was also changed elsewhere"
    mine = editor.text()
    _save(aio, console.window, "sync_conflict_banner.png")

    # Showing the banner decided nothing.
    for _ in range(10):
        aio.run(until(lambda: True))
    assert _conflict_rows(aio, console.store, summary.note_id) == [(None, None)]
    assert editor.text() == mine

    qtbot.mouseClick(banner.keep_theirs_button, Qt.MouseButton.LeftButton)
    aio.wait_until(lambda: editor.text() == THEIR_TEXT)
    assert not banner.isVisible()
    assert aio.run(fresh_text(console.profile, summary.note_id)) == THEIR_TEXT
    [(resolved_at, resolution)] = _conflict_rows(aio, console.store, summary.note_id)
    assert resolved_at is not None and resolution == "keep_theirs"
    assert aio.run(console.store.transact(queue.open_conflicts, summary.note_id)) == []
    assert sync.sync_requests == 1  # the decision goes to the server right away
    # The clinician's text is not gone: it is the previous version in History.
    history = aio.run(console.notes.history(summary.note_id))
    assert any(v.text == mine for v in history)


def test_banner_appears_after_a_sync_finds_a_conflict(aio: Aio, make_console) -> None:
    console = make_console()
    sync = _with_sync(console)
    summary = _summary_with_note(console)
    _open(aio, console, summary)
    banner = console.window.conflict_banner
    aio.run(banner.refreshed)
    assert not banner.isVisible()
    _record_conflict(aio, console.store, summary.note_id)
    sync.sync_did_finish.emit(SyncRoundResult(pulled=1, conflicts=1))
    aio.wait_until(banner.isVisible)
    # Another note has no conflict: the banner goes away with it.
    other = next(
        s
        for s in console.window.worklist.summaries()
        if s.note_id is not None and s.note_id != summary.note_id
    )
    _open(aio, console, other)
    aio.run(banner.refreshed)
    assert not banner.isVisible()


def test_keep_mine_flushes_typing_and_queues_an_update(aio: Aio, make_console, qtbot) -> None:
    console = make_console(debounce_ms=60_000)  # only the resolution flushes the typing
    _with_sync(console)
    summary = _summary_with_note(console)
    _record_conflict(aio, console.store, summary.note_id)
    editor = _open(aio, console, summary)
    banner = console.window.conflict_banner
    aio.wait_until(banner.isVisible)
    plan = editor.section("Plan")
    plan.moveCursor(plan.textCursor().MoveOperation.End)
    qtbot.keyClicks(plan, " Typed during the conflict.")
    mine = editor.text()

    qtbot.mouseClick(banner.keep_mine_button, Qt.MouseButton.LeftButton)
    aio.wait_until(lambda: banner.resolving is not None and banner.resolving.done())
    assert not banner.isVisible()
    assert aio.run(fresh_text(console.profile, summary.note_id)) == mine
    assert editor.text() == mine
    assert _conflict_rows(aio, console.store, summary.note_id)[0][1] == "keep_mine"
    pending = aio.run(console.store.transact(queue.pending, 100))
    mine_queued = [p for p in pending if p.item.entity_id == summary.note_id]
    assert mine_queued and mine_queued[0].item.op == "update"


def test_merge_shows_both_texts_and_saves_the_merge(aio: Aio, make_console, qtbot) -> None:
    console = make_console()
    sync = _with_sync(console)
    summary = _summary_with_note(console)
    _record_conflict(aio, console.store, summary.note_id, "Their plan: review in 2 weeks.")
    editor = _open(aio, console, summary)
    banner = console.window.conflict_banner
    aio.wait_until(banner.isVisible)
    mine = editor.text()

    qtbot.mouseClick(banner.merge_button, Qt.MouseButton.LeftButton)
    dialog = banner.merge_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.theirs.isReadOnly()
    assert dialog.theirs.toPlainText() == "Their plan: review in 2 weeks."
    assert not dialog.merged.isReadOnly()
    assert dialog.merged.toPlainText() == mine
    _save(aio, dialog, "sync_merge_dialog.png")

    sections = soap.parse(mine)
    sections["Plan"] = f"{sections['Plan']}\nReview in 2 weeks (agreed with colleague)."
    merged = soap.compose(sections)
    dialog.merged.setPlainText(merged)
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    aio.wait_until(lambda: editor.text() == merged)
    assert aio.run(fresh_text(console.profile, summary.note_id)) == merged
    assert _conflict_rows(aio, console.store, summary.note_id)[0][1] == "merge"
    assert not banner.isVisible()
    assert sync.sync_requests == 1


def test_cancelling_the_merge_changes_nothing(aio: Aio, make_console, qtbot) -> None:
    console = make_console()
    _with_sync(console)
    summary = _summary_with_note(console)
    _record_conflict(aio, console.store, summary.note_id)
    editor = _open(aio, console, summary)
    banner = console.window.conflict_banner
    aio.wait_until(banner.isVisible)
    mine = editor.text()
    reads_before = aio.run(_conflict_reads(console.store))
    dialog = banner.open_merge()
    # Showing both texts is a read of the conflict: audited once per opening.
    aio.run(_until_reads(console.store, reads_before + 1))
    dialog.merged.setPlainText("not saved")
    dialog.reject()
    aio.run(until(lambda: banner.merge_dialog is None))
    assert banner.isVisible()
    banner.refresh()  # the banner's own lookups are not reads of the texts
    aio.run(until(lambda: banner.refreshed is None or banner.refreshed.done()))
    assert aio.run(_conflict_reads(console.store)) == reads_before + 1
    assert _conflict_rows(aio, console.store, summary.note_id) == [(None, None)]
    assert aio.run(fresh_text(console.profile, summary.note_id)) == mine


async def _conflict_reads(store) -> int:
    entries = await store.audit_entries()
    return sum(1 for e in entries if e.action == "read" and e.entity_type == "conflict")


async def _until_reads(store, expected: int, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (found := await _conflict_reads(store)) != expected:
        assert asyncio.get_running_loop().time() < deadline, f"{found} reads, not {expected}"
        await asyncio.sleep(0.01)


# --- the details view -----------------------------------------------------------------


def test_details_list_failures_and_conflicts(aio: Aio, make_console, qtbot) -> None:
    console = make_console()
    sync = _with_sync(console)
    store = console.store
    summary = _summary_with_note(console)
    reason = "HTTP 422 (invalid): DocumentReference.content is required"

    def refuse_first_note(conn) -> str:
        item = next(p.item for p in queue.pending(conn, 100) if p.item.entity_type == "note")
        queue.mark_failed(conn, item, reason)
        return item.entity_id

    refused = aio.run(store.transact(refuse_first_note))
    _record_conflict(aio, store, summary.note_id)
    aio.run(sync.sync_now())  # offline: the counts and the message are real
    sync.sync_now_calls = 0

    qtbot.mouseClick(console.window.sync_status.state_button, Qt.MouseButton.LeftButton)
    dialog = console.window.sync_details
    assert dialog is not None
    overview = aio.run(dialog.loaded)
    assert overview.failed == 1 and overview.conflicts == 1
    [failure] = [t for t in dialog.failure_texts() if reason in t]
    assert failure.startswith("Note · ")
    assert "1 attempt" in failure
    assert refused not in failure  # record ids mean nothing to a clinician
    [conflict] = dialog.conflict_texts()
    assert summary.patient.display_name in conflict
    assert "changed elsewhere" in conflict
    assert "cannot be reached" in dialog.message_label.text()
    assert dialog.state_label.text().startswith("Offline")
    _save(aio, dialog, "sync_details.png")

    dialog.sync_now_button.click()
    assert sync.sync_now_calls == 1
    aio.run(dialog.syncing)
    # "Open note" takes the clinician to the conflicting note, banner and all.
    dialog.conflicts.setCurrentRow(0)
    assert dialog.open_button.isEnabled()
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    editor = console.window.editor
    aio.wait_until(lambda: editor.note is not None and editor.note.id == summary.note_id)
    aio.wait_until(console.window.conflict_banner.isVisible)
    aio.wait_until(lambda: console.window.sync_details is None)


def test_an_annotation_conflict_is_listed_and_decided_in_the_details(
    aio: Aio, make_console, qtbot
) -> None:
    """A colleague's version of a still's annotations (storage/sync/annotations.py) is
    listed with the notes' conflicts and decided there: taking theirs makes it the newest
    local version, ours stays in the history, and nothing is left open."""
    import io

    from PIL import Image

    from app.annotations import AnnotationsService, Shape, ShapeKind
    from storage.annotations import StoreAnnotations
    from storage.fhir import annotation_mapping as am
    from storage.sync.queue import RemoteRef

    console = make_console()
    sync = _with_sync(console)
    store = console.store
    summary = _summary_with_note(console)
    out = io.BytesIO()
    Image.new("RGB", (400, 300), (120, 90, 60)).save(out, "JPEG")
    still = aio.run(
        store.add_attachment(
            summary.encounter.id,
            "image",
            "image/jpeg",
            out.getvalue(),
            "",
            {"width_px": 400, "height_px": 300},
        )
    )
    service = AnnotationsService(StoreAnnotations(store))
    mine = Shape(ShapeKind.ARROW, ((10.0, 10.0), (100.0, 50.0)))
    theirs = Shape(ShapeKind.LENGTH, ((20.0, 20.0), (220.0, 20.0)))
    layer = aio.run(service.save(still.id, 0, [mine]))
    their_json = am.shapes_document(
        type(layer)(still.id, 1, (theirs,), layer.saved_at, "colleague"), still, None
    ).decode()

    def colleague_conflict(conn) -> None:
        queue.set_remote_ref(conn, "annotation", still.id, RemoteRef("doc-1", "v2", ""))
        queue.record_conflict(conn, "sync", "annotation", still.id, "v3", their_json)

    aio.run(store.transact(colleague_conflict))
    dialog = console.window.show_sync_details()
    overview = aio.run(dialog.loaded)
    assert overview.conflicts == 1
    [text] = dialog.conflict_texts()
    assert text.startswith("Annotations · ") and summary.patient.display_name in text
    assert not dialog.keep_theirs_button.isVisible()
    dialog.conflicts.setCurrentRow(0)
    assert dialog.keep_theirs_button.isVisible() and dialog.keep_mine_button.isVisible()
    qtbot.mouseClick(dialog.keep_theirs_button, Qt.MouseButton.LeftButton)
    overview = aio.run(dialog.loaded)
    assert overview.conflicts == 0
    assert not dialog.keep_theirs_button.isVisible()
    latest = aio.run(service.latest(still.id))
    assert (latest.version, latest.shapes) == (2, (theirs,))
    assert aio.run(service.version(still.id, 1)).shapes == (mine,)
    assert sync.sync_requests >= 1  # the decision goes at the next round
    dialog.close()


def test_retry_sends_a_refused_record_again(aio: Aio, make_console, qtbot) -> None:
    """A refused record waits until edited or until the user presses Retry (audited)."""
    console = make_console()
    sync = _with_sync(console)
    store = console.store
    _summary_with_note(console)
    reason = "HTTP 422 (invalid): DocumentReference.content is required"

    def refuse_first_note(conn) -> str:
        item = next(p.item for p in queue.pending(conn, 100) if p.item.entity_type == "note")
        queue.mark_failed(conn, item, reason)
        return item.entity_id

    refused = aio.run(store.transact(refuse_first_note))
    qtbot.mouseClick(console.window.sync_status.state_button, Qt.MouseButton.LeftButton)
    dialog = console.window.sync_details
    assert dialog is not None
    aio.run(dialog.loaded)
    assert not dialog.retry_button.isEnabled()
    row = next(i for i, t in enumerate(dialog.failure_texts()) if reason in t)
    dialog.failures.setCurrentRow(row)
    assert dialog.retry_button.isEnabled()
    qtbot.mouseClick(dialog.retry_button, Qt.MouseButton.LeftButton)
    overview = aio.run(dialog.loaded)
    assert overview.failed == 0 and not [t for t in dialog.failure_texts() if reason in t]
    assert sync.sync_requests == 1  # the retried record goes at the next round, soon
    pending = aio.run(
        store.transact(lambda conn: [p.item.entity_id for p in queue.pending(conn, 100)])
    )
    assert refused in pending


def test_a_refused_escalation_is_listed_with_retry(aio: Aio, make_console, qtbot) -> None:
    """Escalations are records like the others: refused, they are listed and retried."""
    from app.escalation import Escalation, EscalationAction
    from app.records import new_id
    from storage.coding_store import StoreSafety

    console = make_console()
    _with_sync(console)
    store = console.store
    summary = _summary_with_note(console)
    escalation = Escalation(
        new_id(), summary.encounter.id, utc_now(), (EscalationAction.CALLED_BACK,), "911", "US"
    )
    aio.run(StoreSafety(store).add_escalation(escalation))
    reason = "HTTP 422 (invalid): Communication.status is required"

    def refuse(conn) -> None:
        row = conn.execute(
            "SELECT seq, entity_type, entity_id, op, revision, attempts FROM outbox "
            "WHERE entity_type = 'escalation'"
        ).fetchone()
        queue.mark_failed(conn, queue.OutboxItem(*row), reason)

    aio.run(store.transact(refuse))
    dialog = console.window.show_sync_details()
    aio.run(dialog.loaded)
    row, failure = next((i, t) for i, t in enumerate(dialog.failure_texts()) if reason in t)
    assert failure.startswith(f"Escalation · {summary.patient.display_name}")
    assert escalation.id not in failure
    dialog.failures.setCurrentRow(row)
    assert dialog.retry_button.isEnabled()
    qtbot.mouseClick(dialog.retry_button, Qt.MouseButton.LeftButton)
    overview = aio.run(dialog.loaded)
    assert not [t for t in dialog.failure_texts() if reason in t], overview
    dialog.close()


def test_details_without_a_record_store(aio: Aio, make_console) -> None:
    console = make_console()
    _with_sync(console, service=False)
    dialog = console.window.show_sync_details()
    overview = aio.run(dialog.loaded)
    assert overview.waiting > 0
    assert dialog.state_label.text() == NOT_SET_UP_TEXT
    assert not dialog.sync_now_button.isEnabled()
    dialog.close()


def test_locking_pauses_sync_and_closes_the_details(aio: Aio, make_console) -> None:
    console = make_console()
    sync = _with_sync(console)
    window = console.window
    window.show_sync_details()
    aio.run(window.lock("You locked the console."))
    assert window.sync_details is None or not window.sync_details.isVisible()
    assert not window.sync_action.isEnabled()
    window.sync_action.trigger()
    assert sync.sync_now_calls == 0

    async def unlock_and_stop() -> bool:
        # In one coroutine: the sync task unlock starts must not outlive this loop run.
        unlocked = await window.unlock(PASSPHRASE)
        try:
            # Unlocking restarted the loop, whose first round catches up on what was
            # saved while locked (offline here: nothing listens).
            assert sync.running
            await until(lambda: sync.status.state is SyncState.OFFLINE, timeout=10)
        finally:
            await sync.stop()
        return unlocked

    assert aio.run(unlock_and_stop())
    assert window.sync_action.isEnabled()


# --- wiring in the composition root ---------------------------------------------------


def test_run_gui_starts_sync_when_a_record_store_is_configured(
    profile: Path, tmp_path: Path, qapp, qtbot
) -> None:
    from tests.ui.test_main import _run_gui_with_robot

    (profile / "settings.toml").write_text(f'[record_store]\nurl = "{DEAD_SERVER.url}"\n')
    seen: dict[str, object] = {}

    async def robot(win: QtMainWindow) -> None:
        await until(lambda: win.startup.page() == "passphrase", timeout=10)
        qtbot.keyClicks(win.startup.form.field, PASSPHRASE)
        qtbot.keyClick(win.startup.form.field, Qt.Key.Key_Return)
        await until(lambda: win.sync_status is not None, timeout=20)
        # Started right away; nothing listens on port 9, so it ends up offline.
        await until(lambda: win.sync.status.state is SyncState.OFFLINE, timeout=10)
        seen["text"] = win.sync_status.state_button.text()
        seen["action"] = win.sync_action.isEnabled()
        seen["saved_hook"] = len(win.events.note_did_save)
        win.close()

    code = _run_gui_with_robot(
        robot,
        qapp,
        profile,
        demo=False,
        policy_path=tmp_path / "no-policy.toml",
        key_source=KeySource.PASSPHRASE,
    )
    assert code == 0
    assert str(seen["text"]).startswith("Offline")
    assert seen["action"] is True
    assert seen["saved_hook"] >= 1  # note_did_save reaches SyncService.nudge (follow)


def test_run_gui_without_a_record_store_says_not_set_up(
    profile: Path, tmp_path: Path, qapp, qtbot
) -> None:
    from tests.ui.test_main import _run_gui_with_robot

    seen: dict[str, object] = {}

    async def robot(win: QtMainWindow) -> None:
        await until(lambda: win.startup.page() == "passphrase", timeout=10)
        qtbot.keyClicks(win.startup.form.field, PASSPHRASE)
        qtbot.keyClick(win.startup.form.field, Qt.Key.Key_Return)
        await until(lambda: win.sync_status is not None, timeout=20)
        seen["text"] = win.sync_status.state_button.text()
        seen["sync"] = win.sync.enabled
        seen["action"] = win.sync_action.isEnabled()
        win.close()

    code = _run_gui_with_robot(
        robot,
        qapp,
        profile,
        demo=False,
        policy_path=tmp_path / "no-policy.toml",
        key_source=KeySource.PASSPHRASE,
    )
    assert code == 0
    assert seen == {"text": NOT_SET_UP_TEXT, "sync": False, "action": False}


# --- a pull changes the note that is open ------------------------------------------------


def _pull_into(aio: Aio, store, note_id: str, text: str) -> None:
    """What the engine's pull does for a changed DocumentReference (no unsent edits)."""

    def pull(conn) -> str:
        conn.execute("DELETE FROM outbox WHERE entity_id = ?", (note_id,))
        return queue.apply_pulled_note(conn, store.actor, note_id, "srv-1", "v2", text)

    assert aio.run(store.transact(pull)) == "updated"


def test_a_pulled_change_reloads_the_open_note(aio: Aio, make_console) -> None:
    console = make_console()
    sync = _with_sync(console)
    summary = _summary_with_note(console)
    editor = _open(aio, console, summary)
    pulled = "Plan:\nchanged on the other console"
    _pull_into(aio, console.store, summary.note_id, pulled)
    sync.sync_did_finish.emit(SyncRoundResult(pulled=1, updated_note_ids=(summary.note_id,)))
    aio.wait_until(lambda: "changed on the other console" in editor.text())
    assert not console.window.conflict_banner.isVisible()


def test_a_pull_while_typing_becomes_a_conflict_not_an_overwrite(
    aio: Aio, make_console, qtbot
) -> None:
    console = make_console(debounce_ms=60_000)  # the typing stays unsaved
    sync = _with_sync(console)
    summary = _summary_with_note(console)
    editor = _open(aio, console, summary)
    plan = editor.section("Plan")
    qtbot.keyClicks(plan, " typed here")
    pulled = "Plan:\nchanged elsewhere meanwhile"
    _pull_into(aio, console.store, summary.note_id, pulled)
    sync.sync_did_finish.emit(SyncRoundResult(pulled=1, updated_note_ids=(summary.note_id,)))
    banner = console.window.conflict_banner
    aio.wait_until(banner.isVisible)
    assert banner.conflict is not None and banner.conflict.server_text == pulled
    assert "typed here" in editor.text()  # the clinician's typing is untouched


def test_a_pull_that_brings_visits_refreshes_the_worklist(aio: Aio, make_console) -> None:
    from app.records import Encounter, Patient, new_id, utc_now

    console = make_console()
    sync = _with_sync(console)
    before = len(console.window.worklist.summaries())

    async def arrive() -> None:
        patient = await console.store.add_patient(
            Patient(new_id(), "Pulled", "Visit", "1970-07-07")
        )
        await console.store.add_encounter(Encounter(new_id(), patient.id, utc_now()))

    aio.run(arrive())
    sync.sync_did_finish.emit(SyncRoundResult(pulled=1))
    aio.wait_until(lambda: len(console.window.worklist.summaries()) == before + 1)


def test_details_show_the_pacs_refusals_with_a_retry(aio: Aio, make_console, qtbot) -> None:
    """The PACS's refusal of the credentials and a still past its attempt limit are
    listed beside the record store's refusals, by patient, each with a Retry."""
    from app.errors import PacsAuthError
    from storage.dicom import stow
    from tests.unit.images_support import jpeg_bytes, photo

    console = make_console()
    sync = _with_sync(console)
    store = console.store
    summary = console.window.worklist.summaries()[0]
    still = aio.run(
        store.add_attachment(
            summary.encounter.id, "image", "image/jpeg", jpeg_bytes(photo("astronaut.png"))
        )
    )

    def refuse(conn) -> None:
        conn.execute(
            "UPDATE dicom_outbox SET attempts = ?, last_error = ? WHERE attachment_id = ?",
            (stow.MAX_ATTEMPTS, "the PACS refused the request (HTTP 400)", still.id),
        )
        stow._mark_refused(conn, "tester", "https://pacs/x", {}, PacsAuthError(status=401))

    aio.run(store.transact(refuse))
    dialog = console.window.show_sync_details()
    aio.run(dialog.loaded)
    texts = dialog.failure_texts()
    patient = summary.patient.display_name
    [credentials] = [i for i, t in enumerate(texts) if t.startswith("PACS · sign-in")]
    assert "Re-authenticate" in texts[credentials] and "HTTP 401" in texts[credentials]
    [row] = [i for i, t in enumerate(texts) if t.startswith(f"PACS still · {patient}")]
    assert "HTTP 400" in texts[row] and f"{stow.MAX_ATTEMPTS} attempts" in texts[row]
    for prefix in ("PACS · sign-in", "PACS still"):
        index = next(i for i, t in enumerate(dialog.failure_texts()) if t.startswith(prefix))
        dialog.failures.setCurrentRow(index)
        assert dialog.retry_button.isEnabled()
        qtbot.mouseClick(dialog.retry_button, Qt.MouseButton.LeftButton)
        aio.run(dialog.loaded)
    assert not [t for t in dialog.failure_texts() if t.startswith("PACS")]
    assert sync.sync_requests == 2
    assert aio.run(store.transact(stow.waiting)) >= 1
    dialog.close()
