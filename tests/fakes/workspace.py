"""Wiring for launcher tests: a fake workspace, a connector using the real SDK against it, and requests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from amlexec.clock import ManualClock
from amlexec.launch.workspace import WorkspaceConnector
from amlexec.linked_services import LinkedServiceRegistry
from amlexec.request import LaunchRequest, RequestContext
from amlexec.resolve import resolve
from amlexec.validation import validate_payload
from fakes.azureml import FakeAzureML
from fakes.credential import FakeCredential
from fakes.transport import FakeTransport, Router

SUB, RG, WS = "11111111-2222-3333-4444-555555555555", "rg-ml", "ws-ml"
BASE = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.MachineLearningServices/workspaces/{WS}"
LINKED_SERVICES = [
    {
        "name": "AzureMLService",
        "properties": {
            "type": "AzureMLService",
            "typeProperties": {
                "subscriptionId": SUB,
                "resourceGroupName": RG,
                "mlWorkspaceName": WS,
                "authentication": "MSI",
            },
        },
    }
]


@dataclass
class World:
    """Everything a launcher test touches."""

    router: Router
    fake: FakeAzureML
    connector: WorkspaceConnector
    clock: ManualClock
    registry: LinkedServiceRegistry
    credential: FakeCredential
    transport: FakeTransport


def make_world(*, existing_job_put: str = "update") -> World:
    """A fake workspace behind the real SDK; ``existing_job_put`` picks how a PUT on a taken job name is
    answered (``update`` as documented, or ``refuse``: the stricter reading; see FakeAzureML)."""
    router = Router()
    fake = FakeAzureML(router, existing_job_put=existing_job_put)
    registry = LinkedServiceRegistry.from_json(json.dumps(LINKED_SERVICES), env={})
    credential = FakeCredential()
    transport = FakeTransport(router)
    connector = WorkspaceConnector(registry, transport=transport, credential_for=lambda _name: credential)
    return World(router, fake, connector, ManualClock(), registry, credential, transport)


def request_for(
    registry: LinkedServiceRegistry,
    type_properties: dict[str, Any],
    *,
    request_id: str = "msg-1",
    policy: dict[str, Any] | None = None,
    name: str = "Score",
) -> LaunchRequest:
    activity: dict[str, Any] = {
        "name": name,
        "type": "AzureMLExecutePipeline",
        "linkedServiceName": {"referenceName": "AzureMLService", "type": "LinkedServiceReference"},
        "typeProperties": type_properties,
    }
    if policy:
        activity["policy"] = policy
    context = RequestContext(
        request_id=request_id, received_at=datetime(2026, 11, 21, 2, tzinfo=UTC), correlation_id="corr-1"
    )
    return resolve(validate_payload(activity), context, registry)


def seed_pipeline_component(
    fake: FakeAzureML, name: str = "score_pipeline", version: str = "3", inputs: dict[str, Any] | None = None
) -> None:
    """Register a pipeline component version as the service would store it."""
    spec_inputs = (
        inputs
        if inputs is not None
        else {
            "n": {"type": "integer"},
            "flag": {"type": "boolean", "default": True},
            "label": {"type": "string", "optional": True},
            "rate": {"type": "number", "default": 0.5},
        }
    )
    path = f"{BASE}/components/{name}/versions/{version}"
    fake.resources[path.lower()] = {
        "id": path,
        "name": version,
        "type": "Microsoft.MachineLearningServices/workspaces/components/versions",
        "properties": {
            "componentSpec": {
                "name": name,
                "version": version,
                "type": "pipeline",
                "inputs": spec_inputs,
                "outputs": {"scores": {"type": "uri_folder"}},
                "jobs": {},
            },
            "isAnonymous": False,
            "isArchived": False,
            "properties": {},
            "tags": {},
        },
    }
