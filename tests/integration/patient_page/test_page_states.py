"""Every state of the patient page, in headless Chromium against a real Janus and console.

Chromium runs in the test namespace with its fake devices (a 640x480 camera, a beeping
microphone); the clinician is a real console session (media/visit/session.py) hosting
the visit through the same Janus. Each state is checked at a laptop's size (1280x800)
and a phone's (390x844): what the page says, that every control is on screen and at
least 44 px, and that the camera and microphone are released on every way out.
Screenshots go to tests/artifacts/patient-page/ (English and Spanish, both sizes).
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from app.visit import Invite, VisitState
from media.visit.session import VisitSession
from tests.integration.media._helpers import (
    finish_cli,
    new_session,
    session_config,
    start_cli,
    wait_until,
)
from tests.integration.media.services import JanusServer, MediaNet, PatientPageServer

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "patient-page"
LAPTOP = (1280, 800)
PHONE = (390, 844)

pytestmark = pytest.mark.integration


async def in_thread(fn: Callable[[], Any]) -> Any:
    """Selenium blocks; keep the event loop (and the console's media) running meanwhile."""
    return await asyncio.get_running_loop().run_in_executor(None, fn)


class Page:
    """The patient's tab, driven from an event loop that also runs the console."""

    def __init__(self, driver: Any, lang: str = "en", size: tuple[int, int] = LAPTOP) -> None:
        self.driver = driver
        self.lang = lang
        self.size = size  # the viewport the test clicks in (shot() visits both, then back)

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    async def state(self) -> dict[str, Any]:
        state: dict[str, Any] = await in_thread(lambda: self.js("return window.ccVisit || {}"))
        return state

    async def wait(
        self, condition: Callable[[dict[str, Any]], Any], what: str, timeout_s: float = 20
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while not condition(state := await self.state()):
            if time.monotonic() > deadline:
                status = await self.text("status")
                raise AssertionError(f"page: {what} not reached; {state}; status {status!r}")
            await asyncio.sleep(0.2)
        return state

    async def phase(self, phase: str, timeout_s: float = 20) -> dict[str, Any]:
        return await self.wait(lambda s: s.get("phase") == phase, phase, timeout_s)

    async def text(self, element_id: str) -> str:
        text: str = await in_thread(lambda: self.js(f"return $text('{element_id}')"))
        return text

    async def click(self, element_id: str) -> None:
        await in_thread(lambda: self.driver.find_element("id", element_id).click())

    async def type(self, element_id: str, text: str) -> None:
        await in_thread(lambda: self.driver.find_element("id", element_id).send_keys(text))

    async def live_tracks(self) -> int:
        count: int = await in_thread(lambda: self.js("return window.ccLiveTracks()"))
        return count

    async def visible(self, element_id: str) -> bool:
        shown: bool = await in_thread(
            lambda: self.driver.find_element("id", element_id).is_displayed()
        )
        return shown

    async def attr(self, element_id: str, name: str) -> Any:
        return await in_thread(
            lambda: self.js(f"return document.getElementById('{element_id}')[{name!r}]")
        )

    async def set_language(self, lang: str) -> None:
        """What the Language box does (it is hidden during the call; the words still switch)."""
        await in_thread(
            lambda: self.js(
                "const box = document.getElementById('language');"
                "box.value = arguments[0]; box.dispatchEvent(new Event('change'));",
                lang,
            )
        )

    async def shot(self, name: str) -> None:
        """The state at both sizes and in both languages, checking each time that its
        controls fit, are big enough and are named."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for lang in (self.lang, "es" if self.lang == "en" else "en"):
            await self.set_language(lang)
            for width, height in (LAPTOP, PHONE):
                await in_thread(functools.partial(self.set_viewport, width, height))
                await self.check_controls(f"{name} in {lang} at {width}x{height}")
                path = ARTIFACTS / f"{name}-{lang}-{width}x{height}.png"
                await in_thread(functools.partial(self.driver.save_screenshot, str(path)))
        await self.set_language(self.lang)
        await in_thread(functools.partial(self.set_viewport, *self.size))

    def set_viewport(self, width: int, height: int) -> None:
        """The window's inner size (what a laptop or phone shows), not its outer size."""
        # The window's frame is outer minus inner; a resize may land a moment after the
        # call returns, so correct by what the page reports until it matches.
        outer = [width, height]
        deadline = time.monotonic() + 5
        while True:
            self.driver.set_window_size(*outer)
            inner = self.js("return [window.innerWidth, window.innerHeight]")
            if inner == [width, height]:
                return
            assert time.monotonic() < deadline, f"viewport {inner}, wanted {width}x{height}"
            outer = [outer[0] + width - inner[0], outer[1] + height - inner[1]]

    async def check_controls(self, where: str) -> None:
        """Every visible button and field: inside the viewport horizontally, >= 44 px,
        labelled; the call's buttons and Join also inside it vertically (never below)."""
        found = await in_thread(
            lambda: self.js(
                r"""
                const out = [];
                for (const el of document.querySelectorAll('button, input, select')) {
                  const r = el.getBoundingClientRect();
                  if (!r.width || !r.height) continue;  // hidden
                  const label = el.getAttribute('aria-label') || el.labels?.[0]?.textContent
                    || el.textContent;
                  out.push({id: el.id, top: r.top, bottom: r.bottom, left: r.left,
                            right: r.right, w: r.width, h: r.height,
                            label: (label || '').trim()});
                }
                // WCAG contrast of each visible button's and the status line's text on
                // their own background (all of them paint one).
                const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
                const lum = ([r, g, b]) => [r, g, b].map((v) => {
                  v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
                }).reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
                const contrast = [];
                for (const el of document.querySelectorAll('button, #status, .away')) {
                  if (!el.getClientRects().length || el.disabled) continue;
                  const st = getComputedStyle(el);
                  const fg = lum(rgb(st.color)), bg = lum(rgb(st.backgroundColor));
                  contrast.push({id: el.id || el.className,
                                 ratio: (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05)});
                }
                return {controls: out, vw: innerWidth, vh: innerHeight, contrast,
                        scroll: document.documentElement.scrollWidth};
                """
            )
        )
        vw, vh = found["vw"], found["vh"]
        for c in found["contrast"]:
            assert c["ratio"] >= 4.5, f"{where}: {c['id']} text contrast {c['ratio']:.2f} < 4.5"
        assert found["scroll"] <= vw + 1, f"{where}: the page scrolls sideways"
        for c in found["controls"]:
            assert c["label"], f"{where}: {c['id']} has no name"
            assert c["h"] >= 44 and c["w"] >= 44, f"{where}: {c['id']} is {c['w']}x{c['h']} px"
            assert c["left"] >= 0 and c["right"] <= vw + 1, f"{where}: {c['id']} off screen"
            if c["id"] in ("mute", "video-off", "leave", "join", "rejoin", "retry-devices"):
                assert c["top"] >= 0 and c["bottom"] <= vh + 1, f"{where}: {c['id']} below the fold"


async def open_page(
    driver: Any, url: str, lang: str = "en", size: tuple[int, int] = LAPTOP
) -> Page:
    page = Page(driver, lang, size)
    await in_thread(lambda: page.set_viewport(*size))
    await in_thread(lambda: driver.get(url))
    # a tiny helper for reading element text from tests (the page's CSP allows scripts
    # only from its origin, but WebDriver's own script injection is not subject to it)
    await in_thread(
        lambda: driver.execute_script(
            "window.$text = (id) => document.getElementById(id).textContent.trim()"
        )
    )
    return page


def host_for(
    janus: JanusServer, net: MediaNet, server: PatientPageServer, **extra: Any
) -> tuple[Any, VisitSession]:
    return new_session(
        session_config(
            janus,
            net,
            create=True,
            display="Dr Host",
            page_url=f"{server.origin}/patient/",
            browser_server_url=server.server_url,
            **extra,
        )
    )


async def join_and_admit(page: Page, visit: Any, host: VisitSession, name: str) -> None:
    await page.phase("ready")
    await page.type("name", name)
    await page.click("join")
    await page.phase("waiting")
    await wait_until(lambda: len(visit.waiting) == 1, 15, "the patient waiting at the console")
    await host.admit(visit.waiting[0].waiting_id)
    await page.wait(lambda s: s.get("phase") == "in_call" and s.get("published"), "in the call")


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())  # type: ignore[arg-type]


# -- the whole visit: ready, waiting, admitted, controls, leave, rejoin, ended -----------


@pytest.mark.parametrize("lang", ["en", "es"])
def test_a_visit_from_link_to_end_in_every_state(
    lang: str,
    page_janus: JanusServer,
    page_net: MediaNet,
    page_server: PatientPageServer,
    browser: Callable[..., Any],
) -> None:
    """English from an English browser on a laptop; Spanish from a Spanish one
    (intl.accept_languages) on a phone."""
    prefs = {"intl.accept_languages": "es-ES,es" if lang == "es" else "en-US,en"}
    driver = browser(prefs=prefs, flags=[f"--lang={'es-ES' if lang == 'es' else 'en-US'}"])
    words = {
        "en": ("Join the visit", "wait", "Leave", "You left", "has ended", "Join again"),
        "es": ("Entrar a la consulta", "Espere", "Salir", "Salió", "ha terminado", "Volver"),
    }[lang]

    async def scenario() -> None:
        visit, host = host_for(page_janus, page_net, page_server)
        await host.start()
        try:
            assert visit.invite is not None and "steth" not in visit.invite.link
            # the Spanish patient is on a phone: every click below happens at 390x844
            page = await open_page(
                driver, visit.invite.link, lang, PHONE if lang == "es" else LAPTOP
            )
            state = await page.phase("ready")
            assert state["lang"] == lang
            assert words[0] in await page.text("join")
            # the stethoscope is offered only when the clinic's link asks for it
            assert not await page.visible("stethoscope-box")
            assert state["check"]["camera"] == "1280x720"
            await page.shot("ready")

            await page.type("name", "Pat Browser")
            await page.click("join")
            await page.phase("waiting")
            assert words[1] in await page.text("status")
            title = await in_thread(lambda: driver.title)
            await wait_until(lambda: len(visit.waiting) == 1, 15, "the patient waiting")
            await page.shot("waiting")

            await host.admit(visit.waiting[0].waiting_id)
            state = await page.wait(
                lambda s: any(r.get("stamps", 0) > 10 for r in s.get("remotes", {}).values()),
                "the console's video decoded in the page",
            )
            # admitted while looking elsewhere: the title changes and a chime plays
            assert await in_thread(lambda: driver.title) != title
            assert "●" in await in_thread(lambda: driver.title)
            await page.wait(lambda s: s.get("chimes", 0) >= 1, "the admission chime")
            assert state["admittedAt"] > 0 and not state["clinicianAway"]
            assert words[2] in await page.text("leave")
            assert not await page.visible("language-box")  # chosen before the call
            await page.shot("in-call")

            # Mute and camera: pressed states announced, labels in the page's language.
            await page.click("mute")
            assert await page.attr("mute", "ariaPressed") == "true"
            assert await page.text("mute") == {"en": "Unmute", "es": "Activar sonido"}[lang]
            await page.click("mute")
            assert await page.attr("mute", "ariaPressed") == "false"
            await page.click("video-off")
            assert await page.attr("video-off", "ariaPressed") == "true"
            await page.click("video-off")

            # Leave: a clean screen (no frozen clinician), the camera light off, Rejoin.
            assert await page.live_tracks() == 2
            await page.click("leave")
            state = await page.phase("ended")
            assert state["ended"] == "left"
            assert await page.live_tracks() == 0
            assert not await page.visible("call") and not await page.visible("controls")
            assert await page.attr("remotes", "childElementCount") == 0
            assert words[3] in await page.text("ended-title")
            assert words[5] in await page.text("rejoin")
            await page.shot("left")
            await wait_until(lambda: not host.remotes, 10, "the console dropping the patient")

            await page.click("rejoin")
            await page.wait(lambda s: s.get("phase") == "in_call" and s.get("published"), "back in")
            assert not visit.waiting  # straight back in with the tab's token
            assert await page.live_tracks() == 2

            await host.hang_up()
            state = await page.phase("ended")
            assert state["ended"] == "ended"
            assert words[4] in await page.text("ended-title")
            assert await page.live_tracks() == 0
            await page.shot("ended")
        finally:
            await host.close()

    run(scenario)


# -- the clinician's console drops --------------------------------------------------------


def test_the_clinicians_console_drops_and_the_patient_is_told_to_stay(
    page_janus: JanusServer,
    page_net: MediaNet,
    page_server: PatientPageServer,
    browser: Callable[..., Any],
) -> None:
    driver = browser()

    async def scenario() -> None:
        visit, host = host_for(page_janus, page_net, page_server)
        await host.start()
        try:
            assert visit.invite is not None
            page = await open_page(driver, visit.invite.link)
            await join_and_admit(page, visit, host, "Pat Drop")
            await page.wait(lambda s: len(s.get("remotes", {})) == 1, "the clinician's video")

            # First a console that hangs (its process stuck, its network gone): nothing
            # reaches Janus any more, and Janus says nothing until its session times
            # out. The page notices the silence by itself, and the return.
            release = asyncio.Event()

            class Stuck:
                """A source that gives nothing until released, then its old source's."""

                def __init__(self, source: Any) -> None:
                    self.source = source

                async def recv(self) -> Any:
                    await release.wait()
                    return await self.source.recv()

            gates = (host._video_gate, host._audio_gate)
            sources = [gate.source for gate in gates]
            for gate, source in zip(gates, sources, strict=True):
                gate.source = Stuck(source)
            state = await page.wait(lambda s: s.get("clinicianAway"), "the stall noticed", 15)
            assert state["stalled"] and len(state["remotes"]) == 1
            assert "stay on this page" in await page.text("status")
            release.set()
            for gate, source in zip(gates, sources, strict=True):
                gate.source = source
            await page.wait(lambda s: not s.get("clinicianAway"), "the stall over", 15)
            assert await page.text("status") == "You are in the visit."
            # (the console's own watchdog may rebuild its publisher after the stall: let
            # it settle, and the page with it, before the next way of dropping out)
            await wait_until(
                lambda: not host._any_rebuilding() and visit.state is VisitState.IN_CALL,
                30,
                "the console settled",
            )
            await page.wait(
                lambda s: not s.get("clinicianAway") and len(s.get("remotes", {})) == 1,
                "the page settled",
            )

            # The console's media stops (what Janus tells the others when the console's
            # connection dies: "unpublished"); the rooms stay.
            assert host.main is not None
            # (the console's own recovery would republish within a second or two; hold it
            # off until the page's notice is checked, then let it run)
            host._pub_rebuilding = True
            await host.main.unpublish()
            state = await page.wait(lambda s: s.get("clinicianAway"), "the clinician away")
            assert state["phase"] == "in_call" and state["remotes"] == {}
            assert "stay on this page" in await page.text("status")
            assert await page.visible("away") and await page.visible("leave")
            assert await page.live_tracks() == 2  # still ready for when they come back
            await page.shot("clinician-away")
            # The console comes back (its own recovery: a fresh handle, same participant).
            # A private hook, because a real network cut would cut the browser off too.
            host._pub_rebuilding = False
            host._schedule_rebuild(None, "test: the console is back")
            await wait_until(
                lambda: not host._any_rebuilding() and visit.state is VisitState.IN_CALL,
                30,
                "the console republished",
            )

            # One snapshot of the flag, the notice and the status line together (the
            # console's recovery may cycle its publisher once more on the way back).
            def screen() -> dict[str, Any]:
                shown: dict[str, Any] = driver.execute_script(
                    "const s = window.ccVisit; return {away: s.clinicianAway, drops: s.drops,"
                    " notice: !document.getElementById('away').hidden,"
                    " status: document.getElementById('status').textContent,"
                    " stamps: Object.values(s.remotes).map((r) => r.stamps)}"
                )
                return shown

            deadline = time.monotonic() + 30
            while not (
                not (seen := await in_thread(screen))["away"]
                and any(n > 10 for n in seen["stamps"])
            ):
                assert time.monotonic() < deadline, f"the clinician never came back: {seen}"
                await asyncio.sleep(0.2)
            assert seen["drops"] >= 2 and not seen["notice"]
            assert seen["status"] == "You are in the visit."
            await host.hang_up()
            await page.phase("ended")
            assert await page.live_tracks() == 0
        finally:
            await host.close()

    run(scenario)


def test_a_waiting_patient_leaves_comes_back_is_turned_away_or_the_visit_closes(
    page_janus: JanusServer,
    page_net: MediaNet,
    page_server: PatientPageServer,
    browser: Callable[..., Any],
) -> None:
    """The ways out of the waiting room: the patient's own Leave (and Join again back to
    waiting), the clinician turning them away, the clinician closing the visit."""
    driver = browser()

    async def scenario() -> None:
        visit, host = host_for(page_janus, page_net, page_server)
        await host.start()
        try:
            assert visit.invite is not None
            page = await open_page(driver, visit.invite.link)
            await page.phase("ready")
            await page.type("name", "Pat Waits")
            await page.click("join")
            await page.phase("waiting")
            # waiting: Join gives way to "Leave the waiting room"
            assert await page.visible("cancel") and not await page.visible("join")
            await wait_until(lambda: len(visit.waiting) == 1, 15, "the patient waiting")

            await page.click("cancel")
            state = await page.phase("ended")
            assert state["ended"] == "left" and await page.live_tracks() == 0
            await wait_until(lambda: not visit.waiting, 10, "the console's list emptied")

            await page.click("rejoin")  # not admitted yet: back to the waiting room
            await page.phase("waiting")
            assert await page.live_tracks() == 2
            await wait_until(lambda: len(visit.waiting) == 1, 15, "waiting again")

            await host.remove_participant(visit.waiting[0].waiting_id)  # turned away
            state = await page.phase("error")
            assert "did not let you in" in state["error"]
            assert await page.live_tracks() == 0
            assert not await page.visible("rejoin")
            await page.shot("turned-away")

            await page.click("reload")
            await page.phase("ready")
            await page.type("name", "Pat Waits")
            await page.click("join")
            await page.phase("waiting")
            await wait_until(lambda: len(visit.waiting) == 1, 15, "waiting once more")
            await host.hang_up()  # the clinician closes the visit with the patient waiting
            state = await page.phase("ended")
            assert state["ended"] == "ended" and await page.live_tracks() == 0
        finally:
            await host.close()

    run(scenario)


# -- no link: the visit number + PIN form, and an early patient who waits -----------------


def test_room_and_pin_form_early_patient_waits_and_gets_in(
    page_janus: JanusServer,
    page_net: MediaNet,
    page_server: PatientPageServer,
    browser: Callable[..., Any],
) -> None:
    """No link at all: the page asks for visit number and PIN; the visit has not started,
    so it keeps trying by itself; once the clinician opens it, the patient waits (their
    name sealed with the key the page read from the waiting room) and is let in."""
    driver = browser()
    room = secrets.randbelow(2**40) * 2 + 2
    pin = "".join(secrets.choice("0123456789") for _ in range(10))

    async def scenario() -> None:
        page = await open_page(driver, f"{page_server.origin}/patient/")
        await page.phase("code")
        assert await page.live_tracks() == 0  # no camera before the patient says who they are
        await page.shot("code")
        await page.type("code-room", "12ab")
        await page.type("code-pin", pin)
        await page.click("code-go")
        assert "digits" in await page.text("status")
        await in_thread(lambda: driver.find_element("id", "code-room").clear())
        await page.type("code-room", str(room))
        await page.click("code-go")
        await page.phase("ready")
        await page.type("name", "Pat Early")
        await page.click("join")
        state = await page.phase("early")
        assert "not started" in await page.text("status")
        await page.shot("early")
        # it tries again by itself (every 5 s) while nothing exists
        await page.wait(lambda s: s.get("retries", 0) >= 2, "a second try", 15)

        visit, host = host_for(page_janus, page_net, page_server, room=room, pin=pin)
        await host.start()
        try:
            await wait_until(lambda: len(visit.waiting) == 1, 20, "the early patient waiting")
            assert visit.waiting[0].display == "Pat Early"  # sealed to the right key
            state = await page.phase("waiting")
            await host.admit(visit.waiting[0].waiting_id)
            state = await page.wait(lambda s: s.get("published"), "in the call")
            assert state["phase"] == "in_call"
        finally:
            await host.close()

    run(scenario)


def test_wrong_pin_releases_the_camera_keyboard_only(
    page_janus: JanusServer,
    page_net: MediaNet,
    page_server: PatientPageServer,
    browser: Callable[..., Any],
) -> None:
    from selenium.webdriver.common.keys import Keys

    driver = browser()

    async def scenario() -> None:
        visit, host = host_for(page_janus, page_net, page_server)
        await host.start()
        try:
            assert visit.invite is not None
            bad = Invite(
                visit.invite.page_url,
                visit.invite.server_url,
                visit.invite.room,
                "0000000000",
                visit.invite.host_key,
            )
            page = await open_page(driver, bad.link)
            await page.phase("ready")
            assert await page.live_tracks() == 2
            # keyboard only: the name field has the focus, Enter joins
            assert await in_thread(lambda: page.js("return document.activeElement.id")) == "name"
            await in_thread(
                lambda: driver.switch_to.active_element.send_keys("Pat Wrong" + Keys.ENTER)
            )
            state = await page.phase("error")
            # and lands on what can be done next
            assert await in_thread(lambda: page.js("return document.activeElement.id")) == "reload"
            assert "PIN" in state["error"]
            assert await page.live_tracks() == 0
            assert not visit.waiting
            await page.shot("wrong-pin")
        finally:
            await host.close()

    run(scenario)


def test_an_unreachable_media_server_releases_the_camera_and_offers_try_again(
    page_server: PatientPageServer, browser: Callable[..., Any]
) -> None:
    """The link names a server the page lists, but nothing answers there."""
    driver = browser()
    link = Invite(
        f"{page_server.origin}/patient/", page_server.dead_server_url, 1000, "1234567890", "B" * 87
    ).link

    async def scenario() -> None:
        page = await open_page(driver, link)
        await page.phase("ready")
        assert await page.live_tracks() == 2
        await page.type("name", "Pat Offline")
        await page.click("join")
        state = await page.phase("error")
        assert "cannot be reached" in state["error"]
        assert await page.live_tracks() == 0
        assert await page.visible("reload") and not await page.visible("rejoin")
        await page.shot("unreachable")
        await page.click("reload")  # starts afresh: the camera comes back for the next try
        await page.phase("ready")
        assert await page.live_tracks() == 2

    run(scenario)


# -- devices: blocked, missing camera, sound only, stethoscope ----------------------------


def test_blocked_camera_and_microphone_show_this_browsers_steps_and_try_again(
    page_server: PatientPageServer, browser: Callable[..., Any]
) -> None:
    driver = browser(flags=["--use-fake-ui-for-media-stream=deny"])
    link = Invite(
        f"{page_server.origin}/patient/", page_server.server_url, 1000, "1234567890", "B" * 87
    ).link

    async def scenario() -> None:
        page = await open_page(driver, link)
        state = await page.phase("blocked")
        assert state["blockedKind"] == "denied"
        steps = await page.text("blocked-steps")
        assert "address bar" in steps  # Chromium's own steps, not an error name
        assert "NotAllowedError" not in await page.text("status") + steps
        assert await page.visible("retry-devices")
        await page.shot("blocked")
        await page.click("retry-devices")
        await page.phase("blocked")  # still blocked: the same help, no dead end
        await page.set_language("es")  # the Language box, on the first screen
        assert "barra de direcciones" in await page.text("blocked-steps")
        assert "Intentar de nuevo" in await page.text("retry-devices")

    run(scenario)


def test_a_patient_without_a_camera_joins_with_sound_only(
    page_janus: JanusServer,
    page_net: MediaNet,
    page_server: PatientPageServer,
    browser: Callable[..., Any],
) -> None:
    # Chromium's fake capture with no video devices: the microphone still works.
    driver = browser(flags=["--use-fake-device-for-media-stream=device-count=0"])

    async def scenario() -> None:
        visit, host = host_for(page_janus, page_net, page_server)
        await host.start()
        try:
            assert visit.invite is not None
            page = await open_page(driver, visit.invite.link)
            state = await page.phase("ready")
            assert state["audioOnly"] and state["check"]["camera"] == ""
            assert "hear you" in await page.text("camera-info")
            assert await page.live_tracks() == 1
            await page.shot("no-camera")
            await join_and_admit(page, visit, host, "Pat Voice")
            await wait_until(
                lambda: any(r.audio_frames > 50 for r in host.remotes.values()),
                15,
                "the patient's voice at the console",
            )
            assert not await page.visible("video-off")  # no camera, no camera button
            assert await page.visible("mute") and await page.visible("leave")
            await page.shot("in-call-sound-only")
        finally:
            await host.close()

    run(scenario)


def test_join_without_camera_turns_the_camera_off_at_once(
    page_janus: JanusServer,
    page_net: MediaNet,
    page_server: PatientPageServer,
    browser: Callable[..., Any],
) -> None:
    driver = browser()

    async def scenario() -> None:
        visit, host = host_for(page_janus, page_net, page_server, patient_stethoscope=True)
        await host.start()
        try:
            assert visit.invite is not None and "steth=1" in visit.invite.link
            page = await open_page(driver, visit.invite.link)
            await page.phase("ready")
            assert await page.visible("stethoscope-box")  # the link asked for it
            await page.shot("ready-stethoscope")
            await page.type("name", "Pat Shy")
            await page.click("join-audio")
            await page.phase("waiting")
            assert await page.live_tracks() == 1  # the microphone only
            await wait_until(lambda: len(visit.waiting) == 1, 15, "waiting")
            await host.admit(visit.waiting[0].waiting_id)
            state = await page.wait(lambda s: s.get("published"), "in the call")
            assert state["audioOnly"]
            await wait_until(
                lambda: any(r.audio_frames > 20 for r in host.remotes.values()), 15, "voice"
            )
            assert not any(r.probe and r.probe.frames for r in host.remotes.values())
            assert visit.state is VisitState.IN_CALL
        finally:
            await host.close()

    run(scenario)


def test_the_stethoscope_the_link_asks_for_reaches_the_consoles_stethoscope_panel(
    page_janus: JanusServer,
    page_net: MediaNet,
    page_server: PatientPageServer,
    browser: Callable[..., Any],
) -> None:
    """The patient's stethoscope goes out as its own stream labelled "stethoscope" (what
    the console's panel subscribes to), and the patient's voice stays the voice."""
    from selenium.webdriver.support.select import Select

    from media.visit.tracks import SessionTracks

    driver = browser()

    async def scenario() -> None:
        visit, host = host_for(page_janus, page_net, page_server, patient_stethoscope=True)
        tracks = SessionTracks(host)
        heard: list[Any] = []
        tracks.subscribe_audio("stethoscope", heard.append)
        await host.start()
        try:
            assert visit.invite is not None
            page = await open_page(driver, visit.invite.link)
            await page.phase("ready")

            def choose_last_input() -> None:
                box = Select(driver.find_element("id", "stethoscope"))
                box.select_by_index(len(box.options) - 1)

            await in_thread(choose_last_input)
            deadline = time.monotonic() + 10
            while await page.live_tracks() < 3:  # camera, microphone, stethoscope
                assert time.monotonic() < deadline, "the stethoscope input never opened"
                await asyncio.sleep(0.1)
            await join_and_admit(page, visit, host, "Pat Steth")
            await wait_until(lambda: bool(heard), 20, "the labelled stethoscope track")
            assert heard[-1].label == "stethoscope"
            assert heard[-1].participant_id in {str(f) for f in host.remotes}
            (remote,) = host.remotes.values()
            before = remote.audio_frames
            await wait_until(lambda: remote.audio_frames > before + 50, 10, "the voice as well")
        finally:
            await host.close()

    run(scenario)


# -- the headless host prints the patient's link -------------------------------------------


def test_headless_host_json_carries_the_link(
    page_janus: JanusServer, page_server: PatientPageServer, tmp_path: Path
) -> None:
    page_url = f"{page_server.origin}/patient/"
    proc = start_cli(
        ["--create", "--seconds", "1", "--wait-for", "0", "--page-url", page_url,
         "--patient-stethoscope", "--interface", page_janus.net.host_ip],
        tmp_path / "profile",
        page_janus,
    )  # fmt: skip
    try:
        code, report, err = finish_cli(proc, 60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert report is not None, err
    link = report["invite"]["link"]
    assert link.startswith(page_url + "#") and "pin=" in link and "key=" in link
    assert "steth=1" in link and str(report["invite"]["room"]) in link
    assert f"link {link}" in err  # at once on stderr, before the JSON at the end
    assert code == 0, err
