"""The task-configuration file: schema, catalog of categories, validation and templates.

The schema and its validation (pydantic models, the template sandbox, address checks) load
on first use: generation and the document gate read only the catalog and the scalars, and
a `documents upload` should not pay for the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.configuration.schema import Configuration, DefinitionEntry, TaskDefinition
    from models.configuration.validation import (
        load_configuration,
        validate_configuration,
        validate_source,
    )

__all__ = [
    "Configuration",
    "DefinitionEntry",
    "TaskDefinition",
    "load_configuration",
    "validate_configuration",
    "validate_source",
]

_HOME = {
    "Configuration": "schema",
    "DefinitionEntry": "schema",
    "TaskDefinition": "schema",
    "load_configuration": "validation",
    "validate_configuration": "validation",
    "validate_source": "validation",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
