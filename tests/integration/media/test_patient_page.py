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
from pathlib import Path
from typing import Any

import pytest

from app.visit import VisitState
from tests.integration.media._helpers import frames_from, new_session, session_config, wait_until
from tests.integration.media.services import JanusServer, MediaNet, PatientPageServer
from tests.integration.media.test_waiting_room_privacy import Snoop

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

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
                browser_server_url=patient_page.server_url,
            )
        )
        await host.start()
        try:
            assert h_visit.invite is not None
            link = h_visit.invite.link
            assert "#server=" in link and "pin=" in link.split("#", 1)[1]
            await in_thread(lambda: driver.get(link))
            await wait_page(lambda s: s.get("phase") == "ready", 20, "camera ready")
            # Read once, the PIN leaves the address bar (and so the history entry); the
            # tab keeps it, so a reload still works.
            url = await in_thread(lambda: driver.current_url)
            assert "pin=" not in url and host.cfg.pin not in url
            await in_thread(driver.refresh)
            await wait_page(lambda s: s.get("phase") == "ready", 20, "camera ready after reload")
            assert host.cfg.pin not in await in_thread(lambda: driver.current_url)

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
            # Someone else holding the link, in the waiting room too, learns nothing.
            snoop = Snoop()
            try:
                await snoop.join(janus, clean_net, host.cfg.room, host.cfg.pin)
                await snoop.list_room(host.cfg.room)
            finally:
                await snoop.close()
            seen = "\n".join(snoop.seen)
            assert "Pat" not in seen and "Browser" not in seen and "v1." in seen

            admitted = time.monotonic()
            await host.admit(h_visit.waiting[0].waiting_id)
            await wait_until(lambda: frames_from(host) > 40, 20, "browser video at the console")
            console_s = time.monotonic() - admitted
            # In the call, the main room's participant list shows the link holder no name.
            snoop = Snoop()
            try:
                await snoop.join(janus, clean_net, host.cfg.room, host.cfg.pin)
                await snoop.list_room(host.cfg.room, main=True)
            finally:
                await snoop.close()
            assert "Pat" not in "\n".join(snoop.seen)
            assert [p.display for p in h_visit.remote_participants()] == ["Pat Browser"]
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


def test_page_refuses_a_media_server_its_configuration_does_not_list(
    janus: JanusServer, clean_net: MediaNet, patient_page: PatientPageServer, chromium: Any
) -> None:
    """The page's own CSP <meta> (from media-servers.toml beside it) is what stops a link
    that names another server; nginx sends no connect-src of its own any more."""
    from app.visit import Invite

    driver = chromium
    listed = patient_page.server_url
    # Same origin as the allowed server, other path: only an exact entry may pass.
    other = listed.replace("/janus", "/elsewhere")
    link = Invite(f"{patient_page.origin}/patient/", other, 1000, "1234567890", "B" * 87).link
    driver.get(link)
    deadline = time.monotonic() + 15
    while True:
        state = driver.execute_script("return window.ccVisit || {}")
        if state.get("phase") in ("error", "ready") or time.monotonic() > deadline:
            break
        time.sleep(0.1)  # polling a browser state with a deadline
    assert state.get("phase") == "error", state
    assert "not" in state.get("error", "") and "server" in state.get("error", "")
    # The browser itself refuses the connection (not only our script's check).
    driver.execute_script(
        """
        window.__violations = [];
        document.addEventListener('securitypolicyviolation',
            (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
        try { new WebSocket(arguments[0], 'janus-protocol'); }
        catch (e) { window.__violations.push('threw ' + e.name); }
        """,
        other,
    )
    deadline = time.monotonic() + 5
    while not (found := driver.execute_script("return window.__violations")):
        assert time.monotonic() < deadline, "Chromium connected to a server the page does not list"
        time.sleep(0.1)
    assert any("connect-src" in v or "threw" in v for v in found), found
    csp = driver.execute_script(
        "const m = document.querySelector('meta[http-equiv=\"Content-Security-Policy\"]');"
        "return m && m.content"
    )
    assert csp and listed in csp and "default-src 'none'" in csp


def test_browser_patient_who_left_rejoins_and_one_removed_is_refused(
    janus: JanusServer, clean_net: MediaNet, patient_page: PatientPageServer, chromium: Any
) -> None:
    """ "Join again" after Leave goes straight back in with the tab's token; after the host
    removes the patient, that token opens nothing (Janus refuses it)."""
    from selenium.webdriver.common.by import By

    driver = chromium

    async def page() -> dict[str, Any]:
        state: dict[str, Any] = await in_thread(
            lambda: driver.execute_script("return window.ccVisit || {}")
        )
        return state

    async def wait_page(condition: Callable[[dict[str, Any]], bool], what: str) -> None:
        deadline = time.monotonic() + 20
        while not condition(state := await page()):
            assert time.monotonic() < deadline, f"page: {what} not reached; state {state}"
            await asyncio.sleep(0.2)

    def click(element_id: str) -> None:
        driver.find_element(By.ID, element_id).click()

    async def scenario() -> None:
        h_visit, host = new_session(
            session_config(
                janus,
                clean_net,
                create=True,
                display="Dr Host",
                page_url=f"{patient_page.origin}/patient/",
                browser_server_url=patient_page.server_url,
            )
        )
        await host.start()
        try:
            assert h_visit.invite is not None
            await in_thread(lambda: driver.get(h_visit.invite.link if h_visit.invite else ""))
            await wait_page(lambda s: s.get("phase") == "ready", "camera ready")

            def enter_name() -> None:
                driver.find_element(By.ID, "name").send_keys("Pat Rejoin")
                click("join")

            await in_thread(enter_name)
            await wait_until(lambda: len(h_visit.waiting) == 1, 15, "the patient waiting")
            await host.admit(h_visit.waiting[0].waiting_id)
            await wait_until(lambda: frames_from(host) > 20, 20, "browser video at the console")
            (feed,) = host.remotes
            # the page derived its participant id from its token exactly as the host does
            assert feed in host.admitted

            await in_thread(lambda: click("leave"))
            await wait_page(lambda s: s.get("phase") == "ended", "left")
            await wait_until(lambda: not host.remotes, 10, "the console dropping the patient")
            await in_thread(lambda: click("rejoin"))
            await wait_until(lambda: frames_from(host) > 20, 20, "the patient back, not waiting")
            assert not h_visit.waiting

            await host.remove_participant(str(feed))
            await wait_page(lambda s: s.get("phase") == "ended", "removed")
            assert feed not in host.admitted
            # removed: the camera and microphone are off, and no "Join again" is offered
            assert await in_thread(lambda: driver.execute_script("return ccLiveTracks()")) == 0
            assert not await in_thread(lambda: driver.find_element(By.ID, "rejoin").is_displayed())
            # The removed tab tries again with its token (what "Join again" would send).
            await in_thread(
                lambda: driver.execute_script("document.getElementById('rejoin').hidden = false")
            )
            await in_thread(lambda: click("rejoin"))
            await wait_page(lambda s: s.get("phase") == "error", "refused")
            assert "did not let you in" in (await page()).get("error", "")
            assert not host.remotes
        finally:
            await host.close()

    asyncio.run(scenario())


def test_the_page_checks_camera_microphone_and_speaker_before_joining(
    janus: JanusServer, clean_net: MediaNet, patient_page: PatientPageServer, chromium: Any
) -> None:
    """The tech check's patient half: camera size, a moving microphone level, a test
    sound; at a laptop's size and a phone's (Chromium's fake devices: a camera that
    gives what is asked, and a beeping microphone)."""
    from app.visit import Invite

    driver = chromium
    link = Invite(
        f"{patient_page.origin}/patient/", patient_page.server_url, 1000, "1234567890", "B" * 87
    ).link
    driver.set_window_size(1280, 800)
    driver.get(link)
    deadline = time.monotonic() + 15
    while (state := driver.execute_script("return window.ccVisit || {}")).get("phase") != "ready":
        assert time.monotonic() < deadline, state
        time.sleep(0.1)  # polling a browser state with a deadline
    assert state["check"]["camera"] == "1280x720"  # what the page asks for, and gets
    assert "1280x720" in driver.find_element("id", "camera-info").text
    driver.find_element("id", "name").click()  # a touch lets the page's audio start
    deadline = time.monotonic() + 10
    while driver.execute_script("return window.ccVisit.check.micPeak") < 0.01:
        assert time.monotonic() < deadline, "the microphone level never moved"
        time.sleep(0.1)  # polling a browser state with a deadline
    driver.find_element("id", "speaker-test").click()
    assert driver.execute_script("return window.ccVisit.check.speakerPlayed") is True
    assert "beep" in driver.find_element("id", "speaker-info").text
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "patient-page-check-1280x800.png"))
    driver.set_window_size(390, 844)
    driver.save_screenshot(str(ARTIFACTS / "patient-page-check-phone.png"))
