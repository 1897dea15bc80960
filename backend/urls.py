from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView

from backend.api_schema import CachedSchemaView
from mobile_api import health
from mobile_api.exceptions import problem_response
from mobile_api.middleware import is_api_path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("mobile_api.urls")),
    path("api/schema/", CachedSchemaView.as_view(), name="schema"),
    # The split view loads its script from a URL instead of inline, which the CSP allows.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema", template_name="docs/redoc.html"), name="redoc"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # Public: the QR code on a printed acceptance opinion points here; no login.
    path("verify/certificates/", include("mobile_api.onsite.public_urls")),
    path("verify/", include("mobile_api.signatures.public_urls")),
    path("map/", include("gis_layers.webmap.urls")),
    path("", include("gis_layers.urls")),
]


def _html_or_problem(status: int, code: str, detail: str, fallback):
    def handler(request, *args, **kwargs):
        if is_api_path(request.path):
            return problem_response(status, code, detail)
        return fallback(request, *args, **kwargs)

    return handler


from django.views import defaults  # noqa: E402

handler400 = _html_or_problem(400, "bad_request", "The request could not be understood.", defaults.bad_request)
handler403 = _html_or_problem(403, "permission_denied", "You may not do this.", defaults.permission_denied)
handler404 = _html_or_problem(404, "not_found", "Nothing is here.", defaults.page_not_found)
handler500 = _html_or_problem(
    500, "server_error", "An unexpected error occurred; it has been logged.", defaults.server_error
)
