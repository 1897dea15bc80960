"""record_create gives the kernel's own fields to the model's constructor (no default computed
for them); a caller's `fields` naming one of them still loses to the kernel's value."""

import datetime as dt
import uuid

import pytest
from django.contrib.auth.models import AnonymousUser

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import OrganizationFactory, UserFactory
from backend.cases.tests.factories import ApprovalCaseFactory
from backend.records.services import record_create
from backend.surveys.models import Survey

AT = dt.datetime(2026, 3, 10, 1, 30, tzinfo=dt.UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture
def official():
    return UserFactory(
        organization=OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370211"),
        roles=[Role.OFFICIAL],
    )


def _stored(pk):
    row = Survey.all_objects.filter(pk=pk).values(
        "id", "version", "created_by_id", "updated_by_id", "device_id", "client_digest", "field_versions", "summary"
    )[0]
    times = Survey.all_objects.filter(pk=pk).values_list("created_at", "updated_at")[0]
    return row, times


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"device_id": "from fields", "version": 7, "client_digest": "x", "field_versions": {"a": 1}},
        {"created_by_id": None, "updated_by": None},
        {"id": uuid.UUID(int=5)},
    ],
    ids=["plain", "kernel names in fields", "authors in fields", "id in fields"],
)
def test_kernel_fields_are_the_kernels(official, extra):
    case = ApprovalCaseFactory()
    record_id = uuid.uuid4()
    fields = {"case": case, "scheduled_at": AT, "summary": "概况", **extra}
    instance, created = record_create(
        model=Survey, fields=fields, by=official, record_id=record_id, digest="d" * 64, device_id="tablet-9"
    )
    assert created is True and instance.pk == record_id
    row, (created_at, updated_at) = _stored(record_id)
    assert row == {
        "id": record_id,
        "version": 1,
        "created_by_id": official.pk,
        "updated_by_id": official.pk,
        "device_id": "tablet-9",
        "client_digest": "d" * 64,
        "field_versions": {},
        "summary": "概况",
    }
    assert created_at == updated_at and created_at is not None


def test_without_a_client_id_or_an_author(official):
    case = ApprovalCaseFactory()
    instance, created = record_create(
        model=Survey, fields={"case": case, "scheduled_at": AT, "summary": "s"}, by=AnonymousUser()
    )
    row, _ = _stored(instance.pk)
    assert created is True and isinstance(instance.pk, uuid.UUID) and instance.pk.version == 4
    assert (row["created_by_id"], row["updated_by_id"], row["device_id"], row["client_digest"]) == (None, None, "", "")
