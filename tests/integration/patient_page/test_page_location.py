"""The patient's stated location from their page (docs/patient-page.md, "Where are you
right now?"): asked before joining in English and Spanish, sent on the page's own data
channel once admitted, checked by a real console (media/visit/patient_statements.py over
media/visit/stills.py) through a real Janus, acknowledged back to the page. A page whose
answer was tampered with (markup in place of a country code) is refused: nothing reaches
the visit, and the page hears that it was not accepted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app.patient_location import PatientStatedLocation, StatedSetting
from media.visit.patient_statements import PatientStatements
from media.visit.stills import SessionStills
from tests.integration.media._helpers import wait_until
from tests.integration.media.services import JanusServer, MediaNet, PatientPageServer
from tests.integration.patient_page.test_page_states import (
    PHONE,
    host_for,
    in_thread,
    join_and_admit,
    open_page,
    run,
)

pytestmark = pytest.mark.integration


def choose(page: Any, element_id: str, value: str) -> Any:
    """Pick an option as a patient would (the change event included)."""
    return in_thread(
        lambda: page.js(
            "const box = document.getElementById(arguments[0]);"
            "box.value = arguments[1]; box.dispatchEvent(new Event('change'));"
            "return box.value;",
            element_id,
            value,
        )
    )


def test_the_patient_says_where_they_are_and_the_console_receives_it(
    page_janus: JanusServer,
    page_net: MediaNet,
    page_server: PatientPageServer,
    browser: Callable[..., Any],
) -> None:
    driver = browser(prefs={"intl.accept_languages": "es-ES,es"}, flags=["--lang=es-ES"])

    async def scenario() -> None:
        visit, host = host_for(page_janus, page_net, page_server)
        statements = PatientStatements(SessionStills(host), visit)
        await host.start()
        try:
            assert visit.invite is not None
            page = await open_page(driver, visit.invite.link, "es", PHONE)
            await page.phase("ready")
            assert await page.text("place-box") != ""
            assert "¿Dónde está usted ahora mismo?" in await page.text("place-box")
            assert not await page.visible("place-region-box")  # no country, no regions
            assert await choose(page, "place-country", "US") == "US"
            assert await page.visible("place-region-box")
            assert "Washington" in await page.text("place-region")
            assert await choose(page, "place-region", "US-WA") == "US-WA"
            assert await choose(page, "place-setting", "home") == "home"
            assert "En casa" in await page.text("place-setting")
            await page.set_language("en")
            assert "Where are you right now?" in await page.text("place-box")
            assert await page.attr("place-region", "value") == "US-WA"  # kept across languages
            await page.set_language("es")
            await page.shot("location")  # both sizes and languages; 44 px, labelled, on screen

            await join_and_admit(page, visit, host, "Pat Place")
            await wait_until(
                lambda: visit.patient_location is not None, 20, "the statement at the console"
            )
            assert visit.patient_location == PatientStatedLocation(
                "US", "US-WA", StatedSetting.HOME
            )
            state = await page.wait(lambda s: s.get("placeAck") == "ok", "the console's answer")
            assert state["place"] == {"country": "US", "region": "US-WA", "setting": "home"}
            assert statements.rejected == 0

            # The console's media drops and comes back (its own recovery, as in
            # test_page_states): the page says it again to the console that reappears.
            heard = statements.received
            assert host.main is not None
            host._pub_rebuilding = True
            await host.main.unpublish()
            await page.wait(lambda s: s.get("clinicianAway"), "the clinician away")
            host._pub_rebuilding = False
            host._schedule_rebuild(None, "test: the console is back")
            await wait_until(lambda: statements.received > heard, 30, "the statement again")
            await page.wait(lambda s: s.get("placeAck") == "ok", "answered again")
            assert visit.patient_location == PatientStatedLocation(
                "US", "US-WA", StatedSetting.HOME
            )
        finally:
            await host.close()

    run(scenario)


def test_a_tampered_statement_is_refused_and_never_reaches_the_visit(
    page_janus: JanusServer,
    page_net: MediaNet,
    page_server: PatientPageServer,
    browser: Callable[..., Any],
) -> None:
    driver = browser()
    hostile = "<img src=x onerror=alert(1)>"

    async def scenario() -> None:
        visit, host = host_for(page_janus, page_net, page_server)
        statements = PatientStatements(SessionStills(host), visit)
        await host.start()
        try:
            assert visit.invite is not None
            page = await open_page(driver, visit.invite.link)
            await page.phase("ready")
            # Someone edits the page: an option the list never had.
            await in_thread(
                lambda: page.js(
                    "document.getElementById('place-country').add(new Option('x', arguments[0]));",
                    hostile,
                )
            )
            assert await choose(page, "place-country", hostile) == hostile
            await join_and_admit(page, visit, host, "Pat Tamper")
            await page.wait(lambda s: s.get("placeAck") == "rejected", "the console's refusal")
            assert statements.rejected >= 1
            assert visit.patient_location is None
        finally:
            await host.close()

    run(scenario)
