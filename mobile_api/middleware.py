"""Make sure no API path ever answers with Django's HTML error pages."""

import logging
from collections.abc import Callable

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse

from mobile_api.exceptions import problem_response

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


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES)


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
        logger.exception("Unhandled error on %s %s", request.method, request.path)
        return problem_response(500, "server_error", "An unexpected error occurred; it has been logged.")
