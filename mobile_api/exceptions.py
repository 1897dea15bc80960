"""RFC 9457 problem+json for every error on every API path."""

import logging
import math
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions as drf
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import set_rollback

from backend.common.errors import ApplicationError, flatten_errors

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"

# DRF exception class → stable code, where DRF's own default_code is not the one we publish.
_DRF_CODES = {
    drf.ParseError: "malformed_request",
    drf.AuthenticationFailed: "authentication_failed",
    drf.NotAuthenticated: "not_authenticated",
    drf.PermissionDenied: "permission_denied",
    drf.NotFound: "not_found",
    drf.MethodNotAllowed: "method_not_allowed",
    drf.NotAcceptable: "not_acceptable",
    drf.UnsupportedMediaType: "unsupported_media_type",
    drf.Throttled: "throttled",
    drf.ValidationError: "validation_error",
}


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details, as every error is rendered (for the OpenAPI document)."""

    type = serializers.CharField(help_text="`/problems/<code>`")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="Stable snake_case string clients switch on.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Field name → messages, on validation errors.",
    )


# The errors any authenticated endpoint may answer with; spread into `extend_schema(responses=…)`.
PROBLEM_RESPONSES = {
    (401, PROBLEM_CONTENT_TYPE): OpenApiResponse(
        ProblemSerializer, description="not_authenticated, authentication_failed"
    ),
    (403, PROBLEM_CONTENT_TYPE): OpenApiResponse(ProblemSerializer, description="permission_denied"),
    (429, PROBLEM_CONTENT_TYPE): OpenApiResponse(ProblemSerializer, description="throttled"),
}


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    errors: dict[str, list[str]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else code,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return body


def problem_response(status: int, code: str, detail: str, **kwargs: Any) -> JsonResponse:
    return JsonResponse(
        problem(status, code, detail, **kwargs),
        status=status,
        content_type=PROBLEM_CONTENT_TYPE,
        json_dumps_params={"ensure_ascii": False},
    )


# DRF's nested error detail → {"field" or "field.sub": [messages]} (the domain's helper, shared with sync push).
_flatten_errors = flatten_errors


def _first_code(detail: Any) -> str | None:
    """A specific code carried by a DRF ValidationError (e.g. invalid_geometry)."""
    if isinstance(detail, dict):
        for value in detail.values():
            code = _first_code(value)
            if code:
                return code
    elif isinstance(detail, list):
        for value in detail:
            code = _first_code(value)
            if code:
                return code
    elif isinstance(detail, drf.ErrorDetail) and detail.code not in (None, "invalid", "required", "null", "blank"):
        if detail.code in {"invalid_geometry"}:
            return detail.code
    return None


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        set_rollback()
        body = problem(exc.status, exc.code, exc.message, errors=exc.errors, extra=exc.extra)
        return Response(body, status=exc.status, content_type=PROBLEM_CONTENT_TYPE)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = drf.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    if isinstance(exc, drf.APIException):
        set_rollback()
        status = exc.status_code
        code = _DRF_CODES.get(type(exc))
        if code is None:
            code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), None)
        if code is None:
            code = exc.default_code if isinstance(exc.default_code, str) else "error"
        errors = None
        if isinstance(exc, drf.ValidationError):
            errors = _flatten_errors(exc.detail)
            code = _first_code(exc.detail) or code
            detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items())[:1000] or "Invalid input."
        else:
            detail = str(exc.detail)
        extra = None
        retry_after = None
        if isinstance(exc, drf.Throttled):
            # Never tell a client to retry in 0 seconds: round up, at least 1.
            retry_after = max(1, math.ceil(exc.wait)) if exc.wait is not None else 1
            extra = {"retry_after": retry_after}
            detail = f"Too many requests; retry in {retry_after} seconds."
        response = Response(
            problem(status, code, detail, errors=errors, extra=extra),
            status=status,
            content_type=PROBLEM_CONTENT_TYPE,
        )
        if getattr(exc, "auth_header", None):
            response["WWW-Authenticate"] = exc.auth_header
        if retry_after is not None:
            response["Retry-After"] = str(retry_after)
        return response
    return None
