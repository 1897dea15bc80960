"""A URL configuration for tests only: the real routes plus views that fail on purpose."""

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.http import require_POST
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.urls import handler400, handler403, handler404, handler500
from backend.urls import urlpatterns as real_urlpatterns
from mobile_api.authentication import BasicForGisAuthentication, DeviceTokenAuthentication


class ExplodingApiView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get(self, request):
        raise RuntimeError("secret internals must not leak")


class WhoAmIView(APIView):
    """Wired the way GIS views are meant to wire authentication."""

    authentication_classes = [BasicForGisAuthentication, DeviceTokenAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response({"username": request.user.username})


def exploding_django_view(request):
    raise KeyError("secret internals must not leak")


@require_POST
def post_only_django_view(request):
    return HttpResponse("ok")


urlpatterns = [
    path("api/v1/test/explode", ExplodingApiView.as_view()),
    path("api/v1/test/explode-plain", exploding_django_view),
    path("api/v1/test/post-only", post_only_django_view),
    path("api/v1/test/whoami", WhoAmIView.as_view()),
    path("ogc/test/whoami", WhoAmIView.as_view()),
    *real_urlpatterns,
]

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
