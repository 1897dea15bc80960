"""What a sync push chunk learns once (backend.records.services.WriteMemo) never changes an answer.

The chunk looks up a visible case once, skips the "already there?" queries for the ids it knows
are new, takes one savepoint per operation and writes its outbox events in one INSERT; these
tests check the answers stay those of the ordinary path (REST, one operation at a time).
"""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

import backend.sync.push as push_module
from backend.accounts.models import Organization, OrganizationKind, Role, User
from backend.audit.models import AuditEntry
from backend.cases.models import ApprovalCase, Project
from backend.events.models import Event
from backend.surveys.models import Finding, Survey

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    suffix = uuid.uuid4().hex[:8]
    builder = Organization.objects.create(name=f"builder {suffix}", kind=OrganizationKind.BUILDER)
    crew = Organization.objects.create(name=f"crew {suffix}", kind=OrganizationKind.SURVEY_CREW)
    department = Organization.objects.create(
        name=f"department {suffix}", kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370211"
    )
    user = User.objects.create(username=f"crew{suffix}", organization=crew, roles=[Role.SURVEYOR])
    project = Project.objects.create(
        code=f"2404-370211-04-01-{uuid.uuid4().int % 1_000_000:06d}",
        name="project",
        builder=builder,
        investment_type="private",
        category="social_investment",
        region_code="370211",
    )
    case = ApprovalCase.objects.create(
        external_no=f"MEMO-{suffix}",
        project=project,
        stage="engineering_planning",
        status=3,
        opened_at="2026-03-02T09:00:00+08:00",
    )
    case.assigned_organizations.add(crew)
    other_case = ApprovalCase.objects.create(
        external_no=f"MEMO-{suffix}-other",
        project=project,
        stage="engineering_planning",
        status=3,
        opened_at="2026-03-02T09:00:00+08:00",
    )
    client = APIClient()
    client.force_authenticate(user)
    return {"user": user, "case": case, "other_case": other_case, "department": department, "client": client}


def _survey_op(case, survey_id=None, summary="survey"):
    return {
        "op_id": str(uuid.uuid4()),
        "type": "survey",
        "id": str(survey_id or uuid.uuid4()),
        "base_version": None,
        "data": {
            "case": str(case.pk),
            "scheduled_at": "2026-03-10T09:00:00+08:00",
            "summary": summary,
            "location": {"type": "Point", "coordinates": [120.17, 35.96]},
        },
    }


def _finding_op(case, survey_id, department):
    return {
        "op_id": str(uuid.uuid4()),
        "type": "finding",
        "id": str(uuid.uuid4()),
        "base_version": None,
        "data": {
            "case": str(case.pk),
            "survey": str(survey_id),
            "description": "storm drain crosses the planned road",
            "responsible_department": str(department.pk),
            "due_date": "2026-04-01",
            "location": {"type": "Point", "coordinates": [120.171, 35.961]},
        },
    }


def _push(client, ops):
    response = client.post("/api/v1/sync/push", {"device_id": "memo", "operations": ops}, format="json")
    assert response.status_code == 200, response.content[:500]
    return response.json()["receipts"]


def test_a_chunk_of_surveys_and_findings_costs_few_queries_and_one_savepoint_each(world):
    ops = []
    for _ in range(10):
        survey = _survey_op(world["case"])
        ops += [survey, _finding_op(world["case"], survey["id"], world["department"])]
    with CaptureQueriesContext(connection) as queries:
        receipts = _push(world["client"], ops)
    assert [r["status"] for r in receipts] == ["applied"] * 20
    savepoints = [q for q in queries.captured_queries if q["sql"].startswith("SAVEPOINT")]
    # One per operation, the first finding's assignment of the department to the case, and the
    # chunk's own (a savepoint here: the test runs in a transaction).
    assert len(savepoints) <= 22, [q["sql"][:80] for q in savepoints]
    # About 3.5 a operation, and the request's own (authentication, receipts, attachments): 280 before.
    assert len(queries.captured_queries) <= 100, len(queries.captured_queries)
    assert Survey.objects.filter(pk__in=[op["id"] for op in ops if op["type"] == "survey"]).count() == 10
    assert world["case"].assigned_organizations.filter(pk=world["department"].pk).exists()


def test_the_chunks_events_are_written_in_the_order_of_its_changes(world):
    survey = _survey_op(world["case"])
    findings = [_finding_op(world["case"], survey["id"], world["department"]) for _ in range(3)]
    before = Event.objects.order_by("-id").values_list("id", flat=True).first() or 0
    receipts = _push(world["client"], [survey, *findings])
    assert [r["status"] for r in receipts] == ["applied"] * 4
    events = list(Event.objects.filter(id__gt=before).order_by("id"))
    assert [(e.type, e.record_type, str(e.record_id)) for e in events] == [
        ("finding.created", "finding", op["id"]) for op in findings
    ]
    assert all(e.case_id == world["case"].pk and e.external_no == world["case"].external_no for e in events)
    assert [e.data["record_id"] for e in events] == [op["id"] for op in findings]
    assert all(e.data["record"]["description"] == findings[0]["data"]["description"] for e in events)


def test_a_rejected_operation_leaves_no_event_and_no_audit_entry(world):
    survey = _survey_op(world["case"])
    bad = _survey_op(world["other_case"])  # a case the crew is not assigned to
    before = Event.objects.order_by("-id").values_list("id", flat=True).first() or 0
    receipts = _push(world["client"], [survey, bad])
    assert [r["status"] for r in receipts] == ["applied", "rejected"]
    assert not Event.objects.filter(id__gt=before, record_id=bad["id"]).exists()
    assert not AuditEntry.objects.filter(record_id=bad["id"]).exists()
    assert not Survey.all_objects.filter(pk=bad["id"]).exists()


def test_a_case_seen_once_in_a_chunk_is_not_taken_for_another(world):
    """The memo is per case: a case the user does not see is refused after one they see."""
    ops = [_survey_op(world["case"]), _survey_op(world["other_case"]), _survey_op(world["case"])]
    receipts = _push(world["client"], ops)
    assert [r["status"] for r in receipts] == ["applied", "rejected", "applied"]
    assert receipts[1]["errors"].get("case")


def test_a_survey_deleted_earlier_in_the_chunk_is_not_found_by_a_later_finding(world):
    survey = _survey_op(world["case"])
    delete = {"op_id": str(uuid.uuid4()), "type": "survey", "action": "delete", "id": survey["id"]}
    finding = _finding_op(world["case"], survey["id"], world["department"])
    receipts = _push(world["client"], [survey, delete, finding])
    assert [r["status"] for r in receipts[:2]] == ["applied", "applied"]
    assert receipts[2]["status"] == "rejected"
    assert "survey" in receipts[2]["errors"]
    assert not Finding.all_objects.filter(pk=finding["id"]).exists()


@pytest.mark.parametrize("same_content", [True, False])
def test_a_create_that_collides_with_one_made_meanwhile_answers_as_the_ordinary_path(world, monkeypatch, same_content):
    """The chunk believed the id new (as when a concurrent push commits it after the chunk's
    lookup): the insert collides, and the operation is applied again the ordinary way."""
    first = _survey_op(world["case"], summary="the first content")
    assert _push(world["client"], [first])[0]["status"] == "applied"
    op = _survey_op(world["case"], survey_id=first["id"], summary="the first content" if same_content else "other")
    real = push_module.chunk_records

    def believing_it_new(*, ops, ctx):
        absent, visible = real(ops=ops, ctx=ctx)
        return absent | {("survey", uuid.UUID(o.id.hex)) for o in ops}, visible

    monkeypatch.setattr(push_module, "chunk_records", believing_it_new)
    [receipt] = _push(world["client"], [op])
    if same_content:
        assert receipt["status"] == "applied"
        assert receipt["version"] == 1
    else:
        assert receipt["status"] == "rejected"
        assert receipt["code"] == "id_conflict"
    assert Survey.all_objects.filter(pk=op["id"]).count() == 1
    assert AuditEntry.objects.filter(record_id=op["id"]).count() == 1
