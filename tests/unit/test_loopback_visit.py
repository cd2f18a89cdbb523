"""A real loopback call (two aiortc peers on 127.0.0.1) driving an app.visit.Visit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from app.visit import CallQuality, Visit, VisitState
from media import framestamp
from media.rtc.install import jitter_stats, receive_path_of
from media.visit.loopback import LOCAL_ID, PATIENT_ID, PATIENT_WAITING_ID, LoopbackVisit

pytestmark = pytest.mark.slow


async def _until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def test_demo_visit_end_to_end() -> None:
    async def scenario() -> None:
        visit = Visit(encounter_id="demo")
        states: list[VisitState] = []
        visit.state_changed.connect(lambda state, _reason: states.append(state))
        demo = LoopbackVisit(visit, width=640, height=480, fps=30)
        assert visit.controls is demo
        await demo.start()
        try:
            assert visit.state is VisitState.WAITING
            assert [w.waiting_id for w in visit.waiting] == [PATIENT_WAITING_ID]
            # Before admission nothing of the patient reaches the window.
            await _until(lambda: demo.probe is not None and demo.probe.frames > 5)
            assert visit.latest_frame(PATIENT_ID) is None
            await demo.admit(PATIENT_WAITING_ID)
            assert visit.state is VisitState.IN_CALL
            assert visit.started_at is not None
            await _until(lambda: visit.latest_frame(PATIENT_ID) is not None)
            frame = visit.latest_frame(PATIENT_ID)
            assert frame.shape == (480, 640, 3)
            assert framestamp.read(frame) is not None  # the barcode survived the call
            await _until(lambda: visit.latest_frame(LOCAL_ID) is not None)
            # Our receive path is the one installed on the console's video receiver.
            receivers = [t.receiver for t in demo.pair.receiver.getTransceivers()]
            assert "ours" in {receive_path_of(r) for r in receivers}
            stats_list = [jitter_stats(r) for r in receivers]
            assert any(s is not None and s.frames_released >= 5 for s in stats_list)
            await _until(
                lambda: any(v.frames_per_s > 10 for v in visit.stats.inbound_video()), timeout_s=8
            )
            video = visit.stats.inbound_video()[0]
            assert video.width_px == 640
            assert visit.stats.quality in (CallQuality.GOOD, CallQuality.FAIR)
            samples = [s.latency_ms for s in demo.probe.samples]
            assert samples and sorted(samples)[len(samples) // 2] < 200
            # Controls.
            await demo.set_microphone_muted(True)
            assert visit.microphone_muted
            await demo.set_camera_enabled(False)
            assert not visit.camera_enabled
            await demo.set_camera_enabled(True)
            await demo.switch_camera("testsrc")
            assert any(d.device_id == "testsrc" for d in demo.devices())
            await demo.remove_participant(PATIENT_ID)
            assert visit.state is VisitState.WAITING
            assert [p.participant_id for p in visit.participants] == [LOCAL_ID]
        finally:
            await demo.hang_up()
        assert visit.state is VisitState.ENDED
        assert visit.end_reason
        assert states[:3] == [VisitState.CONNECTING, VisitState.WAITING, VisitState.IN_CALL]

    asyncio.run(scenario())


def test_pinned_gathering_offers_only_loopback_and_leaves_aioice_alone() -> None:
    from aioice import ice

    from media.devices.camera import open_camera
    from media.rtc.hostaddr import pin_host_addresses
    from media.visit.loopback import connect_pair

    async def scenario() -> None:
        track = open_camera("testsrc", 320, 240, 15)
        pair = await connect_pair([track])
        try:
            for pc in (pair.sender, pair.receiver):
                hosts = {
                    c.ip
                    for c in pc.getTransceivers()[
                        0
                    ].sender.transport.transport.iceGatherer.getLocalCandidates()
                }
                assert hosts == {"127.0.0.1"}
        finally:
            track.stop()
            await pair.close()

    asyncio.run(scenario())
    with pin_host_addresses(["127.0.0.1", "::1"]):
        assert ice.get_host_addresses(use_ipv4=True, use_ipv6=False) == ["127.0.0.1"]
    # Outside the block aioice's own answer, which never includes 127.0.0.1.
    assert "127.0.0.1" not in ice.get_host_addresses(use_ipv4=True, use_ipv6=False)
