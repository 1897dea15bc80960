"""/map/: login, its configuration, its Content-Security-Policy and the base map setting.

The page itself is tested in Chromium (test_webmap_browser.py); these check the server side.
"""

import json
import re

import pytest
from django.contrib.auth import SESSION_KEY

from backend.accounts.models import Role
from backend.accounts.tests.factories import PASSWORD, UserFactory
from backend.common.tests.test_settings_environment import clean_environment, manage
from gis_layers.layers import LAYERS

pytestmark = pytest.mark.django_db

MAP_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; worker-src 'self' blob:; child-src 'self' blob:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
PRINT_MAP_SETTINGS = (
    "from django.conf import settings as s; "
    "print(s.MAP_BASE_TILES_URL, s.MAP_BASE_TILES_CRS, sep='|'); print(s.CONTENT_SECURITY_POLICY_MAP)"
)


def map_login(client, username: str, password: str, address: str = "10.0.0.9"):
    return client.post(
        "/map/login/", {"username": username, "password": password, "next": "/map/"}, REMOTE_ADDR=address
    )


def page_config(response) -> dict:
    match = re.search(r'<script id="map-config" type="application/json">(.*?)</script>', response.content.decode())
    return json.loads(match.group(1))


def test_anonymous_users_are_sent_to_the_login_page(client):
    response = client.get("/map/")
    assert response.status_code == 302
    assert response["Location"] == "/map/login/?next=/map/"
    login_page = client.get("/map/login/?next=/map/")
    assert login_page.status_code == 200
    assert '<input type="hidden" name="next" value="/map/">' in login_page.content.decode()


def test_a_non_staff_user_logs_in_and_gets_the_page_with_every_layer(client):
    UserFactory(username="crew", roles=[Role.SURVEYOR])
    response = map_login(client, "crew", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/map/"
    page = client.get("/map/")
    assert page.status_code == 200
    assert page["Content-Security-Policy"] == MAP_POLICY
    config = page_config(page)
    assert config["user"] == "crew"
    assert config["base"] is None
    assert [layer["name"] for layer in config["layers"]] == list(LAYERS)
    assert [layer["name"] for layer in config["layers"]] == [
        "sites",
        "surveys",
        "findings",
        "utility_points",
        "inspections",
        "photos",
    ]
    statuses = {layer["name"]: [s["value"] for s in layer["statuses"]] for layer in config["layers"]}
    assert statuses["utility_points"] == ["proposed", "surveyed", "agreed", "connected"]
    assert statuses["sites"] == [] and statuses["photos"] == []
    assert config["urls"]["tilejson"] == "/tiles/{layer}.json"
    assert config["urls"]["item"] == "/ogc/collections/{layer}/items/{id}"
    # No CDN: the page loads its scripts and styles from our static files only.
    html = page.content.decode()
    assert re.findall(r'<script src="([^"]+)"', html) == [
        "/static/map/vendor/maplibre-gl/maplibre-gl.js",
        "/static/map/map.js",
    ]
    assert "http" not in "".join(re.findall(r'(?:href|src)="([^"]+)"', html))


def test_the_login_page_and_the_map_share_the_map_policy(client):
    assert client.get("/map/login/")["Content-Security-Policy"] == MAP_POLICY


def test_logout_ends_the_session(client):
    UserFactory(username="crew")
    map_login(client, "crew", PASSWORD)
    response = client.post("/map/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/map/login/"
    assert SESSION_KEY not in client.session
    assert client.get("/map/").status_code == 302


def test_wrong_passwords_are_throttled_with_the_api_login_limiter(client):
    UserFactory(username="guessed")
    statuses = [map_login(client, "guessed", f"guess{n}").status_code for n in range(12)]
    assert statuses == [200] * 10 + [429] * 2
    response = map_login(client, "guessed", PASSWORD)
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "Too many failed logins for this username from your address." in response.content.decode()
    assert SESSION_KEY not in client.session
    # The same counter as POST /api/v1/auth/token.
    api = client.post(
        "/api/v1/auth/token",
        {"username": "guessed", "password": PASSWORD},
        content_type="application/json",
        REMOTE_ADDR="10.0.0.9",
    )
    assert api.status_code == 429


def test_a_base_map_is_configured_and_its_host_allowed(client, settings):
    settings.MAP_BASE_TILES_URL = "https://t0.tianditu.gov.cn/vec_w/wmts?tk=KEY&x={x}&y={y}&l={z}"
    settings.MAP_BASE_TILES_ATTRIBUTION = "天地图"
    UserFactory(username="tianditu-user")
    map_login(client, "tianditu-user", PASSWORD)
    assert page_config(client.get("/map/"))["base"] == {
        "url": "https://t0.tianditu.gov.cn/vec_w/wmts?tk=KEY&x={x}&y={y}&l={z}",
        "crs": "cgcs2000",
        "attribution": "天地图",
    }


def test_the_base_map_host_goes_into_the_map_policy():
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        PRINT_MAP_SETTINGS,
        environment=clean_environment(
            DJANGO_DEVELOPMENT="1",
            DJANGO_ENV_FILE="",
            MAP_BASE_TILES_URL="https://t0.tianditu.gov.cn/vec_w/wmts?tk=KEY&x={x}&y={y}&l={z}",
            MAP_BASE_TILES_CRS="WGS84",
        ),
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "https://t0.tianditu.gov.cn/vec_w/wmts?tk=KEY&x={x}&y={y}&l={z}|wgs84"
    assert lines[1] == MAP_POLICY.replace(
        "img-src 'self' data: blob:;", "img-src 'self' data: blob: https://t0.tianditu.gov.cn;"
    ).replace("connect-src 'self';", "connect-src 'self' https://t0.tianditu.gov.cn;")


def test_photo_thumbnails_in_s3_are_allowed_as_images_only():
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        PRINT_MAP_SETTINGS,
        environment=clean_environment(
            DJANGO_DEVELOPMENT="1",
            DJANGO_ENV_FILE="",
            S3_BUCKET="photos",
            S3_ENDPOINT_URL="https://s3.example.cn:9000",
        ),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == MAP_POLICY.replace(
        "img-src 'self' data: blob:;", "img-src 'self' data: blob: https://s3.example.cn:9000;"
    )


def test_a_gcj02_base_map_is_refused_at_start_up():
    result = manage(
        "check",
        environment=clean_environment(
            DJANGO_DEVELOPMENT="1",
            DJANGO_ENV_FILE="",
            MAP_BASE_TILES_URL="https://webrd01.is.autonavi.com/appmaptile?x={x}&y={y}&z={z}&style=8",
            MAP_BASE_TILES_CRS="gcj02",
        ),
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert (
        "django.core.exceptions.ImproperlyConfigured: MAP_BASE_TILES_CRS=gcj02 is refused: the records are "
        "stored in WGS84/CGCS2000 and are not shifted to GCJ-02" in result.stderr
    )


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"MAP_BASE_TILES_CRS": "bd09"}, "MAP_BASE_TILES_CRS must be cgcs2000 or wgs84, not 'bd09'."),
        ({"MAP_BASE_TILES_URL": "tiles/{z}/{x}/{y}.png"}, "MAP_BASE_TILES_URL must be an http(s) URL"),
    ],
)
def test_other_bad_base_map_settings_are_refused(variables, message):
    result = manage("check", environment=clean_environment(DJANGO_DEVELOPMENT="1", DJANGO_ENV_FILE="", **variables))
    assert result.returncode == 1
    assert message in result.stderr


def test_the_login_session_reads_the_layers_the_page_uses(client):
    """The page reads TileJSON, tiles and OGC items with its session cookie: the GIS views must
    accept Django's session (DRF SessionAuthentication), not only Basic and tokens."""
    UserFactory(username="session-user", organization=None, roles=[Role.ADMINISTRATOR])
    map_login(client, "session-user", PASSWORD)
    assert client.get("/tiles/sites.json").status_code == 200
    assert client.get("/tiles/sites/0/0/0.mvt").status_code == 204
    assert client.get("/ogc/collections/sites/items").status_code == 200
