"""iso8601_sql's fast path covers the zone's steady period around today (from its last offset
change to its next): at and around both edges of that period, and far outside it, every moment
is still spelt exactly as DRF renders it."""

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.fields import DateTimeField

from backend.layers.timestamps import _steady_period, iso8601_sql

pytestmark = pytest.mark.django_db

TICK = dt.timedelta(microseconds=1)


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/St_Johns", "Asia/Shanghai", "UTC"])
def test_the_edges_of_the_steady_period_are_spelt_as_drf_renders_them(zone):
    with timezone.override(zone), connection.cursor() as cursor:
        now = timezone.now()
        start, end = _steady_period(timezone.get_current_timezone(), zone, now)
        assert start <= now < end
        moments = [
            start - TICK,
            start,
            start + TICK,
            end - TICK,
            end,
            end + dt.timedelta(hours=1),
            now,
            now - dt.timedelta(days=366 * 40),
            now + dt.timedelta(days=366 * 5),
        ]
        expected = [DateTimeField().to_representation(moment) for moment in moments]
        cursor.execute(
            f"SELECT {iso8601_sql('m')} FROM unnest(%s::timestamptz[]) WITH ORDINALITY u (m, i) ORDER BY i",
            [moments],
        )
        assert [row[0] for row in cursor.fetchall()] == expected


def test_a_zone_with_summer_time_has_a_period_between_its_changes():
    zone = "Europe/Berlin"
    with timezone.override(zone):
        moment = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
        start, end = _steady_period(timezone.get_current_timezone(), "Europe/Berlin test", moment)
    assert (start, end) == (
        dt.datetime(2026, 10, 25, 1, 0, tzinfo=dt.UTC),
        dt.datetime(2027, 3, 28, 1, 0, tzinfo=dt.UTC),
    )
