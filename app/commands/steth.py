"""``clinician-console steth analyze FILE.wav [--json]``: heart rate of a recording.

Prints one JSON object with ``--json``::

    {"heart_rate_bpm": 72.1 | null, "confidence": 0.91, "duration_s": 10.0,
     "sample_rate_hz": 4000, "bits": 16, "periodicity": 0.9,
     "low_band_fraction": 0.57, "is_heart_sound": true, "file": "clip.wav"}

``heart_rate_bpm`` is null when the recording is not a usable heart sound
(speech, breath sounds, noise, silence, shorter than 3 s). A corrupt or
unsupported file exits 1 with a one-line reason on stderr (docs/stethoscope.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.cli_support import CliContext, Handler, emit
from app.errors import ConsoleError

EXIT_FAILURE = 1


def register(sub: argparse._SubParsersAction[Any]) -> dict[str, Handler]:
    steth = sub.add_parser("steth", help="stethoscope recordings: heart-rate analysis")
    steth_sub = steth.add_subparsers(dest="steth_command", required=True)
    analyze = steth_sub.add_parser("analyze", help="estimate the heart rate of a WAV recording")
    analyze.add_argument("file", help="a PCM WAV file (16/24/32-bit, any channels)")
    analyze.add_argument("--json", action="store_true", help="print one JSON object")
    return {"steth": _cmd_steth}


async def _cmd_steth(ctx: CliContext) -> int:
    from media.steth.heart_rate import analyze
    from media.steth.recording import read_wav

    path = Path(ctx.args.file)
    try:
        clip = read_wav(path)
    except ConsoleError as exc:
        sys.stderr.write(exc.user_message().splitlines()[0] + "\n")
        return EXIT_FAILURE
    result = analyze(clip.samples, clip.sample_rate_hz)
    report: dict[str, Any] = {
        "file": path.name,
        "heart_rate_bpm": result.bpm,
        "confidence": result.confidence,
        "is_heart_sound": result.bpm is not None,
        "duration_s": round(clip.duration_s, 3),
        "sample_rate_hz": clip.sample_rate_hz,
        "bits": clip.bits,
        "periodicity": result.periodicity,
        "low_band_fraction": result.low_band_fraction,
    }
    if ctx.args.json:
        emit(report)
    elif result.bpm is None:
        sys.stdout.write(
            f"no heart rate (not a usable heart sound; confidence {result.confidence:.2f})\n"
        )
    else:
        sys.stdout.write(f"{result.bpm:.1f} bpm (confidence {result.confidence:.2f})\n")
    return 0
