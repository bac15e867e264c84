"""The `devgate` extra: a missing library is named with the command that installs it."""

from __future__ import annotations

import importlib

INSTALL = "pip install 'gatekeeper-auth[devgate]'"
_NEEDED = ("uvicorn", "httpx2", "websockets")


class MissingExtra(ImportError):
    """A library of the `devgate` extra is not installed; the message says how to get it."""


def require_extras() -> None:
    """Raise `MissingExtra` (one line, naming the extra) unless the extra is installed."""
    for name in _NEEDED:
        try:
            importlib.import_module(name)
        except ImportError:
            raise MissingExtra(
                f"the development gatekeeper needs {name}, which is not installed: {INSTALL}"
            ) from None
