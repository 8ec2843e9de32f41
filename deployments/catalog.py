"""Every haulflow deployment, declared once: `haulflow serve` and `prefect.yaml` both read this.

- `generate-<category>-tasks` ×4: woken by `haulflow.entities.changed`, drain the entities of
  their category never generated (the event only wakes them: it carries counts, not ids).
- `run-<category>-task` ×4: no trigger, no schedule; the Prefect UI's custom run (or
  `haulflow tasks run`) starts them with typed parameters.
- `dispatch`: woken by `haulflow.document.uploaded` and `haulflow.tasks.ready`; one run at a
  time (others queue: ENQUEUE), lingering past the 10-second bucket of the event that woke it
  so no upload of that bucket waits for the sweep (see `flows/dispatch.py`).
- `sweep`: every minute (`HAULFLOW_SWEEP_INTERVAL_SECONDS`); the backstop.
- `alert`: woken by `prefect.automation.action.failed` (a trigger whose action failed, e.g. a
  template reading a missing key): its run fails loudly with the reasons.

Trigger templates read only keys haulflow's events always carry (`core.events`); the alert's
own trigger uses no template, so it cannot fail the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.settings import get_settings
from models import Category

DEPLOYMENT_NAME = "haulflow"
TAGS = ("haulflow",)
# One bucket (core.events.BUCKET_SECONDS) plus the time a run takes to start.
DISPATCH_LINGER_SECONDS = 12.0


@dataclass(frozen=True)
class TriggerSpec:
    """A deployment trigger: the event names it expects, the resource it matches."""

    expect: tuple[str, ...]
    match: dict[str, str]
    parameters: dict[str, Any] = field(default_factory=dict)
    name: str | None = None


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment of one flow."""

    flow_name: str
    entrypoint: str
    parameters: dict[str, Any] = field(default_factory=dict)
    interval_seconds: int | None = None
    triggers: tuple[TriggerSpec, ...] = ()
    # None: unlimited; otherwise runs beyond the limit wait their turn (ENQUEUE).
    concurrency_limit: int | None = None

    @property
    def full_name(self) -> str:
        """`dispatch/haulflow`, as Prefect names a deployment."""
        return f"{self.flow_name}/{DEPLOYMENT_NAME}"


def _generate(category: Category) -> DeploymentSpec:
    return DeploymentSpec(
        flow_name=f"generate-{category.value}-tasks",
        entrypoint=f"flows/generate_tasks.py:generate_{category.value}_tasks",
        parameters={"category": category.value, "reason": "entities changed"},
        triggers=(
            TriggerSpec(
                expect=("haulflow.entities.changed",),
                match={"prefect.resource.id": "haulflow.entities"},
                parameters={"reason": "{{ event.payload.reason }}"},
            ),
        ),
        concurrency_limit=1,
    )


def _run(category: Category) -> DeploymentSpec:
    return DeploymentSpec(
        flow_name=f"run-{category.value}-task",
        entrypoint=f"flows/run_task.py:run_{category.value}_task",
    )


def deployment_specs() -> list[DeploymentSpec]:
    """The deployments, in the order the Prefect UI should list them."""
    return [
        DeploymentSpec(
            flow_name="dispatch",
            entrypoint="flows/dispatch.py:dispatch",
            parameters={"reason": "wake-up", "linger_seconds": DISPATCH_LINGER_SECONDS},
            triggers=(
                TriggerSpec(
                    expect=("haulflow.document.uploaded",),
                    match={"prefect.resource.id": "haulflow.documents"},
                    parameters={
                        "reason": "{{ event.payload.type }} uploaded for {{ event.payload.order }}"
                    },
                ),
                TriggerSpec(
                    expect=("haulflow.tasks.ready",),
                    match={"prefect.resource.id": "haulflow.tasks"},
                    parameters={"reason": "tasks ready ({{ event.payload.reason }})"},
                ),
            ),
            concurrency_limit=1,
        ),
        DeploymentSpec(
            flow_name="sweep",
            entrypoint="flows/sweep.py:sweep",
            interval_seconds=get_settings().sweep_interval_seconds,
            concurrency_limit=1,
        ),
        *(_generate(category) for category in Category),
        *(_run(category) for category in Category),
        DeploymentSpec(
            flow_name="alert",
            entrypoint="flows/alert.py:alert",
            triggers=(
                TriggerSpec(
                    expect=("prefect.automation.action.failed",),
                    match={"prefect.resource.id": "prefect.automation.*"},
                    name="haulflow: an automation action failed",
                ),
            ),
            concurrency_limit=1,
        ),
    ]


DEPLOYMENT_NAMES = tuple(spec.full_name for spec in deployment_specs())
