"""Coding suggestions (app/coding.py): every threshold the issue states, at its boundary.

No fakes: the shipped payer table, real override files in a temp profile and policy
folder, and the CLI run in a subprocess-free ``app.cli.main`` call.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from app.coding import (
    Mdm,
    Modality,
    PatientSetting,
    PatientStatus,
    VisitFacts,
    Work,
    load_table,
    suggest,
    table_paths,
)
from app.errors import ConfigError, InputRejectedError

TABLE = load_table()
DOS = date(2026, 6, 1)
NEW, EST = PatientStatus.NEW, PatientStatus.ESTABLISHED


def code(minutes: int | None, patient: PatientStatus, **kw: object) -> list[str]:
    facts = VisitFacts(minutes, patient, date_of_service=kw.pop("on", DOS), **kw)  # type: ignore[arg-type]
    return list(suggest(facts, TABLE).codes)


# --- office/outpatient E/M by total time (AMA, since 2024) ------------------------------


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (0, []),
        (14, []),
        (15, ["99202"]),
        (29, ["99202"]),
        (30, ["99203"]),
        (44, ["99203"]),
        (45, ["99204"]),
        (59, ["99204"]),
        (60, ["99205"]),
        (120, ["99205"]),
    ],
)
def test_new_patient_by_time(minutes: int, expected: list[str]) -> None:
    assert code(minutes, NEW) == expected


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (0, []),
        (9, []),
        (10, ["99212"]),
        (19, ["99212"]),
        (20, ["99213"]),
        (29, ["99213"]),
        (30, ["99214"]),
        (39, ["99214"]),
        (40, ["99215"]),
        (95, ["99215"]),
    ],
)
def test_established_patient_by_time(minutes: int, expected: list[str]) -> None:
    assert code(minutes, EST) == expected


@pytest.mark.parametrize(
    ("mdm", "new", "established"),
    [
        (Mdm.STRAIGHTFORWARD, "99202", "99212"),
        (Mdm.LOW, "99203", "99213"),
        (Mdm.MODERATE, "99204", "99214"),
        (Mdm.HIGH, "99205", "99215"),
    ],
)
def test_by_medical_decision_making(mdm: Mdm, new: str, established: str) -> None:
    assert code(None, NEW, mdm=mdm) == [new]
    assert code(None, EST, mdm=mdm) == [established]
    # Too little time for any level: MDM alone still picks the level.
    assert code(5, EST, mdm=mdm) == [established]


def test_the_higher_of_time_and_mdm_wins_both_ways() -> None:
    assert code(40, EST, mdm=Mdm.LOW) == ["99215"]  # time higher
    assert code(20, EST, mdm=Mdm.HIGH) == ["99215"]  # MDM higher
    result = suggest(VisitFacts(20, EST, mdm=Mdm.HIGH, date_of_service=DOS), TABLE)
    assert any(r.key == "higher" for r in result.reasons)


def test_prolonged_time_is_mentioned_never_coded() -> None:
    at = suggest(VisitFacts(54, EST, date_of_service=DOS), TABLE)
    assert not any(r.key == "prolonged" for r in at.reasons)
    over = suggest(VisitFacts(55, EST, date_of_service=DOS), TABLE)
    assert over.codes == ("99215",)
    assert any(r.key == "prolonged" for r in over.reasons)


# --- place of service and modifiers ------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "pos"), [(PatientSetting.HOME, "10"), (PatientSetting.FACILITY, "02")]
)
@pytest.mark.parametrize(("modality", "modifier"), [(Modality.VIDEO, "95"), (Modality.AUDIO, "93")])
def test_pos_and_modifier(
    location: PatientSetting, pos: str, modality: Modality, modifier: str
) -> None:
    result = suggest(VisitFacts(25, EST, modality, location, date_of_service=DOS), TABLE)
    assert result.codes == ("99213",)
    assert result.pos == pos
    assert result.modifiers == (modifier,)


def test_no_code_means_no_modifier() -> None:
    result = suggest(VisitFacts(5, EST, date_of_service=DOS), TABLE)
    assert result.codes == () and result.modifiers == ()
    assert result.pos == "10"
    assert any(r.key == "none" for r in result.reasons)


# --- payers that use the telemedicine codes 98000-98015 ----------------------------------

TELE = "telemedicine-codes"


@pytest.mark.parametrize(
    ("patient", "modality", "minutes", "expected"),
    [
        (NEW, Modality.VIDEO, 14, []),
        (NEW, Modality.VIDEO, 15, ["98000"]),
        (NEW, Modality.VIDEO, 30, ["98001"]),
        (NEW, Modality.VIDEO, 45, ["98002"]),
        (NEW, Modality.VIDEO, 59, ["98002"]),
        (NEW, Modality.VIDEO, 60, ["98003"]),
        (EST, Modality.VIDEO, 9, []),
        (EST, Modality.VIDEO, 10, ["98004"]),
        (EST, Modality.VIDEO, 20, ["98005"]),
        (EST, Modality.VIDEO, 30, ["98006"]),
        (EST, Modality.VIDEO, 39, ["98006"]),
        (EST, Modality.VIDEO, 40, ["98007"]),
        (NEW, Modality.AUDIO, 14, []),
        (NEW, Modality.AUDIO, 15, ["98008"]),
        (NEW, Modality.AUDIO, 30, ["98009"]),
        (NEW, Modality.AUDIO, 45, ["98010"]),
        (NEW, Modality.AUDIO, 60, ["98011"]),
        # audio-only needs MORE than 10 minutes of medical discussion: 10 is not enough
        (EST, Modality.AUDIO, 10, []),
        (EST, Modality.AUDIO, 11, ["98012"]),
        (EST, Modality.AUDIO, 19, ["98012"]),
        (EST, Modality.AUDIO, 20, ["98013"]),
        (EST, Modality.AUDIO, 30, ["98014"]),
        (EST, Modality.AUDIO, 40, ["98015"]),
    ],
)
def test_telemedicine_codes(
    patient: PatientStatus, modality: Modality, minutes: int, expected: list[str]
) -> None:
    result = suggest(VisitFacts(minutes, patient, modality, payer=TELE, date_of_service=DOS), TABLE)
    assert list(result.codes) == expected
    assert result.modifiers == ()  # the code says the modality itself


def test_audio_only_ten_minutes_is_refused_even_by_mdm() -> None:
    for mdm in Mdm:
        result = suggest(
            VisitFacts(10, EST, Modality.AUDIO, mdm=mdm, payer=TELE, date_of_service=DOS), TABLE
        )
        assert result.codes == ()
        assert any(r.key == "audio_discussion" for r in result.reasons)
    by_mdm = suggest(
        VisitFacts(11, EST, Modality.AUDIO, mdm=Mdm.HIGH, payer=TELE, date_of_service=DOS), TABLE
    )
    assert by_mdm.codes == ("98015",)


# --- effective dates ---------------------------------------------------------------------


def test_rules_apply_from_their_effective_date() -> None:
    with pytest.raises(InputRejectedError, match="in force on 2023-12-31"):
        code(20, EST, on=date(2023, 12, 31))
    assert code(20, EST, on=date(2024, 1, 1)) == ["99213"]
    with pytest.raises(InputRejectedError, match="in force on 2024-12-31"):
        code(20, EST, payer=TELE, on=date(2024, 12, 31))
    assert code(20, EST, payer=TELE, on=date(2025, 1, 1)) == ["98005"]


def test_unknown_payer_is_refused() -> None:
    with pytest.raises(InputRejectedError, match="no coding rules for payer 'nobody'"):
        code(20, EST, payer="nobody")


@pytest.mark.parametrize("minutes", [-1, 24 * 60 + 1])
def test_impossible_minutes_are_refused(minutes: int) -> None:
    with pytest.raises(InputRejectedError):
        code(minutes, EST)


# --- store-and-forward: e-consults and image review --------------------------------------


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (4, []),
        (5, ["99446"]),
        (10, ["99446"]),
        (11, ["99447"]),
        (20, ["99447"]),
        (21, ["99448"]),
        (30, ["99448"]),
        (31, ["99449"]),
        (90, ["99449"]),
    ],
)
def test_econsult_verbal_and_written(minutes: int, expected: list[str]) -> None:
    result = suggest(VisitFacts(minutes, EST, work=Work.ECONSULT_VERBAL), TABLE)
    assert list(result.codes) == expected
    assert result.pos is None and result.modifiers == ()


@pytest.mark.parametrize(("minutes", "expected"), [(4, []), (5, ["99451"]), (60, ["99451"])])
def test_econsult_written_report(minutes: int, expected: list[str]) -> None:
    assert code(minutes, EST, work=Work.ECONSULT_WRITTEN) == expected


@pytest.mark.parametrize(("minutes", "expected"), [(15, []), (16, ["99452"]), (30, ["99452"])])
def test_econsult_requesting_clinician(minutes: int, expected: list[str]) -> None:
    assert code(minutes, NEW, work=Work.ECONSULT_REQUESTING) == expected


def test_image_review_is_for_established_patients() -> None:
    assert code(None, EST, work=Work.IMAGE_REVIEW) == ["G2010"]
    assert code(None, NEW, work=Work.IMAGE_REVIEW) == []


# --- the table: overrides from the profile and the policy folder -------------------------

OVERRIDE = """
[[rule]]
payer = "default"
effective = 2026-01-01
em_codes = "office-em-2024"
modifier_video = "GT"
modifier_audio = "93"
pos_home = "10"
pos_other = "02"
source = "{source}"

[[rule]]
payer = "acme"
effective = 2025-07-01
em_codes = "telemedicine-2025"
modifier_video = ""
modifier_audio = ""
pos_home = "10"
pos_other = "02"
"""


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_profile_and_policy_overrides(tmp_path: Path) -> None:
    profile = tmp_path / "profile"
    policy = _write(tmp_path / "etc" / "policy.toml", "")
    _write(profile / "coding" / "payers.toml", OVERRIDE.format(source="profile"))
    table = load_table(table_paths(profile, policy))
    # A payer named in the override replaces that payer's rules: none before 2026 now.
    with pytest.raises(InputRejectedError):
        suggest(VisitFacts(20, EST, date_of_service=date(2025, 6, 1)), table)
    result = suggest(VisitFacts(20, EST, date_of_service=date(2026, 1, 1)), table)
    assert result.modifiers == ("GT",)
    assert "profile" in str(result.reasons[0])
    assert "acme" in table.payers and TELE in table.payers
    _write(tmp_path / "etc" / "coding" / "payers.toml", OVERRIDE.format(source="policy"))
    table = load_table(table_paths(profile, policy))
    result = suggest(VisitFacts(20, EST, date_of_service=date(2026, 1, 1)), table)
    assert "policy" in str(result.reasons[0])  # IT's file wins over the user's


def test_policy_folder_table_applies_without_a_policy_file(tmp_path: Path) -> None:
    """IT may ship only the payer table beside where the policy would be."""
    _write(tmp_path / "etc" / "coding" / "payers.toml", OVERRIDE.format(source="it"))
    paths = table_paths(tmp_path / "profile", tmp_path / "etc" / "policy.toml")
    assert paths == [tmp_path / "etc" / "coding" / "payers.toml"]
    assert "acme" in load_table(paths).payers


@pytest.mark.parametrize(
    "text",
    [
        "[[rule]]\npayer = 'x'\n",  # missing keys
        OVERRIDE.format(source="s").replace("office-em-2024", "no-such-set"),
        OVERRIDE.format(source="s").replace('"10"', '"home"', 1),
        "not toml [",
        "[[code]]\nset='s'\ncode='99213'\npatient='new'\nmdm='low'\nminutes=-5\n",
    ],
)
def test_malformed_override_is_an_error_not_ignored(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path / "coding" / "payers.toml", text)
    with pytest.raises(ConfigError):
        load_table([path])


# --- the CLI -----------------------------------------------------------------------------


def test_cli_suggest_json(capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli import main

    rc = main(
        [
            "coding",
            "suggest",
            "--minutes",
            "32",
            "--patient",
            "established",
            "--modality",
            "audio",
            "--patient-location",
            "home",
            "--mdm",
            "low",
            "--date",
            "2026-03-02",
            "--json",
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"codes", "modifiers", "pos", "reasons"}
    assert out["codes"] == ["99214"] and out["modifiers"] == ["93"] and out["pos"] == "10"
    assert all(isinstance(r, str) and r for r in out["reasons"])


def test_cli_suggest_payer_and_bad_date(capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli import main

    args = [
        "coding",
        "suggest",
        "--minutes",
        "45",
        "--patient",
        "new",
        "--modality",
        "video",
        "--patient-location",
        "facility",
        "--json",
    ]
    assert main([*args, "--payer", TELE, "--date", "2026-01-05"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["codes"] == ["98002"] and out["modifiers"] == [] and out["pos"] == "02"
    assert main([*args, "--date", "05/01/2026"]) == 1
    assert "YYYY-MM-DD" in capsys.readouterr().err


# --- properties --------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_LEVEL = {c: i for i, c in enumerate(["99202", "99203", "99204", "99205"])} | {
    c: i for i, c in enumerate(["99212", "99213", "99214", "99215"])
}


@settings(max_examples=300, deadline=None)
@given(
    minutes=st.integers(0, 24 * 60),
    more=st.integers(0, 60),
    patient=st.sampled_from(list(PatientStatus)),
    modality=st.sampled_from(list(Modality)),
    location=st.sampled_from(list(PatientSetting)),
    mdm=st.none() | st.sampled_from(list(Mdm)),
    payer=st.sampled_from(["default", TELE]),
)
def test_suggestion_invariants(
    minutes: int,
    more: int,
    patient: PatientStatus,
    modality: Modality,
    location: PatientSetting,
    mdm: Mdm | None,
    payer: str,
) -> None:
    facts = VisitFacts(minutes, patient, modality, location, mdm, payer, DOS)
    result = suggest(facts, TABLE)
    assert len(result.codes) <= 1
    assert result.pos == ("10" if location is PatientSetting.HOME else "02")
    assert not result.modifiers or result.codes  # never a modifier without a code
    assert result.reasons and all(str(r) for r in result.reasons)
    # More time never lowers the level.
    longer = min(minutes + more, 24 * 60)
    later = suggest(VisitFacts(longer, patient, modality, location, mdm, payer, DOS), TABLE)
    if result.codes and payer == "default":
        assert later.codes and _LEVEL[later.codes[0]] >= _LEVEL[result.codes[0]]


_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5000), st.text(max_size=12), st.dates()
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["rule", "code", "payer", "x"]),
        st.lists(
            st.dictionaries(
                st.sampled_from(
                    [
                        "payer",
                        "effective",
                        "em_codes",
                        "set",
                        "code",
                        "patient",
                        "mdm",
                        "minutes",
                        "pos_home",
                        "modifier_video",
                        "junk",
                    ]
                ),
                _SCALARS.filter(lambda v: v is not None),
                max_size=8,
            ),
            max_size=3,
        ),
        max_size=3,
    )
)
def test_hostile_override_tables_are_refused_cleanly(data: dict[str, object]) -> None:
    from app.coding import parse_table

    try:
        parse_table(data, "payers.toml")
    except ConfigError as exc:
        assert "payers.toml" in str(exc)
