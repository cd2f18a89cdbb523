"""A console whose visit carries the stills data channel (media/visit/stills.py: an
m=application line in its publisher offer and in each subscription) still gets a
Chromium patient through the page both ways, and the patient's browser is not asked
for stills (it never says it can take one)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app.errors import RemoteStillError
from media.visit.stills import SessionStills
from tests.integration.media._helpers import frames_from, wait_until
from tests.integration.media.services import JanusServer, MediaNet, PatientPageServer
from tests.integration.patient_page.test_page_states import (
    host_for,
    join_and_admit,
    open_page,
    run,
)

pytestmark = pytest.mark.integration


def test_a_browser_patient_joins_a_console_with_the_stills_channel(
    page_janus: JanusServer,
    page_net: MediaNet,
    page_server: PatientPageServer,
    browser: Callable[..., Any],
) -> None:
    driver = browser()

    async def scenario() -> None:
        visit, host = host_for(page_janus, page_net, page_server)
        stills = SessionStills(host)
        await host.start()
        try:
            assert visit.invite is not None
            page = await open_page(driver, visit.invite.link)
            await join_and_admit(page, visit, host, "Pat Data")
            await page.wait(
                lambda s: any(r.get("stamps", 0) > 10 for r in s.get("remotes", {}).values()),
                "the console's video decoded in the page",
            )
            await wait_until(lambda: frames_from(host) > 20, 20, "the patient's video")
            # The browser does not serve stills: it is never asked, and the error is clear.
            assert stills.participants() == []
            with pytest.raises(RemoteStillError, match="nobody in the visit has an exam camera"):
                await stills.request_still()
        finally:
            await host.close()

    run(scenario)
