"""The updater against a real TUF repository (tufup) served over HTTP on 127.0.0.1.

Nothing is mocked: each test builds a repository with real keys and signed
metadata, serves it with http.server on loopback, and runs the console's
Updater (app/updates.py) against it. Tampering, expiry and rollback are made
the way an attacker or a stale mirror would make them: by changing the files
the server hands out.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import shutil
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest

from app.errors import UpdateError, UpdateUnavailableError, UpdateVerificationError
from app.settings import UpdateSettings
from app.updates import APP_NAME, Updater


@dataclass
class Served:
    """A tufup repository and the loopback server handing out its files."""

    root: Path
    repo: object
    keys_dir: Path
    url: str
    requests: list[str] = field(default_factory=list)

    @property
    def repo_dir(self) -> Path:
        return self.root / "repo"

    @property
    def root_json(self) -> Path:
        return self.repo_dir / "metadata" / "root.json"

    def add(self, version: str) -> None:
        bundle = self.root / f"bundle-{version}"
        bundle.mkdir()
        (bundle / "clinician-console").write_text(f"the console, version {version}\n")
        (bundle / "_internal").mkdir()
        (bundle / "_internal" / "data.txt").write_text("x" * 2048)
        self.repo.add_bundle(new_bundle_dir=bundle, new_version=version, skip_patch=True)  # type: ignore[attr-defined]
        self.publish()

    def publish(self) -> None:
        self.repo.publish_changes(private_key_dirs=[self.keys_dir])  # type: ignore[attr-defined]

    def archive(self, version: str) -> Path:
        return self.repo_dir / "targets" / f"{APP_NAME}-{version}.tar.gz"


class _Handler(http.server.SimpleHTTPRequestHandler):
    log_list: list[str]

    def log_message(self, format: str, *args: object) -> None:
        self.log_list.append(self.path)


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    from tufup.repo import Repository

    # tufup keeps its repository configuration file in the working directory.
    monkeypatch.chdir(tmp_path)
    keys_dir = tmp_path / "keys"
    repo = Repository(app_name=APP_NAME, repo_dir=tmp_path / "repo", keys_dir=keys_dir)
    repo.initialize()
    requests: list[str] = []
    handler = type("Handler", (_Handler,), {"log_list": requests})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(handler, directory=str(tmp_path / "repo"))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(
            root=tmp_path,
            repo=repo,
            keys_dir=keys_dir,
            url=f"http://127.0.0.1:{server.server_address[1]}",
            requests=requests,
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def updater(served: Served, tmp_path: Path, **settings: object) -> Updater:
    values: dict[str, object] = {"url": served.url, "root_file": str(served.root_json)}
    values.update(settings)
    return Updater(
        UpdateSettings(**values),  # type: ignore[arg-type]
        profile=tmp_path / "profile",
        current_version="0.1.0",
        install_dir=tmp_path / "install",
    )


def test_a_good_update_is_offered_and_downloads_verified(served: Served, tmp_path: Path) -> None:
    served.add("0.1.0")
    served.add("0.2.0")
    up = updater(served, tmp_path)
    found = up.check()
    assert found.available and found.version == "0.2.0"
    assert found.size_bytes == served.archive("0.2.0").stat().st_size
    path = up.download()
    assert hashlib.sha256(path.read_bytes()).digest() == (
        hashlib.sha256(served.archive("0.2.0").read_bytes()).digest()
    )
    assert any("timestamp.json" in r for r in served.requests)


def test_nothing_newer_is_no_update(served: Served, tmp_path: Path) -> None:
    served.add("0.1.0")
    found = updater(served, tmp_path).check()
    assert not found.available and found.version is None and found.reason == ""


def test_the_channel_decides_which_releases_are_offered(served: Served, tmp_path: Path) -> None:
    served.add("0.2.0")
    served.add("0.3.0b1")
    assert updater(served, tmp_path).check().version == "0.2.0"
    beta = Updater(
        UpdateSettings(url=served.url, root_file=str(served.root_json), channel="beta"),
        profile=tmp_path / "beta-profile",
        current_version="0.1.0",
    )
    assert beta.check().version == "0.3.0b1"


def test_turned_off_means_no_request_at_all(served: Served, tmp_path: Path) -> None:
    served.add("0.2.0")
    served.requests.clear()
    found = updater(served, tmp_path, enabled=False).check()
    assert not found.available and "updates.enabled" in found.reason
    assert served.requests == []


def test_no_url_is_not_configured(tmp_path: Path) -> None:
    found = Updater(UpdateSettings(), profile=tmp_path / "p").check()
    assert not found.available and "updates.url" in found.reason


def _edit_json(path: Path, change: object) -> None:
    data = json.loads(path.read_text())
    change(data)  # type: ignore[operator]
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("role", ["timestamp", "snapshot", "targets"])
def test_tampered_metadata_is_refused(served: Served, tmp_path: Path, role: str) -> None:
    served.add("0.2.0")
    path = served.repo_dir / "metadata" / f"{role}.json"
    # Keep the JSON valid and the signature as it was: only the signed content changes.
    _edit_json(path, lambda d: d["signed"].update(expires="2099-01-01T00:00:00Z"))
    if role != "timestamp":
        # Versioned copies (consistent snapshots) are what the client asks for.
        for copy in path.parent.glob(f"*.{role}.json"):
            shutil.copyfile(path, copy)
    with pytest.raises(UpdateVerificationError) as err:
        updater(served, tmp_path).check()
    assert "not signed by the trusted keys" in str(err.value)
    assert "Nothing was installed" in str(err.value)


def test_tampered_archive_is_refused_and_not_kept(served: Served, tmp_path: Path) -> None:
    served.add("0.2.0")
    archive = served.archive("0.2.0")
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one byte
    archive.write_bytes(bytes(data))
    up = updater(served, tmp_path)
    assert up.check().available
    with pytest.raises(UpdateVerificationError) as err:
        up.download()
    assert "does not match its signed length and hashes" in str(err.value)
    assert list(up.targets_dir.iterdir()) == []


def test_expired_metadata_is_refused(served: Served, tmp_path: Path) -> None:
    served.add("0.2.0")
    timestamp = served.repo.roles.timestamp  # type: ignore[attr-defined]
    timestamp.signed.expires = datetime.now(UTC) - timedelta(hours=1)
    served.publish()  # properly signed, but already expired: a frozen mirror
    with pytest.raises(UpdateVerificationError) as err:
        updater(served, tmp_path).check()
    assert "expired" in str(err.value)


def test_rollback_to_older_metadata_is_refused(served: Served, tmp_path: Path) -> None:
    served.add("0.2.0")
    old = served.root / "old-metadata"
    shutil.copytree(served.repo_dir / "metadata", old)
    served.add("0.3.0")
    assert updater(served, tmp_path).check().version == "0.3.0"
    # The mirror now serves the older (validly signed) metadata again.
    shutil.rmtree(served.repo_dir / "metadata")
    shutil.copytree(old, served.repo_dir / "metadata")
    with pytest.raises(UpdateVerificationError) as err:
        updater(served, tmp_path).check()
    assert "rollback" in str(err.value)


def test_unreachable_repository_is_unavailable_not_verification(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = tmp_path / "root.json"
    root.write_text("{}")
    up = Updater(
        UpdateSettings(url=f"http://127.0.0.1:{port}", root_file=str(root)),
        profile=tmp_path / "p",
    )
    with pytest.raises(UpdateError) as err:
        up.check()
    # A root.json that is not TUF metadata is itself a verification failure.
    assert isinstance(err.value, UpdateVerificationError)


def test_unreachable_repository_with_a_good_root(served: Served, tmp_path: Path) -> None:
    served.add("0.2.0")
    up = updater(served, tmp_path, url="http://127.0.0.1:9/")
    with pytest.raises(UpdateUnavailableError) as err:
        up.check()
    assert "could not be reached" in str(err.value)


def test_no_trusted_root_is_a_clear_error(tmp_path: Path) -> None:
    up = Updater(
        UpdateSettings(url="http://127.0.0.1:9", root_file=str(tmp_path / "missing.json")),
        profile=tmp_path / "p",
    )
    with pytest.raises(UpdateError) as err:
        up.check()
    assert "no trusted root metadata" in str(err.value)


def test_install_unpacks_the_verified_archive(served: Served, tmp_path: Path) -> None:
    served.add("0.2.0")
    up = updater(served, tmp_path)
    (tmp_path / "install").mkdir()
    assert up.check().available
    archive = up.download()
    got: dict[str, Path] = {}
    staging = up.install(archive, install=lambda src_dir, dst_dir: got.update(src=src_dir))
    assert got["src"] == staging
    assert (staging / "clinician-console").read_text() == "the console, version 0.2.0\n"
    with tarfile.open(archive) as tar:
        assert "./clinician-console" in tar.getnames()
