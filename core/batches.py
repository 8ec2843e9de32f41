"""Batches of ids for `IN` lists: bounded statements whatever the number of rows."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

# Keeps each IN list well under SQLite's and PostgreSQL's bound-parameter limits.
CHUNK_SIZE = 500

T = TypeVar("T")


def in_chunks(values: Iterable[T], size: int = CHUNK_SIZE) -> Iterator[list[T]]:
    """`values` in lists of at most `size`, in order."""
    chunk: list[T] = []
    for value in values:
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
