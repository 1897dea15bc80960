"""Liveness (`/healthz`) and readiness (`/readyz`) for load balancers and orchestrators."""

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from backend.common.health import readiness_problems
from mobile_api.exceptions import problem_response


def _get_only(view: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """GET/HEAD only, answering other methods with a 405 problem (CSRF would otherwise say 403)."""

    @csrf_exempt
    @wraps(view)
    def wrapped(request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            response = problem_response(405, "method_not_allowed", f'Method "{request.method}" not allowed.')
            response["Allow"] = "GET, HEAD"
            return response
        return view(request)

    return wrapped


@_get_only
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@_get_only
def readyz(request: HttpRequest) -> JsonResponse:
    problems = readiness_problems()
    if problems:
        return problem_response(503, "not_ready", "; ".join(problems.values()), extra={"checks": problems})
    return JsonResponse({"status": "ready"})
