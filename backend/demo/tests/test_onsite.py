import pytest
from django.utils import timezone

from backend.accounts.models import User
from backend.demo import accounts as accounts_demo
from backend.demo import onsite as demo
from backend.onsite.models import Delegation, DepartmentHead, OnsiteItem
from backend.onsite.selectors import delegation_check

pytestmark = pytest.mark.django_db


def test_demo_without_the_departments_does_nothing():
    demo.seed()
    assert (OnsiteItem.objects.count(), Delegation.objects.count()) == (0, 0)


def test_demo_catalogue_and_delegation_are_idempotent():
    accounts_demo.seed()
    demo.seed()
    demo.seed()
    assert OnsiteItem.objects.count() == 6
    assert OnsiteItem.objects.filter(decide_on_site=True).count() == 4
    assert sorted(DepartmentHead.objects.values_list("user__username", flat=True)) == ["official", "planning"]
    delegation = Delegation.objects.get()
    approver = User.objects.get(username="vehicle_approver")
    item = OnsiteItem.objects.get(name="建设工程规划许可证核发")
    assert delegation_check(user=approver, department=item.department, item=item, at=timezone.now()) == delegation
    assert approver.check_password(accounts_demo.DEMO_PASSWORD)


def test_demo_has_an_onsite_approval_with_its_certificate_and_seeds_once():
    from backend.demo import cases as cases_demo
    from backend.onsite.models import Certificate, OnsiteDecision, OnsiteIntake
    from backend.onsite.services import certificate_verify

    accounts_demo.seed()
    cases_demo.seed()
    demo.seed()
    demo.seed()
    decision = OnsiteDecision.objects.get()
    assert (decision.outcome, decision.delegate.username) == ("approve", "vehicle_approver")
    certificate = Certificate.objects.get()
    assert certificate.decision == decision
    assert certificate.item_name == "建设工程规划许可证核发"
    assert certificate_verify(certificate=certificate)["valid"] is True
    # And an intake that awaits its decision.
    assert OnsiteIntake.objects.exclude(decisions__isnull=False).count() == 1
