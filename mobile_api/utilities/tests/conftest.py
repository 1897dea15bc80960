import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from backend.utilities.tests.factories import utility_world


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Factories set a password for every user; the production hasher would dominate the run.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world(db):
    return utility_world()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()
