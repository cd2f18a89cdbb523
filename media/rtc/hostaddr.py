"""Choose which local addresses aioice offers as host candidates, per call site.

aioice gathers host candidates from ``aioice.ice.get_host_addresses``, which
lists every interface and always leaves out 127.0.0.1, so two peers in one
process cannot meet on loopback (and IT cannot keep media off an interface).
We wrap that function once with a version that honours a ``ContextVar``:
inside ``with pin_host_addresses(["127.0.0.1"]):`` (which must enclose the
``await pc.setLocalDescription(...)`` that gathers) only those addresses are
offered; everywhere else aioice behaves as shipped. The ContextVar keeps the
pin to the task that set it, so another visit gathering at the same time in the
same process is not affected.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence
from typing import Any

_pinned: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "cc_pinned_host_addresses", default=None
)


def _install() -> None:
    from aioice import ice

    if hasattr(ice.get_host_addresses, "__wrapped__"):
        return  # already wrapped

    original = ice.get_host_addresses
    if not callable(original):
        raise RuntimeError("aioice.ice.get_host_addresses is gone; see media/rtc/hostaddr.py")

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        pinned = _pinned.get()
        if pinned is None:
            result: list[str] = original(use_ipv4, use_ipv6)
            return result
        return [a for a in pinned if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    get_host_addresses.__wrapped__ = original  # type: ignore[attr-defined]
    ice.get_host_addresses = get_host_addresses


@contextlib.contextmanager
def pin_host_addresses(addresses: Sequence[str]) -> Iterator[None]:
    """Offer only ``addresses`` as host candidates for gathering done inside the block."""
    _install()
    token = _pinned.set(tuple(addresses))
    try:
        yield
    finally:
        _pinned.reset(token)


def loopback_config() -> Any:
    """An ``RTCConfiguration`` that never contacts a STUN/TURN server."""
    from aiortc import RTCConfiguration

    return RTCConfiguration(iceServers=[])
