"""The tech check's probes: measure devices and the path to the media server.

Each probe returns an :class:`app.techcheck.Measurement` (numbers, never patient data);
``app.techcheck`` grades them. Probes open real devices and real connections and close
them again whatever happens; none runs longer than a few seconds.

- camera: frames actually read from the device per second and the mode it streams
  (not the size the track scales to);
- microphone / stethoscope input: RMS and peak level over one second;
- speaker: a short test tone played through the output (whether it was *heard* only
  the person at the console can tell; the line says so);
- media server: connect to Janus's WebSocket API (or GET ``/info`` on its HTTP API);
- TURN: a real allocation with the configured credentials, per transport;
- connection and bandwidth: a short EchoTest session through the media server with
  the console's own ICE settings: which candidate type carried it (relay needed?) and
  how much data went up and came back down in a few seconds over a data channel
  (an estimate of the uplink and downlink, paced to at most :data:`PACE_KBPS`).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import numpy as np

from app.errors import ConsoleError, DeviceUnavailableError
from app.techcheck import Measurement, NamedProbe

CAMERA_SECONDS = 1.5
AUDIO_SECONDS = 1.0
ECHO_SECONDS = 3.0
PACE_KBPS = 4000.0  # enough to tell "fine for 720p" (1.5 Mbit/s) from "too slow"
CHUNK_BYTES = 1000


@dataclass(frozen=True)
class TechCheckConfig:
    """What the probes need, taken from settings by the composition root."""

    camera: str = "0"
    microphone: str = "default"
    speaker: str = "default"
    stethoscope: str = ""  # empty: no stethoscope line
    media_server_url: str = ""
    turn: Sequence[Any] = ()  # media.visit.session.TurnServer
    force_relay: bool = False
    interfaces: Sequence[str] = ()
    allow_insecure_hosts: Sequence[str] = ()  # IT's policy: hosts plain ws:// may reach
    devices: bool = True
    network: bool = True
    bandwidth: bool = True


def probes(cfg: TechCheckConfig) -> list[NamedProbe]:
    found: list[NamedProbe] = []
    if cfg.devices:
        found += [
            NamedProbe("camera", lambda: measure_camera(cfg.camera), 10.0),
            NamedProbe("microphone", lambda: measure_input("microphone", cfg.microphone), 8.0),
            NamedProbe("speaker", lambda: measure_speaker(cfg.speaker), 8.0),
        ]
        if cfg.stethoscope:
            found.append(
                NamedProbe(
                    "stethoscope", lambda: measure_input("stethoscope", cfg.stethoscope), 8.0
                )
            )
    if cfg.network:
        found.append(
            NamedProbe(
                "media_server",
                lambda: measure_media_server(cfg.media_server_url, cfg.allow_insecure_hosts),
                12.0,
            )
        )
        for transport in ("udp", "tcp", "tls"):
            found.append(
                NamedProbe(
                    f"turn_{transport}",
                    lambda t=transport: measure_turn(cfg.turn, t),  # type: ignore[misc]
                    12.0,
                )
            )
    if cfg.network and cfg.bandwidth:
        # One EchoTest session answers two lines: how the media got through, and how fast.
        echo: dict[str, Measurement] = {}

        async def connection() -> Measurement:
            echo["result"] = await measure_echo(cfg)
            return connection_measurement(echo["result"])

        async def bandwidth() -> Measurement:
            return echo.get("result") or Measurement("bandwidth", False, problem="not measured")

        found.append(NamedProbe("connection", connection, 30.0))
        found.append(NamedProbe("bandwidth", bandwidth, 1.0))
    return found


# --- devices -------------------------------------------------------------------------


async def measure_camera(spec: str, seconds: float = CAMERA_SECONDS) -> Measurement:
    from media.devices import camera

    def run() -> Measurement:
        if spec == camera.TESTSRC:
            return Measurement("camera", True, {"device": spec, "synthetic": True})
        track = camera.open_camera(spec, 1280, 720, 30, fallback=False)
        source: Any = getattr(track, "source", None)
        try:
            before = getattr(source, "frames_read", 0)
            time.sleep(seconds)  # on a worker thread: the reader thread fills the slot
            read = getattr(source, "frames_read", 0) - before
            mode = getattr(source, "mode", None)
            width = getattr(mode, "width", getattr(source, "width", 0))
            height = getattr(mode, "height", getattr(source, "height", 0))
            values = {
                "device": spec,
                "width": int(width),
                "height": int(height),
                "fps": round(read / seconds, 1),
                "pixel_format": getattr(mode, "pixel_format", ""),
                "synthetic": False,
            }
            return Measurement("camera", read > 0, values, "" if read else "no picture")
        finally:
            track.stop()

    return await asyncio.get_running_loop().run_in_executor(None, run)


def _levels_dbfs(samples: np.ndarray) -> tuple[float, float]:
    if samples.size == 0:
        return -120.0, -120.0
    x = samples.astype(np.float64) / 32768.0
    rms = math.sqrt(float(np.mean(x * x)))
    peak = float(np.max(np.abs(x)))
    return round(_db(rms), 1), round(_db(peak), 1)


def _db(value: float) -> float:
    return 20 * math.log10(value) if value > 1e-6 else -120.0


async def measure_input(key: str, spec: str, seconds: float = AUDIO_SECONDS) -> Measurement:
    from media.devices import audio

    if spec == audio.TONE:
        return Measurement(key, True, {"device": spec, "synthetic": True})
    track = audio.open_microphone(spec, fallback=False)
    chunks: list[np.ndarray] = []
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            frame: Any = await track.recv()
            chunks.append(frame.to_ndarray().reshape(-1))
    finally:
        track.stop()
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    rms, peak = _levels_dbfs(samples)
    return Measurement(
        key, True, {"device": spec, "rms_dbfs": rms, "peak_dbfs": peak, "synthetic": False}
    )


async def measure_speaker(spec: str) -> Measurement:
    """Play 0.6 s of a 660 Hz tone; ok once the output has taken some of it."""
    from media.devices import audio

    sink = audio.SpeakerSink(None, spec)
    await sink.start()  # DeviceUnavailableError: no speaker
    try:
        tone = audio.open_microphone(audio.TONE)
        for _ in range(30):  # 30 x 20 ms
            sink.play(await tone.recv())
        tone.stop()
        deadline = time.monotonic() + 3.0
        while sink.frames_played == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)  # polling the output callback's counter
        played = sink.frames_played > 0
    finally:
        await sink.stop()
    return Measurement(
        "speaker", played, {"device": spec}, "" if played else "the output took nothing"
    )


# --- network -------------------------------------------------------------------------


async def measure_media_server(url: str, allow_insecure_hosts: Sequence[str] = ()) -> Measurement:
    if not url:
        return Measurement("media_server", False, {"configured": False})
    from media.janus.client import JanusClient, require_secure_transport

    scheme = urlparse(url).scheme
    try:  # plain http:// and ws:// only where IT's policy allows (or loopback)
        require_secure_transport(url, allow_insecure_hosts)
    except ConsoleError as exc:
        return Measurement("media_server", False, {"url_scheme": scheme}, exc.message_key)
    started = time.monotonic()
    if scheme in ("http", "https"):
        import httpx

        info = url.rstrip("/") + "/info"
        try:
            async with httpx.AsyncClient(timeout=8.0) as http:
                response = await http.get(info)
        except httpx.HTTPError as exc:
            return Measurement("media_server", False, {"url_scheme": scheme}, type(exc).__name__)
        ok = response.status_code == 200 and response.json().get("janus") == "server_info"
        values = {"url_scheme": scheme, "connect_ms": _ms_since(started), "api": "http"}
        return Measurement("media_server", ok, values, "" if ok else "not a Janus server")
    try:
        client = await JanusClient.connect(
            url, timeout_s=8.0, allow_insecure_hosts=allow_insecure_hosts
        )
    except ConsoleError as exc:
        return Measurement("media_server", False, {"url_scheme": scheme}, exc.message_key)
    elapsed = _ms_since(started)
    await client.close()
    return Measurement(
        "media_server", True, {"url_scheme": scheme, "connect_ms": elapsed, "api": "websocket"}
    )


def _ms_since(started: float) -> float:
    return round((time.monotonic() - started) * 1000.0, 1)


def _turn_target(server: Any, transport: str) -> tuple[str, int, bool] | None:
    """(host, port, tls) of a TURN URL when it serves ``transport`` (udp/tcp/tls)."""
    url: str = server.url
    scheme, _, rest = url.partition(":")
    where, _, query = rest.partition("?")
    host, _, port_text = where.rpartition(":")
    if not host:
        host, port_text = where, ""
    kind = "udp"
    for part in query.split("&"):
        if part.startswith("transport="):
            kind = part.split("=", 1)[1].lower()
    tls = scheme == "turns"
    wanted = transport == "tls" if tls else transport == kind
    if not wanted:
        return None
    port = int(port_text) if port_text.isdigit() else (5349 if tls else 3478)
    return host.strip("[]"), port, tls


async def measure_turn(servers: Sequence[Any], transport: str) -> Measurement:
    """Allocate a relay address on the first TURN server offering ``transport``."""
    key = f"turn_{transport}"
    for server in servers:
        target = _turn_target(server, transport)
        if target is None:
            continue
        host, port, tls = target
        from aioice import turn

        started = time.monotonic()
        context = ssl.create_default_context() if tls else None
        try:
            endpoint, _protocol = await turn.create_turn_endpoint(
                asyncio.DatagramProtocol,
                server_addr=(host, port),
                username=server.username or None,
                password=server.credential or None,
                transport="udp" if transport == "udp" else "tcp",
                ssl=context,
            )
        except (TimeoutError, OSError, ConnectionError) as exc:
            return Measurement(key, False, {"server": f"{host}:{port}"}, type(exc).__name__)
        except Exception as exc:  # aioice raises its own TransactionFailed etc.
            return Measurement(key, False, {"server": f"{host}:{port}"}, type(exc).__name__)
        elapsed = _ms_since(started)
        endpoint.close()
        return Measurement(key, True, {"server": f"{host}:{port}", "rtt_ms": elapsed})
    return Measurement(key, False, {"configured": False})


async def measure_echo(cfg: TechCheckConfig, seconds: float = ECHO_SECONDS) -> Measurement:
    """A short EchoTest session: the ICE path taken, and data up and back over SCTP."""
    if not cfg.media_server_url:
        return Measurement("bandwidth", False, {"configured": False})
    from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription

    from media.janus.client import JanusClient
    from media.rtc.hostaddr import pin_host_addresses
    from media.rtc.stats import selected_candidate

    servers = [
        RTCIceServer(urls=t.url, username=t.username or None, credential=t.credential or None)
        for t in cfg.turn
    ]
    config = RTCConfiguration(iceServers=servers)
    if cfg.force_relay:
        from aiortc import RTCIceTransportPolicy

        config = RTCConfiguration(
            iceServers=servers, iceTransportPolicy=RTCIceTransportPolicy.RELAY
        )
    client = await JanusClient.connect(
        cfg.media_server_url, timeout_s=8.0, allow_insecure_hosts=cfg.allow_insecure_hosts
    )
    pc = RTCPeerConnection(config)
    answered: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    def on_event(event: Any) -> None:
        jsep = getattr(event, "jsep", None)
        if isinstance(jsep, dict) and jsep.get("type") == "answer" and not answered.done():
            answered.set_result(jsep)

    try:
        handle = await client.attach("janus.plugin.echotest", on_event)
        channel = pc.createDataChannel("techcheck", ordered=True)
        opened = asyncio.Event()
        channel.on("open", opened.set)
        echoed = 0

        @channel.on("message")
        def on_message(message: bytes | str) -> None:
            nonlocal echoed
            echoed += len(message)

        offer = await pc.createOffer()
        pins = _pins(cfg.interfaces)
        with pin_host_addresses(pins) if pins else contextlib.nullcontext():
            await pc.setLocalDescription(offer)
        reply = await client.message(
            handle,
            {"audio": False, "video": False, "data": True},
            jsep={"type": pc.localDescription.type, "sdp": pc.localDescription.sdp},
            asynchronous=True,
        )
        jsep = reply.get("jsep") if isinstance(reply, dict) else None
        answer = jsep if isinstance(jsep, dict) else await asyncio.wait_for(answered, 8.0)
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
        await asyncio.wait_for(opened.wait(), 10.0)
        candidate_type, relay_protocol = selected_candidate(pc)
        sent = 0
        payload = b"\x00" * CHUNK_BYTES
        started = time.monotonic()
        bytes_per_tick = PACE_KBPS * 1000 / 8 * 0.02
        while time.monotonic() - started < seconds:
            budget = bytes_per_tick
            while budget > 0 and channel.bufferedAmount < 256_000:
                channel.send(payload)
                sent += CHUNK_BYTES
                budget -= CHUNK_BYTES
            await asyncio.sleep(0.02)  # pacing the sender, not synchronising a test
        elapsed = time.monotonic() - started
        acknowledged = sent - channel.bufferedAmount
        # Let what is in flight come back before counting.
        deadline = time.monotonic() + 2.0
        while echoed < acknowledged * 0.98 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        values = {
            "candidate_type": candidate_type,
            "relay_protocol": relay_protocol,
            "uplink_kbps": round(acknowledged * 8 / 1000 / elapsed, 1),
            "downlink_kbps": round(echoed * 8 / 1000 / (time.monotonic() - started), 1),
            "paced_to_kbps": PACE_KBPS,
            "seconds": round(elapsed, 2),
        }
        return Measurement("bandwidth", True, values)
    finally:
        with contextlib.suppress(Exception):
            await pc.close()
        with contextlib.suppress(Exception):
            await client.close()


def _pins(interfaces: Sequence[str]) -> list[str] | None:
    if not interfaces:
        return None
    from media.visit.session import host_addresses

    return host_addresses(interfaces)


def connection_measurement(bandwidth: Measurement) -> Measurement:
    """The "connection" line from the EchoTest session: did ICE get through, and how."""
    if not bandwidth.values.get("configured", True):
        return Measurement("connection", False, {"configured": False})
    return Measurement(
        "connection",
        bandwidth.ok,
        {"candidate_type": bandwidth.values.get("candidate_type", "")},
        bandwidth.problem,
    )


__all__ = [
    "DeviceUnavailableError",
    "TechCheckConfig",
    "connection_measurement",
    "measure_camera",
    "measure_echo",
    "measure_input",
    "measure_media_server",
    "measure_speaker",
    "measure_turn",
    "probes",
]
