"""Swagger UI and ReDoc render in a real browser with nothing fetched from the internet, and
the admin's map widget is not blocked by the admin's Content-Security-Policy.

Headless Chromium (the Debian package scripts/setup.sh installs) driven by Playwright against a
live server; every request for another host is aborted and recorded, and the page's
Content-Security-Policy violations are collected, so the test fails if the docs need a CDN or
if the policy blocks what they load.
"""

import json
from urllib.parse import urlsplit
from urllib.request import urlopen

import pytest
from playwright.sync_api import sync_playwright

from backend.accounts.tests.factories import PASSWORD, UserFactory

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
RECORD_CSP_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


@pytest.fixture
def browser_page():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.add_init_script(RECORD_CSP_VIOLATIONS)
        page.outside_requests = []
        page.requested = []

        def only_local(route):
            url = route.request.url
            page.requested.append(url)
            if urlsplit(url).hostname in LOCAL_HOSTS or url.startswith(("data:", "blob:")):
                route.continue_()
            else:
                page.outside_requests.append(url)
                route.abort()

        page.route("**/*", only_local)
        page.console_errors = []
        page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
        yield page
        browser.close()


def schema_operation_count(live_server) -> int:
    with urlopen(f"{live_server.url}/api/schema/?format=json", timeout=60) as response:  # noqa: S310 - local
        paths = json.load(response)["paths"]
    return sum(1 for operations in paths.values() for method in operations if method in HTTP_METHODS)


def test_swagger_ui_renders_the_operations_offline(live_server, browser_page):
    page = browser_page
    response = page.goto(f"{live_server.url}/api/docs/")
    assert response.status == 200
    # Swagger UI renders only the operations in the viewport: the first is there at once, the
    # last appears when the page is scrolled to the end.
    page.locator(".opblock-summary-path[data-path='/api/v1/auth/token']").wait_for(timeout=90_000)
    assert page.locator(".info .title").first.inner_text().startswith("Field approval backend API")
    assert page.evaluate("ui.specSelectors.operations().size") == schema_operation_count(live_server)
    page.keyboard.press("End")
    page.locator(".opblock-summary-path[data-path^='/tiles/']").first.wait_for(timeout=30_000)
    assert page.evaluate("window.cspViolations") == []
    assert page.outside_requests == []
    assert page.console_errors == []
    assert f"{live_server.url}/api/schema/" in page.requested
    assert any("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in url for url in page.requested)


def test_redoc_renders_the_operations_offline(live_server, browser_page):
    page = browser_page
    response = page.goto(f"{live_server.url}/api/redoc/")
    assert response.status == 200
    page.locator("[data-section-id^='operation/']").nth(150).wait_for(state="attached", timeout=90_000)
    assert page.locator("h1").first.inner_text().startswith("Field approval backend API")
    assert page.locator("[data-section-id^='operation/']").count() > 150
    # ReDoc hard-codes its footer logo on a CDN (no option turns it off): the policy blocks it
    # before any request is made, and the image hides itself.
    assert page.evaluate("window.cspViolations") == ["img-src https://cdn.redoc.ly/redoc/logo-mini.svg"]
    assert page.outside_requests == []
    assert any("/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js" in url for url in page.requested)


@pytest.fixture
def staff_user(live_server):
    """Created before the browser starts: Django refuses queries while Playwright's loop runs."""
    return UserFactory(username="boss", is_staff=True, is_superuser=True)


def test_the_admin_map_widget_is_allowed_by_the_admin_policy(live_server, staff_user, browser_page):
    page = browser_page
    page.goto(f"{live_server.url}/admin/login/?next=/admin/sites/site/add/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.locator(".dj_map_wrapper").first.wait_for(timeout=60_000)
    assert page.url == f"{live_server.url}/admin/sites/site/add/"
    assert page.evaluate("window.cspViolations") == []
    # Only GeoDjango's OpenLayers from jsDelivr wants the internet (refused here by the test).
    assert sorted(page.outside_requests) == [
        "https://cdn.jsdelivr.net/npm/ol@v7.2.2/dist/ol.js",
        "https://cdn.jsdelivr.net/npm/ol@v7.2.2/ol.css",
    ]
