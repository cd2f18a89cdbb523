"""``clinician-console image check`` and ``image add`` (app/commands/image.py), as subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.images_support import at_megapixels, gaussian, jpeg_bytes, photo


def cli(profile: Path, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "--profile", str(profile), *args],
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,  # type: ignore[call-overload]
    )


def test_check_prints_one_json_object_with_the_verdict(fresh_profile: Path, tmp_path: Path) -> None:
    sharp = at_megapixels(photo("retina.jpg"), 1.0)
    good = tmp_path / "fundus.jpg"
    good.write_bytes(jpeg_bytes(sharp))
    blurred = tmp_path / "fundus-blurred.jpg"
    blurred.write_bytes(jpeg_bytes(gaussian(sharp, 2.0)))

    result = cli(fresh_profile, "image", "check", str(good), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["problems"] == []
    assert (report["width"], report["height"]) == (sharp.shape[1], sharp.shape[0])

    result = cli(fresh_profile, "image", "check", str(blurred), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["problems"] == ["blurred"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"just some text, not a picture\n", "not a JPEG or PNG"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 64, "could not be used"),
    ],
)
def test_check_refuses_a_bad_file_with_one_line(
    fresh_profile: Path, tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    result = cli(fresh_profile, "image", "check", str(path), "--json")
    assert result.returncode == 1
    assert result.stdout == ""
    assert reason in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
