"""``clinician-console steth analyze FILE.wav --json``: one JSON object; bad files exit 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from media.steth import synth
from media.steth.recording import write_wav


def cli(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "--profile", str(profile), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_heart_sound_reports_its_rate(fresh_profile: Path, tmp_path: Path) -> None:
    path = tmp_path / "mitral.wav"
    write_wav(path, synth.heart_sound(88, 10.0, sample_rate_hz=8_000, snr_db=15.0), 8_000, bits=24)
    result = cli(fresh_profile, "steth", "analyze", str(path), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # exactly one object: json.loads refuses trailing data
    assert abs(report["heart_rate_bpm"] - 88) <= 3
    assert 0.35 <= report["confidence"] <= 1
    assert report["duration_s"] == 10.0
    assert report["sample_rate_hz"] == 8_000
    assert report["bits"] == 24
    assert report["is_heart_sound"] is True


def test_speech_reports_null(fresh_profile: Path, tmp_path: Path) -> None:
    path = tmp_path / "talk.wav"
    write_wav(path, synth.speech_like(6.0, seed=3), 16_000)
    report = json.loads(cli(fresh_profile, "steth", "analyze", str(path), "--json").stdout)
    assert report["heart_rate_bpm"] is None
    assert report["is_heart_sound"] is False


def test_plain_output(fresh_profile: Path, tmp_path: Path) -> None:
    path = tmp_path / "h.wav"
    write_wav(path, synth.heart_sound(60, 8.0, sample_rate_hz=4_000), 4_000)
    result = cli(fresh_profile, "steth", "analyze", str(path))
    assert result.returncode == 0
    assert "bpm (confidence" in result.stdout


@pytest.mark.parametrize(
    "content", [b"", b"RIFF\x00\x00\x00\x00WAVEfmt ", b"\x00" * 100], ids=["empty", "cut", "zeros"]
)
def test_bad_file_exits_1_with_one_line(
    fresh_profile: Path, tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    result = cli(fresh_profile, "steth", "analyze", str(path), "--json")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "broken.wav" in lines[0]


def test_missing_file_exits_1(fresh_profile: Path, tmp_path: Path) -> None:
    result = cli(fresh_profile, "steth", "analyze", str(tmp_path / "nope.wav"))
    assert result.returncode == 1
    assert "nope.wav" in result.stderr
