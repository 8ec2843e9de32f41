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
        intervals = [s.schedule.interval.total_seconds() for s in deployment.schedules or []]
        assert intervals == [s["interval"] for s in entry.get("schedules", [])]
        expected = entry.get("concurrency_limit")
        assert deployment.concurrency_limit == (expected["limit"] if expected else None)
        if expected:
            options = deployment.concurrency_options
            assert options is not None
            assert options.collision_strategy.value == expected["collision_strategy"]


def test_each_category_has_its_own_flows() -> None:
    for category in Category:
        assert f"generate-{category.value}-tasks/haulflow" in DEPLOYMENT_NAMES
        assert f"run-{category.value}-task/haulflow" in DEPLOYMENT_NAMES
    assert {"dispatch/haulflow", "sweep/haulflow", "alert/haulflow"} <= set(DEPLOYMENT_NAMES)


def test_run_task_offers_a_typed_form() -> None:
    schema = load_flow("flows/run_task.py:run_order_task").parameters.model_dump()
    properties = schema["properties"]
    assert schema["required"] == ["task_key", "requested_by"]
    assert properties["dry_run"]["type"] == "boolean"
    assert properties["created_before"]["anyOf"][0]["format"] == "date"
    assert properties["entities"]["anyOf"][0]["type"] == "array"
