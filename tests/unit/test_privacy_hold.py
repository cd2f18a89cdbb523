"""Visit.privacy_hold and Visit.is_live (the lock's contract with the visit), on the demo
loopback call: two real aiortc peers on 127.0.0.1, the far end's received audio measured."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from app.visit import Visit, VisitState
from media.visit.loopback import PATIENT_WAITING_ID, LoopbackVisit

pytestmark = pytest.mark.slow


async def _until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


class RecordingSpeaker:
    """Stands in for the sound card (unit tests have no audio output): counts what is played."""

    def __init__(self) -> None:
        self.played = 0

    def play(self, _frame: Any) -> None:
        self.played += 1

    async def stop(self) -> None:
        return None


async def _far_end_hears(track: Any, *, sound: bool, timeout_s: float = 5.0) -> None:
    """Read what the far end receives until it is (not) silent; frames in flight drain first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        frame = await asyncio.wait_for(track.recv(), timeout_s)
        loud = bool(np.abs(frame.to_ndarray()).max() > 100)
        if loud is sound:
            return
    raise AssertionError(f"the far end never heard {'sound' if sound else 'silence'}")


def test_privacy_hold_mutes_the_microphone_and_pauses_playback_then_restores() -> None:
    async def scenario() -> None:
        visit = Visit(encounter_id="demo")
        assert not visit.is_live
        demo = LoopbackVisit(visit, width=320, height=240, fps=15)
        await demo.start()
        speaker = RecordingSpeaker()
        demo._speaker = speaker  # type: ignore[assignment]  # the fake sound card above
        try:
            assert visit.is_live  # waiting for the patient is live: no idle lock
            await demo.admit(PATIENT_WAITING_ID)
            assert visit.state is VisitState.IN_CALL and visit.is_live
            assert demo.pair is not None
            back = demo.pair.back_tracks["audio"]  # what the patient's side receives
            await _far_end_hears(back, sound=True)
            await _until(lambda: speaker.played > 10)

            await visit.privacy_hold(True)
            assert visit.microphone_muted
            await _far_end_hears(back, sound=False)
            played = speaker.played
            frames_then = demo._audio_frames
            await _until(lambda: demo._audio_frames > frames_then + 20)
            assert speaker.played == played  # remote audio still arrives, is not played
            await visit.privacy_hold(True)  # twice: still remembers "was unmuted"

            await visit.privacy_hold(False)
            assert not visit.microphone_muted
            await _far_end_hears(back, sound=True)
            await _until(lambda: speaker.played > played + 10)

            # Muted by the clinician before the lock: still muted after it.
            await demo.set_microphone_muted(True)
            await visit.privacy_hold(True)
            await visit.privacy_hold(False)
            assert visit.microphone_muted
        finally:
            await demo.hang_up()
        assert visit.state is VisitState.ENDED and not visit.is_live
        await visit.privacy_hold(True)  # an ended visit has nothing to hold: no error

    asyncio.run(scenario())


def test_is_live_covers_every_state_but_idle_and_ended() -> None:
    visit = Visit()
    live = {}
    for state in VisitState:
        visit._set_state(state)
        live[state] = visit.is_live
    assert live == {
        VisitState.IDLE: False,
        VisitState.CONNECTING: True,
        VisitState.WAITING: True,
        VisitState.IN_CALL: True,
        VisitState.RECONNECTING: True,
        VisitState.ENDED: False,
    }
