import pytest

from backend.acceptance.models import Inspection, InspectionItem, RectificationItem
from backend.demo import acceptance as demo

pytestmark = pytest.mark.django_db


def _seed_prerequisites() -> None:
    from backend.demo import accounts as accounts_demo
    from backend.demo import cases as cases_demo
    from backend.demo import sites as sites_demo

    accounts_demo.seed()
    cases_demo.seed()
    sites_demo.seed()


def test_demo_without_cases_does_nothing():
    demo.seed()

    assert Inspection.all_objects.count() == 0


def test_demo_has_mixed_stage_1_results_a_complete_stage_2_and_is_idempotent():
    _seed_prerequisites()

    demo.seed()
    versions = sorted(InspectionItem.objects.values_list("id", "version"))
    demo.seed()

    stage_1 = Inspection.objects.get(stage=1)
    stage_2 = Inspection.objects.get(stage=2)
    assert dict(InspectionItem.objects.filter(inspection=stage_1).values_list("code", "result")) == {
        "planning_verification": "pass",
        "fire": "fail",
        "archives": "pass",
        "completion_filing": "filed",
        "civil_air_defence": "pending",
    }
    assert (stage_1.status, stage_2.status) == ("in_progress", "results_complete")
    assert sorted(RectificationItem.objects.values_list("status", flat=True)) == ["fixed", "open"]
    fire = InspectionItem.objects.get(inspection=stage_1, code="fire")
    assert (fire.department.name, fire.recorded_by.username) == ("青岛西海岸新区消防救援大队", "fire")
    assert sorted(InspectionItem.objects.values_list("id", "version")) == versions
