"""SEKMET, the FHIR R4 server the integration tests run against (DESIGN.md §5).

SEKMET lives in its own virtual environment (its FastAPI/pydantic pins must not
fix ours): :func:`ensure_sekmet_venv` finds or builds it, :class:`SekmetServer`
runs one instance on a free loopback port with its own data directory.
``start()`` after ``stop()`` (or ``kill()``) serves the same data on the same
port, which the sync tests use for "the server went away and came back".

Nothing here sleeps for a fixed time: readiness is polled against
``/fhir/metadata`` with a deadline, and a server that exits early fails at once
with the tail of its log.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

SEKMET_REQUIREMENT = "sekmet-fhir==0.1.1"
SEKMET_VERSION = "0.1.1"
VENV_ENV = "CLINICIAN_CONSOLE_SEKMET_VENV"
SYSTEM_VENV = Path("/opt/sekmet-venv")
USER_VENV = Path.home() / ".cache" / "clinician-console" / "sekmet-venv"
START_TIMEOUT_S = 60.0
PIP_TIMEOUT_S = 900.0


class SekmetUnavailableError(RuntimeError):
    """SEKMET's venv could not be found or built; the message says what to do."""


def _bin(venv: Path, name: str) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / name


def _writable(path: Path) -> bool:
    probe = path
    while not probe.exists():
        probe = probe.parent
    return os.access(probe, os.W_OK)


def _installed_version(venv: Path) -> str | None:
    python = _bin(venv, "python")
    if not python.exists() or not _bin(venv, "sekmet").exists():
        return None
    try:
        done = subprocess.run(
            [
                str(python),
                "-c",
                "import importlib.metadata as m, sekmet; print(m.version('sekmet-fhir'))",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def default_venv_dir() -> Path:
    """``$CLINICIAN_CONSOLE_SEKMET_VENV``, else /opt/sekmet-venv (if usable or creatable),
    else ~/.cache/clinician-console/sekmet-venv."""
    env = os.environ.get(VENV_ENV)
    if env:
        return Path(env).expanduser()
    # A ready system venv is used even when read-only (a developer's machine).
    if _installed_version(SYSTEM_VENV) == SEKMET_VERSION or _writable(SYSTEM_VENV):
        return SYSTEM_VENV
    return USER_VENV


def _run_step(cmd: list[str], what: str) -> None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SekmetUnavailableError(f"{what} failed: {exc}") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise SekmetUnavailableError(f"{what} failed (exit {done.returncode}):\n{tail}")


def ensure_sekmet_venv(venv: Path | None = None) -> Path:
    """The ``sekmet`` executable, building the venv first if needed (under a file lock,
    so parallel test sessions do not build it twice)."""
    venv = (venv or default_venv_dir()).expanduser()
    if _installed_version(venv) == SEKMET_VERSION:
        return _bin(venv, "sekmet")
    try:
        venv.parent.mkdir(parents=True, exist_ok=True)
        lock_path = venv.parent / f".{venv.name}.lock"
        lock = lock_path.open("w")
    except OSError as exc:
        raise SekmetUnavailableError(
            f"cannot create SEKMET's venv at {venv} ({exc}); set {VENV_ENV} to a writable directory"
        ) from exc
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed_version(venv) == SEKMET_VERSION:  # built while we waited
            return _bin(venv, "sekmet")
        python = shutil.which("python3") or sys.executable
        hint = (
            f"SEKMET ({SEKMET_REQUIREMENT}) runs in its own venv at {venv} ({VENV_ENV} "
            "chooses another place); building it needs python3-venv and access to PyPI"
        )
        _run_step([python, "-m", "venv", str(venv)], f"{hint}: python3 -m venv")
        _run_step(
            [
                str(_bin(venv, "python")),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--quiet",
                SEKMET_REQUIREMENT,
            ],
            f"{hint}: pip install {SEKMET_REQUIREMENT}",
        )
        found = _installed_version(venv)
        if found != SEKMET_VERSION:
            raise SekmetUnavailableError(
                f"{hint}: after installing, the venv reports sekmet-fhir {found!r}"
            )
    return _bin(venv, "sekmet")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _yaml(value: Any) -> str:
    # JSON is YAML 1.2: no YAML library is needed to write SEKMET's settings.
    return json.dumps(value, indent=2)


@dataclass
class SekmetServer:
    """One SEKMET process. ``config`` holds settings beyond the fixed ones (``server_auth``,
    ``tls_certfile``...); change it between ``stop()`` and ``start()`` to reconfigure."""

    executable: Path
    workdir: Path
    config: dict[str, Any] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    #: The CA the readiness probe trusts when the server speaks TLS.
    ca_file: Path | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _log: Any = field(default=None, repr=False)

    @property
    def scheme(self) -> str:
        return "https" if self.config.get("tls_certfile") else "http"

    @property
    def root_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/fhir"

    @property
    def token_url(self) -> str:
        return f"{self.root_url}/auth/token"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def log_path(self) -> Path:
        return self.workdir / "sekmet.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def settings(self) -> dict[str, Any]:
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "base_url": self.base_url,
            "data_dir": str(self.data_dir),
            "own_private_key_path": str(self.workdir / "keys" / "sekmet_private.pem"),
            "simulator": {"enabled": False},
            "log_inbound": False,
            **self.config,
        }

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        if self.running:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config_path = self.workdir / "settings.yaml"
        config_path.write_text(_yaml(self.settings()))
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [str(self.executable), "serve", "-c", str(config_path)],
            cwd=self.workdir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Its own process group: a test's kill() must not reach pytest.
            start_new_session=True,
        )
        self._wait_ready(timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout_s
        verify: Any = ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else True
        with httpx.Client(verify=verify, timeout=2.0, trust_env=False) as http:
            while True:
                try:
                    if http.get(f"{self.base_url}/metadata").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise SekmetUnavailableError(
                        f"SEKMET did not answer {self.base_url}/metadata within {timeout_s:.0f} s;"
                        f" log:\n{self.log_tail()}"
                    )
                # Waiting on the process doubles as the poll interval and notices an exit.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    code = self._process.wait(timeout=0.05)
                    raise SekmetUnavailableError(
                        f"SEKMET exited with status {code} while starting; log:\n{self.log_tail()}"
                    )

    def stop(self, timeout_s: float = 15.0) -> None:
        """Graceful stop (SIGTERM, then SIGKILL if it lingers)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout_s)
        self._close_log()

    def kill(self) -> None:
        """SIGKILL, as a crash or power cut would."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> SekmetServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def running_server(
    executable: Path, workdir: Path, config: dict[str, Any] | None = None, **kwargs: Any
) -> Iterator[SekmetServer]:
    server = SekmetServer(executable, workdir, config or {}, **kwargs)
    try:
        server.start()
        yield server
    finally:
        server.stop()


# --- key material for the auth variants ------------------------------------------------------


@dataclass(frozen=True)
class SmartClientKeys:
    """A SMART backend client registered with a test server."""

    client_id: str
    private_key_pem: str
    public_jwk: dict[str, Any]


def make_rsa_client(client_id: str) -> SmartClientKeys:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwk.update({"alg": "RS384", "use": "sig"})
    return SmartClientKeys(client_id, pem, jwk)


def make_self_signed_cert(
    directory: Path, hostnames: tuple[str, ...] = ("127.0.0.1", "localhost")
) -> tuple[Path, Path]:
    """A self-signed server certificate (its own CA) and key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "clinician-console test server")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path
