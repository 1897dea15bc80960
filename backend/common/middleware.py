from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

ADMIN_PREFIX = "/admin/"
MAP_PREFIX = "/map/"


class ContentSecurityPolicyMiddleware:
    """Adds `settings.CONTENT_SECURITY_POLICY` to responses that set no policy of their own.

    The admin gets `CONTENT_SECURITY_POLICY_ADMIN`, which allows its map widget, and the web map
    `CONTENT_SECURITY_POLICY_MAP` (MapLibre's blob: workers, the base map's host). Django 5.2 has
    no built-in CSP. Views that need a stricter policy (a sandbox for served originals, say) set
    the header themselves and keep it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(ADMIN_PREFIX):
            policy = settings.CONTENT_SECURITY_POLICY_ADMIN
        elif request.path.startswith(MAP_PREFIX):
            policy = settings.CONTENT_SECURITY_POLICY_MAP
        else:
            policy = settings.CONTENT_SECURITY_POLICY
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response
