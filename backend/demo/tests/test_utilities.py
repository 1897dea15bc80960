from collections import Counter

from backend.demo import accounts as accounts_demo
from backend.demo import cases as cases_demo
from backend.demo import sites as sites_demo
from backend.demo import utilities as demo
from backend.utilities.models import UtilityApplication, UtilityPoint, UtilityRequest


def test_demo_seed_without_sites_does_nothing(db):
    demo.seed()
    assert UtilityApplication.all_objects.count() == 0
    assert UtilityPoint.all_objects.count() == 0


def test_demo_fans_out_to_the_five_demo_companies_and_is_idempotent(db):
    accounts_demo.seed()
    cases_demo.seed()
    sites_demo.seed()
    demo.seed()
    demo.seed()
    assert UtilityApplication.objects.count() == 2
    main = UtilityRequest.objects.filter(site__name=demo.MAIN_SITE).select_related("company")
    assert {r.utility_type: r.company.name for r in main} == {
        "water": "青岛海润自来水集团黄岛分公司",
        "power": "国网青岛市黄岛区供电公司",
        "gas": "青岛泰能燃气西海岸分公司",
        "heating": "青岛西海岸热电集团",
        "telecom": "中国联通青岛西海岸分公司",
    }
    assert {r.utility_type: r.status for r in main} == {
        "water": "accepted",
        "power": "accepted",
        "gas": "need_info",
        "heating": "submitted",
        "telecom": "accepted",
    }
    assert main.get(utility_type="water").responded_by.username == "water"
    assert UtilityRequest.objects.count() == 8
    assert UtilityPoint.objects.count() == 20
    assert Counter(UtilityPoint.objects.values_list("status", flat=True)) == {
        "proposed": 7,
        "surveyed": 5,
        "agreed": 5,
        "connected": 3,
    }
    assert {p.version for p in UtilityPoint.objects.filter(status="connected")} == {4}
