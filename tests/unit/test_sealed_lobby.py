"""Sealed waiting-room requests (media/visit/sealed.py) and the patient page's generator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.errors import VisitError
from media.visit.sealed import HostKey, seal

PAGE = Path(__file__).resolve().parents[2] / "resources/web/patient"
TOKEN = "0123456789abcdef0123456789abcdef"


def test_only_the_host_opens_a_request_and_only_for_its_room() -> None:
    host, other = HostKey(), HostKey()
    sealed = seal(host.public, 1000, TOKEN, "Ann  Example")
    assert "Ann" not in sealed and TOKEN not in sealed and sealed.startswith("v1.")
    opened = host.open(sealed, 1000)
    assert opened is not None and (opened.token, opened.name) == (TOKEN, "Ann Example")
    assert TOKEN not in repr(opened)
    assert other.open(sealed, 1000) is None  # another visit's key
    assert host.open(sealed, 1002) is None  # replayed into another room
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    assert host.open(flipped, 1000) is None  # tampered
    for junk in ("", "host", f"{TOKEN}|Ann", "v1.", "v1.!!!", "v1." + "A" * 2000):
        assert host.open(junk, 1000) is None
    assert seal(host.public, 1000, TOKEN, "x") != seal(host.public, 1000, TOKEN, "x")


def test_a_request_with_a_bad_token_inside_is_refused() -> None:
    host = HostKey()
    assert host.open(seal(host.public, 4, "not-hex", "Ann"), 4) is None


def test_a_damaged_key_is_a_clear_error() -> None:
    with pytest.raises(VisitError) as caught:
        seal("AAAA", 4, TOKEN, "Ann")
    assert "invite link" in str(caught.value)


def test_the_shipped_page_is_generated_from_its_configuration(tmp_path: Path) -> None:
    out = tmp_path / "index.html"
    subprocess.run(
        [sys.executable, str(PAGE / "make_page.py"), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    assert out.read_text() == (PAGE / "index.html").read_text(), "run make_page.py and commit"
    assert 'http-equiv="Content-Security-Policy"' in out.read_text()


@pytest.mark.parametrize(
    "server",
    ["wss://a.example/j; script-src *", "wss://a.example/j 'unsafe-inline'", "javascript:x", ""],
)
def test_the_generator_refuses_what_would_widen_the_policy(tmp_path: Path, server: str) -> None:
    config = tmp_path / "servers.toml"
    config.write_text(f"servers = [{json.dumps(server)}]\n" if server else "servers = []\n")
    done = subprocess.run(
        [
            sys.executable,
            str(PAGE / "make_page.py"),
            "--config",
            str(config),
            "--out",
            str(tmp_path / "index.html"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and not (tmp_path / "index.html").exists()
    assert "make_page:" in done.stderr  # refused by the check, not by a TOML error
