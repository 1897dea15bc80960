"""iso8601_sql spells a timestamptz exactly as DRF's DateTimeField renders it, in every zone and
season (its fast path is the zone's offset of today; other offsets take the general spelling)."""

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.fields import DateTimeField

from backend.layers.timestamps import iso8601_sql

pytestmark = pytest.mark.django_db

MOMENTS = [
    dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC),
    dt.datetime(2026, 3, 1, 8, 0, 0, 1, tzinfo=dt.UTC),
    dt.datetime(2026, 7, 1, 23, 59, 59, 999999, tzinfo=dt.UTC),
    dt.datetime(1988, 6, 1, 12, 0, tzinfo=dt.UTC),  # China's summer time (+09:00)
    dt.datetime(1890, 1, 1, 0, 0, 30, tzinfo=dt.UTC),  # local mean time: an offset with seconds
    dt.datetime(2026, 12, 31, 20, 30, 5, 250000, tzinfo=dt.UTC),
]


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "UTC", "America/St_Johns", "Asia/Kolkata"])
def test_iso8601_sql_is_what_drf_renders(zone):
    with timezone.override(zone), connection.cursor() as cursor:
        expected = [DateTimeField().to_representation(moment) for moment in MOMENTS]
        cursor.execute(
            f"SELECT {iso8601_sql('m')} FROM unnest(%s::timestamptz[]) WITH ORDINALITY u (m, i) ORDER BY i",
            [MOMENTS],
        )
        assert [row[0] for row in cursor.fetchall()] == expected
