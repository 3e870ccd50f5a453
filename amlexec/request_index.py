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

import json
import logging
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from amlexec.runs import ProgressRef
from amlexec.tables import Table, safe_key

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


class TableRequestIndex:
    """The index on Azure Table storage: one partition per request id, one row per activity.

    ``endpoint`` (``https://<account>.table.core.windows.net``) with a token credential (the app's managed
    identity needs *Storage Table Data Contributor* on the account), or a ``connection_string`` (Azurite:
    ``UseDevelopmentStorage=true``); see :class:`amlexec.tables.Table`.
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
        self._table = Table(
            table_name,
            purpose="request index",
            endpoint=endpoint,
            connection_string=connection_string,
            credential=credential,
            transport=transport,
        )

    def record(self, entry: IndexEntry) -> None:
        table = self._table.client()
        entity = {
            "PartitionKey": safe_key(entry.request_id),
            "RowKey": safe_key(entry.activity_name),
            "entry": entry.to_json(),
        }
        self._table.call(lambda: table.upsert_entity(entity), "record a request")

    def find(self, request_id: str) -> list[IndexEntry]:
        table = self._table.client()
        partition = safe_key(request_id)
        rows = self._table.call(
            lambda: list(table.query_entities("PartitionKey eq @p", parameters={"p": partition})), "look a request up"
        )
        entries = []
        for row in rows:
            try:
                entries.append(IndexEntry.from_json(str(row["entry"])))
            except (KeyError, ValueError, TypeError):
                logger.warning("request index: an unreadable row in partition %s was skipped", partition)
        return [e for e in entries if e.request_id == request_id]
