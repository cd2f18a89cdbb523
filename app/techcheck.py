"""The tech check: can this cart or workstation hold a video visit right now?

A nurse (or a clinician before a visit, or IT on the phone) runs it from Visit › Tech
check…, ``clinician-console techcheck [--json]``, or reads its quick half in
``check --json``. Each line is green, amber or red, says what was found in words a
nurse understands, and what to do about it.

This module is pure: the measurements come from probes (``media.techcheck``
implements them) as plain :class:`Measurement` values, and the grading below turns
them into :class:`CheckLine` s. Grading is here, not in the probes, so the thresholds
are one table that tests pin down without devices or servers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from psygnal import Signal

from app.errors import ConsoleError


class Status(StrEnum):
    GREEN = "green"
    AMBER = "amber"
    RED = "red"
    SKIPPED = "skipped"  # nothing to check (e.g. no TURN server configured)


@dataclass(frozen=True)
class Measurement:
    """What a probe found. ``values`` holds numbers and short strings only, never
    patient data (device names and host names are fine: IT needs them)."""

    key: str
    ok: bool
    values: Mapping[str, Any] = field(default_factory=dict)
    problem: str = ""  # a short reason when ok is False ("no such device", "timed out")


@dataclass(frozen=True)
class CheckLine:
    key: str
    title: str
    status: Status
    summary: str
    action: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "status": self.status.value,
            "summary": self.summary,
            "action": self.action,
            "values": dict(self.values),
        }


@dataclass(frozen=True)
class TechCheckReport:
    lines: tuple[CheckLine, ...]
    started_at: float
    duration_s: float

    @property
    def status(self) -> Status:
        statuses = {line.status for line in self.lines}
        for worst in (Status.RED, Status.AMBER):
            if worst in statuses:
                return worst
        return Status.GREEN

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started_at)),
            "duration_s": round(self.duration_s, 2),
            "lines": [line.to_json() for line in self.lines],
        }


# --- grading -------------------------------------------------------------------------

TITLES: Mapping[str, str] = {
    "camera": "Camera",
    "microphone": "Microphone",
    "speaker": "Speaker",
    "stethoscope": "Stethoscope input",
    "media_server": "Video service",
    "turn_udp": "Relay server (UDP)",
    "turn_tcp": "Relay server (TCP)",
    "turn_tls": "Relay server (TLS)",
    "connection": "Connection to the video service",
    "bandwidth": "Network speed",
}

#: Below this level (dBFS, RMS over the measurement) an input is taken as silent.
SILENT_DBFS = -60.0
#: At or above this peak (dBFS) an input clips.
CLIPPING_DBFS = -0.5
#: Bitrates (kbit/s) a 720p call wants and a usable call needs, each way.
GOOD_KBPS = 1500.0
USABLE_KBPS = 500.0


def _line(m: Measurement, status: Status, summary: str, action: str = "") -> CheckLine:
    return CheckLine(m.key, TITLES.get(m.key, m.key), status, summary, action, m.values)


def _grade_camera(m: Measurement) -> CheckLine:
    if not m.ok:
        return _line(
            m,
            Status.RED,
            "No picture from the camera.",
            "Check that the camera is plugged in and not used by another program, then run "
            "the check again.",
        )
    width, height = int(m.values.get("width", 0)), int(m.values.get("height", 0))
    fps = float(m.values.get("fps", 0.0))
    if m.values.get("synthetic"):
        return _line(
            m,
            Status.AMBER,
            "No camera found: the test pattern would be sent instead.",
            "Connect a camera, or choose one in Settings.",
        )
    if width >= 1280 and height >= 720 and fps >= 24:
        return _line(m, Status.GREEN, f"Picture {width}x{height} at {fps:.0f} frames a second.")
    return _line(
        m,
        Status.AMBER,
        f"Picture {width}x{height} at {fps:.0f} frames a second: the far end sees less detail.",
        "Use a camera that gives 1280x720 at 30 frames a second, or close other programs using it.",
    )


def _grade_input(m: Measurement, what: str) -> CheckLine:
    if not m.ok:
        return _line(
            m,
            Status.RED,
            f"The {what} cannot be opened.",
            f"Check that the {what} is plugged in and chosen in Settings.",
        )
    if m.values.get("synthetic"):
        return _line(
            m,
            Status.AMBER,
            f"No {what} found: a test tone would be sent instead.",
            f"Connect a {what}, or choose one in Settings.",
        )
    rms = float(m.values.get("rms_dbfs", -120.0))
    peak = float(m.values.get("peak_dbfs", -120.0))
    if peak >= CLIPPING_DBFS:
        return _line(
            m,
            Status.AMBER,
            f"The {what} is too loud and distorts.",
            f"Turn the {what}'s level down (system sound settings) and check again.",
        )
    if rms < SILENT_DBFS:
        return _line(
            m,
            Status.AMBER,
            f"The {what} works but nothing was heard.",
            f"Speak (or place the {what}) and check again; make sure it is not muted.",
        )
    return _line(m, Status.GREEN, f"The {what} works (level {rms:.0f} dBFS).")


def _grade_speaker(m: Measurement) -> CheckLine:
    if not m.ok:
        return _line(
            m,
            Status.RED,
            "No speaker: you will not hear the patient.",
            "Connect speakers or a headset and choose them in Settings.",
        )
    return _line(
        m,
        Status.GREEN,
        "A test sound was played.",
        "If you did not hear it, turn the volume up or choose another speaker in Settings.",
    )


def _grade_media_server(m: Measurement) -> CheckLine:
    if not m.values.get("configured", True):
        return _line(m, Status.SKIPPED, "No video service is set up on this console.")
    if not m.ok:
        return _line(
            m,
            Status.RED,
            "The video service cannot be reached: video visits will not start.",
            "Check the network cable or Wi-Fi; if it persists, call IT (they can see this "
            "check in the console's log).",
        )
    rtt = float(m.values.get("connect_ms", 0.0))
    if rtt > 1000:
        return _line(
            m,
            Status.AMBER,
            f"The video service answers slowly ({rtt:.0f} ms).",
            "Calls may start slowly; a wired connection helps.",
        )
    return _line(m, Status.GREEN, f"The video service answers ({rtt:.0f} ms).")


def _grade_turn(m: Measurement) -> CheckLine:
    if not m.values.get("configured", True):
        return _line(m, Status.SKIPPED, "Not set up (not needed on most networks).")
    if not m.ok:
        reason = m.problem or "no answer"
        return _line(
            m,
            Status.AMBER,
            f"The relay server does not answer this way ({reason}).",
            "Only matters on networks that block direct video; tell IT if calls fail.",
        )
    return _line(
        m, Status.GREEN, f"The relay server answers ({float(m.values.get('rtt_ms', 0)):.0f} ms)."
    )


def _grade_connection(m: Measurement) -> CheckLine:
    if not m.values.get("configured", True):
        return _line(m, Status.SKIPPED, "No video service is set up on this console.")
    if not m.ok:
        return _line(
            m,
            Status.RED,
            "Video cannot get through this network.",
            "Call IT: the network blocks video (UDP) and no relay server works.",
        )
    if m.values.get("candidate_type") == "relay":
        return _line(
            m,
            Status.AMBER,
            "Video gets through only by the relay server.",
            "Calls work, with a little more delay. IT can open UDP to the video service.",
        )
    return _line(m, Status.GREEN, "Video gets through directly.")


def _grade_bandwidth(m: Measurement) -> CheckLine:
    if not m.values.get("configured", True):
        return _line(m, Status.SKIPPED, "No video service is set up on this console.")
    if not m.ok:
        return _line(
            m,
            Status.RED,
            "The network speed could not be measured.",
            "Run the check again; if it fails again, call IT.",
        )
    up = float(m.values.get("uplink_kbps", 0.0))
    down = float(m.values.get("downlink_kbps", 0.0))
    worst = min(up, down)
    text = f"About {up / 1000:.1f} Mbit/s up and {down / 1000:.1f} Mbit/s down."
    if worst >= GOOD_KBPS:
        return _line(m, Status.GREEN, text)
    if worst >= USABLE_KBPS:
        return _line(
            m,
            Status.AMBER,
            text + " Enough for video at reduced quality.",
            "Close other programs or downloads; a wired connection helps.",
        )
    return _line(
        m,
        Status.RED,
        text + " Too slow for video.",
        "Move closer to the Wi-Fi or use a cable; an audio-only visit may still work.",
    )


_GRADERS: Mapping[str, Callable[[Measurement], CheckLine]] = {
    "camera": _grade_camera,
    "microphone": lambda m: _grade_input(m, "microphone"),
    "stethoscope": lambda m: _grade_input(m, "stethoscope"),
    "speaker": _grade_speaker,
    "media_server": _grade_media_server,
    "turn_udp": _grade_turn,
    "turn_tcp": _grade_turn,
    "turn_tls": _grade_turn,
    "connection": _grade_connection,
    "bandwidth": _grade_bandwidth,
}


def grade(m: Measurement) -> CheckLine:
    grader = _GRADERS.get(m.key)
    if grader is None:
        status = Status.GREEN if m.ok else Status.RED
        return _line(m, status, "Works." if m.ok else "Does not work.")
    return grader(m)


# --- running -------------------------------------------------------------------------

Probe = Callable[[], Awaitable[Measurement]]


@dataclass(frozen=True)
class NamedProbe:
    key: str
    run: Probe
    timeout_s: float = 10.0


class TechCheck:
    """Runs probes one after another (devices and the network share one machine: in
    parallel they would disturb each other's figures) and grades what they found.

    ``line_did_finish(CheckLine)`` fires as each line is known, so a window can fill in
    line by line.
    """

    line_did_finish = Signal(object)

    def __init__(self, probes: Sequence[NamedProbe]) -> None:
        self.probes = list(probes)

    async def run(self) -> TechCheckReport:
        started = time.time()
        clock = time.monotonic()
        lines: list[CheckLine] = []
        for probe in self.probes:
            measurement = await self._measure(probe)
            line = grade(measurement)
            lines.append(line)
            self.line_did_finish.emit(line)
        return TechCheckReport(tuple(lines), started, time.monotonic() - clock)

    @staticmethod
    async def _measure(probe: NamedProbe) -> Measurement:
        try:
            return await asyncio.wait_for(probe.run(), probe.timeout_s)
        except TimeoutError:
            return Measurement(probe.key, False, problem="timed out")
        except ConsoleError as exc:
            return Measurement(probe.key, False, problem=exc.message_key)
        except Exception as exc:  # a probe failing is a finding, never a crash
            return Measurement(probe.key, False, problem=type(exc).__name__)
