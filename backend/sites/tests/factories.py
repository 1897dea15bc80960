import factory
from django.contrib.gis.geos import Polygon

from backend.cases.tests.factories import ApprovalCaseFactory
from backend.sites.models import Site
from backend.sites.services import geodesic_area_m2

# A ~200 m × 155 m plot in the Qingdao West Coast New Area (WGS84).
DEMO_RING = ((120.1700, 35.9600), (120.1722, 35.9600), (120.1722, 35.9614), (120.1700, 35.9614), (120.1700, 35.9600))


class SiteFactory(factory.django.DjangoModelFactory):
    """A site written directly (no audit entry); use backend.sites.services to test behaviour."""

    class Meta:
        model = Site

    case = factory.SubFactory(ApprovalCaseFactory)
    project = factory.LazyAttribute(lambda o: o.case.project)
    name = factory.Sequence(lambda n: f"地块{n}")
    boundary = factory.LazyFunction(lambda: Polygon(DEMO_RING, srid=4326))
    area_m2 = factory.LazyAttribute(lambda o: geodesic_area_m2(boundary=o.boundary))
