"""One Azure Table in the app's storage account: created on first use, reached with the app's identity.

Shared by the request index and the tumbling window ledger. ``endpoint``
(``https://<account>.table.core.windows.net``) with a token credential (the app's managed identity needs
*Storage Table Data Contributor* on the account), or a ``connection_string`` (Azurite:
``UseDevelopmentStorage=true``). The client is created once and reused: azure-data-tables clients hold no
per-call state and are safe to share between threads. Every call goes through :meth:`Table.call`, which
turns the service's answers into amlexec's errors: a refused identity is a configuration error naming the
role, anything else transient (the message is redelivered).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from amlexec.errors import ConfigurationError, TransientError

__all__ = ["Table", "safe_key"]

T = TypeVar("T")


def safe_key(text: str) -> str:
    """A PartitionKey or RowKey for any text.

    Table keys refuse '/', '\\', '#', '?' and control characters; ids and names may hold any of them. A digest
    is a safe key; keep the value itself in the entity.
    """
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class Table:
    """A lazily created table client, and the error mapping every call shares. Thread-safe."""

    def __init__(
        self,
        table_name: str,
        *,
        purpose: str,
        endpoint: str | None = None,
        connection_string: str | None = None,
        credential: Any = None,
        transport: Any = None,
    ) -> None:
        if not endpoint and not connection_string:
            raise ConfigurationError(f"{purpose}: needs a table endpoint or a connection string")
        self.purpose = purpose
        self._table_name = table_name
        self._endpoint = endpoint
        self._connection_string = connection_string
        self._credential = credential
        self._transport = transport
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        """The ``TableClient`` (the table is created on the first call)."""
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
                self.call(lambda: service.create_table_if_not_exists(self._table_name), "create the table")
                self._client = service.get_table_client(self._table_name)
            return self._client

    def call(self, operation: Callable[[], T], what: str, *, passthrough: tuple[type[Exception], ...] = ()) -> T:
        """Run one table operation; a refused identity raises ConfigurationError, other failures TransientError.

        ``ResourceExistsError``, ``ResourceNotFoundError`` and ``ResourceModifiedError`` pass through: they are
        answers the caller acts on (a row exists, is missing, or changed under it), and so does any error in
        ``passthrough``.
        """
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceExistsError,
            ResourceModifiedError,
            ResourceNotFoundError,
            ServiceRequestError,
        )

        answers: tuple[type[Exception], ...] = (
            ResourceExistsError,
            ResourceNotFoundError,
            ResourceModifiedError,
            *passthrough,
        )
        try:
            return operation()
        except answers:
            raise
        except ClientAuthenticationError as exc:
            raise ConfigurationError(
                f"{self.purpose}: cannot {what}: authentication failed; grant the app's identity "
                "'Storage Table Data Contributor' on the storage account"
            ) from exc
        except HttpResponseError as exc:
            if exc.status_code in (401, 403):
                raise ConfigurationError(
                    f"{self.purpose}: cannot {what}: {exc.status_code}; grant the app's identity "
                    "'Storage Table Data Contributor' on the storage account"
                ) from exc
            raise TransientError(f"{self.purpose}: cannot {what}: {exc.status_code}") from exc
        except ServiceRequestError as exc:
            raise TransientError(f"{self.purpose}: cannot {what}: the table service is unreachable") from exc
