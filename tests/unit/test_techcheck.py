"""app.techcheck: grading thresholds and a runner that survives probes failing."""

from __future__ import annotations

import asyncio

from app.errors import DeviceUnavailableError
from app.techcheck import Measurement, NamedProbe, Status, TechCheck, grade


def _status(key: str, ok: bool = True, problem: str = "", **values: object) -> Status:
    return grade(Measurement(key, ok, values, problem)).status


def test_camera_grades() -> None:
    assert _status("camera", width=1280, height=720, fps=30) is Status.GREEN
    assert _status("camera", width=640, height=480, fps=30) is Status.AMBER
    assert _status("camera", width=1920, height=1080, fps=10) is Status.AMBER
    assert _status("camera", synthetic=True) is Status.AMBER
    assert _status("camera", ok=False) is Status.RED


def test_audio_input_grades() -> None:
    assert _status("microphone", rms_dbfs=-30, peak_dbfs=-10) is Status.GREEN
    assert _status("microphone", rms_dbfs=-75, peak_dbfs=-60) is Status.AMBER  # silent
    assert _status("microphone", rms_dbfs=-6, peak_dbfs=0.0) is Status.AMBER  # clipping
    assert _status("stethoscope", ok=False) is Status.RED
    line = grade(Measurement("stethoscope", True, {"rms_dbfs": -75, "peak_dbfs": -70}))
    assert "stethoscope" in line.summary and line.action


def test_network_grades() -> None:
    assert _status("media_server", connect_ms=40) is Status.GREEN
    assert _status("media_server", connect_ms=1500) is Status.AMBER
    assert _status("media_server", ok=False) is Status.RED
    assert _status("media_server", ok=False, configured=False) is Status.SKIPPED
    assert _status("turn_udp", rtt_ms=3) is Status.GREEN
    assert _status("turn_tcp", ok=False, problem="refused") is Status.AMBER
    assert _status("connection", candidate_type="host") is Status.GREEN
    assert _status("connection", candidate_type="relay") is Status.AMBER
    assert _status("connection", ok=False) is Status.RED
    assert _status("bandwidth", uplink_kbps=3000, downlink_kbps=3900) is Status.GREEN
    assert _status("bandwidth", uplink_kbps=900, downlink_kbps=3900) is Status.AMBER
    assert _status("bandwidth", uplink_kbps=3000, downlink_kbps=300) is Status.RED


def test_every_red_or_amber_line_says_what_to_do() -> None:
    cases = [
        Measurement("camera", False),
        Measurement("microphone", False),
        Measurement("speaker", False),
        Measurement("media_server", False),
        Measurement("turn_tls", False),
        Measurement("connection", False),
        Measurement("bandwidth", True, {"uplink_kbps": 100, "downlink_kbps": 100}),
    ]
    for case in cases:
        line = grade(case)
        assert line.status in (Status.RED, Status.AMBER)
        assert line.action, case.key
        assert line.title and line.title != case.key


def test_runner_turns_failures_and_timeouts_into_red_lines_and_goes_on() -> None:
    async def fine() -> Measurement:
        return Measurement("camera", True, {"width": 1280, "height": 720, "fps": 30})

    async def raises_console_error() -> Measurement:
        raise DeviceUnavailableError(device="sd:3", reason="cannot open")

    async def crashes() -> Measurement:
        raise RuntimeError("driver bug")

    async def hangs() -> Measurement:
        await asyncio.Event().wait()
        raise AssertionError

    check = TechCheck(
        [
            NamedProbe("camera", fine),
            NamedProbe("microphone", raises_console_error),
            NamedProbe("speaker", crashes),
            NamedProbe("media_server", hangs, timeout_s=0.2),
        ]
    )
    seen: list[str] = []
    check.line_did_finish.connect(lambda line: seen.append(line.key))
    report = asyncio.run(check.run())
    assert [line.status for line in report.lines] == [
        Status.GREEN,
        Status.RED,
        Status.RED,
        Status.RED,
    ]
    assert seen == ["camera", "microphone", "speaker", "media_server"]
    assert report.status is Status.RED
    data = report.to_json()
    assert data["status"] == "red" and len(data["lines"]) == 4
    assert "sd:3" not in str(data)  # the exception's parameters are not echoed
