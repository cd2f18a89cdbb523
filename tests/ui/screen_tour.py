"""Screenshots of every desktop screen at one screen size and language, for people to look at.

    xvfb-run -a -s "-screen 0 1366x768x24" env QT_QPA_PLATFORM=xcb PYTHONPATH=. \\
        .venv/bin/python tests/ui/screen_tour.py --lang es --out tests/artifacts/screens/cart-es

(QT_SCALE_FACTOR=1.5 with a 1920x1080 screen for the workstation at 150 %.) With
``--texts FILE`` it also writes every text a screen shows (labels, buttons, list and
menu entries, titles, tooltips; not the note's own text) as JSON, screen by screen:
tests/ui/test_translations.py reads them for English left in Spanish. Real
widgets over a real demo store; the visit is scripted (tests/ui/_visit_script.py).
Each window is placed as the console places it (ui.geometry) and grabbed, and the
whole screen is grabbed too, so a control off the screen's edge shows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("QT_API", "pyside6")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lang", default="en")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--texts", type=Path, default=None)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtWidgets import QApplication

    from ui.event_loop import ConsoleEventLoop

    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    from ui import i18n, theme

    theme.apply(app)
    assert i18n.set_language(args.lang)  # before the window modules are imported
    loop = ConsoleEventLoop(app)
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as tmp:
        code = loop.run_until_complete(tour(app, Path(tmp), args.out, args.texts))
    sys.stdout.flush()
    os._exit(code)  # skip Qt's teardown of the windows still open (nothing to save)


async def settle(seconds: float = 0.3) -> None:
    await asyncio.sleep(seconds)


def shown_texts(widget) -> list[str]:
    """What ``widget`` and its visible children show: labels, buttons, combo entries,
    list rows, tabs, group titles, placeholders, tooltips and the entries of its menus.
    The note's text (text editors) is the clinician's, not the console's: left out."""
    import re

    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import (
        QAbstractButton,
        QComboBox,
        QGroupBox,
        QLabel,
        QLineEdit,
        QListWidget,
        QMenu,
        QTabBar,
        QWidget,
    )

    texts = [widget.windowTitle()]
    for child in [widget, *widget.findChildren(QWidget)]:
        if isinstance(child, QMenu):
            texts += [a.text() for a in child.actions()]
            continue
        if not child.isVisible():
            continue
        texts.append(child.toolTip())
        if isinstance(child, QLabel):
            texts.append(re.sub(r"<[^>]+>", " ", child.text()))
        elif isinstance(child, QAbstractButton):
            texts.append(child.text())
        elif isinstance(child, QComboBox):
            texts += [child.itemText(i) for i in range(child.count())]
        elif isinstance(child, QGroupBox):
            texts.append(child.title())
        elif isinstance(child, QLineEdit):
            texts.append(child.placeholderText())
        elif isinstance(child, QTabBar):
            texts += [child.tabText(i) for i in range(child.count())]
        elif isinstance(child, QListWidget):
            for i in range(child.count()):
                item = child.item(i)
                texts.append(item.text())
                texts.append(str(item.data(Qt.ItemDataRole.AccessibleTextRole) or ""))
    if hasattr(widget, "menuBar"):
        for menu in widget.menuBar().findChildren(QMenu):
            texts += [a.text() for a in menu.actions()]
    return [t.replace("&", "") for t in texts if t and t.strip()]


async def tour(app, tmp: Path, out: Path, texts_file: Path | None = None) -> int:
    from app.demo import seed_demo
    from app.events import ConsoleEvents
    from app.services import NotesService
    from app.visit import EndReason, MediaDevice, VisitState
    from media.steth import synth
    from media.steth.capture import RingBuffer
    from plugins.stethoscope._qt import QtStethoscopePanel
    from plugins.stethoscope.plugin import StethoscopeModel
    from tests.ui._visit_script import (
        DEVICES,
        PATIENT,
        color_bars,
        join,
        make_visit,
        solid,
        stats,
        waiting_patient,
    )
    from tests.ui.conftest import open_store, passphrase_session
    from ui import geometry
    from ui.main_window import QtMainWindow

    geometry.set_state_file(tmp / "window-state.ini")
    screen = app.primaryScreen()
    print(f"screen {screen.geometry().width()}x{screen.geometry().height()} logical, "
          f"dpr {screen.devicePixelRatio()}")  # fmt: skip
    shots: list[str] = []
    texts: dict[str, list[str]] = {}

    def save(widget, name: str) -> None:
        texts[name] = shown_texts(widget)
        widget.grab().save(str(out / f"{name}.png"))
        screen.grabWindow(0).save(str(out / f"{name}-screen.png"))
        off = geometry.offscreen_controls(widget)
        shots.append(f"{name}: {'fits' if not off else 'OFF SCREEN: ' + ', '.join(off)}")

    profile = tmp / "profile"
    store = await open_store(profile)
    await seed_demo(store, today=datetime.now(UTC))
    events = ConsoleEvents()
    window = QtMainWindow(events)
    window.set_settings_location(profile)
    notes = NotesService(store, events)
    window.show()
    await window.attach(notes, store, session=passphrase_session(store))
    summary = next(s for s in window.worklist.summaries() if s.note_id is not None)
    window.worklist.select_encounter(summary.encounter.id)
    await settle(0.6)
    save(window, "main")

    made = {}

    def factory(encounter_id: str):
        visit, _controls = make_visit()
        visit.encounter_id = encounter_id
        visit._set_state(VisitState.WAITING)
        made["visit"] = visit
        return visit

    window.set_visit_factory(factory)
    visit_window = await window.start_visit(summary.encounter.id)
    steth = QtStethoscopePanel(StethoscopeModel(sample_rate_hz=48_000))
    visit_window.add_panel("Stethoscope", steth)
    ring = RingBuffer(20 * 48_000)
    steth.model.use_ring(ring)
    ring.write(synth.heart_sound(73, 9.0, sample_rate_hz=48_000, snr_db=20.0).astype("float32"))
    await settle(1.5)
    save(visit_window, "visit-waiting")
    visit = made["visit"]
    visit._set_waiting((waiting_patient(), waiting_patient(30.0, "Alex Moreno")))
    await settle(0.3)
    save(visit_window, "visit-waiting-people")
    visit._set_waiting(())
    save(steth, "stethoscope")
    join(visit, PATIENT)
    visit._set_stats(stats())
    visit.put_frame(PATIENT.participant_id, color_bars())
    visit.put_frame("local-1", solid((40, 90, 120)))
    await settle(0.5)
    save(visit_window, "visit-in-call")
    visit_window.quality_badge.setChecked(True)  # the call details over the video
    await settle(0.3)
    save(visit_window, "visit-call-details")
    visit_window.quality_badge.setChecked(False)
    visit_window.note_button.setChecked(True)
    await settle(0.5)
    save(visit_window, "visit-note-docked")
    visit_window.note_button.setChecked(False)
    visit._set_state(VisitState.ENDED, EndReason("visit.end.patient_left"))
    await settle(0.3)
    save(visit_window, "visit-ended")
    save(window, "main-in-visit")
    visit_window._may_close = True
    visit_window.close()
    await settle(0.3)

    tone = MediaDevice("tone", "Test tone", "microphone")  # as media.devices.audio lists it
    window.set_device_lister(lambda: [*DEVICES, tone])
    settings = window.show_settings()
    await settle(0.3)
    save(settings, "settings")
    settings.reject()
    window.set_join_factory(lambda request: None)
    join_dialog = window.show_join_dialog()
    await settle(0.3)
    save(join_dialog, "join")
    join_dialog.reject()
    history = window.show_history(window.editor.note.id)
    await settle(0.6)
    save(history, "history")
    history.close()

    await sync_screens(window, store, summary.note_id, save)
    window.autosaver.pause()
    steth.model.shutdown()
    await store.close()
    print("\n".join(shots), flush=True)
    if texts_file is not None:
        import json

        texts_file.write_text(json.dumps(texts, ensure_ascii=False, indent=1))
        return 0  # the texts are what was asked for; fitting is for the screenshots
    return 1 if any("OFF SCREEN" in s for s in shots) else 0


#: Why records did not go, as the sync engine stores them (its own words, a refusal's
#: message, a server resource's broken rule), and errors whose ``reason`` is English.
REFUSALS = {
    "patient": "needs a decision: several patients on the record store have this MRN",
    "encounter": "The record store refused the request (HTTP 422, invariant).",
    "note": "changed on the server by someone else",
}
QUARANTINED = (
    ("DocumentReference/q1", "meta.versionId is missing or not a string"),
    ("Encounter/q2", "unexpected structure (KeyError)"),
)


def seed_sync_problems(conn, actor: str, note_id: str) -> None:
    """Refused rows (a patient, a visit, a note), a conflict on a note and two server
    resources set aside, in the demo store: what the sync details list."""
    from storage.sync import queue

    rows = conn.execute(
        "SELECT seq, entity_type, entity_id, op, revision, attempts FROM outbox ORDER BY seq"
    ).fetchall()
    for kind, reason in REFUSALS.items():
        row = next(r for r in rows if r[1] == kind and r[2] != note_id)
        item = queue.OutboxItem(int(row[0]), kind, str(row[2]), str(row[3]), int(row[4]), 0)
        queue.mark_failed(conn, item, reason)
        queue.mark_failed(conn, item, reason)  # a second attempt: "2 intentos"
    queue.record_conflict(conn, actor, "note", note_id, "7", "The server's text.")
    for resource, rule in QUARANTINED:
        queue.quarantine(conn, resource, rule)


async def sync_screens(window, store, note_id: str, save) -> None:
    """The sync details with refused rows, a conflict and resources set aside, the record
    store away (a reason in the status); the main window's notice with a device's and
    the media server's reason."""
    from app.errors import DeviceUnavailableError, SyncRetryableError, VisitConnectError
    from app.sync import SyncService, SyncState, _message
    from storage.sync.adapter import StoreSyncQueue

    await store.transact(seed_sync_problems, store.actor, note_id)
    sync = SyncService(StoreSyncQueue(store))
    window.attach_sync(sync)
    sync._publish(
        state=SyncState.OFFLINE,
        **_message(SyncRetryableError(reason="network error (ConnectError)")),
    )
    details = window.show_sync_details()
    await details.loaded
    await settle(0.3)
    save(details, "sync-details")
    details.reject()
    window.presenter.present(DeviceUnavailableError(device="hw:1", reason="device stopped"))
    await settle(0.2)
    save(window, "notice-device")
    window.presenter.present(VisitConnectError(reason="the media server did not answer"))
    await settle(0.2)
    save(window, "notice-visit")
    window.notice.hide()


if __name__ == "__main__":
    raise SystemExit(main())
