"""The command line: parse options, call the library, map errors to exit codes.

Rendering for the terminal (``status``, ``sources``, ``entries``, as text or
``--json``) lives here too, beside the commands that print it.
"""

from __future__ import annotations

from .commands import main

__all__ = ["main"]
