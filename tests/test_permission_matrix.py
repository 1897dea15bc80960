"""Every role against every endpoint against objects it must not see: no 2xx, no change.

The world is the demo dataset (every record type, in region 370211). The outsiders are users
of every organisation kind who belong elsewhere: another region, another builder, a utility
company with no requests, crews and teams assigned to nothing.
"""

import functools
import uuid

import pytest
from django.db import transaction
from django.db.models import F
from rest_framework.test import APIClient

from backend.acceptance.models import Inspection
from backend.acceptance.services import inspection_create
from backend.accounts.models import OrganizationKind, Role, User, UtilityType
from backend.accounts.tests.factories import user_of_kind
from backend.audit.models import AuditEntry
from backend.cases.models import ApprovalCase, Project
from backend.cases.selectors import cases_visible_to
from backend.records.registry import RECORD_TYPES
from backend.visits.models import Vehicle
from tests.record_endpoints import example_change, record_endpoints


def outsiders():
    other_region = {"region": "370100"}
    return {
        "official_elsewhere": user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.OFFICIAL], **other_region),
        "survey_crew": user_of_kind(OrganizationKind.SURVEY_CREW, roles=[Role.SURVEYOR]),
        "vehicle_team": user_of_kind(OrganizationKind.VEHICLE_TEAM, roles=[Role.VEHICLE_LEAD]),
        "acceptance_team": user_of_kind(OrganizationKind.ACCEPTANCE_TEAM, roles=[Role.INSPECTOR]),
        "utility_company": user_of_kind(
            OrganizationKind.UTILITY_COMPANY, roles=[Role.UTILITY_STAFF], utility_types=[UtilityType.WATER]
        ),
        "other_builder": user_of_kind(OrganizationKind.BUILDER, roles=[Role.BUILDER_REPRESENTATIVE]),
        "external_system_elsewhere": user_of_kind(
            OrganizationKind.EXTERNAL_SYSTEM, roles=[Role.INTEGRATION], **other_region
        ),
    }


def _requests_for(record_type: str, record_id) -> list[tuple[str, str]]:
    endpoint = record_endpoints()[record_type]
    base = endpoint.detail(record_id)
    calls = [("get", base), ("patch", base), ("put", base), ("delete", base)]
    calls += [("get", base + suffix + "/") for suffix in endpoint.get_actions]
    calls += [("post", base + action + "/") for action in endpoint.post_actions]
    return calls


def _one_per_case(record_type, limit: int = 3) -> list:
    """Ids of records of the type, one of each case (scoping is decided per case: a second record
    of the same case answers what the first did), live ones first, at most `limit`."""
    chosen, cases = [], set()
    for pk, case_id in record_type.model.all_objects.order_by(F("deleted_at").asc(nulls_first=True), "pk").values_list(
        "pk", "case_id"
    ):
        if case_id not in cases:
            cases.add(case_id)
            chosen.append(pk)
    return chosen[:limit]


@pytest.mark.django_db
def test_no_outsider_gets_a_2xx_on_anything_of_the_demo_world(demo_world):
    records = {
        name: list(record_type.model.all_objects.values_list("pk", flat=True))
        for name, record_type in RECORD_TYPES.items()
    }
    probed = {name: _one_per_case(record_type) for name, record_type in RECORD_TYPES.items()}
    # The demo covers the record types of every issue so far.
    populated = {name for name, ids in records.items() if ids}
    assert {"site", "survey", "finding", "utility_request", "utility_point", "inspection", "visit"} <= populated
    assert set(RECORD_TYPES) <= set(record_endpoints()), "every record type is served over REST"
    # Positive control: the same URLs answer 200 to someone who may see the records, so the
    # outsiders' refusals below are about permission, not about wrong addresses.
    admin = APIClient()
    admin.force_authenticate(User.objects.get(username="admin"))
    for name, ids in records.items():
        live = RECORD_TYPES[name].model.objects.filter(pk__in=ids).values_list("pk", flat=True)[:1]
        for record_id in live:
            url = record_endpoints()[name].detail(record_id)
            assert admin.get(url).status_code == 200, url
    audit_before = AuditEntry.objects.count()
    cases = list(ApprovalCase.objects.values_list("pk", flat=True))
    projects = list(Project.objects.values_list("pk", flat=True))
    vehicles = list(Vehicle.objects.values_list("pk", flat=True))
    violations = []
    for who, user in outsiders().items():
        client = APIClient()
        client.force_authenticate(user)
        calls = []
        for name, ids in probed.items():
            for record_id in ids:
                calls += _requests_for(name, record_id)
        for case_id in cases:
            calls += [
                ("get", f"/api/v1/cases/{case_id}/"),
                ("patch", f"/api/v1/cases/{case_id}/"),
                ("get", f"/api/v1/cases/{case_id}/items/"),
                ("get", f"/api/v1/cases/{case_id}/timeline/"),
            ]
        calls += [("get", f"/api/v1/projects/{pk}/") for pk in projects]
        calls += [("patch", f"/api/v1/projects/{pk}/") for pk in projects]
        calls += [("get", f"/api/v1/projects/{pk}/plan/") for pk in projects]
        calls += [("get", f"/api/v1/vehicles/{pk}/") for pk in vehicles]
        calls += [("post", f"/api/v1/vehicles/{pk}/track/") for pk in vehicles]
        for inspection_id in records.get("inspection", [])[:2]:
            calls.append(("get", f"/api/v1/inspections/{inspection_id}/report.pdf"))
        for method, url in calls:
            response = getattr(client, method)(url, {}, format="json", HTTP_IF_MATCH='"1"')
            if 200 <= response.status_code < 300:
                violations.append((who, method.upper(), url, response.status_code))
        # Lists leak nothing of the demo world either.
        for name, ids in records.items():
            endpoint = record_endpoints()[name]
            listed = {row["id"] for row in client.get(f"{endpoint.list}?limit=1000").json().get("results", [])}
            leaked = listed & {str(pk) for pk in ids}
            if leaked:
                violations.append((who, "LIST", endpoint.prefix, len(leaked)))
        listed_cases = {row["id"] for row in client.get("/api/v1/cases/?limit=1000").json()["results"]}
        if listed_cases & {str(pk) for pk in cases}:
            violations.append((who, "LIST", "cases", len(listed_cases)))
        # Figures count nothing of the demo world.
        for year in range(2000, 2040, 10):
            period = {"from": f"{year}-01-01", "to": f"{year + 9}-12-31"}
            figures = client.get("/api/v1/stats/deadlines/", period).json()
            counted = (
                sum(figures["levels"].values()) + figures["completed"]["total"] + figures["supervisions"]["opened"]
            )
            for figure in client.get("/api/v1/stats/service/", period).json()["figures"]:
                counted += sum(
                    1 for row in figure["rows"] for name in figure["measures"] if row.get(name) not in (0, None)
                )
            if counted:
                violations.append((who, "STATS", period["from"], counted))
        if client.get("/api/v1/promises/", {"due_by": "2099-12-31"}).json()["count"]:
            violations.append((who, "LIST", "promises", 1))
    assert violations == []
    assert AuditEntry.objects.count() == audit_before


# --- role x record type x action x transport -------------------------------------------------


# A change of one field each record type's own writers may make (what REST PATCHes, and what a
# device pushes as an upsert), read off its serializer once per type.
@functools.cache
def _matrix_change(name: str) -> dict:
    change = example_change(record_endpoints()[name])
    if change is None:
        # A type no one updates (signatures) is still tried with an empty change.
        assert (name, "update") in REFUSED_TO_ALL, f"{name} has no field its writers may change"
        return {}
    return change


# Rows no one may do, by the record type's design (so they have no positive control).
REFUSED_TO_ALL = {("inspection_item", "delete"), ("signature", "update"), ("signature", "delete")}
# On-site decisions are final (the approval system revokes them, not the vehicle).
REFUSED_TO_ALL |= {("onsite_decision", "update"), ("onsite_decision", "delete")}
# Roles that read the demo case but write none of its field records by update or delete.
READ_ONLY_INSIDERS = ("builder", "approval_system", "water")
MATRIX_OUTSIDERS = ("official_elsewhere", "survey_crew", "other_builder")


class _Rollback(Exception):
    def __init__(self, outcome):
        self.outcome = outcome


def _undone(attempt, *args):
    """Run `attempt` and roll back whatever it wrote, so every cell starts from the same world."""
    try:
        with transaction.atomic():
            raise _Rollback(attempt(*args))
    except _Rollback as rollback:
        return rollback.outcome


def _rest(client, name, record, action):
    url = record_endpoints()[name].detail(record.pk)
    if action == "delete":
        response = client.delete(url, HTTP_IF_MATCH=f'"{record.version}"')
    else:
        response = client.patch(url, _matrix_change(name), format="json", HTTP_IF_MATCH=f'"{record.version}"')
    return 200 <= response.status_code < 300, response.status_code


def _sync(client, name, record, action):
    op = {"op_id": str(uuid.uuid4()), "type": name, "id": str(record.pk)}
    if action == "delete":
        op |= {"action": "delete"}
    else:
        op |= {"action": "upsert", "base_version": record.version, "data": _matrix_change(name)}
    receipt = client.post("/api/v1/sync/push", {"device_id": "matrix", "operations": [op]}, format="json").json()[
        "receipts"
    ][0]
    # A no-op upsert (nothing the serializer writes differs) is `applied` without a write: only
    # a new version counts as a change.
    changed = receipt["status"] in ("applied", "merged") and (receipt.get("version") or 0) > record.version
    return changed, receipt.get("code") or receipt["status"]


def _client_of(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.django_db
def test_every_role_gets_the_same_answer_over_rest_and_sync_for_every_record_type_and_action(demo_world):
    # A withdrawable inspection (the demo ones have results recorded), so its delete row has a
    # positive control.
    builder = User.objects.get(username="builder")
    case = cases_visible_to(user=builder).exclude(pk__in=Inspection.objects.values("case_id")).first()
    inspection_create(by=None, case=case, stage=2)
    synced = {name for name, record_type in RECORD_TYPES.items() if record_type.is_synced}
    admin = _client_of(User.objects.get(username="admin"))
    # For each row, the first demo record the administrator may change that way (the positive control).
    rows = {}
    for name in sorted(synced):
        candidates = list(RECORD_TYPES[name].model.objects.order_by("-created_at")[:4])
        for action in ("update", "delete"):
            chosen = next((r for r in candidates if _undone(_rest, admin, name, r, action)[0]), None)
            if not candidates:
                continue  # a type the demo has no record of (yet) has no row
            if chosen is None:
                assert (name, action) in REFUSED_TO_ALL, f"no positive control for {name} {action}"
                chosen = candidates[0]
            rows[(name, action)] = chosen
    populated = {name for name, _action in rows}
    assert {"site", "survey", "finding", "utility_request", "utility_point", "inspection", "visit"} <= populated
    assert {"survey_participant", "inspection_item", "rectification"} <= populated
    # Writers of each kind, the read-only insiders, and outsiders of three kinds.
    names = ["admin", "official", "fire", "surveyor", "inspector", "vehicle_lead", *READ_ONLY_INSIDERS]
    people = {user.username: user for user in User.objects.filter(username__in=names)}
    people |= {who: user for who, user in outsiders().items() if who in MATRIX_OUTSIDERS}
    mismatches, successes, insider_cells = [], {}, 0
    for who, user in people.items():
        client = _client_of(user)
        for (name, action), record in rows.items():
            rest = _undone(_rest, client, name, record, action)
            sync = _undone(_sync, client, name, record, action)
            if rest[0] != sync[0]:
                mismatches.append((who, name, action, rest, sync))
            if rest[0] and sync[0]:
                successes.setdefault((name, action), set()).add(who)
            if who in READ_ONLY_INSIDERS and client.get(record_endpoints()[name].detail(record.pk)).status_code == 200:
                insider_cells += 1
    assert mismatches == [], "\n".join(map(str, mismatches))
    # Positive controls: every row someone may do is done by both transports.
    assert {row for row in rows if row not in REFUSED_TO_ALL} == set(successes)
    # No read-only insider, and no outsider, changed or deleted anything by either transport
    # (the builder is the applicant of its utility requests: there it writes).
    offending = {
        (who, name, action)
        for (name, action), whos in successes.items()
        for who in whos & (set(READ_ONLY_INSIDERS) | set(MATRIX_OUTSIDERS))
        if (who, name) != ("builder", "utility_request")
    }
    assert offending == set()
    # The read-only insiders did see what they were refused (they are insiders, not outsiders).
    assert insider_cells >= len(READ_ONLY_INSIDERS)
