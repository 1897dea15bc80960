"""An items page built in the selector's own query (gis_layers.layers.Query._direct_page_sql)
answers value for value what the page of ids joined back to the table answers: the same
features in the same order, numberMatched, the `more` flag and the next page's keyset, for
boxes, offsets, keysets, ties and the numberMatched bound."""

import datetime as dt

import pytest

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import OrganizationFactory, UserFactory
from backend.sites.tests.factories import SiteFactory
from backend.surveys.tests.factories import SurveyFactory
from gis_layers import layers
from gis_layers.layers import CGCS2000, LAYERS, WEB_MERCATOR, Query

pytestmark = pytest.mark.django_db

TIE = dt.datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=dt.UTC)


def _joined_back(query: Query, **page) -> layers.Page:
    """The page as the page of ids joined back on id answers it (the path for DISTINCT
    selectors and layers placed by their site)."""
    original = Query._direct_page_sql
    Query._direct_page_sql = lambda self, *args, **kwargs: None
    try:
        return query.page(**page)
    finally:
        Query._direct_page_sql = original


def _official():
    department = OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370211")
    return UserFactory(organization=department, roles=[Role.OFFICIAL])


@pytest.mark.parametrize("bound", [3, 10_000])
def test_a_page_built_in_the_selector_query_is_the_joined_back_page(monkeypatch, bound):
    monkeypatch.setattr(layers, "NUMBER_MATCHED_MAX", bound)
    sites = SiteFactory.create_batch(7)
    # Three share a created_at: the id breaks the tie, and a keyset lands inside them.
    type(sites[0]).all_objects.filter(pk__in=[s.pk for s in sites[:3]]).update(created_at=TIE)
    user = _official()
    layer = LAYERS["sites"]
    box = (120.0, 35.0, 121.0, 37.0)
    for query in (Query(layer=layer, user=user), Query(layer=layer, user=user, bbox=box)):
        assert query._direct_page_sql(query._scoped_in_time(), "1", limit=1, offset=0) is not None
        pages = [(2, 0, None), (2, 2, None), (3, 6, None), (2, 7, None), (2, 20, None), (10, 0, None)]
        first = query.page(limit=2, offset=0)
        pages += [(2, 2, first.last), (5, 0, first.last), (2, 0, (TIE, max(s.pk for s in sites[:3])))]
        for limit, offset, after in pages:
            direct = query.page(limit=limit, offset=offset, after=after)
            assert direct == _joined_back(query, limit=limit, offset=offset, after=after), (limit, offset, after)
        assert first.returned == 2 and first.more


def test_a_user_who_sees_nothing_gets_the_same_empty_page():
    SiteFactory.create_batch(2)
    outsider = UserFactory(organization=OrganizationFactory(kind=OrganizationKind.BUILDER), roles=[])
    query = Query(layer=LAYERS["sites"], user=outsider)
    page = query.page(limit=2, offset=0)
    assert page == _joined_back(query, limit=2, offset=0)
    assert page.features == b"[]" and page.matched == 0 and page.last is None


@pytest.mark.parametrize("crs", [CGCS2000, WEB_MERCATOR])
def test_a_feature_without_a_geometry_and_other_crss_print_the_same(crs):
    [site] = SiteFactory.create_batch(1)
    SurveyFactory(case=site.case, site=site, location=None)
    SurveyFactory(case=site.case, site=site)
    query = Query(layer=LAYERS["surveys"], user=_official(), crs=crs)
    page = query.page(limit=10, offset=0)
    assert page == _joined_back(query, limit=10, offset=0)
    assert page.returned == 2 and b'"geometry" : null' in page.features
