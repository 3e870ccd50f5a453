"""Configured linked services: which workspaces a request may target, and with which credential.

Workspaces are configured, never taken from a message. Definitions use Data Factory's own export format
(``{"name": ..., "properties": {"type": "AzureMLService", "typeProperties": {...}}}``), read from a JSON
file (an array, or an object with a ``value`` array) and/or an app setting holding the same JSON.
Entries of another ``type`` in the same export (Key Vaults, storage) are skipped.

Each entry may carry an ``amlexec`` object beside ``properties`` to narrow what it may launch::

    "amlexec": {"allowedPipelines": ["<guid>", "azureml:score@prod"], "allowedEndpoints": ["<guid>"],
                "allowedBatchEndpoints": ["loan-scoring"], "allowedParameterValues": {"mlWorkspaceName": [..]}}

Operators: a definition that cannot authenticate yet (an ``encryptedCredential`` only Data Factory can
decrypt, a Key Vault secret with no vault configured) still loads, so requests validate; ``problems`` says
what to configure, and launching through it fails with that message until it is fixed.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import SecretStr

from amlexec.errors import ConfigurationError
from amlexec.request import WorkspaceInfo

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

__all__ = [
    "AZURE_ML_SERVICE",
    "LOCAL_SERVICE",
    "AllowList",
    "CredentialSpec",
    "LinkedService",
    "LinkedServiceRegistry",
    "secret_setting_name",
]

logger = logging.getLogger(__name__)

AZURE_ML_SERVICE = "AzureMLService"
LOCAL_SERVICE = "AmlexecLocal"

AuthKind = Literal["managed_identity", "service_principal", "default", "none"]


def secret_setting_name(linked_service: str) -> str:
    """The app setting that holds a service-principal secret for ``linked_service``.

    In Azure the setting can be a Key Vault reference (``@Microsoft.KeyVault(SecretUri=...)``), which the
    platform resolves, so no secret is ever stored in configuration files.
    """
    return "AMLEXEC_SP_SECRET__" + re.sub(r"[^A-Za-z0-9]", "_", linked_service).upper()


def client_id_setting_name(credential_reference: str) -> str:
    """The app setting mapping a Data Factory credential reference to a user-assigned identity's client id."""
    return "AMLEXEC_IDENTITY_CLIENT_ID__" + re.sub(r"[^A-Za-z0-9]", "_", credential_reference).upper()


@dataclass(frozen=True)
class CredentialSpec:
    """How to authenticate; ``secret`` is a SecretStr so it never shows in a log, an error or ``repr``."""

    kind: AuthKind
    tenant_id: str | None = None
    client_id: str | None = None
    secret: SecretStr | None = field(default=None, repr=False)
    secret_source: str | None = None


@dataclass(frozen=True)
class AllowList:
    """Which targets a linked service may launch; an empty tuple allows any."""

    pipelines: tuple[str, ...] = ()
    endpoints: tuple[str, ...] = ()
    batch_endpoints: tuple[str, ...] = ()
    parameter_values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def permits(self, kind: str, target: str) -> bool:
        allowed = {"pipeline": self.pipelines, "endpoint": self.endpoints, "batch": self.batch_endpoints}[kind]
        return not allowed or target.lower() in {a.lower() for a in allowed}


@dataclass(frozen=True)
class LinkedService:
    """One configured connection: a workspace (or a local pipelines folder) and its credential."""

    name: str
    type: str
    workspace: WorkspaceInfo | None = None
    credential: CredentialSpec = field(default_factory=lambda: CredentialSpec("none"))
    local_folder: Path | None = None
    runs_folder: Path | None = None
    allow: AllowList = field(default_factory=AllowList)
    parameters: Mapping[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    @property
    def is_local(self) -> bool:
        return self.type == LOCAL_SERVICE

    @property
    def usable(self) -> bool:
        return not self.problems

    def require_usable(self) -> None:
        """Raise ConfigurationError naming what to configure when this definition cannot be used."""
        if self.problems:
            raise ConfigurationError(f"linked service '{self.name}' cannot be used: " + "; ".join(self.problems))


def _string(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("value"), str):
        return str(value["value"])
    return None


def _resolve_secret(
    name: str, type_props: Mapping[str, Any], env: Mapping[str, str], problems: list[str]
) -> tuple[SecretStr | None, str | None]:
    setting = secret_setting_name(name)
    if env.get(setting):
        return SecretStr(env[setting]), f"app setting {setting}"
    key = type_props.get("servicePrincipalKey")
    inline = key.get("value") if isinstance(key, dict) and key.get("type") == "SecureString" else None
    if isinstance(inline, str) and inline and not inline.startswith("<redacted"):
        return SecretStr(inline), "inline SecureString"
    if isinstance(key, dict) and key.get("type") == "AzureKeyVaultSecret":
        secret_name = key.get("secretName")
        problems.append(
            f"servicePrincipalKey is Key Vault secret '{secret_name}'; set app setting {setting} to a Key Vault "
            f"reference such as @Microsoft.KeyVault(VaultName=<vault>;SecretName={secret_name})"
        )
        return None, None
    if type_props.get("encryptedCredential"):
        problems.append(
            "its service-principal key is an encryptedCredential that only Data Factory can decrypt; "
            f"set app setting {setting} (ideally a Key Vault reference) or switch the definition to "
            '"authentication": "MSI"'
        )
        return None, None
    problems.append(f"no service-principal key; set app setting {setting}")
    return None, None


def _credential(
    name: str, type_props: Mapping[str, Any], env: Mapping[str, str], problems: list[str]
) -> CredentialSpec:
    auth = _string(type_props.get("authentication"))
    sp_id = _string(type_props.get("servicePrincipalId"))
    if sp_id and (auth is None or auth.lower() != "msi"):
        tenant = _string(type_props.get("tenant"))
        if not tenant:
            problems.append("a service principal needs 'tenant'")
        secret, source = _resolve_secret(name, type_props, env, problems)
        return CredentialSpec("service_principal", tenant, sp_id, secret, source)
    if auth is not None and auth.lower() != "msi":
        problems.append(f"authentication '{auth}' is not supported; use \"MSI\" or a service principal")
        return CredentialSpec("none")
    reference = type_props.get("credential")
    client_id = env.get("AZURE_CLIENT_ID") or None
    if isinstance(reference, dict) and isinstance(reference.get("referenceName"), str):
        setting = client_id_setting_name(reference["referenceName"])
        client_id = env.get(setting) or client_id
        if not env.get(setting):
            logger.info(
                "linked service %s: credential %s maps to no %s; using the app's identity",
                name,
                reference["referenceName"],
                setting,
            )
    return CredentialSpec("managed_identity", client_id=client_id)


def _allow_list(extension: Any, problems: list[str]) -> AllowList:
    if extension is None:
        return AllowList()
    if not isinstance(extension, dict):
        problems.append("'amlexec' must be an object")
        return AllowList()

    def strings(key: str) -> tuple[str, ...]:
        value = extension.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            problems.append(f"amlexec.{key} must be an array of strings")
            return ()
        return tuple(value)

    raw_params = extension.get("allowedParameterValues", {})
    params: dict[str, tuple[str, ...]] = {}
    if isinstance(raw_params, dict):
        for key, values in raw_params.items():
            if isinstance(values, list) and all(isinstance(v, str) for v in values):
                params[key] = tuple(values)
            else:
                problems.append(f"amlexec.allowedParameterValues.{key} must be an array of strings")
    return AllowList(strings("allowedPipelines"), strings("allowedEndpoints"), strings("allowedBatchEndpoints"), params)


def _parse_entry(entry: Any, base_dir: Path | None, env: Mapping[str, str]) -> LinkedService | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise ConfigurationError("a linked service entry needs a string 'name' and a 'properties' object")
    name: str = entry["name"]
    props = entry.get("properties")
    if not isinstance(props, dict):
        raise ConfigurationError(f"linked service '{name}' has no 'properties' object")
    ls_type = props.get("type")
    if ls_type not in (AZURE_ML_SERVICE, LOCAL_SERVICE):
        logger.debug("skipping linked service %s of type %s", name, ls_type)
        return None
    type_props = props.get("typeProperties")
    if not isinstance(type_props, dict):
        raise ConfigurationError(f"linked service '{name}' has no 'typeProperties' object")
    problems: list[str] = []
    allow = _allow_list(entry.get("amlexec"), problems)
    declared = props.get("parameters")
    parameters: dict[str, Any] = declared if isinstance(declared, dict) else {}

    if ls_type == LOCAL_SERVICE:
        folder = _string(type_props.get("pipelinesFolder"))
        if not folder:
            raise ConfigurationError(f"local linked service '{name}' needs typeProperties.pipelinesFolder")
        root = base_dir or Path.cwd()
        local = (root / folder).resolve()
        runs = _string(type_props.get("runsFolder"))
        if not local.is_dir():
            problems.append(f"pipelines folder {local} does not exist")
        return LinkedService(
            name,
            LOCAL_SERVICE,
            local_folder=local,
            runs_folder=(root / runs).resolve() if runs else None,
            allow=allow,
            problems=tuple(problems),
        )

    missing = [k for k in ("subscriptionId", "resourceGroupName", "mlWorkspaceName") if not _string(type_props.get(k))]
    if missing:
        raise ConfigurationError(f"linked service '{name}' lacks typeProperties {', '.join(missing)}")
    workspace = WorkspaceInfo(
        subscription_id=str(_string(type_props["subscriptionId"])),
        resource_group=str(_string(type_props["resourceGroupName"])),
        name=str(_string(type_props["mlWorkspaceName"])),
    )
    credential = _credential(name, type_props, env, problems)
    connect_via = props.get("connectVia")
    runtime = connect_via.get("referenceName") if isinstance(connect_via, dict) else None
    if runtime not in (None, "AutoResolveIntegrationRuntime"):
        logger.info(
            "linked service %s: connectVia %s is a Data Factory runtime; amlexec connects directly", name, runtime
        )
    return LinkedService(
        name, AZURE_ML_SERVICE, workspace, credential, allow=allow, parameters=parameters, problems=tuple(problems)
    )


def _entries(document: Any, source: str) -> list[Any]:
    if isinstance(document, dict) and isinstance(document.get("value"), list):
        return list(document["value"])
    if isinstance(document, dict) and "name" in document:
        return [document]
    if isinstance(document, list):
        return document
    raise ConfigurationError(f"{source}: expected a JSON array of linked services")


class LinkedServiceRegistry:
    """The linked services this app may use, by name (case-insensitive, as Data Factory treats names)."""

    def __init__(self, services: Iterable[LinkedService] = ()) -> None:
        self._by_name: dict[str, LinkedService] = {}
        for service in services:
            self.add(service)
        self._credentials: dict[str, TokenCredential] = {}
        self._lock = threading.Lock()

    def add(self, service: LinkedService) -> None:
        key = service.name.lower()
        if key in self._by_name:
            raise ConfigurationError(f"linked service '{service.name}' is defined twice")
        self._by_name[key] = service

    @classmethod
    def from_json(
        cls,
        text: str,
        *,
        source: str = "linked services",
        base_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> LinkedServiceRegistry:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"{source} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
        registry = cls()
        registry.extend(document, source=source, base_dir=base_dir, env=env)
        return registry

    @classmethod
    def from_file(cls, path: str | Path, *, env: Mapping[str, str] | None = None) -> LinkedServiceRegistry:
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise ConfigurationError(f"cannot read linked services file {file}: {exc.strerror}") from None
        return cls.from_json(text, source=str(file), base_dir=file.parent, env=env)

    def extend(
        self, document: Any, *, source: str, base_dir: Path | None = None, env: Mapping[str, str] | None = None
    ) -> None:
        environment = os.environ if env is None else env
        for entry in _entries(document, source):
            service = _parse_entry(entry, base_dir, environment)
            if service is not None:
                self.add(service)

    def merge(self, other: LinkedServiceRegistry) -> None:
        """Add every service of ``other``; a name defined in both is a ConfigurationError."""
        for service in other._by_name.values():
            self.add(service)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._by_name

    def __len__(self) -> int:
        return len(self._by_name)

    def names(self) -> list[str]:
        return sorted(s.name for s in self._by_name.values())

    def get(self, name: str) -> LinkedService | None:
        return self._by_name.get(name.lower())

    def lookup(self, reference: str) -> LinkedService | None:
        """Find a service by a reference as written, also through an ARM ``[parameters('Name')]`` wrapper."""
        found = self.get(reference)
        if found is None:
            match = re.fullmatch(r"\[\s*parameters\(\s*'([^']+)'\s*\)\s*\]", reference.strip())
            if match:
                found = self.get(match.group(1))
        return found

    def credential(self, service: LinkedService) -> TokenCredential:
        """Build (once per worker) the azure-identity credential for ``service``."""
        service.require_usable()
        with self._lock:
            cached = self._credentials.get(service.name.lower())
            if cached is None:
                cached = _build_credential(service.credential)
                self._credentials[service.name.lower()] = cached
            return cached


def _build_credential(spec: CredentialSpec) -> TokenCredential:
    # azure.identity costs tens of milliseconds to import: only pay it when a credential is first needed.
    from azure.identity import ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential

    if spec.kind == "service_principal":
        assert spec.tenant_id and spec.client_id and spec.secret is not None
        return ClientSecretCredential(spec.tenant_id, spec.client_id, spec.secret.get_secret_value())
    if spec.kind == "managed_identity" and (os.environ.get("IDENTITY_ENDPOINT") or os.environ.get("MSI_ENDPOINT")):
        return ManagedIdentityCredential(client_id=spec.client_id) if spec.client_id else ManagedIdentityCredential()
    # Off Azure (a laptop, CI) managed identity is unreachable; DefaultAzureCredential finds the developer's
    # own sign-in (az login, VS Code, environment variables) instead.
    return DefaultAzureCredential(managed_identity_client_id=spec.client_id)
