"""Low-bandwidth mode end to end: heavy loss on a cart's link steps its camera down.

A console in the peer namespace (the headless CLI, 1280x720) publishes through
Janus to a console here. 20 % random UDP loss (nft, both ways, at the namespace)
makes the cart's sender step down to 640x360 at 15 fps: the console here decodes
640x360 frames (read from the decoded picture, not from stats), and the cart's
report says ``low_bandwidth``. Clearing the loss steps it back up to 1280x720.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.integration.media._helpers import (
    finish_cli,
    frames_from,
    new_session,
    session_config,
    start_cli,
    wait_until,
)
from tests.integration.media.services import JanusServer, MediaNet

pytestmark = pytest.mark.integration


def _sizes(session: object) -> set[tuple[int, int]]:
    from media.visit.session import VisitSession

    assert isinstance(session, VisitSession)
    return {
        (r.probe.width, r.probe.height) for r in session.remotes.values() if r.probe is not None
    }


def test_heavy_loss_steps_down_and_recovers(
    tmp_path: Path, janus: JanusServer, clean_net: MediaNet
) -> None:
    async def scenario() -> None:
        _visit, host = new_session(
            session_config(janus, clean_net, create=True, auto_admit=True, display="Host")
        )
        await host.start()
        cart = start_cli(
            [
                "--room",
                str(host.cfg.room),
                "--pin",
                host.cfg.pin,
                "--key",
                host.lobby_key,
                "--seconds",
                "55",
                "--interface",
                clean_net.peer_ip,
                "--size",
                "1280x720",
                "--display",
                "Cart",
            ],
            tmp_path / "cart",
            janus,
            netns=clean_net,
        )
        try:
            await wait_until(lambda: frames_from(host) > 30, 30, "video from the cart")
            await wait_until(lambda: _sizes(host) == {(1280, 720)}, 10, "720p from the cart")
            clean_net.set_loss(20)
            down_s = await wait_until(lambda: _sizes(host) == {(640, 360)}, 25, "640x360")
            clean_net.clear_impairments()
            up_s = await wait_until(lambda: _sizes(host) == {(1280, 720)}, 25, "back to 720p")
            print(f"stepped down {down_s:.1f} s after 20 % loss began; up {up_s:.1f} s after")
        finally:
            clean_net.clear_impairments()
            code, report, err = await asyncio.get_running_loop().run_in_executor(
                None, finish_cli, cart, 120.0
            )
            await host.close()
        assert code == 0, err
        profiles = [p["profile"] for p in report["sender_profiles"]]
        print("cart sender profiles", report["sender_profiles"])
        assert profiles[:2] == ["low", "normal"]
        assert report["sender_profiles"][0]["width"] == 640
        assert report["low_bandwidth"] is (profiles[-1] == "low")

    asyncio.run(scenario())
