"""The hand-run form of the Prefect UI: the configured task keys and usernames as choices.

Prefect builds a deployment's form from the flow's signature, where `task_key` and
`requested_by` can only be free text. haulflow adds the current choices to the parameter
schema of each `run-<category>-task` deployment (`enum`: the UI shows a drop-down, and the
server refuses anything else): when `haulflow serve` registers the deployments, after each
`config apply`, and at every sweep (which also repairs a form `prefect deploy` reset). A
category without e-mail tasks keeps free text, and the flow refuses an unknown key with the
list of configured ones.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from sqlalchemy.exc import SQLAlchemyError

from core.errors import HaulflowError
from models import Category
from services.configuration import hand_run_choices

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient


@dataclass(frozen=True)
class Choices:
    """What the hand-run forms offer: e-mail task keys per category, active usernames."""

    task_keys: dict[Category, list[str]]
    usernames: list[str]


def read_choices() -> Choices | None:
    """The current choices, or None when the database cannot say (not migrated yet)."""
    try:
        return Choices(*hand_run_choices())
    except (HaulflowError, SQLAlchemyError):
        return None


def hand_run_schema(schema: dict[str, Any], category: Category, choices: Choices) -> dict[str, Any]:
    """`schema` (a run-task form) with this category's keys and the usernames as choices."""
    refined = copy.deepcopy(schema)
    properties = refined.get("properties", {})
    for name, values in (
        ("task_key", choices.task_keys.get(category, [])),
        ("requested_by", choices.usernames),
    ):
        field = properties.get(name)
        if field is None:
            continue
        if values:
            field["enum"] = list(values)
        else:
            field.pop("enum", None)
    return refined


def publish_choices(client: SyncPrefectClient, choices: Choices) -> list[str]:
    """Update the forms of the served hand-run deployments; return the ones changed."""
    from prefect.client.schemas.actions import DeploymentUpdate
    from prefect.exceptions import ObjectNotFound

    from deployments.catalog import hand_run_deployment

    changed = []
    for category in Category:
        name = hand_run_deployment(category)
        try:
            deployment = client.read_deployment_by_name(name)
        except ObjectNotFound:
            continue
        current = deployment.parameter_openapi_schema or {}
        wanted = hand_run_schema(current, category, choices)
        if wanted != current:
            client.update_deployment(
                deployment.id, DeploymentUpdate(parameter_openapi_schema=wanted)
            )
            changed.append(name)
    return changed


@task(name="refresh-run-forms", cache_policy=NO_CACHE)
def refresh_run_forms() -> int:
    """Offer the current task keys and usernames in the hand-run forms; return how many changed."""
    from prefect.client.orchestration import get_client

    choices = read_choices()
    if choices is None:
        return 0
    try:
        with get_client(sync_client=True) as client:
            return len(publish_choices(client, choices))
    except Exception as error:
        # A form without choices still works (the flow checks the key): never fail a sweep.
        get_run_logger().warning("could not refresh the hand-run forms: %s", error)
        return 0


def publish_current_choices(api_url: str) -> list[str]:
    """After a configuration change: offer its keys in the forms of the server at `api_url`
    now, rather than at the next sweep."""
    from prefect.client.orchestration import get_client

    from core.prefect_runtime import prefect_connection

    choices = read_choices()
    if choices is None:
        return []
    with prefect_connection(api_url), get_client(sync_client=True) as client:
        return publish_choices(client, choices)
