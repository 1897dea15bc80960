"""Every role against every endpoint against objects it must not see: no 2xx, no change.

The world is the demo dataset (every record type, in region 370211). The outsiders are users
of every organisation kind who belong elsewhere: another region, another builder, a utility
company with no requests, crews and teams assigned to nothing.
"""

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind, Role, User, UtilityType
from backend.accounts.tests.factories import user_of_kind
from backend.audit.models import AuditEntry
from backend.cases.models import ApprovalCase, Project
from backend.common.records import RECORD_TYPES
from backend.visits.models import Vehicle

# Sync type name → REST prefix and its POST actions on a detail.
ENDPOINTS = {
    "site": ("sites", ["reopen"]),
    "survey": ("surveys", ["start", "submit", "cancel", "close", "reopen"]),
    "survey_participant": ("survey-participants", ["reopen"]),
    "finding": ("findings", ["resolve", "unresolve", "reopen"]),
    "utility_application": ("utility-applications", ["reopen"]),
    "utility_request": ("utility-requests", ["respond", "connect", "reopen"]),
    "utility_point": ("utility-points", ["transition", "reopen"]),
    "inspection": ("inspections", ["reinspect", "reopen"]),
    "inspection_item": ("inspection-items", ["record", "reopen"]),
    "rectification": ("rectifications", ["fix", "verify", "reject", "reopen"]),
    "visit": ("visits", ["depart", "arrive", "complete", "cancel", "reopen"]),
    "photo": ("photos", ["reopen"]),
    "signature": ("signatures", []),
    "material_scan": ("material-scans", ["reopen"]),
}
DETAIL_GETS = {
    "survey": [""],
    "visit": ["records/", "track/"],
    "photo": ["original/", "thumbnail/"],
    "signature": ["verify/", "image/"],
}


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
    prefix, actions = ENDPOINTS[record_type]
    base = f"/api/v1/{prefix}/{record_id}/"
    calls = [("get", base), ("patch", base), ("put", base), ("delete", base)]
    calls += [("get", base + suffix) for suffix in DETAIL_GETS.get(record_type, []) if suffix]
    calls += [("post", base + action + "/") for action in actions]
    return calls


@pytest.mark.django_db
def test_no_outsider_gets_a_2xx_on_anything_of_the_demo_world():
    call_command("seed_demo", verbosity=0)
    records = {
        name: list(record_type.model.all_objects.values_list("pk", flat=True))
        for name, record_type in RECORD_TYPES.items()
    }
    # The demo covers the record types of every issue so far.
    populated = {name for name, ids in records.items() if ids}
    assert {"site", "survey", "finding", "utility_request", "utility_point", "inspection", "visit"} <= populated
    assert set(RECORD_TYPES) <= set(ENDPOINTS), "a new record type needs its endpoints in this matrix"
    # Positive control: the same URLs answer 200 to someone who may see the records, so the
    # outsiders' refusals below are about permission, not about wrong addresses.
    admin = APIClient()
    admin.force_authenticate(User.objects.get(username="admin"))
    for name, ids in records.items():
        live = RECORD_TYPES[name].model.objects.filter(pk__in=ids).values_list("pk", flat=True)[:1]
        for record_id in live:
            url = f"/api/v1/{ENDPOINTS[name][0]}/{record_id}/"
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
        for name, ids in records.items():
            for record_id in ids[:3]:
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
            prefix = ENDPOINTS[name][0]
            listed = {row["id"] for row in client.get(f"/api/v1/{prefix}/?limit=1000").json().get("results", [])}
            leaked = listed & {str(pk) for pk in ids}
            if leaked:
                violations.append((who, "LIST", prefix, len(leaked)))
        listed_cases = {row["id"] for row in client.get("/api/v1/cases/?limit=1000").json()["results"]}
        if listed_cases & {str(pk) for pk in cases}:
            violations.append((who, "LIST", "cases", len(listed_cases)))
    assert violations == []
    assert AuditEntry.objects.count() == audit_before
