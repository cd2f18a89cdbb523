"""The OS telling us to lock: system suspend and the desktop session's lock (Linux).

systemd-logind announces both on the system bus:

- ``org.freedesktop.login1.Manager.PrepareForSleep(b start)`` on
  ``/org/freedesktop/login1``: ``true`` just before suspend or hibernate, ``false``
  after resume;
- ``org.freedesktop.login1.Session.Lock()`` on our session's object (the screen
  locker, ``loginctl lock-session``, Super+L in GNOME).

:class:`LogindWatcher` listens with jeepney (pure Python, already installed as a
dependency of ``keyring``'s Secret Service backend) on asyncio, and calls
``on_sleep`` / ``on_lock``; the composition root turns both into
``Session.lock(...)``. Without a system bus or logind (a container, a minimal
desktop) it logs once and returns: the idle timer still locks.

Limitation: jeepney's asyncio transport cannot receive file descriptors, so no
logind "delay" inhibitor is taken; the window is covered synchronously when the
signal arrives, and the store lock finishes at the latest right after resume.

Other OSes (not implemented here; docs/storage.md): Windows,
``WTSRegisterSessionNotification`` + ``WM_WTSSESSION_CHANGE`` / ``WTS_SESSION_LOCK``
and ``WM_POWERBROADCAST`` / ``PBT_APMSUSPEND``; macOS, ``NSWorkspace``'s
``NSWorkspaceSessionDidResignActiveNotification`` and
``NSWorkspaceWillSleepNotification`` (and the distributed
``com.apple.screenIsLocked`` notification).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

LOGIN1 = "org.freedesktop.login1"
LOGIN1_PATH = "/org/freedesktop/login1"
MANAGER_IFACE = "org.freedesktop.login1.Manager"
SESSION_IFACE = "org.freedesktop.login1.Session"

Callback = Callable[[], Awaitable[Any] | Any]


class LogindWatcher:
    """Calls ``on_sleep`` before system sleep and ``on_lock`` when the session locks.

    ``bus`` is "SYSTEM" or a D-Bus address (tests: a private bus with python-dbusmock's
    logind template); ``session_id`` defaults to ``$XDG_SESSION_ID``, else logind's
    "auto" (the caller's own session).
    """

    def __init__(
        self,
        *,
        on_sleep: Callback,
        on_lock: Callback,
        bus: str = "SYSTEM",
        session_id: str | None = None,
    ) -> None:
        self._on_sleep = on_sleep
        self._on_lock = on_lock
        self._bus = bus
        self._session_id = session_id or os.environ.get("XDG_SESSION_ID") or "auto"
        self.ready = asyncio.Event()  # set once both signals are subscribed (tests wait on it)

    async def run(self) -> None:
        """Listen until cancelled; returns quietly when there is no logind to listen to."""
        try:
            from jeepney import DBusAddress, MatchRule, new_method_call
            from jeepney.bus_messages import message_bus
            from jeepney.io.asyncio import Proxy, open_dbus_router
            from jeepney.wrappers import unwrap_msg
        except ImportError:
            log.info("jeepney not installed: suspend and session lock are not watched")
            return
        try:
            async with open_dbus_router(bus=self._bus) as router:
                manager = DBusAddress(LOGIN1_PATH, bus_name=LOGIN1, interface=MANAGER_IFACE)
                reply = await router.send_and_get_reply(
                    new_method_call(manager, "GetSession", "s", (self._session_id,))
                )
                session_path = unwrap_msg(reply)[0]  # DBusErrorResponse: no such session
                sleep_rule = MatchRule(
                    type="signal",
                    interface=MANAGER_IFACE,
                    member="PrepareForSleep",
                    path=LOGIN1_PATH,
                )
                lock_rule = MatchRule(
                    type="signal", interface=SESSION_IFACE, member="Lock", path=session_path
                )
                bus = Proxy(message_bus, router)
                await bus.AddMatch(sleep_rule)
                await bus.AddMatch(lock_rule)
                queue: asyncio.Queue[Any] = asyncio.Queue()
                with router.filter(sleep_rule, queue=queue), router.filter(lock_rule, queue=queue):
                    self.ready.set()
                    while True:
                        message = await queue.get()
                        await self._dispatch(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # no system bus, no logind, access denied
            log.info("Suspend and session lock are not watched (%s)", type(exc).__name__)

    async def _dispatch(self, message: Any) -> None:
        member = message.header.fields.get(_member_field())
        if member == "PrepareForSleep":
            if message.body and message.body[0]:
                await _call(self._on_sleep)
        elif member == "Lock":
            await _call(self._on_lock)


def _member_field() -> Any:
    from jeepney import HeaderFields

    return HeaderFields.member


async def _call(callback: Callback) -> None:
    try:
        result = callback()
        if asyncio.isfuture(result) or asyncio.iscoroutine(result):
            # Wait for the lock (covering happens synchronously); a failure is the
            # lock use case's to report, never a reason to stop listening.
            with contextlib.suppress(Exception):
                await result
    except Exception:
        log.warning("Locking on an OS signal failed", exc_info=True)
