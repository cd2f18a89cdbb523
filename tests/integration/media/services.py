"""Real media-side services for the integration tests: a network namespace, Janus, coturn.

Everything stays on 127.0.0.0/8 or on a veth pair these helpers create:

- :class:`MediaNet`: ``ip link add <host> type veth peer <peer>``; the host end
  gets ``10.203.N.1/24`` in the root namespace, the peer end ``10.203.N.2/24`` in
  a namespace of its own (Chromium and "remote" consoles run there with
  ``ip netns exec``). ``accept_local=1`` because both ends are local addresses
  of this machine. ``N`` comes from the process id so concurrent runs do not meet.
- :class:`JanusServer`: ``janus -F CONFDIR`` with our own minimal configs: no
  STUN, ICE only on the veth host interface (libnice never gathers loopback
  candidates), WebSocket API on the veth host address (the root namespace reaches
  it as a local address, the namespace through the veth), HTTP API on 127.0.0.1.
- :class:`TurnServer`: ``turnserver`` (coturn) with ``lt-cred-mech`` and a fixed
  user, listening on the veth host address (UDP and TCP).

Also usable by hand: ``python -m tests.integration.media.services`` starts all
three and prints their addresses until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JANUS_BIN = "/usr/bin/janus"
TURN_BIN = "/usr/bin/turnserver"
JANUS_LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
TURN_USER = "console"
TURN_PASSWORD = "turn-test-secret"


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), check=check, capture_output=True, text=True, timeout=30)


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(host: str, port: int, timeout_s: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)  # polling a condition with a deadline
    raise RuntimeError(f"nothing listening on {host}:{port} after {timeout_s} s")


@dataclass
class MediaNet:
    index: int = field(default_factory=lambda: 10 + os.getpid() % 200)
    up: bool = False

    @property
    def host_if(self) -> str:
        return f"ccmh{self.index}"

    @property
    def peer_if(self) -> str:
        return f"ccmp{self.index}"

    @property
    def netns(self) -> str:
        return f"ccm-peer-{self.index}"

    @property
    def host_ip(self) -> str:
        return f"10.203.{self.index}.1"

    @property
    def peer_ip(self) -> str:
        return f"10.203.{self.index}.2"

    def start(self) -> None:
        self.stop(quiet=True)
        _run("sysctl", "-q", "net.ipv4.conf.all.accept_local=1")
        _run("ip", "netns", "add", self.netns)
        _run("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.peer_if)
        _run("ip", "link", "set", self.peer_if, "netns", self.netns)
        _run("ip", "addr", "add", f"{self.host_ip}/24", "dev", self.host_if)
        _run("ip", "link", "set", self.host_if, "up")
        ns = ("ip", "netns", "exec", self.netns)
        _run(*ns, "ip", "addr", "add", f"{self.peer_ip}/24", "dev", self.peer_if)
        _run(*ns, "ip", "link", "set", self.peer_if, "up")
        _run(*ns, "ip", "link", "set", "lo", "up")
        _run(*ns, "sysctl", "-q", "net.ipv4.conf.all.accept_local=1")
        self.up = True

    def stop(self, quiet: bool = False) -> None:
        _run("ip", "link", "del", self.host_if, check=False)
        _run("ip", "netns", "del", self.netns, check=False)
        self.up = False

    def exec_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.netns]

    # -- impairments, applied inside the namespace (so only peer <-> host traffic) --

    def nft(self, script: str) -> None:
        subprocess.run([*self.exec_prefix(), "nft", "-f", "-"], input=script, text=True, check=True)

    def set_loss(self, percent: int) -> None:
        """Drop ``percent`` % of UDP packets both ways at the namespace's end."""
        self.clear_impairments()
        self.nft(
            "table inet ccm {\n"
            " chain in { type filter hook input priority 0; "
            f"meta l4proto udp numgen random mod 100 < {percent} counter drop; }}\n"
            " chain out { type filter hook output priority 0; "
            f"meta l4proto udp numgen random mod 100 < {percent} counter drop; }}\n"
            "}\n"
        )

    def blackhole(self) -> None:
        """Drop every packet on the namespace's veth, TCP signalling included (link gone)."""
        self.clear_impairments()
        self.nft(
            "table inet ccm {\n"
            f' chain in {{ type filter hook input priority 0; iifname "{self.peer_if}" drop; }}\n'
            f' chain out {{ type filter hook output priority 0; oifname "{self.peer_if}" drop; }}\n'
            "}\n"
        )

    def dropped_packets(self) -> int:
        """Packets the current impairment rules dropped (their nft counters)."""
        out = _run(*self.exec_prefix(), "nft", "list", "table", "inet", "ccm", check=False).stdout
        import re

        return sum(int(n) for n in re.findall(r"counter packets (\d+)", out))

    def clear_impairments(self) -> None:
        _run(*self.exec_prefix(), "nft", "delete", "table", "inet", "ccm", check=False)


JANUS_JCFG = """\
general: {{
    configs_folder = "{conf}"
    plugins_folder = "{lib}/plugins"
    transports_folder = "{lib}/transports"
    events_folder = "{lib}/events"
    loggers_folder = "{lib}/loggers"
    debug_level = {debug}
    log_to_stdout = true
    session_timeout = 60
    admin_secret = "{admin_secret}"
    protected_folders = ["/bin", "/boot", "/dev", "/etc", "/lib", "/proc", "/sbin", "/usr"]
}}
certificates: {{
}}
media: {{
    rtp_port_range = "{rtp_ports}"
}}
nat: {{
    nice_debug = false
    ice_enforce_list = "{ice_if}"
    ignore_mdns = true
}}
plugins: {{
    disable = "{disabled_plugins}"
}}
transports: {{
    disable = "libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so,libjanus_rabbitmq.so"
}}
events: {{
    broadcast = false
}}
loggers: {{
    disable = "libjanus_jsonlog.so"
}}
"""

VIDEOROOM_JCFG = """\
general: {{
    admin_key = "{admin_key}"
    string_ids = false
}}
"""

WEBSOCKETS_JCFG = """\
general: {{
    json = "plain"
    ws = true
    ws_port = {ws_port}
    ws_ip = "{ws_ip}"
    wss = false
}}
admin: {{
    admin_ws = false
    admin_wss = false
}}
"""

HTTP_JCFG = """\
general: {{
    json = "plain"
    base_path = "/janus"
    http = true
    port = {http_port}
    ip = "127.0.0.1"
    https = false
}}
admin: {{
    admin_base_path = "/admin"
    admin_http = false
    admin_https = false
}}
cors: {{
}}
"""


@dataclass
class JanusServer:
    net: MediaNet
    admin_key: str = "room-admin-key"
    debug_level: int = 4
    confdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ccm-janus-")))
    ws_port: int = 0
    http_port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://{self.net.host_ip}:{self.ws_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/janus"

    @property
    def log_path(self) -> Path:
        return self.confdir / "janus.log"

    def start(self) -> None:
        self.ws_port = free_port(self.net.host_ip)
        self.http_port = free_port()
        base = 20000 + (self.net.index % 100) * 400
        (self.confdir / "janus.jcfg").write_text(
            JANUS_JCFG.format(
                conf=self.confdir,
                lib=JANUS_LIB,
                debug=self.debug_level,
                admin_secret=os.urandom(8).hex(),
                rtp_ports=f"{base}-{base + 399}",
                ice_if=self.net.host_if,
                disabled_plugins=",".join(
                    f"libjanus_{name}.so"
                    for name in (
                        "audiobridge",
                        "duktape",
                        "lua",
                        "nosip",
                        "recordplay",
                        "sip",
                        "streaming",
                        "textroom",
                        "videocall",
                        "voicemail",
                    )
                ),
            )
        )
        (self.confdir / "janus.plugin.videoroom.jcfg").write_text(
            VIDEOROOM_JCFG.format(admin_key=self.admin_key)
        )
        (self.confdir / "janus.transport.websockets.jcfg").write_text(
            WEBSOCKETS_JCFG.format(ws_port=self.ws_port, ws_ip=self.net.host_ip)
        )
        (self.confdir / "janus.transport.http.jcfg").write_text(
            HTTP_JCFG.format(http_port=self.http_port)
        )
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [JANUS_BIN, "-F", str(self.confdir), "-o", "-D"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            wait_port(self.net.host_ip, self.ws_port, 15.0, self.proc)
        except RuntimeError as exc:
            raise RuntimeError(f"Janus did not start: {exc}; log:\n{self.log_tail()}") from exc

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None
        shutil.rmtree(self.confdir, ignore_errors=True)


@dataclass
class TurnServer:
    net: MediaNet
    port: int = 0
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ccm-turn-")))
    proc: subprocess.Popen[bytes] | None = None

    def urls(self) -> list[str]:
        where = f"{self.net.host_ip}:{self.port}"
        return [f"turn:{where}?transport=udp", f"turn:{where}?transport=tcp"]

    def start(self) -> None:
        self.port = free_port(self.net.host_ip)
        conf = self.workdir / "turnserver.conf"
        base = 45000 + (self.net.index % 100) * 100
        conf.write_text(
            "\n".join(
                [
                    f"listening-ip={self.net.host_ip}",
                    f"relay-ip={self.net.host_ip}",
                    f"listening-port={self.port}",
                    f"min-port={base}",
                    f"max-port={base + 99}",
                    "lt-cred-mech",
                    f"user={TURN_USER}:{TURN_PASSWORD}",
                    "realm=clinic.test",
                    "allow-loopback-peers",
                    "no-tls",
                    "no-dtls",
                    "no-cli",
                    "no-multicast-peers",
                    "fingerprint",
                    f"pidfile={self.workdir / 'turn.pid'}",
                    "log-file=stdout",
                    "simple-log",
                ]
            )
            + "\n"
        )
        log = (self.workdir / "turn.log").open("wb")
        self.proc = subprocess.Popen(
            [TURN_BIN, "-c", str(conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        wait_port(self.net.host_ip, self.port, 15.0, self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextlib.contextmanager
def media_services(turn: bool = False) -> Iterator[tuple[MediaNet, JanusServer, TurnServer | None]]:
    net = MediaNet()
    net.start()
    janus = JanusServer(net)
    turn_server: TurnServer | None = None
    try:
        janus.start()
        if turn:
            turn_server = TurnServer(net)
            turn_server.start()
        yield net, janus, turn_server
    finally:
        if turn_server is not None:
            turn_server.stop()
        janus.stop()
        net.stop()


def _main() -> None:
    import signal

    def _interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM (e.g. from `timeout`) cleans up like Ctrl-C

    signal.signal(signal.SIGTERM, _interrupt)
    with media_services(turn=True) as (net_, janus_, turn_):
        print(f"netns {net_.netns}: host {net_.host_ip}, peer {net_.peer_ip}")
        print(f"janus {janus_.ws_url} (http {janus_.http_url}), log {janus_.log_path}")
        if turn_ is not None:
            print(f"turn {turn_.urls()} user {TURN_USER} password {TURN_PASSWORD}")
        with contextlib.suppress(KeyboardInterrupt):
            while janus_.proc is not None and janus_.proc.poll() is None:
                time.sleep(1)


NGINX_MAIN = """\
daemon off;
master_process off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    access_log {root}/access.log;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    include {root}/site.conf;
}}
"""


@dataclass
class PatientPageServer:
    """nginx serving resources/web/patient/ with TLS, from resources/web/nginx-patient.conf.example.

    The example is used as shipped except for what a clinic changes anyway: the
    listen address, server name, certificate paths, PATIENT_ROOT and the Janus
    upstream. The certificate is self-signed (Chromium gets --ignore-certificate-errors).
    """

    net: MediaNet
    janus: JanusServer
    repo: Path
    port: int = 0
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ccm-nginx-")))
    proc: subprocess.Popen[bytes] | None = None
    # Listed too, but nothing answers there (nginx: 404): a media server that is down.
    dead_server: bool = False

    @property
    def origin(self) -> str:
        return f"https://{self.net.host_ip}:{self.port}"

    @property
    def server_url(self) -> str:
        """The Janus WebSocket as browsers reach it: through nginx, the page's only server."""
        return f"wss://{self.net.host_ip}:{self.port}/janus"

    @property
    def dead_server_url(self) -> str:
        return f"wss://{self.net.host_ip}:{self.port}/no-janus-here"

    def build_page(self) -> Path:
        """The page as IT deploys it: copied, media-servers.toml edited, the documented
        generate command run (docs/visits.md), so index.html carries the CSP for it."""
        page = self.root / "patient"
        shutil.copytree(self.repo / "resources/web/patient", page)
        servers = [self.server_url] + ([self.dead_server_url] if self.dead_server else [])
        (page / "media-servers.toml").write_text(f"servers = {servers!r}\n".replace("'", '"'))
        _run(sys.executable, str(page / "make_page.py"))
        return page

    def start(self) -> None:
        self.port = free_port(self.net.host_ip)
        cert, key = self.root / "cert.pem", self.root / "key.pem"
        _run(
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", f"/CN={self.net.host_ip}", "-keyout", str(key), "-out", str(cert),
        )  # fmt: skip
        page = self.build_page()
        site = (self.repo / "resources/web/nginx-patient.conf.example").read_text()
        site = (
            site.replace("listen 443 ssl;", f"listen {self.net.host_ip}:{self.port} ssl;")
            .replace("visits.example.org;", f"{self.net.host_ip};")
            .replace("wss://visits.example.org", f"wss://{self.net.host_ip}:{self.port}")
            .replace("/etc/ssl/certs/visits.example.org.pem", str(cert))
            .replace("/etc/ssl/private/visits.example.org.key", str(key))
            .replace("PATIENT_ROOT", str(page))
            .replace("http://127.0.0.1:8188", f"http://{self.net.host_ip}:{self.janus.ws_port}")
        )
        (self.root / "site.conf").write_text(site)
        (self.root / "nginx.conf").write_text(NGINX_MAIN.format(root=self.root))
        log = (self.root / "stdout.log").open("wb")
        self.proc = subprocess.Popen(
            ["nginx", "-c", str(self.root / "nginx.conf"), "-p", str(self.root)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            wait_port(self.net.host_ip, self.port, 10.0, self.proc)
        except RuntimeError as exc:
            errors = (self.root / "error.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"nginx did not start: {exc}\n{errors}") from exc

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None
        shutil.rmtree(self.root, ignore_errors=True)


CHROMIUM_BIN = "/usr/lib/chromium/chromium"
CHROMEDRIVER_BIN = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--ignore-certificate-errors",
    "--autoplay-policy=no-user-gesture-required",
]


@dataclass
class ChromiumPatient:
    """chromedriver + Chromium inside the peer namespace, driven from here with selenium.

    chromedriver listens on the namespace's veth address (``--allowed-ips`` lets
    the root namespace in), so the browser's media and signalling both cross the veth.
    """

    net: MediaNet
    port: int = 0
    profile: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ccm-chromium-")))
    proc: subprocess.Popen[bytes] | None = None
    driver: Any = None
    # Flags replacing CHROMIUM_FLAGS entries of the same name (e.g. a fake camera-less
    # device list), and Chromium preferences (e.g. accepted languages).
    flags: list[str] = field(default_factory=list)
    prefs: dict[str, Any] = field(default_factory=dict)

    def start(self) -> Any:
        from selenium import webdriver

        os.environ["SE_OFFLINE"] = "true"
        self.port = free_port()
        log = (self.profile / "chromedriver.log").open("wb")
        self.proc = subprocess.Popen(
            [
                *self.net.exec_prefix(),
                CHROMEDRIVER_BIN,
                f"--port={self.port}",
                f"--allowed-ips={self.net.host_ip}",
                "--allowed-origins=*",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(os.environ, HOME=str(self.profile)),
        )
        wait_in_ns = time.monotonic() + 15
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM_BIN
        replaced = {flag.split("=", 1)[0] for flag in self.flags}
        for flag in [f for f in CHROMIUM_FLAGS if f.split("=", 1)[0] not in replaced]:
            options.add_argument(flag)
        for flag in self.flags:
            options.add_argument(flag)
        if self.prefs:
            options.add_experimental_option("prefs", self.prefs)
        options.add_argument(f"--user-data-dir={self.profile / 'data'}")
        while True:
            try:
                self.driver = webdriver.Remote(
                    command_executor=f"http://{self.net.peer_ip}:{self.port}", options=options
                )
                return self.driver
            except Exception:
                if time.monotonic() > wait_in_ns or self.proc.poll() is not None:
                    raise
                time.sleep(0.2)  # chromedriver still starting: poll with a deadline

    def stop(self) -> None:
        if self.driver is not None:
            with contextlib.suppress(Exception):
                self.driver.quit()
            self.driver = None
        _stop(self.proc)
        self.proc = None
        shutil.rmtree(self.profile, ignore_errors=True)


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


if __name__ == "__main__":
    _main()
