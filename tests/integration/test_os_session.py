"""Suspend and session lock from systemd-logind (media/devices/os_session.py), against
python-dbusmock's logind template on a private system bus (a real dbus-daemon and real
D-Bus signals; only logind itself is the mock, since no test may suspend the machine)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from media.devices.os_session import LOGIN1, MANAGER_IFACE, SESSION_IFACE, LogindWatcher
from tests.conftest import need, need_module

dbusmock = need_module("dbusmock")
dbus = need_module("dbus")
need(shutil.which("dbus-daemon"), "dbus-daemon")


class Logind:
    def __init__(self, address: str, manager: Any, session_path: str) -> None:
        self.address = address
        self.manager = manager
        self.session_path = session_path
        self._conn = dbus.bus.BusConnection(address)

    def prepare_for_sleep(self, start: bool) -> None:
        self.manager.EmitSignal(MANAGER_IFACE, "PrepareForSleep", "b", [start])

    def lock_session(self) -> None:
        # The template's Session.Lock() emits the Lock signal, as logind does for
        # `loginctl lock-session`.
        self._conn.get_object(LOGIN1, self.session_path).Lock(dbus_interface=SESSION_IFACE)


@pytest.fixture
def logind(monkeypatch: pytest.MonkeyPatch) -> Iterator[Logind]:
    from dbusmock import BusType, PrivateDBus, SpawnedMock

    with PrivateDBus(BusType.SYSTEM) as bus:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
        mock = SpawnedMock.spawn_with_template("logind", bustype=BusType.SYSTEM)
        try:
            path = str(mock.obj.AddSession("c7", "seat0", 1000, "clinician", True))
            yield Logind(bus.address, mock.obj, path)
        finally:
            mock.terminate()


async def _watch(logind: Logind, action: Any) -> list[str]:
    seen: list[str] = []
    watcher = LogindWatcher(
        on_sleep=lambda: seen.append("sleep"),
        on_lock=lambda: seen.append("lock"),
        bus=logind.address,
        session_id="c7",
    )
    task = asyncio.ensure_future(watcher.run())
    try:
        await asyncio.wait_for(watcher.ready.wait(), 10)
        await asyncio.to_thread(action)
        for _ in range(500):
            if seen:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # nothing more arrives
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    return seen


def test_prepare_for_sleep_true_calls_on_sleep(logind: Logind) -> None:
    assert asyncio.run(_watch(logind, lambda: logind.prepare_for_sleep(True))) == ["sleep"]


def test_resume_does_not_lock(logind: Logind) -> None:
    assert asyncio.run(_watch(logind, lambda: logind.prepare_for_sleep(False))) == []


def test_session_lock_calls_on_lock(logind: Logind) -> None:
    assert asyncio.run(_watch(logind, logind.lock_session)) == ["lock"]


def test_no_logind_returns_quietly(tmp_path: Any) -> None:
    watcher = LogindWatcher(
        on_sleep=lambda: None, on_lock=lambda: None, bus=f"unix:path={tmp_path}/none"
    )
    asyncio.run(asyncio.wait_for(watcher.run(), 5))
    assert not watcher.ready.is_set()
