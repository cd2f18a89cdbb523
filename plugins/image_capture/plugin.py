"""Image-capture plugin logic, Qt-free: activation (the panel and its model come next)."""

from __future__ import annotations

from clinician_console_api import PluginContext


def activate(ctx: PluginContext) -> None:
    ctx.logger.info("image-capture plugin active; capabilities %s", sorted(ctx.granted))


def deactivate(ctx: PluginContext) -> None:
    ctx.logger.info("image-capture plugin deactivated")
