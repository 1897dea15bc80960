"""An administrator sees every case, so their utility layers read the record table alone: no
`case_id IN (SELECT id FROM cases)` semi-join (a probe of the cases' primary key per point, a
fifth of a z14 tile's SQL over 1M points). Everyone else keeps the semi-join, and what each
sees is unchanged (test_layers_for_every_user holds the per-role answers)."""

import math

import pytest
from django.contrib.gis.geos import Point
from django.db import connection

from backend.accounts.models import OrganizationKind, Role, UtilityType
from backend.accounts.tests.factories import OrganizationFactory, UserFactory
from backend.cases.tests.factories import ApprovalCaseFactory
from backend.utilities.models import UtilityPoint
from backend.utilities.selectors import (
    utility_applications_visible_to,
    utility_points_visible_to,
    utility_requests_visible_to,
)
from backend.utilities.tests.factories import UtilityCompanyFactory
from gis_layers.layers import LAYERS, Query

pytestmark = pytest.mark.django_db

HERE = (120.1711, 35.9607)


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def _world():
    water = UtilityCompanyFactory(utility_types=[UtilityType.WATER])
    cases = [ApprovalCaseFactory(), ApprovalCaseFactory()]
    cases[0].assigned_organizations.add(water)
    points = [
        UtilityPoint.objects.create(case=case, utility_type=UtilityType.WATER, company=water, location=Point(*HERE))
        for case in cases
    ]
    users = {
        "administrator": UserFactory(organization=None, roles=[Role.ADMINISTRATOR]),
        "inactive administrator": UserFactory(organization=None, roles=[Role.ADMINISTRATOR], is_active=False),
        "utility company": UserFactory(organization=water, roles=[Role.UTILITY_STAFF]),
        "crew without cases": UserFactory(
            organization=OrganizationFactory(kind=OrganizationKind.SURVEY_CREW), roles=[Role.SURVEYOR]
        ),
    }
    return points, users


def test_an_administrators_tile_reads_no_cases_and_the_scopes_are_unchanged():
    points, users = _world()
    x, y = _tile_of(*HERE, 14)
    layer = LAYERS["utility_points"]
    expected = {
        "administrator": {points[0].pk, points[1].pk},
        "inactive administrator": set(),
        "utility company": {points[0].pk},
        "crew without cases": set(),
    }
    for who, user in users.items():
        sql, params = Query(layer=layer, user=user).tile_sql(z=14, x=x, y=y)
        assert ("cases_approvalcase" in sql) is (who in ("utility company", "crew without cases")), who
        assert set(utility_points_visible_to(user=user).values_list("pk", flat=True)) == expected[who], who
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            body = cursor.fetchone()[0]
        # Both points are in the tile for the administrator; MVT keeps each feature's id as text.
        found = {str(pk) for pk in [points[0].pk, points[1].pk] if body is not None and str(pk).encode() in bytes(body)}
        assert found == {str(pk) for pk in expected[who]}, who


def test_an_administrator_sees_every_request_and_application_without_the_semi_join():
    _, users = _world()
    admin = users["administrator"]
    for selector in (utility_points_visible_to, utility_requests_visible_to, utility_applications_visible_to):
        assert "cases_approvalcase" not in str(selector(user=admin).query), selector.__name__
    # The inactive administrator still sees nothing at all.
    assert not utility_points_visible_to(user=users["inactive administrator"]).exists()
    assert not utility_applications_visible_to(user=users["inactive administrator"]).exists()
