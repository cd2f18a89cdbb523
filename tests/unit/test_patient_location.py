"""The patient's stated location from their page: the checks on what the page sends.

The page's list (resources/web/patient/places.js) is the only source of codes the
console accepts; hostile or malformed messages are rejected whole, and the error names
the rule broken, never what was sent.
"""

from __future__ import annotations

import json
import tomllib
from importlib import resources
from typing import Any

import pycountry
import pytest

from app.errors import InputRejectedError
from app.patient_location import (
    MAX_STATEMENT_BYTES,
    PatientStatedLocation,
    StatedSetting,
    parse_statement,
    shipped_places,
    statement_message,
)


def message(**fields: object) -> str:
    base: dict[str, object] = {
        "cc": "location",
        "v": 1,
        "country": "US",
        "region": "US-WA",
        "setting": "home",
    }
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not None})


def test_a_statement_from_the_page_is_read() -> None:
    stated = parse_statement(message())
    assert stated == PatientStatedLocation("US", "US-WA", StatedSetting.HOME)
    assert stated.code == "US-WA"
    assert parse_statement(statement_message(stated)) == stated
    assert parse_statement(message(region="", setting="facility")).code == "US"
    assert parse_statement(message(country="GB", region=None)).code == "GB"
    assert parse_statement(message(setting="elsewhere").encode()).setting is StatedSetting.ELSEWHERE
    assert parse_statement(message(setting="")).setting is StatedSetting.NOT_SAID


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (message(country="ZZ"), "country"),
        (message(country="us"), "country"),
        (message(country="US", region="CA-ON"), "region"),
        (message(country="US", region="US-XX"), "region"),
        (message(country="GB", region="GB-ENG"), "region"),  # no region list for GB
        (message(setting="car"), "setting"),
        (message(setting="<img src=x onerror=alert(1)>"), "setting"),
        (message(country="<script>alert(1)</script>"), "country"),
        (message(region=["US-WA"]), "not text"),
        (message(country=None), "not text"),
        (message(v=2), "version"),
        (message(v=True), "version"),
        (message(cc="still"), "not a statement"),
        (message(extra="x"), "unexpected"),
        (message(op="request"), "unexpected"),
        (json.dumps(["location", 1]), "not a statement"),
        ("not json", "not a statement"),
        (b"\xff\xfe", "not a statement"),
        (message(setting="home" + " " * MAX_STATEMENT_BYTES), "too long"),
        (message(country="US\u202eAW-SU"), "country"),
    ],
)
def test_hostile_or_malformed_statements_are_rejected(raw: str | bytes, why: str) -> None:
    with pytest.raises(InputRejectedError) as caught:
        parse_statement(raw)
    reason = str(caught.value.params.get("reason", ""))
    assert why in reason
    assert "script" not in reason and "img" not in reason and "US-XX" not in reason


def test_the_page_list_matches_the_emergency_numbers_and_iso_3166() -> None:
    numbers = tomllib.loads(
        resources.files("resources").joinpath("emergency", "numbers.toml").read_text("utf-8")
    )
    places = shipped_places()
    expected = set(numbers["countries"]) | {k.split("-")[0] for k in numbers["regions"]}
    assert places.countries == expected
    assert {"US", "CA", "MX"} <= set(places.regions)
    assert "US-WA" in places.regions["US"] and "CA-ON" in places.regions["CA"]
    for country, codes in places.regions.items():
        assert codes, country
        for code in codes:
            sub = pycountry.subdivisions.get(code=code)  # type: ignore[no-untyped-call]
            assert sub is not None and sub.country_code == country, code


def _statements() -> tuple[Any, Any, list[str]]:
    """A real SessionStills and PatientStatements over a bare session (no network): what
    the console answers is collected instead of sent."""
    import asyncio
    import types

    from app.visit import Visit
    from media.visit.patient_statements import PatientStatements
    from media.visit.stills import SessionStills

    sent: list[str] = []

    def spawn(coro: Any) -> None:
        asyncio.run(coro)

    session = types.SimpleNamespace(
        joined=types.SimpleNamespace(participant_id=99),
        remotes={},
        ended=False,
        attach_stills=lambda stills: None,
        spawn=spawn,
        publisher=lambda: None,
    )
    stills = SessionStills(session)

    async def send_text(text: str) -> None:
        sent.append(text)

    stills.send_text = send_text  # type: ignore[method-assign]
    visit = Visit(encounter_id="e1")
    return stills, PatientStatements(stills, visit), sent


def test_the_console_answers_each_statement_and_only_a_valid_one_reaches_the_visit() -> None:
    stills, statements, sent = _statements()
    announced: list[object] = []
    statements.visit.patient_stated_location.connect(announced.append)
    for hostile in (
        message(country="<b>US</b>"),
        message(region="US-WA" + "x" * 600),
        '{"cc": "location", "v": 1, "country": "US", "setting": "home", "region": "CA-ON"}',
    ):
        stills._on_message(7, hostile)
    stills._on_message(7, message(cc="still"))  # someone else's protocol: not ours
    stills._on_message(7, b'{"cc": "location"}')  # binary: a stills chunk, never a statement
    assert statements.rejected == 3 and announced == []
    assert statements.visit.patient_location is None
    assert [json.loads(s) for s in sent] == [
        {"cc": "location", "v": 1, "op": "ack", "to": 7, "ok": False}
    ] * 3
    sent.clear()
    stills._on_message(7, message())
    stills._on_message(7, message())  # the page repeats until answered: announced once
    assert statements.received == 2
    assert announced == [PatientStatedLocation("US", "US-WA", StatedSetting.HOME)]
    assert [json.loads(s)["ok"] for s in sent] == [True, True]
