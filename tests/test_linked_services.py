"""Linked services: Data Factory exports load, unusable credentials say what to configure, secrets stay hidden."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from amlexec.errors import ConfigurationError
from amlexec.linked_services import LinkedServiceRegistry, secret_setting_name


def sp_service(**extra: object) -> dict[str, object]:
    props = {
        "subscriptionId": "s",
        "resourceGroupName": "rg",
        "mlWorkspaceName": "ws",
        "servicePrincipalId": "app-id",
        "tenant": "tenant-id",
        **extra,
    }
    return {"name": "AML", "properties": {"type": "AzureMLService", "typeProperties": props}}


def test_every_corpus_linked_service_loads_or_says_what_to_configure(corpus_dir: Path) -> None:
    files = sorted((corpus_dir / "linked_services").glob("*.json"))
    assert len(files) >= 30
    for file in files:
        registry = LinkedServiceRegistry.from_file(file, env={})
        assert len(registry) == 1, file
        (service,) = (registry.get(n) for n in registry.names())
        assert service is not None
        assert service.workspace is not None
        for problem in service.problems:
            assert "set app setting" in problem or "switch" in problem, problem


def test_encrypted_credential_names_the_setting_to_use() -> None:
    registry = LinkedServiceRegistry.from_json(json.dumps([sp_service(encryptedCredential="xyz")]), env={})
    service = registry.get("aml")
    assert service is not None and not service.usable
    assert "encryptedCredential" in service.problems[0]
    assert secret_setting_name("AML") in service.problems[0]
    with pytest.raises(ConfigurationError, match=secret_setting_name("AML")):
        registry.credential(service)


def test_secret_from_app_setting_never_shows() -> None:
    secret = "s3cr3t-value-never-logged"
    registry = LinkedServiceRegistry.from_json(
        json.dumps([sp_service(encryptedCredential="x")]), env={secret_setting_name("AML"): secret}
    )
    service = registry.get("AML")
    assert service is not None and service.usable
    assert secret not in repr(service) and secret not in str(service)
    assert service.credential.secret is not None
    assert service.credential.secret.get_secret_value() == secret
    credential = registry.credential(service)
    assert type(credential).__name__ == "ClientSecretCredential"
    assert secret not in repr(credential)
    assert registry.credential(service) is credential, "one credential per worker"


def test_key_vault_reference_asks_for_an_app_setting() -> None:
    key = {
        "type": "AzureKeyVaultSecret",
        "store": {"referenceName": "kv", "type": "LinkedServiceReference"},
        "secretName": "aml-sp",
    }
    registry = LinkedServiceRegistry.from_json(json.dumps([sp_service(servicePrincipalKey=key)]), env={})
    service = registry.get("AML")
    assert service is not None
    assert "@Microsoft.KeyVault" in service.problems[0] and "aml-sp" in service.problems[0]


def test_managed_identity_uses_app_client_id(monkeypatch: pytest.MonkeyPatch) -> None:
    msi = {
        "name": "M",
        "properties": {
            "type": "AzureMLService",
            "typeProperties": {
                "subscriptionId": "s",
                "resourceGroupName": "rg",
                "mlWorkspaceName": "ws",
                "authentication": "msi",
            },
        },
    }
    registry = LinkedServiceRegistry.from_json(json.dumps([msi]), env={"AZURE_CLIENT_ID": "uami-client"})
    service = registry.get("M")
    assert service is not None and service.credential.kind == "managed_identity"
    assert service.credential.client_id == "uami-client"
    monkeypatch.setenv("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi")
    monkeypatch.setenv("IDENTITY_HEADER", "x")
    assert type(registry.credential(service)).__name__ == "ManagedIdentityCredential"


def test_developer_machine_uses_default_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IDENTITY_ENDPOINT", raising=False)
    monkeypatch.delenv("MSI_ENDPOINT", raising=False)
    msi = {
        "name": "M",
        "properties": {
            "type": "AzureMLService",
            "typeProperties": {
                "subscriptionId": "s",
                "resourceGroupName": "rg",
                "mlWorkspaceName": "ws",
                "authentication": "MSI",
            },
        },
    }
    registry = LinkedServiceRegistry.from_json(json.dumps([msi]), env={})
    service = registry.get("M")
    assert service is not None
    assert type(registry.credential(service)).__name__ == "DefaultAzureCredential"


def test_other_linked_service_types_are_skipped_and_duplicates_refused() -> None:
    kv = {"name": "kv", "properties": {"type": "AzureKeyVault", "typeProperties": {"baseUrl": "https://x"}}}
    msi = {
        "name": "M",
        "properties": {
            "type": "AzureMLService",
            "typeProperties": {"subscriptionId": "s", "resourceGroupName": "rg", "mlWorkspaceName": "ws"},
        },
    }
    assert LinkedServiceRegistry.from_json(json.dumps({"value": [kv, msi]}), env={}).names() == ["M"]
    with pytest.raises(ConfigurationError, match="defined twice"):
        LinkedServiceRegistry.from_json(json.dumps([msi, msi]), env={})


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{", "not valid JSON"),
        ('"x"', "expected a JSON array"),
        ('[{"name": "x"}]', "no 'properties'"),
        ('[{"name": "x", "properties": {"type": "AzureMLService", "typeProperties": {}}}]', "lacks typeProperties"),
        ('[{"name": "x", "properties": {"type": "AmlexecLocal", "typeProperties": {}}}]', "pipelinesFolder"),
    ],
)
def test_malformed_definitions_fail_with_configuration_errors(document: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        LinkedServiceRegistry.from_json(document, env={})
