"""The consoles every command prints through.

Soft wrap: a message is never broken inside a file path or an id that a person copies.
Tables still fit the terminal.
"""

from __future__ import annotations

from rich.console import Console

console = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)
