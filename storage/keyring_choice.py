"""Choosing the OS keyring without keyring's full discovery, where the answer is known.

``keyring.get_keyring()`` on first use imports every backend it knows (macOS and
Windows ones included, whose import runs ``gcc``/``ldconfig`` through
``ctypes.util.find_library``), scans the entry points of every installed
distribution and asks each backend for its priority: about a quarter of the time
the console spent reading its credentials at start-up (docs/performance.md). On a
Linux desktop the result is known beforehand: with a Secret Service on the session
bus (GNOME Keyring, KeePassXC, KWallet 5.97+ outside KDE), keyring's choice (its
``SecretService`` backend, priority 5, or a chainer whose first and writing member
it is) reads and writes exactly where the ``SecretService`` backend alone does.

So :func:`choose_backend` sets that backend directly when, and only when, nothing
else could change keyring's answer: no backend chosen in the process yet, no
``PYTHON_KEYRING_BACKEND`` and no ``keyringrc.cfg`` (those are loaded as keyring
would), Linux, not a KDE session (KWallet's own backend outranks the Secret Service
there, 5.1) and the Secret Service answers. Everything else goes through keyring's
own discovery as before. Called on the GUI or the store's worker thread, never from
a warm-up thread (one crashed PySide6, docs/performance.md).

Importing keyring itself was also tried out of the start-up path (a direct
``secretstorage`` client writing keyring's item format): no measurable gain, since
the modules keyring pulls in are imported by others anyway; it was not kept.
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger(__name__)


def choose_backend() -> None:
    """Set keyring's backend to the Secret Service when that is certain to be its choice."""
    import keyring.core

    if keyring.core._keyring_backend is not None:  # chosen already (or set by a test)
        return
    # Configured by environment or file: keyring loads exactly that (cheaply).
    configured = keyring.core.load_env() or keyring.core.load_config()
    if configured is not None:
        keyring.core.set_keyring(configured)
        return
    if not sys.platform.startswith("linux"):
        return
    if "KDE" in os.environ.get("XDG_CURRENT_DESKTOP", "").split(":"):
        return
    try:
        from keyring.backends import SecretService

        candidate = SecretService.Keyring()  # type: ignore[no-untyped-call]
        usable = candidate.priority >= 1  # raises RuntimeError when no daemon answers
    except Exception as exc:  # keyring's own discovery decides, and reports
        log.debug("no direct Secret Service (%s); keyring discovers", type(exc).__name__)
        return
    if usable:
        keyring.core.set_keyring(candidate)
