"""A headless Chromium patient (the real page on janus.js, fake camera) <-> a console, via Janus.

Chromium runs in the peer namespace and loads the page from nginx configured
from resources/web/nginx-patient.conf.example (TLS, WebSocket proxy to Janus).
The console decodes the browser's frames (Chromium's fake camera, 640x480); the
page decodes the console's barcode frames from a canvas (patient.js), so both
directions are checked on decoded pictures.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from app.visit import VisitState
from tests.integration.media._helpers import frames_from, new_session, session_config, wait_until
from tests.integration.media.services import JanusServer, MediaNet, PatientPageServer

pytestmark = pytest.mark.integration


async def in_thread(fn: Callable[[], Any]) -> Any:
    """Selenium blocks; keep the event loop (and the console's media) running meanwhile."""
    return await asyncio.get_running_loop().run_in_executor(None, fn)


def test_browser_patient_waiting_room_and_call(
    janus: JanusServer, clean_net: MediaNet, patient_page: PatientPageServer, chromium: Any
) -> None:
    from selenium.webdriver.common.by import By

    driver = chromium

    def page_state() -> dict[str, Any]:
        state: dict[str, Any] = driver.execute_script("return window.ccVisit || {}")
        return state

    async def wait_page(
        condition: Callable[[dict[str, Any]], bool], timeout_s: float, what: str
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            state = await in_thread(page_state)
            if condition(state):
                return state
            if state.get("phase") == "error" or time.monotonic() > deadline:
                status = await in_thread(lambda: driver.find_element(By.ID, "status").text)
                raise AssertionError(f"page: {what} not reached; state {state}; status {status!r}")
            await asyncio.sleep(0.2)

    async def scenario() -> None:
        h_visit, host = new_session(
            session_config(
                janus,
                clean_net,
                create=True,
                display="Dr Host",
                page_url=f"{patient_page.origin}/patient/",
            )
        )
        await host.start()
        try:
            link = patient_page.link(host.cfg.room, host.cfg.pin)
            assert "#server=" in link and "pin=" in link.split("#", 1)[1]
            await in_thread(lambda: driver.get(link))
            await wait_page(lambda s: s.get("phase") == "ready", 20, "camera ready")

            def enter_name() -> None:
                driver.find_element(By.ID, "name").send_keys("Pat Browser")
                driver.find_element(By.ID, "join").click()

            await in_thread(enter_name)
            await wait_until(lambda: len(h_visit.waiting) == 1, 15, "the browser patient waiting")
            assert h_visit.waiting[0].display == "Pat Browser"
            state = await wait_page(lambda s: s.get("phase") == "waiting", 5, "waiting")
            status = await in_thread(lambda: driver.find_element(By.ID, "status").text)
            assert "wait" in status.lower()
            assert state["remotes"] == {} and not host.remotes  # sees and hears nobody

            admitted = time.monotonic()
            await host.admit(h_visit.waiting[0].waiting_id)
            await wait_until(lambda: frames_from(host) > 40, 20, "browser video at the console")
            console_s = time.monotonic() - admitted
            state = await wait_page(
                lambda s: any(r.get("stamps", 0) > 40 for r in s.get("remotes", {}).values()),
                20,
                "console barcodes decoded in the browser",
            )
            browser_s = time.monotonic() - admitted
            (remote,) = host.remotes.values()
            assert remote.probe is not None
            # the page's ramp hints + contentHint "detail": 720p from the start (issue 3: < 5 s)
            await wait_until(
                lambda: (
                    (remote.probe.width, remote.probe.height) == (1280, 720)
                    if remote.probe
                    else False
                ),
                max(0.1, 5.0 - (time.monotonic() - admitted)),
                "1280x720 from the browser",
            )
            hd_s = time.monotonic() - admitted
            await wait_until(lambda: remote.audio_frames > 50, 10, "browser audio at the console")
            (seen,) = state["remotes"].values()
            assert (seen["width"], seen["height"]) == (640, 480) and seen["audio"] >= 1
            assert h_visit.state is VisitState.IN_CALL
            stats = await host.refresh_stats()
            inbound = stats.inbound_video()
            print(
                f"browser patient: 1280x720 at the console {hd_s:.2f} s after admit; console "
                f"decodes browser video {console_s:.2f} s after admit, "
                f"browser decodes console barcodes {browser_s:.2f} s after admit; inbound "
                f"{[(t.width_px, t.height_px, t.frames_per_s, t.bitrate_kbps) for t in inbound]}"
            )
            # A 10 s link drop on the browser's side: both directions resume by themselves
            # (the page restarts ICE through Janus; the console re-subscribes).
            stamps_before = seen["stamps"]
            clean_net.blackhole()
            await asyncio.sleep(10)  # the outage itself
            clean_net.clear_impairments()
            restored = time.monotonic()
            frames_before = frames_from(host)
            await wait_until(
                lambda: frames_from(host) > frames_before + 40, 30, "browser video back"
            )
            back_console_s = time.monotonic() - restored

            def resumed(s: dict[str, Any]) -> bool:
                remotes = list(s.get("remotes", {}).values())
                return bool(remotes) and remotes[0].get("stamps", 0) > stamps_before + 40

            state = await wait_page(resumed, 30, "console video back in the browser")
            back_browser_s = time.monotonic() - restored
            print(
                f"after a 10 s blackhole: browser video back at the console "
                f"{back_console_s:.1f} s, console video back in the browser "
                f"{back_browser_s:.1f} s after the link; "
                f"page ICE restarts {state.get('reconnects')}"
            )
            await wait_page(lambda s: not s.get("reconnecting"), 10, "reconnected banner gone")
            await wait_until(lambda: h_visit.state is VisitState.IN_CALL, 10, "console in call")

            # The host ends the visit: the page says so.
            await host.hang_up()
            await wait_page(lambda s: s.get("phase") == "ended", 10, "ended")
        finally:
            await host.close()

    asyncio.run(scenario())
