"""The task-configuration file: schema, catalog of categories, validation and templates."""

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
