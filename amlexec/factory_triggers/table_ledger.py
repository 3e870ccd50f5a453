"""The tumbling window ledger on Azure Table storage (the app's own account; Azurite locally and in tests).

One partition per trigger (its name's digest), one row per window sent (RowKey: the window's UTC start,
``2026-11-21T00:00:00Z``, so rows sort by time) and one cursor row (``~cursor``, after every window). The
cursor moves with an ETag condition, so two instances ticking at once cannot both move it; rows are created
with "create only" and finished with an upsert that never replaces a later attempt's row.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from amlexec.errors import TransientError
from amlexec.factory_triggers.windows import WindowRecord, WindowState
from amlexec.tables import Table, safe_key

__all__ = ["WINDOWS_TABLE", "TableWindowLedger"]

WINDOWS_TABLE = "amlexecwindows"
_CURSOR = "~cursor"
_STAMP = "%Y-%m-%dT%H:%M:%SZ"


def _row(start: datetime) -> str:
    return start.astimezone(UTC).strftime(_STAMP)


def _record(entity: Any) -> WindowRecord:
    return WindowRecord(
        start=datetime.strptime(str(entity["RowKey"]), _STAMP).replace(tzinfo=UTC),
        attempt=int(entity["attempt"]),
        state=entity["state"],
        updated=datetime.fromisoformat(str(entity["updated"])),
    )


class TableWindowLedger:
    """:class:`amlexec.factory_triggers.windows.WindowLedger` on Azure Table storage. Thread-safe."""

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        connection_string: str | None = None,
        credential: Any = None,
        table_name: str = WINDOWS_TABLE,
        transport: Any = None,
    ) -> None:
        self._table = Table(
            table_name,
            purpose="tumbling window ledger",
            endpoint=endpoint,
            connection_string=connection_string,
            credential=credential,
            transport=transport,
        )

    def cursor(self, trigger: str) -> tuple[int | None, Any]:
        from azure.core.exceptions import ResourceNotFoundError

        table = self._table.client()
        try:
            entity = self._table.call(lambda: table.get_entity(safe_key(trigger), _CURSOR), "read a cursor")
        except ResourceNotFoundError:
            return None, None
        return int(entity["next"]), entity.metadata["etag"]

    def move_cursor(self, trigger: str, index: int, token: Any) -> bool:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        table = self._table.client()
        entity = {"PartitionKey": safe_key(trigger), "RowKey": _CURSOR, "next": index, "trigger": trigger}
        try:
            if token is None:
                self._table.call(lambda: table.create_entity(entity), "create a cursor")
            else:
                self._table.call(
                    lambda: table.update_entity(
                        entity, mode=UpdateMode.REPLACE, etag=token, match_condition=MatchConditions.IfNotModified
                    ),
                    "move a cursor",
                )
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
            return False
        return True

    def unfinished(self, trigger: str) -> list[WindowRecord]:
        table = self._table.client()
        rows = self._table.call(
            lambda: list(
                table.query_entities(
                    "PartitionKey eq @p and RowKey ne @c and (state eq 'sent' or state eq 'failed')",
                    parameters={"p": safe_key(trigger), "c": _CURSOR},
                )
            ),
            "list unfinished windows",
        )
        return sorted((_record(r) for r in rows), key=lambda r: r.start)

    def states(self, trigger: str, starts: list[datetime]) -> dict[datetime, WindowState]:
        if not starts:
            return {}
        table = self._table.client()
        low, high = _row(min(starts)), _row(max(starts))
        rows = self._table.call(
            lambda: list(
                table.query_entities(
                    "PartitionKey eq @p and RowKey ge @low and RowKey le @high",
                    parameters={"p": safe_key(trigger), "low": low, "high": high},
                )
            ),
            "read window states",
        )
        wanted = set(starts)
        found: dict[datetime, WindowState] = {}
        for row in rows:
            record = _record(row)
            if record.start in wanted:
                found[record.start] = record.state
        return found

    def record_sent(self, trigger: str, sent: list[tuple[datetime, int]], now: datetime) -> None:
        from azure.data.tables import TableTransactionError

        table = self._table.client()
        # New windows, the usual case, go in batches of 100 (one partition: one transaction, one round trip);
        # a batch in which one row already exists (a retry, a re-sent window) fails whole, then goes row by row.
        for offset in range(0, len(sent), 100):
            chunk = sent[offset : offset + 100]
            operations = [("create", self._entity(trigger, start, attempt, "sent", now)) for start, attempt in chunk]
            submit = functools.partial(table.submit_transaction, operations)
            try:
                self._table.call(submit, "record windows sent", passthrough=(TableTransactionError,))
            except TableTransactionError:
                for start, attempt in chunk:
                    self._record_one_sent(table, trigger, start, attempt, now)

    def _record_one_sent(self, table: Any, trigger: str, start: datetime, attempt: int, now: datetime) -> None:
        from azure.core.exceptions import ResourceExistsError

        entity = self._entity(trigger, start, attempt, "sent", now)
        try:
            self._table.call(lambda: table.create_entity(entity), "record a window sent")
            return
        except ResourceExistsError:
            pass
        # A retry: replace the failed attempt's row, unless the row moved on meanwhile (then it is newer).
        existing = self._table.call(lambda: table.get_entity(entity["PartitionKey"], entity["RowKey"]), "read a window")
        if int(existing["attempt"]) < attempt:
            self._replace_unless_changed(table, entity, existing.metadata["etag"], "record a retry sent")

    def record_outcome(self, trigger: str, start: datetime, attempt: int, state: WindowState, now: datetime) -> None:
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        table = self._table.client()
        entity = self._entity(trigger, start, attempt, state, now)
        for _ in range(5):
            try:
                existing = self._table.call(
                    lambda: table.get_entity(entity["PartitionKey"], entity["RowKey"]), "read a window"
                )
            except ResourceNotFoundError:
                try:
                    # The run ended before the tick that sent it recorded it (a crash in between).
                    self._table.call(lambda: table.create_entity(entity), "record a window's end")
                    return
                except ResourceExistsError:
                    continue
            if int(existing["attempt"]) > attempt:
                return
            if self._replace_unless_changed(table, entity, existing.metadata["etag"], "record a window's end"):
                return
        raise TransientError(f"tumbling window ledger: the row of {trigger} {_row(start)} kept changing")

    def _replace_unless_changed(self, table: Any, entity: dict[str, Any], etag: str, what: str) -> bool:
        """Replace the row if it is still at ``etag``; False when someone changed it in between."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError
        from azure.data.tables import UpdateMode

        replace = functools.partial(
            table.update_entity,
            entity,
            mode=UpdateMode.REPLACE,
            etag=etag,
            match_condition=MatchConditions.IfNotModified,
        )
        try:
            self._table.call(replace, what)
        except ResourceModifiedError:
            return False
        return True

    @staticmethod
    def _entity(trigger: str, start: datetime, attempt: int, state: str, now: datetime) -> dict[str, Any]:
        return {
            "PartitionKey": safe_key(trigger),
            "RowKey": _row(start),
            "trigger": trigger,
            "attempt": attempt,
            "state": state,
            "updated": now.astimezone(UTC).isoformat(),
        }
