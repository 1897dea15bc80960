"""Make sure no API path ever answers with Django's HTML error pages."""

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from mobile_api.exceptions import problem_response

logger = logging.getLogger(__name__)

API_PREFIXES = ("/api/", "/ogc/", "/tiles/", "/healthz", "/readyz")


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
            # Errors raised outside DRF views (URL resolution, CSRF, request size).
            codes = {
                400: "bad_request",
                403: "permission_denied",
                404: "not_found",
                405: "method_not_allowed",
                413: "payload_too_large",
            }
            code = codes.get(response.status_code, "error")
            return problem_response(response.status_code, code, f"{response.status_code} on {request.path}")
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_path(request.path):
            return None
        from django.core.exceptions import RequestDataTooBig

        if isinstance(exception, RequestDataTooBig):
            return problem_response(413, "payload_too_large", "The request body is larger than allowed.")
        logger.exception("Unhandled error on %s", request.path)
        return problem_response(500, "server_error", "An unexpected error occurred; it has been logged.")
