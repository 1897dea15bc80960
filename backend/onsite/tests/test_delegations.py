from datetime import timedelta

import pytest

from backend.audit.models import AuditEntry
from backend.common.errors import ApplicationError
from backend.onsite.models import Delegation
from backend.onsite.selectors import delegation_check
from backend.onsite.services import delegation_grant, delegation_revoke


def grant(w, **overrides):
    kwargs = dict(
        by=w.head, department=w.department, delegate=w.approver, items=[w.permit], valid_from=w.start, valid_to=w.end
    )
    kwargs.update(overrides)
    return delegation_grant(**kwargs)


def refusal(call) -> tuple[int, str, dict]:
    with pytest.raises(ApplicationError) as caught:
        call()
    return caught.value.status, caught.value.code, caught.value.errors or {}


def test_head_grants_and_the_grant_is_audited(world):
    delegation = grant(world, device_id="pad-7")
    assert list(delegation.items.all()) == [world.permit]
    entry = AuditEntry.objects.get(record_id=delegation.pk)
    assert (entry.action, entry.record_type, entry.actor_id, entry.device_id) == (
        "delegation_granted",
        "delegation",
        world.head.pk,
        "pad-7",
    )
    assert entry.before is None
    assert entry.after["delegate"] == str(world.approver.pk)
    assert entry.after["items"] == [str(world.permit.pk)]
    assert entry.after["revoked_at"] is None


def test_administrator_grants_for_any_department(world):
    delegation = grant(world, by=world.admin)
    assert delegation.granted_by == world.admin


@pytest.mark.parametrize("who", ["official", "approver", "lead", "builder"])
def test_only_the_head_or_an_administrator_grants(world, who):
    assert refusal(lambda: grant(world, by=getattr(world, who))) == (403, "permission_denied", {})
    assert Delegation.objects.count() == 0
    assert AuditEntry.objects.count() == 0


def test_head_of_one_department_cannot_grant_for_another(world):
    status, code, _ = refusal(lambda: grant(world, department=world.other, items=[world.other_item]))
    assert (status, code) == (403, "permission_denied")
    assert Delegation.objects.count() == 0


def test_department_must_be_an_approval_department(world):
    status, code, errors = refusal(lambda: grant(world, by=world.admin, department=world.team))
    assert (status, code, errors) == (400, "not_approval_department", {"department": ["Not an approval department."]})
    assert Delegation.objects.count() == 0


@pytest.mark.parametrize("who", ["agent", "lead", "official"])
def test_delegate_must_be_a_vehicle_approver(world, who):
    status, code, errors = refusal(lambda: grant(world, delegate=getattr(world, who)))
    assert (status, code, list(errors)) == (400, "not_vehicle_approver", ["delegate"])
    assert Delegation.objects.count() == 0


def test_inactive_approver_is_refused(world):
    world.approver.is_active = False
    world.approver.save()
    assert refusal(lambda: grant(world))[1] == "not_vehicle_approver"


@pytest.mark.parametrize("item", ["accept_only", "retired", "other_item"])
def test_only_active_decide_on_site_items_of_the_department(world, item):
    chosen = getattr(world, item)
    status, code, errors = refusal(lambda: grant(world, items=[world.permit, chosen]))
    assert (status, code) == (400, "item_not_delegable")
    assert errors == {"items": [f"{chosen.name}: not an item this department decides on site."]}
    assert Delegation.objects.count() == 0
    assert AuditEntry.objects.count() == 0


def test_items_are_required(world):
    assert refusal(lambda: grant(world, items=[])) == (400, "validation_error", {"items": ["Required."]})


@pytest.mark.parametrize("length", [timedelta(0), timedelta(hours=-1)])
def test_period_must_end_after_it_starts(world, length):
    status, code, errors = refusal(lambda: grant(world, valid_to=world.start + length))
    assert (status, code, errors) == (400, "invalid_period", {"valid_to": ["Must be after valid_from."]})
    assert Delegation.objects.count() == 0


def test_revoke_is_audited_and_only_once(world):
    delegation = grant(world)
    revoked = delegation_revoke(by=world.admin, delegation=delegation, reason=" 人员调整 ")
    assert revoked.revoked_by == world.admin
    assert revoked.revoke_reason == "人员调整"
    entry = AuditEntry.objects.filter(record_id=delegation.pk).order_by("-id").first()
    assert (entry.action, entry.actor_id, entry.reason) == ("delegation_revoked", world.admin.pk, "人员调整")
    assert entry.before["revoked_at"] is None
    assert entry.after["revoked_at"] == revoked.revoked_at.isoformat()
    status, code, _ = refusal(lambda: delegation_revoke(by=world.head, delegation=delegation))
    assert (status, code) == (409, "already_revoked")
    assert AuditEntry.objects.filter(record_id=delegation.pk).count() == 2


@pytest.mark.parametrize("who", ["official", "approver", "lead"])
def test_only_the_head_or_an_administrator_revokes(world, who):
    delegation = grant(world)
    assert refusal(lambda: delegation_revoke(by=getattr(world, who), delegation=delegation))[:2] == (
        403,
        "permission_denied",
    )
    delegation.refresh_from_db()
    assert delegation.revoked_at is None
    assert AuditEntry.objects.filter(record_id=delegation.pk).count() == 1


# --- delegation_check --------------------------------------------------------------------


def check(w, **overrides):
    kwargs = dict(user=w.approver, department=w.department, item=w.permit, at=w.now)
    kwargs.update(overrides)
    return delegation_check(**kwargs)


def test_check_allows_inside_the_list_and_the_period(world):
    delegation = grant(world)
    assert check(world) == delegation
    assert check(world, at=world.start) == delegation


def test_check_not_delegated(world):
    assert refusal(lambda: check(world)) == (403, "not_delegated", {})
    grant(world, delegate=_second_approver(world))
    assert refusal(lambda: check(world))[1] == "not_delegated"


def test_check_item_outside_the_list(world):
    second = world.permit.department.onsite_items.create(name="乡村建设规划许可证核发", decide_on_site=True)
    grant(world)
    assert refusal(lambda: check(world, item=second))[1] == "not_delegated"


def test_check_expired_at_the_end_and_after(world):
    grant(world)
    assert refusal(lambda: check(world, at=world.end))[:2] == (403, "delegation_expired")
    assert refusal(lambda: check(world, at=world.end + timedelta(days=1)))[1] == "delegation_expired"


def test_check_not_yet_valid(world):
    grant(world)
    assert refusal(lambda: check(world, at=world.start - timedelta(seconds=1)))[:2] == (403, "delegation_not_yet_valid")


def test_check_revoked_from_the_revocation_on(world):
    delegation = grant(world)
    revoked = delegation_revoke(by=world.head, delegation=delegation)
    assert refusal(lambda: check(world, at=revoked.revoked_at))[:2] == (403, "delegation_revoked")
    # A decision made before the revocation was covered.
    assert check(world, at=revoked.revoked_at - timedelta(seconds=1)) == delegation


def test_check_a_later_valid_delegation_wins_over_a_revoked_one(world):
    first = grant(world)
    revoked = delegation_revoke(by=world.head, delegation=first)
    second = grant(world)
    assert check(world, at=revoked.revoked_at) == second


def test_check_refuses_other_department_and_items_no_longer_decided_on_site(world):
    grant(world)
    assert refusal(lambda: check(world, department=world.other))[1] == "item_not_decidable_on_site"
    world.permit.decide_on_site = False
    world.permit.save()
    assert refusal(lambda: check(world))[:2] == (403, "item_not_decidable_on_site")


def test_check_refuses_a_delegate_who_lost_the_role(world):
    grant(world)
    world.approver.roles = []
    world.approver.save()
    assert refusal(lambda: check(world))[:2] == (403, "not_vehicle_approver")


def _second_approver(w):
    from backend.accounts.models import Role
    from backend.accounts.tests.factories import UserFactory

    return UserFactory(organization=w.team, roles=[Role.VEHICLE_APPROVER])
