"""Sync push writes through the record type's own services: every rule REST enforces holds.

The world is the demo dataset. Each refusal is checked for what it leaves: nothing changed.
"""

import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient

from backend.acceptance.models import Inspection, InspectionItem, InspectionResult, RectificationItem
from backend.acceptance.models import RectificationStatus as RS
from backend.acceptance.services import inspection_create
from backend.accounts.models import User
from backend.audit.models import AuditEntry
from backend.cases.selectors import cases_visible_to
from backend.records.registry import RECORD_TYPES, RecordType, register_record_type
from backend.sites.models import Site
from backend.visits.models import Visit, VisitStatus
from mobile_api.records.views import RECORD_VIEWSETS, FieldRecordViewSet
from mobile_api.sync.registry import sync_types

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(demo_world):
    """The demo world, built once for this module (tests/conftest.py)."""


def _client(username: str) -> APIClient:
    client = APIClient()
    client.force_authenticate(User.objects.get(username=username))
    return client


def _push_delete(client: APIClient, record_type: str, record_id) -> dict:
    op = {"op_id": str(uuid.uuid4()), "type": record_type, "action": "delete", "id": str(record_id)}
    response = client.post("/api/v1/sync/push", {"device_id": "tablet-1", "operations": [op]}, format="json")
    assert response.status_code == 200
    return response.json()["receipts"][0]


def _pending_inspection() -> Inspection:
    """A scheduled inspection, no result recorded yet (so it may be withdrawn), of a demo case
    the builder sees (and may only read)."""
    builder = User.objects.get(username="builder")
    case = cases_visible_to(user=builder).exclude(pk__in=Inspection.objects.values("case_id")).first()
    inspection, _ = inspection_create(by=None, case=case, stage=2)
    return inspection


def test_a_builders_sync_delete_of_an_inspection_is_refused_like_rest(demo):
    inspection = _pending_inspection()
    items = list(InspectionItem.objects.filter(inspection=inspection).values_list("pk", flat=True))
    assert items
    builder = _client("builder")
    assert builder.get(f"/api/v1/inspections/{inspection.pk}/").status_code == 200  # a read-only insider
    audit_before = AuditEntry.objects.count()

    rest = builder.delete(f"/api/v1/inspections/{inspection.pk}/")
    receipt = _push_delete(builder, "inspection", inspection.pk)

    assert rest.status_code == 403
    assert receipt["status"] == "rejected"
    assert receipt["code"] == "permission_denied"
    inspection.refresh_from_db()
    assert inspection.deleted_at is None
    assert InspectionItem.objects.filter(pk__in=items).count() == len(items)
    assert AuditEntry.objects.count() == audit_before


def test_an_allowed_sync_delete_of_an_inspection_withdraws_its_items_too(demo):
    inspection = _pending_inspection()
    items = list(InspectionItem.all_objects.filter(inspection=inspection).values_list("pk", flat=True))

    receipt = _push_delete(_client("official"), "inspection", inspection.pk)

    assert receipt["status"] == "applied"
    assert receipt["version"] == 2
    assert Inspection.objects.filter(pk=inspection.pk).exists() is False
    assert InspectionItem.objects.filter(pk__in=items).count() == 0
    assert InspectionItem.all_objects.filter(pk__in=items, deleted_at__isnull=False).count() == len(items)


def test_a_started_inspection_is_not_withdrawn_by_sync(demo):
    started = Inspection.objects.filter(items__result=InspectionResult.PASS).distinct().first()
    version = started.version

    receipt = _push_delete(_client("official"), "inspection", started.pk)

    assert (receipt["status"], receipt["code"]) == ("rejected", "inspection_started")
    started.refresh_from_db()
    assert (started.deleted_at, started.version) == (None, version)


def test_a_fixed_rectification_is_not_tombstoned_by_sync(demo):
    fixed = RectificationItem.objects.filter(status=RS.FIXED).first()
    version = fixed.version
    fire = _client("fire")  # the item's own department: allowed to withdraw open ones

    rest = fire.delete(f"/api/v1/rectifications/{fixed.pk}/")
    receipt = _push_delete(fire, "rectification", fixed.pk)

    assert (rest.status_code, rest.json()["code"]) == (409, "rectification_not_open")
    assert (receipt["status"], receipt["code"]) == ("rejected", "rectification_not_open")
    fixed.refresh_from_db()
    assert (fixed.deleted_at, fixed.status, fixed.version) == (None, RS.FIXED, version)


def test_an_open_rectification_is_withdrawn_by_its_department_over_sync(demo):
    open_one = RectificationItem.objects.filter(status=RS.OPEN).first()

    assert _push_delete(_client("builder"), "rectification", open_one.pk)["code"] == "permission_denied"
    receipt = _push_delete(_client("fire"), "rectification", open_one.pk)

    assert receipt["status"] == "applied"
    assert RectificationItem.objects.filter(pk=open_one.pk).exists() is False


def test_a_started_visit_is_not_deleted_by_sync(demo):
    started = Visit.objects.exclude(status=VisitStatus.BOOKED).first()
    version = started.version
    official = _client("official")

    rest = official.delete(f"/api/v1/visits/{started.pk}/")
    receipt = _push_delete(official, "visit", started.pk)

    assert (rest.status_code, rest.json()["code"]) == (409, "visit_started")
    assert (receipt["status"], receipt["code"]) == ("rejected", "visit_started")
    started.refresh_from_db()
    assert (started.deleted_at, started.version) == (None, version)


def test_a_visit_is_deleted_over_sync_only_by_its_managers(demo):
    booked = Visit.objects.filter(status=VisitStatus.BOOKED).first()

    assert _push_delete(_client("builder"), "visit", booked.pk)["code"] in ("permission_denied", "not_found")
    assert _push_delete(_client("surveyor"), "visit", booked.pk)["status"] == "rejected"
    receipt = _push_delete(_client("vehicle_lead"), "visit", booked.pk)

    assert receipt["status"] == "applied"
    assert Visit.objects.filter(pk=booked.pk).exists() is False


def test_inspection_items_are_not_deleted_on_their_own_by_any_transport(demo):
    item = InspectionItem.objects.first()
    admin = _client("admin")

    rest = admin.delete(f"/api/v1/inspection-items/{item.pk}/")
    receipt = _push_delete(admin, "inspection_item", item.pk)

    assert rest.status_code == 405
    assert (receipt["status"], receipt["code"]) == ("rejected", "delete_not_supported")
    item.refresh_from_db()
    assert item.deleted_at is None


def test_a_site_of_a_case_is_not_deleted_by_a_read_only_insider(demo):
    site = Site.objects.first()
    receipt = _push_delete(_client("builder"), "site", site.pk)
    assert receipt["status"] == "rejected"
    assert Site.objects.filter(pk=site.pk).exists()


# --- the registry ------------------------------------------------------------------------


def test_every_synced_type_states_its_services_and_has_its_viewset():
    synced = {name for name, record_type in RECORD_TYPES.items() if record_type.is_synced}
    assert set(sync_types()) == synced
    assert synced == {
        "site",
        "survey",
        "survey_participant",
        "finding",
        "utility_request",
        "utility_point",
        "inspection",
        "inspection_item",
        "rectification",
        "visit",
        "booking_request",
        "photo",
        "signature",
        "material_scan",
        "onsite_intake",
        "onsite_decision",
        "meeting",
        "meeting_participant",
        "meeting_decision",
    }
    for name in synced:
        assert RECORD_VIEWSETS[name].record_type == name
        assert sync_types()[name].record_type is RECORD_TYPES[name]
    # Refusals are stated, not defaults: only these actions are refused, for these types.
    refused = {
        (name, action)
        for name, t in RECORD_TYPES.items()
        for action in ("create", "update", "delete")
        if t.service(action) is None
    }
    assert refused == {
        ("inspection_item", "create"),
        ("inspection_item", "delete"),
        ("utility_application", "update"),
        ("utility_application", "delete"),
        ("onsite_decision", "update"),
        ("onsite_decision", "delete"),
    }


def test_a_record_type_without_its_services_does_not_start():
    with pytest.raises(TypeError, match="create"):
        RecordType(name="x", model=Site, visible_to=lambda *, user: None)  # type: ignore[call-arg]


def test_a_service_with_another_signature_is_refused_at_registration():
    def delete_by_name(*, site, by):  # the record named otherwise than `instance`
        return site

    bad = RecordType(
        name="site",
        model=Site,
        visible_to=RECORD_TYPES["site"].visible_to,
        create=None,
        update=None,
        delete=delete_by_name,
    )
    with pytest.raises(ImproperlyConfigured, match="site.delete"):
        register_record_type(bad)
    assert RECORD_TYPES["site"].delete is not delete_by_name


def test_a_viewset_cannot_carry_services_of_its_own():
    with pytest.raises(ImproperlyConfigured, match="delete_service"):

        class _StrayViewSet(FieldRecordViewSet):
            record_type = "site"
            delete_service = staticmethod(lambda **kwargs: None)
