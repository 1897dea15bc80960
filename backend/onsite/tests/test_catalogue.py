import pytest
from django.db import IntegrityError

from backend.common.errors import ApplicationError
from backend.onsite.models import OnsiteItem
from backend.onsite.selectors import onsite_items_visible_to
from backend.onsite.services import delegation_grant, onsite_item_create, onsite_item_delete, onsite_item_update


def test_administrator_adds_an_entry(world):
    item = onsite_item_create(by=world.admin, department=world.other, name=" 施工图审查 ", accept_on_site=True)
    assert (item.name, item.accept_on_site, item.decide_on_site, item.active) == ("施工图审查", True, False, True)


@pytest.mark.parametrize("who", ["head", "official", "approver"])
def test_only_administrators_change_the_catalogue(world, who):
    user = getattr(world, who)
    with pytest.raises(ApplicationError) as caught:
        onsite_item_create(by=user, department=world.department, name="x", accept_on_site=True)
    assert (caught.value.status, caught.value.code) == (403, "permission_denied")
    with pytest.raises(ApplicationError):
        onsite_item_update(by=user, item=world.permit, name="y")
    with pytest.raises(ApplicationError):
        onsite_item_delete(by=user, item=world.accept_only)
    world.permit.refresh_from_db()
    assert world.permit.name == "建设工程规划许可证核发"
    assert OnsiteItem.objects.count() == 4


def test_entry_must_be_accepted_or_decided_on_site(world):
    with pytest.raises(ApplicationError) as caught:
        onsite_item_create(by=world.admin, department=world.department, name="x")
    assert (caught.value.code, caught.value.errors) == (
        "validation_error",
        {"decide_on_site": ["An item is accepted on site, decided on site, or both."]},
    )
    with pytest.raises(IntegrityError):
        OnsiteItem.objects.create(department=world.department, name="y")


def test_entry_names_are_unique_per_department(world):
    with pytest.raises(ApplicationError) as caught:
        onsite_item_create(by=world.admin, department=world.department, name=world.permit.name, decide_on_site=True)
    assert caught.value.errors == {"name": ["The department already lists an item of this name."]}
    # Another department may list the same name.
    onsite_item_create(by=world.admin, department=world.other, name=world.permit.name, decide_on_site=True)


def test_only_approval_departments_have_entries(world):
    with pytest.raises(ApplicationError) as caught:
        onsite_item_create(by=world.admin, department=world.team, name="x", accept_on_site=True)
    assert (caught.value.status, caught.value.code) == (400, "not_approval_department")
    assert not OnsiteItem.objects.filter(department=world.team).exists()


def test_a_delegated_entry_cannot_be_deleted_or_moved(world):
    delegation_grant(
        by=world.head,
        department=world.department,
        delegate=world.approver,
        items=[world.permit],
        valid_from=world.start,
        valid_to=world.end,
    )
    with pytest.raises(ApplicationError) as caught:
        onsite_item_delete(by=world.admin, item=world.permit)
    assert (caught.value.status, caught.value.code) == (409, "in_use")
    with pytest.raises(ApplicationError) as caught:
        onsite_item_update(by=world.admin, item=world.permit, department=world.other)
    assert caught.value.code == "in_use"
    world.permit.refresh_from_db()
    assert world.permit.department == world.department
    # Retiring it is allowed.
    assert onsite_item_update(by=world.admin, item=world.permit, active=False).active is False


def test_retired_entries_are_seen_by_administrators_and_the_department_only(world):
    everyone = {world.permit, world.accept_only, world.other_item}
    assert set(onsite_items_visible_to(user=world.builder)) == everyone
    assert set(onsite_items_visible_to(user=world.approver)) == everyone
    assert set(onsite_items_visible_to(user=world.official)) == everyone | {world.retired}
    assert set(onsite_items_visible_to(user=world.admin)) == everyone | {world.retired}
