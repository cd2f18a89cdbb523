"""How a visit session is set up: the media server, TURN, ICE and devices.

:class:`SessionConfig` is what the composition root (app/main.py, the headless
command) fills from settings and policy; :func:`parse_turn` reads ``[media_server]
turn`` entries and the ``turn`` secret; :func:`host_addresses` turns ``interfaces``
into the addresses aioice may offer; :func:`ice_config` builds aiortc's
``RTCConfiguration`` (TURN, ``force_relay``, max-bundle for Janus).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from app.errors import VisitConnectError
from media.janus.videoroom import DEFAULT_BITRATE_BPS

if TYPE_CHECKING:
    from aiortc import RTCConfiguration


@dataclass(frozen=True, slots=True)
class TurnServer:
    url: str  # turn:host:port?transport=udp|tcp, turns:...
    username: str = ""
    credential: str = ""


def parse_turn(urls: Sequence[str], secret: str | None = None) -> list[TurnServer]:
    """``[media_server] turn`` entries; credentials from the URL query or the ``turn`` secret.

    ``turn:host:3478?transport=udp&username=u&credential=p`` carries its own; else the
    keyring secret ``turn`` (``clinician-console secret set turn``) as ``username:credential``.
    """
    found: list[TurnServer] = []
    for url in urls:
        base, _, query = url.partition("?")
        params = parse_qs(query)
        user = params.pop("username", [""])[0]
        cred = params.pop("credential", [""])[0]
        if not user and secret and ":" in secret:
            user, cred = secret.split(":", 1)
        rest = "&".join(f"{k}={v[0]}" for k, v in params.items())
        found.append(TurnServer(f"{base}?{rest}" if rest else base, user, cred))
    return found


def host_addresses(interfaces: Sequence[str]) -> list[str] | None:
    """Addresses aioice may offer: ``interfaces`` entries are names (``eth0``) or IPs.

    Empty means "aioice's default" (every interface but loopback): ``None``.
    """
    if not interfaces:
        return None
    import ipaddress

    import ifaddr

    wanted: list[str] = []
    names = set()
    for item in interfaces:
        try:
            wanted.append(str(ipaddress.ip_address(item)))
        except ValueError:
            names.add(item)
    for adapter in ifaddr.get_adapters():
        if adapter.nice_name in names or adapter.name in names:
            for ip in adapter.ips:
                if isinstance(ip.ip, str):
                    wanted.append(ip.ip)
    return wanted


@dataclass
class SessionConfig:
    server_url: str
    room: int = 0  # the main room; 0 with create=True picks one
    pin: str = ""
    display: str = "Clinician"
    create: bool = False  # host: create the rooms (and destroy them on hang-up)
    token: str = ""  # a main-room token (skip the waiting room)
    admin_key: str = ""  # Janus VideoRoom admin_key, if the server requires one to create
    bitrate_bps: int = DEFAULT_BITRATE_BPS
    interfaces: list[str] = field(default_factory=list)
    turn: list[TurnServer] = field(default_factory=list)
    force_relay: bool = False
    camera: str = "testsrc"
    microphone: str = "tone"
    width: int = 1280
    height: int = 720
    fps: int = 30
    page_url: str = ""  # patient page, for the invite
    patient_stethoscope: bool = False  # the invite asks the patient page for a stethoscope
    browser_server_url: str = ""  # the server URL as browsers reach it (default: server_url)
    auto_admit: bool = False  # headless host: admit everyone who waits
    render_frames: bool = True  # convert remote frames to RGB for the window
    speaker: str = ""  # play remote voices on this output ("default", "sd:N"); "" = headless
    camera_fallback: bool = False  # no such camera: send the synthetic one (and say so)
    receive_path: str = "ours"
    host_key: str = ""  # guest: the host's public key from the invite link (sealed lobby)
    # Hosts that may be reached over plain ws:// (IT's policy, [security]
    # allow_insecure_hosts); loopback always may. Anything else needs wss://.
    allow_insecure_hosts: list[str] = field(default_factory=list)


def ice_config(cfg: SessionConfig) -> RTCConfiguration:
    config = ice_config_unbundled(cfg)
    # Janus always BUNDLEs. aiortc's default (balanced) puts a 2nd/3rd audio m-line of a
    # subscriber offer on a transport that is never connected (the labelled tracks of
    # media/visit/tracks.py), and their packets then land in the voice receiver
    from aiortc import RTCBundlePolicy

    config.bundlePolicy = RTCBundlePolicy.MAX_BUNDLE
    return config


def ice_config_unbundled(cfg: SessionConfig) -> RTCConfiguration:
    from aiortc import RTCConfiguration, RTCIceServer

    servers = [
        RTCIceServer(urls=t.url, username=t.username or None, credential=t.credential or None)
        for t in cfg.turn
    ]
    if cfg.force_relay:
        if not servers:
            raise VisitConnectError(reason="relay is required but no TURN server is configured")
        from aiortc import RTCIceTransportPolicy

        return RTCConfiguration(iceServers=servers, iceTransportPolicy=RTCIceTransportPolicy.RELAY)
    return RTCConfiguration(iceServers=servers)
