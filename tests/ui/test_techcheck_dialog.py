"""Visit › Tech check…: rows fill in as probes finish; Check again; a result for IT.

The probes here are in-memory stand-ins: the real ones open devices and the media
server and are tested in tests/integration/media/test_techcheck.py; this file is about
what the window shows.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QLabel

from app.events import ConsoleEvents
from app.techcheck import Measurement, NamedProbe, Status, TechCheck, TechCheckReport
from tests.ui.conftest import Aio
from ui.main_window import QtMainWindow
from ui.techcheck_dialog import OVERALL_TEXT, QtTechCheckDialog

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _check(gate: asyncio.Event | None = None) -> TechCheck:
    async def camera() -> Measurement:
        return Measurement("camera", True, {"width": 1280, "height": 720, "fps": 30})

    async def microphone() -> Measurement:
        return Measurement("microphone", True, {"rms_dbfs": -75.0, "peak_dbfs": -62.0})

    async def speaker() -> Measurement:
        if gate is not None:
            await gate.wait()
        return Measurement("speaker", False, problem="no output")

    async def server() -> Measurement:
        return Measurement("media_server", True, {"connect_ms": 35.0})

    async def bandwidth() -> Measurement:
        return Measurement("bandwidth", True, {"uplink_kbps": 3900.0, "downlink_kbps": 3950.0})

    return TechCheck(
        [
            NamedProbe("camera", camera),
            NamedProbe("microphone", microphone),
            NamedProbe("speaker", speaker),
            NamedProbe("media_server", server),
            NamedProbe("bandwidth", bandwidth),
        ]
    )


def test_rows_fill_in_line_by_line_and_the_result_goes_to_it(qtbot: Any, aio: Aio) -> None:
    gate = asyncio.Event()
    reports: list[TechCheckReport] = []
    dialog = QtTechCheckDialog(lambda: _check(gate), reports.append)
    qtbot.addWidget(dialog)
    dialog.show()
    aio.wait_until(lambda: len(dialog.rows) == 2)  # camera and microphone; speaker waits
    assert not dialog.again.isEnabled()
    assert "Checking" in dialog.headline.text()
    gate.set()
    aio.wait_until(lambda: dialog.report is not None)
    assert list(dialog.rows) == ["camera", "microphone", "speaker", "media_server", "bandwidth"]
    assert dialog.headline.text() == OVERALL_TEXT[Status.RED]
    speaker_text = dialog.findChild(QLabel, "techCheckDetail_speaker").text()
    assert "What to do" in speaker_text
    assert dialog.again.isEnabled()
    assert len(reports) == 1 and reports[0].status is Status.RED
    dialog.resize(640, 460)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert dialog.grab().save(str(ARTIFACTS / "techcheck-dialog.png"))

    dialog.again.click()  # runs every probe again from an empty list
    aio.wait_until(lambda: dialog.report is not None and len(dialog.rows) == 5)
    assert len(reports) == 2


def test_the_visit_menu_offers_the_tech_check(qtbot: Any, aio: Aio) -> None:
    window = QtMainWindow(ConsoleEvents())
    qtbot.addWidget(window)
    assert not window.tech_check_action.isVisible()
    window.set_tech_check(_check, None)
    assert window.tech_check_action.isEnabled()
    assert window._visit_menu.menuAction().isVisible()
    dialog = window.show_tech_check()
    assert dialog is not None
    aio.wait_until(lambda: dialog.report is not None)
    dialog.close()
