"""Tiles and items carry an ETag and Last-Modified from the layers' change counter, answer 304
to a matching revalidation for one counter read, and come gzipped when the client accepts it."""

import gzip
import math

import pytest
from django.db import connection
from django.utils.http import http_date
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import user_of_kind
from backend.cases.tests.factories import ApprovalCaseFactory
from backend.layers.changes import watched_tables
from backend.sites.tests.factories import SiteFactory

pytestmark = pytest.mark.django_db

CACHE_CONTROL = "private, max-age=0, must-revalidate"


def _official(region="370211"):
    return user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.OFFICIAL], region=region)


def _client(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def _tile(lon=120.171, lat=35.9607, z=14) -> str:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return f"/tiles/sites/{z}/{x}/{y}.mvt"


def _age_the_last_change(seconds: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE gis_layers_change SET changed_at = now() - make_interval(secs => %s) RETURNING changed_at",
            [seconds],
        )
        return cursor.fetchone()[0]


def test_tile_revalidates_with_its_etag_and_changes_with_the_data():
    case = ApprovalCaseFactory()
    SiteFactory(case=case)
    client = _client(_official())
    first = client.get(_tile())
    assert first.status_code == 200
    assert first["Cache-Control"] == CACHE_CONTROL
    assert first["ETag"].startswith('W/"')
    # CORS adds Origin: the tile differs per origin only in its CORS headers, but caches must know.
    assert {v.strip().lower() for v in first["Vary"].split(",")} == {"authorization", "accept-encoding", "origin"}

    again = client.get(_tile(), HTTP_IF_NONE_MATCH=first["ETag"])
    assert (again.status_code, again.content, again["ETag"]) == (304, b"", first["ETag"])
    assert again["Cache-Control"] == CACHE_CONTROL
    # A strong spelling of the same tag, and a list holding it, match too.
    assert client.get(_tile(), HTTP_IF_NONE_MATCH=first["ETag"].removeprefix("W/")).status_code == 304
    assert client.get(_tile(), HTTP_IF_NONE_MATCH=f'"other", {first["ETag"]}').status_code == 304

    SiteFactory(case=case)
    changed = client.get(_tile(), HTTP_IF_NONE_MATCH=first["ETag"])
    assert changed.status_code == 200
    assert changed["ETag"] != first["ETag"]
    assert len(changed.content) > len(first.content)


def test_etag_is_per_user_and_moves_when_the_users_scope_does():
    case = ApprovalCaseFactory()  # region 370211
    SiteFactory(case=case)
    inside, outsider = _official(), _official(region="370100")
    inside_tag = _client(inside).get(_tile())["ETag"]
    before = _client(outsider).get(_tile())
    assert before.status_code == 204
    assert before["ETag"] != inside_tag

    # Assigning the outsider's department to the case widens its scope: the old tag is stale.
    case.assigned_organizations.add(outsider.organization)
    after = _client(outsider).get(_tile(), HTTP_IF_NONE_MATCH=before["ETag"])
    assert after.status_code == 200
    assert after["ETag"] != before["ETag"]

    # So does a change of the user's own roles or organisation.
    tag = after["ETag"]
    outsider.organization = user_of_kind(OrganizationKind.BUILDER).organization
    outsider.save(update_fields=["organization"])
    assert _client(outsider).get(_tile(), HTTP_IF_NONE_MATCH=tag).status_code == 204


def test_if_modified_since_answers_304_only_for_a_date_after_the_last_change():
    SiteFactory()
    client = _client(_official())
    changed_at = _age_the_last_change(3600)
    first = client.get("/ogc/collections/sites/items")
    assert first["Last-Modified"] == http_date(int(changed_at.timestamp()) + 1)
    assert client.get("/ogc/collections/sites/items", HTTP_IF_MODIFIED_SINCE=first["Last-Modified"]).status_code == 304
    older = http_date(int(changed_at.timestamp()) - 60)
    assert client.get("/ogc/collections/sites/items", HTTP_IF_MODIFIED_SINCE=older).status_code == 200
    # If-None-Match decides when both are sent (RFC 9110 13.2.2).
    both = client.get(
        "/ogc/collections/sites/items", HTTP_IF_MODIFIED_SINCE=first["Last-Modified"], HTTP_IF_NONE_MATCH='"x"'
    )
    assert both.status_code == 200


def test_no_last_modified_within_the_second_of_a_change():
    # A second change in the same second would share the HTTP date: the ETag alone revalidates.
    SiteFactory()
    client = _client(_official())
    _age_the_last_change(-5)  # "now", without racing the clock into the next second
    response = client.get("/ogc/collections/sites/items")
    assert response.status_code == 200
    assert "Last-Modified" not in response


def test_single_feature_revalidates_too():
    site = SiteFactory()
    client = _client(_official())
    url = f"/ogc/collections/sites/items/{site.pk}"
    first = client.get(url)
    assert first.status_code == 200
    assert client.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304


def test_revalidation_still_needs_a_login():
    SiteFactory()
    tag = _client(_official()).get(_tile())["ETag"]
    response = APIClient().get(_tile(), HTTP_IF_NONE_MATCH=tag)
    assert response.status_code == 401


def test_geojson_and_mvt_are_gzipped_when_accepted():
    case = ApprovalCaseFactory()
    for _ in range(5):
        SiteFactory(case=case)
    client = _client(_official())
    for url in ("/ogc/collections/sites/items", _tile()):
        plain = client.get(url)
        packed = client.get(url, HTTP_ACCEPT_ENCODING="br, gzip;q=0.9")
        assert "Content-Encoding" not in plain
        assert packed["Content-Encoding"] == "gzip"
        assert packed["ETag"] == plain["ETag"]
        if url.endswith(".mvt"):
            assert gzip.decompress(packed.content) == plain.content
        else:
            unpacked, body = gzip.decompress(packed.content).decode(), plain.content.decode()
            # Only the response's own timeStamp differs between two answers.
            assert unpacked.split('"timeStamp"')[0] == body.split('"timeStamp"')[0]
        assert len(packed.content) < len(plain.content)


def test_every_watched_table_has_the_change_trigger():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE t.tgname = 'gis_layers_change'"
        )
        triggered = {row[0] for row in cursor.fetchall()}
    assert triggered == set(watched_tables())


@pytest.mark.django_db(transaction=True)
def test_two_open_writers_do_not_wait_on_the_counter_and_the_version_counts_both():
    """Each writer bumps its own shard of the counter: the second commits while the first is open."""
    import threading

    from django.db import connections, transaction

    from backend.layers import changes

    first_site, second_site = SiteFactory(), SiteFactory()
    before = changes.current()[0]
    wrote, release, errors = threading.Event(), threading.Event(), []

    def holds_open():
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("UPDATE sites_site SET name = name || '甲' WHERE id = %s", [first_site.pk])
                wrote.set()
                release.wait(30)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections.close_all()

    holder = threading.Thread(target=holds_open)
    holder.start()
    try:
        assert wrote.wait(30)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '5s'")
            cursor.execute("UPDATE sites_site SET name = name || '乙' WHERE id = %s", [second_site.pk])
        during = changes.current()[0]
    finally:
        release.set()
        holder.join(30)

    assert errors == []
    assert during == before + 1
    assert changes.current()[0] == before + 2
