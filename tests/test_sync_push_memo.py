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


def _inserts_into(queries, model) -> int:
    return sum(1 for q in queries if q["sql"].startswith(f'INSERT INTO "{model._meta.db_table}"'))


def test_a_chunks_new_records_are_inserted_once_per_model_without_a_savepoint_each(world):
    """Known-new records wait for one multi-row INSERT per model; an operation that sends no
    statement takes no savepoint (its savepoint is taken at its first statement)."""
    ops = []
    for _ in range(10):
        survey = _survey_op(world["case"])
        ops += [survey, _finding_op(world["case"], survey["id"], world["department"])]
    with CaptureQueriesContext(connection) as queries:
        receipts = _push(world["client"], ops)
    assert [r["status"] for r in receipts] == ["applied"] * 20
    captured = queries.captured_queries
    # The first finding assigns the department to the case (a write): the first survey and
    # finding go before it; the rest go at the chunk's end.
    assert _inserts_into(captured, Survey) == 2
    assert _inserts_into(captured, Finding) == 2
    operation_savepoints = [q for q in captured if "SAVEPOINT sync_op_" in q["sql"] and "ROLLBACK" not in q["sql"]]
    assert len(operation_savepoints) <= 2, [q["sql"] for q in operation_savepoints]
    assert Survey.objects.filter(pk__in=[op["id"] for op in ops if op["type"] == "survey"]).count() == 10
    assert Finding.objects.filter(pk__in=[op["id"] for op in ops if op["type"] == "finding"]).count() == 10
    assert AuditEntry.objects.filter(record_id__in=[op["id"] for op in ops]).count() == 20


def test_new_records_sent_inside_an_operation_that_fails_are_sent_again(world):
    """An update reads the survey table, so the chunk's waiting surveys are sent first, inside
    the update's savepoint; the update is refused and its savepoint rolled back: the earlier
    operations' surveys are still stored, with their audit entries."""
    existing = _survey_op(world["case"])
    assert _push(world["client"], [existing])[0]["status"] == "applied"
    new = [_survey_op(world["case"]) for _ in range(3)]
    bad_update = {
        "op_id": str(uuid.uuid4()),
        "type": "survey",
        "id": existing["id"],
        "base_version": 1,
        "data": {"scheduled_at": "not a date"},
    }
    later = _survey_op(world["case"])
    receipts = _push(world["client"], [*new, bad_update, later])
    assert [r["status"] for r in receipts] == ["applied"] * 3 + ["rejected", "applied"]
    stored = [*new, later]
    assert Survey.objects.filter(pk__in=[op["id"] for op in stored]).count() == 4
    assert AuditEntry.objects.filter(record_id__in=[op["id"] for op in stored]).count() == 4
    assert Survey.objects.get(pk=existing["id"]).version == 1


def test_a_deferred_insert_the_database_refuses_leaves_the_chunks_other_operations_applied(world, monkeypatch):
    """A deferred row that collides at the chunk's INSERT (here: a create the chunk believes new
    of an id that exists, with other content) rolls the chunk back; applied one operation at a
    time, the others apply and that one answers as the ordinary path does."""
    first = _survey_op(world["case"], summary="the first content")
    assert _push(world["client"], [first])[0]["status"] == "applied"
    clash = _survey_op(world["case"], survey_id=first["id"], summary="other content")
    others = [_survey_op(world["case"]) for _ in range(2)]
    real = push_module.chunk_records

    def believing_it_new(*, ops, ctx):
        absent, visible = real(ops=ops, ctx=ctx)
        return absent | {("survey", uuid.UUID(o.id.hex)) for o in ops}, visible

    monkeypatch.setattr(push_module, "chunk_records", believing_it_new)
    receipts = _push(world["client"], [others[0], clash, others[1]])
    assert [r["status"] for r in receipts] == ["applied", "rejected", "applied"]
    assert receipts[1]["code"] == "id_conflict"
    assert Survey.objects.filter(pk__in=[op["id"] for op in others]).count() == 2
    assert AuditEntry.objects.filter(record_id=first["id"]).count() == 1
