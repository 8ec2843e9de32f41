"""Render `prefect.yaml` from the catalog, for workers in work pools (production).

`python -m deployments.prefect_yaml > prefect.yaml` regenerates it; a test fails while the
committed file and the catalog disagree, so `serve` and `prefect deploy` deploy the same.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

from deployments.catalog import TAGS, DeploymentSpec, deployment_specs

WORK_POOL = "haulflow"
HEADER = """\
# Generated from deployments/catalog.py: python -m deployments.prefect_yaml > prefect.yaml
# `haulflow serve` serves the same deployments without a work pool (embedded default).
# Production: `prefect work-pool create haulflow --type process` (or kubernetes, ecs...),
# then `prefect deploy --all` from this folder and start workers on the pool.
"""


def deployment_entry(spec: DeploymentSpec) -> dict[str, Any]:
    """One `deployments:` entry of prefect.yaml."""
    entry: dict[str, Any] = {
        "name": spec.name,
        "description": spec.description,
        "entrypoint": spec.entrypoint,
        "tags": list(TAGS),
        "parameters": dict(spec.parameters),
        "work_pool": {"name": WORK_POOL},
    }
    if spec.interval_seconds:
        entry["schedules"] = [{"interval": spec.interval_seconds}]
    if spec.triggers:
        entry["triggers"] = [
            {
                "type": "event",
                "enabled": True,
                "name": trigger.name,
                "expect": list(trigger.expect),
                "match": dict(trigger.match),
                **({"parameters": dict(trigger.parameters)} if trigger.parameters else {}),
            }
            for trigger in spec.triggers
        ]
    return entry


def render() -> str:
    """The whole prefect.yaml text."""
    document = {
        "name": "haulflow",
        "prefect-version": "3.9.1",
        "deployments": [deployment_entry(spec) for spec in deployment_specs()],
    }
    return HEADER + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


if __name__ == "__main__":
    sys.stdout.write(render())
