"""`GET stats/service/`: the service's figures over the records the user may see, as JSON, CSV
and XLSX; each figure one registered function."""

import csv
import datetime as dt
import io

import pytest
from openpyxl import load_workbook
from rest_framework.test import APIClient

from backend.acceptance.models import InspectionItem
from backend.acceptance.tests.factories import make_inspection
from backend.accounts.models import Role
from backend.accounts.tests.factories import OrganizationFactory, UserFactory
from backend.cases.deadlines import item_deadlines_record
from backend.cases.models import ApprovalItem, Blzt, Material, Priority
from backend.cases.tests.factories import SHANGHAI, ApprovalCaseFactory, ApprovalItemFactory, ProjectFactory
from backend.onsite.models import OnsiteItem
from backend.stats import service
from backend.surveys.models import Finding
from backend.surveys.tests.factories import FindingFactory, SurveyFactory
from backend.visits.models import Visit
from backend.visits.tests.factories import make_visit

pytestmark = pytest.mark.django_db


def at(month: int, day: int, hour: int = 9) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=SHANGHAI)


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def world():
    planning = OrganizationFactory(name="市自然资源和规划局", region="370211")
    case = ApprovalCaseFactory(project=ProjectFactory(priority=Priority.CITY))
    far_case = ApprovalCaseFactory(
        project=ProjectFactory(code="2404-370300-04-01-000777", region_code="370300", priority=Priority.CITY)
    )
    OnsiteItem.objects.create(
        department=planning, name="建设工程规划许可证核发", accept_on_site=True, decide_on_site=True
    )
    # An intake visit on site 2026-11-05 09:00–12:00; a survey visit booked; one far away.
    intake = make_visit(case=case, purpose=["intake", "approval"], scheduled_for=at(11, 5))
    Visit.objects.filter(pk=intake.pk).update(status="completed", started_at=at(11, 5), ended_at=at(11, 5, 12))
    make_visit(case=case, purpose=["survey"], scheduled_for=at(11, 9))
    make_visit(case=far_case, purpose=["intake"], scheduled_for=at(11, 6))
    make_visit(case=case, purpose=["survey"], scheduled_for=at(12, 9))  # after the period
    # Accepted during the visit, and the next day at the office; a third item not in the catalogue.
    on_site = ApprovalItemFactory(
        case=case, name="建设工程规划许可证核发", department=planning, accepted_at=at(11, 5, 10), promised_days=10
    )
    ApprovalItemFactory(case=case, name="建设工程规划许可证核发", department=planning, accepted_at=at(11, 6))
    ApprovalItemFactory(case=case, name="其他事项", department=planning, accepted_at=at(11, 5, 10))
    ApprovalItem.objects.filter(pk=on_site.pk).update(status=Blzt.APPROVED, completed_at=at(11, 9, 15))
    # Tolerance acceptance: one promise kept, one overdue at 2026-11-11; a commitment item.
    tolerance = ApprovalItemFactory(
        case=case, name="人防审批", department=planning, accepted_at=at(11, 2), modes=["tolerance"]
    )
    Material.objects.create(item=tolerance, name="人防图纸", promised_by=dt.date(2026, 11, 6), received_at=at(11, 4))
    Material.objects.create(item=tolerance, name="审查意见", promised_by=dt.date(2026, 11, 10))
    Material.objects.create(item=tolerance, name="下月材料", promised_by=dt.date(2026, 12, 10))
    ApprovalItemFactory(case=case, name="环评", department=planning, accepted_at=at(11, 3), modes=["commitment"])
    item_deadlines_record(
        items=list(ApprovalItem.objects.prefetch_related("status_events")), as_of=dt.date(2026, 11, 11)
    )
    SurveyFactory(case=case, scheduled_at=at(11, 3))
    SurveyFactory(case=far_case, scheduled_at=at(11, 4), status="signed", conclusion="agree")
    late = FindingFactory(case=case, responsible_department=planning, due_date=dt.date(2026, 11, 1))
    fixed = FindingFactory(case=case, responsible_department=planning, due_date=dt.date(2026, 11, 20))
    Finding.all_objects.filter(pk__in=[late.pk, fixed.pk]).update(created_at=at(11, 2))
    Finding.all_objects.filter(pk=fixed.pk).update(status="resolved", resolved_at=at(11, 4))
    inspection, _ = make_inspection(case=case, scheduled_at=at(11, 10))
    first = InspectionItem.objects.filter(inspection=inspection).order_by("code").first()
    InspectionItem.objects.filter(pk=first.pk).update(result="pass")
    admin = UserFactory(username="admin", organization=None, roles=[Role.ADMINISTRATOR])
    return {"case": case, "far_case": far_case, "admin": admin, "planning": planning, "inspection": inspection}


def stats(user, **params):
    return client_for(user).get("/api/v1/stats/service/", {"from": "2026-11-01", "to": "2026-11-11", **params})


def figures(body) -> dict:
    return {figure["key"]: figure["rows"] for figure in body["figures"]}


def test_every_figure_over_the_period(world):
    response = stats(world["admin"])
    assert response.status_code == 200, response.content
    body = response.json()
    rows = figures(body)
    assert list(rows) == [f.key for f in service.FIGURES]
    assert sorted((r["purpose"], r["status"], r["visits"]) for r in rows["visits"]) == [
        ("approval", "completed", 1),
        ("intake", "booked", 1),
        ("intake", "completed", 1),
        ("survey", "booked", 1),
    ]
    assert rows["on_site_items"] == [
        {"department": "市自然资源和规划局", "accepted": 2, "accepted_on_site": 1, "decidable_completed": 1}
    ]
    assert sorted([(r["status"], r["conclusion"], r["surveys"]) for r in rows["surveys"]], key=str) == [
        ("scheduled", None, 1),
        ("signed", "agree", 1),
    ]
    assert rows["findings"] == [{"opened": 2, "resolved": 1, "overdue": 1, "open_at_end": 1}]
    results = {(r["stage"], r["result"]): r["items"] for r in rows["inspections"]}
    total = InspectionItem.objects.filter(inspection=world["inspection"]).count()
    assert results == {(1, "pass"): 1, (1, "pending"): total - 1}
    assert rows["tolerance_and_commitment"] == [
        {
            "mode": "tolerance",
            "items": 1,
            "promised_materials": 3,
            "received_on_time": 1,
            "received_late": 0,
            "pending": 1,
            "overdue": 1,
        },
        {
            "mode": "commitment",
            "items": 1,
            "promised_materials": 0,
            "received_on_time": 0,
            "received_late": 0,
            "pending": 0,
            "overdue": 0,
        },
    ]
    # Accepted 11-05, done 11-09: 2 working days (11-06, 11-09) of 10 promised, 20 statutory.
    assert rows["working_days_by_item"] == [
        {
            "item": "建设工程规划许可证核发",
            "items": 1,
            "average_used_working_days": 2.0,
            "average_statutory_days": 20.0,
            "average_promised_days": 10.0,
            "used_of_statutory": 0.1,
            "over_statutory": 0,
            "over_promised": 0,
        }
    ]
    assert body["missing"] == []


def test_region_and_scope(world):
    rows = figures(stats(world["admin"], region="370300").json())
    assert [(r["purpose"], r["visits"]) for r in rows["visits"]] == [("intake", 1)]
    assert rows["on_site_items"] == []
    assert [r["surveys"] for r in rows["surveys"]] == [1]
    far = UserFactory(organization=OrganizationFactory(name="淄博市自然资源局", region="370300"))
    rows = figures(stats(far).json())
    assert [(r["purpose"], r["visits"]) for r in rows["visits"]] == [("intake", 1)]
    assert rows["findings"] == [{"opened": 0, "resolved": 0, "overdue": 0, "open_at_end": 0}]
    assert rows["working_days_by_item"] == []


def test_csv_by_format_and_by_accept(world):
    response = stats(world["admin"], format="csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="service-stats-2026-11-01-2026-11-11.csv"'
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    table = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert table[0] == ["figure", "label", "group", "measure", "value"]
    assert ["findings", "问题清单（新增、解决、超期）", "", "overdue", "1"] in table
    assert ["visits", "直通车上门服务（按目的和状态）", "purpose=intake; status=completed", "visits", "1"] in table
    by_accept = client_for(world["admin"]).get(
        "/api/v1/stats/service/", {"from": "2026-11-01", "to": "2026-11-11"}, HTTP_ACCEPT="text/csv"
    )
    assert by_accept["Content-Type"].startswith("text/csv")
    assert by_accept.content == response.content


def test_xlsx_has_a_sheet_per_figure(world):
    response = stats(world["admin"], format="xlsx")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    assert book.sheetnames == ["说明", *[f.key for f in service.FIGURES]]
    findings = list(book["findings"].iter_rows(values_only=True))
    assert findings[1] == ("opened", "resolved", "overdue", "open_at_end")
    assert findings[2] == (2, 1, 1, 1)


def test_a_further_figure_is_one_function(world, monkeypatch):
    monkeypatch.setattr(service, "FIGURES", list(service.FIGURES))

    @service.figure("cases", "案件数", dimensions=(), measures=("cases",))
    def cases(scope):
        return [{"cases": scope.cases.count()}]

    body = stats(world["admin"]).json()
    assert figures(body)["cases"] == [{"cases": 2}]
    assert ["cases", "案件数", "", "cases", "2"] in list(
        csv.reader(io.StringIO(stats(world["admin"], format="csv").content.decode().lstrip("\ufeff")))
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [({"region": "37a"}, "region"), ({"region": "37021"}, "region"), ({"from": "11/01/2026"}, "from")],
)
def test_bad_parameters_are_problems_in_every_format(world, params, field):
    for extra in ({}, {"format": "csv"}, {"format": "xlsx"}):
        response = stats(world["admin"], **params, **extra)
        assert response.status_code == 400, extra
        assert response["Content-Type"].startswith("application/problem+json")
        assert field in response.json()["errors"]
    assert stats(world["admin"], format="pdf").status_code == 404
