"""The demo world the suite copies back in (tests/demo_world_plugin.py) is the one seed_demo builds."""

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from backend.accounts.models import User
from backend.cases.models import CalendarDay
from backend.evidence.models import Photo
from tests.demo_world_plugin import restore

pytestmark = pytest.mark.django_db


def _counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename NOT IN ('django_migrations', 'spatial_ref_sys', 'gis_layers_change')"
        )
        tables = [name for (name,) in cursor.fetchall()]
        cursor.execute(
            " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {connection.ops.quote_name(t)}" for t in tables)
        )
        return dict(cursor.fetchall())


def test_seed_demo_over_the_copy_adds_nothing(demo_rows, demo_snapshot):
    copied = _counts()
    assert copied["audit_auditentry"] > 0 and copied["evidence_photo"] > 0 and copied["signatures_signature"] > 0
    # seed_demo is idempotent: over a complete copy it finds everything it would write.
    call_command("seed_demo", verbosity=0)
    assert _counts() == copied
    assert demo_snapshot.restores >= 1 or not demo_snapshot.can_copy


def test_the_copy_brings_the_files_and_new_rows_get_fresh_ids(demo_rows, demo_snapshot):
    admin = APIClient()
    admin.force_authenticate(User.objects.get(username="admin"))
    photo = Photo.objects.first()
    response = admin.get(f"/api/v1/photos/{photo.pk}/original/")
    assert response.status_code == 200, response.content
    assert b"".join(response.streaming_content if response.streaming else [response.content])
    # Every sequence of a copied table is past the copied ids: new rows do not collide.
    assert demo_snapshot.sequences, "the audit log and the feed number their rows"
    with connection.cursor() as cursor:
        for table, column, sequence in demo_snapshot.sequences:
            cursor.execute(f"SELECT nextval(%s) > (SELECT coalesce(max({column}), 0) FROM {table})", [sequence])
            assert cursor.fetchone()[0], (table, column)


def test_a_changed_baseline_is_seeded_instead_of_copied(db, demo_snapshot):
    rebuilds = demo_snapshot.rebuilds
    CalendarDay.objects.order_by("date").first().delete()
    restore(demo_snapshot)
    assert demo_snapshot.rebuilds == rebuilds + 1
    assert User.objects.filter(username="admin").exists()
