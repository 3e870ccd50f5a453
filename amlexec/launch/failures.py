"""Classify Azure failures as transient or permanent, and retry transient ones within a bounded budget.

Permanent: 400 bad request, 404 unknown target, 401/403 (with a hint of the role to grant), 409 conflicts.
Transient: 408, 429, 5xx and connection errors. Retries back off exponentially with full jitter and never
wait less than the service's ``Retry-After``.
"""

from __future__ import annotations

import email.utils
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from amlexec.clock import Clock
from amlexec.errors import AmlexecError, PermanentError, TransientError

__all__ = [
    "AccessDenied",
    "RetryPolicy",
    "SubmitOutcomeUnknown",
    "TargetNotFound",
    "classify",
    "retry_after_seconds",
    "sdk_retry_policy",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# What the app's identity needs on the workspace to submit, read and cancel runs.
ROLE_HINT = (
    "grant the app's identity the 'AzureML Data Scientist' role (or a custom role with "
    "Microsoft.MachineLearningServices/workspaces/jobs/* and .../experiments/runs/submit/action) on the workspace"
)


class TargetNotFound(PermanentError):
    """The pipeline, endpoint, deployment or component named by the request does not exist."""

    code = "not_found"


class AccessDenied(PermanentError):
    """The service refused the app's identity; the message says which role to grant."""

    code = "access_denied"


class SubmitOutcomeUnknown(TransientError):
    """A submit was sent but its answer was lost: the run may or may not exist; look it up before resending."""


def retry_after_seconds(headers: Mapping[str, str] | None, now: datetime | None = None) -> float | None:
    """The wait a service asked for: ``retry-after-ms``, ``x-ms-retry-after-ms`` or ``Retry-After``."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        value = lowered.get(name)
        if value:
            try:
                return max(0.0, float(value) / 1000.0)
            except ValueError:
                pass
    value = lowered.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _service_message(error: Any) -> str:
    message = getattr(error, "message", None) or str(error)
    return message.strip().splitlines()[0][:500] if message else type(error).__name__


def classify(error: BaseException, *, operation: str, resource: str = "", idempotent: bool = True) -> AmlexecError:
    """Map an azure-core exception (or an AmlexecError) to a transient or permanent amlexec error.

    For a request that is not idempotent (a submit), a 5xx is ambiguous: the service may have acted before
    failing, so it becomes :class:`SubmitOutcomeUnknown` and the caller looks the result up before resending.
    408 and 429 mean the request was not processed and stay plain transient errors.
    """
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    if isinstance(error, AmlexecError):
        return error
    where = f"{operation} {resource}".strip()
    if isinstance(error, ServiceResponseError):
        return SubmitOutcomeUnknown(f"{where}: the connection failed after the request was sent ({error})")
    if isinstance(error, ServiceRequestError):
        return TransientError(f"{where}: could not reach the service ({error})")
    status = getattr(error, "status_code", None)
    response = getattr(error, "response", None)
    headers = dict(response.headers) if response is not None and response.headers is not None else {}
    message = _service_message(error)
    if isinstance(error, ClientAuthenticationError) and status is None:
        return AccessDenied(f"{where}: authentication failed ({message}); check the linked service's credential")
    if isinstance(error, HttpResponseError) and status is not None:
        if status >= 500 and not idempotent:
            return SubmitOutcomeUnknown(
                f"{where}: service answered {status} ({message})", retry_after=retry_after_seconds(headers)
            )
        if status in (408, 429) or status >= 500:
            return TransientError(
                f"{where}: service answered {status} ({message})", retry_after=retry_after_seconds(headers)
            )
        if status == 401:
            return AccessDenied(
                f"{where}: 401 the token was refused ({message}); check the tenant and credential of the linked service"
            )
        if status == 403:
            return AccessDenied(f"{where}: 403 forbidden ({message}); {ROLE_HINT}")
        if status == 404:
            return TargetNotFound(f"{where}: not found ({message})")
        return PermanentError(f"{where}: service answered {status} ({message})")
    return PermanentError(f"{where}: {type(error).__name__}: {message}")


def sdk_retry_policy(*, retry_total: int = 4, backoff_factor: float = 0.8, backoff_max: float = 60.0) -> Any:
    """azure-core's RetryPolicy (Retry-After honoured, 408/429/5xx retried) with full jitter added.

    azure-core backs off exponentially but identically for every client; after a throttling burst, all
    workers would come back in lock-step. Jitter spreads them. Everything else is azure-core's own logic.
    """
    from azure.core.pipeline.policies import RetryPolicy as CoreRetryPolicy

    class JitteredRetryPolicy(CoreRetryPolicy):  # type: ignore[type-arg]
        def get_backoff_time(self, settings: dict[str, Any]) -> float:
            backoff = float(super().get_backoff_time(settings))
            return random.uniform(backoff / 2, backoff) if backoff else 0.0  # noqa: S311 - jitter only

    return JitteredRetryPolicy(
        retry_total=retry_total, retry_backoff_factor=backoff_factor, retry_backoff_max=backoff_max
    )


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, at least ``Retry-After``, within attempts and a time budget."""

    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    budget: float = 90.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        backoff = rng.uniform(0, min(self.max_delay, self.base_delay * (2 ** (attempt - 1))))
        return max(backoff, retry_after or 0.0)

    def run(
        self,
        call: Callable[[], T],
        *,
        clock: Clock,
        operation: str,
        on_unknown: Callable[[], T | None] | None = None,
        rng: random.Random | None = None,
    ) -> T:
        """Call until success, a permanent error, or the budget is spent (then the last transient error).

        ``on_unknown`` runs after a :class:`SubmitOutcomeUnknown`: if it finds the result (the submit did
        land) that result is returned instead of sending the request again.
        """
        generator = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            try:
                return call()
            except Exception as exc:  # classified below; anything unknown becomes permanent
                error = classify(exc, operation=operation, idempotent=on_unknown is None)
            if isinstance(error, SubmitOutcomeUnknown) and on_unknown is not None:
                found = on_unknown()
                if found is not None:
                    logger.info("%s: the lost submit had landed; using the existing run", operation)
                    return found
            if not error.retryable or attempt >= self.attempts:
                raise error
            retry_after = error.retry_after if isinstance(error, TransientError) else None
            pause = self.delay(attempt, retry_after, generator)
            if waited + pause > self.budget:
                raise error
            logger.warning(
                "%s: transient failure (attempt %d of %d), retrying in %.1fs: %s",
                operation,
                attempt,
                self.attempts,
                pause,
                error,
            )
            clock.sleep(pause)
            waited += pause
