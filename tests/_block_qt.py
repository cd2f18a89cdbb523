"""Run pytest as if PySide6 were not installed.

``scripts/test`` runs ``tests/unit`` a second time this way, to prove that the
non-UI code (``app``, ``storage``, ``media``, ``plugins``, and the headless
CLI commands) works on a machine without Qt::

    CLINICIAN_CONSOLE_BLOCK_QT=1 .venv/bin/python -c \
        'import runpy; runpy.run_path("tests/_block_qt.py", run_name="__main__")' \
        -p no:pytest-qt tests/unit

Before pytest starts, :func:`install` hides ``PySide6``, ``shiboken6``,
``qasync`` and ``pytestqt`` from every import finder, so they look exactly
like missing packages: ``import PySide6`` raises
``ModuleNotFoundError: No module named 'PySide6'`` and
``importlib.util.find_spec("PySide6")`` returns ``None``. This covers this
process only, not subprocesses a test starts.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

BLOCKED = frozenset({"PySide6", "shiboken6", "qasync", "pytestqt"})
ENV_VAR = "CLINICIAN_CONSOLE_BLOCK_QT"


def is_blocked(fullname: str) -> bool:
    return fullname.partition(".")[0] in BLOCKED


class _Hiding(importlib.abc.MetaPathFinder):
    """Wraps one of sys.meta_path's finders; finds nothing for the blocked names."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        if is_blocked(fullname):
            return None
        find_spec = getattr(self.inner, "find_spec", None)
        if find_spec is None:
            return None
        spec: ModuleSpec | None = find_spec(fullname, path, target)
        return spec

    def invalidate_caches(self) -> None:
        invalidate = getattr(self.inner, "invalidate_caches", None)
        if invalidate is not None:
            invalidate()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def install() -> None:
    """Hide the Qt packages from this process's imports."""
    loaded = sorted(name for name in sys.modules if is_blocked(name))
    if loaded:
        raise RuntimeError(f"already imported, cannot hide: {', '.join(loaded)}")
    sys.meta_path[:] = [
        finder if isinstance(finder, _Hiding) else _Hiding(finder) for finder in sys.meta_path
    ]
    sys.path_importer_cache.clear()
    if importlib.util.find_spec("PySide6") is not None:
        raise RuntimeError("PySide6 is still importable: the block did not take")
    os.environ[ENV_VAR] = "1"


def main(argv: Sequence[str]) -> int:
    install()
    import pytest

    code = int(pytest.main(list(argv)))
    leaked = sorted(name for name in sys.modules if is_blocked(name))
    if leaked:
        print(f"_block_qt: Qt was imported despite the block: {', '.join(leaked)}", file=sys.stderr)
        return code or 1
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
