"""bench.store keeps the benchmark contract (DESIGN.md §3) in a tiny run.

Benchmarks measure, tests don't time: nothing here asserts how fast anything was,
only that the bench runs end to end and reports well-formed, positive figures.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import _common
from bench import store as bench_store
from storage import repository

REPO = Path(__file__).resolve().parents[2]
TINY = ["--notes", "300", "--autosaves", "30", "--searches", "15", "--batch", "100"]


def _run_bench(*args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.store", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, f"stdout must be exactly one JSON object, got {proc.stdout[:500]!r}"
    result = json.loads(lines[0])
    assert isinstance(result, dict)
    return result


def _positive(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


@pytest.fixture(scope="module")
def tiny_result() -> dict[str, Any]:
    return _run_bench(*TINY)


def test_output_has_the_contract_shape(tiny_result: dict[str, Any]) -> None:
    assert set(tiny_result) == {"bench", "params", "metrics", "reference", "ratio"}
    assert tiny_result["bench"] == "store"
    for section in ("params", "metrics", "reference", "ratio"):
        assert isinstance(tiny_result[section], dict)


def test_named_figures_are_positive_numbers(tiny_result: dict[str, Any]) -> None:
    metrics, reference, ratio = (
        tiny_result["metrics"],
        tiny_result["reference"],
        tiny_result["ratio"],
    )
    for name in ("autosave_p50_ms", "autosave_p99_ms", "search_p95_ms", "insert_s"):
        assert _positive(metrics[name]), name
    assert _positive(reference["insert_s"])
    assert _positive(ratio["insert"])
    # ratio is ours over the reference, from the same run (both rounded to 1 ms).
    expected = metrics["insert_s"] / reference["insert_s"]
    assert ratio["insert"] == pytest.approx(expected, rel=0.05, abs=0.01)
    assert metrics["autosave"]["n"] == 30
    assert metrics["search"]["n"] == 15
    assert metrics["autosave_p50_ms"] <= metrics["autosave_p99_ms"]


def test_budget_flags_and_params(tiny_result: dict[str, Any]) -> None:
    budget_ok = tiny_result["metrics"]["budget_ok"]
    assert set(budget_ok) == {"autosave_p99", "insert_ratio", "search_p95", "at_budget_size"}
    assert all(isinstance(flag, bool) for flag in budget_ok.values())
    assert budget_ok["at_budget_size"] is False  # 300 notes is not the 100k the budget names
    params = tiny_result["params"]
    assert params["notes"] == 300
    assert params["mode"] == "custom"
    assert params["seed"] == 1
    assert 1000 <= params["note_chars_mean"] <= 2100
    assert "PRAGMA synchronous = FULL" in params["pragmas"]
    assert "PRAGMA cipher_memory_security = OFF" in params["cipher_pragmas"]


def test_tuning_options_run_and_are_reported() -> None:
    result = _run_bench(
        *TINY,
        "--ids",
        "uuid7",
        "--search-order",
        "rowid",
        "--schema-variant",
        "versions-rowid",
        "--fts-after-load",
        "optimize",
        "--idle-checkpoint-every",
        "10",
        "--pragma",
        "PRAGMA cache_size = -8192",
    )
    params = result["params"]
    assert params["ids"] == "uuid7"
    assert params["search_order"] == "rowid"
    assert params["schema_variant"] == "versions-rowid"
    assert "PRAGMA cache_size = -8192" in params["pragmas"]
    assert _positive(result["metrics"]["search_p95_ms"])
    assert _positive(result["ratio"]["insert"])


def test_quick_mode_is_smaller_and_says_so() -> None:
    cfg = bench_store.parse_config(["--quick"])
    assert cfg.quick
    assert cfg.notes == bench_store.QUICK_NOTES < bench_store.FULL_NOTES
    assert bench_store.parse_config([]).notes == bench_store.BUDGET_NOTES


def test_corpus_is_reproducible_and_note_sized() -> None:
    first = bench_store.build_corpus(50, seed=7)
    second = bench_store.build_corpus(50, seed=7)
    assert first == second
    assert all(900 <= n <= 2200 for n in first.note_chars)
    assert all(text.startswith("Subjective:\n") for _, text, _ in first.notes)
    assert len({note_id for note_id, _, _ in first.notes}) == 50


def test_uuid7_ids_sort_in_creation_order() -> None:
    corpus = bench_store.build_corpus(200, seed=3, ids="uuid7")
    ids = [note_id for note_id, _, _ in corpus.notes]
    assert [i[:13] for i in ids] == sorted(i[:13] for i in ids)
    assert all(i[14] == "7" for i in ids)


def test_queries_are_short_and_searchable() -> None:
    writer = bench_store.NoteWriter(random.Random(11))
    for _ in range(200):
        query = writer.query()
        assert 1 <= len(query.split()) <= 2
        assert repository.fts_query(query) is not None


def test_percentile_matches_linear_interpolation() -> None:
    samples = [5.0, 1.0, 3.0, 2.0, 4.0]
    assert _common.percentile(samples, 0) == 1.0
    assert _common.percentile(samples, 50) == 3.0
    assert _common.percentile(samples, 100) == 5.0
    assert _common.percentile(samples, 95) == pytest.approx(4.8)
    assert _common.percentile([2.0], 99) == 2.0
    with pytest.raises(ValueError):
        _common.percentile([], 50)


def test_ratio_never_divides_by_zero() -> None:
    assert _common.ratio(2.0, 1.0) == 2.0
    assert _common.ratio(1.0, 0.0) is None
