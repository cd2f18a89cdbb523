"""Shared pieces for the media integration tests: the headless CLI, in-process sessions."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.visit import Visit
from media.visit.session import SessionConfig, VisitSession
from tests.integration.media.services import JanusServer, MediaNet

REPO = Path(__file__).resolve().parents[3]
CLI = [sys.executable, "-m", "app.cli"]


def cli_env(profile: Path, janus: JanusServer) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CLINICIAN_CONSOLE_PROFILE=str(profile),
        CLINICIAN_CONSOLE_JANUS_ADMIN_KEY=janus.admin_key,
        PYTHONPATH=str(REPO),
    )
    # The test Janus listens on plain ws:// on the veth address: IT's policy allows it.
    policy = profile.parent / f"{profile.name}-policy.toml"
    policy.write_text(f'[security]\nallow_insecure_hosts = ["{janus.net.host_ip}"]\n')
    env["CLINICIAN_CONSOLE_POLICY"] = str(policy)
    return env


def start_cli(
    args: list[str], profile: Path, janus: JanusServer, netns: MediaNet | None = None
) -> subprocess.Popen[str]:
    """``clinician-console visit --headless ...``, in the peer namespace if ``netns`` is given."""
    profile.mkdir(parents=True, exist_ok=True)
    prefix = netns.exec_prefix() if netns is not None else []
    return subprocess.Popen(
        [*prefix, *CLI, "visit", "--headless", "--server", janus.ws_url, "--json", *args],
        cwd=REPO,
        env=cli_env(profile, janus),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish_cli(proc: subprocess.Popen[str], timeout_s: float = 90.0) -> tuple[int, Any, str]:
    out, err = proc.communicate(timeout=timeout_s)
    try:
        report = json.loads(out) if out.strip() else None
    except ValueError:
        report = None
    return proc.returncode, report, err


def session_config(janus: JanusServer, net: MediaNet, **overrides: Any) -> SessionConfig:
    base: dict[str, Any] = {
        "server_url": janus.ws_url,
        "admin_key": janus.admin_key,
        "interfaces": [net.host_ip],  # libnice/aioice never use loopback: the veth host end
        "width": 640,
        "height": 480,
        "fps": 30,
        "render_frames": False,
        # Janus listens on plain ws:// on the veth address: what IT's policy may allow
        "allow_insecure_hosts": [net.host_ip],
    }
    base.update(overrides)
    return SessionConfig(**base)


async def wait_until(
    condition: Callable[[], bool], timeout_s: float, what: str, step_s: float = 0.05
) -> float:
    """Poll ``condition`` until true; return the seconds it took, or raise AssertionError."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(step_s)
    return time.monotonic() - start


def frames_from(session: VisitSession) -> int:
    return sum(r.probe.frames for r in session.remotes.values() if r.probe is not None)


def new_session(config: SessionConfig) -> tuple[Visit, VisitSession]:
    visit = Visit(encounter_id="enc-test")
    return visit, VisitSession(visit, config)
