import pytest

from backend.accounts.models import DeviceToken, Organization, Role, User
from backend.accounts.services import (
    credit_code_check_character,
    credit_code_is_valid,
    device_token_issue,
    organization_create,
    organization_delete,
    user_create,
    user_delete,
    user_update,
)
from backend.accounts.tests.factories import OrganizationFactory, UserFactory
from backend.cases.tests.factories import ApprovalCaseFactory, ProjectFactory
from backend.common.errors import Conflict, PermissionDenied, ValidationFailed

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin() -> User:
    return UserFactory(roles=[Role.ADMINISTRATOR])


def test_credit_code_check_character_follows_gb_32100():
    # Published examples of real unified social credit codes.
    assert credit_code_is_valid("91350100M000100Y43")
    assert credit_code_is_valid("91110000100006485K")
    assert credit_code_check_character("91350100M000100Y4") == "3"
    assert not credit_code_is_valid("91350100M000100Y44")  # wrong check character
    assert not credit_code_is_valid("91350100M000100Y4")  # too short
    assert not credit_code_is_valid("91350100S000100Y43")  # S is not in the alphabet


def test_demo_builder_credit_code_is_valid():
    from backend.demo.accounts import DEMO_ORGANIZATIONS

    codes = [code for *_, code in DEMO_ORGANIZATIONS if code]
    assert codes and all(credit_code_is_valid(code) for code in codes)


def test_only_administrators_create_organisations():
    with pytest.raises(PermissionDenied):
        organization_create(by=UserFactory(roles=[Role.OFFICIAL]), name="x", kind="builder")
    assert not Organization.objects.filter(name="x").exists()


def test_organisation_create_normalises_input(admin):
    org = organization_create(
        by=admin, name=" 供热公司 ", kind="utility_company", utility_types=["heating", "heating"], region="370211"
    )
    assert (org.name, org.utility_types, org.region) == ("供热公司", ["heating"], "370211")


def test_builder_with_a_project_cannot_be_deleted(admin):
    project = ProjectFactory()
    with pytest.raises(Conflict) as error:
        organization_delete(by=admin, organization=project.builder)
    assert error.value.code == "in_use"
    assert error.value.extra == {"references": {"cases.project": 1}}
    assert Organization.objects.filter(pk=project.builder_id).exists()


def test_organisation_assigned_to_a_case_is_not_silently_unassigned(admin):
    crew = OrganizationFactory(kind="survey_crew")
    case = ApprovalCaseFactory()
    case.assigned_organizations.add(crew)
    with pytest.raises(Conflict) as error:
        organization_delete(by=admin, organization=crew)
    assert error.value.code == "in_use"
    assert list(case.assigned_organizations.all()) == [crew]


def test_user_create_checks_password_strength(admin):
    with pytest.raises(ValidationFailed) as error:
        user_create(by=admin, username="weak", password="password")
    assert set(error.value.errors) == {"password"}
    assert not User.objects.filter(username="weak").exists()


def test_user_create_never_makes_a_superuser(admin):
    user = user_create(by=admin, username="ok", password="field-work-2026", roles=[Role.SURVEYOR])
    assert (user.is_superuser, user.is_staff, user.roles) == (False, False, ["surveyor"])


def test_user_update_refuses_unknown_fields(admin):
    user = UserFactory()
    with pytest.raises(ValidationFailed) as error:
        user_update(by=admin, user=user, is_superuser=True)
    assert error.value.errors == {"is_superuser": ["Unknown field."]}
    user.refresh_from_db()
    assert user.is_superuser is False


def test_administrator_cannot_deactivate_themselves(admin):
    with pytest.raises(ValidationFailed):
        user_update(by=admin, user=admin, is_active=False)
    admin.refresh_from_db()
    assert admin.is_active is True


def test_role_change_keeps_tokens_password_change_revokes_them(admin):
    user = UserFactory()
    device_token_issue(user=user, device_id="tablet")
    user_update(by=admin, user=user, roles=[Role.INSPECTOR])
    assert DeviceToken.objects.get(user=user).revoked_at is None
    user_update(by=admin, user=user, password="brand-new-pass-2026")
    assert DeviceToken.objects.get(user=user).revoked_at is not None


def test_user_delete_refuses_another_administrator_without_admin_rights():
    target = UserFactory()
    with pytest.raises(PermissionDenied):
        user_delete(by=UserFactory(roles=[Role.OFFICIAL]), user=target)
    assert User.objects.filter(pk=target.pk).exists()
