"""Where the frozen bundle's bytes go, and a guard against it growing unnoticed.

    python installers/footprint.py report BUNDLE_DIR
    python installers/footprint.py check --bundle BUNDLE_DIR [--deb FILE.deb]

``report`` prints one row per component of 10 MiB or more (a Python package with its
``.libs`` folder of vendored shared libraries, Qt's ICU data apart from the rest of
Qt, ...), then everything smaller as one row, so a growing bundle names its cause.

``check`` fails (exit 1) when the bundle or the ``.deb`` is over its budget
(DESIGN.md §6: bundle <= 500 MiB, .deb <= 180 MiB) or more than 10 % over the
baseline recorded in ``footprint-baseline.json`` beside this file. The baseline is
raised only in a commit that names the dependency that grew it and by how much.
Standard library only: the build scripts run it with any Python.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path

MIB = 1024 * 1024
BUNDLE_BUDGET_BYTES = 500 * MIB
DEB_BUDGET_BYTES = 180 * MIB
GROWTH_LIMIT = 1.10
ROW_MIN_BYTES = 10 * MIB
BASELINE_FILE = Path(__file__).with_name("footprint-baseline.json")


def component_of(relative: Path) -> str:
    """The component a bundle file belongs to, from its path below the bundle folder."""
    parts = list(relative.parts)
    if len(parts) == 1:
        return "launcher"  # the executable (and, on Windows, its manifest) beside _internal
    if parts[0] == "_internal":
        parts = parts[1:]
    if not parts:
        return "(bundle)"
    head = parts[0]
    if len(parts) == 1:
        # Loose shared libraries beside the packages: the interpreter, or system
        # libraries PyInstaller copied for a binding.
        return "libpython" if head.startswith("libpython") else "system libraries"
    if head.endswith(".libs"):  # auditwheel's vendored libraries belong to their wheel
        head = head.removesuffix(".libs")
    if head == "PySide6" and len(parts) > 3 and parts[1] == "Qt":
        if parts[2] == "lib" and parts[3].startswith("libicu"):
            return "PySide6: ICU (Unicode data)"
        return f"PySide6: Qt {parts[2]}"
    if head.endswith(".dist-info"):
        return "package metadata"
    return head


def sizes_by_component(bundle: Path) -> dict[str, int]:
    totals: dict[str, int] = {}
    for path in bundle.rglob("*"):
        if path.is_file() and not path.is_symlink():
            name = component_of(path.relative_to(bundle))
            totals[name] = totals.get(name, 0) + path.stat().st_size
    return totals


def report_lines(totals: dict[str, int]) -> list[str]:
    total = sum(totals.values())
    big = sorted(
        ((size, name) for name, size in totals.items() if size >= ROW_MIN_BYTES), reverse=True
    )
    rest = [size for size in totals.values() if size < ROW_MIN_BYTES]
    lines = [f"{'component':<34} {'MiB':>7} {'share':>6}"]
    for size, name in big:
        lines.append(f"{name:<34} {size / MIB:7.1f} {100 * size / total:5.1f}%")
    if rest:
        label = f"{len(rest)} smaller components"
        lines.append(f"{label:<34} {sum(rest) / MIB:7.1f} {100 * sum(rest) / total:5.1f}%")
    lines.append(f"{'total':<34} {total / MIB:7.1f}")
    return lines


def bundle_bytes(bundle: Path) -> int:
    return sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file() and not p.is_symlink())


def problems(bundle_size: int, deb_size: int | None, baseline: dict[str, int]) -> Iterable[str]:
    checks = [("bundle", bundle_size, BUNDLE_BUDGET_BYTES)]
    if deb_size is not None:
        checks.append(("deb", deb_size, DEB_BUDGET_BYTES))
    for name, size, budget in checks:
        if size > budget:
            yield f"{name} is {size / MIB:.1f} MiB, over its budget of {budget / MIB:.0f} MiB"
        recorded = baseline.get(f"{name}_bytes")
        if recorded and size > recorded * GROWTH_LIMIT:
            yield (
                f"{name} grew to {size / MIB:.1f} MiB, more than 10 % over the recorded "
                f"baseline of {recorded / MIB:.1f} MiB (installers/footprint-baseline.json): "
                "find what grew with `footprint.py report`, and raise the baseline only in a "
                "commit that names that dependency and by how much"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="footprint.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="where the bundle's bytes go")
    rep.add_argument("bundle", type=Path)
    chk = sub.add_parser("check", help="fail when over budget or over the baseline")
    chk.add_argument("--bundle", type=Path, required=True)
    chk.add_argument("--deb", type=Path)
    chk.add_argument("--baseline", type=Path, default=BASELINE_FILE)
    args = parser.parse_args(argv)

    if not args.bundle.is_dir():
        print(f"footprint: {args.bundle} is not a bundle folder", file=sys.stderr)
        return 2
    if args.command == "report":
        print("\n".join(report_lines(sizes_by_component(args.bundle))))
        return 0
    baseline = json.loads(args.baseline.read_text()) if args.baseline.exists() else {}
    deb_size = args.deb.stat().st_size if args.deb is not None else None
    found = list(problems(bundle_bytes(args.bundle), deb_size, baseline))
    for line in found:
        print(f"footprint: {line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
