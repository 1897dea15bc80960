import math
import uuid

import pytest
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.db import IntegrityError, connection, transaction

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import user_of_kind
from backend.audit.models import AuditEntry
from backend.cases.tests.factories import ApprovalCaseFactory, ProjectFactory
from backend.common.errors import IdConflict, InvalidGeometry, NotFound, PermissionDenied, ValidationFailed
from backend.sites.models import Site
from backend.sites.selectors import sites_visible_to
from backend.sites.services import site_create, site_delete, site_update
from backend.sites.tests.factories import DEMO_RING, SiteFactory

pytestmark = pytest.mark.django_db

WGS84_A = 6378137.0
WGS84_F = 1 / 298.257223563


def ellipsoid_quadrangle_area(lon1, lat1, lon2, lat2) -> float:
    """Exact area of a lon/lat rectangle on the WGS84 ellipsoid (authalic-latitude formula)."""
    e2 = WGS84_F * (2 - WGS84_F)
    e = math.sqrt(e2)
    b = WGS84_A * (1 - WGS84_F)

    def q(lat):
        s = math.sin(math.radians(lat))
        return s / (1 - e2 * s * s) + math.log((1 + e * s) / (1 - e * s)) / (2 * e)

    return b * b / 2 * math.radians(lon2 - lon1) * (q(lat2) - q(lat1))


def official():
    return user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.OFFICIAL], region="370211")


def test_area_is_the_geodesic_area_of_the_red_line():
    case = ApprovalCaseFactory()
    site, created = site_create(case=case, name="一号地块", boundary=Polygon(DEMO_RING, srid=4326), by=official())
    expected = ellipsoid_quadrangle_area(120.1700, 35.9600, 120.1722, 35.9614)
    assert created is True
    assert 30_000 < expected < 32_000
    assert site.area_m2 == pytest.approx(expected, rel=0.005)
    site.refresh_from_db()
    assert site.area_m2 == pytest.approx(expected, rel=0.005)
    assert site.project_id == case.project_id
    assert site.version == 1


def test_area_of_a_one_kilometre_square_degree_block():
    case = ApprovalCaseFactory()
    ring = ((120.16, 35.95), (120.20, 35.95), (120.20, 35.98), (120.16, 35.98), (120.16, 35.95))
    site, _ = site_create(case=case, name="片区", boundary=Polygon(ring, srid=4326), by=None)
    assert site.area_m2 == pytest.approx(ellipsoid_quadrangle_area(120.16, 35.95, 120.20, 35.98), rel=0.005)


def test_create_is_audited_as_a_site_record():
    case = ApprovalCaseFactory()
    site, _ = site_create(case=case, name="一号地块", boundary=Polygon(DEMO_RING, srid=4326), by=None)
    entry = AuditEntry.objects.get(record_id=site.pk)
    assert (entry.record_type, entry.action, entry.version, entry.case_id) == ("site", "create", 1, case.pk)


def test_case_of_another_project_is_refused():
    case = ApprovalCaseFactory()
    other_project = ProjectFactory()
    with pytest.raises(ValidationFailed) as caught:
        site_create(project=other_project, case=case, name="x", boundary=Polygon(DEMO_RING, srid=4326), by=None)
    assert caught.value.code == "case_project_mismatch"
    assert Site.all_objects.count() == 0


def test_project_or_case_is_required():
    with pytest.raises(ValidationFailed):
        site_create(name="x", boundary=Polygon(DEMO_RING, srid=4326), by=None)
    assert Site.all_objects.count() == 0


def test_invalid_boundary_from_python_callers_is_refused_not_repaired():
    bowtie = Polygon(((0, 0), (1, 1), (1, 0), (0, 1), (0, 0)), srid=4326)
    with pytest.raises(InvalidGeometry) as caught:
        site_create(case=ApprovalCaseFactory(), name="x", boundary=bowtie, by=None)
    assert caught.value.message == "invalid geometry: Self-intersection[0.5 0.5]."
    assert Site.all_objects.count() == 0


def test_builder_cannot_draw_even_on_own_project():
    builder = user_of_kind(OrganizationKind.BUILDER, roles=[Role.BUILDER_REPRESENTATIVE])
    case = ApprovalCaseFactory(project=ProjectFactory(builder=builder.organization))
    with pytest.raises(PermissionDenied):
        site_create(case=case, name="x", boundary=Polygon(DEMO_RING, srid=4326), by=builder)
    assert Site.all_objects.count() == 0


def test_survey_crew_cannot_draw_on_a_case_it_is_not_assigned_to():
    crew = user_of_kind(OrganizationKind.SURVEY_CREW, roles=[Role.SURVEYOR])
    with pytest.raises(NotFound):
        site_create(case=ApprovalCaseFactory(), name="x", boundary=Polygon(DEMO_RING, srid=4326), by=crew)
    assert Site.all_objects.count() == 0


def test_update_recomputes_area_and_bumps_version():
    site = SiteFactory()
    bigger = Polygon(((120.17, 35.96), (120.18, 35.96), (120.18, 35.97), (120.17, 35.97), (120.17, 35.96)), srid=4326)
    updated = site_update(
        instance=site, changes={"boundary": bigger, "name": "扩大"}, by=official(), expected_version=1
    )
    assert updated.version == 2
    assert updated.name == "扩大"
    assert updated.area_m2 == pytest.approx(ellipsoid_quadrangle_area(120.17, 35.96, 120.18, 35.97), rel=0.005)


def test_update_moving_to_a_case_takes_its_project():
    site = SiteFactory()
    other_case = ApprovalCaseFactory()
    updated = site_update(instance=site, changes={"case": other_case}, by=None)
    assert (updated.case_id, updated.project_id) == (other_case.pk, other_case.project_id)


def test_same_client_id_replays_and_other_content_conflicts():
    case = ApprovalCaseFactory()
    record_id = uuid.UUID("6f1f3c0a-2f4b-4a8e-9d4e-5b8f0a1c2d3e")
    boundary = Polygon(DEMO_RING, srid=4326)
    first, created = site_create(case=case, name="a", boundary=boundary, by=None, record_id=record_id, digest="d1")
    again, created_again = site_create(
        case=case, name="a", boundary=boundary, by=None, record_id=record_id, digest="d1"
    )
    assert (created, created_again, again.pk) == (True, False, first.pk)
    with pytest.raises(IdConflict):
        site_create(case=case, name="b", boundary=boundary, by=None, record_id=record_id, digest="d2")
    assert list(Site.all_objects.values_list("name", flat=True)) == ["a"]


def test_delete_leaves_a_tombstone_hidden_from_selectors():
    admin = user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.ADMINISTRATOR])
    site = SiteFactory()
    site_delete(instance=site, by=admin)
    assert Site.all_objects.get(pk=site.pk).deleted_at is not None
    assert list(sites_visible_to(user=admin)) == []


def test_multipolygon_is_accepted():
    west = Polygon(DEMO_RING, srid=4326)
    east = Polygon(tuple((x + 0.01, y) for x, y in DEMO_RING), srid=4326)
    site, _ = site_create(
        case=ApprovalCaseFactory(), name="两片", boundary=MultiPolygon(west, east, srid=4326), by=None
    )
    assert site.area_m2 == pytest.approx(2 * ellipsoid_quadrangle_area(120.1700, 35.9600, 120.1722, 35.9614), rel=0.005)


# --- the database refuses what the service refuses, even from raw SQL --------------------


def _raw_insert(boundary_wkt: str, srid: int = 4326) -> None:
    case = ApprovalCaseFactory()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO sites_site (id, project_id, case_id, name, address, boundary, area_m2, version,
                                    created_at, updated_at, device_id, is_locked, field_versions, client_digest)
            VALUES (gen_random_uuid(), %s, %s, 'raw', '', ST_GeomFromText(%s, %s), 1, 1,
                    now(), now(), '', false, '{}', '')
            """,
            [case.project_id, case.pk, boundary_wkt, srid],
        )


def test_raw_insert_of_a_valid_polygon_works():
    _raw_insert("POLYGON((120.17 35.96, 120.18 35.96, 120.18 35.97, 120.17 35.96))")
    assert Site.all_objects.filter(name="raw").count() == 1


@pytest.mark.parametrize(
    ("wkt", "constraint"),
    [
        ("POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))", "sites_site_boundary_valid"),
        ("POINT(120.17 35.96)", "sites_site_boundary_polygonal"),
        ("LINESTRING(120.17 35.96, 120.18 35.97)", "sites_site_boundary_polygonal"),
        ("POLYGON((179 0, 181 0, 181 1, 179 0))", "sites_site_boundary_in_range"),
        ("POLYGON((0 89, 1 89, 1 91, 0 89))", "sites_site_boundary_in_range"),
    ],
)
def test_raw_insert_of_a_bad_boundary_is_refused(wkt, constraint):
    with pytest.raises(IntegrityError) as caught:
        _raw_insert(wkt)
    assert constraint in str(caught.value)
    assert Site.all_objects.count() == 0
