"""Signed updates through The Update Framework (tufup on python-tuf), with no Qt.

The console trusts an update only when its metadata verifies against the root
of trust it already holds (``root.json``, shipped beside the frozen program or
pinned by the policy's ``updates.root_file``): every metadata file signed by
the right keys (tampering), none past its expiry date (freeze: a mirror that
keeps serving old metadata), no version older than one already seen
(rollback), and the archive's length and hashes equal to the signed targets
metadata. Anything else raises :class:`~app.errors.UpdateVerificationError`
and nothing is installed; an unreachable repository raises
:class:`~app.errors.UpdateUnavailableError`.

tufup's own ``check_for_updates`` logs and swallows bad signatures and
download errors (it returns "no update"); we refresh the metadata ourselves
first so that IT hears about a tampered repository instead of silence.

Policy: ``[updates] enabled = false`` turns checking off; ``channel`` pins
which releases are offered (stable: final releases only; beta: also betas and
release candidates; alpha: every pre-release). All network I/O here blocks:
the GUI calls it in an executor, the CLI directly.
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app import __version__
from app.errors import UpdateError, UpdateUnavailableError, UpdateVerificationError
from app.settings import UpdateSettings

log = logging.getLogger(__name__)

APP_NAME = "clinician-console"
ROOT_FILE_NAME = "update-root.json"
# tufup's pre-release filter, by channel (PEP 440 pre-release letters).
_CHANNEL_PRE: dict[str, str | None] = {"stable": None, "beta": "b", "alpha": "a"}


@dataclass(frozen=True)
class UpdateCheck:
    """What a check found. ``available`` is False when there is nothing newer."""

    enabled: bool
    channel: str
    current_version: str
    available: bool = False
    version: str | None = None
    size_bytes: int | None = None
    reason: str = ""  # why nothing was checked (turned off, not configured)

    def as_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "channel": self.channel,
            "current_version": self.current_version,
            "available": self.available,
            "version": self.version,
            "size_bytes": self.size_bytes,
            "reason": self.reason,
        }


def default_install_dir() -> Path:
    """The folder of the running program: the bundle when frozen."""
    if getattr(sys, "frozen", False):
        return Path(sys.executable).resolve().parent
    return Path(__file__).resolve().parents[1]


def shipped_root_file() -> Path:
    """Where the release build puts the repository's initial root.json."""
    return default_install_dir() / ROOT_FILE_NAME


class Updater:
    """Checks, verifies and downloads updates for one profile.

    Metadata and downloaded archives are cached under ``profile/updates/``,
    so the rollback protection remembers the newest metadata versions seen.
    """

    def __init__(
        self,
        settings: UpdateSettings,
        *,
        profile: Path,
        current_version: str = __version__,
        install_dir: Path | None = None,
    ) -> None:
        self.settings = settings
        self.current_version = current_version
        self.install_dir = install_dir if install_dir is not None else default_install_dir()
        self.cache_dir = profile / "updates"
        self._client: Any = None
        self._target: Any = None

    @property
    def metadata_dir(self) -> Path:
        return self.cache_dir / "metadata"

    @property
    def targets_dir(self) -> Path:
        return self.cache_dir / "targets"

    def _not_checked(self) -> str:
        if not self.settings.enabled:
            return "updates are turned off (updates.enabled)"
        if not self.settings.url:
            return "no update repository is configured (updates.url)"
        return ""

    def check(self) -> UpdateCheck:
        """Refresh and verify the metadata; say whether a newer release is offered."""
        base = UpdateCheck(
            enabled=self.settings.enabled,
            channel=self.settings.channel,
            current_version=self.current_version,
        )
        reason = self._not_checked()
        if reason:
            return UpdateCheck(**{**base.as_dict(), "reason": reason})
        client = self._make_client()
        _translate(client.refresh)
        pre = _CHANNEL_PRE[self.settings.channel]
        # Refreshed above, so this only reads the verified targets metadata.
        target = _translate(lambda: client.check_for_updates(pre=pre, patch=False))
        self._target = target
        if target is None:
            return base
        info = client.new_archive_info
        return UpdateCheck(
            enabled=True,
            channel=self.settings.channel,
            current_version=self.current_version,
            available=True,
            version=str(target.version),
            size_bytes=int(info.length) if info is not None else None,
        )

    def download(self) -> Path:
        """Download the offered archive and verify its length and hashes; its path.

        Call :meth:`check` first. A target that does not match the signed
        metadata is refused (:class:`UpdateVerificationError`) and not kept.
        """
        client = self._client
        if client is None or self._target is None:
            raise UpdateError(reason="no update to download: check first")
        info = client.new_archive_info
        cached = client.find_cached_target(info)
        if cached:
            return Path(cached)
        self.targets_dir.mkdir(parents=True, exist_ok=True)
        return Path(_translate(lambda: client.download_target(info)))

    def install(
        self,
        archive: Path,
        *,
        install: Callable[..., None] | None = None,
    ) -> Path:
        """Unpack a verified archive and hand it to ``install(src_dir=, dst_dir=)``.

        The default is tufup's installer, which replaces the program folder and
        exits the running console. A program folder the user cannot write (the
        .deb's /opt, an MSI's Program Files) is IT's to update: refused here.
        """
        if not _writable(self.install_dir):
            raise UpdateError(
                reason=f"the program folder {self.install_dir} is managed by the system's "
                "installer; IT deploys the new version (docs/deploy.md)"
            )
        staging = Path(tempfile.mkdtemp(prefix="clinician-console-update-"))
        try:
            shutil.unpack_archive(str(archive), str(staging))
        except (OSError, ValueError, shutil.ReadError) as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise UpdateVerificationError(reason="the archive could not be unpacked") from exc
        if install is None:
            from tufup.utils.platform_specific import install_update

            install = install_update
        install(src_dir=staging, dst_dir=self.install_dir)
        return staging

    def _make_client(self) -> Any:
        from tufup.client import Client

        root = Path(self.settings.root_file) if self.settings.root_file else shipped_root_file()
        self.metadata_dir.mkdir(parents=True, exist_ok=True)
        self.targets_dir.mkdir(parents=True, exist_ok=True)
        trusted = self.metadata_dir / "root.json"
        if not trusted.exists():
            if not root.is_file():
                raise UpdateError(
                    reason=f"no trusted root metadata ({root.name}) to verify updates with"
                )
            shutil.copyfile(root, trusted)
        url = self.settings.url.rstrip("/")

        class _Client(Client):  # type: ignore[misc]
            """Refresh once: we call it ourselves to see its errors."""

            _refreshed = False

            def refresh(self) -> None:
                if not self._refreshed:
                    super().refresh()
                    self._refreshed = True

        try:
            self._client = _Client(
                app_name=APP_NAME,
                app_install_dir=self.install_dir,
                current_version=self.current_version,
                metadata_dir=self.metadata_dir,
                metadata_base_url=f"{url}/metadata/",
                target_dir=self.targets_dir,
                target_base_url=f"{url}/targets/",
                refresh_required=False,
            )
        except Exception as exc:  # a trusted root.json that is not TUF root metadata
            raise UpdateVerificationError(reason=_reason(exc)) from exc
        return self._client


def _writable(path: Path) -> bool:
    import os

    return path.is_dir() and os.access(path, os.W_OK)


def _reason(exc: BaseException) -> str:
    """A short, fixed description of a tuf failure (its own text may be long)."""
    from tuf.api import exceptions as tuf_errors

    kinds: list[tuple[type[BaseException], str]] = [
        (tuf_errors.ExpiredMetadataError, "the update metadata has expired"),
        (tuf_errors.EqualVersionNumberError, "the update metadata repeats a version"),
        (
            tuf_errors.BadVersionNumberError,
            "the update metadata is older than metadata already seen (rollback)",
        ),
        (
            tuf_errors.UnsignedMetadataError,
            "the update metadata is not signed by the trusted keys (tampered)",
        ),
        (
            tuf_errors.LengthOrHashMismatchError,
            "the downloaded file does not match its signed length and hashes (tampered)",
        ),
        (
            tuf_errors.DownloadLengthMismatchError,
            "a file from the repository is longer than its signed length (tampered)",
        ),
    ]
    for kind, text in kinds:
        if isinstance(exc, kind):
            role = _role_of(exc)
            return f"{text}{f'; {role}' if role else ''}"
    return f"the update metadata is invalid ({type(exc).__name__})"


def _role_of(exc: BaseException) -> str:
    text = str(exc)
    for role in ("root", "timestamp", "snapshot", "targets"):
        if role in text:
            return f"role {role}"
    return ""


def _translate(fn: Callable[[], Any]) -> Any:
    """Run a tuf call; its errors become UpdateVerificationError / UpdateUnavailableError."""
    from tuf.api import exceptions as tuf_errors

    try:
        return fn()
    except tuf_errors.DownloadLengthMismatchError as exc:
        raise UpdateVerificationError(reason=_reason(exc)) from exc
    except tuf_errors.DownloadHTTPError as exc:
        raise UpdateUnavailableError(reason=f"HTTP {exc.status_code}") from exc
    except tuf_errors.DownloadError as exc:
        raise UpdateUnavailableError(reason=type(exc.__cause__ or exc).__name__) from exc
    except tuf_errors.RepositoryError as exc:
        raise UpdateVerificationError(reason=_reason(exc)) from exc
    except (ValueError, KeyError, TypeError) as exc:
        # Metadata that parses as JSON but not as TUF metadata (tuf raises these).
        raise UpdateVerificationError(reason=_reason(exc)) from exc
