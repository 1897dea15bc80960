"""Server-Timing (SERVER_TIMING=1): the SQL time and statement count of the request, and the whole
request's time below the middleware, on every answer; nothing when it is off."""

import re

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from rest_framework.test import APIClient

from backend.accounts.models import Role
from backend.accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TIMED = ["mobile_api.middleware.ServerTimingMiddleware", *settings.MIDDLEWARE]
HEADER = re.compile(r'^db;dur=(\d+\.\d\d);desc="(\d+) statements", app;dur=(\d+\.\d\d)$')


def _client() -> APIClient:
    client = APIClient()
    client.force_authenticate(UserFactory(is_superuser=True, roles=[Role.ADMINISTRATOR]))
    return client


@override_settings(MIDDLEWARE=TIMED)
def test_an_answer_says_its_sql_time_and_statements_within_the_requests_time():
    client, statements = _client(), []

    def counting(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counting):
        response = client.get("/ogc/collections/utility_points/items?limit=5")
    assert response.status_code == 200
    db, count, app = HEADER.match(response["Server-Timing"]).groups()
    assert int(count) == len(statements) >= 1
    assert 0 < float(db) <= float(app)


@override_settings(MIDDLEWARE=TIMED)
def test_an_error_answer_is_timed_too():
    response = _client().get("/tiles/no_such_layer/1/0/0.mvt")
    assert response.status_code == 404
    assert HEADER.match(response["Server-Timing"])


def test_off_by_default():
    assert "mobile_api.middleware.ServerTimingMiddleware" not in settings.MIDDLEWARE
    assert "Server-Timing" not in _client().get("/ogc/collections/utility_points/items?limit=5")
