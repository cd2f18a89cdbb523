"""Deprecated: the plugin API moved to :mod:`clinician_console_api` (a namespaced, typed
public package). This alias keeps plugins written against the old name loading for one
release; import ``clinician_console_api`` instead."""

from __future__ import annotations

import warnings

import clinician_console_api
from clinician_console_api import *  # noqa: F403

__all__ = list(clinician_console_api.__all__)

warnings.warn(
    "plugins.api is deprecated; import clinician_console_api instead",
    DeprecationWarning,
    stacklevel=2,
)
