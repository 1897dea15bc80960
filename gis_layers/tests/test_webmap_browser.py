"""/map/ in a real browser: Debian's Chromium driven by Playwright against a live server.

Two users of different scopes log in through the map's login page. Each sees, rendered, exactly
the features REST lists for them; a click opens the record; the timeline link lists the case's
records; search and filters narrow the map. Nothing is fetched from outside, the page logs no
console error and its Content-Security-Policy blocks nothing.
"""

from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from django.contrib.gis.geos import Point, Polygon
from playwright.sync_api import sync_playwright
from rest_framework.test import APIClient

from backend.acceptance.models import Inspection
from backend.accounts.models import OrganizationKind, Role, UtilityType
from backend.accounts.tests.factories import PASSWORD, OrganizationFactory, UserFactory
from backend.evidence.models import LocationSource, Photo
from backend.evidence.tests.factories import BlobFactory
from backend.sites.tests.factories import SiteFactory
from backend.surveys.tests.factories import FindingFactory, SurveyFactory
from backend.utilities.models import UtilityPoint
from backend.utilities.tests.factories import UtilityCompanyFactory
from gis_layers.layers import LAYERS

CHROMIUM = "/usr/bin/chromium"
# SwiftShader gives headless Chromium the WebGL that MapLibre draws with.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
RECORD_CSP_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""
REST_PATHS = {
    "sites": "/api/v1/sites/",
    "surveys": "/api/v1/surveys/",
    "findings": "/api/v1/findings/",
    "utility_points": "/api/v1/utility-points/",
    "inspections": "/api/v1/inspections/",
    "photos": "/api/v1/photos/",
}
# Every feature's id per layer, as rendered now (tiles repeat a feature across their borders).
RENDERED_IDS = """
() => {
  const map = window.fieldMap.map;
  const out = {};
  for (const [styleId, layer] of Object.entries(window.fieldMap.clickable)) {
    if (styleId !== layer) continue;
    const ids = new Set(map.queryRenderedFeatures({ layers: [styleId] }).map((f) => f.properties.id));
    out[layer] = [...ids].sort();
  }
  out.cases = [...new Set(map.queryRenderedFeatures({ layers: ["cases"] }).map((f) => f.properties.case_id))].sort();
  return out;
}
"""
SETTLED = "async () => { await window.fieldMap.ready; await new Promise((r) => setTimeout(r, 300)); await window.fieldMap.idle(); return true; }"

pytestmark = pytest.mark.django_db(transaction=True)


def _world() -> SimpleNamespace:
    """Case A (assigned to a water company) with a record in every layer, each at its own spot
    inside the plot; case B elsewhere with a site and a survey; a power company's point on A."""
    site_a = SiteFactory()
    case_a = site_a.case
    water = UtilityCompanyFactory(utility_types=[UtilityType.WATER])
    power = UtilityCompanyFactory(utility_types=[UtilityType.POWER])
    case_a.assigned_organizations.add(water)

    def at(dx: int, dy: int) -> Point:
        return Point(120.1702 + dx * 0.0003, 35.9602 + dy * 0.0003, srid=4326)

    survey = SurveyFactory(case=case_a, site=site_a, location=at(0, 0))
    FindingFactory(case=case_a, survey=survey, location=at(1, 1))
    water_point = UtilityPoint.objects.create(
        case=case_a, utility_type=UtilityType.WATER, company=water, location=at(2, 2)
    )
    UtilityPoint.objects.create(case=case_a, utility_type=UtilityType.POWER, company=power, location=at(3, 3))
    Inspection.objects.create(case=case_a, site=site_a, stage=1, location=at(4, 0))
    photo = Photo.objects.create(
        case=case_a,
        record_type="site",
        record_id=site_a.pk,
        blob=BlobFactory(),
        content_type="image/jpeg",
        width=4,
        height=3,
        location=at(5, 1),
        location_source=LocationSource.DEVICE,
    )
    east = ((120.1750, 35.9600), (120.1770, 35.9600), (120.1770, 35.9614), (120.1750, 35.9614), (120.1750, 35.9600))
    site_b = SiteFactory(boundary=Polygon(east, srid=4326))
    SurveyFactory(case=site_b.case, site=site_b, location=Point(120.1760, 35.9607, srid=4326))
    users = {
        "administrator": UserFactory(username="map-admin", organization=None, roles=[Role.ADMINISTRATOR]),
        "utility_company": UserFactory(username="map-water", organization=water, roles=[Role.UTILITY_STAFF]),
    }
    OrganizationFactory(kind=OrganizationKind.SURVEY_CREW)
    return SimpleNamespace(
        users=users, case_a=case_a, case_b=site_b.case, water_point=water_point, photo=photo, survey=survey
    )


def _rest_ids(user) -> dict[str, list[str]]:
    client = APIClient()
    client.force_authenticate(user)
    ids = {}
    for layer, path in REST_PATHS.items():
        body = client.get(path, {"limit": 1000}).json()
        rows = body.get("features") if "features" in body else body["results"]
        rows = rows if rows is not None else body["results"]["features"]
        ids[layer] = sorted(str(row["id"]) for row in rows)
    return ids


def _timeline_count(user, case) -> int:
    client = APIClient()
    client.force_authenticate(user)
    return client.get(f"/api/v1/cases/{case.pk}/timeline/", {"limit": 500}).json()["count"]


def _open_page(browser, live_server, username: str):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.add_init_script(RECORD_CSP_VIOLATIONS)
    page.outside_requests = []
    page.console_errors = []

    def only_local(route):
        url = route.request.url
        if urlsplit(url).hostname in LOCAL_HOSTS or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            page.outside_requests.append(url)
            route.abort()

    page.route("**/*", only_local)
    page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))
    page.goto(f"{live_server.url}/map/")
    assert page.url == f"{live_server.url}/map/login/?next=/map/"
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/map/")
    assert page.evaluate(SETTLED) is True
    return context, page


def _click_feature(page, coordinates) -> str:
    """Clicks the map where `coordinates` are drawn and returns the popup's feature id."""
    box = page.locator("#map canvas").bounding_box()
    x, y = page.evaluate(
        "([lon, lat]) => { const p = window.fieldMap.map.project([lon, lat]); return [p.x, p.y]; }", coordinates
    )
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.evaluate("() => window.fieldMap.lastClick")
    popup = page.locator(".maplibregl-popup .popup")
    popup.wait_for(timeout=30_000)
    return popup.get_attribute("data-feature-id")


def test_two_users_see_their_features_open_records_and_filter(live_server):
    world = _world()
    expected = {name: _rest_ids(user) for name, user in world.users.items()}
    timeline_count = _timeline_count(world.users["administrator"], world.case_a)
    # The scopes differ: the water company sees its point, not the power company's, nor case B.
    assert len(expected["administrator"]["utility_points"]) == 2
    assert expected["utility_company"]["utility_points"] == [str(world.water_point.pk)]
    assert expected["administrator"]["sites"] != expected["utility_company"]["sites"]
    water_point = list(world.water_point.location.coords)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # --- the administrator ------------------------------------------------------------
            context, page = _open_page(browser, live_server, "map-admin")
            rendered = page.evaluate(RENDERED_IDS)
            assert {layer: rendered[layer] for layer in LAYERS} == expected["administrator"]
            assert rendered["cases"] == sorted([str(world.case_a.pk), str(world.case_b.pk)])
            # A click opens the record from its OGC item, in the popup.
            assert _click_feature(page, water_point) == str(world.water_point.pk)
            popup_text = page.locator(".maplibregl-popup .popup").inner_text()
            assert "utility_type" in popup_text and "water" in popup_text
            # The same handler opens a photo; then the case timeline lists the case's records.
            page.evaluate(f"() => window.fieldMap.showFeature('photos', '{world.photo.pk}')")
            page.locator(f".popup[data-feature-id='{world.photo.pk}']").wait_for()
            page.click(f".popup[data-feature-id='{world.photo.pk}'] .timeline-link")
            page.locator("#timeline-entries li").nth(timeline_count - 1).wait_for()
            assert page.locator("#timeline-entries li").count() == timeline_count
            # Search by case number: only case B's features remain.
            page.fill("#search-input", world.case_b.external_no)
            page.click("#search button[type=submit]")
            page.locator("#search-result", has_text=world.case_b.external_no).wait_for()
            assert page.evaluate(SETTLED) is True
            rendered = page.evaluate(RENDERED_IDS)
            assert rendered["cases"] == [str(world.case_b.pk)]
            assert len(rendered["sites"]) == 1 and len(rendered["surveys"]) == 1
            assert rendered["utility_points"] == [] and rendered["photos"] == []
            # The English strings.
            page.click("#language")
            assert page.locator("[data-i18n=layers]").inner_text() == "Layers"
            assert page.console_errors == []
            assert page.evaluate("window.cspViolations") == []
            assert page.outside_requests == []
            context.close()

            # --- the water company's user ---------------------------------------------------------
            context, page = _open_page(browser, live_server, "map-water")
            rendered = page.evaluate(RENDERED_IDS)
            assert {layer: rendered[layer] for layer in LAYERS} == expected["utility_company"]
            assert _click_feature(page, water_point) == str(world.water_point.pk)
            # Record type: only utility points stay drawn.
            page.select_option("#filter-type", "utility_points")
            assert page.evaluate(SETTLED) is True
            rendered = page.evaluate(RENDERED_IDS)
            assert rendered["utility_points"] == [str(world.water_point.pk)]
            assert all(rendered[layer] == [] for layer in LAYERS if layer != "utility_points")
            # A status nobody has: nothing drawn.
            page.select_option("#filter-status", "connected")
            assert page.evaluate(SETTLED) is True
            assert page.evaluate(RENDERED_IDS)["utility_points"] == []
            assert page.console_errors == []
            assert page.evaluate("window.cspViolations") == []
            assert page.outside_requests == []
            context.close()
        finally:
            browser.close()
