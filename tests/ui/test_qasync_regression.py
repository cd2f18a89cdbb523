"""Guards the PySide6 6.11 pin (DESIGN.md §3).

PySide6 6.12.0 on CPython 3.11 drops a reference to ``None`` on every void Qt
call; under qasync that reaches ``Fatal Python error: none_dealloc`` within a
few thousand timer cycles. Lift the pin only when this passes on the newer release.
"""

from __future__ import annotations

import asyncio
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel

from tests.ui.conftest import Aio

CYCLES = 20_000


def test_qasync_survives_20000_timer_cycles(aio: Aio, qtbot) -> None:
    label = QLabel("tick")
    qtbot.addWidget(label)
    none_refs_before = sys.getrefcount(None)

    async def cycles() -> int:
        loop = asyncio.get_running_loop()
        done = 0
        for i in range(CYCLES):
            await asyncio.sleep(0)
            fired = loop.create_future()

            def on_timer(fut: asyncio.Future[None] = fired) -> None:
                # Void Qt calls: each returns None through shiboken.
                label.update()
                label.setToolTip("")
                label.adjustSize()
                fut.set_result(None)

            QTimer.singleShot(0, on_timer)
            await fired
            done += 1
            if i % 1000 == 0:
                label.setText(str(i))
        return done

    assert aio.run(cycles(), timeout=120) == CYCLES
    # A leak of one None reference per call would show up as ~-60,000 here
    # long before the interpreter aborts; allow for unrelated churn.
    assert sys.getrefcount(None) > none_refs_before - 1000
