"""The console's asyncio loop: qasync's, with every callback run as the loop.

qasync runs asyncio callbacks from Qt timers, so they also fire whenever Qt
processes events outside ``run_forever``: the extra pass qasync 0.28 makes at the
end of ``run_until_complete`` (after it has cleared the running loop), a nested
Qt loop, or a test's ``processEvents()``. A task stepped there finds no running
loop, and ``asyncio.get_running_loop()``, ``asyncio.sleep()`` and
``run_in_executor`` raise "no running event loop" mid-operation: a save or a
signature fails for no reason the user could fix. Here each callback runs with
this loop set as the running loop when none is.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from contextvars import Context
from typing import Any

import qasync


class ConsoleEventLoop(qasync.QEventLoop):  # type: ignore[misc]
    def call_later(
        self,
        delay: float,
        callback: Callable[..., object],
        *args: Any,
        context: Context | None = None,
    ) -> asyncio.TimerHandle:
        # call_soon and call_at come here too (qasync), so every task step does.
        if not callable(callback) or asyncio.iscoroutinefunction(callback):
            raise TypeError(f"a callback must be a plain callable, not {callback!r}")
        handle: asyncio.TimerHandle = super().call_later(
            delay, functools.partial(_as_running_loop, self, callback), *args, context=context
        )
        return handle


def _as_running_loop(
    loop: asyncio.AbstractEventLoop, callback: Callable[..., object], *args: Any
) -> object:
    if asyncio.events._get_running_loop() is not None:
        return callback(*args)
    asyncio.events._set_running_loop(loop)
    try:
        return callback(*args)
    finally:
        asyncio.events._set_running_loop(None)


__all__ = ["ConsoleEventLoop"]
