"""Helpers shared by the benchmarks: one JSON object on stdout, percentiles, timers.

The contract (DESIGN.md §3): ``python -m bench.NAME [--quick]`` prints exactly one
JSON object, ``{"bench", "params", "metrics", "reference", "ratio"}``, on stdout.
Everything else (progress, library chatter, warnings) goes to stderr; :func:`run`
enforces that by pointing ``sys.stdout`` at stderr while the body runs, so a stray
``print`` in a dependency cannot corrupt the output a CI job parses.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

JsonValue = Any  # what json.dumps accepts; kept loose so benches can nest freely


@dataclass
class BenchResult:
    """What a bench measured; ``ratio`` is ours over the reference (lower is better)."""

    params: dict[str, JsonValue] = field(default_factory=dict)
    metrics: dict[str, JsonValue] = field(default_factory=dict)
    reference: dict[str, JsonValue] = field(default_factory=dict)
    ratio: dict[str, JsonValue] = field(default_factory=dict)

    def to_json(self, bench: str) -> dict[str, JsonValue]:
        return {
            "bench": bench,
            "params": self.params,
            "metrics": self.metrics,
            "reference": self.reference,
            "ratio": self.ratio,
        }


def log(message: str) -> None:
    """Progress for humans: always stderr, never the JSON stream."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def emit(bench: str, result: BenchResult, stream: TextIO | None = None) -> None:
    out = stream if stream is not None else sys.stdout
    # allow_nan=False: NaN/Infinity are not JSON; a bench must report null instead.
    out.write(json.dumps(result.to_json(bench), allow_nan=False) + "\n")
    out.flush()


def run(bench: str, body: Callable[[], BenchResult]) -> int:
    """Run ``body`` with stdout diverted to stderr, then print its result as the one JSON line."""
    real_stdout = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        result = body()
    emit(bench, result, real_stdout)
    return 0


def base_parser(bench: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m bench.{bench}", description=description)
    parser.add_argument("--quick", action="store_true", help="smaller run that finishes in < 60 s")
    return parser


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear interpolation between closest ranks (numpy's default)."""
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0.0 <= q <= 100.0:
        raise ValueError("q must be within 0-100")
    ordered = sorted(samples)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = math.ceil(position)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_summary_ms(samples_s: Sequence[float], digits: int = 3) -> dict[str, float]:
    """p50/p95/p99/max/mean in milliseconds from samples in seconds."""
    ms = [s * 1000.0 for s in samples_s]
    return {
        "p50_ms": round(percentile(ms, 50), digits),
        "p95_ms": round(percentile(ms, 95), digits),
        "p99_ms": round(percentile(ms, 99), digits),
        "max_ms": round(max(ms), digits),
        "mean_ms": round(sum(ms) / len(ms), digits),
        "n": len(ms),
    }


def ratio(ours: float, reference: float, digits: int = 3) -> float | None:
    """ours / reference, or None when the reference is zero (JSON null, never Infinity)."""
    if reference <= 0.0:
        return None
    return round(ours / reference, digits)


@contextlib.contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as t: ...`` then ``t[0]`` is the elapsed wall time in seconds."""
    elapsed: list[float] = []
    start = time.perf_counter()
    try:
        yield elapsed
    finally:
        elapsed.append(time.perf_counter() - start)


def machine_params() -> dict[str, JsonValue]:
    """Where the figures came from: a ratio travels between machines, an absolute time does not."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "cpus": os.cpu_count() or 0,
    }
