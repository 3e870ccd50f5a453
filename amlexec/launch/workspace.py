"""Azure ML clients, created once per worker for each (linked service, workspace) and reused.

``azure.ai.ml`` costs about a second and 100 MB to import, so it is imported the first time a v2
workspace client (``ml_client_for``) is needed, never at module level; the v1 path (published pipelines,
pipeline endpoints, run history) uses only ``rest_client``/``send_json`` and never loads it. Tests pass a
``transport`` (an azure-core HttpTransport answering from a fake) and a ``credential_for`` function;
production uses the linked service's credential.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from amlexec.errors import ConfigurationError, PermanentError
from amlexec.launch.failures import sdk_retry_policy
from amlexec.linked_services import LinkedServiceRegistry
from amlexec.request import LaunchRequest, WorkspaceInfo

if TYPE_CHECKING:
    from azure.ai.ml import MLClient
    from azure.core.credentials import TokenCredential

    from amlexec.clock import Clock
    from amlexec.launch.base import RunHandle
    from amlexec.launch.failures import RetryPolicy

__all__ = ["WorkspaceConnector"]

USER_AGENT = "amlexec/0.1"
ARM = "https://management.azure.com"
ARM_SCOPE = "https://management.azure.com/.default"
WORKSPACE_API_VERSION = "2024-10-01"


class WorkspaceConnector:
    """Hands out per-workspace clients, building each once (thread-safe)."""

    def __init__(
        self,
        registry: LinkedServiceRegistry,
        *,
        transport: Any = None,
        credential_for: Callable[[str], TokenCredential] | None = None,
        arm_endpoint: str = ARM,
    ) -> None:
        self._registry = registry
        self._arm = arm_endpoint.rstrip("/")
        self._transport = transport
        self._credential_for = credential_for
        self._clients: dict[tuple[str, str, str, str], MLClient] = {}
        self._rest: dict[str, Any] = {}
        self._hosts: dict[tuple[str, str, str], str] = {}
        self._lock = threading.Lock()

    @property
    def transport(self) -> Any:
        return self._transport

    def credential(self, linked_service: str) -> TokenCredential:
        if self._credential_for is not None:
            return self._credential_for(linked_service)
        service = self._registry.get(linked_service)
        if service is None:
            raise ConfigurationError(f"linked service '{linked_service}' is no longer configured")
        return self._registry.credential(service)

    def ml_client(self, request: LaunchRequest) -> MLClient:
        return self.ml_client_for(request.linked_service, self.workspace_of(request))

    def ml_client_for(self, linked_service: str, workspace: WorkspaceInfo | None) -> MLClient:
        if workspace is None:
            raise ConfigurationError(f"linked service '{linked_service}' names no Azure ML workspace")
        key = (linked_service.lower(), workspace.subscription_id, workspace.resource_group, workspace.name)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                from azure.ai.ml import MLClient

                kwargs: dict[str, Any] = {"user_agent": USER_AGENT, "retry_policy": sdk_retry_policy()}
                if self._transport is not None:
                    kwargs["transport"] = self._transport
                client = MLClient(
                    self.credential(linked_service),
                    workspace.subscription_id,
                    workspace.resource_group,
                    workspace.name,
                    **kwargs,
                )
                self._clients[key] = client
            return client

    def rest_client(self, linked_service: str) -> Any:
        """An azure-core PipelineClient (bearer token, retries, this connector's transport) for raw REST calls.

        Used where azure-ai-ml has no call or drops what we need (a batch deployment's component id), and for
        everything v1 (the pipelines API and run history), so that path never imports azure-ai-ml.
        """
        with self._lock:
            client = self._rest.get(linked_service.lower())
            if client is None:
                from azure.core import PipelineClient
                from azure.core.pipeline.policies import (
                    BearerTokenCredentialPolicy,
                    HeadersPolicy,
                    RequestIdPolicy,
                    UserAgentPolicy,
                )

                policies = [
                    RequestIdPolicy(),
                    HeadersPolicy(),
                    UserAgentPolicy(USER_AGENT),
                    sdk_retry_policy(),
                    BearerTokenCredentialPolicy(self.credential(linked_service), ARM_SCOPE),
                ]
                transport = self._transport
                if transport is None:
                    from azure.core.pipeline.transport import RequestsTransport

                    # Opened here, under the lock: RequestsTransport creates its session lazily and without a
                    # lock, so two worker threads' first requests could each create one.
                    transport = RequestsTransport()
                    transport.open()
                client = PipelineClient(self._arm, policies=policies, transport=transport)
                self._rest[linked_service.lower()] = client
            return client

    def send_json(
        self,
        linked_service: str,
        method: str,
        url: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        retry_on_server_errors: bool = True,
    ) -> Any:
        """Send one JSON request; return the decoded body or raise azure-core's HttpResponseError."""
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
        from azure.core.rest import HttpRequest

        request = HttpRequest(method, url, json=body, params=params or {})
        options: dict[str, Any] = {}
        if not retry_on_server_errors:
            # A submit is not idempotent: a 5xx or a lost answer may hide a run that was created, and
            # azure-core would resend it blindly. The caller's RetryPolicy retries instead, looking the run
            # up between attempts and honouring Retry-After on 408/429.
            options["retry_total"] = 0
        response = self.rest_client(linked_service).send_request(request, **options)
        if response.status_code == 404:
            raise ResourceNotFoundError(response=response)
        if response.status_code >= 400:
            raise HttpResponseError(response=response)
        return response.json() if response.content else None

    def api_host(self, linked_service: str, workspace: WorkspaceInfo) -> str:
        """The workspace's regional data-plane host (``api`` from its discovery URL), looked up once."""
        key = (workspace.subscription_id, workspace.resource_group, workspace.name)
        with self._lock:
            host = self._hosts.get(key)
        if host is not None:
            return host
        arm = self.send_json(
            linked_service, "GET", self.workspace_url(workspace), params={"api-version": WORKSPACE_API_VERSION}
        )
        discovery_url = ((arm or {}).get("properties") or {}).get("discoveryUrl")
        if not discovery_url:
            raise PermanentError(f"workspace {workspace.name} reports no discoveryUrl")
        services = self.send_json(linked_service, "GET", discovery_url)
        host = str((services or {}).get("api") or "").rstrip("/")
        if not host:
            raise PermanentError(f"workspace {workspace.name}: discovery returned no 'api' host")
        with self._lock:
            self._hosts[key] = host
        return host

    def workspace_path(self, workspace: WorkspaceInfo) -> str:
        return workspace.resource_id

    def service_base(
        self, linked_service: str, workspace: WorkspaceInfo, service: str, *, retry: RetryPolicy, clock: Clock
    ) -> str:
        """``{api host}/{service}{workspace path}`` (``pipelines/v1.0``, ``history/v1.0``): the host is
        discovered once per worker, the discovery retried as any call is."""
        host = retry.run(
            lambda: self.api_host(linked_service, workspace),
            clock=clock,
            operation=f"discover the services of workspace {workspace.name}",
        )
        return f"{host}/{service}{self.workspace_path(workspace)}"

    def workspace_url(self, workspace: WorkspaceInfo) -> str:
        return f"{self._arm}{workspace.resource_id}"

    @staticmethod
    def workspace_of(owner: LaunchRequest | RunHandle) -> WorkspaceInfo:
        """The workspace a request (or a run of one) goes to; its linked service must name one."""
        if owner.workspace is None:
            raise ConfigurationError(f"linked service '{owner.linked_service}' names no Azure ML workspace")
        return owner.workspace
