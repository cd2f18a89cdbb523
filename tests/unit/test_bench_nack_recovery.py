"""bench.nack_recovery --quick prints one JSON object of the agreed shape, with sane figures.

No timing thresholds: how fast recovery is belongs to the benchmark's output, not here.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIGURES = (
    "recovery_p50_ms",
    "recovery_p95_ms",
    "frames_recovered",
    "frames_waited_out",
    "holes",
    "packets_dropped",
    "release_p50_ms",
    "release_p95_ms",
    "latency_p50_ms",
    "latency_p95_ms",
)


@pytest.mark.slow
def test_quick_run_shape_and_sanity() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.nack_recovery", "--quick", "--seconds", "2",
         "--loss", "2", "--loss", "10"],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert set(data) == {"bench", "params", "metrics", "reference", "ratio"}
    assert data["bench"] == "nack_recovery"
    assert data["params"]["loss_pct"] == [2, 10]
    assert set(data["metrics"]) == set(data["ratio"]) == {"loss_2pct", "loss_10pct"}

    clean = data["reference"]
    for key in FIGURES:
        assert key in clean, key
    # No loss: nothing dropped, no hole, nothing to recover; frames flowed.
    assert clean["packets_dropped"] == 0 and clean["media_packets"] > 0
    assert clean["holes"] == clean["frames_recovered"] == clean["frames_waited_out"] == 0
    assert clean["recovery_p95_ms"] is None
    assert clean["frames"] > 0 and clean["frames_released"] > 0
    assert clean["latency_p95_ms"] > 0
    assert clean["release_p95_ms"] >= 0

    for key, figures in data["metrics"].items():
        for name in FIGURES:
            assert name in figures, (key, name)
        assert figures["frames"] > 0
        if figures["packets_dropped"] == 0:
            continue
        # Loss was there: holes were seen and NACKed, and filled ones released frames.
        assert figures["holes"] > 0
        assert figures["nacks"] >= figures["holes"]
        assert figures["holes_filled"] <= figures["holes"]
        if figures["frames_recovered"]:
            p50, p95 = figures["recovery_p50_ms"], figures["recovery_p95_ms"]
            assert math.isfinite(p95) and p95 > 0
            assert 0 < p50 <= p95 <= figures["recovery_max_ms"]
            assert data["ratio"][key]["recovery_p95"] > 0
    heavy = data["metrics"]["loss_10pct"]
    # At 10 % of hundreds of packets loss is certain, and NACK recovers most of it.
    assert heavy["packets_dropped"] > 0
    assert heavy["frames_recovered"] > 0
    assert heavy["recovery_p95_ms"] is not None
