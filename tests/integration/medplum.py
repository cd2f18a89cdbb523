"""Medplum, the second FHIR R4 server the sync tests run against (DESIGN.md §5).

``tests/integration/medplum/`` holds a small HTTP wrapper (``server.mjs``) around
Medplum's ``@medplum/fhir-router`` with its ``MemoryRepository``, and the pinned
``package.json`` / ``package-lock.json``. :func:`ensure_medplum_install` runs
``npm ci`` once into a cache directory named after the lock file's hash (under a
file lock, so parallel sessions do not build it twice); :class:`MedplumServer`
runs one instance on a free loopback port. Its data lives in memory: a stopped
server forgets everything (tests that restart the server use SEKMET).

How it differs from SEKMET (what the sync code must cope with): a transaction
rewrites every string equal to an entry's ``fullUrl`` (identifier values
included); ids and versionIds are UUIDs; an update to an id that does not exist
is refused (no update-as-create, so ``Binary`` cannot be written with a fixed
id); a failed ``If-Match`` is 412 (SEKMET and HAPI say 409); a transaction-
response entry carries ``location`` without ``_history`` and no ``etag`` (the
version is in the echoed resource).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.integration.sekmet import free_port

SOURCE_DIR = Path(__file__).with_name("medplum")
CACHE_ENV = "CLINICIAN_CONSOLE_MEDPLUM_DIR"
NODE_MIN = (20, 19)
START_TIMEOUT_S = 60.0
NPM_TIMEOUT_S = 900.0


class MedplumUnavailableError(RuntimeError):
    """Node, npm or the Medplum packages are missing; the message says what to do."""


def _lock_hash() -> str:
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        digest.update((SOURCE_DIR / name).read_bytes())
    return digest.hexdigest()[:16]


def _node_version(node: str) -> tuple[int, ...]:
    done = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    text = done.stdout.strip().lstrip("v")
    return tuple(int(p) for p in text.split(".")[:2] if p.isdigit())


def node_executable() -> str:
    node = shutil.which("node")
    hint = (
        "Medplum's FHIR router (the second FHIR server of the sync tests) needs Node.js "
        f"{NODE_MIN[0]}.{NODE_MIN[1]}+ and npm: run `bash scripts/setup --tests` or install them"
    )
    if node is None or shutil.which("npm") is None:
        raise MedplumUnavailableError(f"{hint} (node or npm is not on PATH)")
    found = _node_version(node)
    if found < NODE_MIN:
        raise MedplumUnavailableError(f"{hint} (found Node {'.'.join(map(str, found))})")
    return node


def install_dir() -> Path:
    root = os.environ.get(CACHE_ENV)
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "clinician-console"
    return base / f"medplum-{_lock_hash()}"


def _ready(target: Path) -> bool:
    return (target / ".installed").exists()


def ensure_medplum_install() -> Path:
    """The directory holding ``node_modules`` for server.mjs, built with ``npm ci`` if needed."""
    node_executable()
    target = install_dir()
    if _ready(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f".{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _ready(target):  # built while we waited
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
            raise MedplumUnavailableError(f"npm ci for Medplum failed: {exc}") from exc
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise MedplumUnavailableError(f"npm ci for Medplum failed in {target}:\n{tail}")
        (target / ".installed").write_text("ok\n")
    return target


@dataclass
class MedplumServer:
    """One ``node server.mjs`` process on 127.0.0.1 (data in memory)."""

    install: Path
    workdir: Path
    port: int = field(default_factory=free_port)
    #: Refuse JSON bodies above this with 413, as Medplum's ``maxJsonSize`` does (1 MiB by
    #: default there); 0 = no limit (bench.sync's reference arm posts 1 MB JSON Binaries).
    max_json_bytes: int = 0
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    @property
    def log_path(self) -> Path:
        return self.workdir / "medplum.log"

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
        # ESM resolves packages from the script's directory upwards: run a copy beside
        # a link to the cached node_modules.
        shutil.copy2(SOURCE_DIR / "server.mjs", self.workdir / "server.mjs")
        link = self.workdir / "node_modules"
        if not link.exists():
            link.symlink_to(self.install / "node_modules", target_is_directory=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    node_executable(),
                    "server.mjs",
                    "--port",
                    str(self.port),
                    "--max-json",
                    str(self.max_json_bytes),
                ],
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise MedplumUnavailableError(
                    f"the Medplum test server exited ({self._process.returncode}):\n"
                    f"{self.log_tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/metadata", timeout=2.0).status_code == 200:
                    return
            time.sleep(0.1)  # polling a condition with a deadline, not a fixed wait
        self.stop()
        raise MedplumUnavailableError(f"the Medplum test server did not start:\n{self.log_tail()}")

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
