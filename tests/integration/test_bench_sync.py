"""bench.sync keeps the benchmark contract (DESIGN.md §3) in a tiny run against real SEKMET.

Benchmarks measure, tests don't time: nothing here asserts how fast anything was, only
that the bench runs end to end, drains without duplicates and reports well-formed,
positive figures.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TINY = ["--notes", "30", "--images", "1", "--image-bytes", "200000", "--repeat", "1"]


def _positive(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


@pytest.fixture(scope="module", params=["sekmet", "medplum"])
def tiny_result(request: pytest.FixtureRequest) -> dict[str, Any]:
    # The fixtures make sure SEKMET's venv / Medplum's packages exist; the bench finds
    # them the same way.
    request.getfixturevalue("sekmet_executable" if request.param == "sekmet" else "medplum_install")
    proc = subprocess.run(
        [sys.executable, "-m", "bench.sync", *TINY, "--server", request.param],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, f"stdout must be exactly one JSON object, got {proc.stdout[:500]!r}"
    result = json.loads(lines[0])
    assert isinstance(result, dict)
    return result


def test_output_has_the_contract_shape(tiny_result: dict[str, Any]) -> None:
    assert set(tiny_result) == {"bench", "params", "metrics", "reference", "ratio"}
    assert tiny_result["bench"] == "sync"
    for section in ("params", "metrics", "reference", "ratio"):
        assert isinstance(tiny_result[section], dict)
    params = tiny_result["params"]
    assert params["notes"] == 30 and params["images"] == 1 and params["image_bytes"] == 200_000
    assert params["records"] == params["notes"] + params["encounters"] + params["patients"]
    assert "Binary" in params["images_are"] and "attachments" in params["images_are"]
    assert isinstance(tiny_result["metrics"]["budget_ok"], bool)


def test_the_drain_is_exactly_once(tiny_result: dict[str, Any]) -> None:
    metrics, reference = tiny_result["metrics"], tiny_result["reference"]
    records = tiny_result["params"]["records"]
    assert metrics["duplicates"] == 0 and metrics["missing"] == 0
    assert metrics["lost_edits"] == 0
    assert reference["duplicates"] == 0 and reference["missing"] == 0
    assert metrics["acknowledged"] == records + tiny_result["params"]["images"]
    assert metrics["binaries_on_server"] in (1, -1)  # -1: the server cannot list Binary


def test_named_figures_are_positive_numbers(tiny_result: dict[str, Any]) -> None:
    metrics, reference, ratio = (
        tiny_result["metrics"],
        tiny_result["reference"],
        tiny_result["ratio"],
    )
    for section in (metrics, reference):
        for name in ("wall_s", "requests", "bytes_sent", "notes_s", "images_s"):
            assert _positive(section[name]), name
    for name in ("wall", "notes_wall", "images_wall", "requests", "bytes_sent"):
        assert _positive(ratio[name]), name
    assert _positive(metrics["pull_s"])
    # Counted on the wire: one request per resource on the reference side (a still is a
    # Binary and a Media); here the CapabilityStatement, one transaction per batch (on
    # SEKMET the 30 notes and their records fit in one; Medplum takes at most 8
    # conditional creates per transaction) and one per still.
    records = tiny_result["params"]["records"]
    assert reference["requests"] == records + 2
    if tiny_result["params"]["server"].startswith("sekmet"):
        assert metrics["requests"] == 3
    else:
        assert metrics["requests"] < records / 2
    assert metrics["bytes_sent"] > 200_000 and reference["bytes_sent"] > 200_000
    # ratio is ours over the reference, from the same run (each rounded to 0.1 ms).
    assert ratio["wall"] == pytest.approx(
        metrics["wall_s"] / reference["wall_s"], rel=0.05, abs=0.01
    )
