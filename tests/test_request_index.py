"""The request index: the same contract in memory and on Azure Table storage (Azurite, a real server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakes.azurite import azurite_table, connection_string

from amlexec.errors import ConfigurationError
from amlexec.request_index import IndexEntry, MemoryRequestIndex, RequestIndex, TableRequestIndex
from amlexec.runs import ProgressRef


@pytest.fixture(scope="module")
def azurite_port() -> Iterator[int]:
    with azurite_table() as port:
        yield port


def _launched(request_id: str, activity: str = "Score") -> IndexEntry:
    return IndexEntry(
        request_id,
        activity,
        "launched",
        ProgressRef("pipeline_component", "AzureMLService", request_id, activity, "scoring", 2, 3600.0),
    )


@pytest.fixture(params=["memory", "table"])
def index(request: pytest.FixtureRequest, azurite_port: int) -> RequestIndex:
    if request.param == "memory":
        return MemoryRequestIndex()
    return TableRequestIndex(
        connection_string=connection_string(azurite_port), table_name=f"t{abs(hash(request.node.name)) % 10**8}"
    )


def test_a_request_is_found_by_its_id_alone(index: RequestIndex) -> None:
    index.record(_launched("adf-run-1"))
    assert index.find("adf-run-1") == [_launched("adf-run-1")]
    assert index.find("adf-run-2") == []


def test_recording_again_replaces_never_duplicates(index: RequestIndex) -> None:
    index.record(_launched("r"))
    index.record(_launched("r"))
    assert len(index.find("r")) == 1


def test_every_activity_of_one_request_is_kept(index: RequestIndex) -> None:
    index.record(_launched("r", "Score"))
    index.record(_launched("r", "Retrain"))
    rejected = IndexEntry("r", "Bad", "rejected", issues=[{"path": "$", "code": "invalid", "message": "x"}])
    index.record(rejected)
    assert sorted(e.activity_name for e in index.find("r")) == ["Bad", "Retrain", "Score"]
    assert next(e for e in index.find("r") if e.activity_name == "Bad") == rejected


@pytest.mark.parametrize(
    "request_id",
    ["a/b", "a\\b", "run#1", "what?", "tab\tnew\nline", "ünïcödé-✓", "x" * 1024],
    ids=["slash", "backslash", "hash", "question mark", "control chars", "unicode", "long"],
)
def test_ids_table_keys_refuse_still_work(index: RequestIndex, request_id: str) -> None:
    index.record(_launched(request_id, request_id))
    assert [e.request_id for e in index.find(request_id)] == [request_id]


def test_a_wrong_account_key_is_a_configuration_error_naming_the_role(azurite_port: int) -> None:
    wrong = connection_string(azurite_port, key="d3Jvbmcga2V5IGZvciB0aGUgZGV2IGFjY291bnQ=")
    with pytest.raises(ConfigurationError) as info:
        TableRequestIndex(connection_string=wrong, table_name="wrongkey").record(_launched("r"))
    assert "Storage Table Data Contributor" in str(info.value)


def test_an_unreachable_table_service_is_transient() -> None:
    from amlexec.errors import TransientError

    unreachable = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=eA==;TableEndpoint="
        "http://127.0.0.1:9/devstoreaccount1;"
    )
    index = TableRequestIndex(connection_string=unreachable)
    with pytest.raises(TransientError):
        index.find("r")
