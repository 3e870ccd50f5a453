"""Shared fixtures: the public corpus in ../shared, payload builders, a fixed request context."""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

# Strict expressions: a bug inside the expression engine raises InternalExpressionError instead of being
# masked as an ExpressionError, so tests that accept "any ExpressionError" cannot hide it. Set before the
# first amlexec import, since the evaluator reads it once; `make test` sets it too, and an explicit
# AMLEXEC_EXPRESSIONS_STRICT=0 still runs the suite the way production behaves.
os.environ.setdefault("AMLEXEC_EXPRESSIONS_STRICT", "1")

from amlexec.linked_services import LinkedServiceRegistry
from amlexec.request import RequestContext

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def shared_dir() -> Path | None:
    configured = os.environ.get("AMLEXEC_SHARED_DIR")
    candidate = Path(configured) if configured else ROOT.parent / "shared"
    return candidate if (candidate / "corpus").is_dir() else None


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    shared = shared_dir()
    if shared is None:
        pytest.skip("../shared/corpus is not beside this checkout (set AMLEXEC_SHARED_DIR)")
    return shared / "corpus"


SEED_ACTIVITY: dict[str, Any] = {
    "name": "Machine Learning Execute Pipeline",
    "type": "AzureMLExecutePipeline",
    "linkedServiceName": {"referenceName": "AzureMLService", "type": "LinkedServiceReference"},
    "typeProperties": {
        "mlPipelineId": "machine learning pipeline ID",
        "experimentName": "experimentName",
        "mlPipelineParameters": {"mlParameterName": "mlParameterValue"},
    },
}

AZURE_ML_SERVICE = {
    "name": "AzureMLService",
    "properties": {
        "type": "AzureMLService",
        "typeProperties": {
            "subscriptionId": "11111111-2222-3333-4444-555555555555",
            "resourceGroupName": "rg-ml",
            "mlWorkspaceName": "ws-ml",
            "authentication": "MSI",
        },
    },
}


def activity(**type_properties: Any) -> dict[str, Any]:
    """A complete activity whose typeProperties are exactly the ones given."""
    return {
        "name": "Score",
        "type": "AzureMLExecutePipeline",
        "linkedServiceName": {"referenceName": "AzureMLService", "type": "LinkedServiceReference"},
        "typeProperties": type_properties,
    }


@pytest.fixture
def registry() -> LinkedServiceRegistry:
    local = {
        "name": "LocalPipelines",
        "properties": {"type": "AmlexecLocal", "typeProperties": {"pipelinesFolder": "pipelines"}},
    }
    reg = LinkedServiceRegistry.from_json(json.dumps([AZURE_ML_SERVICE]), env={})
    reg.extend([local], source="test", base_dir=EXAMPLES, env={})
    return reg


FIXED_TIME = datetime(2026, 11, 21, 2, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def context() -> RequestContext:
    return RequestContext(
        request_id="msg-0001",
        received_at=FIXED_TIME,
        trigger_type="ServiceBus",
        trigger_name="requests",
        correlation_id="corr-1",
    )


@contextmanager
def app_indexed_with(monkeypatch: pytest.MonkeyPatch, settings: dict[str, str]) -> Iterator[None]:
    """The Function App indexed as a host would with these settings (functions registered only when configured
    appear), then indexed again without them."""
    import function_app
    from amlexec import triggers

    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    try:
        importlib.reload(triggers)
        importlib.reload(function_app)
        yield
    finally:
        for name in settings:
            monkeypatch.delenv(name)
        importlib.reload(triggers)
        importlib.reload(function_app)
