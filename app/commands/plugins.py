"""``clinician-console plugins validate PATH/plugin.toml`` and ``plugins list`` (docs/plugins.md).

``validate`` is for plugin authors: it checks the manifest (schema, ids, capabilities,
API version against this console) and, with ``--import``, also imports each
``python_name`` and checks its signature as the host would at activation. Exit 0 when
valid, 1 with the reason on stderr when not (``"ok": false`` and ``problems`` in
``--json``), 2 for usage errors.

``list`` shows what the console would load with the current settings and policy:
every discovered plugin, its version, state (``inactive`` = would be activated,
``not_allowed``, ``disabled``, ``failed``) and the capabilities it would get. No
plugin code runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.cli_support import CliContext, Handler, emit
from app.errors import ConsoleError

EXIT_FAILURE = 1


def register(sub: argparse._SubParsersAction[Any]) -> dict[str, Handler]:
    plugins = sub.add_parser("plugins", help="validate plugin manifests, list installed plugins")
    plugins_sub = plugins.add_subparsers(dest="plugins_command", required=True)
    validate = plugins_sub.add_parser("validate", help="check a plugin.toml (for plugin authors)")
    validate.add_argument("manifest", help="path to the plugin's plugin.toml")
    validate.add_argument(
        "--import",
        dest="import_code",
        action="store_true",
        help="also import each python_name and check its signature (runs the plugin's code)",
    )
    validate.add_argument("--json", action="store_true")
    listing = plugins_sub.add_parser("list", help="plugins found, their state and capabilities")
    listing.add_argument("--json", action="store_true")
    return {"plugins": _cmd_plugins}


async def _cmd_plugins(ctx: CliContext) -> int:
    if ctx.args.plugins_command == "validate":
        return _validate(ctx)
    return _list(ctx)


def _validate(ctx: CliContext) -> int:
    from clinician_console_api import SUPPORTED_API_VERSIONS
    from plugins._manifest import load_manifest

    path = Path(ctx.args.manifest)
    report: dict[str, Any] = {"path": str(path), "problems": []}
    problems: list[str] = report["problems"]
    try:
        manifest = load_manifest(path)
    except ConsoleError as exc:
        problems.append(str(exc))
        return _finish(ctx, report)
    report.update(
        id=manifest.id,
        name=manifest.name,
        version=manifest.version,
        api=list(manifest.api),
        capabilities=list(manifest.capabilities),
        panels=[p.id for p in manifest.contributions.panels],
        commands=[c.id for c in manifest.contributions.commands],
    )
    report["compatible"] = bool(set(manifest.api) & SUPPORTED_API_VERSIONS)
    if not report["compatible"]:
        problems.append(
            f"the plugin needs API {', '.join(manifest.api)}; this console offers "
            f"{', '.join(sorted(SUPPORTED_API_VERSIONS))}"
        )
    if ctx.args.import_code and not problems:
        problems.extend(_check_code(manifest, path))
        report["imported"] = True
    return _finish(ctx, report)


def _check_code(manifest: Any, path: Path) -> list[str]:
    """Resolve and check every python_name, with the manifest's package importable."""
    from plugins.host import resolve_contributions

    # The package holding plugin.toml is importable from its parent directory.
    root = str(path.resolve().parent.parent)
    added = root not in sys.path
    if added:
        sys.path.insert(0, root)
    try:
        resolve_contributions(manifest)
    except ConsoleError as exc:
        return [str(exc)]
    finally:
        if added:
            sys.path.remove(root)
    return []


def _finish(ctx: CliContext, report: dict[str, Any]) -> int:
    problems: list[str] = report["problems"]
    report["ok"] = not problems
    if ctx.args.json:
        emit(report)
    if problems:
        sys.stderr.write(f"clinician-console: {problems[0]}\n")
        return EXIT_FAILURE
    if not ctx.args.json:
        sys.stdout.write(
            f"{report['path']}: valid ({report['id']} {report['version']}, "
            f"API {', '.join(report['api'])})\n"
        )
    return 0


def _list(ctx: CliContext) -> int:
    from plugins.host import PluginHost

    settings = ctx.settings().settings.plugins
    host = PluginHost(data_root=ctx.profile / "plugins", allow=settings.allow, settings=settings)
    infos = host.discover()
    if ctx.args.json:
        emit({"plugins": [info.as_dict() for info in infos]})
        return 0
    for info in infos:
        detail = f" ({info.reason})" if info.reason else ""
        granted = f" [{', '.join(info.granted)}]" if info.granted else ""
        sys.stdout.write(f"{info.plugin_id} {info.version} {info.state.value}{detail}{granted}\n")
    return 0
