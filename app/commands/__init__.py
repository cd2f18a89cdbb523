"""Headless sub-commands by area, registered by ``app/cli.py`` (see ``app/cli_support.py``).

Composition root like ``app/cli.py``: these modules may import storage, media
and the plugin host, but only inside handlers, so ``--help`` stays fast.
"""
