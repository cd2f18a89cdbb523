"""``clinician-console coding suggest`` and ``clinician-console licensure check``.

``coding suggest --minutes N --patient new|established --modality video|audio
--patient-location home|facility [--mdm straightforward|low|moderate|high]
[--payer NAME] [--date YYYY-MM-DD] [--json]`` prints one object with ``codes``,
``modifiers``, ``pos`` and ``reasons`` (app/coding.py has the rules; the payer table
is the shipped one under the profile's and the policy folder's overrides).

``licensure check --patient-location US-WA [--json]`` prints ``{"ok": bool,
"licensed_in": [...], "reason": ...}``; it exits 1 when the clinician is not
licensed there (a warning for scripts), 0 when they are. Neither opens the store.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.cli_support import CliContext, Handler, emit

EXIT_NOT_LICENSED = 1


def register(sub: argparse._SubParsersAction[Any]) -> dict[str, Handler]:
    coding = sub.add_parser("coding", help="billing code suggestions (never submitted)")
    coding_sub = coding.add_subparsers(dest="coding_command", required=True)
    suggest = coding_sub.add_parser(
        "suggest", help="suggest E/M code, modifiers and place of service for a visit"
    )
    suggest.add_argument(
        "--minutes",
        type=int,
        required=True,
        help="total time on the date of service, in minutes",
    )
    suggest.add_argument("--patient", choices=["new", "established"], required=True)
    suggest.add_argument("--modality", choices=["video", "audio"], required=True)
    suggest.add_argument("--patient-location", choices=["home", "facility"], required=True)
    suggest.add_argument(
        "--mdm",
        choices=["straightforward", "low", "moderate", "high"],
        help="level of medical decision making, if the clinician picks one",
    )
    suggest.add_argument("--payer", help="payer rules to use (default: [coding] payer)")
    suggest.add_argument("--date", help="date of service, YYYY-MM-DD (default: today)")
    suggest.add_argument("--json", action="store_true", help="print one JSON object")

    licensure = sub.add_parser("licensure", help="licence jurisdictions against a location")
    licensure_sub = licensure.add_subparsers(dest="licensure_command", required=True)
    check = licensure_sub.add_parser(
        "check", help="is the clinician licensed where the patient is?"
    )
    check.add_argument(
        "--patient-location",
        required=True,
        help="where the patient is, ISO 3166-2 (for example US-WA)",
    )
    check.add_argument("--json", action="store_true", help="print one JSON object")
    return {"coding": _cmd_coding_suggest, "licensure": _cmd_licensure_check}


async def _cmd_coding_suggest(ctx: CliContext) -> int:
    from app.coding import facts_from_args, load_table, suggest, table_paths

    args = ctx.args
    effective = ctx.settings()
    table = load_table(table_paths(ctx.profile, ctx.policy))
    facts = facts_from_args(
        minutes=args.minutes,
        patient=args.patient,
        modality=args.modality,
        location=args.patient_location,
        mdm=args.mdm,
        payer=args.payer or effective.settings.coding.payer,
        on=args.date,
    )
    result = suggest(facts, table).as_json()
    if args.json:
        emit(result)
        return 0
    codes = " ".join(result["codes"]) or "no code"
    modifiers = "".join(f" -{m}" for m in result["modifiers"])
    sys.stdout.write(f"{codes}{modifiers}  POS {result['pos'] or '-'}\n")
    for reason in result["reasons"]:
        sys.stdout.write(f"  - {reason}\n")
    return 0


async def _cmd_licensure_check(ctx: CliContext) -> int:
    from app.licensure import SettingsLicenses, check

    result = check(
        ctx.args.patient_location, SettingsLicenses.from_settings(ctx.settings().settings)
    )
    if ctx.args.json:
        emit(result.as_json())
    else:
        sys.stdout.write(("OK: " if result.ok else "WARNING: ") + result.reason + "\n")
    if not result.ok:
        sys.stderr.write(f"clinician-console: {result.reason}\n")
        return EXIT_NOT_LICENSED
    return 0


@dataclass(frozen=True)
class CodingServices:
    """What the GUI's coding panel, Escalate and the licensure warning run on."""

    coding: Any  # app.coding.CodingService; None when the payer table is malformed
    escalation: Any  # app.escalation.EscalationService
    licensure: Any  # app.licensure.LicensureGate
    payer: str
    coding_error: str = ""  # why there is no coding service (file and what is wrong)


def build_coding_services(
    store: Any, profile: Path, policy_path: Path | None, current_clinician: Any = None
) -> CodingServices:
    """Composition root helper: the use cases over the encrypted store, the payer and
    emergency tables (with the profile's and policy's overrides) and the on-call webhook.
    A malformed payer table leaves coding out (``coding_error`` says why) and everything
    else working: Escalate must not depend on billing's file. Raises ConfigError for
    malformed settings.

    ``current_clinician``: the identity area's port (``current_clinician() -> profile |
    None``), when sign-in is configured: licences and the ChargeItem's performer then
    follow whoever is signed in (policy/settings when nobody is)."""
    from app.coding import CodingService, load_table, table_paths
    from app.errors import ConfigError
    from app.escalation import EmergencyNumbers, EscalationService
    from app.licensure import LicensureGate, ProfileLicenses, SettingsLicenses
    from app.settings import load_settings, policy_location
    from storage.coding_store import StoreCoding, StoreSafety
    from storage.oncall import notifier_from_settings

    effective = load_settings(profile, policy_path)
    settings = effective.settings
    licences: Any = SettingsLicenses.from_settings(settings)
    performer: Any = performer_from_settings(settings)
    if current_clinician is not None:
        licences = ProfileLicenses(current_clinician, licences)
        performer = _signed_in_performer(current_clinician, performer)
    coding: CodingService | None = None
    coding_error = ""
    try:
        table = load_table(table_paths(profile, policy_location(policy_path)))
        coding = CodingService(table, StoreCoding(store), performer)
    except ConfigError as exc:
        coding_error = str(exc)
    return CodingServices(
        coding=coding,
        coding_error=coding_error,
        escalation=EscalationService(
            StoreSafety(store),
            EmergencyNumbers.shipped(settings.emergency.numbers),
            notifier_from_settings(settings),
            console_id=getattr(store, "store_id", "") or "",
            who=_recorder(current_clinician, settings.record_store.practitioner),
        ),
        licensure=LicensureGate(licences, store),
        payer=settings.coding.payer,
    )


def _recorder(current_clinician: Any, practitioner: str) -> Any:
    """Who records an escalation: named as a note's signer is (app.notes_signing)."""
    from app.notes_signing import signer_from_clinician, signer_from_settings

    if current_clinician is not None:
        return signer_from_clinician(current_clinician, practitioner)
    return lambda: signer_from_settings(practitioner)


def performer_from_settings(settings: Any) -> Any:
    """Who renders the service on the ChargeItem: ``[record_store] practitioner`` (the
    record store's Practitioner), else ``[clinician] npi`` and ``name``."""
    from app.coding import Performer

    performer = Performer(
        settings.record_store.practitioner, settings.clinician.npi, settings.clinician.name
    )
    return performer if performer else None


def _signed_in_performer(current_clinician: Any, fallback: Any) -> Any:
    """A function giving the signed-in clinician as the ChargeItem's performer."""
    from app.coding import Performer

    def performer() -> Any:
        profile = current_clinician.current_clinician()
        if profile is None:
            return fallback
        found = Performer(
            str(getattr(profile, "practitioner", "") or ""),
            str(getattr(profile, "identifier", "") or ""),
            str(getattr(profile, "name", "") or ""),
        )
        return found if found else fallback

    return performer
