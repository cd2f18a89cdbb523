"""bench.video_latency --quick prints one JSON object of the agreed shape (not the budget)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_run_shape() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.video_latency", "--quick", "--seconds", "1.5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert set(data) == {"bench", "params", "metrics", "reference", "ratio"}
    assert data["bench"] == "video_latency"
    for case in ("720p_vp8", "720p_h264", "480p_vp8", "480p_h264"):
        for side in ("metrics", "reference"):
            figures = data[side][case]
            keys = ("p50_ms", "p95_ms", "max_ms", "frames_lost", "rtp_packets_lost", "cpu_pct")
            for key in (*keys, "threads"):
                assert key in figures, (side, case, key)
            assert figures["frames"] > 0
            assert figures["p95_ms"] is not None
        assert set(data["ratio"][case]) >= {"p95", "cpu"}
    assert "jitter_buffer" in data["metrics"]["720p_vp8"]
    assert data["metrics"]["buffer_us_per_packet"] > 0
    assert data["reference"]["buffer_us_per_packet"] > 0


@pytest.mark.slow
def test_separate_sender_mode_reports_both_processes() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.video_latency", "--quick", "--seconds", "1.5",
         "--case", "480p_vp8", "--separate-sender"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads(done.stdout)
    assert set(data["metrics"]) == {"480p_vp8", "buffer_us_per_packet"}
    for side in ("metrics", "reference"):
        figures = data[side]["480p_vp8"]
        assert figures["frames"] > 0 and figures["p95_ms"] is not None
        assert figures["sender_cpu_pct"] > 0
    assert data["params"]["cpu_pct_covers"] == "receiver process only"
