"""A statement PostgreSQL cancels (DATABASE_STATEMENT_TIMEOUT_MS, set for the API server in
docker-compose) answers 503 query_timeout with Retry-After, as problem+json, on REST and GIS paths."""

import pytest
from django.db import connection
from django.http import HttpResponse
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.urls import urlpatterns as real_urlpatterns

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


def _slow_statement() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = 20")
        cursor.execute("SELECT pg_sleep(5)")


class SlowApiView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get(self, request):
        _slow_statement()
        return Response({})


class BrokenApiView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get(self, request):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 / 0")
        return Response({})


def slow_gis_view(request):
    _slow_statement()
    return HttpResponse("never")


urlpatterns = [
    path("api/v1/test/slow", SlowApiView.as_view()),
    path("api/v1/test/broken", BrokenApiView.as_view()),
    path("tiles/test/slow", slow_gis_view),
    *real_urlpatterns,
]


@pytest.mark.parametrize("url", ["/api/v1/test/slow", "/tiles/test/slow"])
def test_a_cancelled_statement_is_503_query_timeout(client, url):
    response = client.get(url)
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert response["Retry-After"] == "5"
    body = response.json()
    assert (body["code"], body["status"], body["type"]) == ("query_timeout", 503, "/problems/query_timeout")


def test_any_other_database_error_stays_500_server_error(client):
    response = client.get("/api/v1/test/broken")
    assert response.status_code == 500
    assert response.json()["code"] == "server_error"


def test_the_api_document_lists_the_timeout_answer_on_every_operation(client):
    document = client.get("/api/schema/", {"format": "json"}).json()
    operations = [
        (path_, method, operation)
        for path_, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "put", "patch", "post", "delete", "head", "options"}
    ]
    assert len(operations) > 50
    missing = [
        f"{method.upper()} {path_}" for path_, method, operation in operations if "503" not in operation["responses"]
    ]
    assert missing == []
    nearby = document["paths"]["/api/v1/utility-points/nearby/"]["get"]["responses"]["503"]
    assert "query_timeout" in nearby["description"]
    assert set(nearby["headers"]) == {"Retry-After"}
