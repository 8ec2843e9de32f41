"""Every haulflow deployment, declared once: `haulflow serve` and `prefect.yaml` both read this.

Deployment names say what each one does (the Prefect UI lists them by that name, with the
flow beneath); trigger names become the automation names.

- `dispatch/send-ready-emails`: woken by `haulflow.document.uploaded` and
  `haulflow.tasks.ready`; one run at a time (others queue: ENQUEUE), lingering past the
  10-second bucket of the event that woke it so no upload of that bucket waits for the sweep
  (see `flows/dispatch.py`).
- `sweep/backstop`: every `HAULFLOW_SWEEP_INTERVAL_SECONDS` (60); a sweep that would start
  while the previous one still runs is cancelled (CANCEL_NEW), so slow sweeps never queue up.
- `generate-<category>-tasks/new-<category>s` ×4: woken by `haulflow.entities.changed`, drain
  the entities of their category never generated (the event carries counts, not ids).
- `run-<category>-task/<category>s-by-hand` ×4: no trigger, no schedule; the Prefect UI's
  custom run (or `prefect deployment run`) starts them with typed parameters.
- `alert/automation-failed`: woken by `prefect.automation.action.failed` (a trigger whose
  action failed, e.g. a template reading a missing key): its run fails loudly with the reasons.

Trigger templates read only keys haulflow's events always carry (`core.events`); the alert's
own trigger uses no template, so it cannot fail the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from core.settings import get_settings
from models import Category

TAGS = ("haulflow",)
# One bucket (core.events.BUCKET_SECONDS) plus the time a run takes to start.
DISPATCH_LINGER_SECONDS = 12.0

Collision = Literal["ENQUEUE", "CANCEL_NEW"]


@dataclass(frozen=True)
class TriggerSpec:
    """A deployment trigger: its automation's name, the events it expects, the resource."""

    name: str
    expect: tuple[str, ...]
    match: dict[str, str]
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment of one flow."""

    flow_name: str
    name: str
    entrypoint: str
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)
    interval_seconds: int | None = None
    triggers: tuple[TriggerSpec, ...] = ()
    # None: unlimited; otherwise runs beyond the limit wait (ENQUEUE) or are cancelled.
    concurrency_limit: int | None = None
    collision: Collision = "ENQUEUE"

    @property
    def full_name(self) -> str:
        """`dispatch/send-ready-emails`, as Prefect names a deployment."""
        return f"{self.flow_name}/{self.name}"


def _generate(category: Category) -> DeploymentSpec:
    flow_name = f"generate-{category.value}-tasks"
    return DeploymentSpec(
        flow_name=flow_name,
        name=f"new-{category.value}s",
        entrypoint=f"flows/generate_tasks.py:generate_{category.value}_tasks",
        description=f"Generate the tasks of {category.value}s created since the last run "
        "(woken by every import).",
        parameters={"category": category.value, "reason": "entities changed"},
        triggers=(
            TriggerSpec(
                name=f"{flow_name}: wake on entities changed",
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
        name=hand_run_name(category),
        entrypoint=f"flows/run_task.py:run_{category.value}_task",
        description=f"Send an e-mail task by hand for {category.value}s, e.g. ones created "
        "before the automation: pick the task, your username and the references (or a day), "
        "try it with dry run first. A task already sent is never sent twice.",
    )


def deployment_specs(sweep_interval_seconds: int | None = None) -> list[DeploymentSpec]:
    """The deployments, in the order the Prefect UI should list them.

    The sweep's interval is `HAULFLOW_SWEEP_INTERVAL_SECONDS` unless given.
    """
    if sweep_interval_seconds is None:
        sweep_interval_seconds = get_settings().sweep_interval_seconds
    return [
        DeploymentSpec(
            flow_name="dispatch",
            name="send-ready-emails",
            entrypoint="flows/dispatch.py:dispatch",
            description="Send every ready automatic e-mail task (woken by uploads and by new "
            "ready tasks).",
            parameters={"reason": "wake-up", "linger_seconds": DISPATCH_LINGER_SECONDS},
            triggers=(
                TriggerSpec(
                    name="dispatch: wake on document uploaded",
                    expect=("haulflow.document.uploaded",),
                    match={"prefect.resource.id": "haulflow.documents"},
                    parameters={
                        "reason": "{{ event.payload.type }} uploaded for {{ event.payload.order }}"
                    },
                ),
                TriggerSpec(
                    name="dispatch: wake on tasks ready",
                    expect=("haulflow.tasks.ready",),
                    match={"prefect.resource.id": "haulflow.tasks"},
                    parameters={"reason": "tasks ready ({{ event.payload.reason }})"},
                ),
            ),
            concurrency_limit=1,
        ),
        DeploymentSpec(
            flow_name="sweep",
            name="backstop",
            entrypoint="flows/sweep.py:sweep",
            description="The backstop: due tasks, abandoned sends, waiting inbox drops, "
            "documents without a row, then dispatch.",
            interval_seconds=sweep_interval_seconds,
            concurrency_limit=1,
            collision="CANCEL_NEW",
        ),
        *(_generate(category) for category in Category),
        *(_run(category) for category in Category),
        DeploymentSpec(
            flow_name="alert",
            name="automation-failed",
            entrypoint="flows/alert.py:alert",
            description="Fail loudly, with the reasons, when an automation's action failed.",
            triggers=(
                TriggerSpec(
                    name="alert: an automation action failed",
                    expect=("prefect.automation.action.failed",),
                    match={"prefect.resource.id": "prefect.automation.*"},
                ),
            ),
            concurrency_limit=1,
        ),
    ]


def hand_run_category(spec: DeploymentSpec) -> Category | None:
    """The category a hand-run deployment runs, or None for any other deployment."""
    for category in Category:
        if spec.flow_name == f"run-{category.value}-task":
            return category
    return None


def hand_run_name(category: Category) -> str:
    """`orders-by-hand`: the name of a category's hand-run deployment."""
    return f"{category.value}s-by-hand"


def hand_run_deployment(category: Category) -> str:
    """`run-order-task/orders-by-hand`: the deployment of a category's hand run."""
    return f"run-{category.value}-task/{hand_run_name(category)}"


# Names do not depend on the settings: importing this never reads them (a bad setting is
# reported by the command that needs it, as a message, not at import as a traceback).
DEPLOYMENT_NAMES = tuple(spec.full_name for spec in deployment_specs(sweep_interval_seconds=60))
