"""Material scans in the admin (cases): shown, withdrawn ones included, never written there."""

import hashlib

import pytest
from django.test import Client

from backend.accounts.tests.factories import UserFactory
from backend.cases.materials import MaterialScan
from mobile_api.sync.tests.factories import case_with_item

pytestmark = pytest.mark.django_db


def _admin() -> Client:
    client = Client()
    client.force_login(UserFactory(organization=None, roles=[], is_superuser=True, is_staff=True))
    return client


def _scan(item, name: str, **fields) -> MaterialScan:
    return MaterialScan.all_objects.create(
        case=item.case,
        item=item,
        sha256=hashlib.sha256(name.encode()).hexdigest(),
        content_type="application/pdf",
        filename=name,
        **fields,
    )


def test_the_scan_list_shows_live_and_withdrawn_scans():
    _case, item, _material = case_with_item()
    live, withdrawn = _scan(item, "live.pdf"), _scan(item, "withdrawn.pdf")
    MaterialScan.all_objects.filter(pk=withdrawn.pk).update(deleted_at=withdrawn.created_at)

    response = _admin().get("/admin/cases/materialscan/")

    assert response.status_code == 200
    assert {live.pk, withdrawn.pk} == {scan.pk for scan in response.context["cl"].result_list}


def test_scans_cannot_be_added_changed_or_deleted_in_the_admin():
    _case, item, _material = case_with_item()
    scan = _scan(item, "scan.pdf", note="before")
    client = _admin()

    add = client.get("/admin/cases/materialscan/add/")
    change = client.post(f"/admin/cases/materialscan/{scan.pk}/change/", {"note": "after"})
    delete = client.post(f"/admin/cases/materialscan/{scan.pk}/delete/", {"post": "yes"})

    assert (add.status_code, change.status_code, delete.status_code) == (403, 403, 403)
    assert MaterialScan.all_objects.get(pk=scan.pk).note == "before"
