"""Azure Functions triggers: decode what the host hands over, call the core, map errors to responses.

This module and ``function_app.py`` are the only ones that import ``azure.functions``.
"""

from __future__ import annotations

import json
import logging

import azure.functions as func  # noqa: TID251 - the one module allowed to

from amlexec.errors import ConfigurationError, RequestRejected
from amlexec.handlers import validate_request
from amlexec.settings import get_settings

__all__ = ["blueprint"]

logger = logging.getLogger(__name__)

blueprint = func.Blueprint()  # type: ignore[no-untyped-call]

_JSON = "application/json"


def _json_response(body: object, status: int) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype=_JSON)


@blueprint.function_name("validate")
@blueprint.route(route="validate", methods=["POST"])
def validate_http(req: func.HttpRequest) -> func.HttpResponse:
    """POST /api/validate: validate and preview-resolve a payload; 200 with the request, 422 with issues."""
    try:
        report = validate_request(req.get_body(), get_settings())
    except RequestRejected as rejected:
        return _json_response({"valid": False, **rejected.to_dict()}, 422)
    except ConfigurationError as exc:
        logger.error("validate: configuration error: %s", exc)
        return _json_response({"valid": False, "error": "ConfigurationError", "message": str(exc)}, 500)
    return _json_response(
        {
            "valid": True,
            "warnings": [w.to_dict() for w in report.warnings],
            "deferred": [d.to_dict() for d in report.deferred],
            "request": report.request,
        },
        200,
    )
