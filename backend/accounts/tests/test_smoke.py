import pytest

from backend.accounts.tests.factories import UserFactory


@pytest.mark.django_db
def test_healthz_and_unknown_api_path_is_problem_json(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    response = client.get("/api/v1/does-not-exist/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"


@pytest.mark.django_db
def test_factories_make_a_user_with_an_organization():
    user = UserFactory()
    assert user.organization is not None
    assert user.check_password("test-pass-2026")
