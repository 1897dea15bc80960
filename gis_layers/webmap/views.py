from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.urls import reverse, reverse_lazy
from django.views.generic import TemplateView

from backend.admin_site import ThrottledAuthenticationForm
from gis_layers.layers import LAYERS, Layer

# The property a layer's date filter reads (the OGC layer's time, as far as the tile has it).
TIME_PROPERTIES = {"surveys": "scheduled_at", "inspections": "scheduled_at", "photos": "taken_at"}


def _layer_config(layer: Layer) -> dict[str, Any]:
    statuses = []
    if "status" in layer.properties:
        statuses = [
            {"value": value, "label": str(label)} for value, label in layer.model._meta.get_field("status").choices
        ]
    return {
        "name": layer.name,
        "title": layer.title,
        "geometry_type": layer.geometry_type,
        "statuses": statuses,
        "time_property": TIME_PROPERTIES.get(layer.name, "created_at"),
    }


class MapLoginView(auth_views.LoginView):
    """Django's login with the API login's failure limiter; 429 while the limit is reached."""

    template_name = "map/login.html"
    authentication_form = ThrottledAuthenticationForm
    redirect_authenticated_user = True
    next_page = reverse_lazy("map")

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.retry_after is not None:
            response.status_code = 429
            response["Retry-After"] = str(form.retry_after)
        return response


class MapLogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("map-login")


class MapView(LoginRequiredMixin, TemplateView):
    """The page and its configuration; the data comes from /tiles/, /ogc/ and /api/v1/ with the session."""

    template_name = "map/index.html"
    login_url = reverse_lazy("map-login")

    def get_context_data(self, **kwargs) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["map_config"] = {
            "user": self.request.user.get_username(),
            "layers": [_layer_config(layer) for layer in LAYERS.values()],
            "base": (
                {
                    "url": settings.MAP_BASE_TILES_URL,
                    "crs": settings.MAP_BASE_TILES_CRS,
                    "attribution": settings.MAP_BASE_TILES_ATTRIBUTION,
                }
                if settings.MAP_BASE_TILES_URL
                else None
            ),
            "urls": {
                "tilejson": "/tiles/{layer}.json",
                "item": "/ogc/collections/{layer}/items/{id}",
                "cases": "/api/v1/cases/",
                "projects": "/api/v1/projects/",
                "sites": "/api/v1/sites/",
                "timeline": "/api/v1/cases/{id}/timeline/",
                "photo": "/api/v1/photos/{id}/",
                "logout": reverse("map-logout"),
            },
        }
        return context
