"""installers/footprint.py: the bundle's size by component, budgets and the baseline guard."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _footprint() -> ModuleType:
    spec = importlib.util.spec_from_file_location("footprint", ROOT / "installers" / "footprint.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["footprint"] = module
    spec.loader.exec_module(module)
    return module


fp = _footprint()
MIB = 1024 * 1024


def _file(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        fh.truncate(size)  # sparse: the size is what counts


def _bundle(root: Path) -> Path:
    internal = root / "_internal"
    _file(internal / "av" / "video" / "frame.so", 4 * MIB)
    _file(internal / "av.libs" / "libavcodec.so", 18 * MIB)
    _file(internal / "PySide6" / "Qt" / "lib" / "libicudata.so.73", 31 * MIB)
    _file(internal / "PySide6" / "Qt" / "lib" / "libQt6Gui.so.6", 11 * MIB)
    _file(internal / "libpython3.11.so.1.0", 22 * MIB)
    _file(internal / "libcrypto.so.3", 4 * MIB)
    _file(internal / "psygnal-0.16.1.dist-info" / "RECORD", 1000)
    _file(root / "clinician-console", 2 * MIB)
    return root


def test_components_group_vendored_libraries_with_their_package(tmp_path: Path) -> None:
    totals = fp.sizes_by_component(_bundle(tmp_path / "b"))
    assert totals["av"] == 22 * MIB
    assert totals["PySide6: ICU (Unicode data)"] == 31 * MIB
    assert totals["PySide6: Qt lib"] == 11 * MIB
    assert totals["libpython"] == 22 * MIB
    assert totals["system libraries"] == 4 * MIB
    lines = fp.report_lines(totals)
    assert lines[1].startswith("PySide6: ICU") and "31.0" in lines[1]
    assert lines[-1].split()[-1] == f"{sum(totals.values()) / MIB:.1f}"
    assert any("smaller components" in line for line in lines)


def test_over_budget_or_ten_percent_over_baseline_fails(tmp_path: Path) -> None:
    baseline = {"bundle_bytes": 400 * MIB, "deb_bytes": 150 * MIB}
    assert list(fp.problems(430 * MIB, 160 * MIB, baseline)) == []
    grown = list(fp.problems(441 * MIB, 150 * MIB, baseline))
    assert len(grown) == 1 and "bundle grew" in grown[0]
    over = list(fp.problems(501 * MIB, 181 * MIB, {}))
    assert len(over) == 2 and all("over its budget" in line for line in over)


def test_check_command_reads_the_baseline_file(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path / "b")
    deb = tmp_path / "x.deb"
    _file(deb, 10 * MIB)
    small = tmp_path / "baseline.json"
    small.write_text(json.dumps({"bundle_bytes": 50 * MIB, "deb_bytes": 10 * MIB}))
    args = ["check", "--bundle", str(bundle), "--deb", str(deb), "--baseline", str(small)]
    assert fp.main(args) == 1  # 92 MiB is far more than 10 % over 50 MiB
    small.write_text(json.dumps({"bundle_bytes": 90 * MIB, "deb_bytes": 10 * MIB}))
    assert fp.main(args) == 0
    assert fp.main(["check", "--bundle", str(tmp_path / "missing")]) == 2


def test_the_recorded_baseline_is_within_budget() -> None:
    recorded = json.loads((ROOT / "installers" / "footprint-baseline.json").read_text())
    assert recorded["bundle_bytes"] <= fp.BUNDLE_BUDGET_BYTES
    assert recorded["deb_bytes"] <= fp.DEB_BUDGET_BYTES
    assert recorded["why"]
