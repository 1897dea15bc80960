import datetime as dt
import io

import pytest
from django.core.management import call_command

from backend.cases.deadlines import items_deadlines
from backend.cases.models import ApprovalCase, ApprovalItem, ItemStatusEvent, Material, Project
from backend.demo import accounts as accounts_demo
from backend.demo import cases as demo

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 11, 21)


def counts():
    return tuple(m.objects.count() for m in (Project, ApprovalCase, ApprovalItem, ItemStatusEvent, Material))


def test_demo_shows_every_warning_level_and_the_horizon_error_and_is_idempotent():
    accounts_demo.seed()
    demo.seed(today=TODAY)
    first = counts()
    assert first == (3, 5, 16, 22, 4)
    items = list(ApprovalItem.objects.prefetch_related("status_events"))
    deadlines = items_deadlines(items=items, as_of=TODAY)
    by_id = {item.external_id: deadlines[item.pk] for item in items}
    assert {k: (v.warning_level, v.remaining_working_days) for k, v in by_id.items() if k.startswith("EP")} == {
        "EP-01": ("ok", 8),
        "EP-02": ("warn7", 7),
        "EP-03": ("remind5", 5),
        "EP-04": ("supervise3", 3),
        "EP-05": ("overdue", -2),
        "EP-06": ("warn7", 6),
    }
    assert by_id["EP-06"].clock == "paused"
    assert by_id["EP-04"].paused_working_days == 2
    assert by_id["CP-02"].error["code"] == "calendar_horizon"
    assert by_id["LU-01"].clock == "stopped"
    assert ApprovalItem.objects.get(external_id="EP-05").first_overdue_on == by_id["EP-05"].due_date + dt.timedelta(1)
    key_case = ApprovalCase.objects.get(external_no="GG-370211-2026-000245")
    assert sorted(key_case.assigned_organizations.values_list("kind", flat=True)) == [
        "survey_crew",
        "utility_company",
        "utility_company",
        "utility_company",
        "utility_company",
        "utility_company",
        "vehicle_team",
    ]
    demo.seed(today=TODAY)
    assert counts() == first


def test_deadlines_due_lists_per_department_and_records_first_overdue():
    accounts_demo.seed()
    demo.seed(today=TODAY)
    ApprovalItem.objects.update(first_overdue_on=None)
    out = io.StringIO()
    call_command("deadlines_due", "--as-of", "2026-11-21", stdout=out)
    text = out.getvalue()
    assert text.startswith("Deadlines as of 2026-11-21\n")
    assert "\n青岛西海岸新区水务局\n  overdue    due 2026-11-18 (-2 working days) GG-370211-2026-000245" in text
    # The item whose limit needs 2027 still has a known level (ok), so it is not listed; the
    # horizon warning tells the administrator to load 2027.
    assert text.splitlines()[1].startswith("The working-day calendar ends on 2026-12-31, in 40 days")
    assert "建设项目环境影响报告书审批" not in text
    assert "EP-01" not in text and "建设工程规划许可证核发 " not in text
    assert ApprovalItem.objects.get(external_id="EP-05").first_overdue_on == dt.date(2026, 11, 19)
    assert ApprovalItem.objects.get(external_id="CA-04").first_overdue_on == dt.date(2026, 11, 20)
    assert ApprovalItem.objects.filter(first_overdue_on__isnull=False).count() == 2
