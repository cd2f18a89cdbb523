"""Log lines keep their real timestamp; only what a record says is scrubbed."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from app import logging_setup


@pytest.fixture
def log_file(tmp_path: Path):
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    path = logging_setup.configure(tmp_path)
    yield path
    for handler in list(root.handlers):
        handler.close()
        root.removeHandler(handler)
    root.setLevel(saved[0])
    for handler in saved[1]:
        root.addHandler(handler)


def _lines(path: Path) -> list[str]:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return path.read_text(encoding="utf-8").splitlines()


def test_lines_start_with_a_real_timestamp_and_dates_in_messages_are_scrubbed(
    log_file: Path,
) -> None:
    logging.getLogger("probe").warning("born %s, call %s", "1961-04-12", "+1 555 123 4567")
    line = _lines(log_file)[-1]
    assert re.match(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} WARNING probe: ", line), line
    assert "1961-04-12" not in line and "<date>" in line and "<number>" in line


def test_exception_text_is_scrubbed_and_timestamp_kept(log_file: Path) -> None:
    try:
        raise ValueError("patient born 1961-04-12")
    except ValueError:
        logging.getLogger("probe").exception("failed on 1999-01-02")
    text = "\n".join(_lines(log_file))
    assert "1961-04-12" not in text and "1999-01-02" not in text
    assert re.search(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}", text, re.M)


def test_user_actions_are_logged_with_ids_only(log_file: Path) -> None:
    logging_setup.log_user_action("lock", reason="idle")
    logging_setup.log_user_action("attach", kind="audio", encounter="enc-1")
    lines = _lines(log_file)
    assert lines[-2].endswith("clinician_console.actions: user action: lock reason=idle")
    assert lines[-1].endswith("user action: attach kind=audio encounter=enc-1")
