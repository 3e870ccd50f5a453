"""Which requests amlexec has seen, by request identity: how a caller that used the queue finds its run.

A request sent through Service Bus is known to its sender only by the message id it chose (Data Factory:
``@{pipeline().RunId}``); the run amlexec launched for it is named from that id *and* the activity name, so
the id alone does not locate the run. Each request handled is therefore recorded here, once launched or
rejected: request id -> where its runs live (the same facts a progress URL carries) or why it was rejected.
``GET /api/requests/{requestId}`` reads it.

Two adapters behind one interface: ``MemoryRequestIndex`` (local mode, tests) and ``TableRequestIndex`` on
Azure Table storage (the Function App's own storage account, identity-based, or a connection string for
Azurite). Records are small, written with an upsert (a redelivered request writes the same record again)
and never updated otherwise: the run's state is always read from Azure ML, not from here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from amlexec.errors import ConfigurationError, TransientError
from amlexec.runs import ProgressRef

__all__ = [
    "IndexEntry",
    "MemoryRequestIndex",
    "RequestIndex",
    "TableRequestIndex",
]

logger = logging.getLogger(__name__)

TABLE_NAME = "amlexecrequests"


@dataclass(frozen=True)
class IndexEntry:
    """One activity of one request: launched (with where its runs live) or rejected (with every reason)."""

    request_id: str
    activity_name: str
    state: Literal["launched", "rejected"]
    progress: ProgressRef | None = None
    issues: list[dict[str, Any]] = field(default_factory=list)
    # A WebHook's callBackUri: a bearer secret, kept only here (app-only storage), never in a repr or a log.
    callback_uri: str | None = field(default=None, repr=False)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> IndexEntry:
        raw = json.loads(text)
        progress = ProgressRef(**raw["progress"]) if raw.get("progress") else None
        return cls(
            raw["request_id"],
            raw["activity_name"],
            raw["state"],
            progress,
            list(raw.get("issues") or []),
            raw.get("callback_uri"),
        )


class RequestIndex(Protocol):
    """Records requests by identity; reads back every activity recorded for one."""

    def record(self, entry: IndexEntry) -> None:
        """Store ``entry`` (an upsert: the same request recorded again replaces itself)."""
        ...

    def find(self, request_id: str) -> list[IndexEntry]:
        """Every activity recorded for ``request_id`` (empty when none is: not yet handled, or unknown)."""
        ...


class MemoryRequestIndex:
    """The index in a dict: one process's memory (local mode and tests)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], IndexEntry] = {}
        self._lock = threading.Lock()

    def record(self, entry: IndexEntry) -> None:
        with self._lock:
            self._entries[(entry.request_id, entry.activity_name)] = entry

    def find(self, request_id: str) -> list[IndexEntry]:
        with self._lock:
            return [e for (rid, _), e in sorted(self._entries.items()) if rid == request_id]


def _key(text: str) -> str:
    # Table keys refuse '/', '\\', '#', '?' and control characters; request ids and activity names may hold
    # any of them. A digest is a safe key; the values themselves are stored in the entity.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class TableRequestIndex:
    """The index on Azure Table storage: one partition per request id, one row per activity.

    ``endpoint`` (``https://<account>.table.core.windows.net``) with a token credential (the app's managed
    identity needs *Storage Table Data Contributor* on the account), or a ``connection_string`` (Azurite:
    ``UseDevelopmentStorage=true``). The client is created once and reused; azure-data-tables clients are
    safe to share between threads (they hold no per-call state), and the table is created on first use.
    """

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        connection_string: str | None = None,
        credential: Any = None,
        table_name: str = TABLE_NAME,
        transport: Any = None,
    ) -> None:
        if not endpoint and not connection_string:
            raise ConfigurationError("the request index needs a table endpoint or a connection string")
        self._endpoint = endpoint
        self._connection_string = connection_string
        self._credential = credential
        self._table_name = table_name
        self._transport = transport
        self._client: Any = None
        self._lock = threading.Lock()

    def _table(self) -> Any:
        with self._lock:
            if self._client is None:
                from azure.data.tables import TableServiceClient

                options: dict[str, Any] = {"transport": self._transport} if self._transport is not None else {}
                if self._connection_string:
                    service = TableServiceClient.from_connection_string(self._connection_string, **options)
                else:
                    credential = self._credential
                    if credential is None:
                        from azure.identity import DefaultAzureCredential

                        credential = DefaultAzureCredential()
                    service = TableServiceClient(endpoint=str(self._endpoint), credential=credential, **options)
                self._call(lambda: service.create_table_if_not_exists(self._table_name), "create the table")
                self._client = service.get_table_client(self._table_name)
            return self._client

    def record(self, entry: IndexEntry) -> None:
        table = self._table()
        entity = {"PartitionKey": _key(entry.request_id), "RowKey": _key(entry.activity_name), "entry": entry.to_json()}
        self._call(lambda: table.upsert_entity(entity), "record a request")

    def find(self, request_id: str) -> list[IndexEntry]:
        table = self._table()
        partition = _key(request_id)
        rows = self._call(
            lambda: list(table.query_entities("PartitionKey eq @p", parameters={"p": partition})), "look a request up"
        )
        entries = []
        for row in rows:
            try:
                entries.append(IndexEntry.from_json(str(row["entry"])))
            except (KeyError, ValueError, TypeError):
                logger.warning("request index: an unreadable row in partition %s was skipped", partition)
        return [e for e in entries if e.request_id == request_id]

    @staticmethod
    def _call(call: Any, what: str) -> Any:
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

        try:
            return call()
        except ClientAuthenticationError as exc:
            raise ConfigurationError(
                f"request index: cannot {what}: authentication failed; grant the app's "
                "identity 'Storage Table Data Contributor' on the storage account"
            ) from exc
        except HttpResponseError as exc:
            if exc.status_code in (401, 403):
                raise ConfigurationError(
                    f"request index: cannot {what}: {exc.status_code}; grant the app's "
                    "identity 'Storage Table Data Contributor' on the storage "
                    "account"
                ) from exc
            raise TransientError(f"request index: cannot {what}: {exc.status_code}") from exc
        except ServiceRequestError as exc:
            raise TransientError(f"request index: cannot {what}: the table service is unreachable") from exc
