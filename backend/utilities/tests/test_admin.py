from django.contrib.gis.geos import Point

from backend.accounts.models import User
from backend.utilities.models import UtilityPoint
from backend.utilities.services import utility_application_create, utility_point_create
from backend.utilities.tests.factories import VALID_DEMANDS


def test_admin_pages_render(world, client):
    utility_application_create(case=world.case, site=world.site, demands=VALID_DEMANDS, by=None)
    point, _ = utility_point_create(
        case=world.case, utility_type="gas", location=Point(120.17, 35.96, srid=4326), by=None
    )
    admin = User.objects.create(username="root", is_superuser=True, is_staff=True)
    client.force_login(admin)
    for url in [
        "/admin/utilities/utilityapplication/",
        "/admin/utilities/utilityrequest/",
        "/admin/utilities/utilitypoint/",
        "/admin/utilities/utilitypoint/add/",
        f"/admin/utilities/utilitypoint/{point.pk}/change/",
    ]:
        assert client.get(url).status_code == 200, url


def test_admin_saves_points_through_the_service(world, client):
    admin = User.objects.create(username="root", is_superuser=True, is_staff=True)
    client.force_login(admin)
    response = client.post(
        "/admin/utilities/utilitypoint/add/",
        {
            "case": str(world.case.pk),
            "utility_type": "water",
            "location": '{"type": "Point", "coordinates": [120.171, 35.961]}',
            "attributes": '{"pipe_diameter_mm": 5}',
            "name": "x",
            "note": "",
        },
    )
    assert response.status_code == 200
    assert "attributes.pipe_diameter_mm: Must be at least 15 mm." in response.content.decode()
    assert UtilityPoint.all_objects.count() == 0
    response = client.post(
        "/admin/utilities/utilitypoint/add/",
        {
            "case": str(world.case.pk),
            "utility_type": "water",
            "location": '{"type": "Point", "coordinates": [120.171, 35.961]}',
            "attributes": '{"pipe_diameter_mm": 150}',
            "name": "x",
            "note": "",
        },
    )
    assert response.status_code == 302
    point = UtilityPoint.objects.get()
    assert (point.company, point.version, point.attributes) == (world.companies["water"], 1, {"pipe_diameter_mm": 150})
