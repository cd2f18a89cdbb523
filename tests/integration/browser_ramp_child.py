"""Child for test_browser_ramp: Chromium (fake 1280x720 camera) publishes to an aiortc answerer.

Run inside a network namespace with a veth address (Chromium gathers no
loopback candidates): ``python -m tests.integration.browser_ramp_child MODE ADDR SECONDS``.
MODE ``ramp`` applies :func:`media.rtc.browser_ramp.apply_browser_ramp` to the
answer, ``js`` has the page apply docs/media.md's ``rampVideo`` (what the patient
page does with Janus's answer), ``stock`` sends aiortc's answer as is. Prints one
JSON line: when the first 1280x720 frame was decoded (seconds after the first frame) and the
browser's outbound stats once a second.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/lib/chromium/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
)  # fmt: skip

JS_OFFER = """
const done = arguments[arguments.length - 1];
(async () => {
  const stream = await navigator.mediaDevices.getUserMedia(
    {video: {width: {exact: 1280}, height: {exact: 720}, frameRate: 30}, audio: false});
  const pc = new RTCPeerConnection({iceServers: []});
  window.pc = pc;
  stream.getTracks().forEach(t => pc.addTrack(t, stream));
  const vp8 = RTCRtpSender.getCapabilities('video').codecs.filter(c => /VP8|rtx/.test(c.mimeType));
  pc.getTransceivers()[0].setCodecPreferences(vp8);
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise(resolve => {
    if (pc.iceGatheringState === 'complete') resolve();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
  });
  done(pc.localDescription.sdp);
})().catch(e => done('ERR ' + e));
"""
JS_ANSWER = """
const done = arguments[arguments.length - 1];
window.pc.setRemoteDescription({type: 'answer', sdp: arguments[0]})
  .then(() => done('ok')).catch(e => done('ERR ' + e));
"""
# The patient page's version of apply_browser_ramp, read from docs/media.md so the
# documented snippet is the tested one.
_DOC = (Path(__file__).resolve().parents[2] / "docs" / "media.md").read_text()
JS_RAMP = _DOC[
    _DOC.index("function rampVideo") : _DOC.index("```", _DOC.index("function rampVideo"))
]
JS_ANSWER_RAMPED = (
    JS_RAMP
    + """
const done = arguments[arguments.length - 1];
window.pc.setRemoteDescription({type: 'answer', sdp: rampVideo(arguments[0])})
  .then(() => done('ok')).catch(e => done('ERR ' + e));
"""
)
JS_STATS = """
const done = arguments[arguments.length - 1];
window.pc.getStats().then(report => {
  let out = {};
  report.forEach(s => {
    if (s.type === 'outbound-rtp' && s.kind === 'video') {
      out.width = s.frameWidth; out.height = s.frameHeight; out.bytes = s.bytesSent;
      out.limitation = s.qualityLimitationReason; out.target_bps = s.targetBitrate;
    }
    if (s.type === 'candidate-pair' && s.nominated) out.available_bps = s.availableOutgoingBitrate;
  });
  done(out);
});
"""


async def run(mode: str, address: str, seconds: float) -> dict[str, Any]:
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    from media.rtc.browser_ramp import apply_browser_ramp
    from media.rtc.hostaddr import loopback_config, pin_host_addresses

    options = Options()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={tempfile.mkdtemp(prefix='cc-ramp-')}"):
        options.add_argument(flag)
    os.environ["SE_OFFLINE"] = "true"
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_script_timeout(30)
    page = Path(tempfile.mkdtemp(prefix="cc-ramp-page-")) / "index.html"
    page.write_text("<html><body>ramp</body></html>")
    sizes: list[tuple[float, int, int]] = []
    tasks: list[asyncio.Task[None]] = []
    pc = RTCPeerConnection(loopback_config())
    try:
        driver.get(page.as_uri())
        offer = driver.execute_async_script(JS_OFFER)
        if offer.startswith("ERR"):
            raise RuntimeError(offer)

        @pc.on("track")
        def on_track(track: Any) -> None:
            async def pump() -> None:
                first: float | None = None
                while True:
                    try:
                        frame = await track.recv()
                    except Exception:
                        return
                    now = time.monotonic()
                    first = now if first is None else first
                    sizes.append((now - first, frame.width, frame.height))

            tasks.append(asyncio.ensure_future(pump()))

        with pin_host_addresses([address]):
            await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        answer = pc.localDescription.sdp
        if mode == "ramp":
            answer = apply_browser_ramp(answer)
        script = JS_ANSWER_RAMPED if mode == "js" else JS_ANSWER
        if driver.execute_async_script(script, answer) != "ok":
            raise RuntimeError("browser refused the answer")
        stats = []
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            await asyncio.sleep(1.0)
            stats.append(driver.execute_async_script(JS_STATS))
    finally:
        await pc.close()
        for task in tasks:
            task.cancel()
        driver.quit()
    first_720 = next((t for t, w, h in sizes if (w, h) == (1280, 720)), None)
    return {
        "mode": mode,
        "frames": len(sizes),
        "first_1280x720_s": first_720,
        "last_size": list(sizes[-1][1:]) if sizes else None,
        "browser": stats,
    }


if __name__ == "__main__":
    result = asyncio.run(run(sys.argv[1], sys.argv[2], float(sys.argv[3])))
    print(json.dumps(result))
