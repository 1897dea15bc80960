"""The real URLs plus the public verification page at /verify/ (as backend/urls.py should mount it)."""

from django.urls import include, path

from backend.urls import urlpatterns as real_urlpatterns

urlpatterns = [*real_urlpatterns, path("verify/", include("mobile_api.signatures.public_urls"))]
