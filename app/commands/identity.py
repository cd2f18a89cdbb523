"""Clinician identity wiring (for the GUI's composition root) and its headless commands.

- :func:`build_identity`: ``[identity]`` -> app.identity.Identity over the OpenID
  Connect adapter and the keyring (None when no issuer is configured);
- :func:`clinician_port`: the :class:`app.identity.CurrentClinician` a headless
  command uses (no sign-in there: the profile from policy, else settings);
- ``clinician-console clinician show [--json]``: that profile, with where each part
  came from;
- ``clinician-console identity check [--json]``: whether the identity provider answers
  (discovery, PKCE S256) and which clinicians may re-enter offline on this computer.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import webbrowser
from typing import Any

from app.cli_support import CliContext, Handler, emit, os_account
from app.errors import ConsoleError, SignInCancelledError
from app.identity import (
    ConfiguredClinician,
    Identity,
    IdentityPolicy,
    StaticClinician,
)
from app.settings import EffectiveSettings

EXIT_FAILURE = 1
CLIENT_SECRET_NAME = "identity"  # `clinician-console secret set identity` (rarely needed)


def configured_clinician(effective: EffectiveSettings) -> ConfiguredClinician:
    """``[clinician]``: the policy's values where it sets them, else the user's."""
    c = effective.settings.clinician
    locked = effective.locked

    def split(key: str, value: Any, empty: Any) -> tuple[Any, Any]:
        return (value, empty) if f"clinician.{key}" in locked else (empty, value)

    policy_name, settings_name = split("name", c.name, "")
    policy_npi, settings_npi = split("npi", c.npi, "")
    policy_lic, settings_lic = split("licenses", tuple(c.licenses), ())
    return ConfiguredClinician(
        policy_name=policy_name,
        policy_npi=policy_npi,
        policy_licenses=policy_lic,
        settings_name=settings_name,
        settings_npi=settings_npi,
        settings_licenses=settings_lic,
        identifier_system=effective.settings.identity.identifier_system,
    )


def clinician_port(effective: EffectiveSettings) -> StaticClinician:
    """Without a sign-in (headless commands, or no identity provider)."""
    return StaticClinician(configured_clinician(effective), actor=os_account())


def build_identity(effective: EffectiveSettings) -> Identity | None:
    """The sign-in use case for ``[identity]``; None when no issuer is configured."""
    conf = effective.settings.identity
    if not conf.issuer:
        return None
    from storage.identity.oidc import OidcProvider
    from storage.identity.vault import KeyringOfflineRecords, KeyringTokenVault
    from storage.secrets import get_secret

    provider = OidcProvider(
        conf.issuer,
        conf.client_id,
        scopes=tuple(conf.scopes),
        client_secret=get_secret(CLIENT_SECRET_NAME) or "",
        browser_timeout_s=float(conf.browser_timeout_s),
        redirect_port=conf.redirect_port,
    )
    directory = None
    store = effective.settings.record_store
    if store.url:  # the record store's Practitioner / PractitionerRole fill gaps
        from storage.fhir.auth import auth_from_settings
        from storage.fhir.client import FhirClient
        from storage.identity.practitioner import FhirPractitionerDirectory

        def client() -> FhirClient:
            auth = auth_from_settings(store, get_secret)
            return FhirClient(store.url, auth=auth, ca_file=store.ca_file or None, timeout=10.0)

        directory = FhirPractitionerDirectory(client, identifier_system=conf.identifier_system)
    return Identity(
        provider,
        KeyringTokenVault(provider.issuer),
        KeyringOfflineRecords(provider.issuer),
        directory=directory,
        policy=IdentityPolicy(
            offline_days=conf.offline_days,
            identifier_claim=conf.identifier_claim,
            identifier_system=conf.identifier_system,
            licenses_claim=conf.licenses_claim,
        ),
        configured=configured_clinician(effective),
    )


async def open_system_browser(url: str) -> None:
    """RFC 8252: the sign-in page opens in the user's own browser, never in the console."""
    if not await asyncio.to_thread(webbrowser.open, url):
        raise SignInCancelledError(reason="no web browser could be opened")


# -- headless commands -------------------------------------------------------------
def register(sub: argparse._SubParsersAction[Any]) -> dict[str, Handler]:
    clinician = sub.add_parser("clinician", help="the clinician profile (name, NPI, licences)")
    clinician_sub = clinician.add_subparsers(dest="clinician_command", required=True)
    show = clinician_sub.add_parser("show", help="the profile from policy or settings")
    show.add_argument("--json", action="store_true")
    identity = sub.add_parser("identity", help="clinician sign-in (OpenID Connect)")
    identity_sub = identity.add_subparsers(dest="identity_command", required=True)
    check = identity_sub.add_parser("check", help="reach the identity provider")
    check.add_argument("--json", action="store_true")
    return {"clinician": _cmd_clinician, "identity": _cmd_identity}


async def _cmd_clinician(ctx: CliContext) -> int:
    who = clinician_port(ctx.settings()).current_clinician()
    assert who is not None  # StaticClinician always has one
    report = {
        "name": who.name,
        "identifier": who.identifier,
        "identifier_system": who.identifier_system,
        "licensed_in": list(who.licensed_in()),
        "name_source": who.name_source.value,
        "licence_source": who.licence_source.value,
        "audit_actor": who.audit_actor,
    }
    if ctx.args.json:
        emit(report)
    else:
        print(f"{who.name or '(no name)'}: licensed in {', '.join(who.licensed_in()) or 'nowhere'}")
    return 0


async def _cmd_identity(ctx: CliContext) -> int:
    effective = ctx.settings()
    conf = effective.settings.identity
    report: dict[str, Any] = {"configured": bool(conf.issuer), "issuer": conf.issuer}
    if not conf.issuer:
        report.update(ok=True, reason="no identity provider: the console PIN opens the console")
    else:
        try:
            identity = build_identity(effective)
            assert identity is not None
            from storage.identity.oidc import OidcProvider

            provider = OidcProvider(conf.issuer, conf.client_id)
            await provider.metadata()
            report.update(ok=True, offline_days=conf.offline_days)
            report["offline_logins"] = identity.known_logins()
        except ConsoleError as exc:
            report.update(ok=False, error=type(exc).__name__, reason=str(exc))
    if ctx.args.json:
        emit(report)
    elif not report["ok"]:
        sys.stderr.write(f"clinician-console: {report['reason']}\n")
    else:
        print(report.get("reason") or f"identity provider {conf.issuer} answers")
    return 0 if report["ok"] else EXIT_FAILURE
