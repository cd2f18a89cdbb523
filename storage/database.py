"""Opening the SQLCipher database, its pragmas, and translating its errors.

Pragmas (why each; figures in docs/storage-tuning.md):

- ``journal_mode=WAL`` + ``synchronous=FULL``: every commit is fsynced to the
  WAL, so a returned save survives power loss; readers never block the writer.
- ``temp_store=MEMORY``: sorts and temp indices never touch disk unencrypted.
- ``cipher_memory_security=OFF``: SQLCipher would otherwise wipe and lock every
  allocation, which costs ~5x on bulk inserts here; Python strings holding note text
  live unwiped in our heap anyway, so it buys nothing here.
- ``foreign_keys=ON``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from app.errors import DiskFullError, NotEncryptedEngineError, StoreDamagedError, StoreError
from storage.keys import StoreKey

T = TypeVar("T")
PAGE_SIZE = 4096  # SQLCipher's default cipher_page_size; the truncation checks depend on it

PRAGMAS: tuple[str, ...] = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA temp_store = MEMORY",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 5000",
)
CIPHER_PRAGMAS: tuple[str, ...] = ("PRAGMA cipher_memory_security = OFF",)


def _driver() -> Any:
    import sqlcipher3

    return sqlcipher3


@functools.cache
def _connection_class(driver: Any) -> Any:
    class Connection(driver.Connection):  # type: ignore[misc]
        """A driver connection that can carry the audit chain's MAC key (see storage.audit)."""

        audit_key: bytes | None = None

    return Connection


def sqlcipher_version() -> str:
    """SQLCipher's version, or '' when the engine is plain SQLite (no ``cipher_version``)."""
    conn = _driver().connect(":memory:")
    try:
        row = conn.execute("PRAGMA cipher_version").fetchone()
    finally:
        conn.close()
    return "" if row is None or not row[0] else str(row[0])


def require_sqlcipher() -> str:
    """Refuse to go on unless the engine really is SQLCipher (checked at run time).

    A build that ended up linked against plain SQLite would accept ``PRAGMA
    key`` silently and write everything in clear; this is the one check that
    catches it, before any file is created or opened.
    """
    try:
        version = sqlcipher_version()
    except Exception as exc:  # an engine that cannot even open memory is not ours
        raise NotEncryptedEngineError(reason=type(exc).__name__) from exc
    if not version:
        raise NotEncryptedEngineError(reason="PRAGMA cipher_version is empty")
    return version


def sqlite_version() -> str:
    return str(_driver().sqlite_version)


def translate(exc: BaseException, path: Path) -> StoreError:
    """Map a driver error to what the caller should do; never leaks SQL values."""
    message = str(exc).lower()
    if "disk is full" in message or "database or disk is full" in message:
        return DiskFullError()
    if isinstance(exc, OSError) and getattr(exc, "errno", None) == 28:
        return DiskFullError()
    if "file is not a database" in message or "malformed" in message or "corrupt" in message:
        return StoreDamagedError(path=path.name, reason="contents unreadable")
    return StoreError(reason=type(exc).__name__)


def guarded(path: Path, fn: Callable[[], T]) -> T:
    driver = _driver()
    try:
        return fn()
    except (driver.Error, OSError) as exc:
        raise translate(exc, path) from exc


def connect(path: Path, key: StoreKey, *, create: bool) -> Any:
    """Open (or create) the encrypted database and check it is readable.

    Raises StoreDamagedError for a truncated or unreadable file. The caller has
    already verified the key against the key check, so an unreadable header
    here means damage, not a wrong key.
    """
    require_sqlcipher()
    if not create:
        _check_file_shape(path)
    driver = _driver()
    conn: Any = None
    if create and not path.exists():
        # Owner-only from the first byte; SQLite gives the -wal/-shm files the same mode.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        conn = driver.connect(
            str(path),
            isolation_level=None,
            check_same_thread=True,
            factory=_connection_class(driver),
        )
        conn.execute(key.pragma())
        # Belt and braces: the connection itself must have a cipher.
        if not conn.execute("PRAGMA cipher_version").fetchall():
            raise NotEncryptedEngineError(reason="the connection has no cipher")
        for pragma in CIPHER_PRAGMAS:
            conn.execute(pragma)
        # The first read decrypts page 1: a wrong key or a damaged header fails here.
        if not create:
            _check_page_count(conn, path)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        for pragma in PRAGMAS:
            conn.execute(pragma)
    except (driver.Error, OSError) as exc:
        if conn is not None:
            conn.close()
        raise translate(exc, path) from exc
    except StoreError:
        conn.close()
        raise
    return conn


def _check_file_shape(path: Path) -> None:
    size = path.stat().st_size
    if size == 0:
        raise StoreDamagedError(path=path.name, reason="the file is empty")
    if size % PAGE_SIZE:
        raise StoreDamagedError(path=path.name, reason="the file is truncated")


def _check_page_count(conn: Any, path: Path) -> None:
    # The header records how many pages the database has; a file cut short
    # (copied partly, disk error) has fewer bytes than that. The WAL may hold
    # pages not yet written back, so count it too.
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    wal = path.with_name(path.name + "-wal")
    on_disk = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    if pages * PAGE_SIZE > on_disk:
        raise StoreDamagedError(path=path.name, reason="the file is truncated")


def integrity_check(conn: Any) -> list[str]:
    """Full check: SQLCipher's per-page HMACs plus SQLite's structure check.

    A damaged page may make the check itself fail; that is a finding, not an error.
    """
    driver = _driver()
    problems: list[str] = []
    for pragma in ("PRAGMA cipher_integrity_check", "PRAGMA quick_check"):
        try:
            rows = [str(row[0]) for row in conn.execute(pragma)]
        except driver.Error as exc:
            problems.append(f"{pragma.split()[1]} failed: {type(exc).__name__}")
            continue
        problems.extend(row for row in rows if row != "ok")
    return problems


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
