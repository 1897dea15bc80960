"""The proxy in docker-compose.yml answers gunicorn-level refusals with our problem+json.

nginx cannot run here; these checks keep its files consistent with the application (the
bodies are exactly what `problem()` renders) and with each other. The configuration was run
once by hand against gunicorn: 414, 431 and 503 came back as these bodies, Django's own 400 passed.
"""

import json
import re

import yaml

from backend.settings import BASE_DIR
from mobile_api.exceptions import problem

NGINX = BASE_DIR / "deploy" / "nginx"
EXPECTED = {
    400: ("bad_request", "The request could not be understood."),
    414: ("uri_too_long", "The request URI is longer than the server accepts."),
    431: ("request_header_fields_too_large", "The request headers are larger than the server accepts."),
    503: ("service_unavailable", "The service is unavailable; retry later."),
}


def test_static_problem_bodies_are_what_the_application_renders():
    files = {int(path.stem): json.loads(path.read_text()) for path in (NGINX / "problems").glob("*.json")}
    assert files == {status: problem(status, code, detail) for status, (code, detail) in EXPECTED.items()}


def test_the_proxy_maps_its_refusals_and_limits_below_gunicorn():
    conf = (NGINX / "default.conf").read_text()
    for status in EXPECTED:
        assert f"/_problem/{status}.json;" in conf
    assert "error_page 494 =431 /_problem/431.json;" in conf
    assert "default_type application/problem+json;" in conf
    buffer_kib = int(re.search(r"large_client_header_buffers 4 (\d+)k;", conf).group(1))
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    assert int(re.search(r"--limit-request-line (\d+)", dockerfile).group(1)) > buffer_kib * 1024
    assert int(re.search(r"--limit-request-field_size (\d+)", dockerfile).group(1)) > buffer_kib * 1024
    assert "--limit-request-fields 32768" in dockerfile


def test_compose_publishes_only_the_proxy_and_trusts_one_hop():
    compose = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
    services = compose["services"]
    assert "ports" not in services["app"]
    assert services["proxy"]["ports"] == ["8000:8080"]
    assert services["proxy"]["volumes"] == [
        "./deploy/nginx/default.conf:/etc/nginx/conf.d/default.conf:ro",
        "./deploy/nginx/problems:/usr/share/nginx/problems:ro",
    ]
    assert services["app"]["environment"]["DJANGO_NUM_PROXIES"] == "1"
    assert services["app"]["environment"]["DJANGO_DEVELOPMENT"] == "0"


def test_the_proxy_closes_idle_upstream_connections_before_gunicorn_does():
    """nginx must never reuse a kept-open connection gunicorn is closing (a 502 on a busy map)."""
    conf = (NGINX / "default.conf").read_text()
    upstream = re.search(r"upstream app \{(.*?)\}", conf, re.S).group(1)
    proxy_idle = int(re.search(r"keepalive_timeout (\d+)s;", upstream).group(1))
    assert re.search(r"keepalive \d+;", upstream)
    assert 'proxy_set_header Connection "";' in conf and "proxy_http_version 1.1;" in conf
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    compose = (BASE_DIR / "docker-compose.yml").read_text()
    for text in (dockerfile, compose):
        assert int(re.search(r"--keep-alive \$*\{GUNICORN_KEEPALIVE:-(\d+)\}", text).group(1)) > proxy_idle
