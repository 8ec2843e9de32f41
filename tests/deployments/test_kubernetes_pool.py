"""The Kubernetes work pool of the README, as far as this machine can take it (no cluster).

The stock `prefect` CLI creates the pool from `deployments/k8s-job-template.json` on a real
Prefect server (which checks the template's placeholders) and deploys prefect.yaml onto it;
the job of one deployment is then rendered by Prefect's own templating: the Job a worker
would submit, with haulflow's Secret and ConfigMap as the pod's environment.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from deployments.prefect_yaml import WORK_POOL
from tests.deployments.conftest import REPO, prefect_cli

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

TEMPLATE = REPO / "deployments" / "k8s-job-template.json"


def _rendered_job(template: dict[str, Any], job_variables: dict[str, Any]) -> dict[str, Any]:
    """The job configuration a Kubernetes worker starts from, by Prefect's templating."""
    from prefect.workers.base import BaseJobConfiguration

    class KubernetesJob(BaseJobConfiguration):
        job_manifest: dict[str, Any]

    job = asyncio.run(KubernetesJob.from_template_and_values(template, job_variables))
    return job.job_manifest


def test_the_kubernetes_pool_of_the_readme_takes_the_deployments(
    prefect_api: str, client: SyncPrefectClient
) -> None:
    created = prefect_cli(
        prefect_api,
        "work-pool",
        "create",
        WORK_POOL,
        "--type",
        "kubernetes",
        "--base-job-template",
        str(TEMPLATE.relative_to(REPO)),
    )
    prefect_cli(prefect_api, "--no-prompt", "deploy", "--all")

    assert "Type: kubernetes" in created
    pool = client.read_work_pool(WORK_POOL)
    dispatcher = client.read_deployment_by_name("dispatcher/send-ready-emails")
    assert dispatcher.work_pool_name == WORK_POOL
    # The pods run the flows from the path `prefect deploy` ran from: the image's.
    assert dispatcher.pull_steps == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}
    ]
    manifest = _rendered_job(pool.base_job_template, dispatcher.job_variables or {})
    assert manifest["kind"] == "Job"
    [container] = manifest["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "haulflow:latest"
    assert container["envFrom"] == [
        {"secretRef": {"name": "haulflow"}},
        {"configMapRef": {"name": "haulflow"}},
    ]
    # A deployment may name other ones (job variables), as `prefect deploy` lets it.
    other = _rendered_job(
        pool.base_job_template,
        {"image": "registry.example/haulflow:1.0", "haulflow_secret": "haulflow-prod"},
    )
    [container] = other["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example/haulflow:1.0"
    assert container["envFrom"][0] == {"secretRef": {"name": "haulflow-prod"}}
