"""Screenshots of every desktop screen at one screen size and language, for people to look at.

    xvfb-run -a -s "-screen 0 1366x768x24" env QT_QPA_PLATFORM=xcb PYTHONPATH=. \\
        .venv/bin/python tests/ui/screen_tour.py --lang es --out tests/artifacts/screens/cart-es

(QT_SCALE_FACTOR=1.5 with a 1920x1080 screen for the workstation at 150 %.) Real
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
        code = loop.run_until_complete(tour(app, Path(tmp), args.out))
    sys.stdout.flush()
    os._exit(code)  # skip Qt's teardown of the windows still open (nothing to save)


async def settle(seconds: float = 0.3) -> None:
    await asyncio.sleep(seconds)


async def tour(app, tmp: Path, out: Path) -> int:
    from app.demo import seed_demo
    from app.events import ConsoleEvents
    from app.services import NotesService
    from app.visit import VisitState
    from media.steth import synth
    from media.steth.capture import RingBuffer
    from plugins.stethoscope._qt import QtStethoscopePanel
    from plugins.stethoscope.plugin import StethoscopeModel
    from tests.ui._visit_script import PATIENT, color_bars, join, make_visit, solid, stats
    from tests.ui.conftest import open_store, passphrase_session
    from ui import geometry
    from ui.main_window import QtMainWindow

    geometry.set_state_file(tmp / "window-state.ini")
    screen = app.primaryScreen()
    print(f"screen {screen.geometry().width()}x{screen.geometry().height()} logical, "
          f"dpr {screen.devicePixelRatio()}")  # fmt: skip
    shots: list[str] = []

    def save(widget, name: str) -> None:
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
    save(steth, "stethoscope")
    visit = made["visit"]
    join(visit, PATIENT)
    visit._set_stats(stats())
    visit.put_frame(PATIENT.participant_id, color_bars())
    visit.put_frame("local-1", solid((40, 90, 120)))
    await settle(0.5)
    save(visit_window, "visit-in-call")
    visit_window.note_button.setChecked(True)
    await settle(0.5)
    save(visit_window, "visit-note-docked")
    visit_window.note_button.setChecked(False)
    visit._set_state(VisitState.ENDED, "The patient left the visit.")
    await settle(0.3)
    save(visit_window, "visit-ended")
    save(window, "main-in-visit")
    visit_window._may_close = True
    visit_window.close()
    await settle(0.3)

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

    window.autosaver.pause()
    steth.model.shutdown()
    await store.close()
    print("\n".join(shots), flush=True)
    return 1 if any("OFF SCREEN" in s for s in shots) else 0


if __name__ == "__main__":
    raise SystemExit(main())
