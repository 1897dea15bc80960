"""Make sure no API path ever answers with Django's HTML error pages, and that query strings and
headers PostgreSQL could not store never reach a view."""

import base64
import binascii
import logging
import time
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from django.core.exceptions import RequestDataTooBig
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from psycopg.errors import QueryCanceled

from backend.common.errors import ApplicationError, ValidationFailed
from mobile_api.exceptions import problem_response
from mobile_api.parsers import check_text, has_invalid_character, invalid_text, parse_non_negative_int

logger = logging.getLogger(__name__)

API_PREFIXES = ("/api/", "/ogc/", "/tiles/", "/healthz", "/readyz")

# Errors produced outside DRF views (URL resolution, CSRF, request size, Django's own views).
_CODES = {
    400: ("bad_request", "The request could not be understood."),
    401: ("not_authenticated", "Authentication credentials were not provided."),
    403: ("permission_denied", "You may not do this."),
    404: ("not_found", "Nothing is here."),
    405: ("method_not_allowed", "This method is not allowed here."),
    413: ("payload_too_large", "The request body is larger than allowed."),
    415: ("unsupported_media_type", "This media type is not supported here."),
    429: ("throttled", "Too many requests."),
    500: ("server_error", "An unexpected error occurred; it has been logged."),
}
# Headers of the original response that still mean something on the problem response.
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


# Seconds a client is told to wait after a statement timeout (DATABASE_STATEMENT_TIMEOUT_MS).
QUERY_TIMEOUT_RETRY_AFTER_SECONDS = 5


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES)


def is_statement_timeout(exception: Exception) -> bool:
    """PostgreSQL cancelled the statement (SQLSTATE 57014: statement_timeout), as Django raises it."""
    return isinstance(exception, OperationalError) and isinstance(exception.__cause__, QueryCanceled)


class ProblemJsonMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            is_api_path(request.path)
            and response.status_code >= 400
            and response.get("Content-Type", "").startswith("text/html")
        ):
            code, detail = _CODES.get(response.status_code, ("error", f"The request failed ({response.status_code})."))
            problem = problem_response(response.status_code, code, detail)
            for header in _KEPT_HEADERS:
                if header in response:
                    problem[header] = response[header]
            return problem
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_path(request.path):
            return None
        if isinstance(exception, RequestDataTooBig):
            return problem_response(413, "payload_too_large", "The request body is larger than allowed.")
        if is_statement_timeout(exception):
            logger.warning("Statement timeout on %s %s", request.method, request.path)
            response = problem_response(
                503, "query_timeout", "The database took too long to answer; retry in a few seconds."
            )
            response["Retry-After"] = str(QUERY_TIMEOUT_RETRY_AFTER_SECONDS)
            return response
        logger.exception("Unhandled error on %s %s", request.method, request.path)
        return problem_response(500, "server_error", "An unexpected error occurred; it has been logged.")


def _header_name(meta_key: str) -> str:
    return meta_key.removeprefix("HTTP_").replace("_", "-").title()


def _basic_credentials(header: str) -> bytes:
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "basic":
        return b""
    try:
        return base64.b64decode(credentials.strip())
    except (binascii.Error, ValueError):
        return b""  # malformed: the authentication class answers 401


def check_headers(meta: dict) -> None:
    for key, value in meta.items():
        if not (key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH")) or not isinstance(value, str):
            continue
        if has_invalid_character(value):
            raise invalid_text(_header_name(key))
    if _basic_credentials(meta.get("HTTP_AUTHORIZATION", "")).count(b"\x00"):
        # Base64 hides a NUL from the check above; the username reaches a database lookup.
        raise invalid_text("Authorization")
    length = meta.get("CONTENT_LENGTH")
    if length and parse_non_negative_int(length) is None:
        # `str.isdigit()` accepts `²`, which `int()` then refuses; readers of this header trust it.
        message = "Must be ASCII digits."
        raise ValidationFailed(
            f"Content-Length: {message}", code="invalid_header", errors={"Content-Length": [message]}
        )


def check_query_string(query_string: str) -> None:
    """Every name and value, percent-decoded as the strict UTF-8 Django would decode leniently."""
    try:
        raw = query_string.encode("latin-1")  # WSGI and ASGI both hand the bytes over as latin-1
    except UnicodeEncodeError as error:
        raise invalid_text("query string") from error
    for pair in raw.split(b"&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition(b"=")
        try:
            name = unquote_to_bytes(raw_name.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError as error:
            raise invalid_text("query string", "A parameter name is not valid UTF-8.") from error
        try:
            value = unquote_to_bytes(raw_value.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError as error:
            raise invalid_text(name, "Not valid UTF-8.") from error
        check_text(name, name, in_query=True)
        check_text(name, value, in_query=True)


class HostileInputMiddleware:
    """Refuse NUL, lone surrogates, invalid UTF-8 and impossible offsets in the path, query string and
    headers, on every path (the admin's search box reaches the database as much as the API does)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            if has_invalid_character(request.path):
                raise invalid_text("path")
            check_query_string(request.META.get("QUERY_STRING", ""))
            check_headers(request.META)
        except ApplicationError as error:
            if is_api_path(request.path):
                return problem_response(error.status, error.code, error.message, errors=error.errors)
            return HttpResponseBadRequest(error.message, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


class ServerTimingMiddleware:
    """`Server-Timing: db;dur=…, app;dur=…` on every answer (W3C Server Timing; browsers' developer
    tools and the benchmarks read it): milliseconds spent in SQL statements on the default
    connection (sent and waited for) and in the whole Django request below this middleware, so
    what a client measures beyond `app` is the network and the WSGI server. Installed only with
    SERVER_TIMING=1: the figures tell a client how long the server's work took."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from django.db import connection

        spent = [0.0, 0]

        def timed(execute, sql, params, many, context):
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                spent[0] += time.perf_counter() - started
                spent[1] += 1

        started = time.perf_counter()
        with connection.execute_wrapper(timed):
            response = self.get_response(request)
        app = time.perf_counter() - started
        response["Server-Timing"] = (
            f'db;dur={spent[0] * 1000:.2f};desc="{spent[1]} statements", app;dur={app * 1000:.2f}'
        )
        return response
