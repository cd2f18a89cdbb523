"""A real Orthanc with its DICOMweb plugin (Debian ``orthanc``, ``orthanc-dicomweb``) on a
free loopback port, for the STOW-RS tests. Its storage lives in a temporary directory.

``users`` turns Orthanc's own HTTP Basic authentication on (``AuthenticationEnabled``,
``RegisteredUsers``); the helpers below then sign in as the first user."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.integration.sekmet import free_port

ORTHANC = "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"


def available() -> bool:
    return Path(ORTHANC).exists() and Path(DICOMWEB_PLUGIN).exists()


@dataclass
class OrthancServer:
    port: int
    proc: subprocess.Popen[bytes]
    users: dict[str, str] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stow_url(self) -> str:
        return f"{self.base}/dicom-web/studies"

    def _request(self, path: str) -> urllib.request.Request:
        request = urllib.request.Request(self.base + path)
        if self.users:
            user, password = next(iter(self.users.items()))
            pair = base64.b64encode(f"{user}:{password}".encode()).decode()
            request.add_header("Authorization", f"Basic {pair}")
        return request

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self._request(path), timeout=10) as resp:
            return json.loads(resp.read())

    def instances(self) -> list[str]:
        found: list[str] = self.get("/instances")
        return found

    def instance_tags(self, orthanc_id: str) -> dict[str, Any]:
        tags: dict[str, Any] = self.get(f"/instances/{orthanc_id}/simplified-tags")
        return tags

    def instance_file(self, orthanc_id: str) -> bytes:
        request = self._request(f"/instances/{orthanc_id}/file")
        with urllib.request.urlopen(request, timeout=10) as r:
            data: bytes = r.read()
            return data

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextmanager
def orthanc_server(
    workdir: Path, port: int | None = None, *, users: dict[str, str] | None = None
) -> Iterator[OrthancServer]:
    port = port or free_port()
    db = workdir / "orthanc-db"
    db.mkdir(parents=True, exist_ok=True)
    config = {
        "Name": "console-tests",
        "StorageDirectory": str(db),
        "IndexDirectory": str(db),
        "HttpPort": port,
        "HttpBindAddress": "127.0.0.1",
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": bool(users),
        "RegisteredUsers": dict(users or {}),
        "DicomServerEnabled": False,
        "Plugins": [DICOMWEB_PLUGIN],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
    }
    path = workdir / "orthanc.json"
    path.write_text(json.dumps(config))
    log = (workdir / "orthanc.log").open("wb")
    proc = subprocess.Popen([ORTHANC, str(path)], stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    server = OrthancServer(port, proc, users)
    try:
        deadline = time.monotonic() + 30
        while True:  # wait for the condition (its REST API answers), not a fixed time
            if proc.poll() is not None:
                raise RuntimeError(
                    "Orthanc exited: " + (workdir / "orthanc.log").read_text()[-2000:]
                )
            try:
                server.get("/system")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield server
    finally:
        server.stop()
        log.close()
        shutil.rmtree(db, ignore_errors=True)
