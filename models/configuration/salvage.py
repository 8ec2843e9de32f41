"""Validate the sound parts of a broken item, so checks across the file can still run on them.

The schema reports every structural error; this module only lets the cross-reference checks
see the rest of the item instead of skipping it, and says which parts were dropped so that
checks depending on them stay silent rather than report a consequence of the first error.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from core.sourcefile import Loc

Part = TypeVar("Part", bound=BaseModel)

# Each pass drops one broken part; an item with more broken parts than this is left unchecked.
MAX_PASSES = 50


def salvage(
    model: type[Part], raw: Any, placeholders: Mapping[str, Any] | None = None
) -> tuple[Part | None, list[Loc]]:
    """Validate `raw`, dropping broken parts; the instance (or None) and the dropped locs.

    A required top-level key that is broken or missing takes its value from `placeholders`
    when given there. A broken list item drops the whole list, so the indices of the items
    that remain still match the file.
    """
    data = copy.deepcopy(raw)
    dropped: list[Loc] = []
    for _ in range(MAX_PASSES):
        try:
            return model.model_validate(data), dropped
        except ValidationError as error:
            details = error.errors()[0]
        loc = _part_to_drop(tuple(details["loc"]), missing=details["type"] == "missing")
        name = loc[0] if len(loc) == 1 else None
        if (
            isinstance(name, str)
            and placeholders
            and name in placeholders
            and isinstance(data, dict)
        ):
            data[name] = placeholders[name]
        elif not loc or not _remove(data, loc):
            return None, dropped
        dropped.append(loc)
    return None, dropped


def _part_to_drop(loc: Loc, *, missing: bool) -> Loc:
    if loc and loc[-1] == "[key]":
        loc = loc[:-1]
    # Leaving a required key out does not help: the mapping that lacks it has to go.
    if missing and len(loc) > 1:
        loc = loc[:-1]
    indices = [position for position, part in enumerate(loc) if isinstance(part, int)]
    return loc[: indices[0]] if indices else loc


def _remove(data: Any, loc: Loc) -> bool:
    """Delete the mapping entry at `loc`; False when there is none."""
    node = data
    for part in loc[:-1]:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    if not isinstance(node, dict) or loc[-1] not in node:
        return False
    del node[loc[-1]]
    return True
