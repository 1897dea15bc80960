import pytest

from backend.accounts.models import Organization
from backend.cases.tests.factories import ApprovalCaseFactory, ProjectFactory
from backend.demo import accounts as accounts_demo
from backend.demo import sites as demo
from backend.sites.models import Site

pytestmark = pytest.mark.django_db


def test_without_demo_projects_nothing_is_seeded():
    ProjectFactory()
    demo.seed()
    assert Site.all_objects.count() == 0


def test_seed_attaches_valid_red_lines_to_the_demo_cases_once():
    accounts_demo.seed()
    builder = Organization.objects.get(name=demo.DEMO_BUILDERS[0])
    case = ApprovalCaseFactory(project=ProjectFactory(builder=builder))
    demo.seed()
    demo.seed()
    sites = list(Site.objects.order_by("name"))
    assert [s.name for s in sites] == sorted(name for name, *_ in demo.DEMO_SITES)
    assert {s.case_id for s in sites} == {case.pk}
    for site in sites:
        assert site.boundary.valid
        min_lon, min_lat, max_lon, max_lat = site.boundary.extent
        assert 120.16 <= min_lon and max_lon <= 120.20 and 35.95 <= min_lat and max_lat <= 35.98
        assert site.area_m2 > 5_000
