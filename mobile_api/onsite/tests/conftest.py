import pytest
from rest_framework.test import APIClient

from backend.onsite.tests.factories import onsite_world


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db):
    return onsite_world()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()
