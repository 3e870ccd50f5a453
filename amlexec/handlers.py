"""Host-agnostic request handling: what every trigger calls once it has decoded its input."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from amlexec.errors import Issue
from amlexec.linked_services import LinkedServiceRegistry
from amlexec.resolve import RequestContext, preview
from amlexec.settings import Settings, load_linked_services
from amlexec.validation import validate_payload

__all__ = ["ValidationReport", "linked_services_for", "validate_request"]


@dataclass(frozen=True)
class ValidationReport:
    """A payload that validated: warnings, run-time-only values, and the previewed launch request."""

    warnings: list[Issue] = field(default_factory=list)
    deferred: list[Issue] = field(default_factory=list)
    request: dict[str, Any] | None = None


@functools.cache
def linked_services_for(settings: Settings) -> LinkedServiceRegistry:
    """The registry for these settings, loaded once per worker."""
    return load_linked_services(settings)


def validate_request(body: bytes | str, settings: Settings) -> ValidationReport:
    """Validate a payload and preview its resolution; raise RequestRejected with every issue."""
    payload = validate_payload(body, limits=settings.limits)
    registry = linked_services_for(settings)
    context = RequestContext(request_id=f"validate-{uuid.uuid4()}", received_at=datetime.now(UTC),
                             trigger_name="validate", data_factory=settings.data_factory_name)
    resolution = preview(payload, context, registry, default_linked_service=settings.default_linked_service)
    return ValidationReport([*payload.warnings, *resolution.warnings], resolution.deferred,
                            resolution.request.public_view())
