"""``clinician-console techcheck [--json] [--no-devices] [--no-network] [--no-bandwidth]``.

Checks the camera, microphone, speaker, the media server (WebSocket or HTTP API), the
TURN relays per transport, and a short EchoTest session through the media server (the
path media takes and an uplink/downlink estimate). Prints one line per check, green,
amber or red with what to do, or one JSON object with ``--json``::

    {"status": "amber", "started_at": "...", "duration_s": 7.4,
     "lines": [{"key": "camera", "title": "Camera", "status": "green",
                "summary": "...", "action": "...", "values": {...}}, ...]}

Every run is appended to the profile's ``logs/techcheck.jsonl`` for IT. Exits 1 when
any line is red.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.cli_support import CliContext, Handler, emit
from app.errors import ConsoleError
from app.settings import MediaServerSettings

EXIT_OK = 0
EXIT_RED = 1
LOG_NAME = "techcheck.jsonl"


def register(sub: argparse._SubParsersAction[Any]) -> dict[str, Handler]:
    cmd = sub.add_parser(
        "techcheck", help="check camera, microphone, speaker and the network before a visit"
    )
    cmd.add_argument("--json", action="store_true", help="print one JSON object")
    cmd.add_argument("--no-devices", action="store_true", help="skip camera, microphone, speaker")
    cmd.add_argument("--no-network", action="store_true", help="skip the media server and TURN")
    cmd.add_argument(
        "--no-bandwidth", action="store_true", help="skip the EchoTest session (bandwidth)"
    )
    cmd.add_argument("--camera", default="0", help="camera to test (default: the first)")
    cmd.add_argument("--microphone", default="default", help="microphone to test")
    cmd.add_argument("--speaker", default="default", help="speaker to play the test sound on")
    cmd.add_argument("--stethoscope", default="", help="stethoscope input to test, if any")
    return {"techcheck": _cmd_techcheck}


def config_from_settings(ctx: CliContext, **devices: Any) -> Any:
    """The probes' configuration: devices as given, network from settings and policy."""
    settings = ctx.settings().settings
    return tech_check_config(
        settings.media_server, settings.security.allow_insecure_hosts, **devices
    )


def tech_check_config(
    media: MediaServerSettings | None, allow_insecure_hosts: Sequence[str], **devices: Any
) -> Any:
    """A ``media.techcheck.TechCheckConfig`` for this console's media settings (the CLI
    and Visit > Tech check… build it the same way)."""
    from app.cli_support import turn_secret
    from media.techcheck import TechCheckConfig
    from media.visit.session import parse_turn

    if media is None or not media.url:
        return TechCheckConfig(**devices)
    return TechCheckConfig(
        media_server_url=media.url,
        turn=parse_turn(list(media.turn), turn_secret(list(media.turn))),
        force_relay=media.force_relay,
        interfaces=list(media.interfaces),
        allow_insecure_hosts=list(allow_insecure_hosts),
        **devices,
    )


def keep_for_it(profile: Path, report: dict[str, Any]) -> None:
    """Append the result to ``logs/techcheck.jsonl`` (owner-only), never failing the check."""
    try:
        log_dir = profile / "logs"
        log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = log_dir / LOG_NAME
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(report, sort_keys=True) + "\n")
    except OSError:
        pass  # a full disk must not turn a green check red


async def _cmd_techcheck(ctx: CliContext) -> int:
    from app.techcheck import Status, TechCheck
    from media.techcheck import probes

    args = ctx.args
    cfg = config_from_settings(
        ctx,
        camera=args.camera,
        microphone=args.microphone,
        speaker=args.speaker,
        stethoscope=args.stethoscope,
        devices=not args.no_devices,
        network=not args.no_network,
        bandwidth=not args.no_bandwidth,
    )
    report = await TechCheck(probes(cfg)).run()
    data = report.to_json()
    keep_for_it(ctx.profile, data)
    if args.json:
        emit(data)
    else:
        for line in report.lines:
            print(f"{line.status.value.upper():8} {line.title}: {line.summary}")
            if line.action and line.status in (Status.AMBER, Status.RED):
                print(f"{'':8} What to do: {line.action}")
    return EXIT_RED if report.status is Status.RED else EXIT_OK


async def check_media(ctx: CliContext, problems: list[str]) -> dict[str, Any]:
    """Devices the OS shows, the media server and TURN (the quick half of ``techcheck``)."""
    from media.devices import audio, camera
    from media.techcheck import measure_media_server, measure_turn

    devices = {
        "cameras": [d.label for d in camera.list_cameras() if d.device_id != camera.TESTSRC],
        "microphones": [d.label for d in audio.list_microphones() if d.device_id != audio.TONE],
        "speakers": [d.label for d in audio.list_speakers()],
    }
    try:
        cfg = config_from_settings(ctx)
    except ConsoleError:
        return {"devices": devices, "media_server": {"configured": False}}
    media: dict[str, Any] = {"configured": bool(cfg.media_server_url)}
    if cfg.media_server_url:
        found = await measure_media_server(cfg.media_server_url, cfg.allow_insecure_hosts)
        media.update(reachable=found.ok, **dict(found.values))
        if not found.ok:
            problems.append("the media server cannot be reached: video visits will not start")
    turn: dict[str, Any] = {}
    for transport in ("udp", "tcp", "tls"):
        allocation = await measure_turn(cfg.turn, transport)
        if allocation.values.get("configured", True):
            turn[transport] = {"ok": allocation.ok, **dict(allocation.values)}
    if turn and not any(entry["ok"] for entry in turn.values()):
        problems.append("no TURN relay answers: calls from strict networks will fail")
    return {"devices": devices, "media_server": media, "turn": turn}
