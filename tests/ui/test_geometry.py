"""Every control of the main window, the visit window (with the stethoscope panel) and
each dialog lies inside the screen: a 1366x768 cart and a 1920x1080 workstation at
150 % scaling.

Each screen runs ``screen_checks.py`` in a child pytest, because a QApplication's
screens are fixed when it starts; the child's offscreen platform is given the
screen's size through its JSON configuration (Qt's offscreen ``configfile``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

SCREENS = {
    "cart-1366x768": ("1366x768", "1"),
    "workstation-1920x1080-150": ("1920x1080", "1.5"),
}


def screen_env(tmp_path: Path, size: str, scale: str) -> dict[str, str]:
    width, height = (int(v) for v in size.split("x"))
    config = tmp_path / f"screen-{size}.json"
    config.write_text(
        json.dumps(
            {
                "screens": [
                    {
                        "name": "clinic",
                        "x": 0,
                        "y": 0,
                        "width": width,
                        "height": height,
                        "logicalDpi": 96,
                        "logicalBaseDpi": 96,
                        "dpr": 1,
                    }
                ]
            }
        )
    )
    env = dict(os.environ)
    env.update(
        QT_QPA_PLATFORM=f"offscreen:configfile={config}",
        QT_SCALE_FACTOR=scale,
        CONSOLE_TEST_SCREEN=size,
        PYTHONPATH=str(ROOT),
    )
    return env


@pytest.mark.parametrize("screen", list(SCREENS))
def test_every_control_inside_the_screen(screen: str, tmp_path: Path) -> None:
    size, scale = SCREENS[screen]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(HERE / "screen_checks.py"), "-q", "-x",
         "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "child")],
        cwd=ROOT,
        env=screen_env(tmp_path, size, scale),
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
