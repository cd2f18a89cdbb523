"""The patient's stated location, sent by their page over the visit's data channel.

The page (resources/web/patient/patient.js, ``sendStatement``) publishes a data channel
with its media and sends ``{"cc": "location", "v": 1, "country", "region", "setting"}``
once it is open, again every 2 s until the console answers (Janus relays a publisher's
data only to subscribers whose channel is up, so an early message can be lost). Every
console that receives it answers on its own publisher channel
``{"cc": "location", "v": 1, "op": "ack", "to": FEED, "ok": true|false}``; the page
stops on the first answer. Checking is app/patient_location.py's: a rejected message is
logged by its rule only (never its content) and goes no further. An accepted one lands
on the :class:`~app.visit.Visit` (``update_patient_location``), which the window shows
for the clinician to confirm.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from app.errors import ConsoleError, InputRejectedError
from app.patient_location import TAG, VERSION, parse_statement

log = logging.getLogger(__name__)


class PatientStatements:
    """Reads statements from every participant's channel (``stills``: SessionStills)."""

    def __init__(self, stills: Any, visit: Any) -> None:
        self.stills = stills
        self.visit = visit
        self.rejected = 0
        self.received = 0  # accepted statements, repeats included
        stills.listen(TAG, self._on_message)

    def _on_message(self, feed_id: int, text: str) -> None:
        try:
            stated = parse_statement(text)
        except InputRejectedError as exc:
            self.rejected += 1
            log.warning(
                "patient page: a stated location was rejected (%s)", exc.params.get("reason")
            )
            self._answer(feed_id, ok=False)
            return
        self.received += 1
        self._answer(feed_id, ok=True)
        self.visit.update_patient_location(stated)

    def _answer(self, feed_id: int, *, ok: bool) -> None:
        text = json.dumps({"cc": TAG, "v": VERSION, "op": "ack", "to": feed_id, "ok": ok})

        async def send() -> None:
            with contextlib.suppress(ConsoleError):  # no channel: the page asks again
                await self.stills.send_text(text)

        self.stills.session.spawn(send())
