"""Every haulflow deployment, declared once: `haulflow serve` and `prefect.yaml` both read this.

Deployment names say what each one does (the Prefect UI lists them by that name, with the
flow beneath); trigger names become the automation names.

- `dispatcher/send-ready-emails`: long-lived runs (`HAULFLOW_DISPATCHERS` of them) woken by
  the database commit that readies a task (`core.wakeups`), each handing over to a
  successor at the end of its lifetime; started by `haulflow serve`, by every sweep when
  one is missing, and by the one whose lifetime is up (`tasks.dispatching`).
- `sweep/backstop`: every `HAULFLOW_SWEEP_INTERVAL_SECONDS` (60); a sweep that starts while
  another one runs ends at once (its lease, `flows/sweep.py`), so slow sweeps never queue.
- `generate-<category>-tasks/new-<category>s` ×4: woken by `haulflow.entities.changed`, drain
  the entities of their category never generated (the event carries counts, not ids).
- `run-<category>-task/<category>s-by-hand` ×4: no trigger, no schedule; the Prefect UI's
  custom run (or `prefect deployment run`) starts them with typed parameters.
- `alert/automation-failed`: woken by `prefect.automation.action.failed` (a trigger whose
  action failed, e.g. a template reading a missing key): its run fails loudly with the reasons.

Trigger templates read only keys haulflow's events always carry (`core.events`); the alert's
own trigger uses no template, so it cannot fail the same way. No deployment has a Prefect
concurrency limit: a slot held by a killed process stays held until its lease expires
(5 minutes on Prefect 3.9), so the two that must not overlap (the dispatchers, the sweep)
keep their own leases in haulflow's database instead, which a dead process gives up as soon
as its row goes stale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.settings import get_settings
from models import Category

TAGS = ("haulflow",)


# The alert's automation, by name: its own failures must not trigger it.
ALERT_TRIGGER = "alert: an automation action failed"


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
            flow_name="dispatcher",
            name="send-ready-emails",
            entrypoint="flows/dispatcher.py:dispatcher",
            description="Send each ready automatic e-mail task within a second of the commit "
            "that readied it (an upload, new tasks, a retry's moment); long-lived, started by "
            "`haulflow serve` and the sweep, handing over to a successor every "
            "HAULFLOW_DISPATCHER_LIFETIME_SECONDS.",
        ),
        DeploymentSpec(
            flow_name="sweep",
            name="backstop",
            entrypoint="flows/sweep.py:sweep",
            description="The backstop: missing dispatchers, due tasks, abandoned sends, "
            "pending generation, waiting inbox drops, documents without a row, then a drain.",
            interval_seconds=sweep_interval_seconds,
        ),
        *(_generate(category) for category in Category),
        *(_run(category) for category in Category),
        DeploymentSpec(
            flow_name="alert",
            name="automation-failed",
            entrypoint="flows/alert.py:alert",
            description="Fail loudly, with the reasons, when an automation's action failed; "
            "run by hand, check whether one failed lately.",
            triggers=(
                TriggerSpec(
                    name=ALERT_TRIGGER,
                    expect=("prefect.automation.action.failed",),
                    # Not its own failures: each would start it again, and fail again.
                    match={
                        "prefect.resource.id": "prefect.automation.*",
                        "prefect.resource.name": f"!{ALERT_TRIGGER}",
                    },
                    # `| string`: Prefect's JSON rendering of parameters refuses a UUID.
                    parameters={"failure_event": "{{ event.id | string }}"},
                ),
            ),
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
