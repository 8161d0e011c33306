"""Untrusted text (object names, error reasons, EXIF, S3 keys, exception messages) made safe to print.

Everything the CLI prints goes through Rich, which reads ``[...]`` as markup: an object named ``a[/]b.jpg``
would crash the command, and ``[link=...]`` or ``[on red]`` in a name would restyle the output. Control
characters (ESC sequences, BEL, backspace, carriage return) and bidirectional overrides would reach the
terminal and could rewrite what the user sees. `safe_text` shows them as visible escapes instead and
escapes the markup, so the value prints exactly as stored. Every value that did not come from the CLI's own
code is passed through it before it is printed. JSON output (``--json``) goes through `SafeConsole.print_json`,
which always writes ASCII, so every control, format or other non-ASCII character is a ``\\uNNNN`` escape.
Text that Rich shows without reading markup (Typer's error panel, hence ``typer.BadParameter``) only needs
`visible`.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from rich.console import Console
from rich.markup import escape

_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def _visible(ch: str) -> str:
    if unicodedata.category(ch) not in _HIDDEN_CATEGORIES:
        return ch
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def visible(value: object) -> str:
    """`value` as text with control and format characters shown as ``\\xNN``/``\\uNNNN`` escapes."""
    return "".join(_visible(ch) for ch in str(value))


def safe_text(value: object) -> str:
    """`visible(value)` with Rich markup escaped, for anything printed through a Rich console."""
    return escape(visible(value))


class SafeConsole(Console):
    """A Rich console whose JSON output is always ASCII (Rich's default writes bidi overrides and the like raw)."""

    def print_json(self, json: str | None = None, **kwargs: Any) -> None:
        kwargs["ensure_ascii"] = True
        super().print_json(json, **kwargs)
