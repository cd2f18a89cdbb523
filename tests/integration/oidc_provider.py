"""A real OpenID provider for the sign-in tests (npm ``oidc-provider``, OpenID certified).

``tests/integration/oidc/`` holds ``server.mjs`` (the provider with one public native
client, our own login and consent pages) and the pinned ``package.json`` /
``package-lock.json``. :func:`ensure_oidc_install` runs ``npm ci`` once into a cache
directory named after the lock file's hash (under a file lock), like Medplum's;
:class:`OidcTestProvider` runs one provider on a free loopback port with the accounts
and clients a test gives it. :class:`FormBrowser` is the "system browser" of the tests:
an HTTP client that keeps cookies, fills in the login and consent forms and follows
the redirects back to the console's loopback listener, as a person in a browser would.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

from tests.integration.medplum import node_executable
from tests.integration.sekmet import free_port

SOURCE_DIR = Path(__file__).with_name("oidc")
CACHE_ENV = "CLINICIAN_CONSOLE_OIDC_DIR"
START_TIMEOUT_S = 30.0
NPM_TIMEOUT_S = 600.0
CLIENT_ID = "clinician-console"


class OidcProviderUnavailableError(RuntimeError):
    """Node, npm or oidc-provider is missing; the message says what to do."""


def _lock_hash() -> str:
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        digest.update((SOURCE_DIR / name).read_bytes())
    return digest.hexdigest()[:16]


def install_dir() -> Path:
    root = os.environ.get(CACHE_ENV)
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "clinician-console"
    return base / f"oidc-provider-{_lock_hash()}"


def ensure_oidc_install() -> Path:
    """The directory holding ``node_modules`` for server.mjs, built with ``npm ci`` if needed."""
    try:
        node_executable()
    except RuntimeError as exc:
        raise OidcProviderUnavailableError(str(exc)) from exc
    target = install_dir()
    if (target / ".installed").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f".{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / ".installed").exists():
            return target
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        for name in ("package.json", "package-lock.json"):
            shutil.copy2(SOURCE_DIR / name, target / name)
        try:
            done = subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                cwd=target,
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT_S,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise OidcProviderUnavailableError(f"npm ci for oidc-provider failed: {exc}") from exc
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise OidcProviderUnavailableError(f"npm ci for oidc-provider failed:\n{tail}")
        (target / ".installed").write_text("ok\n")
    return target


def account(
    login: str,
    password: str,
    sub: str,
    *,
    name: str = "",
    npi: str = "",
    licenses: list[str] | None = None,
    **claims: Any,
) -> dict[str, Any]:
    values: dict[str, Any] = {"sub": sub, "preferred_username": login, **claims}
    if name:
        values["name"] = name
    if npi:
        values["npi"] = npi
    if licenses is not None:
        values["licenses"] = licenses
    return {"password": password, "claims": values}


def native_client(client_id: str = CLIENT_ID, **extra: Any) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "application_type": "native",
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "redirect_uris": ["http://127.0.0.1/callback"],
        **extra,
    }


@dataclass
class OidcTestProvider:
    """One ``node server.mjs`` on 127.0.0.1 (everything in memory)."""

    install: Path
    workdir: Path
    accounts: dict[str, Any]
    clients: list[dict[str, Any]] = field(default_factory=lambda: [native_client()])
    ttl: dict[str, int] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "oidc-provider.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        if self.running:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(SOURCE_DIR / "server.mjs", self.workdir / "server.mjs")
        link = self.workdir / "node_modules"
        if not link.exists():
            link.symlink_to(self.install / "node_modules", target_is_directory=True)
        config = self.workdir / "config.json"
        config.write_text(
            json.dumps({"accounts": self.accounts, "clients": self.clients, "ttl": self.ttl})
        )
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    node_executable(),
                    "server.mjs",
                    "--port",
                    str(self.port),
                    "--config",
                    str(config),
                ],
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        url = f"{self.issuer}/.well-known/openid-configuration"
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise OidcProviderUnavailableError(
                    f"the OpenID test provider exited ({self._process.returncode}):\n"
                    + self.log_tail()
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2.0).status_code == 200:
                    return
            time.sleep(0.1)  # polling a condition with a deadline, not a fixed wait
        self.stop()
        raise OidcProviderUnavailableError(
            f"the OpenID test provider did not start:\n{self.log_tail()}"
        )

    def stop(self, timeout_s: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout_s)


_FORM = re.compile(r'<form[^>]*id="(?P<id>[a-z]+)"[^>]*action="(?P<action>[^"]+)"', re.S)


class FormBrowser:
    """The tests' system browser: fills in the provider's login and consent pages.

    ``consent`` False presses Deny. Each page visited is kept in ``pages`` (URL, status)
    so a test can assert what the person saw. One instance keeps its cookies like a
    browser profile: a second sign-in reuses the provider's session (SSO).
    """

    def __init__(self, login: str, password: str, *, consent: bool = True) -> None:
        self.login = login
        self.password = password
        self.consent = consent
        self.pages: list[tuple[str, int]] = []
        self.opened: list[str] = []
        self._http = httpx.AsyncClient(follow_redirects=True, timeout=20.0)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __call__(self, url: str) -> None:
        self.opened.append(url)
        response = await self._http.get(url)
        for _ in range(6):
            self.pages.append((str(response.url), response.status_code))
            match = _FORM.search(response.text) if response.status_code == 200 else None
            if match is None:
                return  # the loopback page (or an error page): the console takes over
            action = urljoin(str(response.url), match["action"].replace("&amp;", "&"))
            if match["id"] == "login":
                form = {"login": self.login, "password": self.password}
            elif self.consent:
                form = {}
            else:
                action = action.removesuffix("/confirm") + "/abort"
                form = {}
            response = await self._http.post(action, data=form)
