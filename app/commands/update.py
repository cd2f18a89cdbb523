"""``clinician-console update check|download|install``: signed updates (app/updates.py).

``check`` refreshes and verifies the update metadata and says whether a newer
release is offered on the configured channel; ``download`` also fetches the
archive and verifies it against the signed metadata; ``install`` unpacks it
into the program folder when the user may write there (a per-user bundle),
and otherwise says that IT deploys updates (the .deb, the MSI, the pkg).
A refused update exits 1 with the reason on stderr (and ``"ok": false`` in
``--json`` output); "no update" is success.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.cli_support import CliContext, Handler, emit
from app.errors import ConsoleError

EXIT_FAILURE = 1


def register(sub: argparse._SubParsersAction[Any]) -> dict[str, Handler]:
    update = sub.add_parser("update", help="check for, verify and download signed updates")
    update_sub = update.add_subparsers(dest="update_command", required=True)
    for name, text in (
        ("check", "check the update repository (metadata verified; nothing downloaded)"),
        ("download", "check, then download and verify the offered update"),
        ("install", "check, download, verify and install the offered update"),
    ):
        cmd = update_sub.add_parser(name, help=text)
        cmd.add_argument("--json", action="store_true")
    return {"update": _cmd_update}


async def _cmd_update(ctx: CliContext) -> int:
    from app.updates import Updater

    settings = ctx.settings()
    updater = Updater(settings.settings.updates, profile=ctx.profile)
    command = ctx.args.update_command
    report: dict[str, Any] = {"ok": True}
    try:
        found = updater.check()
        report.update(found.as_dict())
        if found.available and command in ("download", "install"):
            archive = updater.download()
            report["downloaded"] = str(archive)
            if command == "install":
                updater.install(archive)
                report["installed"] = True
    except ConsoleError as exc:
        report.update(ok=False, error=type(exc).__name__, reason=str(exc))
        if ctx.args.json:
            emit(report)
        sys.stderr.write(f"clinician-console: {exc}\n")
        return EXIT_FAILURE
    report["locked"] = sorted(k for k in settings.locked if k.startswith("updates."))
    if ctx.args.json:
        emit(report)
    elif report.get("reason"):
        sys.stdout.write(f"not checked: {report['reason']}\n")
    elif report["available"]:
        sys.stdout.write(
            f"update {report['version']} available on the {report['channel']} channel "
            f"(this is {report['current_version']})"
            + (f"; downloaded to {report['downloaded']}" if "downloaded" in report else "")
            + "\n"
        )
    else:
        sys.stdout.write(f"up to date ({report['current_version']}, {report['channel']})\n")
    return 0
