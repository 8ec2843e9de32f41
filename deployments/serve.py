"""Serve every deployment of the catalog from this process (`haulflow serve`).

Runner settings tuned for latency (DESIGN: event → served flow start is 6.6 s at the default
10-second poll, 1.9 s at 1 s): `PREFECT_RUNNER_POLL_FREQUENCY=1` unless set otherwise, and up
to `limit` flow runs at once (each is a subprocess).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from deployments.catalog import TAGS, DeploymentSpec, deployment_specs, hand_run_category

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.deployments.runner import RunnerDeployment

    from tasks.forms import Choices

RUNNER_POLL_SECONDS = "1"
# The catalog's entrypoints are relative to the repository's root.
REPO_ROOT = Path(__file__).resolve().parent.parent


def load_flow(entrypoint: str) -> Flow[Any, Any]:
    """The flow object an entrypoint (`flows/dispatch.py:dispatch`) names."""
    path, _, attribute = entrypoint.partition(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    loaded: Flow[Any, Any] = getattr(module, attribute)
    return loaded


def runner_deployment(spec: DeploymentSpec, choices: Choices | None = None) -> RunnerDeployment:
    """The spec as Prefect's runner deployment; a hand run's form offers `choices`."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.events import DeploymentEventTrigger
    from prefect.utilities.callables import ParameterSchema

    from tasks.forms import hand_run_schema

    triggers = [
        DeploymentEventTrigger(
            name=trigger.name,
            expect=set(trigger.expect),
            match=trigger.match,
            parameters=trigger.parameters or None,
        )
        for trigger in spec.triggers
    ]
    limit = (
        ConcurrencyLimitConfig(
            limit=spec.concurrency_limit,
            collision_strategy=ConcurrencyLimitStrategy(spec.collision),
        )
        if spec.concurrency_limit
        else None
    )
    # `to_deployment` returns a coroutine only when called from async code; this is sync.
    deployment = load_flow(spec.entrypoint).to_deployment(
        name=spec.name,
        description=spec.description,
        interval=spec.interval_seconds,
        parameters=spec.parameters or None,
        triggers=list(triggers) or None,
        concurrency_limit=limit,
        tags=list(TAGS),
    )
    runner = cast("RunnerDeployment", deployment)
    # Prefect derives the entrypoint from the function's qualified name, which for a copy
    # made with `with_options` names the original flow; the runner must load the copy. The
    # path is absolute: the runner's flow runs start in the directory `serve` was started in
    # (where its `var/` is), which need not be this repository.
    runner.entrypoint = absolute_entrypoint(spec.entrypoint)
    category = hand_run_category(spec)
    if choices is not None and category is not None:
        schema = runner._parameter_openapi_schema.model_dump_for_openapi()
        runner._parameter_openapi_schema = ParameterSchema(
            **hand_run_schema(schema, category, choices)
        )
    return runner


def absolute_entrypoint(entrypoint: str) -> str:
    """`/…/haulflow/flows/dispatch.py:dispatch` for the catalog's `flows/dispatch.py:dispatch`."""
    path, _, attribute = entrypoint.partition(":")
    return f"{REPO_ROOT / path}:{attribute}"


def runner_poll_seconds() -> float:
    """`PREFECT_RUNNER_POLL_FREQUENCY` if the operator set it, else one second."""
    return float(os.environ.get("PREFECT_RUNNER_POLL_FREQUENCY") or RUNNER_POLL_SECONDS)


def serve_all(limit: int = 8) -> None:
    """Register and serve every deployment until interrupted (Ctrl-C or SIGTERM)."""
    from prefect import serve

    # Passed to the runner itself: Prefect's settings are already built by now, so setting
    # the variable here would be read by nobody (the benchmark caught the 10 s default).
    from tasks.forms import read_choices

    choices = read_choices()
    serve(
        *(runner_deployment(spec, choices) for spec in deployment_specs()),
        limit=limit,
        query_seconds=runner_poll_seconds(),
    )
