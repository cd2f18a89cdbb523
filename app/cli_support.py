"""What every headless command gets: parsed arguments, profile, settings, the store.

Command modules (``app/cli_*.py``) each expose ``register(sub)``, which adds
their sub-commands to the parser and returns ``{command name: handler}``; a
handler is ``async def handler(ctx: CliContext) -> int`` (the exit status).
``app/cli.py`` lists the modules in ``COMMAND_MODULES``; they are composition
root too, so they may import storage, media and the plugin host.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from app.records import KeySource
from app.settings import (
    EffectiveSettings,
    load_settings,
    policy_location,
    resolve_key_source,
    resolve_profile,
)

Handler = Callable[["CliContext"], Awaitable[int]]


class CliContext:
    def __init__(self, args: argparse.Namespace, *, os_policy: Path | None = None) -> None:
        self.args = args
        self.profile = resolve_profile(args.profile)
        # Resolved once: an OS policy file wins over --policy and the variable
        # (app.settings.policy_location); ``os_policy`` is the tests' seam for /etc.
        self.policy: Path = policy_location(
            Path(args.policy) if args.policy else None, os_policy=os_policy
        )
        self._passphrase: str | None = None
        self._read_passphrase = False

    def settings(self) -> EffectiveSettings:
        return load_settings(self.profile, self.policy)

    def passphrase(self) -> str | None:
        if self.args.passphrase_stdin and not self._read_passphrase:
            self._read_passphrase = True
            line = sys.stdin.readline()
            self._passphrase = line.rstrip("\r\n") or None
        return self._passphrase

    def key_source(self) -> KeySource | None:
        """--key-source, unless the policy sets the key source (then a differing flag is
        refused: PolicyOverrideError)."""
        requested = KeySource(self.args.key_source) if self.args.key_source else None
        return resolve_key_source(self.settings(), requested)

    async def open_store(self, *, on_rollback: str = "raise") -> Any:
        from storage.store import EncryptedStore

        return await EncryptedStore.open(
            self.profile,
            passphrase=self.passphrase(),
            key_source=self.key_source(),
            actor=os_account(),
            on_rollback=on_rollback,
        )


def turn_secret(urls: list[str]) -> str | None:
    """The keyring's ``turn`` secret ("user:credential") when a TURN URL carries no
    credentials of its own; None when none is needed or none is stored."""
    if all("username=" in url for url in urls):
        return None
    from app.errors import ConsoleError
    from storage.secrets import get_secret

    try:
        return get_secret("turn")
    except ConsoleError:
        return None


def os_account() -> str:
    """Who the audit log names until clinician sign-in exists: the OS account (GUI and
    headless commands alike; docs/storage.md, "Threat model")."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no name in the environment or the password database
        return "unknown-os-user"


async def with_store(
    ctx: CliContext, fn: Callable[[Any], Awaitable[int]], *, on_rollback: str = "raise"
) -> int:
    store = await ctx.open_store(on_rollback=on_rollback)
    try:
        return await fn(store)
    finally:
        await store.close()


def emit(obj: object) -> None:
    """Print one JSON object on stdout (``--json`` output)."""
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")
