"""``clinician-console visit --headless``: join a Janus visit, print call statistics.

Used by IT to test a telemedicine cart and by the integration tests::

    clinician-console visit --headless --server wss://janus:8188 --room N --pin PIN --key K \\
        --seconds 30 [--camera testsrc|FILE] [--display NAME] [--create] [--json]

Without ``--token`` a console goes through the visit's waiting room and is in the
call once the host admits it. ``--create`` makes this console the host: it
creates the room (and its waiting room) with a random PIN, prints
``room N pin PIN key KEY`` on stderr (guests pass ``--key KEY``: the waiting room
is sealed to it, see media/visit/sealed.py), and with ``--admit-all`` admits
everyone who waits. TURN servers, ``force_relay`` and the media interfaces come from the
settings (``[media_server]``); ``--turn``/``--force-relay``/``--interface``
override them. The statistics (JSON with ``--json``) come at the end; a
failure exits 1 with one line on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from typing import Any

from app.cli_support import CliContext, Handler, emit
from app.errors import ConsoleError

EXIT_FAILURE = 1
ADMIN_KEY_ENV = "CLINICIAN_CONSOLE_JANUS_ADMIN_KEY"


def register(sub: argparse._SubParsersAction[Any]) -> dict[str, Handler]:
    cmd = sub.add_parser("visit", help="join a video visit headless and print call statistics")
    cmd.add_argument("--headless", action="store_true", required=True)
    cmd.add_argument("--server", default="", help="Janus WebSocket URL (default: settings)")
    cmd.add_argument("--room", type=int, default=0)
    cmd.add_argument("--pin", default="")
    cmd.add_argument("--token", default="", help="a main-room token (skips the waiting room)")
    cmd.add_argument(
        "--key", default="", help="the host's key from the invite link (key=...): to wait"
    )
    cmd.add_argument("--seconds", type=float, default=10.0, help="stay this long in the call")
    cmd.add_argument("--camera", default="testsrc")
    cmd.add_argument("--microphone", default="tone")
    cmd.add_argument("--size", default="1280x720", help="camera size WxH")
    cmd.add_argument("--fps", type=int, default=30)
    cmd.add_argument("--display", default="Console")
    cmd.add_argument("--create", action="store_true", help="host: create the room")
    cmd.add_argument("--admit-all", action="store_true", help="host: admit everyone waiting")
    cmd.add_argument("--turn", action="append", default=None, help="TURN URL (repeatable)")
    cmd.add_argument("--force-relay", action="store_true", default=None)
    cmd.add_argument("--interface", action="append", default=None, help="media interface/IP")
    cmd.add_argument("--wait-for", type=int, default=1, help="remote participants to wait for")
    cmd.add_argument("--page-url", default=None, help="host: the patient page (default: settings)")
    cmd.add_argument(
        "--patient-stethoscope",
        action="store_true",
        help="host: the invite link asks the patient page for a stethoscope input",
    )
    cmd.add_argument("--json", action="store_true")
    return {"visit": _cmd_visit}


def _config(ctx: CliContext) -> Any:
    from media.visit.session import SessionConfig, parse_turn

    args = ctx.args
    settings = ctx.settings().settings
    media = settings.media_server
    turn_urls = args.turn if args.turn is not None else list(media.turn)
    secret = None
    if any("username=" not in url for url in turn_urls):
        from storage.secrets import get_secret

        secret = get_secret("turn")
    admin_key = os.environ.get(ADMIN_KEY_ENV, "")
    if args.create and not admin_key:
        with contextlib.suppress(ConsoleError):
            from storage.secrets import get_secret

            admin_key = get_secret("janus_admin_key") or ""
    width, _, height = args.size.partition("x")
    return SessionConfig(
        server_url=args.server or media.url,
        room=args.room,
        pin=args.pin,
        display=args.display,
        create=args.create,
        token=args.token,
        admin_key=admin_key,
        bitrate_bps=media.room_bitrate_bps,
        interfaces=args.interface if args.interface is not None else list(media.interfaces),
        turn=parse_turn(turn_urls, secret),
        force_relay=media.force_relay if args.force_relay is None else args.force_relay,
        camera=args.camera,
        microphone=args.microphone,
        width=int(width),
        height=int(height),
        fps=args.fps,
        page_url=media.patient_page_url if args.page_url is None else args.page_url,
        patient_stethoscope=args.patient_stethoscope,
        browser_server_url=media.browser_url,
        auto_admit=args.admit_all,
        render_frames=False,
        host_key=args.key,
        allow_insecure_hosts=list(settings.security.allow_insecure_hosts),
    )


async def _cmd_visit(ctx: CliContext) -> int:
    from app.visit import Visit, VisitState
    from media.visit.session import VisitSession

    report: dict[str, Any] = {"ok": False}
    session: VisitSession | None = None
    try:
        config = _config(ctx)
        if not config.server_url:
            sys.stderr.write(
                "clinician-console: no media server (--server or [media_server] url)\n"
            )
            return EXIT_FAILURE
        if not config.create and (not config.room or not config.pin):
            sys.stderr.write("clinician-console: --room and --pin are needed to join\n")
            return EXIT_FAILURE
        visit = Visit()
        session = VisitSession(visit, config)
        await session.start()
        if config.create:
            # the key is what a guest needs to wait (the invite link carries it too)
            sys.stderr.write(f"room {config.room} pin {config.pin} key {session.lobby_key}\n")
            if visit.invite is not None:
                # The patient's link, as soon as it exists (the JSON comes at the end).
                sys.stderr.write(f"link {visit.invite.link}\n")
            sys.stderr.flush()
        deadline = time.monotonic() + ctx.args.seconds
        while time.monotonic() < deadline and visit.state is not VisitState.ENDED:
            await asyncio.sleep(0.2)
        ended_early = visit.state is VisitState.ENDED
        report = session.summary()
        if visit.invite is not None:
            report["invite"] = {"link": visit.invite.link, "room": visit.invite.room}
        await session.hang_up()
        if ended_early:
            report.update(ok=False, reason=visit.end_reason)
            sys.stderr.write(f"clinician-console: the visit ended: {visit.end_reason}\n")
        else:
            seen = sum(1 for r in report["remotes"] if r["video_frames"] > 0)
            report["ok"] = seen >= ctx.args.wait_for
            if not report["ok"]:
                report["reason"] = "no video arrived from the other participants"
                sys.stderr.write(f"clinician-console: {report['reason']}\n")
    except ConsoleError as exc:
        report.update(ok=False, error=type(exc).__name__, reason=str(exc))
        sys.stderr.write(f"clinician-console: {exc}\n")
        if session is not None:
            await session.close()
    if ctx.args.json:
        emit(report)
    elif report.get("ok"):
        for remote in report.get("remotes", []):
            sys.stdout.write(
                f"participant {remote['participant_id']}: {remote['video_frames']} frames "
                f"{remote['width']}x{remote['height']}, lost {remote['frames_lost']}, "
                f"latency p95 {remote['latency_p95_ms']} ms, audio {remote['audio_frames']}\n"
            )
    return 0 if report.get("ok") else EXIT_FAILURE
