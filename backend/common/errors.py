"""The one error family of the domain.

Services raise `ApplicationError` (or a subclass); the API layer renders it as
RFC 9457 problem+json. `code` is a stable snake_case string clients switch on.
"""

from typing import Any


class ApplicationError(Exception):
    status = 400
    code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        errors: dict[str, list[str]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.errors = errors
        self.extra = extra or {}


class ValidationFailed(ApplicationError):
    """Input broke a rule; `errors` maps field names to messages."""

    status = 400
    code = "validation_error"


class InvalidGeometry(ApplicationError):
    status = 400
    code = "invalid_geometry"


class NotFound(ApplicationError):
    status = 404
    code = "not_found"


class PermissionDenied(ApplicationError):
    status = 403
    code = "permission_denied"


class Conflict(ApplicationError):
    status = 409
    code = "conflict"


class IllegalTransition(Conflict):
    code = "illegal_transition"


class RecordLocked(Conflict):
    code = "record_locked"


class IdConflict(Conflict):
    code = "id_conflict"


class VersionMismatch(ApplicationError):
    status = 412
    code = "version_mismatch"


class CalendarHorizonExceeded(ApplicationError):
    """A working-day computation reached past the last year the calendar knows."""

    status = 409
    code = "calendar_horizon"


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Nested error detail (dicts and lists, as validators give it) → {"field" or "field.sub": [messages]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            for k, v in flatten_errors(value, name).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(detail, list):
        if all(not isinstance(v, dict | list) for v in detail):
            out[prefix or "non_field_errors"] = [str(v) for v in detail]
        else:
            for index, value in enumerate(detail):
                for k, v in flatten_errors(value, f"{prefix}[{index}]").items():
                    out.setdefault(k, []).extend(v)
    else:
        out[prefix or "non_field_errors"] = [str(detail)]
    return out
