"""Bad networks: 5 % random loss (nft) and a 10 s blackhole, between a console in the peer
namespace (the headless CLI, like a clinic cart) and a console here, through Janus.

Impairments apply inside the namespace, to everything crossing its veth: the
cart's media (and, for the blackhole, its signalling too). Frame rates and
recovery are measured from the decoded barcode frames at the console here.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from app.visit import VisitState
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


async def fps_over(session: object, seconds: float) -> float:
    from media.visit.session import VisitSession

    assert isinstance(session, VisitSession)
    start_frames, start = frames_from(session), time.monotonic()
    await asyncio.sleep(seconds)  # a measurement window, not synchronisation
    return (frames_from(session) - start_frames) / (time.monotonic() - start)


def test_loss_and_blackhole_recovery(
    tmp_path: Path, janus: JanusServer, clean_net: MediaNet
) -> None:
    async def scenario() -> None:
        states: list[tuple[float, str, str]] = []
        h_visit, host = new_session(
            session_config(janus, clean_net, create=True, auto_admit=True, display="Host")
        )
        t0 = time.monotonic()
        h_visit.state_changed.connect(
            lambda state, reason: states.append(
                (round(time.monotonic() - t0, 1), str(state), reason)
            )
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
                "50",
                "--interface",
                clean_net.peer_ip,
                "--size",
                "640x480",
                "--display",
                "Cart",
            ],
            tmp_path / "cart",
            janus,
            netns=clean_net,
        )
        try:
            await wait_until(lambda: frames_from(host) > 60, 30, "video from the cart")
            clean_fps = await fps_over(host, 4)

            clean_net.set_loss(5)
            await asyncio.sleep(2)  # let the loss take effect before measuring
            lossy_fps = await fps_over(host, 8)
            stats = await host.refresh_stats()
            dropped = clean_net.dropped_packets()
            clean_net.clear_impairments()
            await wait_until(lambda: h_visit.state is VisitState.IN_CALL, 15, "in call after loss")

            clean_net.blackhole()
            outage_start = time.monotonic()
            await wait_until(
                lambda: h_visit.state is VisitState.RECONNECTING, 12, "the reconnecting banner"
            )
            banner_after = time.monotonic() - outage_start
            await asyncio.sleep(max(0.0, 10.0 - (time.monotonic() - outage_start)))
            clean_net.clear_impairments()
            restored = time.monotonic()
            before = frames_from(host)
            await wait_until(lambda: frames_from(host) > before + 30, 40, "video after the outage")
            recovered_s = time.monotonic() - restored
            await wait_until(lambda: h_visit.state is VisitState.IN_CALL, 10, "in call again")
            after_fps = await fps_over(host, 8)  # the same window as under loss: a sustained rate
            print(
                f"fps clean {clean_fps:.1f}, 5% loss {lossy_fps:.1f} ({dropped} packets dropped) "
                f"(inbound loss {[t.loss_pct for t in stats.inbound_video()]} %), after outage "
                f"{after_fps:.1f}; banner {banner_after:.1f} s into the outage; video back "
                f"{recovered_s:.1f} s after the link; host reconnects {host.reconnects}"
            )
            print("host states", states)
            assert dropped > 50  # the loss rule really bit
            assert lossy_fps >= 15.0
            assert recovered_s < 20.0
            assert after_fps >= 15.0
        finally:
            # keep the loop (and the host's media) running while the cart finishes
            code, report, err = await asyncio.get_running_loop().run_in_executor(
                None, finish_cli, cart, 120.0
            )
            await host.close()
        print(
            "cart",
            code,
            report and {k: report[k] for k in ("reconnects", "recovery_s", "states")},
            err[-500:],
        )
        assert code == 0, err
        assert report["reconnects"] >= 1 and report["state"] == "in_call"
        assert report["states"][-1][1] == "in_call"

    asyncio.run(scenario())
