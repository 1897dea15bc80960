"""HTTP Basic on /ogc/ and /tiles/ remembers a verified credential briefly instead of hashing the
password on every tile, and forgets it when the password changes or the user is deactivated."""

import base64

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core.cache import cache
from rest_framework.test import APIClient

from backend.accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

TILE = "/tiles/sites/0/0/0.mvt"


class CountingMD5PasswordHasher(MD5PasswordHasher):
    """Django's MD5 hasher, counting how often a password is checked against a stored hash."""

    verifications = 0

    def verify(self, password, encoded):
        type(self).verifications += 1
        return super().verify(password, encoded)


@pytest.fixture(autouse=True)
def counting_hasher(settings):
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingMD5PasswordHasher"]
    settings.BASIC_AUTH_CACHE_SECONDS = 300
    CountingMD5PasswordHasher.verifications = 0
    cache.clear()
    yield CountingMD5PasswordHasher
    cache.clear()


def _get(path: str, username: str, password: str):
    header = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    return APIClient().get(path, HTTP_AUTHORIZATION=header)


def test_a_verified_credential_is_not_hashed_again(counting_hasher):
    user = UserFactory()
    for _ in range(5):
        assert _get(TILE, user.username, PASSWORD).status_code == 204
    assert _get("/ogc/collections/sites/items", user.username, PASSWORD).status_code == 200
    assert counting_hasher.verifications == 1


def test_the_cache_holds_neither_the_password_nor_the_username():
    user = UserFactory(username="qgis-desktop")
    assert _get(TILE, user.username, PASSWORD).status_code == 204
    # LocMemCache (the test cache) keeps pickled values under their full keys.
    entries = list(cache._cache.items())
    assert any(":basic-credential:" in key for key, _value in entries)
    for key, value in entries:
        assert PASSWORD not in key and user.username not in key
        assert PASSWORD.encode() not in value and user.password.encode() not in value


def test_a_password_change_ends_the_remembered_credential(counting_hasher):
    user = UserFactory()
    assert _get(TILE, user.username, PASSWORD).status_code == 204
    user.set_password("a-new-pass-2026")
    user.save()
    old = _get(TILE, user.username, PASSWORD)
    assert old.status_code == 401
    assert old.json()["code"] == "authentication_failed"
    assert _get(TILE, user.username, "a-new-pass-2026").status_code == 204
    assert _get(TILE, user.username, "a-new-pass-2026").status_code == 204
    # The first request, the refused old password, the new password once.
    assert counting_hasher.verifications == 3


def test_deactivation_ends_the_remembered_credential(counting_hasher):
    user = UserFactory()
    assert _get(TILE, user.username, PASSWORD).status_code == 204
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    response = _get(TILE, user.username, PASSWORD)
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
    type(user).objects.filter(pk=user.pk).update(is_active=True)
    assert _get(TILE, user.username, PASSWORD).status_code == 204
    # Reactivated: the credential is verified again, not taken from the dropped entry.
    assert counting_hasher.verifications == 3


def test_a_rename_ends_the_remembered_credential(counting_hasher):
    user = UserFactory()
    old_name = user.username
    assert _get(TILE, old_name, PASSWORD).status_code == 204
    type(user).objects.filter(pk=user.pk).update(username="renamed")
    assert _get(TILE, old_name, PASSWORD).status_code == 401
    assert _get(TILE, "renamed", PASSWORD).status_code == 204


def test_failures_are_never_remembered(counting_hasher):
    user = UserFactory()
    for _ in range(3):
        assert _get(TILE, user.username, "wrong").status_code == 401
    assert counting_hasher.verifications == 3
    assert _get(TILE, user.username, PASSWORD).status_code == 204
    assert _get(TILE, user.username, PASSWORD).status_code == 204
    assert counting_hasher.verifications == 4


def test_a_remembered_credential_does_not_pass_the_login_throttle(counting_hasher):
    user = UserFactory()
    assert _get(TILE, user.username, PASSWORD).status_code == 204
    for _ in range(10):
        assert _get(TILE, user.username, "guess").status_code == 401
    throttled = _get(TILE, user.username, PASSWORD)
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "throttled"


def test_zero_seconds_verifies_every_request(counting_hasher, settings):
    user = UserFactory()
    # Remembered while caching was on; switched off, the entry is not used either.
    assert _get(TILE, user.username, PASSWORD).status_code == 204
    counting_hasher.verifications = 0
    settings.BASIC_AUTH_CACHE_SECONDS = 0
    for _ in range(3):
        assert _get(TILE, user.username, PASSWORD).status_code == 204
    assert counting_hasher.verifications == 3
