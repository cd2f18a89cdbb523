"""Start-up does no work it does not need (bench.startup's budget, docs/performance.md).

Each check runs in a fresh interpreter: what a module imports or scans at import
time is only visible in a process that has not imported it before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def _fresh(code: str, **env: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"} | env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_settings_do_not_scan_every_distribution_for_pydantic_plugins() -> None:
    found = _fresh(
        "import json, app.settings\n"
        "from pydantic.plugin import _loader\n"
        "app.settings.Settings()\n"
        "print(json.dumps({'scanned': _loader._plugins is not None}))"
    )
    assert found == {"scanned": False}


def test_an_explicit_pydantic_plugin_setting_is_left_alone() -> None:
    found = _fresh(
        "import json, os, app.settings\n"
        "print(json.dumps({'value': os.environ['PYDANTIC_DISABLE_PLUGINS']}))",
        PYDANTIC_DISABLE_PLUGINS="some-plugin",
    )
    assert found == {"value": "some-plugin"}
