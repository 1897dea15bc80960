from django.urls import reverse

from backend.onsite.models import OnsiteItem


def test_catalogue_is_editable_in_the_admin(world, client):
    world.admin.is_staff = True
    world.admin.is_superuser = True
    world.admin.save()
    client.force_login(world.admin)
    assert client.get(reverse("admin:onsite_onsiteitem_changelist")).status_code == 200
    response = client.post(
        reverse("admin:onsite_onsiteitem_change", args=[world.accept_only.pk]),
        {
            "department": world.department.pk,
            "name": world.accept_only.name,
            "accept_on_site": "on",
            "decide_on_site": "on",
            "active": "on",
        },
    )
    assert response.status_code == 302
    world.accept_only.refresh_from_db()
    assert world.accept_only.decide_on_site is True
    # Neither box: the model's constraint refuses it in the form, nothing changes.
    response = client.post(
        reverse("admin:onsite_onsiteitem_change", args=[world.permit.pk]),
        {"department": world.department.pk, "name": world.permit.name, "active": "on"},
    )
    assert response.status_code == 200
    world.permit.refresh_from_db()
    assert (world.permit.accept_on_site, world.permit.decide_on_site) == (True, True)
    assert OnsiteItem.objects.count() == 4
    assert client.get(reverse("admin:onsite_delegation_changelist")).status_code == 200
    assert client.get(reverse("admin:onsite_departmenthead_changelist")).status_code == 200


def test_intakes_decisions_and_certificates_show_in_the_admin_read_only(world, client):
    world.admin.is_staff = True
    world.admin.is_superuser = True
    world.admin.save()
    client.force_login(world.admin)
    for model in ("onsiteintake", "onsitedecision", "certificate"):
        assert client.get(reverse(f"admin:onsite_{model}_changelist")).status_code == 200
        assert client.get(reverse(f"admin:onsite_{model}_add")).status_code == 403
