"""`prefect.yaml` and `haulflow serve` declare the same deployments."""

from __future__ import annotations

from pathlib import Path

import yaml

from deployments.catalog import DEPLOYMENT_NAMES, deployment_specs
from deployments.prefect_yaml import render
from deployments.serve import load_flow, runner_deployment
from models import Category

REPO = Path(__file__).resolve().parents[2]


def test_the_committed_prefect_yaml_is_the_catalog() -> None:
    committed = (REPO / "prefect.yaml").read_text(encoding="utf-8")
    assert committed == render(), (
        "prefect.yaml is stale: python -m deployments.prefect_yaml > prefect.yaml"
    )


def test_serve_builds_what_prefect_yaml_declares() -> None:
    declared = yaml.safe_load(render())["deployments"]
    served = [runner_deployment(spec) for spec in deployment_specs()]

    assert len(served) == len(declared) == len(DEPLOYMENT_NAMES)
    for entry, deployment, full_name in zip(declared, served, DEPLOYMENT_NAMES, strict=True):
        flow = load_flow(entry["entrypoint"])
        assert f"{flow.name}/{deployment.name}" == full_name
        # The runner loads exactly the flow the catalog names (a `with_options` copy too).
        # ... from wherever `serve` was started (its flow runs start in that directory).
        path, _, attribute = entry["entrypoint"].partition(":")
        assert deployment.entrypoint == f"{REPO / path}:{attribute}"
        assert deployment.description == entry["description"]
        assert deployment.parameters == entry["parameters"]
        assert deployment.tags == entry["tags"]
        triggers = [
            (sorted(t.expect), t.match.model_dump(), t.parameters or {})
            for t in deployment.triggers
        ]
        assert triggers == [
            (sorted(t["expect"]), t["match"], t.get("parameters", {}))
            for t in entry.get("triggers", [])
        ]
        assert [t.name for t in deployment.triggers] == [
            t["name"] for t in entry.get("triggers", [])
        ]
        intervals = [s.schedule.interval.total_seconds() for s in deployment.schedules or []]
        assert intervals == [s["interval"] for s in entry.get("schedules", [])]
        # No Prefect concurrency slot that a killed process could leave held.
        assert deployment.concurrency_limit is None and "concurrency_limit" not in entry


def test_each_category_has_its_own_flows() -> None:
    for category in Category:
        assert f"generate-{category.value}-tasks/new-{category.value}s" in DEPLOYMENT_NAMES
        assert f"run-{category.value}-task/{category.value}s-by-hand" in DEPLOYMENT_NAMES
    assert {"dispatcher/send-ready-emails", "sweep/backstop", "alert/automation-failed"} <= set(
        DEPLOYMENT_NAMES
    )


def test_names_say_what_each_deployment_and_automation_does() -> None:
    specs = deployment_specs()
    # Flow and deployment names differ, and no two automations share a name.
    assert all(spec.name not in {"haulflow", spec.flow_name} for spec in specs)
    triggers = [trigger.name for spec in specs for trigger in spec.triggers]
    # Generation per category and the alert; the dispatcher is woken by the database.
    assert len(triggers) == len(set(triggers)) == 5
    assert all(spec.description for spec in specs)


def test_the_hand_run_form_offers_the_configured_choices() -> None:
    from tasks.forms import Choices, hand_run_schema

    spec = next(s for s in deployment_specs() if s.flow_name == "run-trip-task")
    choices = Choices({Category.ORDER: ["send-pod"], Category.TRIP: ["trip-pod"]}, ["alice"])
    schema = runner_deployment(spec, choices)._parameter_openapi_schema.model_dump()
    assert schema["properties"]["task_key"]["enum"] == ["trip-pod"]
    assert schema["properties"]["requested_by"]["enum"] == ["alice"]
    # No e-mail task in the category: free text, and the flow names the configured keys.
    none = Choices({}, [])
    bare = hand_run_schema(schema, Category.BOOKING, none)["properties"]
    assert "enum" not in bare["task_key"] and "enum" not in bare["requested_by"]


def test_run_task_offers_a_typed_form() -> None:
    schema = load_flow("flows/run_task.py:run_order_task").parameters.model_dump()
    properties = schema["properties"]
    assert schema["required"] == ["task_key", "requested_by"]
    assert all(field["description"] for field in properties.values())
    assert properties["dry_run"]["type"] == "boolean"
    assert properties["created_before"]["anyOf"][0]["format"] == "date"
    assert properties["entities"]["anyOf"][0]["type"] == "array"
