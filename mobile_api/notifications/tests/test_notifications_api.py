"""`notifications/`: each user reads and marks only their own notices."""

import datetime as dt

import pytest
from rest_framework.test import APIClient

from backend.accounts.tests.factories import UserFactory
from backend.notifications.models import Notification
from backend.notifications.services import notifications_send

pytestmark = pytest.mark.django_db


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def send(user, subject, day=dt.date(2026, 12, 1)):
    return notifications_send(
        recipients=[user], kind="calendar_horizon", subject=subject, day=day, title=f"标题 {subject}", body="正文"
    )[0]


@pytest.fixture
def me():
    return UserFactory()


@pytest.fixture
def other():
    return UserFactory()


def test_the_list_shows_only_my_notices_and_filters_unread(me, other):
    first = send(me, "a")
    second = send(me, "b")
    send(other, "a")
    Notification.objects.filter(pk=first.pk).update(read_at="2026-12-01T09:00:00+08:00")
    body = client_for(me).get("/api/v1/notifications/").json()
    assert body["count"] == 2
    assert {row["id"] for row in body["results"]} == {str(first.pk), str(second.pk)}
    unread = client_for(me).get("/api/v1/notifications/?unread=true").json()
    assert [(row["id"], row["is_read"], row["title"]) for row in unread["results"]] == [
        (str(second.pk), False, "标题 b")
    ]
    read = client_for(me).get("/api/v1/notifications/?unread=false").json()
    assert [row["id"] for row in read["results"]] == [str(first.pk)]
    response = client_for(me).get("/api/v1/notifications/?unread=maybe")
    assert (response.status_code, response.json()["code"]) == (400, "validation_error")


def test_marking_one_read(me, other):
    mine = send(me, "a")
    theirs = send(other, "a")
    response = client_for(me).post(f"/api/v1/notifications/{mine.pk}/read")
    assert response.status_code == 200
    assert response.json()["is_read"] is True
    mine.refresh_from_db()
    first_read = mine.read_at
    assert first_read is not None
    assert client_for(me).post(f"/api/v1/notifications/{mine.pk}/read").status_code == 200
    mine.refresh_from_db()
    assert mine.read_at == first_read  # reading again keeps the first time
    response = client_for(me).post(f"/api/v1/notifications/{theirs.pk}/read")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_marking_all_read_touches_only_mine(me, other):
    send(me, "a")
    send(me, "b")
    theirs = send(other, "a")
    response = client_for(me).post("/api/v1/notifications/read-all")
    assert response.json() == {"marked_read": 2}
    assert client_for(me).get("/api/v1/notifications/?unread=true").json()["count"] == 0
    assert client_for(me).post("/api/v1/notifications/read-all").json() == {"marked_read": 0}
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_sending_is_once_per_subject_and_day(me):
    assert (
        len(
            notifications_send(
                recipients=[me, me], kind="calendar_horizon", subject="x", day=dt.date(2026, 12, 1), title="t"
            )
        )
        == 1
    )
    assert (
        notifications_send(recipients=[me], kind="calendar_horizon", subject="x", day=dt.date(2026, 12, 1), title="t")
        == []
    )
    assert Notification.objects.count() == 1


def test_anonymous_is_401():
    assert APIClient().get("/api/v1/notifications/").status_code == 401
