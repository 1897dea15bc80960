from django.http import HttpRequest, JsonResponse

from backend.common.health import readiness_problems
from mobile_api.exceptions import problem_response


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    problems = readiness_problems()
    if problems:
        return problem_response(503, "not_ready", "; ".join(problems.values()), extra={"checks": problems})
    return JsonResponse({"status": "ready"})
