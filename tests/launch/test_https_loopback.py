"""The same launches over real HTTPS on loopback: azure-core's real requests transport, TLS and all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.azureml import FakeAzureML
from fakes.credential import FakeCredential
from fakes.https_server import HttpsFake
from fakes.transport import Router
from fakes.workspace import BASE, LINKED_SERVICES, request_for, seed_pipeline_component

from amlexec.clock import ManualClock
from amlexec.launch.base import RunState
from amlexec.launch.router import LaunchRouter
from amlexec.launch.workspace import WorkspaceConnector
from amlexec.linked_services import LinkedServiceRegistry

PIPELINE = "0a77f445-258e-4349-9895-e555060b32d8"


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[HttpsFake, FakeAzureML]]:
    router = Router()
    with HttpsFake(router, tmp_path) as server:
        fake = FakeAzureML(router, host=server.base_url)
        monkeypatch.setenv("AZUREML_DEV_URL_MFE", server.base_url)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.cert))
        yield server, fake


def launchers(server: HttpsFake, tmp_path: Path) -> tuple[LaunchRouter, LinkedServiceRegistry]:
    registry = LinkedServiceRegistry.from_json(json.dumps(LINKED_SERVICES), env={})
    credential = FakeCredential()
    connector = WorkspaceConnector(registry, credential_for=lambda _name: credential, arm_endpoint=server.base_url)
    return LaunchRouter(registry, local_runs_root=tmp_path, clock=ManualClock(), connector=connector), registry


def test_component_and_published_pipeline_over_https(service: tuple[HttpsFake, FakeAzureML], tmp_path: Path) -> None:
    server, fake = service
    seed_pipeline_component(fake)
    fake.publish(PIPELINE, {"threshold": 0.5})
    router, registry = launchers(server, tmp_path)

    component = request_for(
        registry, {"mlPipelineId": "azureml:score_pipeline:3", "mlPipelineParameters": {"n": 0, "flag": False}}
    )
    handle = router.launch(component)
    (put,) = fake.router.calls_to("PUT", r"/jobs/")
    assert put.url.startswith(server.base_url + BASE + "/jobs/")
    assert put.body["properties"]["inputs"]["flag"] == {"value": "False", "jobInputType": "literal"}
    assert router.launch(component).created is False

    published = request_for(
        registry, {"mlPipelineId": PIPELINE, "mlPipelineParameters": {"threshold": 0.2}}, request_id="msg-2"
    )
    run = router.launch(published)
    (submit,) = fake.v1_submits
    assert submit.url.startswith(f"{server.base_url}/pipelines/v1.0{BASE}/PipelineRuns/PipelineSubmit/{PIPELINE}")
    assert submit.body["ParameterAssignments"] == {"threshold": "0.2"}
    fake.set_status(run.run_id, "Completed")
    assert router.status(run).state is RunState.COMPLETED
    assert handle.run_id in fake.jobs
