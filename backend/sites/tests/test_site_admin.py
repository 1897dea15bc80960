import pytest

from backend.accounts.tests.factories import UserFactory
from backend.audit.models import AuditEntry
from backend.cases.tests.factories import ApprovalCaseFactory
from backend.sites.models import Site
from backend.sites.tests.factories import DEMO_RING

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_superuser=True, is_staff=True, organization=None))
    return client


def test_admin_add_page_shows_the_map_widget(admin_client):
    response = admin_client.get("/admin/sites/site/add/")
    assert response.status_code == 200
    assert b"ol.js" in response.content or b"MapWidget" in response.content


def test_admin_creates_through_the_service(admin_client):
    case = ApprovalCaseFactory()
    # The map widget works in web mercator; an explicit SRID says these are lon/lat.
    boundary = "SRID=4326;POLYGON((" + ", ".join(f"{x} {y}" for x, y in DEMO_RING) + "))"
    response = admin_client.post(
        "/admin/sites/site/add/",
        {"project": case.project_id, "case": case.pk, "name": "后台地块", "address": "", "boundary": boundary},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    site = Site.objects.get()
    assert 30_000 < site.area_m2 < 32_000
    assert AuditEntry.objects.filter(record_type="site", record_id=site.pk, action="create").count() == 1


def test_admin_refuses_a_bowtie_without_saving(admin_client):
    case = ApprovalCaseFactory()
    bowtie = [[120.17, 35.96], [120.18, 35.97], [120.18, 35.96], [120.17, 35.97], [120.17, 35.96]]
    response = admin_client.post(
        "/admin/sites/site/add/",
        {
            "project": case.project_id,
            "case": case.pk,
            "name": "x",
            "boundary": "SRID=4326;POLYGON((" + ", ".join(f"{x} {y}" for x, y in bowtie) + "))",
        },
    )
    assert response.status_code == 200
    assert "Self-intersection" in response.content.decode()
    assert Site.all_objects.count() == 0
