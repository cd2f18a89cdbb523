"""bench.startup's finish line: the console (and the reference window) report ready."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from bench import startup


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    return env


def test_reference_window_reports_ready(tmp_path: Path) -> None:
    script = tmp_path / "bare.py"
    script.write_text(startup.BARE_WINDOW)
    seconds, rss = startup._launch([sys.executable, str(script)], _env())
    assert 0 < seconds < 60
    assert rss is not None and rss > 10


def test_a_process_that_dies_before_ready_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="exited before it was ready"):
        startup._launch([sys.executable, "-c", "raise SystemExit(3)"], _env())


@pytest.mark.keyring
def test_console_reports_ready_once_the_worklist_shows(tmp_path: Path) -> None:
    """A demo profile opens to its worklist without a prompt, and says so on the pipe."""
    profile = tmp_path / "profile"
    first, _ = startup._launch(startup._console_argv(profile), _env())
    second, rss = startup._launch(startup._console_argv(profile), _env())
    assert 0 < first < 60 and 0 < second < 60
    assert rss is not None and rss > 50
