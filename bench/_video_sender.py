"""The sending endpoint of ``bench.video_latency`` in its own process (like a second machine).

``python -m bench._video_sender WIDTH HEIGHT FPS MIME`` sends the stamped synthetic
camera to whoever answers its offer. Signalling is JSON lines: it writes
``{"offer": SDP}`` on stdout, reads ``{"answer": SDP}`` from stdin, and runs until
stdin closes. ICE is pinned to 127.0.0.1. ``CLOCK_MONOTONIC`` is system-wide on
Linux, so the receiver can read this process's frame stamps against its own clock.
"""

from __future__ import annotations

import asyncio
import json
import sys


async def main(width: int, height: int, fps: int, mime: str) -> None:
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from media.devices.camera import open_camera
    from media.rtc.hostaddr import loopback_config, pin_host_addresses
    from media.visit.loopback import prefer_codec

    loop = asyncio.get_running_loop()
    track = open_camera("testsrc", width, height, fps)
    pc = RTCPeerConnection(loopback_config())
    pc.addTransceiver(track, direction="sendonly")
    prefer_codec(pc, mime)
    with pin_host_addresses(["127.0.0.1"]):
        await pc.setLocalDescription(await pc.createOffer())
    sys.stdout.write(json.dumps({"offer": pc.localDescription.sdp}) + "\n")
    sys.stdout.flush()
    line = await loop.run_in_executor(None, sys.stdin.readline)
    answer = json.loads(line)["answer"]
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes stdin
    track.stop()
    await pc.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]))
