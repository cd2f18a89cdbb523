"""bench.glass_to_glass prints one JSON object of the agreed shape, with real figures.

Real parts: Janus in a network namespace, two console processes with shown
QtVisitWindows (offscreen), two headless Chromiums. A short run (``--quick
--seconds 2``) checks the figures exist and are plausible, not the budgets
(those are for the full run on a quiet machine; docs/media.md quotes them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]


def test_glass_to_glass_quick_shape() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.glass_to_glass", "--quick", "--seconds", "2"],
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO), QT_QPA_PLATFORM="offscreen"),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stdout
    result = json.loads(lines[0])
    assert set(result) == {"bench", "params", "metrics", "reference", "ratio"}
    assert result["bench"] == "glass_to_glass" and result["params"]["quick"] is True
    assert result["params"]["size"] == "640x480"
    metrics, reference = result["metrics"], result["reference"]
    # Frames were painted and read back from the window's pixels, on both sides.
    assert metrics["n"] > 10 and reference["n"] > 10
    for key in ("p95_ms", "paint_p95_ms", "decoded_p95_ms"):
        assert metrics[key] is not None and metrics[key] > 0, key
    # decoded -> painted is part of capture -> painted
    assert metrics["paint_p50_ms"] <= metrics["p50_ms"]
    assert 50 < metrics["rss_call_mib"] < 4000
    assert reference["p95_ms"] > 0
    assert result["ratio"]["p95"] == pytest.approx(
        metrics["p95_ms"] / reference["p95_ms"], abs=1e-3
    )
    assert set(result["params"]["budget"]) == {
        "p95_ratio_le_0_5",
        "paint_p95_le_16_7ms",
        "rss_call_le_400mib",
        "rss_budget_applies",
    }
