"""The consoles every command prints through.

Soft wrap: a message is never broken inside a file path or an id that a person copies.
Tables still fit the terminal. Data in messages is escaped (`rich.markup.escape`); the
consoles print a line that still reads as broken markup as plain text. No emoji codes:
`tasks.yaml:100:` is a file and a line, never `tasks.yaml💯`.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.errors import MarkupError

from core.text import excerpt, unsafe_reason


class _SafeConsole(Console):
    """Data is escaped where it is printed; should a value slip through with something that
    reads as broken markup, the line is printed as is rather than the command failing, which
    would be after its commit."""

    def print(self, *objects: Any, **options: Any) -> None:
        try:
            super().print(*objects, **options)
        except MarkupError:
            # Tables render their cells with the console's own setting: switch it off too.
            markup, self._markup = self._markup, False
            try:
                super().print(*objects, **(options | {"markup": False}))
            finally:
                self._markup = markup


console = _SafeConsole(highlight=False, soft_wrap=True, emoji=False)
stderr = _SafeConsole(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def one_line(value: str | None) -> str | None:
    """A typer callback: a text that is recorded and printed again (a note, a source) is one
    line of visible characters, so it can never clear a terminal or forge a history line."""
    if value is not None and (reason := unsafe_reason(value)) is not None:
        raise typer.BadParameter(f"{excerpt(value)} {reason}")
    return value
