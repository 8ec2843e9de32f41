"""Serve every deployment of the catalog from this process (`haulflow serve`).

Runner settings tuned for latency (measured: event → served flow start is 6.6 s at the default
10-second poll, 1.9 s at 1 s): `PREFECT_RUNNER_POLL_FREQUENCY=1` unless set otherwise, and up
to `limit` flow runs at once (each is a subprocess).
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
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
    # `to_deployment` returns a coroutine only when called from async code; this is sync.
    deployment = load_flow(spec.entrypoint).to_deployment(
        name=spec.name,
        description=spec.description,
        interval=spec.interval_seconds,
        parameters=spec.parameters or None,
        triggers=list(triggers) or None,
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
    """Register and serve every deployment until interrupted (Ctrl-C or SIGTERM).

    The dispatchers are started as soon as their deployment exists (from a thread: `serve`
    registers the deployments and then blocks), not at the first sweep.
    """
    from prefect import serve

    # Passed to the runner itself: Prefect's settings are already built by now, so setting
    # the variable here would be read by nobody (the benchmark caught the 10 s default).
    from tasks.forms import read_choices

    choices = read_choices()
    threading.Thread(target=_start_dispatchers, name="start-dispatchers", daemon=True).start()
    serve(
        *(runner_deployment(spec, choices) for spec in deployment_specs()),
        limit=limit,
        query_seconds=runner_poll_seconds(),
    )


def _start_dispatchers(timeout: float = 120.0) -> None:
    """Once the dispatcher deployment is registered, start `HAULFLOW_DISPATCHERS` of them."""
    from prefect.client.orchestration import get_client

    from core.settings import get_settings
    from tasks.dispatching import DISPATCHER_DEPLOYMENT, start_dispatchers

    logger = logging.getLogger("haulflow.serve")
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            try:
                client.read_deployment_by_name(DISPATCHER_DEPLOYMENT)
                break
            except Exception:  # not registered yet (ObjectNotFound), or the server is slow
                time.sleep(0.5)
        else:
            logger.warning("%s was not registered within %.0f s", DISPATCHER_DEPLOYMENT, timeout)
            return
    try:
        started = start_dispatchers(get_settings().dispatchers)
    except Exception as error:  # the first sweep starts them then
        logger.warning("could not start the dispatchers now (%s); the sweep will", error)
        return
    if started:
        logger.info("started %d dispatcher run(s)", started)
