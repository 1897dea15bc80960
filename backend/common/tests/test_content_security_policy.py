import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from backend.common.middleware import ContentSecurityPolicyMiddleware

pytestmark = pytest.mark.django_db

DEFAULT_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


ADMIN_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: blob: https://tile.openstreetmap.org; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def test_every_page_gets_the_default_policy(client, settings):
    assert settings.CONTENT_SECURITY_POLICY == DEFAULT_POLICY
    for path in ("/api/docs/", "/api/redoc/", "/ogc/", "/api/v1/users/me/", "/healthz"):
        assert client.get(path)["Content-Security-Policy"] == DEFAULT_POLICY, path


def test_the_admin_gets_the_policy_its_map_widget_needs(client, settings):
    assert settings.CONTENT_SECURITY_POLICY_ADMIN == ADMIN_POLICY
    assert client.get("/admin/login/")["Content-Security-Policy"] == ADMIN_POLICY


def test_a_view_with_its_own_policy_keeps_it():
    def sandboxed_view(request):
        response = HttpResponse(b"bytes")
        response["Content-Security-Policy"] = "sandbox; default-src 'none'"
        return response

    response = ContentSecurityPolicyMiddleware(sandboxed_view)(RequestFactory().get("/x"))
    assert response["Content-Security-Policy"] == "sandbox; default-src 'none'"


def test_an_empty_setting_sends_no_header(client, settings):
    settings.CONTENT_SECURITY_POLICY = ""
    settings.CONTENT_SECURITY_POLICY_ADMIN = ""
    assert "Content-Security-Policy" not in client.get("/ogc/")
    assert "Content-Security-Policy" not in client.get("/admin/login/")
