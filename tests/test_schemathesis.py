"""schemathesis against a live server, as an administrator and as a survey crew member.

Each operation of the OpenAPI document gets generated requests (a valid one, and for the
administrator an invalid one too; a fixed seed), sent over HTTP with the role's device token to
the app in its own process (`runserver` on the test database, so generating and answering use
both cores). Every answer must be no 5xx, a documented status code with a documented content
type, and match its documented schema.

Valid requests on detail routes name records the role can list (its cases, surveys, …), so they
answer with records and not only with 404s."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import schemathesis
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from backend.accounts.models import User
from backend.accounts.services import device_token_issue
from backend.cases.calendar import calendar_seed
from backend.cases.models import CalendarDay
from backend.evidence.storage import storage_cache_clear
from tests.s3_plugin import free_port

# The server process reads committed data.
pytestmark = pytest.mark.django_db(transaction=True)

SEED = 8107
EXAMPLES_PER_MODE = 1
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
POSITIVE, NEGATIVE = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
# (method, path) left out, and why:
EXCLUDED = {
    # Revokes the very token the run authenticates with.
    ("POST", "/api/v1/auth/logout"),
    # A tus chunk is raw bytes (application/offset+octet-stream); schemathesis cannot generate
    # them. tests/test_tus_client_live.py drives it with a real tus client.
    ("PATCH", "/api/v1/uploads/{upload_id}/"),
}
# Excluded for the administrator only: it may deactivate itself or change its own password.
EXCLUDED_FOR_ADMINISTRATOR = {
    ("PUT", "/api/v1/users/{id}/"),
    ("PATCH", "/api/v1/users/{id}/"),
    ("DELETE", "/api/v1/users/{id}/"),
}
PATH_PARAMETER = re.compile(r"\{(\w+)\}")
COMBINATIONS_PER_OPERATION = 3


def _ids_in(document) -> list[str]:
    """The ids of the first list of objects in a list answer (DRF page, OGC collections, …)."""
    if isinstance(document, list):
        return [str(item["id"]) for item in document if isinstance(item, dict) and "id" in item]
    if isinstance(document, dict):
        for key in ("results", "collections", "features"):
            if isinstance(document.get(key), list):
                return _ids_in(document[key])
    return []


class KnownIds:
    """Path parameter values the role can see, found by listing each parent collection."""

    def __init__(self, base_url: str, session: requests.Session) -> None:
        self.base_url = base_url
        self.session = session
        self.cache: dict[str, list[str]] = {}

    def listed(self, collection: str) -> list[str]:
        if collection not in self.cache:
            response = self.session.get(f"{self.base_url}{collection}", params={"limit": 5}, timeout=30)
            self.cache[collection] = _ids_in(response.json()) if response.ok else []
        return self.cache[collection]

    def combinations(self, path: str) -> list[dict[str, str]]:
        """Up to a few assignments of every path parameter of `path`, each one a visible record."""
        names = PATH_PARAMETER.findall(path)
        partial: list[dict[str, str]] = [{}]
        for name in names:
            collection_template = path[: path.index("{" + name + "}")]
            extended = []
            for values in partial:
                collection = collection_template.format(**values)
                for value in self.listed(collection)[:COMBINATIONS_PER_OPERATION]:
                    extended.append({**values, name: value})
            partial = extended[:COMBINATIONS_PER_OPERATION]
        return partial if names else []


def _run(base_url: str, username: str, excluded: set[tuple[str, str]], modes: list) -> list[str]:
    user = User.objects.get(username=username)
    token, _ = device_token_issue(user=user, device_id=f"schemathesis-{username}")
    headers = {"Authorization": f"Token {token}"}
    session = requests.Session()
    session.headers.update(headers)
    schema = schemathesis.openapi.from_url(f"{base_url}/api/schema/?format=json", timeout=60)
    known = KnownIds(base_url, session)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in excluded:
            continue
        combinations = known.combinations(operation.path)
        for mode in modes:
            # A valid request on a record the role can see (else generated path parameters); an
            # invalid request anywhere.
            if combinations and mode == POSITIVE:
                strategy = st.one_of(
                    *(operation.as_strategy(generation_mode=mode, path_parameters=values) for values in combinations)
                )
            else:
                strategy = operation.as_strategy(generation_mode=mode)

            @seed(SEED)
            @settings(
                max_examples=EXAMPLES_PER_MODE,
                database=None,
                deadline=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def check(case):
                response = case.call(base_url=base_url, headers=headers, timeout=30)
                case.validate_response(response, checks=CHECKS)

            try:
                check()
            except (Failure, FailureGroup) as failure:
                failures.append(f"{operation.method.upper()} {operation.path} ({mode}): {failure}")
            except Unsatisfiable:
                pass  # nothing to make invalid (no parameters, no body): the positive mode covers it
    return failures


class AppServer:
    """`manage.py runserver` in a subprocess, on the test database and a private blob root."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.blob_root, self.upload_root = root / "blobs", root / "uploads"
        db = connection.settings_dict
        environment = {
            **os.environ,
            "DJANGO_DEVELOPMENT": "1",
            "DJANGO_TEST_FAST_PASSWORD_HASHER": "1",
            "DATABASE_URL": f"postgis://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "DATABASE_CONN_MAX_AGE": "0",
            "BLOB_ROOT": str(self.blob_root),
            "UPLOAD_ROOT": str(self.upload_root),
            "S3_BUCKET": "",
        }
        self.process = subprocess.Popen(  # noqa: S603 - fixed command
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload"],
            cwd=django_settings.BASE_DIR,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{self.url}/healthz", timeout=5).ok:
                    return
            except requests.ConnectionError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("runserver did not start")
            time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def app_server(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        server = AppServer(tmp_path_factory.mktemp("schemathesis"))
    yield server
    server.stop()


@pytest.fixture
def demo_data(app_server, settings):
    settings.BLOB_ROOT, settings.UPLOAD_ROOT = app_server.blob_root, app_server.upload_root
    storage_cache_clear()
    if not CalendarDay.objects.exists():  # flushed by an earlier live-server test
        calendar_seed()
    call_command("seed_demo", verbosity=0)


def test_schemathesis_as_an_administrator_finds_no_failures(app_server, demo_data):
    failures = _run(app_server.url, "admin", EXCLUDED | EXCLUDED_FOR_ADMINISTRATOR, [POSITIVE, NEGATIVE])
    assert failures == []


def test_schemathesis_as_a_survey_crew_member_finds_no_failures(app_server, demo_data):
    # Invalid input is refused before roles matter; the administrator's run sends it everywhere.
    failures = _run(app_server.url, "surveyor", EXCLUDED, [POSITIVE])
    assert failures == []
