"""Licensure (app/licensure.py): licences against the patient's stated location, where the
licences come from (policy over settings), and the audited decision on a real store."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from app.errors import InputRejectedError
from app.licensure import (
    CANCEL,
    PROCEED,
    LicensureGate,
    ProfileLicenses,
    SettingsLicenses,
    check,
)
from tests.conftest import open_test_store


def lic(*codes: str) -> SettingsLicenses:
    return SettingsLicenses(codes)


def test_licensed_and_not() -> None:
    ok = check("us-wa ", lic("US-CA", "US-WA"))
    assert ok.ok and ok.patient_location == "US-WA"
    assert ok.as_json() == {"ok": True, "licensed_in": ["US-CA", "US-WA"], "reason": ok.reason}
    out = check("US-WA", lic("US-CA", "US-OR"))
    assert not out.ok
    assert "US-WA" in out.reason and "US-CA, US-OR" in out.reason


def test_national_licence_covers_the_countrys_regions_only() -> None:
    assert check("GB-ENG", lic("GB")).ok
    assert check("GB", lic("GB")).ok
    assert not check("IE-D", lic("GB")).ok
    # A state licence does not cover "somewhere in the country": ask for the state.
    out = check("US", lic("US-CA"))
    assert not out.ok and "state or region" in out.reason


def test_no_licences_and_bad_entries() -> None:
    assert not check("US-WA", lic()).ok
    out = check("US-WA", lic("California", "US-WA"))
    assert out.ok and out.ignored == ("California",)
    assert "California" in out.reason


@pytest.mark.parametrize("bad", ["", "US-XX", "Washington", "ZZ", "US-WA-1"])
def test_unknown_location_is_refused(bad: str) -> None:
    with pytest.raises(InputRejectedError):
        check(bad, lic("US-WA"))


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    from app.cli import main

    rc = main(["licensure", "check", *args, "--json"])
    return rc, json.loads(capsys.readouterr().out)


def test_cli_reads_policy_over_settings(
    tmp_path: Path,
    fresh_profile: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fresh_profile.mkdir(parents=True)
    (fresh_profile / "settings.toml").write_text('[clinician]\nlicenses = ["US-WA"]\n')
    rc, out = _cli(["--patient-location", "US-WA"], capsys)
    assert rc == 0 and out == {"ok": True, "licensed_in": ["US-WA"], "reason": out["reason"]}
    # The policy sets the licences: the user's own list no longer counts.
    policy = tmp_path / "policy.toml"
    policy.write_text('[clinician]\nlicenses = ["US-CA", "US-OR"]\n')
    monkeypatch.setenv("CLINICIAN_CONSOLE_POLICY", str(policy))
    rc, out = _cli(["--patient-location", "US-WA"], capsys)
    assert rc == 1
    assert out["ok"] is False and out["licensed_in"] == ["US-CA", "US-OR"]
    assert set(out) == {"ok", "licensed_in", "reason"}
    # A policy that leaves [clinician] licenses open: the settings apply again.
    policy.write_text('[clinician]\nname = "Dr Example"\n')
    rc, out = _cli(["--patient-location", "US-WA"], capsys)
    assert rc == 0 and out["licensed_in"] == ["US-WA"]


def test_cli_bad_location(capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli import main

    assert main(["licensure", "check", "--patient-location", "Narnia", "--json"]) == 1
    assert "ISO 3166-2" in capsys.readouterr().err


def test_decision_is_audited_on_a_real_store(fresh_profile: Path) -> None:
    async def go() -> list[tuple[str, str, str]]:
        store = await open_test_store(fresh_profile)
        try:
            gate = LicensureGate(lic("US-CA"), store)
            await gate.decide("enc-1", gate.check("US-CA"), proceed=True)  # ok: nothing to audit
            warning = gate.check("US-WA")
            await gate.decide("enc-1", warning, proceed=True)
            await gate.decide("enc-2", warning, proceed=False)
            return [(e.action, e.entity_type, e.entity_id) for e in await store.audit_entries()]
        finally:
            await store.close()

    entries = asyncio.run(go())
    licensure = [e for e in entries if e[0].startswith("licensure")]
    assert licensure == [(PROCEED, "encounter", "enc-1"), (CANCEL, "encounter", "enc-2")]


# A stand-in for the identity area's port (app.clinician on the oidc branch): the same
# shape, so ProfileLicenses is tested here without that branch.
@dataclass(frozen=True)
class _Licence:
    jurisdiction: str
    valid_until: str = ""


@dataclass(frozen=True)
class _Profile:
    licences: tuple[_Licence, ...]

    def licensed_in(self) -> tuple[str, ...]:
        return tuple(x.jurisdiction for x in self.licences)


@dataclass
class _Current:
    profile: _Profile | None

    def current_clinician(self) -> _Profile | None:
        return self.profile


def test_signed_in_clinician_licences_with_expiry() -> None:
    current = _Current(
        _Profile(
            (_Licence("US-WA", "2026-12-05"), _Licence("US-OR", "2026-12-04"), _Licence("US-ID"))
        )
    )
    source = ProfileLicenses(current, lic("US-CA"), today=lambda: date(2026, 12, 5))
    assert source.licenses() == ("US-WA", "US-ID")  # valid through its last day
    assert check("US-WA", source).ok
    out = check("US-OR", source)
    assert not out.ok and out.licensed_in == ("US-WA", "US-ID")
    current.profile = None  # nobody signed in: the policy's or settings' list
    assert check("US-CA", source).ok
