import pytest

from backend.accounts.models import User


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    ["/admin/evidence/blob/", "/admin/evidence/upload/", "/admin/evidence/photo/", "/admin/signatures/signature/"],
)
def test_evidence_is_listed_read_only_in_the_admin(client, url):
    admin = User.objects.create_superuser(username="root", password="x-secret-2026")
    client.force_login(admin)

    assert client.get(url).status_code == 200
    assert client.get(url + "add/").status_code == 403
