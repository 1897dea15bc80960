import factory

from backend.accounts.models import Organization, OrganizationKind, Role, User

PASSWORD = "test-pass-2026"


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"单位{n}")
    kind = OrganizationKind.APPROVAL_DEPARTMENT
    region = "370211"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    organization = factory.SubFactory(OrganizationFactory)
    roles = factory.LazyFunction(lambda: [Role.OFFICIAL])
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def user_of_kind(kind: str, *, roles: list[str] | None = None, **org_fields) -> User:
    """A user in a fresh organisation of the given kind."""
    org = OrganizationFactory(kind=kind, **org_fields)
    return UserFactory(organization=org, roles=roles or [Role.OFFICIAL])
