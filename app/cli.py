"""``clinician-console``: the GUI by default, and headless commands for IT, scripts and tests.

Composition root (with app.main): the only place that knows the concrete
store. Every headless command exits 0 on success and non-zero with a one-line
reason on stderr on failure; ``--json`` output is one object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import os
import shutil
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from app import __version__
from app.cli_support import CliContext, Handler, emit, with_store
from app.errors import CommandError, ConfigError, ConsoleError, PolicyOverrideError, StoreError
from app.records import KeySource

log = logging.getLogger(__name__)
# Each adds its own sub-commands (app/cli_support.py says how); imported when
# the parser is built, so each must keep heavy imports inside its handlers.
COMMAND_MODULES: tuple[str, ...] = (
    "app.commands.update",
    "app.commands.visit",
    "app.commands.plugins",
    "app.commands.steth",
    "app.commands.techcheck",
    "app.commands.coding",
    "app.commands.identity",
    "app.commands.image",
    "app.commands.note",
)
_EXTRA_HANDLERS: dict[str, Handler] = {}
EXIT_FAILURE = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clinician-console",
        description="Clinician Console: telemedicine visits and encrypted offline notes.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--profile",
        help="profile directory (default: $CLINICIAN_CONSOLE_PROFILE "
        "or the per-user data directory)",
    )
    parser.add_argument(
        "--policy",
        help="a policy file to use where no managed policy is installed at the OS location "
        "(an installed one always applies; default: $CLINICIAN_CONSOLE_POLICY)",
    )
    parser.add_argument(
        "--demo", action="store_true", help="GUI: seed demo patients and visits on first run"
    )
    parser.add_argument(
        "--key-source",
        choices=[k.value for k in KeySource],
        help="for a new store: keep its key in the OS keyring, or use a passphrase "
        "(refused when the managed policy sets store.key_source otherwise)",
    )
    parser.add_argument(
        "--passphrase-stdin",
        action="store_true",
        help="read the store passphrase from the first line of standard input",
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("gui", help="start the desktop console (the default)")
    check = sub.add_parser("check", help="check keyring, store and disk")
    check.add_argument("--json", action="store_true")
    sub.add_parser("demo", help="seed demo patients and visits into the store")
    sync = sub.add_parser("sync", help="sync with the FHIR record store")
    sync.add_argument(
        "--once",
        action="store_true",
        required=True,
        help="run one full sync (push, then pull) and exit",
    )
    sync.add_argument("--json", action="store_true")
    audit = sub.add_parser("audit", help="audit log commands")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser(
        "verify", help="verify every entry's MAC, the chain and its anchor outside the store"
    )
    verify.add_argument("--json", action="store_true")
    reanchor = audit_sub.add_parser(
        "reanchor",
        help="accept a store restored from backup (older than the audit anchor); audited",
    )
    reanchor.add_argument(
        "--confirm", action="store_true", required=True, help="yes, the restore was intended"
    )
    reanchor.add_argument("--json", action="store_true")
    export = sub.add_parser("export", help="export notes as a FHIR R4 Bundle (JSON)")
    export.add_argument("--out", required=True, help="output file ('-' for standard output)")
    imp = sub.add_parser(
        "import", help="import a FHIR R4 Bundle (collection, batch or transaction)"
    )
    imp.add_argument("file")
    imp.add_argument("--json", action="store_true")
    secret = sub.add_parser("secret", help="keep a secret in the OS keyring")
    secret_sub = secret.add_subparsers(dest="secret_command", required=True)
    secret_set = secret_sub.add_parser("set", help="read a secret from standard input")
    secret_set.add_argument("name")
    for name in COMMAND_MODULES:
        _EXTRA_HANDLERS.update(importlib.import_module(name).register(sub))
    return parser


# --- commands ------------------------------------------------------------------------


async def _cmd_check(ctx: CliContext) -> int:
    from storage import database, keys, migrations
    from storage.store import DB_FILE

    report: dict[str, Any] = {"version": __version__, "profile": str(ctx.profile), "problems": []}
    problems: list[str] = report["problems"]
    try:
        ctx.settings()
        report["settings"] = "ok"
    except ConsoleError as exc:
        report["settings"] = "error"
        problems.append(str(exc))
    report["keyring"] = {
        "backend": keys.keyring_backend_name(),
        "available": keys.keyring_available(),
    }
    usage = shutil.disk_usage(
        ctx.profile
        if ctx.profile.exists()
        else ctx.profile.parent
        if ctx.profile.parent.exists()
        else Path.cwd()
    )
    report["disk"] = {
        "free_bytes": usage.free,
        "total_bytes": usage.total,
        "low": usage.free < 200 * 1024 * 1024,
    }
    if report["disk"]["low"]:
        problems.append("less than 200 MB free on the profile's disk")
    store_info: dict[str, Any] = {
        "latest_schema": migrations.LATEST,
        "sqlcipher": database.sqlcipher_version(),
    }
    report["store"] = store_info
    meta = None
    try:
        meta = keys.read_meta(ctx.profile)
    except ConsoleError as exc:
        problems.append(str(exc))
    if meta is None and not (ctx.profile / DB_FILE).exists():
        store_info["state"] = "not created"
    else:
        if meta is not None:
            store_info["key_source"] = meta.key_source.value
        try:
            store = await ctx.open_store()
        except StoreError as exc:
            store_info["state"] = "error"
            store_info["error"] = type(exc).__name__
            problems.append(str(exc))
        else:
            try:
                status = store.status
                store_info.update(state=status.state.value, schema_version=status.schema_version)
                integrity = await store.integrity_problems()
                store_info["integrity"] = "ok" if not integrity else "damaged"
                if integrity:
                    problems.append(f"store integrity check found {len(integrity)} problem(s)")
                store_info["counts"] = await store.counts()
                store_info["outbox"] = await store.outbox_size()
                audit = await store.verify_audit()
                store_info["audit"] = "ok" if audit.ok else f"bad entry {audit.first_bad_seq}"
                if not audit.ok:
                    problems.append(f"audit log entry {audit.first_bad_seq} {audit.problem}")
            finally:
                await store.close()
    report["record_store"] = await _check_record_store(ctx, problems)
    from app.commands.techcheck import check_media

    report.update(await check_media(ctx, problems))
    report["ok"] = not problems
    if ctx.args.json:
        emit(report)
    else:
        for line in problems or ["all checks passed"]:
            sys.stdout.write(line + "\n")
    if problems and not ctx.args.json:
        return EXIT_FAILURE
    if problems:
        sys.stderr.write(problems[0] + "\n")
        return EXIT_FAILURE
    return 0


async def _check_record_store(ctx: CliContext, problems: list[str]) -> dict[str, Any]:
    """Reachability, auth and what the server says it supports (CapabilityStatement)."""
    try:
        settings = ctx.settings().settings.record_store
    except ConsoleError:
        return {"configured": False}
    if not settings.url:
        return {"configured": False}
    from storage.sync.adapter import open_client

    info: dict[str, Any] = {"configured": True, "url": settings.url, "auth": settings.auth}
    try:
        async with open_client(settings) as client:
            caps = await client.capabilities()
            info.update(
                reachable=True,
                fhir_version=caps.fhir_version,
                r4=caps.is_r4,
                software=caps.software_name,
                transaction=caps.transaction,
                batch=caps.batch,
                conditional_create={
                    t: caps.supports_conditional_create(t)
                    for t in ("Patient", "Encounter", "DocumentReference")
                },
            )
            # metadata is public; an authenticated read proves the credentials.
            async for _resource in client.search("DocumentReference", {"_count": "1"}):
                break
            info["auth_ok"] = True
    except ConsoleError as exc:
        info.setdefault("reachable", False)
        info["error"] = type(exc).__name__
        problems.append(str(exc))
        return info
    if not (caps.is_r4 and caps.transaction and all(info["conditional_create"].values())):
        problems.append(
            "the record store lacks FHIR R4 transactions or conditional create, which sync needs"
        )
    return info


def _require_demo_allowed(ctx: CliContext) -> None:
    from app.errors import DemoNotAllowedError

    if not ctx.settings().settings.demo.allowed:
        raise DemoNotAllowedError()


async def _cmd_demo(ctx: CliContext) -> int:
    from app.demo import seed_demo

    _require_demo_allowed(ctx)

    async def run(store: Any) -> int:
        added = await seed_demo(store)
        sys.stdout.write(
            f"seeded {added} demo visits\n"
            if added
            else "the store already has visits; nothing seeded\n"
        )
        return 0

    return await with_store(ctx, run)


async def _cmd_audit_verify(ctx: CliContext) -> int:
    async def run(store: Any) -> int:
        report = await store.verify_audit()
        if ctx.args.json:
            emit(
                {
                    "ok": report.ok,
                    "entries": report.entries,
                    "first_bad_seq": report.first_bad_seq,
                    "problem": report.problem,
                }
            )
        if report.ok:
            if not ctx.args.json:
                sys.stdout.write(f"audit log verified: {report.entries} entries\n")
            return 0
        sys.stderr.write(
            f"audit log does not verify: entry {report.first_bad_seq} {report.problem}\n"
        )
        return EXIT_FAILURE

    # "report": a store older than its anchor still opens here, so the report names
    # what is missing; the anchor is left as it was (the evidence stays).
    return await with_store(ctx, run, on_rollback="report")


async def _cmd_audit_reanchor(ctx: CliContext) -> int:
    async def run(store: Any) -> int:
        report = await store.verify_audit()
        if ctx.args.json:
            emit({"ok": report.ok, "entries": report.entries, "reanchored": True})
        else:
            sys.stdout.write(f"audit log re-anchored at {report.entries} entries\n")
        return 0 if report.ok else EXIT_FAILURE

    return await with_store(ctx, run, on_rollback="reanchor")


async def _cmd_export(ctx: CliContext) -> int:
    async def run(store: Any) -> int:
        bundle = await store.export_bundle()
        text = json.dumps(bundle, ensure_ascii=False, indent=2)
        if ctx.args.out == "-":
            sys.stdout.write(text + "\n")
        else:
            out = Path(ctx.args.out)
            tmp = out.with_name(out.name + ".tmp")
            try:
                tmp.write_text(text, encoding="utf-8")
                os.replace(tmp, out)
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                raise CommandError(reason=f"cannot write {out.name}: {exc.strerror}") from exc
            kinds = [e["resource"]["resourceType"] for e in bundle.get("entry", [])]
            sys.stderr.write(
                f"exported {kinds.count('DocumentReference')} notes "
                f"({kinds.count('Provenance')} signatures, {kinds.count('Consent')} consents) "
                f"to {out.name}\n"
            )
        return 0

    return await with_store(ctx, run)


async def _cmd_import(ctx: CliContext) -> int:
    from storage.fhir.bundle import load_bundle_file, parse_import_bundle

    # Read and validate the whole file before the store is even opened: a
    # rejected file changes nothing, not even the audit log.
    parsed = parse_import_bundle(load_bundle_file(Path(ctx.args.file)))

    async def run(store: Any) -> int:
        result = await store.import_parsed(parsed)
        summary = {
            "patients_created": result.patients_created,
            "encounters_created": result.encounters_created,
            "notes_created": result.notes_created,
            "notes_updated": result.notes_updated,
            "unchanged": result.unchanged,
            "signatures_imported": result.signatures_imported,
            "signatures_not_verified": result.signatures_not_verified,
            "consents_created": result.consents_created,
        }
        if ctx.args.json:
            emit({**summary, "skipped": list(result.skipped)})
        else:
            sys.stdout.write(
                ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in summary.items()) + "\n"
            )
            for reason in result.skipped:
                sys.stderr.write(f"skipped {reason}\n")
        if result.signatures_not_verified:
            sys.stderr.write(
                f"{result.signatures_not_verified} imported signature(s) do not verify against "
                "the imported text: kept, shown as not verified, not sent to the record store "
                "(note verify NOTE_ID says why)\n"
            )
        return 0

    return await with_store(ctx, run)


async def _cmd_secret_set(ctx: CliContext) -> int:
    from storage import secrets as secret_store

    # All of standard input: a SMART private key is a multi-line PEM.
    value = sys.stdin.read().strip("\r\n")
    if not value:
        raise CommandError(reason="no secret on standard input")
    secret_store.set_secret(ctx.args.name, value)
    sys.stdout.write(f"secret '{ctx.args.name}' saved in the OS keyring\n")
    return 0


async def _cmd_sync(ctx: CliContext) -> int:
    from storage.sync.adapter import sync_service

    settings = ctx.settings().settings.record_store
    if not settings.url:
        raise CommandError(
            reason="no record store is configured: set [record_store] url "
            "in settings.toml or the managed policy"
        )

    async def run(store: Any) -> int:
        # The same use case the GUI runs, one round, no background loop.
        pacs = ctx.settings().settings.pacs  # stills to the PACS too, if set
        outcome = await sync_service(store, settings, pacs=pacs).sync_now()
        status = outcome.status
        waiting = {
            "waiting": status.waiting,
            "failed": status.failed,
            "conflicts": status.conflicts,
        }
        if outcome.error is not None or outcome.result is None:
            exc = outcome.error
            if ctx.args.json:
                emit({"ok": False, "error": type(exc).__name__, "reason": str(exc), **waiting})
            sys.stderr.write(f"clinician-console: sync failed: {exc}\n")
            return EXIT_FAILURE
        result = outcome.result
        summary = {**result.as_dict(), **waiting, "ok": result.failed == 0}
        if ctx.args.json:
            emit(summary)
        else:
            sys.stdout.write(", ".join(f"{k}: {v}" for k, v in summary.items()) + "\n")
        if result.failed:
            sys.stderr.write(
                f"clinician-console: the server rejected {result.failed} record(s): "
                f"{result.reasons[0] if result.reasons else ''}\n"
            )
            return EXIT_FAILURE
        return 0

    return await with_store(ctx, run)


def _dispatch(ctx: CliContext) -> Awaitable[int] | None:
    command = ctx.args.command
    handlers: dict[str, Callable[[CliContext], Awaitable[int]]] = {
        "check": _cmd_check,
        "demo": _cmd_demo,
        "export": _cmd_export,
        "import": _cmd_import,
        "sync": _cmd_sync,
    }
    handlers.update(_EXTRA_HANDLERS)
    if command in handlers:
        return handlers[command](ctx)
    if command == "audit":
        if ctx.args.audit_command == "reanchor":
            return _cmd_audit_reanchor(ctx)
        return _cmd_audit_verify(ctx)
    if command == "secret":
        return _cmd_secret_set(ctx)
    return None


def main(argv: Sequence[str] | None = None, *, os_policy: Path | None = None) -> int:
    """``os_policy``: where the OS policy lives (tests pass a temp file; default the OS's)."""
    # Every file this process creates (settings, logs, exports, backups, pending
    # audit records) is owner-only, whatever the login's umask (docs/storage.md).
    os.umask(0o077)
    args = _parser().parse_args(argv)
    ctx = CliContext(args, os_policy=os_policy)
    from app import logging_setup

    if args.command in (None, "gui"):
        logging_setup.configure(ctx.profile)
        from app.main import run_gui

        try:
            key_source = None
            try:
                if args.demo:
                    _require_demo_allowed(ctx)
                key_source = ctx.key_source()
            except PolicyOverrideError as exc:
                # --key-source against the policy: refused, never silently obeyed or ignored.
                sys.stderr.write(f"clinician-console: {exc}\n")
                return EXIT_FAILURE
            except ConfigError as exc:
                # A bad settings file or policy: the window's error screen says so
                # (app.main) and the console goes no further; stderr too, for scripts.
                sys.stderr.write(f"clinician-console: {exc}\n")
            return run_gui(
                ctx.profile, demo=args.demo, policy_path=ctx.policy, key_source=key_source
            )
        except ConsoleError as exc:
            sys.stderr.write(f"clinician-console: {exc}\n")
            return EXIT_FAILURE
    logging_setup.configure(None, level=logging.WARNING)
    if args.command != "check":  # check reports a bad file among its findings
        # A malformed settings file or managed policy stops every command: none
        # runs on defaults IT did not choose (docs/deploy.md).
        try:
            ctx.settings()
        except ConsoleError as exc:
            sys.stderr.write(f"clinician-console: {exc}\n")
            return EXIT_FAILURE
    coro = _dispatch(ctx)
    if coro is None:
        _parser().print_usage(sys.stderr)
        return EXIT_USAGE
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except ConsoleError as exc:
        sys.stderr.write(f"clinician-console: {exc}\n")
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
